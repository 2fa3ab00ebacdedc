"""The evidence chart in the differential's detail pane (:mod:`ddx.chart` drawn as text).

For the leader it compares the leader with the runner-up; for any other candidate, the leader with that
candidate, so the bars say which recorded findings keep it behind. It redraws itself for the width it is
given (a finding and its bar share a line from ``ddx.chart.WIDE_AT`` columns, below that the bar goes
under the finding).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from textual.widget import Widget

from ddx.analysis import Analysis
from ddx.chart import EvidenceChart, chart_text, evidence_chart
from ddx.knowledge import Knowledge
from ddx.ranking import RankedEntity


class _Fitted:
    """The chart as a Rich renderable that draws itself at the width it is offered."""

    def __init__(self, chart: EvidenceChart) -> None:
        self.chart = chart

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield chart_text(self.chart, options.max_width)


def chart_pair(analysis: Analysis, ranked: RankedEntity) -> tuple[str, str] | None:
    """(favoured, other) for the chart shown beside ``ranked``: the leader against the runner-up when
    ``ranked`` leads, else the leader against ``ranked``; None when fewer than two are ranked."""
    slugs = [r.entity for r in analysis.ranking]
    if len(slugs) < 2 or ranked.entity not in slugs:
        return None
    return (slugs[0], slugs[1]) if ranked.entity == slugs[0] else (slugs[0], ranked.entity)


class EvidenceChartView(Widget):
    """Shows one :class:`~ddx.chart.EvidenceChart`, or nothing (hidden) when there is none."""

    DEFAULT_CSS = """
    EvidenceChartView {
        height: auto;
        margin: 1 0 0 0;
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chart: EvidenceChart | None = None
        self.display = False

    def show(self, analysis: Analysis | None, ranked: RankedEntity | None, knowledge: Knowledge) -> None:
        """Chart the pair for ``ranked`` (see :func:`chart_pair`); hide when there is nothing to chart
        (no ranking yet, or a ranking from rules that were just replaced)."""
        chart = None
        pair = chart_pair(analysis, ranked) if analysis is not None and ranked is not None else None
        if analysis is not None and pair is not None:
            try:
                chart = evidence_chart(analysis, knowledge, *pair)
            except (KeyError, ValueError):
                chart = None
        self.chart = chart
        self.display = chart is not None
        self.refresh(layout=True)

    @property
    def plain(self) -> str:
        """What the widget shows, as plain text at its current width (empty when hidden)."""
        if self.chart is None:
            return ""
        return chart_text(self.chart, self.content_size.width or 80).plain

    def render(self) -> Any:
        return _Fitted(self.chart) if self.chart is not None else ""
