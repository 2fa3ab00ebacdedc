"""Rules that read vocabulary terms a pathologist does not treat as one finding read them apart: an alveolar
pattern or nests (morph.alveolar, one finding) are not the sclerosing patterns (morph.sclerosing-pattern),
whose SRMS figure counts cords, microalveoli and pseudovascular spaces; a near-haploid karyotype reported as
complex is not also a complex karyotype (mol.complex-karyotype)."""

from __future__ import annotations

from tests.conftest import validate

BASE = {
    "id": "pattern",
    "patient": {"age": 16},
    "clinical": {"site": "extremity"},
    "stains": {"desmin": "positive"},
}


def _odds(knowledge, analyzer, architecture, a="arms", b="srms"):
    case = validate(knowledge, {**BASE, "morphology": {"architecture": architecture}} if architecture else BASE)
    analysis = analyzer.analyze(case)
    p = {r.entity: r.probability for r in analysis.ranking}
    return p[a] / p[b], analysis.matched


def test_alveolar_is_read_apart_from_the_sclerosing_patterns(knowledge, analyzer):
    alveolar, matched = _odds(knowledge, analyzer, ["alveolar"])
    assert "morph.alveolar" in matched and "morph.sclerosing-pattern" not in matched
    sclerosing, matched = _odds(knowledge, analyzer, ["microalveolar", "pseudovascular"])
    assert "morph.sclerosing-pattern" in matched and "morph.alveolar" not in matched
    plain, _ = _odds(knowledge, analyzer, [])
    # alveolar favours ARMS over SRMS; microalveoli and pseudovascular spaces favour SRMS over ARMS
    assert alveolar > 3 * plain
    assert sclerosing < plain


def test_nests_are_read_with_the_alveolar_pattern_and_counted_once(knowledge, analyzer):
    """Nests between septa are what a record calls an alveolar pattern or nests: one finding, read by
    morph.alveolar and not by the sclerosing patterns, whose SRMS figure never counted nests."""
    nested, matched = _odds(knowledge, analyzer, ["nested"])
    assert "morph.alveolar" in matched and "morph.sclerosing-pattern" not in matched
    plain, _ = _odds(knowledge, analyzer, [])
    alveolar, _ = _odds(knowledge, analyzer, ["alveolar"])
    both, _ = _odds(knowledge, analyzer, ["alveolar", "nested"])
    assert nested > 3 * plain
    assert both == alveolar  # counted once


INFLAMED_MYOGENIC = {
    "id": "karyotype",
    "patient": {"age": 40},
    "morphology": {"inflammation": ["foamy_histiocytes", "lymphocytes"]},
    "stains": {"desmin": "positive", "myod1": "positive"},
}


def test_a_near_haploid_karyotype_called_complex_is_counted_once(knowledge, analyzer):
    """A near-haploid genome has many numerical changes and may be reported as complex: with
    near-haploidization present the complex-karyotype rule (which counts against ILMS) is not scored."""

    def rank(**molecular):
        analysis = analyzer.analyze(validate(knowledge, {**INFLAMED_MYOGENIC, "molecular": molecular}))
        return analysis, {r.entity: r.probability for r in analysis.ranking}

    both, p_both = rank(near_haploidization="present", complex_karyotype="present")
    alone, p_alone = rank(near_haploidization="present")
    assert "mol.complex-karyotype" not in both.matched and "mol.near-haploid" in both.matched
    assert p_both == p_alone
    # without near-haploidization the complex karyotype counts, against ILMS
    complex_only, p_complex = rank(complex_karyotype="present")
    _, p_none = rank()
    assert "mol.complex-karyotype" in complex_only.matched and p_complex["ilms"] < p_none["ilms"] - 0.2


def test_anaemia_with_fever_is_one_inflammatory_syndrome(knowledge, analyzer):
    """Anaemia is read with fever and weight loss as one finding (clin.constitutional-symptoms): read apart, a
    case with both counted IMT's one inflammatory syndrome twice."""

    def ranking(symptoms):
        case = validate(knowledge, {**INFLAMED_MYOGENIC, "id": "symptoms", "clinical": {"symptoms": symptoms}})
        analysis = analyzer.analyze(case)
        return analysis.matched, [(r.entity, r.probability) for r in analysis.ranking]

    fever, ranked_fever = ranking(["fever"])
    both, ranked_both = ranking(["fever", "anemia"])
    anaemia, _ = ranking(["anemia"])
    assert "clin.constitutional-symptoms" in fever and "clin.constitutional-symptoms" in anaemia
    assert both == fever and ranked_both == ranked_fever


def test_anaemia_alone_favours_imt(knowledge, analyzer):
    """Anaemia, part of IMT's inflammatory syndrome (Coffin 1995), raises IMT over ILMS and LMS."""

    def probabilities(symptoms):
        clinical = {"symptoms": symptoms} if symptoms else {}
        analysis = analyzer.analyze(validate(knowledge, {**INFLAMED_MYOGENIC, "id": "anaemia", "clinical": clinical}))
        return {r.entity: r.probability for r in analysis.ranking}

    with_anaemia, without = probabilities(["anemia"]), probabilities([])
    assert with_anaemia["imt"] / with_anaemia["ilms"] > 3 * without["imt"] / without["ilms"]
    assert with_anaemia["imt"] / with_anaemia["lms"] > 3 * without["imt"] / without["lms"]
