from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ddx.facts import case_facts
from ddx.knowledge.case import problems_from_validation
from ddx.loader import iter_cases, read_cases, validate_raw
from tests.conftest import validate


def problems(knowledge, raw):
    with pytest.raises(ValidationError) as info:
        validate(knowledge, raw)
    return problems_from_validation(info.value, knowledge.case_schema, file="f.yaml", case=str(raw.get("id")))


def test_synonyms_and_case_are_normalised(knowledge):
    case = validate(
        knowledge,
        {
            "id": "c1",
            "patient": {"age": "35", "sex": "M"},
            "clinical": {"site": "Lower Limb"},
            "morphology": {"cell_types": ["Spindle", "plump"], "inflammation": "xanthoma cells"},
            "stains": {"MyoD1": "Positive", "Desmin": "diffuse", "ALK": {"result": "pos", "pattern": "nuclear membrane"}},
            "molecular": {"near haploid": "detected"},
        },
    )
    assert case.patient.age == 35.0 and case.patient.sex == "male"
    assert case.clinical.site == "lower_extremity" and case.clinical.site_group == "extremity"
    assert case.morphology.cell_types == ["spindle", "epithelioid"]
    assert case.morphology.inflammation == ["foamy_histiocytes"]
    assert case.stains["myod1"].result == "positive"
    assert (case.stains["desmin"].result, case.stains["desmin"].extent) == ("positive", "diffuse")
    assert case.stains["alk"].pattern == "nuclear_membrane"
    assert case.molecular == {"near_haploidization": "present"}
    # ALK's granular cytoplasmic staining (as pathologists write it) is the cytoplasmic pattern
    granular = validate(knowledge, {"id": "g", "stains": {"alk": {"result": "positive", "pattern": "granular"}}})
    assert granular.stains["alk"].pattern == "cytoplasmic"


def test_misspelt_stain_names_key_path_and_suggests(knowledge):
    (p,) = problems(knowledge, {"id": "x", "stains": {"desmni": "positive"}})
    assert p.path == "stains.desmni"
    assert "desmin" in p.suggestions
    assert "desmni" in str(p) and "did you mean" in str(p) and "f.yaml" in str(p)


@pytest.mark.parametrize(
    "raw, path, words",
    [
        ({"id": "x", "patient": {"age": 200}}, "patient.age", "120"),
        ({"id": "x", "patient": {"age": float("nan")}}, "patient.age", "finite"),
        ({"id": "x", "patient": {"age": True}}, "patient.age", "got true"),
        ({"id": "x", "patient": {"age": "old"}}, "patient.age", "number"),
        ({"id": "x", "clinical": {"size_cm": -1}}, "clinical.size_cm", "must be more than 0 (got -1)"),
        ({"id": "x", "clinical": {"site": "thihg"}}, "clinical.site", "thigh"),
        ({"id": "x", "morphology": {"cell_typs": ["spindle"]}}, "morphology.cell_typs", "cell_types"),
        ({"id": "x", "morphology": {"necrosis": "maybe"}}, "morphology.necrosis", "present"),
        ({"id": "x", "stains": {"desmin": {"result": "positive", "extent": "wide"}}}, "stains.desmin", "extent"),
        ({"id": "x", "molecular": {"mdm2_amplification": "perhaps"}}, "molecular.mdm2_amplification", "present"),
        ({"id": "x", "patinet": {"age": 3}}, "patinet", "patient"),
        ({"id": "a b"}, "id", "letters"),
        (
            {"id": "x", "morphology": {"pleomorphism": ["mild"]}},
            "morphology.pleomorphism",
            "expected a morphology.pleomorphism term, got a list",
        ),
        # YAML's {cell_types: spindle, epithelioid}: the comma ended the value and made a key of the second term
        (
            {"id": "x", "morphology": {"cell_types": "spindle", "epithelioid": None}},
            "morphology.epithelioid",
            "cell_types: [..., epithelioid]",
        ),
        ({"id": "x", "stains": {"ki67": {"percent": 40}}}, "stains.ki67", "write {result: positive, percent: 40}"),
        ({"id": "x", "stains": {"desmin": {"extent": "diffuse"}}}, "stains.desmin", "write {result: positive, extent: diffuse}"),
    ],
)
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
    f.write_text("cases:\n  - {id: a, stains: {desmin: positive}}\n  - {id: b, stains: {desmni: positive}}\n  - {id: c}\n")
    loaded = list(iter_cases(f, knowledge))
    assert [c.id for c in loaded] == ["a", "b", "c"]
    assert [c.ok for c in loaded] == [True, False, True]


@pytest.mark.parametrize(
    "content, words",
    [
        ("id: [unclosed\n", "YAML syntax error"),
        ("", "empty"),
        ("!!python/object/apply:os.system ['echo hacked']\n", "YAML"),
        ("cases: 3\n", "list"),
        ("id: a\nstains:\n  desmin: -\n", "write 'negative', or quote the sign"),  # a dash read as a list item
        ("id: a\nstains:\n  desmin: positive\n\tmyod1: positive\n", "bad.yaml:4: YAML syntax error: found "),
        ("id: a\nstains:\n\tdesmin: positive\n", "bad.yaml:3: YAML syntax error: found "),
        ("id: a\nnotes: |\n  first\n\tpasted from a report\n", "a tab: replace it with spaces; YAML indents with spaces only"),
    ],
)
def test_unreadable_files_become_error_entries(tmp_path: Path, knowledge, content, words):
    f = tmp_path / "bad.yaml"
    f.write_text(content)
    (loaded,) = list(iter_cases(f, knowledge))
    assert not loaded.ok and loaded.id == "bad.yaml"
    assert words in str(loaded.problems[0])


@pytest.mark.parametrize(
    "text",
    [
        "id: a\nstains:\n\tdesmin: positive\n",  # a tab opening a key
        "id: a\nstains:\n  desmin: positive\n\tmyod1: positive\n",  # a tab among indented keys
        "id: a\nnotes: |\n  first\n\tpasted from a report\n",  # a tab in a block of text
    ],
)
def test_a_tab_gets_the_same_hint_from_libyaml_and_from_pyyamls_own_parser(text):
    """libyaml and PyYAML's pure-Python parser word a tab differently; each wording gets one hint."""
    import yaml

    from ddx.yamlio import SAFE_LOADER, yaml_problem_text

    said = set()
    for loader in {yaml.SafeLoader, SAFE_LOADER}:
        with pytest.raises(yaml.MarkedYAMLError) as info:
            yaml.load(text, Loader=loader)  # noqa: S506 - safe loaders only
        said.add(yaml_problem_text(info.value, text))
    assert all(s.endswith("(a tab: replace it with spaces; YAML indents with spaces only)") for s in said), said


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

    files = sorted(f for f in CASES.rglob("*.yaml") if "probes" not in f.parts)  # probes are not patients
    assert len(files) >= 5
    expected = set()
    for f in files:
        (loaded,) = list(iter_cases(f, knowledge))
        assert loaded.ok, [str(p) for p in loaded.problems]
        assert loaded.case.expected and loaded.case.source and f.stem == loaded.case.id
        expected.add(loaded.case.expected)
    assert {"ilms", "imt", "prms", "srms"} <= expected


# --- messages for what people actually type (issue 17) ---------------------------------------------


def test_a_key_in_the_wrong_place_names_where_it_belongs(knowledge):
    def first(raw, path):
        found = [p for p in problems(knowledge, raw) if p.path == path]
        assert found, [str(p) for p in problems(knowledge, raw)]
        return found[0]

    age = first({"id": "x", "age": 40}, "age")
    assert age.suggestions == ["patient.age"] and "at the top level" in age.message
    site = first({"id": "x", "site": "thigh"}, "site")
    assert site.suggestions == ["clinical.site"] and "title" not in str(site)
    for raw, path in (({"id": "x", "mitoses": 25}, "mitoses"), ({"id": "x", "morphology": {"mitoses": 25}}, "morphology.mitoses")):
        assert first(raw, path).suggestions[0] == "morphology.mitoses_per_10hpf"
    assert first({"id": "x", "morphology": {"mitosis": 25}}, "morphology.mitosis").suggestions[0] == "morphology.mitoses_per_10hpf"
    assert first({"id": "x", "patient": {"site": "thigh"}}, "patient.site").suggestions == ["clinical.site"]
    assert first({"id": "x", "morphology": {"desmin": "positive"}}, "morphology.desmin").suggestions == ["stains.desmin"]
    assert first({"id": "x", "myod": "positive"}, "myod").suggestions == ["stains.myod1"]  # a synonym
    assert first({"id": "x", "cell_type": "spindle"}, "cell_type").suggestions == ["morphology.cell_types"]
    assert first({"id": "x", "stains": {"necrosis": "present"}}, "stains.necrosis").suggestions[0] == "morphology.necrosis"
    assert first({"id": "x", "molecular": {"desmin": "present"}}, "molecular.desmin").suggestions[0] == "stains.desmin"


def test_every_key_of_every_section_is_found_from_the_top_level(knowledge):
    """The table of where keys belong is built from the case model: a field added to a section is found too."""
    schema = knowledge.case_schema
    fields = schema.model.model_fields
    for section in ("patient", "clinical", "morphology"):
        model = next(a for a in fields[section].annotation.__args__ if a is not type(None))
        assert list(model.model_fields) == schema.keys[section]
        for key in model.model_fields:
            (p,) = problems(knowledge, {"id": "x", key: "1"})
            assert p.suggestions[0] == f"{section}.{key}", str(p)


def test_an_unquoted_yes_or_no_names_the_term_to_write(tmp_path, knowledge):
    f = tmp_path / "yes.yaml"
    f.write_text(
        "id: y\nmorphology: {necrosis: yes, pseudocapsule: no}\nmolecular: {alk_rearrangement: yes}\nstains: {desmin: yes}\n",
        encoding="utf-8",
    )
    (loaded,) = list(iter_cases(f, knowledge))
    by_path = {p.path: str(p) for p in loaded.problems}
    assert "write 'present'" in by_path["morphology.necrosis"] and "yes" in by_path["morphology.necrosis"]
    assert "write 'absent'" in by_path["morphology.pseudocapsule"]
    assert "write 'present'" in by_path["molecular.alk_rearrangement"]
    assert "positive" in by_path["stains.desmin"] and "negative" in by_path["stains.desmin"]  # no yes in its terms
    assert all(text.count("'present'") <= 1 for text in by_path.values())  # said once, not repeated as a hint


@pytest.mark.parametrize(
    "value, fix",
    [
        ("40%", "{result: positive, percent: 40}"),
        ("40 %", "{result: positive, percent: 40}"),
        (40, "{result: positive, percent: 40}"),
        ("0%", "{result: negative, percent: 0}"),
        ("strong", "{result: positive, intensity: strong}"),
        ("weak", "{result: positive, intensity: weak}"),
        ("nuclear", "{result: positive, pattern: nuclear}"),
        ("diffuse strong", "{result: positive, extent: diffuse, intensity: strong}"),
        ("positive, strong", "{result: positive, intensity: strong}"),
    ],
)
def test_a_result_given_as_another_part_of_the_stain_is_read_as_its_full_form(knowledge, value, fix):
    """'40%', 'strong', 'diffuse strong' have one reading, the full form: read as it (a bare number, which
    could be a percentage or something else, still gets the form to write)."""
    expected = dict(part.split(": ") for part in fix.strip("{}").split(", "))
    for given in (value, {"result": value}):
        if isinstance(value, int):
            (p,) = problems(knowledge, {"id": "x", "stains": {"myod1": given}})
            assert p.path == "stains.myod1" and fix in str(p), str(p)
            continue
        stain = validate(knowledge, {"id": "x", "stains": {"myod1": given}}).stains["myod1"]
        read = {k: str(int(v)) if isinstance(v, float) else str(v) for k, v in stain.model_dump().items() if v is not None}
        assert read == expected, (given, read)


@pytest.mark.parametrize(
    "value, fields",
    [
        ("focally positive", {"result": "positive", "extent": "focal"}),
        ("diffusely and strongly positive", {"result": "positive", "extent": "diffuse", "intensity": "strong"}),  # 'and' joins
        ("strong and diffuse", {"result": "positive", "extent": "diffuse", "intensity": "strong"}),
        ("weak and moderate", None),  # two intensities joined: no single reading
        ("nuclear and membrane", None),  # two patterns: never joined across 'and' into nuclear_membrane
        ("strongly positive", {"result": "positive", "intensity": "strong"}),
        ("positive (focal)", {"result": "positive", "extent": "focal"}),
        ("scattered", {"result": "positive", "extent": "focal"}),
        ("positive, negative", None),  # two results
        ("negative, focal", None),  # how a negative stain stained
        ("focal/diffuse", None),  # two extents
        ("focally diffuse", None),
        ("negative 40%", None),  # the percentage contradicts the result
        ("positive 0%", None),
        ("positive 3", None),  # a number without '%' among the words
        ("rare", None),  # entrapped muscle, or tumour? record the result
        ("positive 5%", {"result": "positive", "percent": 5.0}),
        ("focal weak", {"result": "positive", "extent": "focal", "intensity": "weak"}),
    ],
)
def test_what_reports_write_for_a_stain_is_read_when_it_has_one_reading(knowledge, value, fields):
    if fields is None:
        (p,) = problems(knowledge, {"id": "x", "stains": {"desmin": value}})
        assert p.path == "stains.desmin"
        return
    stain = validate(knowledge, {"id": "x", "stains": {"desmin": value}}).stains["desmin"]
    assert {k: v for k, v in stain.model_dump().items() if v is not None} == fields
    # beside a part it contradicts, the words are refused with the form to write; beside one that agrees
    # (written another way), read
    if "extent" in fields:
        other = "diffuse" if fields["extent"] == "focal" else "focal"
        (p,) = problems(knowledge, {"id": "x", "stains": {"desmin": {"result": value, "extent": other}}})
        assert "write {" in str(p)
        agreeing = {"focal": "focally", "diffuse": "diffusely"}.get(fields["extent"], fields["extent"])
        stain = validate(knowledge, {"id": "x", "stains": {"desmin": {"result": value, "extent": agreeing}}}).stains["desmin"]
        assert stain.extent == fields["extent"]


def test_a_finding_written_as_not_done_is_not_recorded(knowledge):
    case = validate(
        knowledge,
        {
            "id": "x",
            "stains": {"desmin": "not done", "alk": {"result": "Not performed"}, "sma": "positive", "myod1": "pending"},
            "molecular": {"alk_rearrangement": "n/a", "myod1_mutation": "absent"},
            "morphology": {"necrosis": "unknown"},
        },
    )
    assert set(case.stains) == {"sma"} and case.molecular == {"myod1_mutation": "absent"} and case.morphology.necrosis is None
    # a clinical field, a stain's part and a list's item so written are left out too; the sex keeps 'unknown'
    case = validate(
        knowledge,
        {
            "id": "x",
            "patient": {"sex": "unknown"},
            "clinical": {"depth": "N/A", "site": "thigh"},
            "stains": {"desmin": {"result": "positive", "extent": "not assessed"}},
            "morphology": {"cell_types": ["spindle", "unknown"]},
        },
    )
    assert case.patient.sex == "unknown" and case.clinical.depth is None and case.clinical.site == "thigh"
    assert case.stains["desmin"].result == "positive" and case.stains["desmin"].extent is None
    assert case.morphology.cell_types == ["spindle"]


def test_a_morphology_finding_seen_in_part_is_present_but_a_molecular_result_is_not_read_so(knowledge):
    case = validate(knowledge, {"id": "x", "morphology": {"necrosis": "focal", "rhabdomyoblasts": "rare"}})
    assert (case.morphology.necrosis, case.morphology.rhabdomyoblasts) == ("present", "present")
    # rare split signals on FISH are below the cut-off: 'rare' is no molecular result
    (p,) = problems(knowledge, {"id": "x", "molecular": {"alk_rearrangement": "rare"}})
    assert p.path == "molecular.alk_rearrangement"


def test_a_percentage_may_carry_its_sign_and_an_unknown_result_still_gets_the_nearest(knowledge):
    case = validate(knowledge, {"id": "x", "stains": {"ki67": {"result": "positive", "percent": "40 %"}}})
    assert case.stains["ki67"].percent == 40.0
    (p,) = problems(knowledge, {"id": "x", "stains": {"desmin": "posittive"}})
    assert "did you mean 'positive'" in str(p)


@pytest.mark.parametrize("part, value", [("extent", "diffuse"), ("intensity", "strong"), ("pattern", "cytoplasmic")])
def test_a_negative_stain_with_an_extent_intensity_or_pattern_is_kept_and_shown_unused(knowledge, analyzer, part, value):
    """The contract's own example writes {result: negative, extent: diffuse, ...}: accepted, never refused,
    and listed as recorded but not used, so the reader sees it was not weighed."""
    case = validate(knowledge, {"id": "x", "stains": {"desmin": {"result": "negative", part: value}}})
    assert getattr(case.stains["desmin"], part) == value
    unused = analyzer.analyze(case).unused
    assert any(u.path == f"stains.desmin.{part}" for u in unused), unused


ODD_VALUES = [[], {}, 5, -1, 1.5, True, None, "x", "", [1], {"a": 1}, "5 cm"]
ODD_PATHS = [
    "id",
    "title",
    "expected",
    "source",
    "notes",
    "patient",
    "clinical",
    "morphology",
    "stains",
    "molecular",
    "patient.age",
    "patient.sex",
    "clinical.site",
    "clinical.depth",
    "clinical.size_cm",
    "clinical.presentation",
    "clinical.symptoms",
    "morphology.cell_types",
    "morphology.necrosis",
    "morphology.pleomorphism",
    "morphology.mitoses_per_10hpf",
    "stains.desmin",
    "stains.desmin.result",
    "stains.desmin.extent",
    "stains.desmin.intensity",
    "stains.desmin.pattern",
    "stains.desmin.percent",
    "molecular.nf1_alteration",
]
PYDANTIC_WORDS = (
    "Input should",
    "Extra inputs",
    "Field required",
    "Value error",
    "valid dictionary",
    "instance of",
    "greater than",
    "less than",
)


def test_no_message_is_in_pydantic_words(knowledge):
    """Every kind of wrong value at every kind of key: each message is ddx's own, naming what was given."""
    seen = 0
    for path in ODD_PATHS:
        for value in ODD_VALUES:
            raw: dict = {"id": "x"}
            node = raw
            parts = path.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            if parts[0] == "stains" and len(parts) == 3 and parts[2] != "result":
                node["result"] = "positive"
            node[parts[-1]] = value
            try:
                validate(knowledge, raw)
            except ValidationError as exc:
                for p in problems_from_validation(exc, knowledge.case_schema, file=None, case="x"):
                    seen += 1
                    assert p.message and not any(w in str(p) for w in PYDANTIC_WORDS), (path, value, str(p))
    assert seen > 200


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"id": "x", "patient": {"age": -5}}, "must be 0 or more (got -5)"),
        ({"id": "x", "patient": {"age": 130}}, "must be 120 or less (got 130)"),
        ({"id": "x", "clinical": {"size_cm": 0}}, "must be more than 0 (got 0)"),
        ({"id": "x", "stains": {"ki67": {"result": "positive", "percent": 140}}}, "must be 100 or less (got 140)"),
        ({"id": "x", "clinical": {"size_cm": "6 km"}}, "expected a size in centimetres"),
        ({"id": "x", "morphology": {"mitoses_per_10hpf": "6 mitoses"}}, "write the number alone (6)"),
        ({"id": "x", "clinical": {"size_cm": "6,5"}}, "write a decimal point: 6.5"),
        ({"id": "x", "patient": []}, "expected a mapping (key: value), got a list"),
        ({"id": "x", "title": 5}, "expected text"),
    ],
)
def test_range_and_type_errors_say_what_was_wrong(knowledge, raw, words):
    assert any(words in str(p) for p in problems(knowledge, raw)), [str(p) for p in problems(knowledge, raw)]


def test_a_pattern_of_another_stain_is_located_at_its_key_and_says_each_thing_once(knowledge):
    (p,) = problems(knowledge, {"id": "x", "stains": {"alk": {"result": "positive", "pattern": "nuclear"}}})
    text = str(p)
    assert p.path == "stains.alk.pattern" and p.suggestions[0] == "nuclear_membrane"
    assert text.count("stains") == 1 and text.count("nuclear_membrane") == 1 and text.count("dot_like") == 1, text


def test_a_mistyped_pattern_is_told_with_the_stains_own_patterns(knowledge):
    # 'nucleur' is no pattern at all: the error reads as for a pattern of another stain, at the same key,
    # and suggests only what desmin allows (not 'nuclear', which desmin would then refuse)
    (p,) = problems(knowledge, {"id": "x", "stains": {"desmin": {"result": "positive", "pattern": "nucleur"}}})
    allowed = knowledge.vocab.stain_patterns_for("desmin")
    assert allowed is not None and "nuclear" not in allowed
    assert p.path == "stains.desmin.pattern" and "is not a pattern of" in p.message
    assert p.suggestions and set(p.suggestions) <= set(allowed), p.suggestions


def test_a_list_field_written_as_text_with_separators_is_a_list_as_in_a_sheet(knowledge):
    case = validate(
        knowledge, {"id": "x", "morphology": {"cell_types": "spindle, epithelioid", "inflammation": "lymphocytes; plasma cells"}}
    )
    assert case.morphology.cell_types == ["spindle", "epithelioid"]
    assert case.morphology.inflammation == ["lymphocytes", "plasma_cells"]
    assert validate(knowledge, {"id": "x", "morphology": {"cell_types": "spindle"}}).morphology.cell_types == ["spindle"]
    bad = problems(knowledge, {"id": "x", "morphology": {"cell_types": "spindle, epitheloid"}})
    assert [p.path for p in bad] == ["morphology.cell_types[1]"] and "epithelioid" in str(bad[0])  # each term checked


def test_what_people_type_gets_the_form_to_write(tmp_path, knowledge):
    """The second new-user pass: a pattern in brackets, a gene for a molecular test, a JSON true, a YAML
    indentation slip."""
    f = tmp_path / "typed.yaml"
    f.write_text("id: t\nstains: {ALK: positive (nuclear membrane)}\nmolecular: {ALK: rearranged}\n", encoding="utf-8")
    (loaded,) = list(iter_cases(f, knowledge))
    by_path = {p.path: p for p in loaded.problems}
    assert "stains.ALK" not in by_path  # read: {result: positive, pattern: nuclear_membrane}
    assert by_path["molecular.ALK"].suggestions[0] == "alk_rearrangement"
    j = tmp_path / "typed.json"
    j.write_text('{"id": "t", "morphology": {"necrosis": true}}', encoding="utf-8")
    (loaded,) = list(iter_cases(j, knowledge))
    [problem] = loaded.problems
    assert str(problem).count("write 'present'") == 1 and "true is a yes/no value" in str(problem) and "YAML" not in str(problem)
    y = tmp_path / "indent.yaml"
    y.write_text("id: t\nmorphology:\n  necrosis: present\n   cell_types: [spindle]\n", encoding="utf-8")
    (loaded,) = list(iter_cases(y, knowledge))
    assert "indented" in " ".join(str(p) for p in loaded.problems)


def test_the_stain_hints_offer_only_what_the_stain_would_take(knowledge):
    """Second review: a misspelt result key is named (not "write result: positive"); 0 % is negative; a
    pattern the stain does not have, or two patterns, get no single form; ',' alone is not an empty list."""
    said = {p.path: str(p) for p in problems(knowledge, {"id": "x", "stains": {"alk": {"reslt": "negative", "extent": "diffuse"}}})}
    assert "'reslt' is not a key of a stain" in said["stains.alk"]
    said = {p.path: str(p) for p in problems(knowledge, {"id": "x", "stains": {"ki67": {"percent": 0}}})}
    assert "write {result: negative, percent: 0}" in said["stains.ki67"]
    for value in ("positive (nuclear)", "positive nuclear membrane perinuclear"):
        said = {p.path: str(p) for p in problems(knowledge, {"id": "x", "stains": {"alk": value}})}
        assert "pattern: nuclear" not in said["stains.alk"] and "write {" not in said["stains.alk"], value
    assert [p.path for p in problems(knowledge, {"id": "x", "morphology": {"cell_types": ","}})] == ["morphology.cell_types[0]"]


def test_a_compound_word_records_each_term_it_stands_for(knowledge):
    """'lymphoplasmacytic' (vocabulary ``compounds``) is lymphocytes and plasma cells, without a term the
    list already names; written as a sheet cell is, beside another term, it is split first."""
    case = validate(knowledge, {"id": "c", "morphology": {"inflammation": ["Lymphoplasmacytic", "plasma cells", "eosinophils"]}})
    assert case.morphology.inflammation == ["lymphocytes", "plasma_cells", "eosinophils"]
    case = validate(knowledge, {"id": "c", "morphology": {"inflammation": "eosinophils, lymphohistiocytic"}})
    assert case.morphology.inflammation == ["eosinophils", "lymphocytes", "histiocytes"]
    assert set(case_facts(case, knowledge.vocab)["morphology__inflammation"]) == {"eosinophils", "lymphocytes", "histiocytes"}


@pytest.mark.parametrize(
    ("compounds", "words"),
    [
        ("{lymphoplasmacytic: [lymphocytes, plasma_celss]}", ["compound 'lymphoplasmacytic'", "plasma_celss", "plasma_cells"]),
        ("{lymphocytic: [lymphocytes]}", ["two or more"]),
        ("{plasmacytes: [lymphocytes, plasma_cells]}", ["already a term or synonym"]),
        ("{lymphoplasmacytic: [plasma_cells, plasmacytes]}", ["two or more"]),
    ],
)
def test_a_compound_that_cannot_stand_for_terms_is_a_vocabulary_problem(compounds, words):
    from ddx.errors import KnowledgeError
    from ddx.knowledge import load_knowledge
    from ddx.knowledge.base import packaged_rules_dir

    path = packaged_rules_dir() / "vocabulary.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("    compounds:\n")
    end = text.index("\n", text.index("lymphohistiocytic", start)) + 1
    edited = text[:start] + f"    compounds: {compounds}\n" + text[end:]
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(overrides={path: edited})
    message = str(info.value)
    assert "morphology.inflammation" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("items", "index", "nearest"),
    [
        (["lymphoplasmacytic", "eosinophls"], 1, "eosinophils"),  # the item's place as written, not after expanding
        (["eosinophils", "lymphoplasmacitic"], 1, "lymphoplasmacytic"),  # a misspelt compound is offered first
    ],
)
def test_a_wrong_word_beside_a_compound_is_named_at_its_place_with_the_nearest_word(knowledge, items, index, nearest):
    [problem] = problems(knowledge, {"id": "c", "morphology": {"inflammation": items}})
    assert problem.path == f"morphology.inflammation[{index}]"
    assert problem.suggestions[0] == nearest


def test_a_compound_is_read_with_a_hyphen_or_a_space(knowledge):
    for word in ("Lympho-plasmacytic", "lympho plasmacytic"):
        case = validate(knowledge, {"id": "c", "morphology": {"inflammation": [word]}})
        assert case.morphology.inflammation == ["lymphocytes", "plasma_cells"]


@pytest.mark.parametrize(
    ("written", "years"),
    [("3 months", 0.25), ("1 year 6 months", 1.5), ("18 months", 1.5), ("1y 6m", 1.5), ("14 days", 14 / 365.25), ("35", 35)],
)
def test_an_age_may_be_written_with_its_units(knowledge, written, years):
    """An infant's age as reports write it: months are not read as years (the old hint, 'write the number
    alone', made a 3-month-old 3 years old)."""
    case = validate(knowledge, {"id": "c", "patient": {"age": written}})
    assert case.patient.age == pytest.approx(years, abs=1e-3)


def test_an_age_that_is_not_one_says_how_to_write_it(knowledge):
    [problem] = problems(knowledge, {"id": "c", "patient": {"age": "3 cm"}})
    assert "years as a number (3)" in str(problem) and "'3 months'" in str(problem)


def test_what_reports_write_is_read(knowledge):
    """A fusion written VGLL2::NCOA2, an INI1 'retained' and a 'lost' stain."""
    case = validate(
        knowledge, {"id": "c", "molecular": {"VGLL2::NCOA2": "present"}, "stains": {"INI1": "retained", "h-caldesmon": "lost"}}
    )
    assert case.molecular == {"vgll2_rearrangement": "present"}
    assert (case.stains["ini1"].result, case.stains["h_caldesmon"].result) == ("positive", "negative")


def test_a_morphology_term_under_another_field_is_sent_where_it_belongs(knowledge):
    [problem] = problems(knowledge, {"id": "c", "morphology": {"stroma": ["storiform"]}})
    assert "a term of morphology.architecture" in str(problem) and problem.suggestions == ["morphology.architecture"]


@pytest.mark.parametrize(
    ("written", "site"),
    [
        ("left thigh", "thigh"),
        ("Thigh, right", "thigh"),
        ("thigh (left)", "thigh"),
        ("R thigh", "thigh"),
        ("left chest wall", "chest_wall"),
        ("chest wall, left", "chest_wall"),
        ("posterior thigh", "thigh"),  # a position within the region (a new user's trial, 2026-12-02)
        ("thigh, posterior", "thigh"),
        ("proximal medial thigh", "thigh"),
        ("soft tissue of the thigh", "thigh"),
        ("thigh soft tissue", "thigh"),
        ("posterior aspect of the left thigh", "thigh"),
        ("lower leg", "lower_leg"),  # a site term holding a position word stays whole
        ("floor of mouth", "floor_of_mouth"),
        ("lower leg, left", "lower_leg"),  # the longest site, not 'leg' after 'lower' is read past (a review)
        ("upper arm (right)", "upper_arm"),
        ("upper limb, left", "upper_extremity"),
        ("left-sided thigh", "thigh"),
        ("posterior abdominal wall", "retroperitoneum"),  # a synonym, not the abdominal wall behind a position
        ("abdominal wall, posterior", "retroperitoneum"),
        ("leg, lower", "lower_leg"),
        ("left thigh.", "thigh"),
        ("thigh; left", "thigh"),
    ],
)
def test_a_sites_side_is_no_error(knowledge, written, site):
    """Reports give the side and the position within a region; no rule reads them, so the site is read without
    them (and 'wall' keeps its 'l')."""
    assert validate(knowledge, {"id": "c", "clinical": {"site": written}}).clinical.site == site


def test_a_site_word_inside_an_unknown_site_is_offered_and_a_position_never_hides_an_ambiguous_word(knowledge):
    """'thigh mass' was told that no site term is near it; it holds one. 'left proximal hip' is still refused
    with every site 'hip' may mean."""
    [problem] = problems(knowledge, {"id": "c", "clinical": {"site": "thigh mass"}})
    assert problem.suggestions == ["thigh"] and "no site term is near it" not in str(problem)
    [hip] = problems(knowledge, {"id": "c", "clinical": {"site": "left proximal hip"}})
    assert set(hip.suggestions) == {"buttock", "groin", "thigh", "bone"}
    [hip_mass] = problems(knowledge, {"id": "c", "clinical": {"site": "hip mass"}})  # an ambiguous word inside
    assert set(hip_mass.suggestions) == {"buttock", "groin", "thigh", "bone"}
    # the soft tissue of a cavity is its wall or its content: refused with each, not read as the cavity
    for written in ("soft tissue of the abdomen", "soft tissues of the lower abdomen", "abdomen soft tissue", "soft tissue, abdomen"):
        [soft] = problems(knowledge, {"id": "c", "clinical": {"site": written}})
        assert set(soft.suggestions) == {"abdominal_wall", "abdomen", "retroperitoneum"}, written
    for nonsense in ("the", "soft tissue", "upper", "left of"):
        assert problems(knowledge, {"id": "c", "clinical": {"site": nonsense}}), nonsense


def test_a_word_read_past_around_a_site_may_not_be_a_site_itself(rules_copy):
    """site_sides words are dropped around a site; one that is also a site term or synonym is refused at load."""
    from ddx.knowledge import load_knowledge_partial

    v = rules_copy / "vocabulary.yaml"
    v.write_text(v.read_text().replace("site_sides: [left, right,", "site_sides: [calf, left, right,", 1))
    _, found = load_knowledge_partial(rules_copy)
    assert any("site_sides: 'calf' is a synonym of 'lower_leg'" in p.message for p in found), found


@pytest.mark.parametrize("written", ["femur", "Left femur", "tibia", "pelvic bone", "sacrum", "zygomatic bone", "rib"])
def test_a_named_bone_reads_as_the_bone_site(knowledge, written):
    """Case reports of intraosseous tumours (TFCP2-rearranged RMS, leiomyosarcoma of bone) name the bone; each
    common one reads as the site term bone, so the bone site rule scores it instead of the case being refused."""
    case = validate(knowledge, {"id": "c", "clinical": {"site": written}})
    assert case.clinical.site == "bone" and case.clinical.site_group == "bone"


def test_a_file_holding_a_list_of_cases_says_what_to_do_instead(tmp_path, knowledge):
    """A YAML or JSON file holds one case; a list of them gets an error that says so and names the ways to give
    many cases, instead of only "a case must be a mapping"."""

    for name, text in (
        ("many.yaml", "- id: a\n  stains: {desmin: positive}\n- id: b\n"),
        ("many.json", '[{"id": "a"}, {"id": "b"}, {"id": "c"}]'),
    ):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        [loaded] = list(iter_cases(path, knowledge))
        message = " ".join(str(p) for p in loaded.problems)
        assert "holds a bare list of" in message and "under a 'cases:' key" in message and "CSV sheet" in message
        path.write_text(
            "cases:\n" + "".join("  " + line + "\n" for line in text.splitlines())
            if name.endswith("yaml")
            else '{"cases": ' + text + "}",
            encoding="utf-8",
        )
        assert all(not c.problems for c in iter_cases(path, knowledge))  # the way the message names
    single = tmp_path / "one.yaml"
    single.write_text("just text\n", encoding="utf-8")
    [loaded] = list(iter_cases(single, knowledge))
    assert "a case must be a mapping" in str(loaded.problems[0]) and "bare list" not in str(loaded.problems[0])


def test_an_unknown_site_far_from_every_term_is_told_where_the_sites_are_and_its_regions(knowledge):
    """'tendon' is near no site term: no empty "did you mean", but the list's place and the regions a
    case may write instead; a near misspelling keeps its nearest term. ('hamstring' was the example until
    'gastric' became a synonym of stomach and brought it within reach: it is a thigh synonym now.)"""
    [far] = [str(p) for p in problems(knowledge, {"id": "x", "clinical": {"site": "tendon"}})]
    assert "unknown site 'tendon'" in far and "docs/case-format.md" in far and "extremity" in far and "did you mean" not in far
    assert "spinal_cord; body_cavity" in far and "viscera: lung" in far  # a group's sites in full where they fit, "..." where cut
    [near] = [str(p) for p in problems(knowledge, {"id": "x", "clinical": {"site": "thihg"}})]
    assert "did you mean 'thigh'" in near and "region" not in near
    assert validate(knowledge, {"id": "x", "clinical": {"site": "hamstring"}}).clinical.site == "thigh"
    assert validate(knowledge, {"id": "x", "clinical": {"site": "gastric"}}).clinical.site == "stomach"


def test_every_problem_of_one_stain_is_told_at_once_each_at_its_key(knowledge):
    """Regression: a stain stopped at its first problem, so {result: positve, extent: difuse, pattern: dotty}
    took three runs to correct. Now each is told, at its own key, with its nearest terms; one problem alone
    reads as it always did."""
    raw = {"id": "x", "stains": {"desmin": {"result": "positve", "extent": "difuse", "pattern": "dotty"}}}
    found = {(p.path, p.message, tuple(p.suggestions[:1])) for p in problems(knowledge, raw)}
    assert ("stains.desmin", "unknown stain result 'positve'", ("positive",)) in found
    assert ("stains.desmin.extent", "unknown extent 'difuse'", ("diffuse",)) in found
    assert any(path == "stains.desmin.pattern" and "'dotty' is not a pattern of Desmin" in message for path, message, _ in found)
    [alone] = problems(knowledge, {"id": "x", "stains": {"desmin": {"result": "positive", "extent": "difuse"}}})
    assert (alone.path, alone.message) == ("stains.desmin", "unknown extent 'difuse'")
    # a percentage out of bounds beside another problem is told too (a trial: it waited for the next run)
    both = problems(knowledge, {"id": "x", "stains": {"desmin": {"result": "positive", "extent": "difuse", "percent": 150}}})
    assert [(p.path, p.message) for p in both] == [
        ("stains.desmin", "unknown extent 'difuse'"),
        ("stains.desmin.percent", "must be 100 or less (got 150)"),
    ]
    [bound] = problems(knowledge, {"id": "x", "stains": {"desmin": {"result": "positive", "percent": 150}}})
    assert (bound.path, bound.message) == ("stains.desmin.percent", "must be 100 or less (got 150)")


def test_a_misspelt_shorthand_result_suggests_the_shorthand(knowledge):
    """{desmin: difuse}: a result field also takes the shorthand words (diffuse: positive, diffuse), so a
    misspelt one is told its nearest shorthand, not positive/negative/equivocal; a word near nothing lists
    every word the field takes."""
    for said, want in (("difuse", ["diffuse"]), ("fokal", ["focal"]), ("pachy", ["patchy"]), ("postive", ["positive"])):
        [p] = problems(knowledge, {"id": "x", "stains": {"desmin": said}})
        assert (p.path, p.message, p.suggestions) == ("stains.desmin", f"unknown stain result '{said}'", want), said
    [far] = problems(knowledge, {"id": "x", "stains": {"desmin": "xyzzy"}})
    assert far.suggestions == ["positive", "negative", "equivocal", "focal", "patchy", "diffuse", "3+", "+++", "2+", "++", "1+"]


@pytest.mark.parametrize(
    "written, meant",
    [
        ("femoral", ["thigh", "groin", "bone"]),
        ("Left tibial", ["lower_leg", "bone"]),
        ("axillary", ["chest_wall", "shoulder", "breast", "lymph_node"]),
        ("inguinal", ["groin", "lymph_node", "paratesticular"]),
        ("cervical", ["neck", "uterine_cervix", "lymph_node", "bone"]),
    ],
)
def test_a_word_that_may_name_several_sites_is_refused_with_each_of_them(knowledge, written, meant, tmp_path):
    """'femoral' is the thigh or the groin's soft tissue, or the femur: guessing either would move the ranking
    (the bone site weighs heavily), and the nearest spelling offered 'bone' alone. The hint names every site it
    may mean, in a case file and in a sheet row alike."""
    said = " ".join(str(p) for p in problems(knowledge, {"id": "c", "clinical": {"site": written}}))
    assert " or ".join(repr(m) for m in meant) in said
    sheet = tmp_path / "s.csv"
    sheet.write_text(f"id,clinical.site\nc,{written}\n", encoding="utf-8")
    [loaded] = [validate_raw(raw, knowledge) for raw in read_cases([str(sheet)], knowledge.vocab)]
    assert not loaded.ok and " or ".join(repr(m) for m in meant) in " ".join(str(p) for p in loaded.problems)


@pytest.mark.parametrize("written, site", [("popliteal", "popliteal_fossa"), ("orbital", "orbit")])
def test_a_region_adjective_with_one_meaning_reads_as_its_site(knowledge, written, site):
    assert validate(knowledge, {"id": "c", "clinical": {"site": written}}).clinical.site == site


def test_completion_offers_each_site_an_ambiguous_word_may_mean_first(knowledge):
    """The case editor completes a site as it is typed: 'axillary' offered the maxillary sinus (its letters are
    inside 'maxillary_sinus') and 'vertebral' the bone alone, through the synonym 'vertebral_body'."""
    sites = knowledge.vocab.sites
    for typed in ("axillary", "vertebral", "femoral"):
        meant = sites.ambiguous[typed]
        assert [t for t, _ in sites.complete(typed)][: len(meant)] == meant
        assert all(word == typed for _, word in sites.complete(typed)[: len(meant)])


def test_a_yaml_case_s_problems_come_in_the_order_of_its_lines(tmp_path: Path, knowledge):
    """The model reports morphology before stains; a reader fixing a file top to bottom wants its lines' order."""
    f = tmp_path / "multi.yaml"
    f.write_text(
        "id: multi\npatient: {age: 40, sex: male}\nstains:\n  desmin: {result: positve, extent: difuse}\n"
        "  myogenin: postive\nmorphology:\n  cell_types: [spindle]\n  necrosis: yes\n"
    )
    (loaded,) = list(iter_cases(f, knowledge))
    assert [(p.line, p.path) for p in loaded.problems] == [
        (4, "stains.desmin"),
        (4, "stains.desmin.extent"),
        (5, "stains.myogenin"),
        (8, "morphology.necrosis"),
    ]


@pytest.mark.parametrize(
    ("field", "written", "told"),
    [
        ("patient.age", "1/2/1980", "expected a number, got '1/2/1980', a date; write the number itself"),
        ("patient.age", "\u22123", "must be 0 or more"),  # a typeset minus is a minus, told by the bound
        ("clinical.size_cm", "\u22126", "must be more than 0"),
    ],
)
def test_a_written_date_or_a_typeset_minus_is_told_as_such(knowledge, field, written, told):
    """A trial: '1/2/1980' was told 'write the number alone (1)', and '−6' (U+2212) 'expected a number' where
    '-6' gets the field's bound."""
    section, key = field.split(".")
    [p] = problems(knowledge, {"id": "x", section: {key: written}})
    assert p.path == field and p.message.startswith(told), p.message


def test_a_stain_detail_without_a_result_names_the_sheet_column_to_add(knowledge):
    """A lone stains.ki67.percent column was told a YAML mapping to write (a trial): the message also names
    the column a sheet needs."""
    [p] = problems(knowledge, {"id": "x", "stains": {"ki67": {"percent": 10}}})
    assert p.path == "stains.ki67" and "write {result: positive, percent: 10}" in p.message
    assert p.message.endswith("in a sheet, a stains.ki67 column with the result beside it"), p.message
