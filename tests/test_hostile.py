"""Hostile and broken input: each file is one clear error row; never a traceback, a hang or code run.

The folder below is the issue's list, with one good case among them. ``ddx batch`` and ``ddx eval``
run on it as a user would (a real process); the timeout only guards against a hang.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SEED

DDX = [sys.executable, "-m", "ddx"]


def billion_laughs(last: str = "id: bomb\nnotes: *j\n") -> str:
    """Nine levels of nine aliases (387 million values once expanded), then ``last`` (which may use ``*j``)."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n" + last


def hostile_folder(root: Path, marker: Path) -> dict[str, str]:
    """Write the hostile files; returns file name -> words its error must contain."""
    root.mkdir()
    shutil.copy(SEED, root / "good.yaml")
    files: dict[str, tuple[bytes | str, str]] = {
        "syntax.yaml": ("id: s\nstains: {desmin: positive\n", "YAML syntax error"),
        "tag.yaml": (f'!!python/object/apply:os.system ["touch {marker}"]\n', "could not determine a constructor"),
        "tag-inside.yaml": (
            f'id: t\nnotes: !!python/object/apply:os.system ["touch {marker}"]\n',
            "could not determine a constructor",
        ),
        "bomb.yaml": (billion_laughs(), "aliases in this file expand"),
        "deep.json": ('{"id": "deep", "notes": ' + "[" * 100_000 + "]" * 100_000 + "}", "JSON"),
        "nan.json": ('{"id": "nan", "patient": {"age": NaN}}', "NaN"),
        "infinity.json": ('{"id": "inf", "patient": {"age": Infinity}}', "Infinity"),
        "inf.yaml": ("id: inf\npatient: {age: .inf}\n", "finite"),
        "huge-number.yaml": ("id: e400\nclinical: {size_cm: 1e400}\n", "finite"),
        "negative-age.yaml": ("id: neg\npatient: {age: -5}\n", "must be 0 or more (got -5)"),
        "absurd.yaml": ("id: absurd\npatient: {age: 500}\nclinical: {size_cm: 100000}\n", "must be 120 or less"),
        "control.yaml": ('id: "a\\0b\\x07"\n', "case id"),
        "binary.yaml": (bytes(range(256)) * 8, "not UTF-8"),
        "empty.yaml": ("", "empty"),
        "latin1.yaml": ("id: caf\xe9\n".encode("latin-1"), "not UTF-8"),
        "utf16.yaml": ("id: x\n".encode("utf-16"), "not UTF-8"),
        "oversize.yaml": ("id: big\nnotes: '" + "x" * (5 * 1024 * 1024) + "'\n", "the limit is 5242880 bytes"),
    }
    expected = {}
    for name, (content, words) in files.items():
        path = root / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        expected[name] = words
    os.symlink("loop.yaml", root / "loop.yaml")  # a link to itself
    expected["loop.yaml"] = "symbolic links"
    os.symlink("missing.yaml", root / "dangling.yaml")
    expected["dangling.yaml"] = "no such file"
    (root / "sub").mkdir()
    os.symlink("..", root / "sub" / "up")  # a folder loop: not followed
    return expected


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MALLOC_PERTURB_="165")
    return subprocess.run([*DDX, *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


def test_batch_ranks_the_good_case_and_gives_one_error_row_per_hostile_file(tmp_path):
    marker = tmp_path / "PWNED"
    expected = hostile_folder(tmp_path / "in", marker)
    out = run("batch", "in", "--format", "jsonl", "--quiet", "--no-suggest", "--output", "rows.jsonl", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert not marker.exists()  # no YAML tag ran anything
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    cases = [r for r in rows if "summary" not in r]
    by_file: dict[str, list[dict]] = {}
    for r in cases:
        by_file.setdefault(Path(r["file"]).name, []).append(r)
    good = by_file.pop("good.yaml")
    assert len(good) == 1 and good[0]["ranking"][0]["entity"] == "ilms" and not good[0].get("errors")
    assert set(by_file) == set(expected)
    for name, words in expected.items():
        [row] = by_file[name]  # exactly one row per hostile file
        message = " ".join(e["message"] for e in row["errors"])
        assert row["errors"] and words in message, (name, message)
        assert name in message  # the file is named


def test_eval_on_the_same_folder_prints_errors_without_a_traceback(tmp_path):
    marker = tmp_path / "PWNED"
    hostile_folder(tmp_path / "in", marker)
    out = run("eval", "--format", "json", "in", cwd=tmp_path)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr + out.stdout and not marker.exists()
    results = json.loads(out.stdout)
    ranked = [r for r in results if r.get("ranking")]
    assert [r["case_id"] if "case_id" in r else r.get("id") for r in ranked] == ["seed-board-q1-thigh-35m"]


@pytest.mark.parametrize("files", [300, pytest.param(10_000, marks=pytest.mark.slow)])
def test_a_folder_of_many_files_is_read_completely(tmp_path, files):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(files):
        (folder / f"c{i:05d}.yaml").write_text(f"id: c{i}\npatient: {{age: {i % 90}}}\n")
    out = run("batch", "many", "--format", "csv", "--quiet", "--no-suggest", "--output", "rows.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len((tmp_path / "rows.csv").read_text().splitlines()) == files + 1  # header + one row per file


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_given_as_a_case_is_refused_not_read(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    out = run("eval", str(fifo), cwd=tmp_path)
    assert out.returncode == 1 and "not a regular file" in out.stdout + out.stderr
