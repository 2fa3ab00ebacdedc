"""The live differential: ranked entities with probability bars, the selected
entity's evidence for and against (each with its source and whether its figure
is cited or an estimate), the caveats, the confidence band and the next tests.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Label, OptionList, Static
from textual.widgets.option_list import Option

from ddx.analysis import Analysis
from ddx.knowledge import Knowledge
from ddx.ranking import Evidence, RankedEntity
from ddx.tui.messages import NextTestChosen

BAR_WIDTH = 12


def bar(p: float, width: int = BAR_WIDTH) -> Text:
    cells = p * width
    full = int(cells)
    text = Text("█" * full)
    if full < width:
        part = " ▏▎▍▌▋▊▉"[int((cells - full) * 8)]
        text.append(part + " " * (width - full - 1))
    text.stylize("green" if p >= 0.5 else "yellow" if p >= 0.15 else "dim")
    return text


def evidence_text(e: Evidence) -> Text:
    figure = f"{e.p_used:.2f} = 1 − {e.likelihood.shown()}" if e.negated else e.likelihood.shown()
    line = Text()
    line.append(f"{e.weight:+.2f} ", style="bold green" if e.weight > 0 else "bold red")
    line.append(e.finding)
    line.append(f"  P={figure} ")
    line.append("estimate" if e.estimate else "cited", style="italic yellow" if e.estimate else "italic cyan")
    line.append(f"\n      {e.source}", style="dim")
    return line


def entity_detail(ranked: RankedEntity, analysis: Analysis) -> Text:
    parts: list[Any] = []
    head = Text()
    head.append(f"{ranked.entity.upper()}  ", style="bold")
    head.append(ranked.name)
    head.append(f"\n{ranked.probability * 100:.1f} %   score {ranked.score:+.2f}", style="dim")
    parts.append(head)
    for title, items, style in (("For", ranked.supporting, "green"), ("Against", ranked.opposing, "red")):
        parts.append(Text(f"{title}:", style=f"bold {style}"))
        if not items:
            parts.append(Text("  nothing recorded", style="dim italic"))
        for e in items:
            parts.append(Text("  ") + evidence_text(e))
    if analysis.caveats:
        parts.append(Text("Caveats:", style="bold yellow"))
        for c in analysis.caveats:
            parts.append(Text(f"  ⚠ {c.text}", style="yellow") + Text(f"\n      {c.source}", style="dim"))
    return Text("\n").join(parts)


class DifferentialPanel(Vertical):
    """Re-drawn on every new analysis; keeps the entity the user picked selected."""

    def __init__(self, knowledge: Knowledge, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.knowledge = knowledge
        self.analysis: Analysis | None = None
        self.pinned: str | None = None     # an entity the user chose to look at
        self._updating = False
        self.detail_text = ""      # what the detail pane shows, as plain text

    def compose(self) -> ComposeResult:
        yield Static("", id="band")
        yield Static("", id="band-action")
        table: DataTable[Any] = DataTable(id="ranking", cursor_type="row", zebra_stripes=False)
        yield table
        with VerticalScroll(id="detail"):
            yield Static("", id="detail-body")
        yield Label("Next tests (Enter adds one to the form)", classes="section-title")
        yield OptionList(id="next-tests")
        yield Static(self._version_text(), id="version")

    def _version_text(self) -> str:
        return (f"rules {self.knowledge.settings.version} ({self.knowledge.content_hash[:12]}) · "
                "decision support only, not a diagnosis")

    def set_knowledge(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.query_one("#version", Static).update(self._version_text())

    def on_mount(self) -> None:
        table = self.query_one("#ranking", DataTable)
        table.add_column("#", key="n")
        table.add_column("entity", key="entity")
        table.add_column("probability %", key="p")

    def show(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self._updating = True
        try:
            if analysis.confidence:
                self.query_one("#band", Static).update(Text(analysis.confidence.label, style="bold"))
                self.query_one("#band-action", Static).update(analysis.confidence.action)
            table = self.query_one("#ranking", DataTable)
            table.clear()
            for n, r in enumerate(analysis.ranking, start=1):
                pct = f"{r.probability * 100:5.1f}" if r.probability >= 0.001 else " <0.1"
                table.add_row(str(n), Text(r.entity.upper(), style="bold" if n == 1 else ""),
                              Text(pct + " ") + bar(r.probability), key=r.entity)
            slugs = [r.entity for r in analysis.ranking]
            row = slugs.index(self.pinned) if self.pinned in slugs else 0
            table.move_cursor(row=row, animate=False)
            self._show_entity(analysis.ranking[row] if analysis.ranking else None)
            tests = self.query_one("#next-tests", OptionList)
            tests.clear_options()
            for s in analysis.suggestions:
                prompt = Text.assemble((s.label, "bold"), ": ", s.why.split(": ", 1)[-1],
                                       (f"  ({s.gain:.2f} bits)", "dim"))
                tests.add_option(Option(prompt, id=f"{s.kind}:{s.test}"))
        finally:
            self._updating = False

    def _show_entity(self, ranked: RankedEntity | None) -> None:
        body = self.query_one("#detail-body", Static)
        text = Text() if ranked is None or self.analysis is None else entity_detail(ranked, self.analysis)
        self.detail_text = text.plain
        body.update(text)

    @property
    def selected(self) -> str | None:
        table = self.query_one("#ranking", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    @on(DataTable.RowHighlighted, "#ranking")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if self._updating or self.analysis is None:
            return
        slug = str(event.row_key.value)
        leader = self.analysis.ranking[0].entity if self.analysis.ranking else None
        self.pinned = None if slug == leader else slug
        self._show_entity(next((r for r in self.analysis.ranking if r.entity == slug), None))

    @on(OptionList.OptionSelected, "#next-tests")
    def _test_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        kind, _, test = str(event.option.id).partition(":")
        self.post_message(NextTestChosen(test, kind))
