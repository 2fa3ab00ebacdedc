"""The start-up of a ``ddx`` command, as the process sees it: a pause of the cyclic garbage collector.

Start-up (the imports, the rules, the TUI's first screen) makes hundreds of thousands of objects that live as
long as the process; the collector's passes over them cost about 150 ms of CPU before the TUI's first paint
(three runs: 250 young, 23 middle and 2 full collections, 128-154 ms in all) and free next to nothing. The
``ddx`` command pauses the collector before its first import (:func:`pause_collector`, in ``ddx._entry``);
loading the rules ends the pause (``ddx.cli.main.load_rules``), except in ``ddx tui``, which ends it once its
first screen is drawn. Outside the command (tests, a program that imports ddx) nothing is paused.
"""

from __future__ import annotations

import gc

_collector_paused = False


def pause_collector() -> None:
    """Pause Python's cyclic garbage collector for the start-up of a command.

    Does nothing if the collector is already off. :func:`resume_collector` ends the pause.
    """
    global _collector_paused
    if gc.isenabled():
        gc.disable()
        _collector_paused = True


def resume_collector() -> None:
    """End the start-up pause: the objects made so far are moved out of the collector's sight
    (``gc.freeze``: they live as long as the process) and collection resumes. Does nothing unless
    :func:`pause_collector` paused it, so a test process or a program that embeds ddx keeps its own
    collector as it is."""
    global _collector_paused
    if _collector_paused:
        _collector_paused = False
        gc.freeze()
        gc.enable()
