"""What the lead rests on (ddx.ranking.LeadBasis): cited figures against estimates, in every output."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from ddx.analysis import Analysis, Analyzer
from ddx.cli.main import main
from ddx.knowledge import Knowledge, load_knowledge
from ddx.loader import iter_cases
from ddx.ranking import LeadBasis, fold_text

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "cases" / "seed-board-q1-thigh-35m.yaml"


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge()


@pytest.fixture(scope="module")
def analyzer(knowledge: Knowledge) -> Analyzer:
    return Analyzer(knowledge)


@pytest.fixture(scope="module")
def analyses(knowledge: Knowledge, analyzer: Analyzer) -> list[Analysis]:
    """Every sample case ranked once, without next tests."""
    out = []
    for path in sorted((REPO / "cases").rglob("*.yaml")):
        for loaded in iter_cases(path, knowledge):
            if loaded.case is not None:
                out.append(analyzer.analyze(loaded.case, suggest=False))
    return out


def seed_analysis(analyses: list[Analysis]) -> Analysis:
    return next(a for a in analyses if a.case_id == "seed-board-q1-thigh-35m")


def test_the_parts_sum_to_the_score_difference_and_match_the_evidence_lists(analyses: list[Analysis]):
    # the basis comes from the ranker's tables per rule and profile; the entities' own evidence lists (built
    # another way, per entity) must give the same split: each finding's log10(p_leader / p_runner-up), cited
    # only when both figures are cited; and the two parts the difference of the scores
    seen = 0
    for analysis in analyses:
        basis = analysis.lead_basis
        first, second = analysis.ranking[:2]
        assert basis is not None and (basis.leader, basis.runner_up) == (first.entity, second.entity)
        assert math.isclose(basis.findings, first.score - second.score, abs_tol=1e-9)
        theirs = {e.rule: e for e in second.evidence}
        assert {e.rule for e in first.evidence} == set(theirs)  # every matched scoring rule, for each profile
        cited, estimated = [], []
        for e in first.evidence:
            other = theirs[e.rule]
            (estimated if e.estimate or other.estimate else cited).append(math.log10(e.p_used / other.p_used))
        assert math.isclose(basis.cited, math.fsum(cited), abs_tol=1e-9)
        assert math.isclose(basis.estimated, math.fsum(estimated), abs_tol=1e-9)
        seen += 1
    assert seen > 100


def test_the_sentence_says_what_the_lead_rests_on():
    supported = LeadBasis("ilms", "prms", 0.5, 0.3)
    assert supported.sentence() == (
        "The findings favour ILMS over PRMS by +0.80 (log10, about 6.3-fold): +0.50 from findings cited for both, "
        "+0.30 from findings with an estimate for either."
    )
    assert not supported.on_estimates
    on_estimates = LeadBasis("ilms", "prms", -0.46, 1.33)
    assert on_estimates.on_estimates
    assert on_estimates.sentence().endswith("The findings' margin rests on estimates: the cited figures alone favour PRMS.")
    neither = LeadBasis("ilms", "prms", 0.003, 0.4)  # +0.00 as shown: the cited figures separate neither
    assert neither.on_estimates and neither.sentence().endswith("the cited figures alone separate neither.")
    # the findings favour the runner-up: the sentence is turned round, and the leader leads on its prior
    by_prior = LeadBasis("imt", "ilms", 1.73, -2.38, leader_subtypes=True)
    assert not by_prior.on_estimates
    assert by_prior.sentence() == (
        "The findings favour ILMS over IMT by +0.65 (log10, about 4.5-fold): -1.73 from findings cited for both, "
        "+2.38 from findings with an estimate for either; IMT leads on its prior and the sum over its subtypes."
    )
    # findings that separate neither (nothing scored, or a margin that shows as +0.00)
    assert (
        LeadBasis("imt", "lms", 0.0, 0.0).sentence() == "The recorded findings do not separate IMT from LMS; IMT leads on its prior."
    )
    assert not LeadBasis("imt", "lms", -0.003, 0.004).on_estimates
    assert LeadBasis("a", "b", 0.0, 4.0).sentence(name=str).startswith("The findings favour a over b by +4.00 (log10, about 10⁴-fold)")
    # a large lead says its power of ten; a cited margin of -0.02 beside it is not 'favour' (a trial)
    big = LeadBasis("imt", "alkh", -0.02, 7.24).sentence()
    assert "(log10, about 10⁷-fold)" in big and big.endswith("the cited figures alone separate neither."), big
    assert LeadBasis("imt", "alkh", -0.12, 7.24).sentence().endswith("the cited figures alone favour ALKH.")
    assert fold_text(2.99) == "about 977-fold" and fold_text(3.0) == "about 10³-fold"


def test_a_single_ranked_entity_has_no_basis(analyzer: Analyzer, analyses: list[Analysis]):
    analysis = seed_analysis(analyses)
    assert analyzer.ranker.lead_basis(analysis.matched, analysis.ranking[:1]) is None
    assert analyzer.ranker.lead_basis(analysis.matched, analysis.ranking) == analysis.lead_basis


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_output_carries_it(knowledge: Knowledge, analyses: list[Analysis]):
    analysis = seed_analysis(analyses)
    basis = analysis.lead_basis
    assert basis is not None and basis.on_estimates  # the board-review case: a lead that rests on estimates
    full = json.loads(run("eval", "--format", "json", str(SEED)))
    assert full["lead_basis"] == basis.to_dict()
    lean = json.loads(run("batch", "--format", "jsonl", "-q", str(SEED)).splitlines()[0])
    assert lean["detail"] == "lean" and lean["lead_basis"] == basis.to_dict()
    sentence = basis.sentence(knowledge.short_name)
    assert "The findings' margin rests on estimates: the cited figures alone favour PRMS." in sentence
    assert sentence in " ".join(run("eval", str(SEED)).replace("│", " ").split())
    assert sentence in run("eval", "--format", "markdown", str(SEED))
    # the TUI's detail pane of the leader and of the runner-up, not of a third entity
    from ddx.tui.differential import entity_detail

    shown = [sentence in " ".join(entity_detail(r, analysis, knowledge).plain.split()) for r in analysis.ranking[:3]]
    assert shown == [True, True, False]
    rows = list(csv.DictReader(io.StringIO(run("batch", "--format", "csv", "-q", str(SEED)))))
    assert float(rows[0]["lead_cited"]) == round(basis.cited, 4)
    assert float(rows[0]["lead_estimated"]) == round(basis.estimated, 4)


def test_an_error_row_has_no_basis(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nstains: {desmn: positive}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["batch", "--format", "csv", "-q", str(bad)], catch_exceptions=False)
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows[0]["status"] == "error" and rows[0]["lead_cited"] == "" and rows[0]["lead_estimated"] == ""
    lean = CliRunner().invoke(main, ["batch", "--format", "jsonl", "-q", str(bad)], catch_exceptions=False).output
    line = json.loads(lean.splitlines()[0])
    assert line["errors"] and line["lead_basis"] is None


def test_a_figure_s_condition_is_named_once():
    """'~3 % of ALK-rearranged ALK-rearranged IMT' (a trial): a name that already says the condition keeps it
    once; other names are prefixed as before."""
    from ddx.ranking import given_name

    assert given_name("ALK-rearranged", "ALK-rearranged IMT") == "ALK-rearranged IMT"
    assert given_name("ALK-rearranged", "ALKH") == "ALK-rearranged ALKH"
    assert given_name("desmin-positive", "ILMS") == "desmin-positive ILMS" and given_name(None, "ILMS") == "ILMS"
