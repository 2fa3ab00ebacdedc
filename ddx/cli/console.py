"""The rich Console the commands print to stdout with."""

from __future__ import annotations

from rich.console import Console


class OutConsole(Console):
    """A :class:`rich.console.Console` that reports a reader who left (``ddx ... | head``) as
    :class:`BrokenPipeError` instead of rich's own ``SystemExit(1)``, so the CLI can exit with 141 (128 +
    SIGPIPE) like any tool the shell sees stopped that way, and status 1 keeps its meaning: a case or
    file was invalid (:meth:`ddx.cli.main._Group.invoke`)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError
