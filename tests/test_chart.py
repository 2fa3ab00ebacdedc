"""The evidence chart (ddx.chart): its numbers against the ranking's own, the SVG and the text renderers,
and `ddx eval --chart`."""

from __future__ import annotations

import dataclasses
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from ddx.analysis import Analysis, Analyzer
from ddx.chart import (
    AXIS_LABEL,
    ESTIMATE_MARK,
    EvidenceChart,
    chart_beside,
    chart_paths,
    chart_svg,
    chart_text,
    evidence_chart,
)
from ddx.cli import main
from ddx.loader import iter_cases
from ddx.ranking import probability_text
from tests.conftest import CASES, SEED

SVG = "{http://www.w3.org/2000/svg}"
TFCP2_CASE = CASES / "headneckpathol-2022-srms-face-43f.yaml"


def analyse(analyzer: Analyzer, path: Path) -> Analysis:
    [loaded] = iter_cases(path, analyzer.knowledge)
    assert loaded.case is not None
    return analyzer.analyze(loaded.case, suggest=False, file=str(path))


@pytest.fixture(scope="module")
def seed(analyzer: Analyzer) -> Analysis:
    return analyse(analyzer, SEED)


def profile_of(analyzer: Analyzer, analysis: Analysis, slug: str) -> int:
    r = next(r for r in analysis.ranking if r.entity == slug)
    return analyzer.ranker.profile_index(r.entity, r.subtype if r.subtype not in (None, r.entity) else None)


# ---------------------------------------------------------------- the numbers


def test_each_bar_is_the_log10_ratio_of_the_two_probabilities_the_ranking_used(seed, knowledge):
    chart = evidence_chart(seed, knowledge)
    leader, runner_up = seed.ranking[:2]
    assert (chart.favoured.entity, chart.other.entity) == (leader.entity, runner_up.entity)
    assert (chart.favoured.role, chart.other.role) == ("leader", "runner-up")
    # one bar per recorded finding the ranking scored, none left out and none invented
    assert sorted(b.rule for b in chart.bars) == sorted(e.rule for e in leader.evidence) == sorted(e.rule for e in runner_up.evidence)
    assert len(chart.bars) >= 5
    for bar in chart.bars:
        # recomputed from the probabilities behind the figures, not from the weights the chart used
        assert bar.log10_lr == pytest.approx(math.log10(bar.favoured.p_used / bar.other.p_used), abs=1e-12)
        assert bar.favoured.entity == leader.entity and bar.other.entity == runner_up.entity
        assert bar.estimate == (bar.favoured.likelihood.estimate or bar.other.likelihood.estimate)
    sizes = [abs(b.log10_lr) for b in chart.bars]
    assert sizes == sorted(sizes, reverse=True)
    # the seed's board answer: no mitoses speaks for ILMS against PRMS more than anything else recorded
    assert chart.bars[0].rule == "morph.mitoses.brisk:not" and chart.bars[0].log10_lr > 0


def test_the_bars_sum_to_the_scores_difference_and_move_the_prior_odds_to_the_posterior_odds(seed, knowledge, analyzer):
    chart = evidence_chart(seed, knowledge)
    leader, runner_up = seed.ranking[:2]
    assert chart.total == pytest.approx(leader.score - runner_up.score, abs=1e-12)
    # the two leading profiles' posterior odds, from the ranker's own posterior
    post = analyzer.ranker.profile_posterior(seed.matched)
    i, j = profile_of(analyzer, seed, leader.entity), profile_of(analyzer, seed, runner_up.entity)
    assert chart.posterior_log10_odds == pytest.approx(math.log10(post[i] / post[j]), abs=1e-9)
    prior = analyzer.ranker.profile_prior
    assert chart.prior_log10_odds == pytest.approx(math.log10(prior[i] / prior[j]), abs=1e-12)


def test_for_two_entities_without_subtypes_the_identity_holds_with_the_ranking_probabilities(seed, knowledge):
    plain = [r for r in seed.ranking if r.subtype is None][:2]
    assert len(plain) == 2
    chart = evidence_chart(seed, knowledge, plain[0].entity, plain[1].entity)
    assert chart.posterior_log10_odds == pytest.approx(math.log10(plain[0].probability / plain[1].probability), abs=1e-9)
    assert chart.prior_log10_odds != pytest.approx(chart.posterior_log10_odds)  # the findings moved the odds


def test_the_temperature_scales_the_sum_of_the_bars_not_the_bars(knowledge):
    settings = knowledge.settings
    tempered = dataclasses.replace(
        knowledge, settings=settings.model_copy(update={"calibration": settings.calibration.model_copy(update={"temperature": 0.5})})
    )
    with Analyzer(knowledge, "python") as cold_analyzer, Analyzer(tempered, "python") as tempered_analyzer:
        cold, warm = analyse(cold_analyzer, SEED), analyse(tempered_analyzer, SEED)
    # two entities without subtypes: the same profiles whatever the temperature
    a, b = [r.entity for r in warm.ranking if r.subtype is None][:2]
    cold_chart, warm_chart = evidence_chart(cold, knowledge, a, b), evidence_chart(warm, tempered, a, b)
    assert warm_chart.temperature == 0.5 and cold_chart.temperature == 1
    assert [x.log10_lr for x in warm_chart.bars] == pytest.approx([x.log10_lr for x in cold_chart.bars], abs=1e-12)
    shown = {r.entity: r.probability for r in warm.ranking}
    assert warm_chart.posterior_log10_odds == pytest.approx(math.log10(shown[a] / shown[b]), abs=1e-9)
    assert warm_chart.prior_log10_odds + warm_chart.total != pytest.approx(warm_chart.posterior_log10_odds)


def test_a_subtype_is_charted_by_its_own_profile(knowledge, analyzer):
    case = analyse(analyzer, TFCP2_CASE)
    leader = case.ranking[0]
    assert leader.subtype == "srms_tfcp2"
    chart = evidence_chart(case, knowledge)
    assert chart.favoured.label == "SRMS · TFCP2-RMS" and chart.favoured.short == "TFCP2-RMS"
    post = analyzer.ranker.profile_posterior(case.matched)
    i, j = profile_of(analyzer, case, leader.entity), profile_of(analyzer, case, chart.other.entity)
    assert chart.posterior_log10_odds == pytest.approx(math.log10(post[i] / post[j]), abs=1e-9)
    keratin = next(b for b in chart.bars if b.rule == "ihc.keratin")
    assert keratin.log10_lr > 0  # keratin is what TFCP2-rearranged RMS shows and its runner-up does not


def test_any_pair_can_be_charted_and_swapping_it_mirrors_the_bars(seed, knowledge):
    forward = evidence_chart(seed, knowledge)
    back = evidence_chart(seed, knowledge, forward.other.entity, forward.favoured.entity)
    assert {b.rule: -b.log10_lr for b in back.bars} == pytest.approx({b.rule: b.log10_lr for b in forward.bars})
    assert back.favoured.role == "runner-up" and back.other.role == "leader"
    third = seed.ranking[2].entity
    assert evidence_chart(seed, knowledge, other=third).other.role == "rank 3"


def test_what_cannot_be_charted_is_refused_clearly(seed, knowledge):
    with pytest.raises(ValueError, match="both are 'ilms'"):
        evidence_chart(seed, knowledge, "ilms", "ilms")
    with pytest.raises(ValueError, match="'nonesuch' is not in the ranking.*ranked: ilms, prms"):
        evidence_chart(seed, knowledge, "nonesuch")
    with pytest.raises(ValueError, match="no ranking"):
        evidence_chart(Analysis(case_id="bad", case=None), knowledge)


# ---------------------------------------------------------------- SVG


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_the_svg_is_well_formed_labelled_and_marks_estimates_apart_from_cited_figures(seed, knowledge):
    chart = evidence_chart(seed, knowledge)
    root = ET.fromstring(chart_svg(chart).encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    shown = texts(root)
    assert any(AXIS_LABEL in t for t in shown)
    assert any("favours ILMS · conventional" in t for t in shown) and any("favours PRMS" in t for t in shown)
    assert any(f"leader, {probability_text(seed.ranking[0].probability)}" in t and "runner-up" in t for t in shown)
    rows = [g for g in root.iter(f"{SVG}g")]
    assert len(rows) == len(chart.bars)
    for g, bar in zip(rows, chart.bars):
        [rect] = g.iter(f"{SVG}rect")
        label = next(t for t in texts(g) if bar.finding[:20] in t)
        if bar.estimate:  # hatched, dashed and marked in text: not by colour alone
            assert rect.get("fill", "").startswith("url(#hatch-") and rect.get("stroke-dasharray")
            assert label.endswith(f" {ESTIMATE_MARK}")
        else:
            assert rect.get("fill", "").startswith("#") and not rect.get("stroke-dasharray")
            assert not label.endswith(ESTIMATE_MARK)
        # right of the centre favours the leader
        cx = float(rect.get("x", 0)) if bar.log10_lr >= 0 else float(rect.get("x", 0)) + float(rect.get("width", 0))
        assert cx == pytest.approx(360 + 440 / 2, abs=0.11)
    assert {b.estimate for b in chart.bars} == {True, False}  # the seed case has both kinds


HOSTILE = '</text><script>alert(1)</script> & "quoted" \x1b]0;owned\x07 \u202e \ufffe \ud800 ' + "x" * 80


def hostile_chart(chart: EvidenceChart) -> EvidenceChart:
    bars = (dataclasses.replace(chart.bars[0], finding=HOSTILE),) + chart.bars[1:]
    return dataclasses.replace(
        chart, bars=bars, case_id='<case id="x">&', favoured=dataclasses.replace(chart.favoured, label="<b>ILMS</b>", short="<i>")
    )


def test_a_hostile_label_stays_text_in_the_svg(seed, knowledge):
    svg = chart_svg(hostile_chart(evidence_chart(seed, knowledge)))
    root = ET.fromstring(svg.encode("utf-8"))  # no lone surrogate, no control character: still XML
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
    assert all(el.tag.startswith(SVG) for el in root.iter())
    everything = " ".join(texts(root) + ["".join(t.itertext()) for t in root.iter(f"{SVG}title")])
    assert '</text><script>alert(1)</script> & "quoted" \\x1b]0;owned\\x07 \\u202e \\ufffe \\ud800' in everything
    assert "<b>ILMS</b>" in everything and '<case id="x">&' in everything
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202e\ufffe\ud800]", svg)


# ---------------------------------------------------------------- text


def lines_of(chart: EvidenceChart, width: int) -> list[str]:
    return chart_text(chart, width).plain.split("\n")


@pytest.mark.parametrize("width", [80, 64, 63, 50, 34, 30])
def test_the_text_chart_fits_its_width_and_shows_every_finding(seed, knowledge, width):
    chart = hostile_chart(evidence_chart(seed, knowledge))
    lines = lines_of(chart, width)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    assert AXIS_LABEL in text.replace("\n", " ")
    for bar in chart.bars[1:]:  # every word of every finding, in order (a long one wraps under its bar)
        assert re.search(".*?".join(map(re.escape, bar.finding.split())), text, re.S), bar.finding
    assert "\x1b" not in text and "\\x1b" in text


def test_the_text_chart_diverges_from_one_centre_line_and_shades_estimates(seed, knowledge):
    chart = evidence_chart(seed, knowledge)
    lines = lines_of(chart, 80)
    rows = [line for line in lines if "│" in line][1:]  # the first is the heading "◀ PRMS│ILMS ▶"
    assert len(rows) == len(chart.bars)
    centre = {line.index("│") for line in rows}
    assert len(centre) == 1
    [c] = centre
    for line, bar in zip(rows, chart.bars):
        left, right = line[:c], line[c + 1 :]
        drawn = right if bar.log10_lr > 0 else left
        assert re.search("[█▌▐▒]", drawn) and not re.search("[█▌▐▒]", left if drawn is right else right)
        assert ("▒" in drawn) == bar.estimate and (f"{ESTIMATE_MARK} " in line) == bar.estimate
        assert f"{bar.log10_lr:+.2f}" in line
    longest = rows[0][c + 1 :] if chart.bars[0].log10_lr > 0 else rows[0][:c]
    assert len(longest.strip()) == 16  # the strongest finding fills its side at 80 columns
    heads = next(line for line in lines if "│" in line)
    assert heads.strip() == "◀ PRMS│ILMS ▶" and heads.index("│") == c


# ---------------------------------------------------------------- files


def test_eval_chart_writes_the_svg_atomically_and_refuses_an_input(tmp_path):
    out = tmp_path / "chart.svg"
    out.write_text("previous")
    result = CliRunner().invoke(main, ["eval", "--format", "report", str(SEED), "--chart", str(out)])
    assert result.exit_code == 0, result.output
    root = ET.fromstring(out.read_bytes())
    assert any(AXIS_LABEL in t for t in texts(root))
    assert [p.name for p in tmp_path.iterdir()] == ["chart.svg"]  # no temporary file left beside it
    assert "Overall" in result.stdout and "chart.svg" not in result.stdout
    case = tmp_path / "case.yaml"
    case.write_bytes(SEED.read_bytes())
    refused = CliRunner().invoke(main, ["eval", str(case), "--chart", str(case)])
    assert refused.exit_code == 2 and "--chart" in refused.output
    assert case.read_bytes() == SEED.read_bytes()


def test_eval_chart_with_several_cases_writes_one_file_per_case(tmp_path):
    result = CliRunner().invoke(main, ["eval", "--format", "json", str(SEED), str(TFCP2_CASE), "--chart", str(tmp_path / "c.svg")])
    assert result.exit_code == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["c-seed-board-q1-thigh-35m.svg", "c-headneckpathol-2022-srms-face-43f.svg"])
    for name in names:
        ET.fromstring((tmp_path / name).read_bytes())
    assert chart_paths(tmp_path / "c.svg", ["a", "a"]) == [tmp_path / "c-a.svg", tmp_path / "c-a-2.svg"]
    assert chart_beside(tmp_path / "x-report.txt") == tmp_path / "x-report-chart.svg"


def test_docs_chart_svg_is_the_seed_case_chart_of_these_rules(seed, knowledge):
    """docs/chart.svg, the README's picture, is current: remake it with
    `ddx eval cases/seed-board-q1-thigh-35m.yaml --chart docs/chart.svg` after a change to the rules."""
    docs = Path(__file__).resolve().parent.parent / "docs" / "chart.svg"
    assert docs.read_text(encoding="utf-8") == chart_svg(evidence_chart(seed, knowledge)), (
        "docs/chart.svg is stale: ddx eval cases/seed-board-q1-thigh-35m.yaml --chart docs/chart.svg"
    )
