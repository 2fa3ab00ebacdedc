"""Regenerate the generated part of docs/case-format.md: every case key, term and synonym.

    python tools/docs.py            # print the section
    python tools/docs.py --write    # replace it in docs/case-format.md (atomically)

The section is written from the packaged rules (rules/vocabulary.yaml, entities.yaml, settings.yaml) and the
case model (ddx/knowledge/case.py) by ddx.casedoc.reference_section; tests/test_docs.py fails when the file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ddx.casedoc import DOC_BEGIN, DOC_END, reference_section  # noqa: E402
from ddx.knowledge import load_knowledge  # noqa: E402
from tools.readme import replace_section  # noqa: E402

DOC = ROOT / "docs" / "case-format.md"


def main() -> int:
    block = reference_section(load_knowledge(ROOT / "rules"))
    if "--write" not in sys.argv:
        print(block, end="")
        return 0
    if not replace_section(DOC, DOC_BEGIN, DOC_END, block):
        print(f"{DOC}: no {DOC_BEGIN!r} ... {DOC_END!r} markers", file=sys.stderr)
        return 1
    print(f"updated {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
