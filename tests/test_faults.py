"""Faults: a process killed with SIGKILL mid-save, and a full disk.

A killed save leaves the previous file intact or the new one complete, never
a mixture; a full disk (simulated with RLIMIT_FSIZE, so writes past a size
fail with EFBIG as they would with ENOSPC) ends with one clear line, exit 1,
and the previous file unchanged. (The batch run killed mid-output is in
tests/test_batch.py; the TUI killed mid-entry in tests/test_tui.py.)
"""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import CASES, REPO

ENV = dict(os.environ, PYTHONPATH=str(REPO), MALLOC_PERTURB_="165")

RULE_SAVER = textwrap.dedent("""
    import itertools, sys
    from pathlib import Path
    from ddx.authoring.edit import read_file, save_file
    f, a, b = Path(sys.argv[1]), Path(sys.argv[2]).read_text(), Path(sys.argv[3]).read_text()
    print("ready", flush=True)
    for i in itertools.count():
        _, sha = read_file(f)
        save_file(f, b if i % 2 == 0 else a, sha)
""")

CASE_SAVER = textwrap.dedent("""
    import itertools, sys
    from pathlib import Path
    from ddx.entry import CaseEntry
    from ddx.loader import save_case
    from ddx.knowledge import load_knowledge
    k = load_knowledge()
    notes = "x" * 2_000_000
    a = CaseEntry(k, {"id": "a", "notes": "A" + notes, "stains": {"desmin": "positive"}})
    b = CaseEntry(k, {"id": "b", "notes": "B" + notes, "stains": {"alk": "positive"}})
    print("ready", flush=True)
    for i in itertools.count():
        save_case(b if i % 2 == 0 else a, Path(sys.argv[1]))
""")


def kill_mid_save(script: str, args: list[str], delay: float) -> None:
    proc = subprocess.Popen([sys.executable, "-c", script, *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


KILLS = pytest.mark.parametrize("kills", [2, pytest.param(6, marks=pytest.mark.slow)])  # 6 with pytest -m slow


@KILLS
def test_a_rule_save_killed_at_random_moments_leaves_a_whole_file(rules_copy, tmp_path, kills):
    f = rules_copy / "rules" / "immunohistochemistry.yaml"
    a = f.read_text() + "# " + "a" * 3_000_000 + "\n"  # large, so that a kill often lands mid-write
    b = a.replace("imt: {p: 0.6,", "imt: {p: 0.3,") + "# b\n"
    f.write_text(a)
    (tmp_path / "a.yaml").write_text(a)
    (tmp_path / "b.yaml").write_text(b)
    rng = random.Random(7)
    for _ in range(kills):
        kill_mid_save(RULE_SAVER, [str(f), str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")], rng.uniform(0.05, 0.6))
        assert f.read_text() in (a, b)
        for version in (rules_copy / ".history" / f.name).glob("*.yaml"):
            assert version.read_text() in (a, b)  # every kept version is whole, too


@KILLS
def test_a_case_save_killed_at_random_moments_leaves_a_whole_file(tmp_path, kills):
    import yaml

    target = tmp_path / "case.yaml"
    rng = random.Random(11)
    for _ in range(kills):
        kill_mid_save(CASE_SAVER, [str(target)], rng.uniform(0.3, 1.2))
        if target.exists():  # absent only if killed before the first save
            data = yaml.safe_load(target.read_text())
            assert data["id"] in ("a", "b") and len(data["notes"]) == 2_000_001


def _limited(size: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


@pytest.mark.parametrize(
    "args",
    [
        ["batch", str(CASES), "--format", "jsonl", "-q", "--output", "{out}"],
        ["rules", "test", "--cases", str(CASES), "--save", "{out}"],
    ],
)
def test_a_full_disk_is_one_clear_error_and_the_previous_file_stays(tmp_path, args):
    out = tmp_path / "out.json"
    out.write_text("previous\n")
    argv = [a.replace("{out}", str(out)) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "ddx", *argv],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        preexec_fn=_limited(20_000),
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "File too large" in proc.stderr, proc.stderr
    assert out.read_text() == "previous\n"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_during_a_rule_save_keeps_the_rule_file(rules_copy):
    f = rules_copy / "rules" / "pitfalls.yaml"
    before = f.read_bytes()
    script = textwrap.dedent(f"""
        from pathlib import Path
        from ddx.authoring.edit import read_file, save_file
        f = Path({str(f)!r})
        text, sha = read_file(f)
        try:
            save_file(f, text + "# " + "x" * 100_000 + "\\n", sha)
        except OSError as exc:
            print("refused:", exc.strerror)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], env=ENV, capture_output=True, text=True, timeout=120, preexec_fn=_limited(60_000)
    )
    assert "refused: File too large" in proc.stdout, proc.stderr
    assert f.read_bytes() == before
    assert not [p for p in Path(f.parent).iterdir() if p.name.endswith(".tmp")]
