"""The ddx application: the case form beside the live differential.

A thin layer: every change goes to :class:`ddx.entry.CaseEntry` (validation),
every ranking comes from :class:`ddx.analysis.Analyzer` (run in a worker
thread so that typing never waits for it), files and drafts are written by
:mod:`ddx.entry` and :mod:`ddx.drafts`, the report by :mod:`ddx.draft`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import get_current_worker

from ddx.analysis import Analysis, Analyzer
from ddx.drafts import DraftStore
from ddx.entry import CaseEntry, InvalidEntry, OpenedCase, new_case_id, open_case, save_case
from ddx.errors import DdxError
from ddx.knowledge import Knowledge
from ddx.safetext import printable
from ddx.tui.dialogs import ConfirmDiscard, DraftOffer, HelpScreen, PathDialog, ReportScreen
from ddx.tui.differential import WIDE_FROM, DifferentialPanel
from ddx.tui.form import CaseForm
from ddx.tui.messages import CaseChanged, NextTestChosen


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


class DdxApp(App[None]):
    """Case entry with a live, explained differential."""

    CSS_PATH = "ddx.tcss"
    TITLE = "ddx"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE_FROM, "-wide")]
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+s", "save", "Save"),
        Binding("f2", "save_as", "Save as"),
        Binding("ctrl+o", "open", "Open"),
        Binding("ctrl+n", "new", "New"),
        Binding("ctrl+r", "report", "Report"),
        Binding("f9", "rules", "Rules"),
        Binding("ctrl+t", "toggle_theme", "Light/dark"),
        Binding("f5", "section('case')", "Case", show=False),
        Binding("f6", "section('morphology')", "Morphology", show=False),
        Binding("f7", "section('stains')", "Stains", show=False),
        Binding("f8", "section('molecular')", "Molecular", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("question_mark", "help", "Help", show=False),
    ]

    def __init__(self, knowledge: Knowledge, *, opened: OpenedCase | None = None,
                 drafts: DraftStore | None = None, offer_drafts: bool = True,
                 cases: list[str] | None = None) -> None:
        super().__init__()
        self.knowledge = knowledge
        self.cases = cases          # for the rule editor's impact preview (None: ./cases or the samples)
        self.entry = CaseEntry(knowledge)
        self.path: Path | None = None
        self._disk_mtime: int | float | None = None
        if opened is not None:
            self.entry.load(opened.entry.data)
            self.entry.mark_saved()
            self.path = opened.path
            self._disk_mtime = _mtime(opened.path)
            self._opening_note = opened.note
        else:
            self._opening_note = None
        self.drafts = drafts
        self.offer_drafts = offer_drafts
        self.analyzer = Analyzer(knowledge)
        self._engine_lock = threading.Lock()
        self.analysis: Analysis | None = None
        self.shown_revision = -1
        self.rank_times: list[float] = []        # seconds from a change to its ranking on screen
        self._autosave_failed = False
        self._draft_lock = threading.Lock()
        self._draft_seq = 0          # draft operations issued (on the event loop)
        self._draft_done = 0         # the latest one carried out

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            yield CaseForm(self.entry, self.knowledge, id="form")
            yield DifferentialPanel(self.knowledge, id="differential")
        yield Footer()

    def on_mount(self) -> None:
        self._update_title()
        self.request_rank()
        if self._opening_note:
            self.notify(self._opening_note, timeout=8)
        if self.offer_drafts and self.drafts is not None:
            orphans = self.drafts.orphans()
            if orphans:
                self.push_screen(DraftOffer(orphans[0], len(orphans) - 1),
                                 lambda choice: self._draft_choice(orphans[0], choice))

    def on_unmount(self) -> None:
        with self._engine_lock:
            self.analyzer.close()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification is plain text: it quotes file names, ids and typed terms, which are never
        read as markup (``[@click=app.quit]`` stays text) and whose control characters are shown escaped."""
        super().notify(printable(message), title=printable(title, newlines=False), severity=severity,
                       timeout=timeout, markup=False)

    def _update_title(self) -> None:
        self.title = printable(f"ddx · {self.entry.case_id}", newlines=False)
        where = printable(str(self.path), newlines=False) if self.path else "new case (not saved)"
        self.sub_title = where + ("  ● unsaved changes" if self.entry.dirty else "")

    @property
    def form(self) -> CaseForm:
        return self.query_one(CaseForm)

    @property
    def differential(self) -> DifferentialPanel:
        return self.query_one(DifferentialPanel)

    # ------------------------------------------------------------------ ranking

    def request_rank(self) -> None:
        self._rank(self.entry.case, self.entry.revision, time.perf_counter())

    @work(thread=True, exclusive=True, group="rank")
    def _rank(self, case: BaseModel, revision: int, started: float) -> None:
        with self._engine_lock:     # the engine is never entered from two threads at once
            analysis = self.analyzer.analyze(case)
        if get_current_worker().is_cancelled:
            return
        self.call_from_thread(self._show, analysis, revision, started)

    def _show(self, analysis: Analysis, revision: int, started: float) -> None:
        if revision != self.entry.revision:
            return      # a newer change is being ranked
        self.analysis = analysis
        self.differential.show(analysis)
        self.shown_revision = revision
        self.rank_times.append(time.perf_counter() - started)

    @on(CaseChanged)
    def _case_changed(self, event: CaseChanged) -> None:
        self._update_title()
        self.request_rank()
        self._autosave()

    @on(NextTestChosen)
    def _test_chosen(self, event: NextTestChosen) -> None:
        self.form.prepare_test("stains" if event.kind == "stain" else "molecular", event.test)

    # ------------------------------------------------------------------ drafts

    def _autosave(self) -> None:
        """Write the draft (unsaved changes) or remove it (none), in order, off the event loop."""
        if self.drafts is None:
            return
        self._draft_seq += 1
        data = self.entry.data if self.entry.dirty else None
        self._draft_worker(self._draft_seq, data, str(self.path) if self.path else None)

    @work(thread=True, group="draft")
    def _draft_worker(self, seq: int, data: dict[str, Any] | None, origin: str | None) -> None:
        try:
            self._draft_op(seq, data, origin)
        except OSError as exc:
            if not self._autosave_failed:
                self._autosave_failed = True
                self.call_from_thread(self.notify, f"Autosave failed: {exc.strerror or exc}", severity="error")

    def _draft_op(self, seq: int, data: dict[str, Any] | None, origin: str | None) -> None:
        """One draft write (``data``) or removal (None); an operation older than the last one done is skipped."""
        assert self.drafts is not None
        with self._draft_lock:
            if seq < self._draft_done:
                return
            self._draft_done = seq
            if data is None:
                self.drafts.discard()
            else:
                self.drafts.save(data, origin)

    def _draft_choice(self, draft: Any, choice: str | None) -> None:
        assert self.drafts is not None
        if choice == "restore":
            try:
                self.entry.load(draft.case)
            except InvalidEntry as exc:
                self.notify(f"The draft could not be restored: {exc}", severity="error", timeout=10)
                return
            origin = Path(draft.origin) if draft.origin else None
            self.path = origin if origin is not None and origin.is_file() else None
            self._disk_mtime = _mtime(self.path)
            self.form.load_from_entry()
            self.drafts.discard(draft.path)
            self._case_changed(CaseChanged("*"))
            self.notify(f"Restored {draft.describe()}.")
        elif choice == "discard":
            self.drafts.discard(draft.path)

    # ------------------------------------------------------------------ files

    def _replace_case(self, data: dict[str, Any], path: Path | None) -> None:
        self.entry.load(data)
        self.entry.mark_saved()
        self.path = path
        self._disk_mtime = _mtime(path)
        self.form.load_from_entry()
        self._case_changed(CaseChanged("*"))

    def _guard(self, what: str, then: Any) -> None:
        """Run ``then`` now, or after the user has saved or discarded unsaved changes."""
        if isinstance(self.screen, ConfirmDiscard):
            return
        self.form.flush()
        if not self.entry.dirty:
            then()
            return

        def decided(choice: str | None) -> None:
            if choice == "save":
                self.action_save(after=then)
            elif choice == "discard":
                then()

        self.push_screen(ConfirmDiscard(what), decided)

    def action_save(self, after: Any = None) -> None:
        pending = self.form.flush()
        if pending:
            self.notify(f"Not saved: {pending}", severity="error", timeout=10)
            return
        if self.path is None:
            self.action_save_as(after=after)
            return
        if self._disk_mtime is not None and _mtime(self.path) != self._disk_mtime:
            self.notify(f"{self.path} was changed on disk since it was opened; not overwritten. "
                        "Use Save as (F2), or reopen it.", severity="error", timeout=10)
            return
        self._write(self.path, after)

    def action_save_as(self, after: Any = None) -> None:
        suggestion = str(self.path) if self.path else f"{self.entry.case_id}.yaml"

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._write(path, after)

        self.push_screen(PathDialog("Save the case as (YAML)", suggestion, confirm_overwrite=True,
                                    suffixes=(".yaml", ".yml")), chosen)

    def _write(self, path: Path, after: Any = None) -> None:
        try:
            save_case(self.entry, path)
        except (OSError, DdxError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.notify(f"Not saved: {reason}", severity="error", timeout=10)
            return
        self.path = path
        self._disk_mtime = _mtime(path)
        self._update_title()
        self._autosave()
        self.notify(f"Saved {path}")
        if after is not None:
            after()

    def action_open(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is None:
                return
            try:
                opened = open_case(path, self.knowledge)
            except DdxError as exc:
                self.notify(str(exc), title="Cannot open", severity="error", timeout=15)
                return
            self._replace_case(opened.entry.data, opened.path)
            if opened.note:
                self.notify(opened.note, timeout=8)

        self._guard("open another case",
                    lambda: self.push_screen(PathDialog("Open a case file", must_exist=True), chosen))

    def action_new(self) -> None:
        self._guard("start a new case", lambda: self._replace_case({"id": new_case_id()}, None))

    async def action_quit(self) -> None:
        from ddx.tui.rules import DiscardEdit, RulesScreen

        def leave() -> None:
            if self.drafts is not None:
                self._draft_op(1 << 62, None, None)   # after every pending write: nothing is left behind
            self.exit()

        if isinstance(self.screen, RulesScreen) and self.screen.dirty:
            self.push_screen(DiscardEdit("quit"),
                             lambda choice: self._guard("quit", leave) if choice == "discard" else None)
            return
        self._guard("quit", leave)

    # ------------------------------------------------------------------ other actions

    def action_report(self) -> None:
        from ddx.draft import render_report

        if self.analysis is None:
            self.notify("The ranking is not ready yet.")
            return
        from ddx.chart import report_chart_svg

        text = render_report(self.analysis, self.knowledge, self.analyzer.ranker)
        self.push_screen(ReportScreen(text, f"{self.entry.case_id}-report.txt",
                                      report_chart_svg(self.analysis, self.knowledge)))

    CASE_ACTIONS = frozenset({"save", "save_as", "open", "new", "report", "section", "rules"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """In the rule editor the case's file actions are off (and out of the footer)."""
        from ddx.tui.rules import RulesScreen

        if action in self.CASE_ACTIONS and isinstance(self.screen, RulesScreen):
            return False
        return True

    def action_rules(self) -> None:
        from ddx.ruletest import default_cases_path
        from ddx.tui.rules import RulesScreen

        if isinstance(self.screen, RulesScreen):
            return
        cases = self.cases
        if cases is None:
            try:
                cases = [str(default_cases_path())]
            except DdxError:
                cases = []
        self.push_screen(RulesScreen(self.knowledge, cases))

    def set_knowledge(self, knowledge: Knowledge) -> None:
        """Use new rules (saved in the rule editor): a new matcher, and the case ranked again."""
        with self._engine_lock:
            old, self.analyzer = self.analyzer, Analyzer(knowledge)
            old.close()
        self.knowledge = knowledge
        self.differential.set_knowledge(knowledge)
        self.request_rank()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_section(self, section: str) -> None:
        self.form.show_section(section, focus=True)

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Save", "Save the case (Ctrl+S)", self.action_save)
        yield SystemCommand("Save as", "Save the case to a new file (F2)", self.action_save_as)
        yield SystemCommand("Open", "Open a case file (Ctrl+O)", self.action_open)
        yield SystemCommand("New case", "Start a new case (Ctrl+N)", self.action_new)
        yield SystemCommand("Report", "Draft report comment: save or copy it (Ctrl+R)", self.action_report)
        yield SystemCommand("Rules", "Browse, edit and check the rules; preview their effect on cases (F9)",
                            self.action_rules)
        yield SystemCommand("Help", "Keys and how ddx ranks (F1)", self.action_help)
        yield SystemCommand("Light / dark", "Switch between Textual's light and dark themes (Ctrl+T)",
                            self.action_toggle_theme)
        for section in ("case", "morphology", "stains", "molecular"):
            yield SystemCommand(f"Go to {section}", f"Show the {section} tab",
                                lambda s=section: self.action_section(s))
