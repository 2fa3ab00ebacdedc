from __future__ import annotations

from tests.conftest import validate


def test_suggestions_skip_tests_already_done(knowledge, analyzer):
    raw = {"id": "s", "stains": {"desmin": "positive", "alk": "negative", "myod1": "positive"}}
    a = analyzer.analyze(validate(knowledge, raw))
    assert len(a.suggestions) == 3
    assert not {"desmin", "alk", "myod1"} & {s.test for s in a.suggestions}
    gains = [s.gain for s in a.suggestions]
    assert gains == sorted(gains, reverse=True) and gains[0] > 0


def test_alk_is_suggested_between_ilms_and_imt(knowledge, analyzer):
    # an inflammatory spindle cell tumour with desmin only: IMT and ILMS lead
    raw = {"id": "s", "patient": {"age": 30}, "morphology": {"cell_types": ["spindle"],
           "inflammation_density": "prominent", "inflammation": ["plasma_cells", "foamy_histiocytes"]}}
    a = analyzer.analyze(validate(knowledge, raw))
    leaders = {r.entity for r in a.ranking[:3]}
    assert {"ilms", "imt"} <= leaders
    tests = [s.test for s in a.suggestions]
    assert "alk" in tests or "myod1" in tests or "near_haploidization" in tests
    why = " ".join(s.why for s in a.suggestions)
    assert "%" in why and ("ILMS" in why or "IMT" in why)


def test_a_test_that_cannot_change_the_ranking_is_not_suggested(knowledge, analyzer):
    # cd31 has no rule: it can never be suggested
    for case in ({"id": "a"}, {"id": "b", "stains": {"desmin": "positive"}}):
        a = analyzer.analyze(validate(knowledge, case), suggest=True)
        assert "cd31" not in {s.test for s in a.suggestions}
