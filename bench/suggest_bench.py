"""Benchmark for the next-test suggester (not a test: it prints figures, it does not pass or fail).

    python bench/suggest_bench.py                       # 3,000 synthetic dense cases
    python bench/suggest_bench.py --cases 1000 --sheet cases.csv --batch

What it measures, in one run on this machine (process CPU time, medians):

* suggest() per case, ddx's Suggester against the reference (tests/suggest_reference.py: the scalar
  implementation it replaced, kept as the specification), paired: alternating chunks of 250 cases;
  - hot: the same cases again and again, back to back (the code and data stay in the CPU's caches);
  - in a batch: each case validated, matched, ranked and written as a JSON line as ``ddx batch`` does, with
    only suggest() timed (the rest of the pipeline competes for the caches, as it does in a real run);
* numpy's import: CPU time of ``import numpy`` in a fresh interpreter that has imported ddx's CLI modules
  (ddx imports numpy only once a Suggester has answered ``VECTORISE_AFTER`` calls, so ``ddx eval`` on a few
  cases does not pay it);
* with --batch: ``ddx batch SHEET --format jsonl -q -o /dev/null`` with and without suggestions, as
  subprocesses, cases per CPU-second excluding the start-up (a one-case sheet's run).
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ddx.batch import BatchOptions, Processor  # noqa: E402
from ddx.knowledge import load_knowledge  # noqa: E402
from ddx.loader import read_cases, validate_raw, write_sheet  # noqa: E402
from ddx.suggest import Suggester  # noqa: E402
from ddx.synthetic import synthetic_case  # noqa: E402
from tests.suggest_reference import ReferenceSuggester  # noqa: E402

CHUNK = 250


def timed_suggest(suggester: Any, times: list[float]) -> None:
    """Wrap one suggester's suggest() so that each call's CPU time is appended to ``times``."""
    inner = suggester.suggest

    def suggest(*args: Any, **kw: Any) -> Any:
        start = time.process_time()
        out = inner(*args, **kw)
        times.append(time.process_time() - start)
        return out

    suggester.suggest = suggest


def hot(knowledge: Any, processor: Processor, raws: list[Any]) -> dict[str, float]:
    """Median µs per suggest() call, the same cases back to back, reference and ddx alternating by chunk."""
    analyzer = processor.analyzer
    inputs = []
    for raw in raws:
        case = validate_raw(raw, knowledge).case
        facts = analyzer.facts(case)
        matched = analyzer.matcher.match(facts)
        inputs.append((facts, matched, analyzer.ranker.profile_posterior(matched)))
    subjects = {"reference": ReferenceSuggester(knowledge, analyzer.ranker), "ddx": Suggester(knowledge, analyzer.ranker)}
    for s in subjects.values():  # warm: tables built, numpy imported
        for facts, matched, pp in inputs:
            s.suggest(facts, matched, profile_posterior=pp)
    per: dict[str, list[float]] = {name: [] for name in subjects}
    for first in range(0, len(inputs), CHUNK):
        chunk = inputs[first : first + CHUNK]
        for name, s in subjects.items():
            start = time.process_time()
            for facts, matched, pp in chunk:
                s.suggest(facts, matched, profile_posterior=pp)
            per[name].append((time.process_time() - start) / len(chunk) * 1e6)
    return {name: statistics.median(v) for name, v in per.items()}


class _Answering:
    """The reference suggester in the batch's place: its suggest() (the specification of the gains) is what is
    timed; the outside pointers' tests, which it does not read, are dropped; everything else a batch asks of a
    suggester (the test that separates two close leaders) is ddx's own, untimed."""

    def __init__(self, reference: ReferenceSuggester, own: Suggester):
        self.reference = reference
        self.own = own

    def suggest(self, *args: Any, pointers: Any = None, **kw: Any) -> Any:
        return self.reference.suggest(*args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.own, name)


def in_batch(knowledge: Any, raws: list[Any], rounds: int) -> dict[str, float]:
    """Median µs per suggest() call inside the batch pipeline (validate, match, rank, suggest, JSON line), one
    fresh Processor per subject and round, alternating."""
    per: dict[str, list[float]] = {"reference": [], "ddx": []}
    for _ in range(rounds):
        for name in per:
            processor = Processor(knowledge, BatchOptions(evidence_for=3))
            if name == "reference":
                ranker = processor.analyzer.ranker
                processor.analyzer.suggester = _Answering(ReferenceSuggester(knowledge, ranker), Suggester(knowledge, ranker))  # type: ignore[assignment]
            times: list[float] = []
            timed_suggest(processor.analyzer.suggester, times)
            for raw in raws:
                row = processor.process(raw)
                if row.errors:  # a broken pipeline must not pass for a fast one
                    raise SystemExit(f"{name}: case {row.id} did not rank: {row.errors[0]}")
            processor.close()
            per[name].append(statistics.median(times[100:]) * 1e6)  # after the first, scalar calls
    return {name: statistics.median(v) for name, v in per.items()}


def numpy_import() -> float:
    """CPU seconds of ``import numpy`` after ddx's CLI modules, in a fresh interpreter (median of 5)."""
    code = "import time, ddx.cli, ddx.analysis\nt = time.process_time()\nimport numpy\nprint(time.process_time() - t)\n"
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout)
        for _ in range(5)
    ]
    return statistics.median(runs)


def batch_rate(sheet: str, one: str, suggest: bool, rounds: int) -> float:
    """Cases per CPU-second of ``ddx batch SHEET --format jsonl -q -o /dev/null``, start-up excluded."""

    def cpu(path: str) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ddx",
                "batch",
                path,
                "--format",
                "jsonl",
                "-q",
                "-o",
                "/dev/null",
                *([] if suggest else ["--no-suggest"]),
            ],
            check=True,
            cwd=ROOT,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    with open(sheet) as f:
        n = sum(1 for _ in f) - 1
    startup = statistics.median(cpu(one) for _ in range(rounds))
    return n / (statistics.median(cpu(sheet) for _ in range(rounds)) - startup)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=3000, help="synthetic dense cases (ignored with --sheet)")
    parser.add_argument("--sheet", help="a case sheet to take the cases from instead (its first --cases rows)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", action="store_true", help="also time ddx batch with and without suggestions")
    args = parser.parse_args()

    knowledge = load_knowledge(ROOT / "rules")
    with tempfile.TemporaryDirectory(prefix="ddx-bench-") as tmp:
        one = str(Path(tmp) / "one.csv")
        rng = random.Random(2026)
        write_sheet([synthetic_case(knowledge.vocab, rng, "one")], Path(one))
        sheet = args.sheet
        if sheet is None:
            sheet = str(Path(tmp) / "cases.csv")
            write_sheet((synthetic_case(knowledge.vocab, rng, f"syn-{i}") for i in range(args.cases)), Path(sheet))
        raws = list(read_cases([sheet], knowledge.vocab))[: args.cases]
        processor = Processor(knowledge, BatchOptions(evidence_for=3))
        rows = []
        h = hot(knowledge, processor, raws)
        processor.close()
        rows.append(("suggest() per case, hot", h))
        b = in_batch(knowledge, raws, args.rounds)
        rows.append(("suggest() per case, in a batch", b))
        for label, r in rows:
            print(f"{label}: reference {r['reference']:.0f} µs, ddx {r['ddx']:.0f} µs ({r['reference'] / r['ddx']:.1f}× faster)")
        print(f"import numpy (after ddx's CLI modules): {numpy_import() * 1000:.0f} ms of CPU")
        if args.batch:
            for suggest in (True, False):
                rate = batch_rate(sheet, one, suggest, args.rounds)
                print(
                    f"ddx batch --format jsonl{'' if suggest else ' --no-suggest'}: {rate:,.0f} cases per CPU-second "
                    f"(start-up excluded)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
