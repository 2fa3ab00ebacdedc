"""The published cases: the README's accuracy section is what the rules score."""

from __future__ import annotations

import yaml

from ddx.analysis import Analysis
from ddx.evaluate import accuracy_section, evaluate_paths, score
from ddx.ranking import RankedEntity
from tests.conftest import CASES, REPO
from tools.readme import ACCURACY_BEGIN, ACCURACY_END, readme_block


def test_readme_accuracy_is_what_the_cases_score(analyzer):
    analyses, ev = evaluate_paths([str(CASES)], analyzer)
    assert not ev.failed, ev.failed
    assert ev.n >= 40 and len(ev.unscored) == len(list((CASES / "probes").glob("*.yaml")))
    block = readme_block((REPO / "README.md").read_text(encoding="utf-8"), ACCURACY_BEGIN, ACCURACY_END)
    assert block is not None, "README.md has no accuracy section"
    assert accuracy_section([str(CASES)], analyzer) == block, "README accuracy is stale: run python tools/accuracy.py --write"


def test_every_published_case_cites_its_source_and_states_its_diagnosis(knowledge):
    files = sorted(f for f in CASES.rglob("*.yaml") if "probes" not in f.parts)  # probes are not patients
    assert len(files) >= 40
    for f in files:
        raw = yaml.safe_load(f.read_text(encoding="utf-8"))
        assert raw.get("expected") in knowledge.entity_slugs or raw.get("expected") in knowledge.subtype, f
        assert len(str(raw.get("source", ""))) > 20, f"{f.name}: no citation in 'source'"
        assert raw.get("notes"), f"{f.name}: notes must say what was recorded and from what"
    entities = {knowledge.parent(yaml.safe_load(f.read_text(encoding="utf-8"))["expected"]) for f in files}
    assert entities == set(knowledge.entity_slugs), set(knowledge.entity_slugs) - entities


def test_probes_are_not_patients_and_carry_no_diagnosis():
    probes = sorted((CASES / "probes").glob("*.yaml"))
    assert len(probes) >= 2
    for f in probes:
        raw = yaml.safe_load(f.read_text(encoding="utf-8"))
        assert "expected" not in raw and "source" not in raw, f
        assert "constructed" in raw["title"].lower(), f


def _analysis(expected: str, ranked: list[tuple[str, float]]) -> Analysis:
    return Analysis(case_id=f"c-{expected}", case=None, expected=expected, ranking=[RankedEntity(e, e, p, 0.0) for e, p in ranked])


def test_a_subtype_case_is_scored_at_entity_level_with_the_subtype_table_beside(knowledge):
    def ranked(case_id: str, expected: str, subtype: str | None, order: list[tuple[str, float]]) -> Analysis:
        out = [RankedEntity(e, e, p, 0.0) for e, p in order]
        for r in out:
            if r.entity == "imt":
                r.subtype, r.subtype_share = subtype, 0.9
        return Analysis(case_id=case_id, case=None, expected=expected, ranking=out)

    ev = score(
        [
            ranked("named", "eims", "eims", [("imt", 0.6), ("ilms", 0.4)]),
            ranked("not-named", "eims", "imt", [("imt", 0.6), ("ilms", 0.4)]),
            ranked("second", "eims", "eims", [("ilms", 0.6), ("imt", 0.4)]),
            ranked("entity", "imt", "eims", [("imt", 0.7), ("ilms", 0.3)]),
        ],
        knowledge,
    )
    by_id = {c.case_id: c for c in ev.cases}
    assert by_id["named"].top1 and by_id["named"].expected == "imt"
    assert by_id["not-named"].top1  # the entity is right even when the subtype is not named
    assert by_id["second"].rank == 2 and not by_id["second"].top1
    assert by_id["entity"].top1 and by_id["entity"].subtype is None
    assert ev.per_entity() == {"imt": (4, 3, 4)}
    assert ev.subtypes == {"eims": [3, 2, 2]}  # cases, entity first, subtype named
    assert ev.to_dict()["subtypes"] == {"eims": {"cases": 3, "entity_top1": 2, "subtype_named": 2}}


def test_reliability_table_bins_by_leader_probability(knowledge):
    ev = score(
        [
            _analysis("ilms", [("ilms", 0.95)]),
            _analysis("imt", [("ilms", 0.92), ("imt", 0.08)]),
            _analysis("prms", [("prms", 0.55), ("ilms", 0.45)]),
            Analysis(case_id="no-answer", case=None, ranking=[RankedEntity("ilms", "", 1.0, 0.0)]),
        ],
        knowledge,
    )
    rows = {lo: (n, round(mean, 3), right) for lo, hi, n, mean, right in ev.reliability()}
    assert rows[0.9] == (2, 0.935, 0.5)
    assert rows[0.5] == (1, 0.55, 1.0)
    assert rows[0.0][0] == 0
    assert ev.unscored == ["no-answer"]
    assert ev.per_entity() == {"ilms": (1, 1, 1), "imt": (1, 0, 1), "prms": (1, 1, 1)}
