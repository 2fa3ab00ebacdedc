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
