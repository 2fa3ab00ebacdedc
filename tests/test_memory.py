"""5,000 distinct cases through one analyzer: no error, memory flat (a leak
check on the engine sessions, not a timing test)."""

from __future__ import annotations

import random

import pytest

from ddx.synthetic import synthetic_case
from tests.conftest import validate


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_5000_cases_in_one_process_memory_flat(knowledge, analyzer):
    rng = random.Random(5000)
    cases = [validate(knowledge, synthetic_case(knowledge.vocab, rng, f"m{i}")) for i in range(5000)]
    for case in cases[:1000]:  # warm up caches and allocator
        analyzer.analyze(case)
    start = rss_kib()
    for case in cases[1000:]:
        a = analyzer.analyze(case)
        assert abs(sum(r.probability for r in a.ranking) - 1) < 1e-9
    growth_mib = (rss_kib() - start) / 1024
    assert growth_mib < 8, f"RSS grew {growth_mib:.1f} MiB over 4,000 cases"
