"""The live differential: ranked entities with probability bars (and the
leading subtype of an entity with subtypes), the selected entity's evidence for
and against (each on one line: weight, finding, figure, cited or estimate and a
numbered source tag; the sources listed below, in full on demand), findings
that point outside the modelled entities, recorded findings the ranking does
not use, the caveats, the confidence band and the next tests.

Everything shown is built as :class:`rich.text.Text`, never as markup, so case
data cannot be read as Rich markup.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.events import Resize
from textual.widgets import DataTable, Label, OptionList, Static
from textual.widgets.option_list import Option

from ddx.analysis import Analysis
from ddx.engine import engine_label
from ddx.facts import case_facts
from ddx.knowledge import Knowledge
from ddx.ranking import Evidence, RankedEntity, percent, percent_text, probability_text, short_name
from ddx.report_comment import figure_text, leading_subtype, pointer_findings, pointer_tests, profile_short, short_source, unused_texts
from ddx.suggest import no_test_text
from ddx.tui.chart import EvidenceChartView
from ddx.tui.messages import NextTestChosen

BAR_WIDTH = 12
WIDE_FROM = 110  # terminal columns from which the wide layout applies (the app's breakpoint)
NARROW_BAR_WIDTH = 10  # below the breakpoint, so that a subtype's short name fits beside it
OUTSIDE = "Outside the differential"
UNUSED = "Recorded, not used by the ranking"


def bar(p: float, width: int = BAR_WIDTH) -> Text:
    """A probability ``p`` (0-1) as a bar ``width`` cells long, in eighths of a cell: green from 0.5, yellow
    from 0.15, else dim."""
    cells = p * width
    full = int(cells)
    text = Text("█" * full)
    if full < width:
        part = " ▏▎▍▌▋▊▉"[int((cells - full) * 8)]
        text.append(part + " " * (width - full - 1))
    text.stylize("green" if p >= 0.5 else "yellow" if p >= 0.15 else "dim")
    return text


def share_text(ranked: RankedEntity) -> str:
    """The leading subtype's share of its entity's probability, as the ranking writes a percentage ('92 %')."""
    return percent_text(ranked.subtype_share or 0.0)


def entity_cell(ranked: RankedEntity, knowledge: Knowledge, *, leader: bool, narrow: bool) -> Text:
    """'SRMS · TFCP2-RMS (share 92 %)' (wide) or 'SRMS' over 'TFCP2-RMS' (narrow): the entity and, when
    its conventional / rest profile does not lead, its leading subtype, with its share of the entity's
    probability marked as a share, as the text output writes it (a bare '92 %' beside it was read as the
    probability)."""
    cell = Text(ranked.entity.upper(), style="bold" if leader else "")
    if leading_subtype(ranked):
        short = profile_short(knowledge, ranked)
        cell.append("\n" + short if narrow else f" · {short} (share {share_text(ranked)})", style="italic")
    return cell


def compact_figure(e: Evidence) -> str:
    """The figure as it counts for the finding as recorded, short: '25/25', '48/84' (a negative
    finding: the cases without it), '~0.15' (an estimate; 1 − ~0.85 for a negative finding), '0.97'."""
    lk = e.likelihood
    if lk.k is not None and lk.total is not None:
        return f"{lk.total - lk.k if e.negated else lk.k}/{lk.total}"
    p = 1.0 - lk.p if e.negated else lk.p
    return f"{'~' if e.estimate else ''}{p:.2f}"


def evidence_text(e: Evidence, tag: int | None = None, *, full: bool = False) -> Text:
    """'+0.79 Keratin positive  25/25 cited [2]': the weight, the finding, the figure with its count,
    cited or estimate, and the tag of its source in the list below (one line at 120 columns).
    ``full`` adds a line with the figure as written (its strength, 1 − … for a negative finding) and
    the probability used after shrinkage."""
    line = Text()
    line.append(f"{e.weight:+.2f} ", style="bold green" if e.weight > 0 else "bold red")
    line.append(e.finding)
    line.append(f"  {compact_figure(e)} ")
    line.append("est." if e.estimate else "cited", style="italic yellow" if e.estimate else "italic cyan")
    if tag is not None:
        line.append(f" [{tag}]", style="dim")
    if full:
        line.append(f"\n      {figure_text(e)}; {'estimate' if e.estimate else 'cited'} → {e.p_used:.2f} used", style="dim")
    return line


def outside_summary(analysis: Analysis, knowledge: Knowledge, *, narrow: bool = False) -> Text:
    """The outside-the-differential warning under the band: one line per item, the entities the
    findings point to (with those findings) and the findings no modelled entity shows often;
    narrow, the names only, in one paragraph (the detail pane has the rest). Titled unless the
    band already says it. Empty when nothing points outside."""
    outside = analysis.outside
    if not outside:
        return Text()
    recorded = case_facts(analysis.case, knowledge.vocab) if analysis.case is not None else {}
    items = []
    for p in outside.pointers:
        item = Text(short_name(p.name), style="bold yellow")
        found = pointer_findings(p, recorded, knowledge)
        if found and not narrow:
            item.append(": " + ", ".join(found), style="yellow")
        items.append(item)
    for u in outside.unexplained:
        item = Text(u.finding, style="bold yellow")
        item.append(
            " (no modelled entity)" if narrow else f": no modelled entity shows it often (at most {percent(u.p, False)})",
            style="yellow",
        )
        items.append(item)
    if narrow:
        text = Text("◆ ", style="bold yellow") + Text(" · ", style="yellow").join(items)
    else:
        text = Text("\n").join(Text("◆ ", style="bold yellow") + item for item in items)
    if analysis.confidence is None or analysis.confidence.band != "outside":
        text = Text(f"⚠ {OUTSIDE}\n", style="bold yellow") + text
    return text


def outside_detail(analysis: Analysis, knowledge: Knowledge) -> Text:
    """The outside-the-differential block of the detail pane, like the caveats: each entity the
    findings point to, with the findings, why and a short source; each unexplained finding."""
    outside = analysis.outside
    if not outside:
        return Text()
    recorded = case_facts(analysis.case, knowledge.vocab) if analysis.case is not None else {}
    text = Text(f"{OUTSIDE}:", style="bold yellow")
    for p in outside.pointers:
        text.append(f"\n  ◆ {p.name}", style="bold yellow")
        found = pointer_findings(p, recorded, knowledge)
        if found:
            text.append(": " + ", ".join(found), style="yellow")
        text.append(f"\n      {p.rationale}", style="yellow")
        tests = pointer_tests(p, knowledge)
        if tests:
            text.append(f"\n      Would test it: {tests}.", style="bold yellow")
        text.append(f"\n      {short_source(p.source)}", style="dim")
    for u in outside.unexplained:
        text.append(f"\n  ◆ {u.finding}", style="bold yellow")
        text.append(
            f": no modelled entity shows it often (at most {percent(u.p, False)}, {knowledge.profile_short(u.best)})", style="yellow"
        )
    return text


def entity_detail(
    ranked: RankedEntity, analysis: Analysis, knowledge: Knowledge | None = None, *, full: bool = False, narrow: bool = False
) -> Text:
    """The detail pane for one entity: its name and figures, its evidence for and against (one line each,
    with a numbered source tag), the recorded findings not used, the outside-the-differential block, the
    caveats, and the sources: short citations, or (``full``) every source in full with each figure as
    written. ``narrow``: the subtype by its short name, and only when it is not the conventional form."""
    parts: list[Any] = []
    head = Text()
    head.append(f"{ranked.entity.upper()}  ", style="bold")
    head.append(f"{probability_text(ranked.probability)}  score {ranked.score:+.2f}", style="dim")
    head.append(f"\n{ranked.name}")
    if narrow and knowledge is not None:
        if leading_subtype(ranked):
            head.append("\nsubtype: ", style="dim")
            head.append(profile_short(knowledge, ranked), style="italic")
            head.append(f" · {share_text(ranked)}", style="dim")
    elif ranked.subtype_name:
        name = ranked.subtype_name
        if ranked.subtype == ranked.entity and name.startswith(ranked.name + ", "):
            name = name[len(ranked.name) + 2 :]  # the rest profile: 'conventional', 'other (...)'
        head.append("\nsubtype: ", style="dim")
        head.append(name, style="italic")
        head.append(f" · {share_text(ranked)} of {ranked.entity.upper()}", style="dim")
    parts.append(head)
    tags: dict[str, int] = {}
    for title, items, style in (("For", ranked.supporting, "green"), ("Against", ranked.opposing, "red")):
        parts.append(Text(f"{title}:", style=f"bold {style}"))
        if not items:
            parts.append(Text("  nothing recorded", style="dim italic"))
        for e in items:
            tag = tags.setdefault(e.grounds, len(tags) + 1)  # an estimate's reasoning, else the citation
            parts.append(Text("  ") + evidence_text(e, tag, full=full))
    basis = analysis.lead_basis
    if basis is not None and ranked.entity in (basis.leader, basis.runner_up):  # what the lead of one over the other rests on
        parts.append(Text(basis.sentence(knowledge.short_name) if knowledge is not None else basis.sentence(), style="dim"))
    if knowledge is not None and analysis.unused:
        unused = Text(f"{UNUSED}: ", style="bold dim")
        unused.append(", ".join(unused_texts(analysis, knowledge)), style="dim italic")
        parts.append(unused)
    if knowledge is not None and analysis.outside:
        parts.append(outside_detail(analysis, knowledge))
    if analysis.caveats:
        parts.append(Text("Caveats:", style="bold yellow"))
        for c in analysis.caveats:
            source = c.source if full else short_source(c.source)
            parts.append(Text(f"  ⚠ {c.text}", style="yellow") + Text(f"\n      {source}", style="dim"))
    if tags:
        sources = Text("Sources" + ("" if full else " (in full: F3, then c)") + ":", style="bold dim")
        for source, tag in tags.items():
            shown = source if full else short_source(source)
            sources.append(f"\n  [{tag}] ", style="dim")
            sources.append(shown, style="dim")
        parts.append(sources)
    return Text("\n").join(parts)


class NextTestList(OptionList):
    """The next tests: Up/Down choose, Enter or Space puts the test on the form."""

    BINDINGS = [Binding("space", "select", "Add to the form", show=False)]


HELD_BACK_LINES = 3  # lines of the note of refused values the ranking was made without (each may wrap once)


class DifferentialPanel(Vertical):
    """Re-drawn on every new analysis; keeps the entity the user picked selected."""

    BINDINGS = [Binding("c", "citations", "Citations", show=False)]  # said in the detail's "Sources" line

    def __init__(self, knowledge: Knowledge, *, engine: str = "durable", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.knowledge = knowledge
        self.engine = engine  # named in the status line (ddx.engine.ENGINES)
        self.analysis: Analysis | None = None
        self.pinned: str | None = None  # an entity the user chose to look at
        self.full_citations = False  # the detail shows every source in full
        self._updating = False
        self._narrow: bool | None = None  # the layout the table and the outside summary were drawn for
        self.detail_text = ""  # what the detail pane shows, as plain text
        self.outside_text = ""  # what the outside-the-differential summary shows, as plain text
        self.held_back_text = ""  # the refused values on the form the ranking was made without, as plain text

    def compose(self) -> ComposeResult:
        yield Static("", id="band")
        yield Static("", id="band-action")
        yield Static("", id="outside")
        yield Static("", id="held-back")
        table: DataTable[Any] = DataTable(id="ranking", cursor_type="row", zebra_stripes=False)
        yield table
        with VerticalScroll(id="detail"):
            yield Static("", id="detail-body")
            yield EvidenceChartView(id="detail-chart")
        yield Label("Next tests (F4; Enter puts one on the form)", id="next-title", classes="section-title")
        yield NextTestList(id="next-tests")
        yield Static(self._version_text(), id="version")

    def _version_text(self) -> str:
        priors = f", prior set {self.knowledge.prior_set}" if self.knowledge.prior_set else ""
        return (
            f"rules {self.knowledge.settings.version} ({self.knowledge.content_hash[:12]}{priors}) · "
            f"{engine_label(self.engine, short=True)} · decision support only, not a diagnosis"
        )

    def set_knowledge(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.query_one("#version", Static).update(self._version_text())

    def on_mount(self) -> None:
        self._columns(self.query_one("#ranking", DataTable))
        self.query_one("#outside", Static).display = False
        self.query_one("#held-back", Static).display = False

    @staticmethod
    def _columns(table: DataTable[Any], rows: list[tuple[Text, Text, Text]] | None = None) -> None:
        """(Re)create the columns, each as wide as its widest cell (``rows``: the cells about to be added).
        The widths are set here, not left to the table: the table measures cells added on a later refresh,
        so under load a picture could be taken with the columns of the ranking before."""
        table.clear(columns=True)
        cells = rows or []

        def width(label: str, column: int) -> int | None:
            lines = [line for row in cells for line in row[column].plain.split("\n")]
            return max([cell_len(label), *map(cell_len, lines)]) if cells else None

        table.add_column("#", key="n", width=width("#", 0))
        table.add_column("entity", key="entity", width=width("entity", 1))
        table.add_column("probability %", key="p", width=width("probability %", 2))

    @property
    def narrow(self) -> bool:
        """The app's width, not the breakpoint class: the class may be set after the first drawing."""
        return self.app.size.width < WIDE_FROM

    def on_resize(self, event: Resize) -> None:
        if self.analysis is not None and self._narrow is not None and self.narrow != self._narrow:
            self.show(self.analysis)  # the table and the outside summary have a narrow form

    def show_held_back(self, lines: list[str]) -> None:
        """Say which refused values on the form the ranking was made without (none: hide the note)."""
        note = self.query_one("#held-back", Static)
        if len(lines) > HELD_BACK_LINES:  # the note stays short: the form marks each refused value
            lines = [*lines[: HELD_BACK_LINES - 1], f"… and {len(lines) - HELD_BACK_LINES + 1} more refused values on the form"]
        self.held_back_text = "\n".join(lines)
        note.update(Text(self.held_back_text, style="bold yellow"))
        note.display = bool(lines)

    def show(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self._updating = True
        narrow = self._narrow = self.narrow
        try:
            if analysis.confidence:
                style = "bold yellow" if analysis.outside else "bold"
                self.query_one("#band", Static).update(Text(analysis.confidence.label, style=style))
                self.query_one("#band-action", Static).update(Text(analysis.confidence.action))
            outside = self.query_one("#outside", Static)
            block = outside_summary(analysis, self.knowledge, narrow=narrow)
            self.outside_text = block.plain
            outside.update(block)
            outside.display = bool(block.plain)
            table = self.query_one("#ranking", DataTable)
            width = NARROW_BAR_WIDTH if narrow else BAR_WIDTH
            rows = []
            for n, r in enumerate(analysis.ranking, start=1):
                pct = f"{probability_text(r.probability, '').replace(' ', ''):>5}"  # ' 89.6', '>99.9', ' <0.1': never 100.0
                cell = entity_cell(r, self.knowledge, leader=n == 1, narrow=narrow)
                rows.append((Text(str(n)), cell, Text(pct + " ") + bar(r.probability, width)))
            self._columns(table, rows)
            for r, (n_cell, cell, p_cell) in zip(analysis.ranking, rows, strict=True):
                table.add_row(n_cell, cell, p_cell, key=r.entity, height=len(cell.plain.split("\n")))
            slugs = [r.entity for r in analysis.ranking]
            row = slugs.index(self.pinned) if self.pinned in slugs else 0
            table.move_cursor(row=row, animate=False)
            self._show_entity(analysis.ranking[row] if analysis.ranking else None)
            tests = self.query_one("#next-tests", OptionList)
            tests.compact = narrow
            self.query_one("#next-title", Label).update("Next tests (F4)" if narrow else "Next tests (F4; Enter puts one on the form)")
            tests.clear_options()
            if analysis.no_separating_test:
                text = no_test_text(self.knowledge, analysis.confidence)
                tests.add_option(Option(Text(text, style="dim"), id="none", disabled=True))
            for s in analysis.suggestions:
                asked = "; asked for by a caveat" if s.asked_by else ""
                asked += "; also tests the pointer outside the differential" if s.pointers and s.gain > 0.0 else ""
                gain = "not read by the ranking" if s.gain == 0.0 and (s.asked_by or s.pointers) else f"{s.gain:.2f} bits"
                prompt = Text.assemble(
                    (s.label, "bold"),
                    ": ",
                    s.why.removeprefix(s.label + ": "),
                    (f"  ({gain} · {s.cost.text}{asked})", "dim"),
                )
                tests.add_option(Option(prompt, id=f"{s.kind}:{s.test}"))
        finally:
            self._updating = False

    def _show_entity(self, ranked: RankedEntity | None) -> None:
        body = self.query_one("#detail-body", Static)
        text = (
            Text()
            if ranked is None or self.analysis is None
            else entity_detail(ranked, self.analysis, self.knowledge, full=self.full_citations, narrow=self.narrow)
        )
        self.detail_text = text.plain
        body.update(text)
        self.query_one("#detail-chart", EvidenceChartView).show(self.analysis, ranked, self.knowledge)

    def action_citations(self) -> None:
        """Show the evidence's sources in full (and each figure as written), or short again."""
        self.full_citations = not self.full_citations
        if self.analysis is not None:
            slug = self.selected
            self._show_entity(next((r for r in self.analysis.ranking if r.entity == slug), None))

    def focus_tests(self) -> None:
        tests = self.query_one("#next-tests", OptionList)
        tests.focus()
        if tests.option_count and tests.highlighted is None:
            tests.highlighted = 0

    def focus_ranking(self) -> None:
        self.query_one("#ranking", DataTable).focus()

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
