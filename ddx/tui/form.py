"""The case form: one tab per section of the case-file contract.

Controls are built from the vocabulary (nothing here names a stain or a
term). Each control carries its case path as its ``name``; a change is sent
to :class:`~ddx.entry.CaseEntry`, which keeps it only if it is valid.
A refused value stays in its field, marked, with the reason beneath it.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, Label, Select, SelectionList, Static, TabbedContent, TabPane, TextArea

from ddx.entry import CaseEntry, InvalidEntry
from ddx.knowledge import Knowledge
from ddx.tui.findings import FindingsPane, TermComplete
from ddx.tui.messages import CaseChanged, plain, problem_text, shown_value


def field_id(path: str) -> str:
    return "f-" + path.replace(".", "--")



class Field(Vertical):
    """A label, a control and the place where a refusal is explained."""

    def __init__(self, label: str, control: Widget, *, wide: bool = False) -> None:
        super().__init__(classes="field" + (" wide" if wide else ""))
        self._label = label
        self._control = control

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(self._label, classes="field-label")
            yield self._control
        yield Static("", classes="field-error")

    def show_error(self, text: str | None) -> None:
        error = self.query_one(".field-error", Static)
        error.update(plain(text))
        error.display = bool(text)
        self.set_class(bool(text), "-invalid")


class CaseForm(Vertical):
    """Patient and clinical data, morphology, stains and molecular results."""

    def __init__(self, entry: CaseEntry, knowledge: Knowledge, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry
        self.knowledge = knowledge

    # ------------------------------------------------------------------ build

    def compose(self) -> ComposeResult:
        vocab = self.knowledge.vocab
        with TabbedContent(id="sections"):
            with TabPane("Case", id="tab-case"):
                with VerticalScroll():
                    yield self._input("id", "Case id")
                    yield self._input("title", "Title")
                    entities = []       # each entity, then its subtypes (an expected answer may name one)
                    for e in self.knowledge.entities:
                        entities.append((f"{e.slug.upper()}  {e.name.split(' / ')[0]}", e.slug))
                        entities += [(f"  {s.short or s.slug.upper()}  {s.name}", s.slug) for s in e.subtypes]
                    yield Field("Expected", Select(entities, prompt="not known", name="expected",
                                                   id=field_id("expected"), compact=True))
                    yield self._input("patient.age", "Age (years)")
                    yield self._select("patient.sex", "Sex", vocab.sex.terms)
                    site = Input(placeholder="type a site: thigh, oral cavity, retroperitoneum...",
                                 name="clinical.site", id=field_id("clinical.site"), compact=True)
                    yield Field("Site", site)
                    yield TermComplete(site, vocab.sites)
                    yield self._select("clinical.depth", "Depth", vocab.depth.terms)
                    yield self._input("clinical.size_cm", "Size (cm)")
                    yield self._input("clinical.presentation", "Presentation")
                    yield self._list("clinical.symptoms", "Symptoms", vocab.symptoms.terms, vocab.symptoms.help)
                    yield self._input("source", "Source")
                    yield Field("Notes", TextArea(name="notes", id=field_id("notes"), soft_wrap=True,
                                                  compact=True), wide=True)
            with TabPane("Morphology", id="tab-morphology"):
                with VerticalScroll():
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
            with TabPane("Stains", id="tab-stains"):
                yield FindingsPane("stains", self.entry, self.knowledge, id="stains-pane")
            with TabPane("Molecular", id="tab-molecular"):
                yield FindingsPane("molecular", self.entry, self.knowledge, id="molecular-pane")

    def _input(self, path: str, label: str, placeholder: str = "") -> Field:
        return Field(label, Input(placeholder=placeholder, name=path, id=field_id(path), compact=True))

    def _select(self, path: str, label: str, terms: list[str]) -> Field:
        options = [(t.replace("_", " "), t) for t in terms]
        return Field(label, Select(options, prompt="not given", name=path, id=field_id(path), compact=True))

    def _list(self, path: str, label: str, terms: list[str], help: dict[str, str]) -> Field:
        choices = [(t.replace("_", " ") + (f" ({help[t]})" if t in help else ""), t) for t in terms]
        return Field(label, SelectionList[str](*choices, name=path, id=field_id(path), compact=True), wide=True)

    def on_mount(self) -> None:
        for error in self.query(".field-error"):
            error.display = False
        self.load_from_entry()

    # ------------------------------------------------------------------ entry -> form

    def load_from_entry(self) -> None:
        """Show the entry's case in every control (used on open, new and restore)."""
        with self.prevent(Input.Changed, Select.Changed, SelectionList.SelectedChanged, TextArea.Changed):
            for control in self.query(Input):
                if control.name and control.name not in ("stains", "molecular"):
                    control.value = shown_value(self.entry.get(control.name))
            for select in self.query(Select):
                if select.name and "." in select.name or select.name == "expected":
                    value = self.entry.get(select.name)
                    select.value = value if value is not None else Select.NULL
            for sl in self.query(SelectionList):
                if sl.name:
                    chosen = set(self.entry.get(sl.name) or [])
                    sl.deselect_all()
                    for value in chosen:
                        sl.select(value)
            notes = self.query_one(f"#{field_id('notes')}", TextArea)
            notes.text = shown_value(self.entry.get("notes"))
        for field in self.query(Field):
            field.show_error(None)
        for pane in self.query(FindingsPane):
            pane.refresh_table()

    # ------------------------------------------------------------------ form -> entry

    def commit(self, control: Widget, value: Any, *, final: bool = True) -> None:
        """Send one control's value to the entry; show the refusal (only when ``final``)."""
        path = control.name
        if not path:
            return
        field = next((a for a in control.ancestors if isinstance(a, Field)), None)
        try:
            changed = self.entry.set(path, value)
        except InvalidEntry as exc:
            if field is not None and final:
                field.show_error(problem_text(exc))
            return
        if field is not None:
            field.show_error(None)
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
                return f"{label} holds a refused value; correct or clear it"
        for pane in self.query(FindingsPane):
            problem = pane.pending_problem()
            if problem:
                return problem
        return None

    # ------------------------------------------------------------------ navigation

    def show_section(self, section: str, *, focus: bool = False) -> None:
        self.query_one("#sections", TabbedContent).active = f"tab-{section}"
        if focus:
            if section in ("stains", "molecular"):
                self.query_one(f"#{section}-entry", Input).focus()
            else:
                pane = self.query_one(f"#tab-{section}", TabPane)
                first = next((w for w in pane.query("Input, Select, SelectionList") if w.focusable), None)
                if first is not None:
                    first.focus()

    def prepare_test(self, section: str, name: str) -> None:
        """Open the stains or molecular tab with ``name`` ready for its result."""
        self.show_section(section)
        self.query_one(f"#{section}-pane", FindingsPane).prepare(name)
