"""The start-up of a ``ddx`` command, as the process sees it: a pause of the cyclic garbage collector.

Start-up (the imports, the rules, the TUI's first screen) makes hundreds of thousands of objects that live as
long as the process; before the TUI's first paint the collector made 250 young, 23 middle and 2 full passes over
them, 128-154 ms of CPU in three runs (timed with ``gc.callbacks``), and freed next to nothing. Paired cold
starts with and without the pause: median CPU to the first paint 1257 and 1180 ms (15 each; the host is noisy).
The ``ddx`` command pauses the collector before its first import (:func:`pause_collector`, in
``ddx._entry``). ``ddx eval``, ``batch`` and ``serve`` end the pause once their rules are loaded
(``ddx.cli.main.load_rules``), ``ddx tui`` (and ``ddx`` alone, which opens it) once its first screen is drawn,
every other command before it runs (the ``ddx`` group's callback). Outside the command (tests, a program that
imports ddx) nothing is paused.
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
