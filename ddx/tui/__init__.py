"""The Textual user interface, a thin layer over the domain core (which never imports this package): app.py
(the main screen and its bindings), form.py and findings.py (case entry: the quick entry, stains, molecular
results and morphology, all through :class:`ddx.entry.CaseEntry`), differential.py (the ranking, evidence and
next tests), chart.py (the evidence chart widget), rules.py (the rule editor's screen over
:class:`ddx.authoring.session.RuleEditSession`), dialogs.py and messages.py; web/ serves the same app in a
browser (``ddx serve``). Everything it shows comes from the core; it decides nothing itself."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ddx.autosave import DraftStore
from ddx.entry import open_case
from ddx.errors import DdxError
from ddx.knowledge import Knowledge


def run(
    knowledge: Knowledge,
    path: str | Path | None = None,
    *,
    case_id: str | None = None,
    cases: list[str] | None = None,
    engine: str | None = None,
) -> None:
    """Open the TUI on a new case, or on the case in ``path`` (raises DdxError if it cannot be read as a
    case; values that are refused are marked on the form, to be corrected). ``engine``: ``durable`` or
    ``python`` (None: :func:`ddx.engine.default_engine`)."""
    from ddx.tui.app import DdxApp

    opened = open_case(path, knowledge, case_id, partial=True) if path is not None else None
    if not os.environ.get("TEXTUAL_DRIVER") and not (sys.stdin.isatty() and sys.stdout.isatty()):
        # a full-screen app with nothing to draw on waits for keys that never come ('ddx serve' runs it with
        # Textual's web driver, named in TEXTUAL_DRIVER)
        raise DdxError(
            "ddx tui draws on a terminal, and its input or output is not one: run it in a terminal, or use "
            "'ddx serve' for a browser, 'ddx eval' to rank case files from a script"
        )
    DdxApp(knowledge, opened=opened, drafts=DraftStore(), cases=cases, engine=engine).run()
