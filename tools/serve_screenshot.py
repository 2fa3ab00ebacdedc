"""Re-make docs/serve.png, the README's screenshot of ``ddx serve`` in a browser.

    python tools/serve_screenshot.py

Runs ``ddx serve`` and Debian's headless Chromium exactly as tests/test_serve.py does (tests/browser.py):
a new case in a 1280x800 page, after typing ``alk positive cytoplasmic`` in quick entry. Drafts go to a
temporary folder. Needs /usr/bin/chromium (or $DDX_CHROMIUM) and playwright (the test extras).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import (  # noqa: E402
    browser_page,
    chromium_missing,
    open_app,
    ranking_rows,
    served,
    type_line,
    wait_for_screen,
)

OUT = ROOT / "docs" / "serve.png"


def main() -> None:
    if (why := chromium_missing()) is not None:
        sys.exit(f"serve_screenshot: {why}")
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_DRIVER"}
        env["DDX_DATA_DIR"] = str(Path(tmp) / "data")
        with served(env=env, log=Path(tmp) / "serve.log") as server, browser_page(server.url) as page:
            rows = ranking_rows(open_app(page, server.url))
            type_line(page, "alk positive cytoplasmic")
            wait_for_screen(page, lambda t: "ALK positive" in t and ranking_rows(t) != rows, "the new ranking")
            page.wait_for_timeout(500)  # the last frame painted (the ranking is read before the bars)
            page.screenshot(path=str(OUT))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
