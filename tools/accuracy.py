"""Re-score cases/ and rewrite the generated sections of README.md: accuracy, and where the figures come from.

    python tools/accuracy.py            # print the sections
    python tools/accuracy.py --write    # replace them in README.md (atomically)

tests/test_evaluation.py and tests/test_provenance.py fail when README.md and the rules disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ddx.analysis import Analyzer  # noqa: E402
from ddx.evaluate import accuracy_section  # noqa: E402
from ddx.knowledge import load_knowledge  # noqa: E402
from ddx.provenance import evidence_section  # noqa: E402
from tools.readme import ACCURACY_BEGIN, ACCURACY_END, PROVENANCE_BEGIN, PROVENANCE_END, replace_section  # noqa: E402


def main() -> int:
    knowledge = load_knowledge(ROOT / "rules")
    with Analyzer(knowledge) as analyzer:
        block = accuracy_section([str(ROOT / "cases")], analyzer)
    sections = [(ACCURACY_BEGIN, ACCURACY_END, block), (PROVENANCE_BEGIN, PROVENANCE_END, evidence_section(knowledge))]
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
