"""``ddx serve``: the TUI in a browser (the glue to textual-serve is :mod:`ddx.tui.web`).

Imported only when the command is used or listed (see ``ddx.cli.main._Group.LAZY``); textual-serve and
aiohttp are imported only when it runs.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console

from ddx.cli.main import load_rules, tui_options


@click.command("serve")
@tui_options
@click.option(
    "--host",
    metavar="HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Any but a loopback address lets other machines in, and ddx has no authentication of its own.",
)
@click.option("--port", type=click.IntRange(1, 65535), metavar="PORT", default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--public-url",
    "public_url",
    default=None,
    metavar="URL",
    help="The URL browsers reach ddx by when it is behind a reverse proxy (e.g. "
    "https://pathology.example.org/ddx); the page loads its script and opens its websocket "
    "there. Default: http://HOST:PORT.",
)
def serve_cmd(
    case_file: str | None,
    case_id: str | None,
    rules: str | None,
    cases: tuple[str, ...],
    prior_set: str | None,
    host: str,
    port: int,
    public_url: str | None,
    engine: str | None = None,
) -> None:
    """Serve the TUI to web browsers: each browser tab runs its own 'ddx tui' with these options, on
    this machine, as the user running 'ddx serve' (drafts and files are theirs). Listens on 127.0.0.1
    unless --host says otherwise. No authentication and no TLS of its own: for other machines, put
    it behind a reverse proxy that provides both. Ctrl-C stops it and its sessions."""
    from ddx.tui.web import TuiServer, default_public_url, is_loopback, tui_command

    if public_url is None:
        try:
            public_url = default_public_url(host, port)
        except ValueError:
            raise click.UsageError(
                f"--host {host!r} listens on every interface; give --public-url http://NAME:{port}, NAME "
                "being how browsers reach this machine (the page connects back to it)"
            ) from None
    elif not public_url.startswith(("http://", "https://")):
        raise click.UsageError(f"--public-url {public_url!r}: give a URL starting with http:// or https://")
    # the rules and the case are checked once, here, rather than failing in every browser tab
    knowledge = load_rules(rules, prior_set, doing="ranking with")
    if case_file is not None:
        from ddx.entry import open_case

        open_case(case_file, knowledge, case_id, partial=True)  # DdxError: one line, exit 1
    err = Console(stderr=True, soft_wrap=True)
    if not is_loopback(host):
        err.print(
            f"ddx serve: WARNING: listening on {host}, which other machines can reach. ddx has no "
            "authentication of its own: anyone who reaches this port can enter cases and open, read and "
            "write files as the user running ddx serve. Put it behind a reverse proxy that "
            "authenticates (and adds TLS), or use --host 127.0.0.1.",
            markup=False,
            highlight=False,
        )
    server = TuiServer(
        tui_command(case_file, case_id=case_id, rules=rules, cases=cases, prior_set=prior_set, engine=engine),
        host=host,
        port=port,
        public_url=public_url.rstrip("/"),
    )
    try:
        server.serve()
    except OSError as exc:  # the port is taken, the address is not this machine's, ...
        err.print(f"ddx serve: cannot listen on {host} port {port}: {exc.strerror or exc}", markup=False, highlight=False)
        sys.exit(1)
