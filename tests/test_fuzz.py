"""Fuzzing the case loader within a fixed time budget.

Each round takes a sample case file and mutates it (bytes flipped, YAML
syntax and special tokens spliced in, truncated, duplicated), then reads it
exactly as ``ddx eval`` and ``ddx batch`` do: every outcome must be a ranked
case or a located problem, never an exception. The budget is
``DDX_FUZZ_SECONDS`` (default 20 s; the README gives the figure); the seed
of a failing round is in the failure message, so it can be replayed.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from ddx.analysis import Analyzer
from ddx.loader import iter_cases
from tests.conftest import CASES

BUDGET_S = float(os.environ.get("DDX_FUZZ_SECONDS", "20"))  # the slow run's budget; the default suite's is 2 s
TOKENS = [
    b"!!python/object/apply:os.system",
    b"&a",
    b"*a",
    b"<<: *a",
    b"{",
    b"}",
    b"[",
    b"]",
    b": ",
    b"- ",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"~",
    b".nan",
    b".inf",
    b"-.inf",
    b"1e400",
    b"0x1F",
    b"'",
    b'"',
    b"\t",
    b"\r",
    b"\n  ",
    b"? ",
    b"|",
    b">",
    b"%YAML 1.1\n",
    b"---\n",
    b"...\n",
    b"!!binary",
    b"#",
    b"null",
    b"true",
    b"[1, 2]",
    b"{a: b}",
    b"-5",
    b"9" * 400,
]


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(5)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip a byte
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:  # splice a token
            buf[pos:pos] = rng.choice(TOKENS)
        elif op == 2:  # truncate
            del buf[pos:]
        elif op == 3 and buf:  # duplicate a slice
            end = min(len(buf), pos + rng.randint(1, 200))
            buf[pos:pos] = buf[pos:end] * rng.randint(1, 3)
        else:  # delete a slice
            del buf[pos : pos + rng.randint(1, 40)]
    return bytes(buf)


@pytest.mark.parametrize("budget_s", [2.0, pytest.param(BUDGET_S, marks=pytest.mark.slow)])
def test_mutated_case_files_give_cases_or_problems_never_exceptions(knowledge, tmp_path, budget_s):
    seeds = sorted(p for p in CASES.rglob("*.yaml"))
    sources = [p.read_bytes() for p in seeds]
    master = random.Random(20261124)
    deadline = time.monotonic() + budget_s
    rounds = ranked = problems = 0
    with Analyzer(knowledge, "python") as analyzer:
        while time.monotonic() < deadline:
            seed = master.randrange(2**32)
            rng = random.Random(seed)
            target = tmp_path / rng.choice(["case.yaml", "case.json", "case.yml"])
            target.write_bytes(mutate(rng.choice(sources), rng))
            try:
                for loaded in iter_cases(target, knowledge):
                    if loaded.ok:
                        assert loaded.case is not None
                        analysis = analyzer.analyze(loaded.case, suggest=False)
                        assert abs(sum(r.probability for r in analysis.ranking) - 1) < 1e-9
                        ranked += 1
                    else:
                        assert loaded.problems and all(str(p) for p in loaded.problems)
                        problems += 1
            except Exception as exc:  # pragma: no cover - the failure report
                raise AssertionError(f"round seed {seed}: {type(exc).__name__}: {exc}") from exc
            finally:
                target.unlink()
            rounds += 1
    assert rounds > 100 and ranked and problems  # both outcomes were exercised
    print(f"fuzz: {rounds} rounds in {budget_s:.0f} s, {ranked} ranked, {problems} with problems")
