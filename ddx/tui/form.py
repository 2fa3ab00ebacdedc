"""The case form: one tab per section of the case-file contract.

Controls are built from the vocabulary (nothing here names a stain or a
term). Each control carries its case path as its ``name``; a change is sent
to :class:`~ddx.entry.CaseEntry`, which keeps it only if it is valid.
A refused value stays in its field, marked, with the reason beneath it; so
does a value of an opened file that could not be used.

The form opens on the stains tab with the cursor in its entry line. The Case
and Morphology tabs (most of the form's widgets) are built after the first
ranking is on screen, or at once when one of them is opened.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

from rich.segment import Segment
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, SelectionList, Static, TabbedContent, TabPane, TextArea

from ddx.entry import CaseEntry, InvalidEntry, Refused
from ddx.knowledge import Knowledge
from ddx.safetext import printable
from ddx.tui.findings import FindingsPane, TermComplete
from ddx.tui.messages import CaseChanged, RefusalsChanged, plain, problem_text, shown_value

SECTIONS = ("case", "morphology", "stains", "molecular")
LATER = ("case", "morphology")  # the tabs built after the first paint
TICKED, UNTICKED = "✓", " "  # a check box's state, readable without colour


_NOT_IN_AN_ID = re.compile(r"[^A-Za-z0-9_-]")


def field_id(path: str) -> str:
    """The widget id of a field: ``clinical.site`` -> ``f-clinical--site``. A character an id cannot hold
    (a refused stain written ``ALK (D5F3)``) is written by its code point, ``_28_``, so every path has an id
    and a query for it never fails to parse."""
    return "f-" + _NOT_IN_AN_ID.sub(lambda m: f"_{ord(m.group()):x}_", path.replace(".", "--"))


class CheckList(SelectionList[str]):
    """A selection list whose boxes show a tick when chosen and nothing when not: the state is
    readable without colour (Textual's own boxes show an X in both states, told apart by colour)."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        _, scroll_y = self.scroll_offset
        index = scroll_y + y
        if len(segments) < 3 or segments[1].text != Checkbox.BUTTON_INNER or not 0 <= index < self.option_count:
            return strip  # not a line with a box (Textual draws ▐X▌ then the prompt)
        chosen = self.get_option_at_index(index).value in self.selected
        inner = segments[1]
        segments[1] = Segment(TICKED if chosen else UNTICKED, inner.style, inner.control)
        return Strip(segments, strip.cell_length)


RANKED_SECTIONS = ("patient", "clinical", "morphology")  # the form's fields the ranking reads (stains and
# molecular results are entered in their panes)


class Field(Vertical):
    """A label, a control and the place where a refusal is explained."""

    def __init__(self, label: str, control: Widget, *, wide: bool = False) -> None:
        super().__init__(classes="field" + (" wide" if wide else ""))
        self._label = label
        self.control = control

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(self._label, classes="field-label")
            yield self.control
        error = Static("", classes="field-error")
        error.display = False
        yield error

    def show_error(self, text: str | None, *, blocking: bool = True) -> None:
        """Show why the value is refused (None: clear it). A blocking refusal keeps the case from
        being saved until the field is corrected or cleared; a choice list's (not blocking) is a note
        that the file's value was left out."""
        error = self.query_one(".field-error", Static)
        error.update(plain(text))
        error.display = bool(text)
        was = (self.has_class("-invalid"), self.has_class("-typing-refused"))
        self.set_class(bool(text) and blocking, "-invalid")
        self.set_class(bool(text) and not blocking, "-refused")
        if not text:  # a value taken, or the field shown afresh (a case opened): nothing held back while typed
            self.remove_class("-typing-refused")
        if was != (self.has_class("-invalid"), self.has_class("-typing-refused")):
            # to the app itself: posted here while the form handles an event, it would stop at the form
            self.app.post_message(RefusalsChanged())

    @property
    def label(self) -> str:
        return self._label


class CaseForm(Vertical):
    """Patient and clinical data, morphology, stains and molecular results."""

    def __init__(self, entry: CaseEntry, knowledge: Knowledge, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry
        self.knowledge = knowledge
        self._built: set[str] = set()
        self._build_lock = asyncio.Lock()
        self.closing = False  # set when ddx is quit: no tab is built from then on
        self._field_paths: set[str] | None = None
        self.refused: list[Refused] = []  # values of the opened file not in the case, shown where they belong

    # ------------------------------------------------------------------ build

    def compose(self) -> ComposeResult:
        with TabbedContent(id="sections", initial="tab-stains"):
            for section in SECTIONS:
                with TabPane(section.capitalize(), id=f"tab-{section}"):
                    if section in ("stains", "molecular"):
                        yield FindingsPane(section, self.entry, self.knowledge, id=f"{section}-pane")

    def _case_fields(self) -> Iterator[Widget]:
        vocab = self.knowledge.vocab
        yield self._input("id", "Case id")
        yield self._input("title", "Title")
        entities = []  # each entity, then its subtypes (an expected answer may name one)
        for e in self.knowledge.entities:
            entities.append((f"{e.slug.upper()}  {e.name.split(' / ')[0]}", e.slug))
            entities += [(f"  {s.short or s.slug.upper()}  {s.name}", s.slug) for s in e.subtypes]
        yield Field("Expected", Select(entities, prompt="not recorded", name="expected", id=field_id("expected"), compact=True))
        yield self._input("patient.age", "Age (years)")
        yield self._select("patient.sex", "Sex", vocab.sex.terms)
        site = Input(
            placeholder="type a site: thigh, oral cavity, retroperitoneum...",
            name="clinical.site",
            id=field_id("clinical.site"),
            compact=True,
        )
        yield Field("Site", site)
        yield TermComplete(site, vocab.sites)
        yield self._select("clinical.depth", "Depth", vocab.depth.terms)
        yield self._input("clinical.size_cm", "Size (cm)")
        yield self._input("clinical.presentation", "Presentation")
        yield self._list("clinical.symptoms", "Symptoms", vocab.symptoms.terms, vocab.symptoms.help)
        yield self._input("source", "Source")
        yield Field("Notes", TextArea(name="notes", id=field_id("notes"), soft_wrap=True, compact=True), wide=True)

    def _morphology_fields(self) -> Iterator[Widget]:
        vocab = self.knowledge.vocab
        for name, mf in vocab.morphology.items():
            path = f"morphology.{name}"
            label = name.replace("_", " ").capitalize()
            if mf.kind == "list":
                assert mf.terms is not None
                yield self._list(path, label, mf.terms.terms, mf.terms.help)
            elif mf.kind == "term":
                assert mf.terms is not None
                yield self._select(path, label, mf.terms.terms)
            elif mf.kind == "presence":
                yield self._select(path, label, vocab.presence.terms)
            else:
                yield self._input(path, label, placeholder=f"{mf.min:g}-{mf.max:g}")

    @property
    def ready(self) -> bool:
        """Every tab is built."""
        return all(section in self._built for section in LATER)

    async def build(self, *sections: str) -> None:
        """Build the given tabs (default: every tab not built yet) and show the case in them. Nothing is
        built once the form is being taken down (ddx may be quit while the tabs are being built)."""
        for section in sections or LATER:
            if section not in LATER:
                continue
            async with self._build_lock:  # a tab opened while the tabs are built in the background
                if section in self._built:
                    continue
                pane = self.query_one(f"#tab-{section}", TabPane)
                if self.closing or not (self.is_attached and pane.is_mounted):
                    return  # ddx is being quit
                self._built.add(section)
                fields = self._case_fields() if section == "case" else self._morphology_fields()
                scroll = VerticalScroll(*fields)
                await pane.mount(scroll)
                if not scroll.is_mounted:
                    return
                self.load_from_entry(scroll)

    async def settled(self) -> None:
        """Return once no tab is being built."""
        async with self._build_lock:
            pass

    @on(TabbedContent.TabActivated)
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        section = str(event.pane.id).removeprefix("tab-")
        if section in LATER:
            await self.build(section)

    def _input(self, path: str, label: str, placeholder: str = "") -> Field:
        return Field(label, Input(placeholder=placeholder, name=path, id=field_id(path), compact=True))

    def _select(self, path: str, label: str, terms: list[str]) -> Field:
        options = [(t.replace("_", " "), t) for t in terms]
        return Field(label, Select(options, prompt="not recorded", name=path, id=field_id(path), compact=True))

    def _list(self, path: str, label: str, terms: list[str], help: dict[str, str]) -> Field:
        choices = [(t.replace("_", " ") + (f" ({help[t]})" if t in help else ""), t) for t in terms]
        return Field(label, CheckList(*choices, name=path, id=field_id(path), compact=True), wide=True)

    def on_mount(self) -> None:
        self.load_from_entry()

    # ------------------------------------------------------------------ entry -> form

    def load_from_entry(self, root: Widget | None = None, *, refused: list[Refused] | None = None) -> None:
        """Show the entry's case in every control (used on open, new and restore; ``root``: only the
        controls under it, for a tab built later). ``refused``: the values of the opened file that
        could not be used (a new list replaces the last one; None keeps it)."""
        if refused is not None:
            self.refused = list(refused)
        area = root or self
        with self.prevent(Input.Changed, Select.Changed, SelectionList.SelectedChanged, TextArea.Changed):
            for control in area.query(Input):
                if control.name and control.name not in ("stains", "molecular"):
                    control.value = shown_value(self.entry.get(control.name))
            for select in area.query(Select):
                if select.name and "." in select.name or select.name == "expected":
                    value = self.entry.get(select.name)
                    select.value = value if value is not None else Select.NULL
            for sl in area.query(SelectionList):
                if sl.name:
                    chosen = set(self.entry.get(sl.name) or [])
                    sl.deselect_all()
                    for value in chosen:
                        sl.select(value)
            for notes in area.query(f"#{field_id('notes')}").results(TextArea):
                notes.text = shown_value(self.entry.get("notes"))
        for field in area.query(Field):
            field.show_error(None)
        self._show_refused(area)
        if root is None:
            for pane in self.query(FindingsPane):
                pane.reset([r for r in self.refused if r.path.startswith(pane.section + ".")])

    def has_field(self, item: Refused) -> bool:
        """Whether a refused value of the file has a place on the form (else it is only reported)."""
        if item.value is None:
            return False  # a key that was missing (the id): nothing to correct at a field
        section = item.field.split(".", 1)[0]
        if section in ("stains", "molecular"):
            return "." in item.field
        if self._field_paths is None:  # the paths of every field, built or not
            fields = [*self._case_fields(), *self._morphology_fields()]
            self._field_paths = {f.control.name for f in fields if isinstance(f, Field) and f.control.name}
        return item.field in self._field_paths

    def _show_refused(self, area: Widget) -> None:
        """Mark each refused value of the file at its field: a text field shows the value as written
        (it blocks saving until it is corrected or cleared); a choice shows it in the note beneath."""
        for item in self.refused:
            if not self.has_field(item):
                continue
            controls = list(area.query(f"#{field_id(item.field)}"))
            if not controls:
                continue
            control = controls[0]
            field = next((a for a in control.ancestors if isinstance(a, Field)), None)
            if field is None:
                continue
            why = problem_text(item.problem)
            if isinstance(control, Input):
                with self.prevent(Input.Changed):
                    control.value = item.value_text()
                field.show_error(f"From the file: {why}")
            elif isinstance(control, TextArea):
                with self.prevent(TextArea.Changed):
                    control.text = item.value_text()
                field.show_error(f"From the file: {why}")
            else:
                value = printable(item.value_text(), newlines=False)
                field.show_error(f"From the file, not kept: {value!r} ({why})", blocking=False)

    # ------------------------------------------------------------------ form -> entry

    def commit(self, control: Widget, value: Any, *, final: bool = True) -> None:
        """Send one control's value to the entry; show the refusal (only when ``final``).

        A ranked field refused while it is typed (not ``final``) keeps its last valid value without an
        error beneath it, but is marked ``-typing-refused`` so :meth:`held_back` says at once what the
        ranking used instead when that is a value (a trial: typing 'tibial' passes through 'tibia', bone,
        and the ranking went on with bone while nothing said so until the field was left)."""
        path = control.name
        if not path:
            return
        field = next((a for a in control.ancestors if isinstance(a, Field)), None)
        try:
            changed = self.entry.set(path, value)
        except InvalidEntry as exc:
            if field is not None and final:
                field.show_error(problem_text(exc))
            elif field is not None and not field.has_class("-typing-refused"):
                field.add_class("-typing-refused")
                self.app.post_message(RefusalsChanged())
            return
        if field is not None:
            field.show_error(None)  # also ends a refusal while typed
        if changed:
            self.post_message(CaseChanged(path))

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if event.input.name and event.input.name not in ("stains", "molecular"):
            event.stop()
            # re-rank while typing, but only explain a refusal once the field is left or submitted
            self.commit(event.input, event.value, final=False)

    @on(Input.Submitted)
    @on(Input.Blurred)
    def _input_done(self, event: Input.Submitted | Input.Blurred) -> None:
        if event.input.name and event.input.name not in ("stains", "molecular"):
            event.stop()
            self.commit(event.input, event.value)

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.name and ("." in event.select.name or event.select.name == "expected"):
            event.stop()
            value = None if event.value is Select.NULL else event.value
            self.commit(event.select, value)

    @on(SelectionList.SelectedChanged)
    def _list_changed(self, event: SelectionList.SelectedChanged[str]) -> None:
        event.stop()
        sl = event.selection_list
        self.commit(sl, list(sl.selected))

    @on(TextArea.Changed)
    def _text_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.commit(event.text_area, event.text_area.text)

    def flush(self) -> str | None:
        """Record what is still being typed (the focused field, the quick entries, the percent box).

        Returns a description of the first value that is on screen but refused
        (the case keeps its last valid value), or None when the form and the
        case agree.
        """
        focused = self.app.focused
        if isinstance(focused, Input) and focused.name and any(isinstance(a, Field) for a in focused.ancestors):
            self.commit(focused, focused.value)
        for pane in self.query(FindingsPane):
            pane.flush()
        for field in self.query(Field):
            if field.has_class("-invalid"):
                label = field.query_one(".field-label", Label).content
                typed = field.query(f"#{field_id('id')}")
                if typed and isinstance(typed.first(), Input) and not typed.first(Input).value.strip():
                    return f"{label} is required; type one"  # clearing it is what was refused
                return f"{label} holds a refused value; correct or clear it"
        for pane in self.query(FindingsPane):
            problem = pane.pending_problem()
            if problem:
                return problem
        return None

    def held_back(self) -> list[str]:
        """One line per refused value on screen that the ranking could not use, saying what it used instead:
        the case keeps a field's last valid value (or none), so the ranking shown is not of what the field
        says ("Site: value refused; ranked with 'bone'"); a stain or molecular value of a file waiting in
        its entry line is not in the case ("Stains: 'stat6 positive membranous' refused; ranked without
        it"). A field refused as it is typed counts once the ranking uses another value for it (its last
        valid one), not while an unfinished word leaves it not given. Fields the ranking does not read (the
        id, title, source, notes, expected) are left out: their refusal is shown at the field. Empty when the
        form and the case agree."""
        lines = []
        for field in self.query(Field):
            path = field.control.name
            if not path or path.split(".")[0] not in RANKED_SECTIONS:
                continue
            kept = self.entry.get(path)
            given = kept not in (None, "", [])
            # a field refused while typed says so only when the ranking uses another value: an unfinished
            # word with nothing kept is simply not given yet
            if not (field.has_class("-invalid") or (field.has_class("-typing-refused") and given)):
                continue
            used = f"ranked with {shown_value(kept)!r}" if given else "ranked without it"
            lines.append(f"{field.label}: value refused; {used}")
        for pane in self.query(FindingsPane):
            line = pane.held_back()
            if line:
                lines.append(line)
        return lines

    # ------------------------------------------------------------------ navigation

    async def show_section(self, section: str, *, focus: bool = False) -> None:
        """Show a tab (building it first if need be); ``focus``: put the cursor in its first field."""
        await self.build(section)
        self.query_one("#sections", TabbedContent).active = f"tab-{section}"
        if focus:
            self.focus_first(section)

    def focus_first(self, section: str) -> None:
        if section in ("stains", "molecular"):
            self.query_one(f"#{section}-entry", Input).focus()
            return
        pane = self.query_one(f"#tab-{section}", TabPane)
        first = next((w for w in pane.query("Input, Select, SelectionList") if w.focusable), None)
        if first is not None:
            first.focus()
            # the first field is at the top: show the tab from its top, heading included (focusing it scrolls it
            # into view, by a line more or less depending on whether the tab had been laid out yet)
            for scroll in pane.query(VerticalScroll):
                self.call_after_refresh(scroll.scroll_home, animate=False)

    def show_findings(self, section: str) -> None:
        """Show the stains or molecular tab (always built) at once."""
        self.query_one("#sections", TabbedContent).active = f"tab-{section}"

    def prepare_test(self, section: str, name: str) -> None:
        """Open the stains or molecular tab with ``name`` ready for its result."""
        self.show_findings(section)
        self.query_one(f"#{section}-pane", FindingsPane).prepare(name)
