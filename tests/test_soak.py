"""100,000 distinct cases in one process: RSS growth under 20 MB, no engine session leaked
(bench/soak.py; a memory check, not a timing test)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_100000_cases_in_one_process_keep_memory_flat():
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "soak.py"), "--cases", "100000", "--json"],
        capture_output=True,
        text=True,
        timeout=1200,
        env={"MALLOC_PERTURB_": "165", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["cases"] == 100_000 and result["leaked_sessions"] == 0
    assert result["growth_mib"] < 20, result["samples"]
