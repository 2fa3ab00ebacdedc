"""The ``ddx`` command line: a thin layer of click commands over the domain core (options in, text, JSON,
tables or files out; the ranking, the rules and the cases are the core's). :mod:`ddx.cli.main` holds the
``ddx`` group (user errors end in one line, exit 1), the options several commands share (``--rules``,
``--prior-set``, ``--engine``, the TUI's), the one rule loader, and ``ddx eval``, ``ddx batch`` and
``ddx tui``; :mod:`ddx.cli.batch` connects a batch run to its output files, the terminal and signals;
:mod:`ddx.cli.writers` writes its results (jsonl, json, csv, xlsx, markdown, a rich table);
:mod:`ddx.cli.rules` is ``ddx rules`` and :mod:`ddx.cli.serve` ``ddx serve``, both imported only when
used (``_Group.LAZY``). The TUI (:mod:`ddx.tui`) is imported only inside the commands that open it.
"""

from ddx.cli.main import main

__all__ = ["main"]
