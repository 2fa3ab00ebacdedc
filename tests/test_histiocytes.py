"""Plain histiocytes (the contract's ``histiocytes``, "not foamy") are scored once: by infl.histiocytes, or
given a prominent infiltrate by infl.histiocytes.with-dense, and never beside foamy histiocytes, which then
stand for them. Before 2026-12-02 they were not scored at all, so a histiocyte-rich ILMS recorded with the
plain term lost the finding that defines it (histiocytes in 12/12, Merchant 1995)."""

from __future__ import annotations

import pytest

from tests.conftest import validate

PLAIN = {"infl.histiocytes", "infl.histiocytes.with-dense"}
FOAMY = {"infl.foamy-histiocytes", "infl.foamy-histiocytes.with-dense"}


@pytest.mark.parametrize(
    ("morphology", "scored_by"),
    [
        ({"inflammation": ["histiocytes"]}, {"infl.histiocytes"}),
        ({"inflammation": ["histiocytes", "lymphocytes"], "inflammation_density": "moderate"}, {"infl.histiocytes"}),
        ({"inflammation": ["histiocytes"], "inflammation_density": "prominent"}, {"infl.histiocytes.with-dense"}),
        ({"inflammation": ["histiocytes", "foamy_histiocytes"]}, {"infl.foamy-histiocytes"}),
        (
            {"inflammation": ["histiocytes", "foamy_histiocytes"], "inflammation_density": "prominent"},
            {"infl.foamy-histiocytes.with-dense"},
        ),
    ],
)
def test_histiocytes_are_scored_once_and_never_listed_unused(knowledge, analyzer, morphology, scored_by):
    analysis = analyzer.analyze(validate(knowledge, {"id": "h", "morphology": morphology}))
    fired = {e.rule for r in analysis.ranking for e in r.evidence} & (PLAIN | FOAMY)
    assert fired == scored_by
    assert ("morphology.inflammation", "histiocytes") not in {(u.path, u.value) for u in analysis.unused}


def _profile_p(knowledge, rule: str, slug: str) -> float:
    """A rule's likelihood for a profile: its own cell, else its entity's."""
    lik = knowledge.rule[rule].spec.likelihood
    if slug in lik:
        return lik[slug].p
    (entity,) = [e.slug for e in knowledge.entities if slug in {s.slug for s in e.subtypes or []}]
    return lik[entity].p


def test_plain_and_foamy_histiocytes_are_one_finding_split_in_two(knowledge):
    """The two are exclusive records of the histiocytes in the infiltrate: for every profile their
    likelihoods, alone and given a prominent infiltrate, sum to at most 1."""
    slugs = [p.slug for p in knowledge.profiles]
    for plain, foamy in (
        ("infl.histiocytes", "infl.foamy-histiocytes"),
        ("infl.histiocytes.with-dense", "infl.foamy-histiocytes.with-dense"),
    ):
        for slug in slugs:
            total = _profile_p(knowledge, plain, slug) + _profile_p(knowledge, foamy, slug)
            assert total <= 1.0 + 1e-9, (plain, slug, total)


@pytest.mark.parametrize("density", [None, "moderate", "prominent"])
def test_naming_the_histiocytes_of_an_ilms_like_case_never_lowers_ilms(knowledge, analyzer, density):
    """The direction, not a case: histiocytes named in the infiltrate (foamy or not) raise ILMS over the same
    record without them, and over the myogenic sarcomas it is told from, at every density."""

    def ranked(inflammation: list[str]) -> dict[str, float]:
        morphology: dict = {"cell_types": ["spindle"], "inflammation": inflammation}
        if density:
            morphology["inflammation_density"] = density
        raw = {"id": "i", "patient": {"age": 45}, "morphology": morphology, "stains": {"desmin": "positive"}}
        return {r.entity: r.probability for r in analyzer.analyze(validate(knowledge, raw)).ranking}

    without = ranked(["lymphocytes"])
    plain = ranked(["lymphocytes", "histiocytes"])
    foamy = ranked(["lymphocytes", "foamy_histiocytes"])
    assert without["ilms"] < plain["ilms"] <= foamy["ilms"]
    for other in ("prms", "srms", "lms"):
        assert plain["ilms"] / plain[other] > without["ilms"] / without[other]
