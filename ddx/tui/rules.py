"""The rule editor: browse, edit, check, preview and save rules without leaving ddx.

The widgets of :class:`ddx.authoring.session.RuleEditSession`, which holds the
rules, the rule being edited, the baseline run of the cases and the impact
preview, and checks, saves and restores (through :mod:`ddx.authoring.edit`
and :mod:`ddx.authoring.check`). What is left here is the screen: the list,
the YAML editor, the status and the impact table, and when each is refreshed
(an edit is checked in a worker after a pause in typing; a result for an
older text is dropped).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Button, DataTable, Header, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from ddx.authoring.diff import CHANGED_RANKING, RuleSetDiff
from ddx.authoring.edit import EditCheck, Version
from ddx.authoring.session import Editing, RuleEditSession, VersionHasErrors
from ddx.errors import DdxError, Problem
from ddx.knowledge import Knowledge
from ddx.ranking import maybe_probability_text
from ddx.tui.dialogs import ChoiceScreen
from ddx.tui.messages import plain

VALIDATE_AFTER_S = 0.35  # pause in typing before the edit is checked
RANK_WIDTH = 14  # the impact table's last column: "eims: 2 → 1"


def wrap_id(rule_id: str, room: int) -> str:
    """A rule id on lines of at most ``room`` cells, broken after a '.' or '-' (``ihc.myogenin.`` /
    ``with-desmin``), never inside a word; a part longer than ``room`` is left for the list to fold."""
    parts = re.findall(r"[^.-]*[.-]|[^.-]+$", rule_id)
    lines = [""]
    for part in parts:
        if lines[-1] and len(lines[-1]) + len(part) > room:
            lines.append("")
        lines[-1] += part
    return "\n".join(lines)


class YamlEditor(TextArea):
    """The rule's YAML: Tab leaves the editor (as everywhere else); Enter keeps the line's indentation."""

    async def _on_key(self, event: events.Key) -> None:
        # Textual calls this, then TextArea's own handler unless the default is prevented (as here)
        if event.key == "enter" and not self.read_only:
            event.stop()
            event.prevent_default()
            start, end = self.selection
            line = self.document.get_line(min(start, end)[0])
            indent = line[: len(line) - len(line.lstrip(" "))]
            self._replace_via_keyboard("\n" + indent, start, end)


class HistoryScreen(ModalScreen["Version | None"]):
    """Earlier versions of a rule file, newest first; Enter restores one."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, file: Path, versions: list[Version]) -> None:
        super().__init__()
        self.file = file
        self.versions = versions

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="history-box"):
            yield Label(
                plain(
                    f"Earlier versions of {self.file.name} (newest first). Enter restores one; "
                    "the current version is kept in the history too."
                ),
                id="history-text",
            )
            options = [Option(f"{v.label}  ·  {v.path.stat().st_size} bytes", id=str(i)) for i, v in enumerate(self.versions)]
            yield OptionList(*options, id="history-list")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")

    @on(OptionList.OptionSelected, "#history-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.versions[int(str(event.option.id))])

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class DiscardEdit(ChoiceScreen):
    """Unsaved rule edits: returns "discard" or "cancel"."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-box"):
            yield Label(f"The rule in the editor has unsaved edits. Discard them to {self.what}?")
            with Horizontal(classes="buttons"):
                yield Button("Discard the edit", id="discard", variant="error")
                yield Button("Keep editing", id="cancel", variant="primary")


class RulesScreen(Screen[None]):
    """Browse rules by entity, edit one as YAML, see what it would change, save it."""

    CASE_ACTIONS_OFF = True  # the app's case actions (save, open, report, ...) are off here

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+f", "filter", "Filter", show=False),  # said in the filter's placeholder
        Binding("ctrl+n", "new_rule", "New", priority=True),
        Binding("f3", "history", "History"),
        Binding("f4", "revert", "Revert"),
        Binding("ctrl+g", "goto_error", "Go to error", show=False),  # said with the error
    ]

    def __init__(self, knowledge: Knowledge, cases: list[str] | None) -> None:
        super().__init__()
        self.session = RuleEditSession(knowledge, cases)
        self._check: EditCheck | None = None
        self.impact: RuleSetDiff | None = None  # the impact shown (of the check shown)
        self._timer: Timer | None = None
        self._seq = 0  # edits issued; a check result for an older one is dropped
        self._loading = False

    @property
    def knowledge(self) -> Knowledge:
        """The rules as saved."""
        return self.session.knowledge

    @property
    def cases(self) -> list[str] | None:
        return self.session.cases

    @property
    def read_only(self) -> str | None:
        """Why these rules cannot be saved here (None: they can)."""
        return self.session.read_only

    @property
    def editing(self) -> Editing | None:
        return self.session.editing

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="rules-main"):
            with Vertical(id="rule-browser"):
                options = [
                    (label, slug)
                    for e in self.knowledge.entities
                    for label, slug in [(f"{e.slug} · {e.name}", e.slug)] + [(f"  └ {s.slug} · {s.name}", s.slug) for s in e.subtypes]
                ]
                yield Select(options, prompt="All entities (or the rules that weigh one)", id="entity-filter", compact=True)
                yield Input(placeholder="Filter (Ctrl+F)", id="rule-filter", compact=True)
                yield OptionList(id="rule-list")
            with Vertical(id="rule-editor"):
                yield Static("", id="rule-where")
                # Tab leaves the editor (YAML is indented with spaces; Enter keeps the indentation)
                yield YamlEditor.code_editor("", language="yaml", id="rule-text", theme="css", soft_wrap=True, tab_behavior="focus")
                yield Static("", id="rule-status")
                yield Label("Impact on the cases", classes="section-title")
                yield Static("", id="impact-summary")
                yield DataTable(id="impact", cursor_type="row", zebra_stripes=True)
        from ddx.tui.app import DdxFooter

        yield DdxFooter()

    def on_mount(self) -> None:
        self.title = "ddx · rules" + (" (read-only)" if self.read_only else "")
        self.sub_title = self.knowledge.version_line
        self._fill_list()
        self._compute_baseline()
        first = self.query_one("#rule-list", OptionList)
        if first.option_count:
            first.highlighted = 0
            self._open_rule(str(first.get_option_at_index(0).id))
        first.focus()

    # ------------------------------------------------------------------ browsing

    def _fill_list(self) -> None:
        chosen = self.query_one("#entity-filter", Select).value
        entity = None if chosen is Select.NULL else str(chosen)
        words = self.query_one("#rule-filter", Input).value
        listing = self.query_one("#rule-list", OptionList)
        keep = (
            str(listing.get_option_at_index(listing.highlighted).id)
            if listing.highlighted is not None and listing.option_count
            else None
        )
        listing.clear_options()
        room = listing.scrollable_content_region.width or 22  # before the first layout: the narrow list's
        for effect, r in self.session.listing(words, entity):  # with an entity: the strongest first
            label = Text.assemble(
                (wrap_id(r.spec.id, room), "bold"), ("" if r.spec.status == "active" else f" ({r.spec.status})", "italic")
            )
            if entity is not None:
                label.append(f"  {'for' if effect > 0 else 'against'} {abs(effect):.1f}", style="green" if effect > 0 else "red")
            label.append("\n" + r.spec.title, style="dim")
            listing.add_option(Option(label, id=r.spec.id))
        if keep is not None:
            ids = [str(listing.get_option_at_index(i).id) for i in range(listing.option_count)]
            if keep in ids:
                listing.highlighted = ids.index(keep)

    @on(Select.Changed, "#entity-filter")
    @on(Input.Changed, "#rule-filter")
    def _filter(self) -> None:
        self._fill_list()

    @on(OptionList.OptionSelected, "#rule-list")
    def _rule_chosen(self, event: OptionList.OptionSelected) -> None:
        rule_id = str(event.option.id)
        if self.editing and self.editing.rule_id == rule_id:
            self.query_one("#rule-text", TextArea).focus()
            return
        self._after_discard(f"open {rule_id}", lambda: self._open_rule(rule_id, focus=True))

    def _after_discard(self, what: str, then: Any) -> None:
        if not self.dirty:
            then()
            return

        def decided(choice: str | None) -> None:
            if choice == "discard":
                then()

        self.app.push_screen(DiscardEdit(what), decided)

    @property
    def dirty(self) -> bool:
        return self.session.dirty(self.text)

    @property
    def text(self) -> str:
        return self.query_one("#rule-text", TextArea).text

    def _open_rule(self, rule_id: str, *, focus: bool = False) -> None:
        try:
            editing = self.session.open(rule_id)
        except DdxError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        rule = next(r for r in self.knowledge.rules if r.spec.id == rule_id)
        self._load_editor(editing.original_block, f"{rule_id} · {editing.file.name}:{rule.spec_line}", focus)

    def _load_editor(self, block: str, where: str, focus: bool) -> None:
        self._loading = True
        area = self.query_one("#rule-text", TextArea)
        area.load_text(block)
        self._loading = False
        self.query_one("#rule-where", Static).update(Text(where, style="bold"))
        self._check = None
        self.impact = None
        self._show_status(
            self._read_only_text() if self.read_only else Text("Unchanged. Edit the rule; it is checked as you type.", style="dim")
        )
        self._show_impact()
        if focus:
            area.focus()

    def _read_only_text(self) -> Text:
        return Text(f"Read-only: {self.read_only}. Edits here are checked and previewed, not saved.", style="bold yellow")

    # ------------------------------------------------------------------ checking

    @property
    def check(self) -> EditCheck | None:
        """The check of the text in the editor now (None while an edit is still to be checked)."""
        result = self._check
        return result if result is not None and result.edited == self.text else None

    @on(TextArea.Changed, "#rule-text")
    def _edited(self) -> None:
        if self._loading or self.editing is None:
            return
        # a new edit starts: the last check, its status and its impact are of another text now
        self._seq += 1
        self._check, self.impact = None, None
        if self._timer is not None:
            self._timer.stop()
        if not self.dirty:
            self._show_status(self._read_only_text() if self.read_only else Text("Unchanged.", style="dim"))
            self._show_impact()
            return
        self._show_status(Text("Checking…", style="dim"))
        self._show_impact(Text("Checking…", style="dim"))
        self._timer = self.set_timer(VALIDATE_AFTER_S, self._start_check)

    def _start_check(self) -> None:
        if self.editing is not None:
            self._check_worker(self._seq, self.editing, self.text)

    @work(thread=True, exclusive=True, group="rule-check")
    def _check_worker(self, seq: int, editing: Editing, text: str) -> None:
        knowledge = self.knowledge  # the saved rules this edit is compared with
        result = self.session.check(text, editing)
        if get_current_worker().is_cancelled:
            return
        self.app.call_from_thread(self._show_check, seq, result)
        if result.ok and self.cases:
            impact = self.session.impact(result, knowledge)
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._show_impact_result, seq, impact)

    @work(thread=True, group="baseline")
    def _compute_baseline(self) -> None:
        if self.cases:
            try:
                self.session.baseline()
            except DdxError as exc:
                self.app.call_from_thread(self.notify, f"Cases for the impact preview: {exc}", severity="warning")

    def _show_check(self, seq: int, result: EditCheck) -> None:
        if seq != self._seq or result.edited != self.text:
            return  # an older edit's check (the editor's change may not have been handled yet)
        self._check = result
        area = self.query_one("#rule-text", TextArea)
        area.set_class(not result.ok, "-invalid")
        if result.error:
            self._show_status(Text(f"✗ {result.error}" + (" (Ctrl+G goes there)" if result.error_line else ""), style="bold red"))
            return
        lines = []
        for m in result.report.messages[:6]:
            at = result.editor_line(m.problem)
            line = f":{m.problem.line}" if m.problem.line else ""  # a problem of a whole file has no line
            where = f"line {at}: " if at else (f"{Path(m.problem.file).name}{line}: " if m.problem.file else "")
            style = "bold red" if m.severity == "error" else "yellow"
            mark = "✗" if m.severity == "error" else "!"
            lines.append(
                Text(
                    f"{mark} {where}{_keyed(m.problem)}"
                    + (f" (did you mean {' or '.join(m.problem.suggestions)}?)" if m.problem.suggestions else ""),
                    style=style,
                )
            )
        more = len(result.report.messages) - 6
        if more > 0:
            lines.append(Text(f"… and {more} more (ddx rules check lists them all)", style="dim"))
        if not result.report.ok:
            lines.insert(0, Text("✗ not valid (Ctrl+G goes to the first error):", style="bold red"))
        if result.report.ok:
            examples = result.report.examples_run
            then = "read-only here: not saved." if self.read_only else "Ctrl+S saves."
            lines.insert(
                0,
                Text(
                    f"✓ valid: every check passes ({examples} rule examples run); {then}"
                    if not result.report.warnings
                    else f"✓ valid, with warnings; {then}",
                    style="bold green",
                ),
            )
        self._show_status(Text("\n").join(lines))
        if not result.ok:
            self.impact = None
            self._show_impact(Text("Fix the errors to see the impact on the cases.", style="dim"))
        elif not self.cases:
            self._show_impact(Text("No cases to preview (give ddx tui --cases PATH).", style="dim"))
        else:
            self._show_impact(Text("Computing the impact on the cases…", style="dim"))

    def _show_impact_result(self, seq: int, impact: RuleSetDiff | None) -> None:
        if seq != self._seq:
            return
        self.impact = impact
        self._show_impact()

    def _show_status(self, text: Text) -> None:
        self.query_one("#rule-status", Static).update(text)

    def _impact_columns(self, table: DataTable[Any]) -> None:
        """Three columns that fit the editor's width (the middle one takes the rest and wraps)."""
        width = table.size.width or self.query_one("#rule-editor").size.width or 60
        table.clear(columns=True)
        case = 16 if width >= 60 else 10
        table.add_column("case", width=case)
        table.add_column("before → after", width=max(10, width - case - RANK_WIDTH - 2 * 3 - 2))
        table.add_column("expected: rank", width=RANK_WIDTH)

    def on_resize(self) -> None:
        if self.is_mounted:
            self.call_after_refresh(self._show_impact)

    def _show_impact(self, note: Text | None = None) -> None:
        table = self.query_one("#impact", DataTable)
        self._impact_columns(table)
        summary = self.query_one("#impact-summary", Static)
        if note is not None:
            summary.update(note)
            return
        if self.impact is None:
            summary.update(Text("Edit the rule to see which cases would change.", style="dim"))
            return
        d = self.impact
        leaders = sum(c.top_changed for c in d.cases)
        summary.update(
            Text(
                f"{len(d.cases)} of {d.compared} case(s) would change ranking ({CHANGED_RANKING}); {leaders} would change leader.",
                style="bold" if d.cases else "",
            )
        )
        for c in d.cases:
            before, after = maybe_probability_text(c.before.top_probability), maybe_probability_text(c.after.top_probability)
            lead = Text(
                f"{c.before.top} {before} → {c.after.top} {after}",
                style="bold" if c.top_changed else "",
            )
            if c.responsible:
                lead.append(" · ")
                lead.append(plain(", ".join(c.responsible)))
            rank = plain(f"{c.expected}: " if c.expected else "")
            rank.append(f"{c.before.rank or '-'} → {c.after.rank or '-'}")
            table.add_row(plain(c.case_id), lead, rank, height=None)

    # ------------------------------------------------------------------ actions

    def action_filter(self) -> None:
        self.query_one("#rule-filter", Input).focus()

    def action_goto_error(self) -> None:
        check = self.check
        if check is None:
            return
        line: int | None
        if check.error_line:
            line = check.error_line
        else:
            line = next((n for m in check.report.errors if (n := check.editor_line(m.problem))), None)
        if line:
            area = self.query_one("#rule-text", TextArea)
            area.cursor_location = (line - 1, 0)
            area.focus()

    def action_revert(self) -> None:
        if self.editing is not None and self.dirty:
            where = str(self.query_one("#rule-where", Static).render())
            self._load_editor(self.editing.original_block, where, True)
            self.query_one("#rule-text", TextArea).set_class(False, "-invalid")

    def action_new_rule(self) -> None:
        def start() -> None:
            try:
                editing, template = self.session.new_rule()
            except DdxError as exc:
                self.notify(str(exc), severity="error", timeout=10)
                return
            self._load_editor(template, f"new rule · to be added to {editing.file}", True)
            self._seq += 1
            self._show_status(Text("New rule from the template: give it an id, title, condition, weights and a source.", style="dim"))
            self._timer = self.set_timer(VALIDATE_AFTER_S, self._start_check)

        self._after_discard("start a new rule", start)

    def action_save(self) -> None:
        if self.editing is None:
            return
        if not self.dirty:
            self.notify("Nothing to save: the rule is unchanged.")
            return
        if self.read_only:
            self.notify(f"Not saved: {self.read_only}.", severity="error", timeout=12)
            return
        text = self.text
        result = self.check  # the check of exactly what is saved
        if result is None or result.edited != text:  # not checked yet (typed within the pause)
            result = self.session.check(text)
            self._seq += 1
            self._show_check(self._seq, result)
        if not result.ok or result.file_text is None:
            self.notify("Not saved: the rule set would have errors (see below the editor).", severity="error")
            return
        try:
            kept = self.session.save(result)
        except DdxError as exc:  # changed on disk, or unreadable now
            self.notify(f"Not saved: {exc}", severity="error", timeout=15)
            return
        except OSError as exc:
            self.notify(f"Not saved: {exc.strerror or exc}", severity="error", timeout=12)
            return
        rule_id, file = self.session.saved_id(text), self.editing.file
        self._reload(rule_id)
        note = " The previous version is in the history (F3)." if kept else ""
        self.notify(f"Saved {rule_id} to {file.name}; the case re-ranks with it.{note}")

    def _reload(self, rule_id: str | None) -> None:
        """Load the rules again from disk; the case's differential re-ranks with them."""
        try:
            knowledge = self.session.reload()
        except DdxError as exc:
            self.notify(f"The rules could not be reloaded: {exc}", severity="error", timeout=15)
            return
        self.sub_title = knowledge.version_line
        set_knowledge = getattr(self.app, "set_knowledge", None)
        if set_knowledge is not None:
            set_knowledge(knowledge)
        self._fill_list()
        ids = {r.spec.id for r in knowledge.rules}
        listing = self.query_one("#rule-list", OptionList)
        if rule_id not in ids and listing.option_count:
            rule_id = str(listing.get_option_at_index(0).id)
        if rule_id in ids:
            self._open_rule(str(rule_id))
        self._compute_baseline()

    def action_history(self) -> None:
        if self.editing is None:
            return
        file = self.editing.file
        versions = self.session.history()
        if not versions:
            self.notify(f"No earlier versions of {file.name} yet (each save from here keeps one).")
            return

        def chosen(version: Version | None) -> None:
            if version is not None:
                self._restore(file, version)

        self._after_discard("restore an earlier version", lambda: self.app.push_screen(HistoryScreen(file, versions), chosen))

    def _restore(self, file: Path, version: Version) -> None:
        if self.read_only:
            self.notify(f"Not restored: {self.read_only}.", severity="error", timeout=12)
            return
        try:
            self.session.restore(file, version)
        except VersionHasErrors as exc:
            self.notify(f"Not restored: {exc}.", severity="error", timeout=15)
            return
        except (DdxError, OSError) as exc:
            self.notify(f"Not restored: {exc}", severity="error", timeout=12)
            return
        self._reload(self.editing.rule_id if self.editing else None)
        self.notify(f"Restored {file.name} as saved at {version.label}; the version it replaced is in the history.")

    def action_close(self) -> None:
        self._after_discard("leave the rule editor", self.app.pop_screen)


def _keyed(problem: Problem) -> str:
    """A problem's message with the key it is about in front ("source: must be at least 3 characters"), unless
    the message names it already."""
    key = problem.path or ""
    if not key or key in problem.message:
        return problem.message
    return f"{key}: {problem.message}"
