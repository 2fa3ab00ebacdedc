"""The ``ddx`` command's entry point, kept free of heavy imports.

It is set up before anything else is imported, so that:

* Ctrl-C at any moment -- while the rules load, during imports, in a command --
  ends with one line, ``ddx: interrupted``, and exit status 130 (never a
  ``KeyboardInterrupt`` traceback or click's "Aborted!");
* text the terminal's encoding cannot show (``PYTHONIOENCODING=ascii``, a
  C locale) is written as ``\\N{...}``-style escapes instead of ending in a
  ``UnicodeEncodeError``.

Everything else is :func:`ddx.cli.main`.
"""

from __future__ import annotations

import sys

INTERRUPTED = 130   # 128 + SIGINT, as shells report it


def _degrade_encoding() -> None:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):   # a closed or detached stream: nothing to write to anyway
                pass


def run() -> None:
    """Run ``ddx`` as a command: exit status as documented in ``ddx --help``."""
    try:
        _degrade_encoding()
        import click

        from ddx.cli import main

        try:
            code = main.main(prog_name="ddx", standalone_mode=False)   # click.Exit comes back as its code
        except click.exceptions.Abort:
            raise KeyboardInterrupt from None
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)
    except KeyboardInterrupt:
        try:
            sys.stderr.write("ddx: interrupted\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        sys.exit(INTERRUPTED)
