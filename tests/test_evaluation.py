"""The published cases: the README's accuracy section is what the rules score."""

from __future__ import annotations

import yaml

from ddx.analysis import Analysis
from ddx.evaluate import evaluate_paths, readme_block, render_markdown, score
from ddx.ranking import RankedEntity
from tests.conftest import CASES, REPO


def test_readme_accuracy_is_what_the_cases_score(analyzer):
    analyses, ev = evaluate_paths([str(CASES)], analyzer)
    assert not ev.failed, ev.failed
    assert ev.n >= 40 and not ev.unscored
    block = readme_block((REPO / "README.md").read_text(encoding="utf-8"))
    assert block is not None, "README.md has no accuracy section"
    assert render_markdown(ev) == block, "README accuracy is stale: run python tools/accuracy.py --write"


def test_every_published_case_cites_its_source_and_states_its_diagnosis(knowledge):
    files = sorted(CASES.glob("*.yaml"))
    assert len(files) >= 40
    for f in files:
        raw = yaml.safe_load(f.read_text(encoding="utf-8"))
        assert raw.get("expected") in knowledge.entity_slugs, f
        assert len(str(raw.get("source", ""))) > 20, f"{f.name}: no citation in 'source'"
        assert raw.get("notes"), f"{f.name}: notes must say what was recorded and from what"
    entities = {yaml.safe_load(f.read_text(encoding="utf-8"))["expected"] for f in files}
    assert entities == set(knowledge.entity_slugs), set(knowledge.entity_slugs) - entities


def _analysis(expected: str, ranked: list[tuple[str, float]]) -> Analysis:
    return Analysis(case_id=f"c-{expected}", case=None, expected=expected,
                    ranking=[RankedEntity(e, e, p, 0.0) for e, p in ranked])


def test_variant_answer_counts_for_its_parent_but_not_the_reverse(knowledge):
    ev = score([_analysis("imt", [("eims", 0.6), ("imt", 0.4)]),
                _analysis("eims", [("imt", 0.6), ("eims", 0.4)])], knowledge)
    by_id = {c.case_id: c for c in ev.cases}
    assert by_id["c-imt"].top1 and by_id["c-imt"].rank == 1
    assert not by_id["c-eims"].top1 and by_id["c-eims"].rank == 2
    assert ev.top1 == 0.5 and ev.top3 == 1.0


def test_reliability_table_bins_by_leader_probability(knowledge):
    ev = score([_analysis("ilms", [("ilms", 0.95)]), _analysis("imt", [("ilms", 0.92), ("imt", 0.08)]),
                _analysis("prms", [("prms", 0.55), ("ilms", 0.45)]),
                Analysis(case_id="no-answer", case=None, ranking=[RankedEntity("ilms", "", 1.0, 0.0)])],
               knowledge)
    rows = {lo: (n, round(mean, 3), right) for lo, hi, n, mean, right in ev.reliability()}
    assert rows[0.9] == (2, 0.935, 0.5)
    assert rows[0.5] == (1, 0.55, 1.0)
    assert rows[0.0][0] == 0
    assert ev.unscored == ["no-answer"]
    assert ev.per_entity() == {"ilms": (1, 1, 1), "imt": (1, 0, 1), "prms": (1, 1, 1)}
