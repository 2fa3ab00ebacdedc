"""The TUI in a browser: ``ddx serve``'s glue to textual-serve (the command is in :mod:`ddx.cli.serve`).

textual-serve runs one shell command per browser session, in a subprocess whose terminal is the page
(xterm.js over a websocket). That command is ``ddx tui`` with the options of ``ddx serve``, run by this
same interpreter (``<sys.executable> -m ddx tui ...``), so no ``ddx`` on ``PATH`` is assumed and every
session runs the ddx that started the server. The page is textual-serve's own with the font served
locally (``app_index.html`` here).
"""

from __future__ import annotations

import asyncio
import ipaddress
import shlex
import sys
from pathlib import Path
from typing import Any

from aiohttp import web
from textual_serve.server import Server

PAGE = Path(__file__).resolve().parent  # app_index.html
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "[::]", ""})


def is_loopback(host: str) -> bool:
    """Is ``host`` (a name or an address) reachable from this machine only? ``localhost``, 127.0.0.0/8
    and ::1 are; any other name or address is taken as reachable from elsewhere."""
    name = host.lower().strip("[]")
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def default_public_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` (an IPv6 address in brackets): where the page tells the browser to load its
    script and open its websocket, when no ``--public-url`` is given. ValueError for a wildcard
    address (0.0.0.0, ::), which no browser can connect back to."""
    if host in WILDCARD_HOSTS:
        raise ValueError(f"{host!r} is every interface, not an address a browser can connect to")
    name = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{name}:{port}"


def tui_command(
    case_file: str | None = None,
    *,
    case_id: str | None = None,
    rules: str | None = None,
    cases: tuple[str, ...] = (),
    prior_set: str | None = None,
    engine: str | None = None,
) -> str:
    """The command each browser session runs, ``<this python> -m ddx tui [options] [-- CASE_FILE]``,
    quoted for ``/bin/sh`` (textual-serve starts it through a shell)."""
    argv = [sys.executable, "-m", "ddx", "tui"]
    if rules is not None:
        argv += ["--rules", rules]
    for path in cases:
        argv += ["--cases", path]
    if prior_set is not None:
        argv += ["--prior-set", prior_set]
    if engine is not None:
        argv += ["--engine", engine]
    if case_id is not None:
        argv += ["--case", case_id]
    if case_file is not None:
        argv += ["--", case_file]
    return shlex.join(argv)


class TuiServer(Server):
    """textual-serve's server with ddx's page, which ends its sessions when it is stopped.

    aiohttp waits up to a minute for open websockets when the server is stopped (Ctrl-C, SIGTERM);
    here each session's handler is cancelled instead, so textual-serve tells its ``ddx tui`` to quit
    (the app exits; a case with unsaved changes keeps its autosaved draft) and the server ends at once.
    """

    def __init__(self, command: str, *, host: str, port: int, public_url: str) -> None:
        super().__init__(command, host=host, port=port, title="ddx", public_url=public_url, templates_path=PAGE)
        self._sessions: set[asyncio.Task[Any]] = set()

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        task = asyncio.current_task()
        if task is None:  # not run by aiohttp: nothing to end on shutdown
            return await super().handle_websocket(request)
        self._sessions.add(task)
        try:
            return await super().handle_websocket(request)
        finally:
            self._sessions.discard(task)

    async def on_shutdown(self, app: web.Application) -> None:
        for task in list(self._sessions):
            task.cancel()
