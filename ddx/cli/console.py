"""The rich Console the commands print to stdout with."""

from __future__ import annotations

from typing import Any

from rich.console import Console


class OutConsole(Console):
    """A :class:`rich.console.Console` that reports a reader who left (``ddx ... | head``) as
    :class:`BrokenPipeError` instead of rich's own ``SystemExit(1)``, so the CLI can exit with 141 (128 +
    SIGPIPE) like any tool the shell sees stopped that way, and status 1 keeps its meaning: a case or
    file was invalid (:meth:`ddx.cli.main._Group.invoke`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if kwargs.get("width") is None:
            # rich reads $COLUMNS once, when the console is made; a module-level console (``ddx rules``) would
            # keep the width of whichever command first imported it, so read it at each print instead
            self._width = None

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError
