from __future__ import annotations

import gc
import shutil
import signal
from pathlib import Path

import pytest

from ddx.analysis import Analyzer
from ddx.engine import durable_problem
from ddx.knowledge import Knowledge, load_knowledge, packaged_rules_dir

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "cases"
SEED = CASES / "seed-board-q1-thigh-35m.yaml"


def pytest_configure(config: pytest.Config) -> None:
    """Fewer garbage-collector passes: everything imported so far is frozen out of the collector, and the
    young generation is collected every 50,000 allocations instead of 700. Textual builds and drops many
    objects per test; measured on five TUI tests, 30.3 s of CPU became 22.3 s. Nothing here depends on when
    the collector runs (the memory tests measure growth over thousands of cases, in their own processes or
    after a warm-up)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # A suite started in the background of a non-interactive shell (`pytest ... &`) inherits Ctrl-C
        # ignored and would pass that on to the ddx processes the tests interrupt, which would then run
        # to the end: Python's own handler is put back, so those children start with the default.
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``durable`` are skipped where durable-rules does not import (Python 3.13+), saying why."""
    problem = durable_problem()
    if problem is None:
        return
    skip = pytest.mark.skip(reason=problem)
    for item in items:
        if "durable" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _sigint_untouched():
    """A test that leaves Ctrl-C ignored in this process makes every later child ignore it too (a child
    inherits SIG_IGN, and Python then installs no KeyboardInterrupt): such a test fails here, and the
    handler is put back."""
    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    if after is not before:
        signal.signal(signal.SIGINT, before)
        pytest.fail(f"the test left the SIGINT handler changed ({before!r} -> {after!r})")


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge()


@pytest.fixture(scope="session")
def analyzer(knowledge: Knowledge):
    with Analyzer(knowledge) as a:
        yield a


@pytest.fixture(scope="session")
def oracle(knowledge: Knowledge):
    with Analyzer(knowledge, "python") as a:
        yield a


@pytest.fixture()
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of the packaged rules, for tests that break them."""
    dest = tmp_path / "rules"
    shutil.copytree(packaged_rules_dir(), dest)
    return dest


def validate(knowledge: Knowledge, raw: dict):
    return knowledge.case_schema.validate(raw)


_BOX = str.maketrans("", "", "│╭╮╰╯─┃┏┓┗┛━┡┩╇╈┳┻┼┬┴├┤ \t\n")


def squeezed(text: str) -> str:
    """Terminal output with its panel borders and every space and line break taken out: a phrase or path
    that rich wrapped at the panel's edge (a long temporary path under pytest-xdist, say) is found again
    with ``squeezed(phrase) in squeezed(output)``."""
    return text.translate(_BOX)
