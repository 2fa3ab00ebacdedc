"""Benchmark for case validation, paired across two installs of ddx (not a test: it prints figures).

    python bench/validate_bench.py --python ../other-checkout/.venv/bin/python --python .venv/bin/python
    python bench/validate_bench.py --python OLD --python NEW --process --batch   # also the whole case, ddx batch

Each ``--python`` is an interpreter with ddx installed (its own checkout); the rounds alternate
between them, so a machine shared with other work slows both alike. Figures are medians over rounds.

* per case, over the first ``--rows`` rows of ``--sheet`` (read once, kept as cells): the sheet row made
  a mapping (``RawCase.mapping``), the mapping validated (``case_schema.validate``: the fast path where
  it applies, else the pydantic model), and ``validate_raw`` (both, as ``ddx batch`` calls it);
* with ``--process``: ``Processor.process`` (what ``ddx batch --no-suggest`` does for a case: validate,
  rank, the JSON line) per case, in-process;
* with ``--batch``: ``ddx batch SHEET --format jsonl --no-suggest -q -o /dev/null`` as a subprocess,
  in cases per CPU-second of the child (user + system), start-up included, and the start-up alone
  (the same command on the sheet's first row).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

SHEET = None  # default: a sheet of --rows synthetic cases, written to a temporary folder for the run


def worker(sheet: Path, rows: int, passes: int, process: bool) -> None:
    """Run inside one interpreter: print the per-case figures (µs) as JSON."""
    import ddx
    from ddx.knowledge import load_knowledge
    from ddx.loader import iter_raw, validate_raw

    knowledge = load_knowledge()
    schema = knowledge.case_schema
    raws = list(islice(iter_raw(sheet, knowledge.vocab), rows))
    mappings = [raw.mapping() for raw in raws]

    def per_case(step, items) -> float:  # type: ignore[no-untyped-def]
        start = time.process_time()  # CPU time: a machine shared with other work slows it less than wall time
        for item in items:
            step(item)
        return (time.process_time() - start) / len(items) * 1e6

    for raw in raws[:200]:  # warm up (the schema, the fast path's tables)
        validate_raw(raw, knowledge)
    out: dict[str, list[float]] = {"mapping": [], "validate": [], "validate_raw": [], "process": []}
    for _ in range(passes):
        out["mapping"].append(per_case(lambda raw: raw.mapping(), raws))
        out["validate"].append(per_case(schema.validate, mappings))
        out["validate_raw"].append(per_case(lambda raw: validate_raw(raw, knowledge), raws))
    if process:  # the whole of ddx batch's work on a case (--no-suggest, the JSON line), one pass
        from ddx.batch import BatchOptions, Processor

        processor = Processor(knowledge, BatchOptions(suggest=False))
        for raw in raws[:100]:
            processor.process(raw)
        out["process"] = [per_case(processor.process, raws) for _ in range(max(1, passes // 3))]
        processor.close()
    print(
        json.dumps(
            {
                "ddx": str(Path(ddx.__file__).parent),
                "rows": len(raws),
                **{k: statistics.median(v) if v else None for k, v in out.items()},
            }
        )
    )


def batch_cpu(ddx: Path, sheet: Path) -> tuple[float, float]:
    """CPU seconds (user + system) and wall seconds of one ``ddx batch`` run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [str(ddx), "batch", str(sheet), "--format", "jsonl", "--no-suggest", "-q", "-o", "/dev/null"],
        check=False,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", action="append", default=[], help="an interpreter with ddx installed (twice)")
    parser.add_argument("--sheet", type=Path, default=SHEET, help="a CSV sheet of cases (default: synthetic, made here)")
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--passes", type=int, default=5, help="passes over the rows per round (median)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--process",
        action="store_true",
        help="also time ddx batch's whole per-case work in-process (Processor.process, no suggestions)",
    )
    parser.add_argument("--batch", action="store_true", help="also time ddx batch on the whole sheet")
    parser.add_argument("--batch-rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.sheet, args.rows, args.passes, args.process)
        return
    if args.sheet is None:
        import random

        from ddx.knowledge import load_knowledge
        from ddx.loader import write_sheet
        from ddx.synthetic import synthetic_case

        vocab = load_knowledge().vocab
        rng = random.Random(19)
        args.sheet = Path(tempfile.mkdtemp(prefix="ddx-validate-")) / "cases.csv"
        write_sheet((synthetic_case(vocab, rng, f"syn-{i}") for i in range(args.rows)), args.sheet)
    pythons = args.python or [sys.executable]
    runs: dict[str, list[dict[str, float]]] = {p: [] for p in pythons}
    for _ in range(args.rounds):
        for python in pythons:
            done = subprocess.run(
                [
                    python,
                    __file__,
                    "--worker",
                    "--sheet",
                    str(args.sheet),
                    "--rows",
                    str(args.rows),
                    "--passes",
                    str(args.passes),
                    *(["--process"] if args.process else []),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            runs[python].append(json.loads(done.stdout))
    print(
        f"per case (µs), {runs[pythons[0]][0]['rows']} rows of {args.sheet}, medians of {args.rounds} rounds x {args.passes} passes:"
    )
    columns = [("mapping", 9), ("validate", 9), ("validate_raw", 13)] + ([("process", 9)] if args.process else [])
    print(f"  {'ddx':40} " + " ".join(f"{k:>{w}}" for k, w in columns))
    for python in pythons:
        r = runs[python]
        print(f"  {r[0]['ddx']:40} " + " ".join(f"{statistics.median(x[k] for x in r):{w}.1f}" for k, w in columns))
    if not args.batch:
        return
    cases = sum(1 for _ in args.sheet.open(encoding="utf-8")) - 1
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.csv"
        with args.sheet.open(encoding="utf-8") as handle:
            one.write_text(handle.readline() + handle.readline(), encoding="utf-8")
        timed: dict[str, list[tuple[float, float, float]]] = {p: [] for p in pythons}
        for _ in range(args.batch_rounds):
            for python in pythons:
                ddx = Path(python).parent / "ddx"
                cpu, wall = batch_cpu(ddx, args.sheet)
                startup, _ = batch_cpu(ddx, one)
                timed[python].append((cpu, wall, startup))
    print(f"ddx batch {args.sheet.name} --format jsonl --no-suggest ({cases} cases), medians of {args.batch_rounds}:")
    for python in pythons:
        cpu = statistics.median(t[0] for t in timed[python])
        wall = statistics.median(t[1] for t in timed[python])
        startup = statistics.median(t[2] for t in timed[python])
        print(
            f"  {python:40} {cases / cpu:7.0f} cases/CPU-s ({cpu:.1f} CPU-s, {wall:.1f} s wall); start-up "
            f"{startup:.2f} CPU-s; without it {cases / (cpu - startup):7.0f} cases/CPU-s"
        )


if __name__ == "__main__":
    main()
