"""What a researcher types first, read or refused with the words to write instead (a new user's batch trial,
2026-12-02): a size in millimetres is not ten times too big, a failed test is not a negative one, a word for
another kind of alteration is not the test's result, a site written with its depth names both keys, a
diagnosis outside the differential is not offered a look-alike's slug, and ddx's own result sheets beside the
cases are not read as cases."""

from __future__ import annotations

import csv
import json

import pytest
from pydantic import ValidationError

from ddx.knowledge.case import problems_from_validation
from tests.conftest import validate
from tests.test_sheets import run


def refused(knowledge, raw):
    with pytest.raises(ValidationError) as info:
        validate(knowledge, {"id": "t", **raw})
    found = problems_from_validation(info.value, knowledge.case_schema, file="t.yaml", case="t")
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(("written", "cm"), [("35 mm", 3.5), ("3.5cm", 3.5), (".5 cm", 0.5), ("12", 12.0), (6, 6.0)])
def test_a_size_with_its_unit_is_read_in_centimetres(knowledge, written, cm):
    assert validate(knowledge, {"id": "t", "clinical": {"size_cm": written}}).clinical.size_cm == cm


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("5 x 3 x 2 cm", "greatest dimension"),
        ("2 inches", "centimetres"),
        ("5-7 cm", "a range or a bound"),
        ("1,200 mm", "a decimal point, not a comma"),
        ("3,5 cm", "a decimal point, not a comma"),
    ],
)
def test_a_size_that_is_no_one_length_in_cm_is_refused_without_a_wrong_number(knowledge, written, said):
    problem = refused(knowledge, {"clinical": {"size_cm": written}})
    assert problem.path == "clinical.size_cm" and said in problem.message
    assert "(2)" not in problem.message and "(5)" not in problem.message  # no number offered to copy


@pytest.mark.parametrize(
    "written", ["5-10", "<1", "> 20", "3 to 4 per 10 HPF", "5-10/10 HPF", "1-2/10hpf", "5 — 10", "5 or more", "5+"]
)
def test_a_mitotic_range_or_bound_is_no_count(knowledge, written):
    problem = refused(knowledge, {"morphology": {"mitoses_per_10hpf": written}})
    assert "a range or a bound" in problem.message and "write the number alone" not in problem.message


@pytest.mark.parametrize("written", ["5th decade", "40s", "in her fifties"])
def test_a_decade_is_no_age(knowledge, written):
    problem = refused(knowledge, {"patient": {"age": written}})
    assert problem.path == "patient.age" and "a span of years" in problem.message and "(5)" not in problem.message


@pytest.mark.parametrize(
    ("site", "depth", "where"),
    [("deep thigh", "deep", "thigh"), ("subcutaneous left forearm", "superficial", "forearm"), ("thigh, deep", "deep", "thigh")],
)
def test_a_site_written_with_its_depth_names_both_keys(knowledge, site, depth, where):
    problem = refused(knowledge, {"clinical": {"site": site}})
    assert f"clinical.site: {where} and clinical.depth: {depth}" in problem.message
    assert problem.suggestions == [where]


@pytest.mark.parametrize("word", ["failed", "insufficient", "QNS", "NA", "inconclusive"])
def test_a_test_without_a_result_is_not_recorded(knowledge, word):
    case = validate(knowledge, {"id": "t", "molecular": {"alk_rearrangement": word}, "stains": {"desmin": word}})
    assert case.molecular == {} and case.stains == {}


@pytest.mark.parametrize("minus", ["−", "–"])
def test_a_typeset_minus_is_negative(knowledge, minus):
    assert validate(knowledge, {"id": "t", "stains": {"desmin": minus}}).stains["desmin"].result == "negative"


@pytest.mark.parametrize(
    ("test", "word"),
    [("alk_rearrangement", "amplified"), ("mdm2_amplification", "rearranged"), ("myod1_mutation", "not amplified")],
)
def test_a_word_for_another_kind_of_alteration_is_refused(knowledge, test, word):
    problem = refused(knowledge, {"molecular": {test: word}})
    assert problem.path == f"molecular.{test}" and problem.suggestions == ["present", "absent"]


def test_a_word_for_the_tests_own_kind_is_read(knowledge):
    written = {"alk_rearrangement": "rearranged", "pax3_foxo1_fusion": "rearranged", "mdm2_amplification": "not amplified"}
    case = validate(knowledge, {"id": "t", "molecular": {**written, "myod1_mutation": "wild type"}})
    assert case.molecular == {
        "alk_rearrangement": "present",
        "pax3_foxo1_fusion": "present",
        "mdm2_amplification": "absent",
        "myod1_mutation": "absent",
    }


def test_an_expected_diagnosis_is_offered_the_entity_among_its_words(knowledge):
    assert refused(knowledge, {"expected": "IMT (ALK+)"}).suggestions == ["imt"]
    assert validate(knowledge, {"id": "t", "expected": "FDC sarcoma"}).expected == "fdcs"


def test_a_diagnosis_outside_the_differential_is_offered_no_look_alike(knowledge):
    problem = refused(knowledge, {"expected": "Myxofibrosarcoma"})
    assert problem.suggestions == [] and "leave 'expected' out" in problem.message


@pytest.mark.parametrize(("key", "meant"), [("Diagnosis", "expected"), ("PMID", "source"), ("Comments", "notes")])
def test_a_first_guess_key_is_offered_the_key_it_means(knowledge, key, meant):
    problem = refused(knowledge, {key: "x"})
    assert problem.suggestions == [meant]


def test_a_header_in_capitals_reads_and_a_case_column_is_pointed_to_id(tmp_path):
    (tmp_path / "upper.csv").write_text("ID,Patient.Age,Stains.Desmin,Expected\nc1,40,positive,ilms\n", encoding="utf-8")
    (tmp_path / "guess.csv").write_text("Case,patient.age\nc2,40\n", encoding="utf-8")
    result = run("batch", "--format", "jsonl", "--quiet", str(tmp_path / "upper.csv"), str(tmp_path / "guess.csv"))
    rows = {r.get("id") or r["file"]: r for r in map(json.loads, result.output.splitlines()) if "summary" not in r}
    assert rows["c1"]["ranking"] and rows["c1"]["expected"] == "ilms"
    (error,) = [r for r in rows.values() if r["errors"]]
    assert "did you mean 'id' for the column 'case'" in error["errors"][0]["message"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_result_sheet_beside_the_cases_is_said_once_and_the_cases_ranked(tmp_path, fmt):
    folder = tmp_path / "series"
    folder.mkdir()
    (folder / "cases.csv").write_text("id,patient.age,stains.desmin\nc1,40,positive\nc2,9,negative\n", encoding="utf-8")
    assert run("batch", "--quiet", "--format", fmt, str(folder), "-o", str(folder / f"results.{fmt}")).exit_code == 0
    again = run("batch", "--quiet", "--format", "csv", str(folder), "-o", str(tmp_path / "again.csv"))
    assert again.exit_code == 1  # the result sheet is one error row
    with open(tmp_path / "again.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows if r["status"] == "ok"] == ["c1", "c2"]
    (error,) = [r for r in rows if r["status"] == "error"]
    assert "this is a ddx result" in error["errors"] and f"results.{fmt}" in error["file"]


@pytest.mark.parametrize(
    ("written", "intensity", "extent"),
    [
        ("3+", "strong", None),
        ("+++", "strong", None),
        ("2+", "moderate", None),
        ("1+", "weak", None),
        ("++ diffuse", "moderate", "diffuse"),
    ],
)
def test_an_intensity_grade_is_a_positive_result_of_that_intensity(knowledge, written, intensity, extent):
    finding = validate(knowledge, {"id": "t", "stains": {"desmin": written}}).stains["desmin"]
    assert (finding.result, finding.intensity, finding.extent) == ("positive", intensity, extent)


def test_a_case_id_with_an_accent_is_refused_saying_why(knowledge):
    problem = refused(knowledge, {"id": "Müller1"})
    assert problem.path == "id" and "no accents" in problem.message


def test_a_fraction_in_a_percentage_cell_is_said_beside_the_rows_other_problems(tmp_path):
    import datetime

    import openpyxl

    book = tmp_path / "frac.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["id", "clinical.size_cm", "stains.ki67", "stains.ki67.percent"])
    wb.active.append(["c1", datetime.date(2020, 1, 5), "positive", 0.4])
    wb.active.append(["c2", 5, "positive", 0.4])
    wb.save(book)
    data = json.loads(run("batch", str(book), "--format", "json", "--quiet").output)
    problems = {c["id"]: sorted(e["path"] for e in c["errors"]) for c in data["cases"]}
    assert problems == {"c1": ["clinical.size_cm", "stains.ki67.percent"], "c2": ["stains.ki67.percent"]}


def test_batch_options_that_would_be_ignored_are_refused_or_bounded(tmp_path, knowledge):
    (tmp_path / "s.csv").write_text("id,patient.age,stains.desmin\nc1,40,positive\n", encoding="utf-8")
    sheet = str(tmp_path / "s.csv")
    summary = run("batch", sheet, "--summary", str(tmp_path / "scores.xlsx"))
    assert summary.exit_code == 2 and "JSON (.json) or markdown (.md)" in summary.output
    assert not (tmp_path / "scores.xlsx").exists()
    evidence = run("batch", sheet, "--format", "csv", "--evidence", "all")
    assert evidence.exit_code == 2 and "json and jsonl output only" in evidence.output
    wide = run("batch", sheet, "--format", "csv", "--top", "50", "--quiet", "-o", str(tmp_path / "out.csv"))
    assert wide.exit_code == 0
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert sum(name.removeprefix("leader_").isdigit() for name in header) == len(knowledge.entities)


def test_an_ordinal_age_is_offered_no_number_of_years(knowledge):
    problem = refused(knowledge, {"patient": {"age": "3rd week"}})
    assert "(3)" not in problem.message and "a span of years" not in problem.message


def test_two_depths_in_a_site_name_neither_depth_for_the_writer(knowledge):
    problem = refused(knowledge, {"clinical": {"site": "deep subcutaneous thigh"}})
    assert "the one the source states (deep or superficial)" in problem.message


def test_a_misfit_result_is_said_beside_every_other_problem_of_the_molecular_results(knowledge):
    with pytest.raises(ValidationError) as info:
        validate(knowledge, {"id": "t", "molecular": {"alk_rearrangement": "amplified", "alkk": "present", "myod1_mutation": "maybe"}})
    found = problems_from_validation(info.value, knowledge.case_schema, file="t.yaml", case="t")
    assert sorted(p.path for p in found) == ["molecular.alk_rearrangement", "molecular.alkk", "molecular.myod1_mutation"]


def test_an_alteration_test_takes_every_word_and_a_deletion_its_wild_type(knowledge):
    case = validate(knowledge, {"id": "t", "molecular": {"nf1_alteration": "rearranged", "cdkn2a_deletion": "wild type"}})
    assert case.molecular == {"nf1_alteration": "present", "cdkn2a_deletion": "absent"}


@pytest.mark.parametrize(
    ("written", "offered"),
    [
        ("uterine LMS", ["lms"]),
        ("ilsm", ["ilms"]),
        ("lsm", []),
        ("MFS", []),
        ("GIST", []),
        ("LPS", []),
        ("MYOD1 mutant spindle cell RMS", ["srms_myod1", "srms"]),
        ("ALK(-) IMT", ["imt_alkneg", "imt"]),
        ("IMT, ALK−", ["imt_alkneg", "imt"]),
        ("ALK neg IMT", ["imt_alkneg", "imt"]),
        ("IMT (ALK-)", ["imt_alkneg", "imt"]),
        ("ROS1-rearranged IMT", ["imt_alkneg", "imt"]),
        ("rhabdomyosarcoma", []),
    ],
)
def test_an_expected_diagnosis_is_offered_the_most_specific_entity_it_names(knowledge, written, offered):
    assert refused(knowledge, {"expected": written}).suggestions == offered


def test_an_rms_or_lms_abbreviation_names_its_entity(knowledge):
    assert validate(knowledge, {"id": "t", "expected": "embryonal RMS"}).expected == "erms"
    assert validate(knowledge, {"id": "t", "expected": "inflammatory LMS"}).expected == "ilms"


@pytest.mark.parametrize(("written", "years"), [("6-month-old", 0.5), ("3 months of age", 0.25), ("6 months.", 0.5)])
def test_an_infants_age_as_reports_write_it_is_read(knowledge, written, years):
    assert validate(knowledge, {"id": "t", "patient": {"age": written}}).patient.age == years


def test_an_age_bound_is_no_age(knowledge):
    assert "a range or a bound" in refused(knowledge, {"patient": {"age": "over 50"}}).message


def test_wild_type_suits_every_test_and_a_refusal_names_only_the_words_own_kind(knowledge):
    case = validate(knowledge, {"id": "t", "molecular": {"alk_rearrangement": "wild type", "mdm2_amplification": "wild type"}})
    assert case.molecular == {"alk_rearrangement": "absent", "mdm2_amplification": "absent"}
    said = refused(knowledge, {"molecular": {"alk_rearrangement": "amplified"}}).message
    assert "said of an amplification, and" in said and "alteration" not in said


def test_a_result_sheet_beside_a_case_sheet_in_one_workbook_leaves_the_cases_read(tmp_path):
    import openpyxl

    book = tmp_path / "mixed.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "old results"
    wb.active.append(["id", "status", "leader_1"])
    wb.active.append(["x", "ok", "imt"])
    cases = wb.create_sheet("cases")
    cases.append(["id", "patient.age", "stains.desmin"])
    cases.append(["c1", 40, "positive"])
    wb.save(book)
    data = json.loads(run("batch", str(book), "--format", "json", "--quiet").output)
    assert [c["id"] for c in data["cases"] if c["ranking"]] == ["c1"]
    assert any("this is a ddx result" in e["message"] for c in data["cases"] for e in c["errors"])


def test_the_default_evidence_and_a_summary_without_a_suffix_are_still_taken(tmp_path):
    (tmp_path / "s.csv").write_text("id,patient.age\nc1,40\n", encoding="utf-8")
    done = run("batch", str(tmp_path / "s.csv"), "--format", "csv", "--evidence", "top", "--summary", str(tmp_path / "summary"), "-q")
    assert done.exit_code == 0 and json.loads((tmp_path / "summary").read_text(encoding="utf-8"))["cases"] == 1


def test_a_column_of_the_researchers_own_is_not_read_when_its_name_starts_with_a_hash(tmp_path):
    import openpyxl

    (tmp_path / "own.csv").write_text("id,#PMID,patient.age,#Remarks,stains.desmin\nc1,123,40,see text,positive\n", encoding="utf-8")
    book = tmp_path / "own.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["id", "#PMID", "patient.age", "stains.desmin"])
    wb.active.append(["c2", 123, 40, "positive"])
    wb.save(book)
    (tmp_path / "other.csv").write_text("id,Comments\nc3,see text\n", encoding="utf-8")
    data = json.loads(run("batch", str(tmp_path), "--format", "json", "--quiet").output)
    by_id = {c["id"]: c for c in data["cases"]}
    assert by_id["c1"]["ranking"] and by_id["c2"]["ranking"]
    assert not any(u["finding"].startswith("#") for c in (by_id["c1"], by_id["c2"]) for u in c["unused_findings"])
    (said,) = by_id["c3"]["errors"]
    assert "start its name with '#'" in said["message"] and said["suggestions"] == ["notes"]


def test_a_comment_line_above_the_header_is_named(tmp_path):
    (tmp_path / "c.csv").write_text("# exported from REDCap\nid,patient.age\nc1,40\n", encoding="utf-8")
    data = json.loads(run("batch", str(tmp_path / "c.csv"), "--format", "json", "--quiet").output)
    (error,) = data["cases"][0]["errors"]
    assert "remove a comment line" in error["message"]


def test_a_misspelt_column_is_not_told_to_become_ones_own(tmp_path):
    (tmp_path / "m.csv").write_text("id,expeted\nc1,imt\n", encoding="utf-8")
    data = json.loads(run("batch", str(tmp_path / "m.csv"), "--format", "json", "--quiet").output)
    (error,) = data["cases"][0]["errors"]
    assert error["suggestions"] == ["expected"] and "'#'" not in error["message"]


def test_a_summary_sheet_of_cases_beside_a_result_sheet_is_read(tmp_path):
    import openpyxl

    book = tmp_path / "mixed.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["id", "status", "leader_1"])
    wb.active.append(["x", "ok", "imt"])
    cases = wb.create_sheet("summary")
    cases.append(["id", "patient.age"])
    cases.append(["c1", 40])
    wb.save(book)
    data = json.loads(run("batch", str(book), "--format", "json", "--quiet").output)
    assert [c["id"] for c in data["cases"] if c["ranking"]] == ["c1"]


@pytest.mark.parametrize(
    "part, key, meant",
    [("patient", "gender", "patient.sex"), ("patient", "age_years", "patient.age"), ("clinical", "location", "clinical.site")],
)
def test_a_report_word_for_a_key_of_a_part_is_offered_the_key(knowledge, part, key, meant):
    """New-user trial: ``patient: {gender: female}`` said only "unknown key 'gender'"; a report's word for a key
    of the part is offered the key the case format names."""
    problem = refused(knowledge, {part: {key: "x"}})
    assert problem.path == f"{part}.{key}" and "unknown key" in problem.message and problem.suggestions == [meant]


def test_a_list_in_a_field_of_one_term_says_so_and_offers_the_term_it_holds(knowledge):
    """New-user trial: ``inflammation_density: [dense]`` said only "got a list"; it now says the field takes one
    term and offers the term the list holds (a synonym read as its term), else the field's terms."""
    one = refused(knowledge, {"morphology": {"inflammation_density": ["dense"]}})
    assert "takes one term, without brackets" in one.message and one.suggestions == ["prominent"]
    two = refused(knowledge, {"morphology": {"inflammation_density": ["dense", "mild"]}})
    assert two.suggestions == ["prominent", "scant"]  # the terms it holds, in its order
    # a field of many terms offers the terms the list holds, never an arbitrary few of its terms (review)
    sites = refused(knowledge, {"clinical": {"site": ["thigh", "arm"]}})
    assert "thigh" in sites.suggestions and "head_neck" not in sites.suggestions
    # nothing the list holds is a term: the terms nearest its words; a short field's terms when none is near
    near = refused(knowledge, {"morphology": {"inflammation_density": ["promient"]}})
    assert near.suggestions == ["prominent"]
    whole = refused(knowledge, {"morphology": {"inflammation_density": {"a": 1}}})
    assert whole.suggestions == knowledge.vocab.morphology["inflammation_density"].terms.terms
