"""Start-up benchmark for the ``ddx`` command (not a test: it prints figures, it does not pass or fail).

    python bench/startup_bench.py                         # this tree, 15 runs of each command
    python bench/startup_bench.py --baseline /other/.venv/bin/ddx    # paired with another install
    git archive main | tar -x -C /tmp/base && python bench/startup_bench.py --baseline-src /tmp/base
    python bench/startup_bench.py --numpy                 # also with numpy imported by ddx.suggest

What it measures, as medians over ``--runs`` cold processes (wall clock and CPU time, user + system):

* ``ddx eval CASE`` (the board-review case, text to a pipe), ``ddx --version`` and
  ``ddx batch ONE-ROW.csv --no-suggest`` (jsonl), each a whole process;
* the split of ``ddx eval`` inside one process: its imports, ``load_knowledge()``,
  ``Analyzer(knowledge)`` (compiling the rules), ranking the case (with reading it) and writing the text.

This tree runs twice: with the cache of parsed rule files (``ddx.yamlio.cache_dir``; a fresh folder,
filled by the uncounted warm-up runs) and without it (``DDX_NO_CACHE=1``). With ``--baseline DDX`` the same
commands also run with that install's Python. Runs alternate (baseline, this tree, this tree without the
cache, then the next run), so that all see the same load on a shared machine. ``--baseline-src DIR`` runs
another ddx source tree (a checkout, or ``git archive`` of another commit) with this tree's Python and
packages (``PYTHONPATH=DIR``): the fairest comparison, since the packages installed change start-up too
(pydantic scans every installed distribution's entry points). ``--numpy`` adds rows in
which ``numpy`` is imported the moment ``ddx.suggest`` is (an import hook), as it will be once
ddx.suggest uses numpy.

Each process runs with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed; the cache goes to a
folder of its own, ``PYTHONPYCACHEPREFIX``), as an installed ddx has its ``.pyc`` files: a checkout run with
``PYTHONDONTWRITEBYTECODE=1`` compiles every ddx module it imports on every start (about 40 ms more).
Two runs of each command warm both caches and are not counted. Processes start in an empty folder, so that
each install imports its own ddx.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "cases" / "seed-board-q1-thigh-35m.yaml"

# numpy the moment ddx.suggest is first imported (what ``import numpy`` at the top of ddx/suggest.py costs)
NUMPY_HOOK = """
import sys
class _NumpyWithSuggest:
    def find_spec(self, name, path=None, target=None):
        if name == "ddx.suggest":
            sys.meta_path.remove(self)
            import numpy  # noqa: F401
        return None
sys.meta_path.insert(0, _NumpyWithSuggest())
"""

# the console script's body (``ddx = "ddx._entry:run"``)
RUN = "from ddx._entry import run\nrun()\n"

SPLIT = """
import io, json, sys, time
t0 = time.perf_counter()
import ddx.cli  # noqa: F401  (what `ddx eval` imports, wherever each version imports it)
from ddx.knowledge import load_knowledge
from ddx.analysis import Analyzer, analyze_paths
try:
    from ddx.render import render_text
except ImportError:   # a tree from before issue 20, where it was ddx.report
    from ddx.report import render_text
from rich.console import Console
t1 = time.perf_counter()
knowledge = load_knowledge()
t2 = time.perf_counter()
analyzer = Analyzer(knowledge)
t3 = time.perf_counter()
[analysis] = list(analyze_paths([sys.argv[1]], analyzer))
t4 = time.perf_counter()
Console(file=io.StringIO(), width=100, highlight=False).print(render_text(analysis, knowledge, top=6))
t5 = time.perf_counter()
print(json.dumps({"imports (ddx.cli, .knowledge, .analysis, .render, rich)": t1 - t0, "load_knowledge()": t2 - t1,
                  "Analyzer(knowledge)": t3 - t2,
                  "read and rank the case": t4 - t3, "write the text": t5 - t4, "in-process total": t5 - t0}))
"""


def python_of(ddx: Path) -> Path:
    """The interpreter beside a ``ddx`` console script (the venv's ``bin/python``)."""
    python = ddx.parent / "python"
    if not python.exists():
        raise SystemExit(f"no python beside {ddx}")
    return python


def run_once(python: Path, code: str, args: list[str], env: dict[str, str], cwd: str) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its stdout) of one cold process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([str(python), "-c", code, *args], capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{python} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def one_row_sheet(directory: Path) -> Path:
    """The board-review case as a one-row CSV sheet."""
    sys.path.insert(0, str(ROOT))
    from ddx.loader import write_sheet
    from ddx.yamlio import load_data

    case = load_data(CASE)
    path = directory / "one-row.csv"
    write_sheet([case], path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="counted runs of each command (default 15)")
    parser.add_argument(
        "--ddx",
        type=Path,
        default=Path(sys.executable).parent / "ddx",
        help="the install measured (default: the ddx beside this Python)",
    )
    parser.add_argument("--baseline", type=Path, default=None, help="another install's ddx, run paired")
    parser.add_argument(
        "--baseline-src", type=Path, default=None, help="another ddx source tree, run paired with this Python (PYTHONPATH)"
    )
    parser.add_argument("--numpy", action="store_true", help="also measure with numpy imported by ddx.suggest")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ddx-startup-") as tmp:
        sheet = one_row_sheet(Path(tmp))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        env["DDX_CACHE_DIR"] = str(Path(tmp) / "cache")  # a fresh rules cache (where ddx has one)
        env["COLUMNS"] = "100"
        env.pop("DDX_NO_CACHE", None)
        cwd = Path(tmp) / "cwd"
        cwd.mkdir()
        commands = {
            f"`ddx eval {CASE.relative_to(ROOT)}`": ["eval", str(CASE)],
            "`ddx --version`": ["--version"],
            "`ddx batch ONE-ROW.csv --no-suggest`": ["batch", str(sheet), "--no-suggest", "--format", "jsonl", "-q"],
        }
        installs = {"this tree": (python_of(args.ddx), env), "no cache": (python_of(args.ddx), {**env, "DDX_NO_CACHE": "1"})}
        if args.baseline is not None:
            installs = {"baseline": (python_of(args.baseline), env), **installs}
        elif args.baseline_src is not None:
            source = {**env, "PYTHONPATH": str(args.baseline_src.resolve())}
            installs = {"baseline": (python_of(args.ddx), source), **installs}
        preludes = {"": ""}
        if args.numpy:
            preludes["+ numpy"] = NUMPY_HOOK

        wall: dict[tuple[str, str, str], list[float]] = {}
        cpu: dict[tuple[str, str, str], list[float]] = {}
        split: dict[tuple[str, str], list[dict[str, float]]] = {}
        for run in range(args.runs + 2):
            counted = run >= 2
            for extra, prelude in preludes.items():
                for install, (python, install_env) in installs.items():
                    for label, cmd in commands.items():
                        w, c, _ = run_once(python, prelude + RUN, cmd, install_env, str(cwd))
                        if counted:
                            wall.setdefault((label, extra, install), []).append(w)
                            cpu.setdefault((label, extra, install), []).append(c)
                    _, _, out = run_once(python, prelude + SPLIT, [str(CASE)], install_env, str(cwd))
                    if counted:
                        split.setdefault((extra, install), []).append(json.loads(out))
            print(f"run {run + 1}/{args.runs + 2}", file=sys.stderr)

    names = list(installs)
    print(
        f"Start-up, medians of {args.runs} cold runs (wall / CPU, ms); Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end\n"
    )
    print("| command | " + " | ".join(f"{n} wall | {n} CPU" for n in names) + " |")
    print("|---|" + "---:|---:|" * len(names))
    for extra in preludes:
        for label in commands:
            cells = []
            for n in names:
                cells.append(f"{1000 * statistics.median(wall[(label, extra, n)]):.0f}")
                cells.append(f"{1000 * statistics.median(cpu[(label, extra, n)]):.0f}")
            print(f"| {label} {extra} | " + " | ".join(cells) + " |")
    print()
    print("| `ddx eval` in one process | " + " | ".join(f"{n}{' ' + e if e else ''}" for e in preludes for n in names) + " |")
    print("|---|" + "---:|" * (len(names) * len(preludes)))
    for phase in split[("", names[0])][0]:
        cells = [f"{1000 * statistics.median(r[phase] for r in split[(e, n)]):.0f}" for e in preludes for n in names]
        print(f"| {phase} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
