"""The start-up pause of the garbage collector (ddx/startup.py): the ``ddx`` command pauses it before its imports,
loading the rules ends the pause, and ``ddx tui`` ends it at its first paint. Outside the command nothing is
paused, and collection always resumes."""

from __future__ import annotations

import gc
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ddx import startup
from ddx.cli.main import ENDS_ITS_OWN_START_UP
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


def _probe(target: str, *, call: bool = True) -> str:
    """Python source that wraps ``target`` (``module:function`` or ``module:Class.method``) to report on stderr
    whether the collector was on when it was called and, when ``call``, when it returned (without ``call`` the
    wrapped function is not run: the TUI is not opened, the server does not listen)."""
    module, _, attr = target.partition(":")
    owner, _, name = attr.rpartition(".")
    return (
        "import gc, importlib, sys\n"
        f"host = importlib.import_module({module!r})\n"
        + (f"host = getattr(host, {owner!r})\n" if owner else "")
        + f"inner = getattr(host, {name!r})\n"
        "def wrapped(*a, **k):\n"
        "    before = gc.isenabled()\n"
        + ("    out = inner(*a, **k)\n" if call else "    out = None\n")
        + "    sys.stderr.write(f'collector before={before} after={gc.isenabled()}\\n')\n"
        "    sys.stderr.flush()\n"
        "    return out\n"
        f"setattr(host, {name!r}, wrapped)\n"
    )


def _run_probed(command: list[str], target: str, *, call: bool = True) -> str:
    """Run ``ddx COMMAND`` as installed (``ddx._entry.run``) with ``target`` wrapped (:func:`_probe`)."""
    probe = _probe(target, call=call) + f"from ddx._entry import run\nsys.argv = ['ddx', *{command!r}]\nrun()\n"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_ddx_eval_loads_its_rules_paused_and_ranks_with_the_collector_on() -> None:
    said = _run_probed(["eval", str(SEED), "--format", "json"], "ddx.knowledge:load_knowledge")
    assert "collector before=False after=False" in said  # loading the rules is start-up
    said = _run_probed(["eval", str(SEED), "--format", "json"], "ddx.render:to_json")
    assert "collector before=True after=True" in said  # the command itself runs with it on


# Where each command that ends its own start-up does its work, and whether the collector is on there: a command
# added to ENDS_ITS_OWN_START_UP needs its line here (the test below fails with a KeyError until it has one).
AT_WORK = {
    "eval": (["eval", str(SEED), "--format", "json"], "ddx.render:to_json", True, True),
    "batch": (["batch", str(SEED), "--format", "jsonl", "-q"], "ddx.cli.batch:run_batch_command", True, True),
    "serve": (["serve", "--port", "8765"], "ddx.tui.web:TuiServer.serve", False, True),
    "tui": (["tui", str(SEED)], "ddx.tui:run", False, False),  # paused until the first paint
}


@pytest.mark.parametrize("name", sorted(ENDS_ITS_OWN_START_UP))
def test_each_command_that_ends_its_own_start_up_does(name: str) -> None:
    command, target, call, on = AT_WORK[name]
    said = _run_probed(command, target, call=call)
    assert f"collector before={on}" in said, said


def test_ddx_alone_in_a_terminal_opens_the_tui_with_the_collector_still_paused(tmp_path) -> None:
    """`ddx` with no command in a terminal opens the TUI, which ends the pause at its first paint."""
    report = tmp_path / "said.txt"
    probe = (
        _probe("ddx.tui:run", call=False)
        + f"sys.stderr = open({str(report)!r}, 'w')\n"
        + "from ddx._entry import run\nsys.argv = ['ddx']\nrun()\n"
    )
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(REPO)
        os.execv(sys.executable, [sys.executable, "-c", probe])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    if not os.read(fd, 65536):
                        break
                except OSError:
                    break
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert "collector before=False" in report.read_text(encoding="utf-8")


def test_other_commands_run_with_the_collector_on() -> None:
    said = _run_probed(["rules", "check", "--no-engine"], "ddx.authoring.check:check_rules")
    assert "collector before=True after=True" in said
