"""Neurofibromatosis type 1 (``clinical.symptoms: [neurofibromatosis_type_1]``) is read: it raises inflammatory
rhabdomyoblastic tumour (2 of 13 patients in the 2024 series) and embryonal RMS (the RMS of NF1 patients were
all embryonal) over the rest, and with a myogenic marker it points outside the differential to the malignant
Triton tumour, an MPNST with rhabdomyoblasts, which the ranking cannot weigh."""

from __future__ import annotations

import pytest

from tests.conftest import validate

NF1 = ["neurofibromatosis_type_1"]


def _analysis(knowledge, analyzer, symptoms, stains):
    raw = {"id": "n", "patient": {"age": 30}, "clinical": {"site": "thigh", "symptoms": symptoms}, "stains": stains}
    return analyzer.analyze(validate(knowledge, raw))


def test_nf1_raises_irmt_and_embryonal_rms_over_the_rest_and_is_not_listed_unused(knowledge, analyzer):
    without = {r.entity: r.probability for r in _analysis(knowledge, analyzer, ["pain"], {"desmin": "positive"}).ranking}
    a = _analysis(knowledge, analyzer, ["pain", *NF1], {"desmin": "positive"})
    with_nf1 = {r.entity: r.probability for r in a.ranking}
    for favoured in ("ilms", "erms"):
        for other in ("prms", "srms", "lms", "imt", "arms"):
            assert with_nf1[favoured] / with_nf1[other] > without[favoured] / without[other], (favoured, other)
    assert ("clinical.symptoms", "neurofibromatosis_type_1") not in {(u.path, u.value) for u in a.unused}


@pytest.mark.parametrize(
    ("symptoms", "stains", "points"),
    [
        (NF1, {"desmin": "positive"}, True),
        (NF1, {"myogenin": "positive"}, True),
        (NF1, {"myod1": "positive", "desmin": "negative"}, True),
        (NF1, {"desmin": "negative", "sma": "positive"}, False),
        (["pain"], {"desmin": "positive", "myogenin": "positive"}, False),
    ],
)
def test_a_myogenic_tumour_in_nf1_points_to_the_malignant_triton_tumour(knowledge, analyzer, symptoms, stains, points):
    a = _analysis(knowledge, analyzer, symptoms, stains)
    slugs = {p.slug for p in a.outside.pointers}
    assert ("mpnst" in slugs) is points
    if points:
        assert a.confidence.band == "outside"
