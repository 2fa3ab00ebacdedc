from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ddx.case import problems_from_validation
from ddx.facts import case_facts
from ddx.loader import iter_cases
from tests.conftest import validate


def problems(knowledge, raw):
    with pytest.raises(ValidationError) as info:
        validate(knowledge, raw)
    return problems_from_validation(info.value, knowledge.vocab, file="f.yaml", case=str(raw.get("id")))


def test_synonyms_and_case_are_normalised(knowledge):
    case = validate(knowledge, {
        "id": "c1", "patient": {"age": "35", "sex": "M"},
        "clinical": {"site": "Lower Limb"},
        "morphology": {"cell_types": ["Spindle", "plump"], "inflammation": "xanthoma cells"},
        "stains": {"MyoD1": "Positive", "Desmin": "diffuse", "ALK": {"result": "pos", "pattern": "nuclear membrane"}},
        "molecular": {"near haploid": "detected"},
    })
    assert case.patient.age == 35.0 and case.patient.sex == "male"
    assert case.clinical.site == "lower_extremity" and case.clinical.site_group == "extremity"
    assert case.morphology.cell_types == ["spindle", "epithelioid"]
    assert case.morphology.inflammation == ["foamy_histiocytes"]
    assert case.stains["myod1"].result == "positive"
    assert (case.stains["desmin"].result, case.stains["desmin"].extent) == ("positive", "diffuse")
    assert case.stains["alk"].pattern == "nuclear_membrane"
    assert case.molecular == {"near_haploidization": "present"}


def test_misspelt_stain_names_key_path_and_suggests(knowledge):
    (p,) = problems(knowledge, {"id": "x", "stains": {"desmni": "positive"}})
    assert p.path == "stains.desmni"
    assert "desmin" in p.suggestions
    assert "desmni" in str(p) and "did you mean" in str(p) and "f.yaml" in str(p)


@pytest.mark.parametrize("raw, path, words", [
    ({"id": "x", "patient": {"age": 200}}, "patient.age", "120"),
    ({"id": "x", "patient": {"age": float("nan")}}, "patient.age", "finite"),
    ({"id": "x", "patient": {"age": True}}, "patient.age", "boolean"),
    ({"id": "x", "patient": {"age": "old"}}, "patient.age", "number"),
    ({"id": "x", "clinical": {"size_cm": -1}}, "clinical.size_cm", "greater than 0"),
    ({"id": "x", "clinical": {"site": "thihg"}}, "clinical.site", "thigh"),
    ({"id": "x", "morphology": {"cell_typs": ["spindle"]}}, "morphology.cell_typs", "cell_types"),
    ({"id": "x", "morphology": {"necrosis": "maybe"}}, "morphology.necrosis", "present"),
    ({"id": "x", "stains": {"desmin": {"result": "positive", "extent": "wide"}}}, "stains.desmin", "extent"),
    ({"id": "x", "molecular": {"mdm2_amplification": "perhaps"}}, "molecular.mdm2_amplification", "present"),
    ({"id": "x", "patinet": {"age": 3}}, "patinet", "patient"),
    ({"id": "a b"}, "id", "letters"),
])
def test_bad_values_are_located(knowledge, raw, path, words):
    found = problems(knowledge, raw)
    assert any(p.path and p.path.startswith(path) and words in str(p) for p in found), [str(p) for p in found]


def test_pattern_must_belong_to_the_stain(knowledge):
    found = problems(knowledge, {"id": "x", "stains": {"desmin": {"result": "positive", "pattern": "nuclear_membrane"}}})
    assert any("not a pattern of Desmin" in str(p) for p in found)


def test_duplicate_stain_after_normalisation_is_an_error(knowledge):
    found = problems(knowledge, {"id": "x", "stains": {"SMA": "positive", "sma": "negative"}})
    assert any("both name 'sma'" in str(p) for p in found)


def test_unknown_expected_entity_suggests(knowledge):
    found = problems(knowledge, {"id": "x", "expected": "ilsm"})
    assert any(p.path == "expected" and "ilms" in p.suggestions for p in found)


def test_unknown_is_not_negative(knowledge):
    facts = case_facts(validate(knowledge, {"id": "x", "stains": {"alk": "negative"}}), knowledge.vocab)
    assert facts == {"stains__alk": "negative"}
    assert case_facts(validate(knowledge, {"id": "y"}), knowledge.vocab) == {}


def test_numbers_reach_facts_as_floats(knowledge):
    facts = case_facts(validate(knowledge, {"id": "x", "patient": {"age": "5"}}), knowledge.vocab)
    assert facts["patient__age"] == 5.0 and isinstance(facts["patient__age"], float)


def test_multi_case_file_keeps_good_cases(tmp_path: Path, knowledge):
    f = tmp_path / "many.yaml"
    f.write_text("cases:\n  - {id: a, stains: {desmin: positive}}\n  - {id: b, stains: {desmni: positive}}\n"
                 "  - {id: c}\n")
    loaded = list(iter_cases(f, knowledge))
    assert [c.id for c in loaded] == ["a", "b", "c"]
    assert [c.ok for c in loaded] == [True, False, True]


@pytest.mark.parametrize("content, words", [
    ("id: [unclosed\n", "YAML syntax error"),
    ("", "empty"),
    ("!!python/object/apply:os.system ['echo hacked']\n", "YAML"),
    ("cases: 3\n", "list"),
])
def test_unreadable_files_become_error_entries(tmp_path: Path, knowledge, content, words):
    f = tmp_path / "bad.yaml"
    f.write_text(content)
    (loaded,) = list(iter_cases(f, knowledge))
    assert not loaded.ok and loaded.id == "bad.yaml"
    assert words in str(loaded.problems[0])


def test_json_case_files_are_read(tmp_path: Path, knowledge):
    f = tmp_path / "c.json"
    f.write_text('{"id": "j1", "stains": {"desmin": "positive"}}')
    (loaded,) = list(iter_cases(f, knowledge))
    assert loaded.ok and loaded.case.stains["desmin"].positive
    f.write_text('{"id": "j2", "patient": {"age": NaN}}')
    (loaded,) = list(iter_cases(f, knowledge))
    assert not loaded.ok


def test_every_sample_case_loads_with_expected_and_source(knowledge):
    from tests.conftest import CASES

    files = sorted(f for f in CASES.rglob("*.yaml") if "probes" not in f.parts)   # probes are not patients
    assert len(files) >= 5
    expected = set()
    for f in files:
        (loaded,) = list(iter_cases(f, knowledge))
        assert loaded.ok, [str(p) for p in loaded.problems]
        assert loaded.case.expected and loaded.case.source and f.stem == loaded.case.id
        expected.add(loaded.case.expected)
    assert {"ilms", "imt", "prms", "srms"} <= expected
