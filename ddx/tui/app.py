"""The ddx application: the case form beside the live differential.

A thin layer: every change goes to :class:`ddx.entry.CaseEntry` (validation),
every ranking comes from :class:`ddx.analysis.Analyzer` (run in a worker
thread so that typing never waits for it), files and drafts are written by
:mod:`ddx.entry` and :mod:`ddx.autosave`, the report by :mod:`ddx.report_comment`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import get_current_worker

from ddx.analysis import Analysis, Analyzer
from ddx.autosave import DraftStore
from ddx.engine import default_engine
from ddx.entry import CaseEntry, InvalidEntry, OpenedCase, Refused, new_case_id, open_case
from ddx.errors import DdxError
from ddx.knowledge import Knowledge
from ddx.knowledge.case import CaseModel
from ddx.loader import save_case
from ddx.safetext import printable
from ddx.startup import resume_collector
from ddx.tui.differential import WIDE_FROM, DifferentialPanel
from ddx.tui.form import CaseForm
from ddx.tui.messages import CaseChanged, NextTestChosen, RefusalsChanged, problem_text


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


class DdxFooter(Footer):
    """The footer, compact; from 100 columns it names Ctrl+P (the command palette) too."""

    PALETTE_FROM = 100

    def __init__(self) -> None:
        super().__init__(compact=True)

    def on_resize(self) -> None:
        self.show_command_palette = self.app.size.width >= self.PALETTE_FROM


class DdxApp(App[None]):
    """Case entry with a live, explained differential."""

    CSS_PATH = "ddx.tcss"
    TITLE = "ddx"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE_FROM, "-wide")]
    # The footer must show every key it shows at 80 columns too (F9 and Ctrl+T last): short words, and
    # Save as (F2), F3, the tabs' keys (F5-F8) and, below 100 columns, Ctrl+P only in F1 help and the palette.
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help"),
        Binding("ctrl+s", "save", "Save"),
        Binding("f2", "save_as", "Save as", show=False),
        Binding("ctrl+o", "open", "Open"),
        Binding("ctrl+n", "new", "New"),
        Binding("ctrl+r", "report", "Report"),
        Binding("f4", "next_tests", "Tests"),
        Binding("f9", "rules", "Rules"),
        Binding("ctrl+t", "toggle_theme", "Theme"),
        Binding("f3", "ranking", "Differential", show=False),
        Binding("f5", "section('case')", "Case", show=False),
        Binding("f6", "section('morphology')", "Morphology", show=False),
        Binding("f7", "section('stains')", "Stains", show=False),
        Binding("f8", "section('molecular')", "Molecular", show=False),
        Binding("question_mark", "help", "Help", show=False),
    ]

    def __init__(
        self,
        knowledge: Knowledge,
        *,
        opened: OpenedCase | None = None,
        drafts: DraftStore | None = None,
        offer_drafts: bool = True,
        cases: list[str] | None = None,
        engine: str | None = None,
        prebuild_tabs: bool = True,
    ) -> None:
        """``prebuild_tabs``: build the Case and Morphology tabs once the first ranking is on screen, so that
        opening one is instant (False: each is built when first opened, which the tests use to skip ~0.6 s
        of CPU a start when they never open one)."""
        super().__init__()
        self.prebuild_tabs = prebuild_tabs
        self.knowledge = knowledge
        self.engine = engine or default_engine()  # "durable" or "python" (ddx.engine.ENGINES)
        self.cases = cases  # for the rule editor's impact preview (None: ./cases or the samples)
        self.entry = CaseEntry(knowledge)
        self.path: Path | None = None
        self._disk_mtime: int | float | None = None
        self._refused: list[Refused] = []
        self._opening_note: str | None = None
        if opened is not None:
            self.entry.load(opened.entry.data)
            self.entry.mark_saved()
            self.path = opened.path
            self._disk_mtime = _mtime(opened.path)
            self._opening_note = opened.note
            self._refused = opened.refused
        self.drafts = drafts
        self.offer_drafts = offer_drafts
        self._analyzer: Analyzer | None = None  # compiled when first needed (on mount; after new rules)
        self._engine_lock = threading.Lock()
        self.analysis: Analysis | None = None
        self.shown_revision = -1
        self.rank_times: list[float] = []  # seconds from a change to its ranking on screen
        self._autosave_failed = False
        self._draft_lock = threading.Lock()
        self._draft_seq = 0  # draft operations issued (on the event loop)
        self._draft_done = 0  # the latest one carried out

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        # the layout class the first resize would set, set before the widgets are styled (not twice)
        self.screen.add_class("-wide" if self.size.width >= WIDE_FROM else "-narrow")
        yield Header()
        with Horizontal(id="main"):
            yield CaseForm(self.entry, self.knowledge, id="form")
            yield DifferentialPanel(self.knowledge, engine=self.engine, id="differential")
        yield DdxFooter()

    def on_mount(self) -> None:
        self._update_title()
        # The first ranking is made here, before the first frame, so that the first frame has it (ranked
        # in a worker, the screen would be drawn twice before it shows a ranking).
        started = time.perf_counter()
        with self._engine_lock:
            first = self.analyzer.analyze(self.entry.case)
        self._show(first, self.entry.revision, started)
        self.form.focus_first("stains")  # typing goes to the quick entry from the first moment
        if self._refused:
            self.form.load_from_entry(refused=self._refused)
            self._tell_refused(self._refused)
        if self._opening_note:
            self.notify(self._opening_note, timeout=8)
        if self.offer_drafts and self.drafts is not None:
            orphans = self.drafts.orphans()
            if orphans:
                from ddx.tui.dialogs import DraftOffer

                offer = DraftOffer(orphans[0], len(orphans) - 1, showing=self.path)
                self.push_screen(offer, lambda choice: self._draft_choice(orphans[0], choice))

    def on_unmount(self) -> None:
        with self._engine_lock:
            if self._analyzer is not None:
                self._analyzer.close()

    @property
    def analyzer(self) -> Analyzer:
        """The rules compiled for ranking (built on first use; new rules are compiled by the next ranking,
        in its worker thread). Used under the engine lock."""
        if self._analyzer is None:
            self._analyzer = Analyzer(self.knowledge, self.engine)
        return self._analyzer

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is plain text: it quotes file names, ids and typed terms, which are never
        read as markup (``[@click=app.quit]`` stays text) and whose control characters are shown escaped."""
        super().notify(printable(message), title=printable(title, newlines=False), severity=severity, timeout=timeout, markup=False)

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
    def _rank(self, case: CaseModel, revision: int, started: float) -> None:
        with self._engine_lock:  # the engine is never entered from two threads at once
            analysis = self.analyzer.analyze(case)
        if get_current_worker().is_cancelled:
            return
        self.call_from_thread(self._show, analysis, revision, started)

    def _show(self, analysis: Analysis, revision: int, started: float) -> None:
        if revision != self.entry.revision:
            return  # a newer change is being ranked
        first = self.analysis is None
        self.analysis = analysis
        self.differential.show(analysis)
        self.shown_revision = revision
        self.rank_times.append(time.perf_counter() - started)
        if first:  # the rest of the form is built once the first ranking is on screen
            self.call_after_refresh(resume_collector)  # the end of `ddx tui`'s start-up (ddx.startup)
            if self.prebuild_tabs:
                self.call_after_refresh(self.form.build)

    @on(CaseChanged)
    def _case_changed(self, event: CaseChanged) -> None:
        self._update_title()
        self.request_rank()
        self._autosave()

    @on(RefusalsChanged)
    def _refusals_changed(self, event: RefusalsChanged) -> None:
        self.differential.show_held_back(self.form.held_back())

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
            opened = self.path
            try:
                self.entry.load(draft.case)
            except InvalidEntry as exc:
                self.notify(f"The draft could not be restored: {exc}", severity="error", timeout=10)
                return
            origin = Path(draft.origin) if draft.origin else None
            self.path = origin if origin is not None and origin.is_file() else None
            self._disk_mtime = _mtime(self.path)
            self.form.load_from_entry(refused=[])  # the draft is a valid case: the file's refusals go
            self.drafts.discard(draft.path)
            self._case_changed(CaseChanged("*"))
            replaced = f"; it replaces {opened} in the editor" if opened is not None and opened != self.path else ""
            self.notify(f"Restored {draft.describe()}{replaced}.", timeout=8)
        elif choice == "discard":
            from ddx.tui.dialogs import ConfirmDraftDiscard

            def confirmed(answer: str | None) -> None:
                if answer == "discard" and self.drafts is not None:
                    self.drafts.discard(draft.path)
                    self.notify(f"Discarded {draft.describe()}.")

            self.push_screen(ConfirmDraftDiscard(draft), confirmed)

    # ------------------------------------------------------------------ files

    def _replace_case(self, data: dict[str, Any], path: Path | None, refused: list[Refused] | None = None) -> None:
        self.entry.load(data)
        self.entry.mark_saved()
        self.path = path
        self._disk_mtime = _mtime(path)
        self.form.load_from_entry(refused=refused or [])
        self._case_changed(CaseChanged("*"))
        if refused:
            self._tell_refused(refused)
        self.form.focus_first("stains")

    def _tell_refused(self, refused: list[Refused]) -> None:
        """Say which values of the opened file are not in the case (each is also marked at its field)."""
        marked = [r.path for r in refused if self.form.has_field(r)]
        elsewhere = [f"{r.path} ({problem_text(r.problem)})" for r in refused if not self.form.has_field(r)]
        text = f"{len(refused)} value{'s' if len(refused) > 1 else ''} of the file could not be used."
        if marked:
            text += f" Marked on the form, to correct: {', '.join(marked)}."
        if elsewhere:
            text += f" Not on the form, left out when saved: {'; '.join(elsewhere)}."
        self.notify(text, title="Opened with errors", severity="warning", timeout=20)

    def _guard(self, what: str, then: Any) -> None:
        """Run ``then`` now, or after the user has saved or discarded unsaved changes."""
        from ddx.tui.dialogs import ConfirmDiscard

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
            self.notify(
                f"{self.path} was changed on disk since it was opened; not overwritten. Use Save as (F2), or reopen it.",
                severity="error",
                timeout=10,
            )
            return
        self._write(self.path, after)

    def action_save_as(self, after: Any = None) -> None:
        from ddx.tui.dialogs import PathDialog

        suggestion = str(self.path) if self.path else f"{self.entry.case_id}.yaml"

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._write(path, after)

        self.push_screen(PathDialog("Save the case as (YAML)", suggestion, confirm_overwrite=True, suffixes=(".yaml", ".yml")), chosen)

    def _write(self, path: Path, after: Any = None) -> None:
        in_place = self.path is not None and path.resolve() == self.path.resolve()
        try:
            saved = save_case(self.entry, path, in_place=in_place)
        except (OSError, DdxError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.notify(f"Not saved: {reason}", severity="error", timeout=10)
            return
        self.path = path
        self._disk_mtime = _mtime(path)
        self._update_title()
        self._autosave()
        kept = f"; the previous version is kept in {saved.kept.parent}" if saved.kept is not None else ""
        anew = " (written anew: the file could not take the changes with its comments and layout kept)"
        self.notify(f"Saved {path}{anew if in_place and not saved.in_place else ''}{kept}")
        if after is not None:
            after()

    def action_open(self) -> None:
        from ddx.tui.dialogs import PathDialog

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            try:
                opened = open_case(path, self.knowledge, partial=True)
            except DdxError as exc:
                self.notify(str(exc), title="Cannot open", severity="error", timeout=15)
                return
            self._replace_case(opened.entry.data, opened.path, opened.refused)
            if opened.note:
                self.notify(opened.note, timeout=8)

        self._guard("open another case", lambda: self.push_screen(PathDialog("Open a case file", must_exist=True), chosen))

    def action_new(self) -> None:
        self._guard("start a new case", lambda: self._replace_case({"id": new_case_id()}, None))

    async def action_quit(self) -> None:
        def leave() -> None:
            if self.drafts is not None:
                self._draft_op(1 << 62, None, None)  # after every pending write: nothing is left behind
            self.form.closing = True  # no tab is built from now on
            self.run_worker(self._exit_when_built(), group="quit", exclusive=True)

        if getattr(self.screen, "CASE_ACTIONS_OFF", False) and getattr(self.screen, "dirty", False):
            from ddx.tui.rules import DiscardEdit  # the rule editor, with an unsaved edit

            self.push_screen(DiscardEdit("quit"), lambda choice: self._guard("quit", leave) if choice == "discard" else None)
            return
        self._guard("quit", leave)

    async def _exit_when_built(self) -> None:
        """Exit once a tab being built (after the first paint) is complete: taking the app down while
        Textual mounts widgets would fail in the widgets' own start-up."""
        await self.form.settled()
        self.exit()

    # ------------------------------------------------------------------ other actions

    def action_report(self) -> None:
        from ddx import report_comment
        from ddx.tui.dialogs import ReportScreen

        analysis = self.analysis
        if analysis is None:
            self.notify("The ranking is not ready yet.")
            return
        with self._engine_lock:
            ranker = self.analyzer.ranker
        text = report_comment.render_report(analysis, self.knowledge, ranker)

        def at_width(width: int) -> str:
            """The same report with its paragraphs wrapped at ``width`` instead of the draft's line width."""
            return report_comment.render_report(analysis, self.knowledge, ranker, width=width)

        from ddx.chart import report_chart_svg

        self.push_screen(ReportScreen(text, f"{self.entry.case_id}-report.txt", at_width, report_chart_svg(analysis, self.knowledge)))

    CASE_ACTIONS = frozenset({"save", "save_as", "open", "new", "report", "section", "rules", "next_tests", "ranking"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """In the rule editor the case's file actions are off (and out of the footer). (The editor is asked
        by an attribute: importing it here would put the rule tools on the first paint's path.)"""
        if action in self.CASE_ACTIONS and getattr(self.screen, "CASE_ACTIONS_OFF", False):
            return False
        return True

    def action_rules(self) -> None:
        from ddx.authoring.regression import default_cases_path
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
            old, self._analyzer = self._analyzer, None
            if old is not None:
                old.close()
            self.knowledge = knowledge
        self.differential.set_knowledge(knowledge)
        self.request_rank()

    def action_help(self) -> None:
        from ddx.tui.dialogs import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_section(self, section: str) -> None:
        await self.form.show_section(section, focus=True)

    def action_next_tests(self) -> None:
        """Put the cursor in the next-tests list (Up/Down choose, Enter or Space puts one on the form)."""
        self.differential.focus_tests()

    def action_ranking(self) -> None:
        """Put the cursor in the ranking (Up/Down show each entity's evidence)."""
        self.differential.focus_ranking()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Save", "Save the case (Ctrl+S)", self.action_save)
        yield SystemCommand("Save as", "Save the case to a new file (F2)", self.action_save_as)
        yield SystemCommand("Open", "Open a case file (Ctrl+O)", self.action_open)
        yield SystemCommand("New case", "Start a new case (Ctrl+N)", self.action_new)
        yield SystemCommand("Report", "Draft report comment: save or copy it (Ctrl+R)", self.action_report)
        yield SystemCommand("Rules", "Browse, edit and check the rules; preview their effect on cases (F9)", self.action_rules)
        yield SystemCommand("Next tests", "Go to the next-tests list; Enter puts one on the form (F4)", self.action_next_tests)
        yield SystemCommand("Differential", "Go to the ranking; Up/Down show each entity's evidence (F3)", self.action_ranking)
        yield SystemCommand(
            "Full citations",
            "Show or hide the full sources in the evidence (c in the differential)",
            self.differential.action_citations,
        )
        yield SystemCommand("Help", "Keys and how ddx ranks (F1)", self.action_help)
        yield SystemCommand("Light / dark", "Switch between Textual's light and dark themes (Ctrl+T)", self.action_toggle_theme)
        for section in ("case", "morphology", "stains", "molecular"):
            yield SystemCommand(
                f"Go to {section}", f"Show the {section} tab", lambda s=section: self.run_worker(self.action_section(s))
            )
