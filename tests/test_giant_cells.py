"""Multinucleated / tumour giant cells are scored once: by their own rule when the record gives no
pleomorphism and no Touton cells, otherwise by the rule whose cells they are (marked pleomorphism, Touton
cells), and listed as "recorded, not used" beside a recorded grade of none, mild or moderate."""

from __future__ import annotations

import pytest

from tests.conftest import validate

GIANT = "morph.giant-cells"
SCORERS = {GIANT, "morph.pleomorphism.marked", "infl.touton"}


@pytest.mark.parametrize(
    ("morphology", "scored_by", "listed_unused"),
    [
        ({"cell_types": ["spindle", "multinucleated_giant"]}, {GIANT}, False),
        ({"cell_types": ["multinucleated_giant"], "pleomorphism": "marked"}, {"morph.pleomorphism.marked"}, False),
        ({"cell_types": ["pleomorphic", "multinucleated_giant"]}, {"morph.pleomorphism.marked"}, False),
        (
            {"cell_types": ["multinucleated_giant"], "inflammation": ["touton_giant_cells"]},
            {"infl.touton"},
            False,
        ),
        ({"cell_types": ["multinucleated_giant"], "pleomorphism": "mild"}, set(), True),
        ({"cell_types": ["multinucleated_giant"], "pleomorphism": "moderate"}, set(), True),
    ],
)
def test_giant_cells_are_scored_once_or_listed_unused(knowledge, analyzer, morphology, scored_by, listed_unused):
    analysis = analyzer.analyze(validate(knowledge, {"id": "g", "morphology": morphology}))
    fired = {e.rule for r in analysis.ranking for e in r.evidence} & SCORERS
    assert fired == scored_by
    unused = {(u.path, u.value) for u in analysis.unused}
    assert (("morphology.cell_types", "multinucleated_giant") in unused) is listed_unused


def test_giant_cells_without_a_grade_favour_the_pleomorphic_sarcomas_over_imt_and_srms(knowledge, analyzer):
    """The finding's direction, not a case: PRMS and UPS above IMT, EIMS and SRMS; ARMS (wreath-like cells)
    above ERMS."""
    lik = knowledge.rule[GIANT].spec.likelihood
    for high in ("prms", "ups"):
        for low in ("imt", "eims", "srms"):
            assert lik[high].p > 5 * lik[low].p
    assert lik["arms"].p > lik["erms"].p
    base = analyzer.analyze(validate(knowledge, {"id": "a", "stains": {"desmin": "positive"}}))
    giant = analyzer.analyze(
        validate(knowledge, {"id": "b", "stains": {"desmin": "positive"}, "morphology": {"cell_types": ["multinucleated_giant"]}})
    )
    before = {r.entity: r.probability for r in base.ranking}
    after = {r.entity: r.probability for r in giant.ranking}
    assert after["prms"] > before["prms"] and after["imt"] < before["imt"]


def test_the_what_if_of_marked_pleomorphism_drops_the_giant_cell_rule_it_would_silence(knowledge, analyzer):
    """Regression (a review): the band's what-if ("were marked pleomorphism found, X would lead") added the
    pleomorphism rule but kept morph.giant-cells, which stops matching once a grade is recorded, so it
    ranked a case that cannot exist. Now, for every published case without a grade given giant cells, the
    what-if's posterior is the posterior of the case with marked pleomorphism recorded."""
    from ddx.facts import case_facts
    from ddx.loader import iter_cases
    from tests.conftest import CASES

    checked = 0
    for path in sorted(CASES.glob("*.yaml")):
        for loaded in iter_cases(path, knowledge):
            case = loaded.case
            m = case.morphology if case is not None else None
            if case is None or (m and (m.pleomorphism or "pleomorphic" in m.cell_types or "touton_giant_cells" in m.inflammation)):
                continue  # a grade, a pleomorphic cell type or Touton cells: giant cells are not this rule's
            raw = case.model_dump(exclude_none=True)
            morphology = raw.setdefault("morphology", {})
            morphology["cell_types"] = sorted({*morphology.get("cell_types", []), "multinucleated_giant"})
            before = analyzer.analyze(validate(knowledge, raw), suggest=False)
            assert GIANT in before.matched
            morphology["pleomorphism"] = "marked"
            after = analyzer.analyze(validate(knowledge, raw), suggest=False)
            assert GIANT not in after.matched and "morph.pleomorphism.marked" in after.matched
            facts = case_facts(before.case, knowledge.vocab)
            if not analyzer.unrecorded("morph.pleomorphism.marked", facts, before.matched):
                continue
            what_if = analyzer.what_if_matched(before.matched, ["morph.pleomorphism.marked"])
            assert analyzer.ranker.posterior(what_if) == analyzer.ranker.posterior(after.matched), case.id
            # and the band's question, "would marked pleomorphism change the leader?", answers as recording it does
            said = analyzer.overturned(["morph.pleomorphism.marked"], facts, before.matched, before.ranking)
            leader = after.ranking[0].entity
            # (it asks "all present" first; an answer for "all absent" means "present" changed nothing)
            assert (said.entity if said is not None and said.present else before.ranking[0].entity) == leader, case.id
            checked += 1
    assert checked >= 20


def test_what_a_condition_needs_unrecorded_and_what_supposing_it_records(knowledge):
    """requires_unrecorded: the keys every alternative of a condition needs unrecorded; supposed_keys: the keys
    supposing the finding found records (not those read only as "not recorded" or as a list's exclusion)."""
    from ddx.knowledge.conditions import parse_condition, requires_unrecorded, supposed_keys

    giant = knowledge.rule[GIANT].condition
    assert requires_unrecorded(giant) == {"morphology__pleomorphism"}
    marked = knowledge.rule["morph.pleomorphism.marked"].condition
    assert requires_unrecorded(marked) == set() and "morphology__pleomorphism" in supposed_keys(marked)
    either = parse_condition({"any": [{"morphology.necrosis": {"known": False}}, {"stains.desmin": "positive"}]}, knowledge.vocab)
    assert requires_unrecorded(either) == set()  # one alternative holds with necrosis recorded
    assert supposed_keys(either) == {"stains__desmin"}
    listed = parse_condition({"not": {"morphology.cell_types": {"contains": "pleomorphic"}}}, knowledge.vocab)
    assert supposed_keys(listed) == set()  # "not recorded, or recorded without it": supposes nothing recorded
