"""The start-up pause of the garbage collector (ddx/startup.py): the ``ddx`` command pauses it before its imports,
loading the rules ends the pause, and ``ddx tui`` ends it at its first paint. Outside the command nothing is
paused, and collection always resumes."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ddx import startup
from tests.conftest import REPO, SEED
from tests.test_tui import drive, make_app


@pytest.fixture
def collector() -> Iterator[None]:
    """Leave the test process's collector as it was: enabled, nothing frozen, no pause pending."""
    yield
    startup._collector_paused = False
    gc.unfreeze()
    gc.enable()


def test_resume_without_a_pause_leaves_the_collector_alone(collector: None) -> None:
    gc.disable()
    startup.resume_collector()  # a program that turned the collector off keeps it off
    assert not gc.isenabled()
    gc.enable()
    frozen = gc.get_freeze_count()
    startup.resume_collector()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_a_pause_ends_with_collection_on_and_the_start_up_objects_frozen(collector: None) -> None:
    startup.pause_collector()
    assert not gc.isenabled()
    kept = [[] for _ in range(1000)]  # objects made during start-up
    startup.resume_collector()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(kept)
    startup.resume_collector()  # a second end is harmless
    assert gc.isenabled()


def test_a_collector_already_off_is_not_turned_on_by_the_pause(collector: None) -> None:
    gc.disable()
    startup.pause_collector()
    startup.resume_collector()
    assert not gc.isenabled()


def test_the_tui_ends_the_pause_at_its_first_paint(knowledge, collector: None) -> None:
    startup.pause_collector()
    seen: list[bool] = []

    async def script(pilot) -> None:
        seen.append(gc.isenabled())

    drive(make_app(knowledge, SEED), script)
    assert seen == [True]


def _run_probed(command: list[str], module: str, function: str) -> str:
    """Run ``ddx COMMAND`` as installed (``ddx._entry.run``) with ``module.function`` wrapped to report on
    stderr whether the collector was on when it was called and when it returned."""
    probe = (
        "import gc, importlib, sys\n"
        f"mod = importlib.import_module({module!r})\n"
        f"inner = getattr(mod, {function!r})\n"
        "def wrapped(*a, **k):\n"
        "    before = gc.isenabled()\n"
        "    out = inner(*a, **k)\n"
        "    sys.stderr.write(f'collector before={before} after={gc.isenabled()}\\n')\n"
        "    return out\n"
        f"setattr(mod, {function!r}, wrapped)\n"
        "from ddx._entry import run\n"
        f"sys.argv = ['ddx', *{command!r}]\n"
        "run()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_ddx_eval_loads_its_rules_paused_and_ranks_with_the_collector_on() -> None:
    said = _run_probed(["eval", str(SEED), "--format", "json"], "ddx.knowledge", "load_knowledge")
    assert "collector before=False after=False" in said  # loading the rules is start-up
    said = _run_probed(["eval", str(SEED), "--format", "json"], "ddx.render", "to_json")
    assert "collector before=True after=True" in said  # the command itself runs with it on


def test_other_commands_run_with_the_collector_on() -> None:
    said = _run_probed(["rules", "check", "--no-engine"], "ddx.authoring.check", "check_rules")
    assert "collector before=True after=True" in said
