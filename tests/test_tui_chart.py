"""The evidence chart in the TUI's detail pane and beside the exported report (Textual's Pilot)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Input

from ddx.chart import AXIS_LABEL
from ddx.tui.chart import EvidenceChartView
from ddx.tui.dialogs import ReportScreen
from tests.test_tui import drive, make_app, settle


def chart_view(app) -> EvidenceChartView:
    return app.query_one("#detail-chart", EvidenceChartView)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_the_detail_pane_shows_the_chart_of_the_selected_candidate_against_the_leader(knowledge, size):
    app = make_app(knowledge)

    async def script(pilot):
        view = chart_view(app)
        assert view.display and view.parent is app.query_one("#detail", VerticalScroll)
        shown = view.plain
        assert "ILMS · conventional (leader)" in shown and "PRMS (runner-up)" in shown
        assert AXIS_LABEL in shown.replace("\n", " ")
        assert "Mitoses 10 per 10 HPF or fewer" in shown and "│" in shown and "▒" in shown
        width = view.content_size.width
        assert 20 < width < size[0] // 2 + 5  # drawn for the detail pane, not for the terminal
        assert max(len(line) for line in shown.split("\n")) <= width
        assert view.region.height >= len(shown.split("\n"))  # nothing of it is cut off
        # scrolled into view, the chart is on the screen
        view.scroll_visible(animate=False)
        await settle(app, pilot)
        assert app.screen.get_widget_at(view.region.x + 1, view.region.y + 1)[0] is view
        # another candidate: the leader against it
        table = app.query_one("#ranking", DataTable)
        table.focus()
        table.move_cursor(row=2)
        await settle(app, pilot)
        third = app.analysis.ranking[2]
        assert app.differential.selected == third.entity
        heading = view.plain.split(AXIS_LABEL)[0]  # the lines naming the two candidates
        assert "ILMS · conventional (leader)" in heading and f"against {third.entity.upper()}" in heading
        assert "(rank 3)" in heading and "PRMS" not in heading

    drive(app, script, size=size)


def test_the_report_export_writes_the_chart_beside_the_report(knowledge, tmp_path):
    app = make_app(knowledge)
    out = tmp_path / "seed-report.txt"

    async def script(pilot):
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert isinstance(app.screen, ReportScreen)
        app.screen.query_one("#report-path", Input).value = str(out)
        await pilot.click("#save")
        await settle(app, pilot)

    drive(app, script)
    chart = tmp_path / "seed-report-chart.svg"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed-report-chart.svg", "seed-report.txt"]
    root = ET.fromstring(chart.read_bytes())
    shown = " ".join("".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert AXIS_LABEL in shown and "favours ILMS · conventional" in shown and "favours PRMS" in shown
    assert "Inflammatory leiomyosarcoma" in out.read_text()
