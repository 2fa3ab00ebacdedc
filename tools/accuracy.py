"""Re-score cases/ and rewrite the generated sections of README.md: accuracy, and where the figures come from.

    python tools/accuracy.py            # print the sections
    python tools/accuracy.py --write    # replace them in README.md (atomically)

tests/test_evaluation.py and tests/test_provenance.py fail when README.md and the rules disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ddx.analysis import Analyzer
from ddx.evaluate import README_BEGIN, README_END, accuracy_section
from ddx.knowledge import load_knowledge
from ddx.provenance import README_BEGIN as PROV_BEGIN
from ddx.provenance import README_END as PROV_END
from ddx.provenance import evidence_section
from ddx.yamlio import replace_section

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    knowledge = load_knowledge(ROOT / "rules")
    with Analyzer(knowledge) as analyzer:
        block = accuracy_section([str(ROOT / "cases")], analyzer)
    sections = [(README_BEGIN, README_END, block), (PROV_BEGIN, PROV_END, evidence_section(knowledge))]
    if "--write" not in sys.argv:
        for _, _, text in sections:
            print(text)
        return 0
    readme = ROOT / "README.md"
    for begin, end, text in sections:
        if not replace_section(readme, begin, end, text):
            print(f"{readme}: no {begin!r} ... {end!r} markers", file=sys.stderr)
            return 1
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
