"""Re-make docs/tui.svg, the README's screenshot of the TUI (Textual's own SVG export).

    python tools/screenshot.py

The seed case at 120x40, after typing ``alk positive cytoplasmic`` on the
stains tab (F7) and selecting IMT in the ranking to show its evidence.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ddx.entry import open_case  # noqa: E402
from ddx.knowledge import load_knowledge  # noqa: E402
from ddx.tui.app import DdxApp  # noqa: E402


async def shoot(out: Path) -> None:
    knowledge = load_knowledge()
    os.chdir(ROOT)
    app = DdxApp(knowledge, opened=open_case(Path("cases/seed-board-q1-thigh-35m.yaml"), knowledge), drafts=None, offer_drafts=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("f7")
        await pilot.press(*"alk", "space", *"positive", "space", *"cytoplasmic", "enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.analysis is not None
        table = app.differential.query_one("#ranking")
        table.move_cursor(row=[r.entity for r in app.analysis.ranking].index("imt"))
        table.focus()
        await pilot.pause()
        app.save_screenshot(str(out.name), path=str(out.parent))


if __name__ == "__main__":
    target = ROOT / "docs" / "tui.svg"
    asyncio.run(shoot(target))
    print(f"wrote {target}")
