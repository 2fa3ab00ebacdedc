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

import os
import signal
import sys

from ddx.startup import pause_collector

INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def _degrade_encoding() -> None:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or detached stream: nothing to write to anyway
                pass


def interrupted() -> None:
    """Report Ctrl-C in one line and exit 130 at once.

    The exception has already unwound every open file (an output being replaced is
    left as it was); the interpreter's own shutdown is skipped, because a Ctrl-C
    caught during an import was measured to end the process by SIGINT (status -2)
    after the message, in about one run in ten.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        sys.stderr.write("ddx: interrupted\n")
    except (OSError, ValueError):
        pass
    _flush_and_exit(INTERRUPTED)


def _flush_and_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


_sigint_seen = False


def _on_sigint(signum: int, frame: object) -> None:
    """Python's own Ctrl-C behaviour (raise KeyboardInterrupt), remembering that it came: an interrupt that
    lands inside a C extension can come back wrapped in another exception (pydantic-core, building a model's
    validator during an import, reports it as a SchemaError), and is still an interrupt."""
    global _sigint_seen
    _sigint_seen = True
    raise KeyboardInterrupt


_print_unraisable = sys.unraisablehook


def _on_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """A Ctrl-C that lands in code whose exceptions Python only prints ("Exception ignored in ...": a weakref
    callback of the import system's module locks, a ``__del__``) would be lost there and the command would run
    on (seen once in CI: Ctrl-C 0.3 s into ``ddx batch``); it ends the command as any Ctrl-C does. Every other
    unraisable exception is printed as Python prints it."""
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
        interrupted()
    _print_unraisable(unraisable)


def install_interrupt_handlers() -> None:
    """Ctrl-C as :func:`run` takes it: remembered and raised (:func:`_on_sigint`), and not lost where Python
    can only print an exception (:func:`_on_unraisable`). A process that ignores Ctrl-C keeps ignoring it."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
        sys.unraisablehook = _on_unraisable


def run() -> None:
    """Run ``ddx`` as a command: exit status as documented in ``ddx --help``.

    Once the command has finished, Ctrl-C is ignored: the process is only leaving,
    and its exit status already says how the command ended.
    """
    install_interrupt_handlers()
    try:
        pause_collector()  # resumed once the command has started: see ddx.startup
        _degrade_encoding()
        import click

        from ddx.cli import main

        try:
            code = main.main(prog_name="ddx", standalone_mode=False)  # click.Exit comes back as its code
        except click.exceptions.Abort:
            raise KeyboardInterrupt from None
        except click.ClickException as exc:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            exc.show()
            sys.exit(exc.exit_code)
        except SystemExit as exc:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            if exc.code == INTERRUPTED:  # a command that handled Ctrl-C itself (ddx batch)
                _flush_and_exit(INTERRUPTED)
            raise
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.exit(code if isinstance(code, int) else 0)
    except KeyboardInterrupt:
        interrupted()
    except Exception:
        if _sigint_seen:  # Ctrl-C, wrapped by the C code it interrupted
            interrupted()
        raise
