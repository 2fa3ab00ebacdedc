"""Re-score cases/ and rewrite the accuracy section of README.md.

    python tools/accuracy.py            # print the section
    python tools/accuracy.py --write    # replace it in README.md (atomically)

tests/test_evaluation.py fails when README.md and the scores disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ddx.analysis import Analyzer
from ddx.evaluate import README_BEGIN, README_END, accuracy_section
from ddx.knowledge import load_knowledge
from ddx.yamlio import replace_section

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    knowledge = load_knowledge(ROOT / "rules")
    with Analyzer(knowledge) as analyzer:
        block = accuracy_section([str(ROOT / "cases")], analyzer)
    if "--write" not in sys.argv:
        print(block, end="")
        return 0
    readme = ROOT / "README.md"
    if not replace_section(readme, README_BEGIN, README_END, block):
        print(f"{readme}: no {README_BEGIN!r} ... {README_END!r} markers", file=sys.stderr)
        return 1
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
