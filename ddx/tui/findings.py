"""Stains and molecular results: quick entry with completion, a structured editor, a table.

Type ``alk positive cytoplasmic`` and Enter; or type ``alk``, Enter, and choose
the result, intensity and pattern from the lists. Every entered finding is a
row of the table: select it to change it, Delete to remove it. The tests the
rules use that are not on the form are listed apart as "not recorded" (unknown
is not negative).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, DataTable, Input, Label, Select, Static
from textual_autocomplete import AutoComplete, DropdownItem, TargetState

from ddx.entry import CaseEntry, InvalidEntry, ParsedFinding, Refused, parse_finding
from ddx.knowledge import Knowledge
from ddx.knowledge.vocabulary import TermSet, fold
from ddx.safetext import printable
from ddx.tui.messages import CaseChanged, RefusalsChanged, plain, problem_text, shown_value

RESULT_STYLES = {
    "positive": "bold green",
    "negative": "bold red",
    "equivocal": "bold yellow",
    "present": "bold green",
    "absent": "bold red",
}
NAME_WIDTH = (10, 16)  # the table's first column: narrow, wide (longer names wrap)
RESULT_WIDTH = 9  # "equivocal"
WIDE_PANE = 50  # from this width the first column is wide


class TermComplete(AutoComplete):
    """Completion of the first word of an input from a vocabulary term set (synonyms too)."""

    def __init__(self, target: Input, terms: TermSet, **kwargs: Any) -> None:
        super().__init__(target, candidates=None, **kwargs)
        self.terms = terms

    def get_search_string(self, target_state: TargetState) -> str:
        text = target_state.text[: target_state.cursor_position]
        return "" if " " in text else text

    def get_candidates(self, target_state: TargetState) -> list[DropdownItem]:
        return []

    def get_matches(self, target_state: TargetState, candidates: list[DropdownItem], search_string: str) -> list[DropdownItem]:
        if not search_string:
            return []
        items = []
        for term, synonym in self.terms.complete(search_string):
            label = self.terms.label(term)
            extra = f"  {label}" if label != term else ""
            if synonym:
                extra += f"  ← {synonym}"
            items.append(DropdownItem(Content(term).stylize("bold", 0, len(term)) + Content(extra)))
        return items

    def should_show_dropdown(self, search_string: str) -> bool:
        if not search_string or self.option_list.option_count == 0:
            return False
        only = self.option_list.option_count == 1
        return not (only and fold(search_string) in self.terms.terms)

    def apply_completion(self, value: str, state: TargetState) -> None:
        term = value.split()[0] if value.split() else value
        rest = state.text.split(" ", 1)[1] if " " in state.text else ""
        target = self.target
        target.value = f"{term} {rest}".rstrip() + " "
        target.cursor_position = len(target.value)

    def post_completion(self) -> None:
        """Hide the list, and tell the input's listeners its value changed: the completion is applied with
        the input's Changed message held back (textual-autocomplete), so a form that records a field as it
        is typed would otherwise keep the value typed before it (a trial: 'tibial' completed to 'lower_leg'
        while the ranking went on with 'bone')."""
        super().post_completion()
        target = self.target
        target.post_message(Input.Changed(target, target.value))


INPUT_CHROME = 5  # an Input's border and padding, and the cell the cursor takes at the end, in columns


def _said(value: Any) -> str:
    """A recorded stain or test result in a few words: 'positive, patchy, strong'."""
    if isinstance(value, dict):
        return ", ".join(str(v).replace("_", " ") for v in value.values())
    return str(value).replace("_", " ")


class FindingsPane(Vertical):
    """Entry, editor and table for one section: ``stains`` or ``molecular``."""

    BINDINGS = [Binding("delete", "remove", "Remove finding", show=False)]

    def __init__(self, section: str, entry: CaseEntry, knowledge: Knowledge, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.section = section
        self.entry = entry
        self.knowledge = knowledge
        vocab = knowledge.vocab
        self.names = vocab.stains if section == "stains" else vocab.molecular
        self.current: str | None = None
        self.refused: list[Refused] = []  # values of the opened file still to be fixed, in order
        self._file_text: str | None = None  # the entry line as put there from the file (not typed)
        self._shown_error: str | None = None  # the refusal shown under the entry line
        self._table_width = 0  # the width the table's columns were laid out for

    # ------------------------------------------------------------------ build

    def compose(self) -> ComposeResult:
        vocab = self.knowledge.vocab
        quick = Input(placeholder=self._placeholder(self.app.size.width // 2), name=self.section, id=f"{self.section}-entry")
        yield quick
        yield TermComplete(quick, self.names)
        error = Static("", classes="field-error", id=f"{self.section}-error")
        error.display = False
        yield error
        # the editor's controls start disabled (nothing is being edited), as built: no restyling later
        with Horizontal(classes="editor"):
            yield Label("—", id=f"{self.section}-current", classes="current")
            if self.section == "stains":
                results = [*vocab.stain_results.terms, *vocab.stain_shorthand]
                yield Select([(r, r) for r in results], prompt="result", id="stains-result", compact=True, disabled=True)
                yield Select(
                    [(t, t) for t in vocab.stain_intensities.terms],
                    prompt="intensity",
                    id="stains-intensity",
                    compact=True,
                    disabled=True,
                )
            else:
                yield Select(
                    [(t, t) for t in vocab.presence.terms], prompt="result", id="molecular-result", compact=True, disabled=True
                )
                yield Button("Not done", id=f"{self.section}-remove", variant="warning", compact=True, disabled=True)
        if self.section == "stains":
            with Horizontal(classes="editor"):
                yield Label("", classes="current spacer")
                yield Select([], prompt="pattern", id="stains-pattern", compact=True, disabled=True)
                yield Input(placeholder="% cells", id="stains-percent", compact=True, classes="percent", disabled=True)
                yield Button("Not done", id=f"{self.section}-remove", variant="warning", compact=True, disabled=True)
        table: DataTable[Any] = DataTable(id=f"{self.section}-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id=f"{self.section}-notdone", classes="notdone")

    def on_mount(self) -> None:
        self.refresh_table()

    def on_resize(self) -> None:
        if self.size.width != self._table_width:
            self.refresh_table()
        self.query_one(f"#{self.section}-entry", Input).placeholder = self._placeholder(self.size.width)

    def _placeholder(self, width: int) -> str:
        """The quick entry's hint for this pane width (columns, with the border and padding): the sentence
        with the long example, a short one with the short example, or else the example alone (the shortest
        there is; under 35 columns it too is cut)."""
        if self.section == "stains":
            long, short = "alk positive cytoplasmic, desmin diffuse, ki67 30%", "desmin diffuse, ki67 30%"
        else:
            long, short = "nf1 detected, alk rearrangement absent", "alk rearrangement absent"
        kind = self.names.kind
        for hint in (f"type a {kind} and its result, e.g. {long}", f"{kind} + result, e.g. {short}"):
            if len(hint) + INPUT_CHROME <= width:
                return hint
        return f"e.g. {short}"

    def _columns(self, table: DataTable[Any]) -> None:
        """The name, the result and (stains) the rest in one column that takes the remaining width and
        wraps: no cell is ever cut, at 80 columns or 200."""
        width = self.size.width or self.app.size.width // 2
        self._table_width = self.size.width
        name = NAME_WIDTH[width >= WIDE_PANE]
        table.clear(columns=True)
        if self.section == "stains":
            rest = max(8, width - name - RESULT_WIDTH - 2 * 3 - 2)  # cell padding, scroll bar
            table.add_column("stain", width=name, key="name")
            table.add_column("result", width=RESULT_WIDTH, key="result")
            table.add_column("details", width=rest, key="details")
        else:
            table.add_column("test", width=max(8, width - RESULT_WIDTH - 2 * 2 - 2), key="name")
            table.add_column("result", width=RESULT_WIDTH, key="result")

    # ------------------------------------------------------------------ view

    def refresh_table(self) -> None:
        table = self.query_one(DataTable)
        cursor_key = self.current
        self._columns(table)
        findings = self.entry.findings(self.section)
        for name, finding in findings.items():
            result = finding.get("result", "")
            cells: list[Any] = [Text(self.names.label(name)), Text(result, style=RESULT_STYLES.get(result, ""))]
            if self.section == "stains":
                details = [
                    finding.get("extent"),
                    finding.get("intensity"),
                    str(finding.get("pattern") or "").replace("_", " ") or None,
                    f"{shown_value(finding.get('percent'))} %" if finding.get("percent") is not None else None,
                ]
                cells.append(Text(" · ".join(str(d) for d in details if d)))
            table.add_row(*cells, key=name, height=None)
        if cursor_key in findings:
            table.move_cursor(row=list(findings).index(cursor_key), animate=False)
        tested = set(findings)
        if self.section == "molecular":  # a named fusion found is its gene's rearrangement (ddx.facts)
            implies = self.knowledge.vocab.molecular_implies
            tested |= {implies[t] for t, f in findings.items() if t in implies and f.get("result") == "present"}
        relevant = self._relevant_tests()
        not_recorded = [self.names.label(t) for t in relevant if t not in tested]
        note = self.query_one(f"#{self.section}-notdone", Static)
        note.update(
            Text.assemble(
                ("Not recorded", "bold"),
                " (count neither for nor against): ",
                (", ".join(not_recorded) or "none of the tests the rules use", "italic"),
            )
        )
        self._show_current()

    def _relevant_tests(self) -> list[str]:
        keys = self.knowledge.referenced_keys
        prefix = "stains__" if self.section == "stains" else "molecular__"
        used = {k[len(prefix) :].split("__")[0] for k in keys if k.startswith(prefix)}
        return [t for t in self.names.terms if t in used]

    def _enable_editor(self, on_: bool) -> None:
        for widget in self.query(".editor Select, .editor Input, .editor Button"):
            widget.disabled = not on_

    def _show_current(self) -> None:
        label = self.query_one(f"#{self.section}-current", Label)
        if self.current is None:
            label.update("—")
            self._enable_editor(False)
            return
        label.update(Text(self.names.label(self.current), style="bold"))
        self._enable_editor(True)
        finding = self.entry.findings(self.section).get(self.current, {})
        with self.prevent(Select.Changed, Input.Changed):
            result = self.query_one(f"#{self.section}-result", Select)
            shown = finding.get("result")
            if self.section == "stains":
                extent = finding.get("extent")
                if shown == "positive" and extent in self.knowledge.vocab.stain_shorthand:
                    shown = extent
                pattern = self.query_one("#stains-pattern", Select)
                allowed = self.knowledge.vocab.stain_patterns_for(self.current) or self.knowledge.vocab.stain_patterns.terms
                pattern.set_options([(p.replace("_", " "), p) for p in allowed])
                pattern.value = finding.get("pattern") or Select.NULL
                intensity = self.query_one("#stains-intensity", Select)
                intensity.value = finding.get("intensity") or Select.NULL
                self.query_one("#stains-percent", Input).value = shown_value(finding.get("percent"))
            result.value = shown or Select.NULL

    # ------------------------------------------------------------------ actions

    def prepare(self, name: str) -> None:
        """Make ``name`` the finding being edited and put the focus on its result."""
        self.current = self.names.normalize(name)
        self._show_current()
        self.query_one(f"#{self.section}-result", Select).focus()

    def reset(self, refused: list[Refused]) -> None:
        """A case was (re)loaded: nothing typed, nothing being edited; the file's refused values of this
        section come into the entry line one by one."""
        with self.prevent(Input.Changed):
            self.query_one(f"#{self.section}-entry", Input).value = ""
        self._file_text = None
        self._error(None)
        self.current = None
        self.refresh_table()
        self.show_refused(refused)

    def show_refused(self, refused: list[Refused]) -> None:
        """Values of the opened file that could not be used: the first is put in the entry line, as if
        typed, with the reason beneath; the next comes once it is entered (or cleared)."""
        self.refused = list(refused)
        self._next_refused()

    def _next_refused(self) -> None:
        if not self.refused:
            return
        item = self.refused.pop(0)
        quick = self.query_one(f"#{self.section}-entry", Input)
        with self.prevent(Input.Changed):
            quick.value = self._file_text = refused_entry_text(item)
        quick.select_all()  # typing replaces it, as for the first (selected when the line takes focus)
        more = f" ({len(self.refused)} more from the file after this one)" if self.refused else ""
        self._error(f"From the file, not recorded: {problem_text(item.problem)}{more}")

    def _error(self, text: str | None) -> None:
        error = self.query_one(f"#{self.section}-error", Static)
        was = bool(error.display)  # (not the entry line's "-invalid": Textual's Input resets it as it is typed in)
        self._shown_error = text
        error.update(plain(text))
        error.display = bool(text)
        self.query_one(f"#{self.section}-entry", Input).set_class(bool(text), "-invalid")
        if was or text:  # shown, changed or cleared: the ranking's note of what it was made without follows
            self.app.post_message(RefusalsChanged())

    def held_back(self) -> str | None:
        """The refused value in the entry line, which the case (and so the ranking) is without, or None."""
        if not self.query_one(f"#{self.section}-error", Static).display:
            return None
        typed = self.query_one(f"#{self.section}-entry", Input).value.strip()
        if typed:
            what = f"{printable(typed, newlines=False)!r} refused"
        else:  # refused in the editor below the table (the percent box): the reason names the value
            what = printable(self._shown_error or "a value refused", newlines=False)
        return f"{self.section.capitalize()}: {what}; ranked without it"

    def _apply(self, finding: ParsedFinding) -> bool:
        try:
            changed = self.entry.apply(finding)
        except InvalidEntry as exc:
            self._error(problem_text(exc))
            return False
        self._error(None)
        self.current = None if finding.not_done else finding.name
        self.refresh_table()
        if changed:
            self.post_message(CaseChanged(f"{self.section}.{finding.name}"))
        return True

    def _entered(self) -> None:
        """The entry line was recorded or cleared: the next refused value of the file, if any."""
        self._next_refused()

    def flush(self) -> None:
        """Record a quick entry typed but not yet entered (not a file's refused value left as it was put
        there: that waits for Enter), and the percent box."""
        quick = self.query_one(f"#{self.section}-entry", Input)
        if quick.value.strip() and quick.value != self._file_text:
            self._enter(quick)
        if self.section == "stains" and self.current is not None:
            self._editor_changed()

    def pending_problem(self) -> str | None:
        quick = self.query_one(f"#{self.section}-entry", Input)
        if quick.value.strip():
            return f"the {self.section} entry '{quick.value.strip()}' is not recorded; correct or clear it"
        if self.query_one(f"#{self.section}-error", Static).display:
            return f"a {self.section} value was refused; correct or clear it"
        return None

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "stains-percent":
            self._editor_changed()
            return
        self._enter(event.input)

    def _enter(self, quick: Input) -> None:
        text = quick.value.strip()
        if not text:
            return
        try:
            finding = parse_finding(text, self.section, self.knowledge.vocab)
        except InvalidEntry as exc:
            self._error(problem_text(exc))
            return
        if not finding.complete:
            # a name alone (or a percent without result): choose the rest in the editor
            self._error(None)
            quick.value = ""
            self.prepare(finding.name)
            self._entered()
            return
        before = self.entry.findings(self.section).get(finding.name)
        if self._apply(finding):
            quick.value = ""
            after = self.entry.findings(self.section).get(finding.name)
            if before is not None and after != before:  # typed again: the earlier result is replaced, said so
                label = self.names.label(finding.name)
                now = _said(after) if after is not None else "not recorded"
                self.app.notify(f"{label} was {_said(before)}; now {now}.", timeout=6)
            self._entered()

    @on(Input.Changed)
    @on(Input.Blurred)
    def _input_event(self, event: Input.Changed | Input.Blurred) -> None:
        event.stop()
        if isinstance(event, Input.Changed) and event.input.id == f"{self.section}-entry" and not event.value:
            self._error(None)
            self._entered()
        if event.input.id == "stains-percent":
            self._editor_changed()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._editor_changed()

    def _editor_changed(self) -> None:
        """The result, intensity, pattern or percent of the current finding was changed."""
        if self.current is None:
            return
        result = self.query_one(f"#{self.section}-result", Select).value
        if result is Select.NULL:
            return
        fields: dict[str, Any] = {}
        vocab = self.knowledge.vocab
        if result in vocab.stain_shorthand and self.section == "stains":
            fields.update(vocab.stain_shorthand[str(result)])
        else:
            fields["result"] = result
            before = self.entry.findings(self.section).get(self.current, {})
            if before.get("extent") and before.get("result") == result:
                fields["extent"] = before["extent"]
        if self.section == "stains":
            for key in ("intensity", "pattern"):
                value = self.query_one(f"#stains-{key}", Select).value
                if value is not Select.NULL:
                    fields[key] = value
            percent = self.query_one("#stains-percent", Input).value.strip().rstrip("%").strip()
            if percent:
                fields["percent"] = percent
        self._apply(ParsedFinding(self.section, self.current, fields))

    @on(Button.Pressed)
    def _remove_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_remove()

    def action_remove(self) -> None:
        """Mark the finding under the cursor (or the one being edited) as not done."""
        name = self.current
        table = self.query_one(DataTable)
        if table.has_focus and table.row_count:
            name = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        if name is not None:
            self._apply(ParsedFinding(self.section, name, not_done=True))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.prepare(str(event.row_key.value))


def refused_entry_text(item: Refused) -> str:
    """A refused stain or molecular value of a file as a quick-entry line: 'desmni positive',
    'alk positive bogus' (the entry then names what is wrong again, and takes the fix)."""
    parts = item.field.split(".")
    name = parts[1] if len(parts) > 1 else ""
    value = item.value
    if len(parts) > 2:  # one key of a stain ("stains.desmin.bogus"): the key and its value
        text = f"{'.'.join(parts[2:])} {item.value_text()}"
    elif isinstance(value, dict):
        words = [value.get(k) for k in ("result", "extent", "intensity", "pattern")]
        if value.get("percent") is not None:
            words.append(f"{value['percent']}%")
        text = " ".join(str(w) for w in words if w not in (None, ""))
    else:
        text = item.value_text()
    return printable(f"{name} {text}".strip(), newlines=False)
