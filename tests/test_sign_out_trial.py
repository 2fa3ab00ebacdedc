"""What a pathologist writes at sign-out, read as written or refused with what to write (a new user's trial,
2026-12-02): a mitotic count over another number of fields is not copied as if it were per 10 HPF, a count per
mm² is pointed to its own key, and "ND" (not done, or not detected?) is read as neither."""

from __future__ import annotations

import re

import pytest

from ddx.errors import KnowledgeError
from ddx.knowledge import packaged_rules_dir
from ddx.knowledge.load import load_vocabulary
from tests.conftest import validate
from tests.test_first_guess_input import refused


@pytest.mark.parametrize(
    "written", ["6/10 HPF", "6 per 10 HPF", "6 mitoses per 10 high-power fields", "6 mitoses/10 HPFs", "6/10hpf", 6, "6"]
)
def test_a_count_per_10_hpf_is_read_with_its_unit(knowledge, written):
    assert validate(knowledge, {"id": "t", "morphology": {"mitoses_per_10hpf": written}}).morphology.mitoses_per_10hpf == 6


@pytest.mark.parametrize(
    ("written", "per_10"), [("5/50 HPF", "1"), ("3 per HPF", "30"), ("12 per 20 HPF", "6"), ("7 mitoses in 50 HPF", "1.4")]
)
def test_a_count_over_other_fields_is_refused_with_the_count_per_10_to_write(knowledge, written, per_10):
    problem = refused(knowledge, {"morphology": {"mitoses_per_10hpf": written}})
    assert problem.path == "morphology.mitoses_per_10hpf"
    assert problem.message.endswith(f"per 10 HPF: write {per_10}"), problem.message


def test_a_count_per_mm2_is_pointed_to_its_own_key_and_back(knowledge):
    problem = refused(knowledge, {"morphology": {"mitoses_per_10hpf": "2/mm2"}})
    assert "morphology.mitoses_per_mm2" in problem.message and "write 2" not in problem.message
    problem = refused(knowledge, {"morphology": {"mitoses_per_mm2": "4 per 10 HPF"}})
    assert "morphology.mitoses_per_10hpf" in problem.message
    assert validate(knowledge, {"id": "t", "morphology": {"mitoses_per_mm2": "2/mm²"}}).morphology.mitoses_per_mm2 == 2


@pytest.mark.parametrize("written", ["1_0", "inf", "nan", "0x10"])
def test_a_number_only_python_reads_is_refused(knowledge, written):
    problem = refused(knowledge, {"morphology": {"mitoses_per_10hpf": written}})
    assert problem.path == "morphology.mitoses_per_10hpf"


@pytest.mark.parametrize(
    ("raw", "path", "negative"),
    [
        ({"stains": {"desmin": "ND"}}, "stains.desmin", "negative"),
        ({"stains": {"desmin": {"result": "n.d.", "extent": "focal"}}}, "stains.desmin", "negative"),
        ({"molecular": {"alk_rearrangement": "N/D"}}, "molecular.alk_rearrangement", "absent"),
    ],
)
def test_nd_is_refused_with_both_readings(knowledge, raw, path, negative):
    problem = refused(knowledge, raw)
    assert problem.path == path
    assert "not done or not detected" in problem.message and f"write {negative}" in problem.message
    assert not problem.suggestions  # neither reading offered as the fix


def test_a_word_read_already_cannot_be_listed_as_either_reading(tmp_path):
    text = (packaged_rules_dir() / "vocabulary.yaml").read_text(encoding="utf-8")
    assert "not_done_or_negative: [nd," in text
    path = tmp_path / "vocabulary.yaml"
    path.write_text(text.replace("not_done_or_negative: [nd,", "not_done_or_negative: [na, neg, nd,"), encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_vocabulary(path)
    said = [str(p) for p in caught.value.problems]
    assert any("'na'" in s and "not done" in s for s in said) and any("'neg'" in s for s in said), said


def _eims(knowledge, pattern, ranbp2):
    return validate(
        knowledge,
        {
            "id": "eims",
            "patient": {"age": 38},
            "morphology": {"cell_types": ["epithelioid"], "inflammation": ["neutrophils"]},
            "stains": {"alk": {"result": "positive", "pattern": pattern}, "desmin": "positive"},
            "molecular": {"ranbp2_alk_fusion": ranbp2},
        },
    )


def test_a_fusion_the_alk_pattern_stands_for_is_not_listed_as_unused(knowledge, analyzer):
    """The RANBP2 rule is held back when the nuclear-membrane pattern is recorded (the pattern's figures stand
    for it): the fusion was listed as "recorded, not used by the ranking", read as ignored."""
    nuclear = analyzer.analyze(_eims(knowledge, "nuclear_membrane", "present"))
    assert "ihc.alk.nuclear-membrane" in nuclear.matched and "mol.alk-partner.ranbp2" not in nuclear.matched
    assert not [u for u in nuclear.unused if u.path == "molecular.ranbp2_alk_fusion"]
    # a fusion found absent is not what the pattern stands for; with a cytoplasmic pattern the fusion's own rule reads it
    absent = analyzer.analyze(_eims(knowledge, "nuclear_membrane", "absent"))
    assert [u.value for u in absent.unused if u.path == "molecular.ranbp2_alk_fusion"] == ["absent"]
    cytoplasmic = analyzer.analyze(_eims(knowledge, "cytoplasmic", "present"))
    assert "mol.alk-partner.ranbp2" in cytoplasmic.matched
    assert not [u for u in cytoplasmic.unused if u.path == "molecular.ranbp2_alk_fusion"]


@pytest.mark.parametrize("written", ["45 yo", "45 y.o.", "45 y/o", "45yo", "45 yrs old", "45-year-old"])
def test_an_age_as_a_report_abbreviates_it_is_read(knowledge, written):
    assert validate(knowledge, {"id": "t", "patient": {"age": written}}).patient.age == 45


@pytest.mark.parametrize(
    ("section", "written", "term"),
    [
        ("stains", "ALK (D5F3)", "alk"),
        ("stains", "keratin AE1/AE3", "keratin"),
        ("stains", "pan-keratin (AE1/AE3)", "keratin"),
        ("molecular", "ALK (FISH)", "alk_rearrangement"),
    ],
)
def test_a_name_given_with_its_clone_or_other_name_is_that_term(knowledge, section, written, term):
    value = "negative" if section == "stains" else "absent"
    case = validate(knowledge, {"id": "t", section: {written: value}})
    assert list(getattr(case, section)) == [term]


def test_two_names_of_different_terms_are_refused_and_a_repeat_is_a_duplicate(knowledge):
    problem = refused(knowledge, {"stains": {"ALK (desmin)": "positive"}})
    assert problem.path == "stains.ALK (desmin)" and "unknown stain" in problem.message
    problem = refused(knowledge, {"stains": {"ALK (D5F3)": "negative", "alk": "positive"}})
    assert "both name 'alk'" in problem.message


@pytest.mark.parametrize(("key", "meant"), [("IHC", "stains"), ("Immunohistochemistry", "stains"), ("genetics", "molecular")])
def test_a_section_under_another_name_is_pointed_to_its_key(knowledge, key, meant):
    problem = refused(knowledge, {key: {"desmin": "positive"}})
    assert problem.suggestions == [meant]


@pytest.mark.parametrize(
    ("written", "site"), [("uterine corpus", "uterus"), ("myometrium", "uterus"), ("small bowel mesentery", "mesentery")]
)
def test_a_site_as_reports_name_it(knowledge, written, site):
    assert validate(knowledge, {"id": "t", "clinical": {"site": written}}).clinical.site == site


def test_the_markdown_table_says_what_its_score_is_and_imt_names_its_alk_rearranged_profile(knowledge, analyzer):
    from ddx.render import SCORE_LEGEND, render_markdown

    case = validate(
        knowledge,
        {
            "id": "imt",
            "patient": {"age": 7},
            "clinical": {"site": "mesentery"},
            "morphology": {"cell_types": ["spindle"], "inflammation": ["plasma_cells", "lymphocytes"]},
            "stains": {"alk": {"result": "positive", "pattern": "cytoplasmic"}, "desmin": "positive"},
        },
    )
    analysis = analyzer.analyze(case)
    text = render_markdown(analysis, knowledge)
    assert SCORE_LEGEND in text and "leaves out the prior" in SCORE_LEGEND
    assert analysis.ranking[0].entity == "imt" and knowledge.profile_short("imt") == "ALK-rearranged IMT"


@pytest.mark.parametrize(
    ("typed", "fields"),
    [
        ("desmin strong", {"result": "positive", "intensity": "strong"}),
        ("alk cytoplasmic", {"result": "positive", "pattern": "cytoplasmic"}),
        ("desmin weak focal", {"result": "positive", "intensity": "weak", "extent": "focal"}),
    ],
)
def test_an_entry_line_with_an_intensity_or_pattern_alone_is_positive_as_in_a_file(knowledge, typed, fields):
    """'desmin strong' dropped 'strong' and sent the focus to the result list, where the next line's typing
    ('alk positive') chose Desmin's result; a case file reads the same words as positive."""
    from ddx.entry import parse_finding

    found = parse_finding(typed, "stains", knowledge.vocab)
    assert found.complete and found.fields == fields
    name, _, words = typed.partition(" ")
    in_file = validate(knowledge, {"id": "t", "stains": {name: words}}).stains[name]
    assert {k: v for k, v in in_file.model_dump().items() if v is not None and k in fields} == fields
    assert not parse_finding("desmin", "stains", knowledge.vocab).complete  # a name alone: chosen from the lists


def test_a_caveat_says_what_the_case_records_of_the_tests_it_asks_for(knowledge, analyzer):
    """'confirm the ALK rearrangement' beside an ALK rearrangement recorded present read as a request to do it
    again; the caveat now says what was recorded. Without it the caveat is the rule's text alone."""
    case = _eims(knowledge, "nuclear_membrane", "present")
    shown = {c.rule: c.text for c in analyzer.analyze(case).caveats}
    assert shown["ihc.alk.nuclear-membrane"].endswith("(Recorded: ALK rearrangement present.)")
    bare = validate(knowledge, {**case.model_dump(exclude_none=True), "molecular": {}})
    texts = {c.rule: c.text for c in analyzer.analyze(bare).caveats}
    assert texts["ihc.alk.nuclear-membrane"] == knowledge.rule["ihc.alk.nuclear-membrane"].spec.caveat


def test_alk_with_cd30_names_anaplastic_large_cell_lymphoma_and_asks_for_its_markers(knowledge, analyzer):
    raw = {
        "id": "alcl",
        "patient": {"age": 38},
        "morphology": {"cell_types": ["epithelioid", "round"]},
        "stains": {"alk": "positive", "cd30": "positive", "desmin": "positive"},
    }
    analysis = analyzer.analyze(validate(knowledge, raw))
    assert "pitfall.eims-alk-cd30-alcl" in {c.rule for c in analysis.caveats}
    asked = {s.test for s in analysis.suggestions if "pitfall.eims-alk-cd30-alcl" in s.asked_by}
    assert {"cd45", "cd3"} <= asked
    # the partner is a clue, not proof (Fadl 2023): the caveat stays and says what was found
    fused = validate(knowledge, {**raw, "molecular": {"ranbp2_alk_fusion": "present"}})
    shown = {c.rule: c.text for c in analyzer.analyze(fused).caveats}
    assert shown["pitfall.eims-alk-cd30-alcl"].endswith("(Recorded: RANBP2-ALK fusion present.)")


@pytest.mark.parametrize(
    ("written", "fields"),
    [
        ("focal+", {"result": "positive", "extent": "focal"}),
        ("weak+", {"result": "positive", "intensity": "weak"}),
        ("+ve", {"result": "positive"}),
        ("-ve", {"result": "negative"}),
        ("Positive.", {"result": "positive"}),
    ],
)
def test_a_result_as_a_report_sentence_writes_it_is_read_in_a_file_and_in_the_entry_line(knowledge, written, fields):
    from ddx.entry import parse_finding

    stain = validate(knowledge, {"id": "t", "stains": {"desmin": written}}).stains["desmin"]
    assert {k: v for k, v in stain.model_dump().items() if v is not None and k in fields} == fields
    assert parse_finding(f"desmin {written}", "stains", knowledge.vocab).fields == fields


@pytest.mark.parametrize(("written", "term"), [("CD 68", "cd68"), ("S 100", "s100"), ("Desmin.", "desmin")])
def test_a_stain_name_with_a_space_inside_or_a_full_stop_is_its_term(knowledge, written, term):
    assert written in knowledge.vocab.stains and knowledge.vocab.stains.normalize(written) == term
    assert knowledge.vocab.sites.normalize("Thigh.") == "thigh"


def test_the_entry_line_reads_a_stain_given_with_its_other_name(knowledge):
    from ddx.entry import parse_finding

    found = parse_finding("keratin AE1/AE3 negative", "stains", knowledge.vocab)
    assert (found.name, found.fields) == ("keratin", {"result": "negative"})
    assert parse_finding("cd 68 positive", "stains", knowledge.vocab).name == "cd68"


@pytest.mark.parametrize(
    ("typed", "name", "fields"),
    [
        ("desmin -", "desmin", {"result": "negative"}),  # the sign is the result, not part of the name
        ("ALK -", "alk", {"result": "negative"}),
        ("CD3 0", "cd3", {"percent": 0, "result": "negative"}),  # not CD30
        ("CD3 1 positive", "cd3", {"percent": 1, "result": "positive"}),  # not CD31
    ],
)
def test_only_letters_then_digits_are_joined_into_a_stain_name(knowledge, typed, name, fields):
    from ddx.entry import parse_finding

    found = parse_finding(typed, "stains", knowledge.vocab)
    assert (found.name, found.fields) == (name, fields)


def test_nd_in_the_entry_line_is_refused_with_both_readings(knowledge):
    from ddx.entry import InvalidEntry, parse_finding

    for typed, section, negative in (("desmin ND", "stains", "negative"), ("ALK FISH n.d.", "molecular", "absent")):
        with pytest.raises(InvalidEntry, match=f"not done or not detected.*{negative}"):
            parse_finding(typed, section, knowledge.vocab)
    assert parse_finding("desmin not done", "stains", knowledge.vocab).not_done


def test_a_count_over_no_field_and_a_python_number_offer_no_number(knowledge):
    problem = refused(knowledge, {"morphology": {"mitoses_per_10hpf": "5/0 HPF"}})
    assert "over no field" in problem.message and "(5)" not in problem.message
    problem = refused(knowledge, {"morphology": {"mitoses_per_10hpf": "12_5"}})
    assert "(1)" not in problem.message and "(12" not in problem.message


def test_not_done_with_a_full_stop_is_not_recorded(knowledge):
    assert "desmin" not in validate(knowledge, {"id": "t", "stains": {"desmin": "Not done."}}).stains


@pytest.mark.parametrize(
    ("recorded", "rule", "test"),
    [
        ({"msa": "positive"}, "ihc.msa", "desmin"),
        ({"cdk4": "positive"}, "ihc.cdk4", "mdm2"),  # 'MDM2 (IHC)': a method in the test's name
        ({"cd163": "positive"}, "ihc.cd163", "cd68"),  # '(CD68 not read)'
    ],
)
def test_a_next_test_quotes_no_rule_that_fires_without_it(knowledge, analyzer, recorded, rule, test):
    """'Desmin: its result would make the case read MSA positive (desmin not recorded)' contradicted itself: the
    rule fires while desmin is not recorded, so it is no figure of desmin's. The test's outcome table holds only
    the rules an outcome adds to those the case fires already, and the why quotes only those."""
    from ddx.suggest import quotable_rules

    a = analyzer.analyze(validate(knowledge, {"id": "t", "patient": {"age": 50}, "stains": recorded}))
    assert rule in a.matched  # the rule that reads the test's absence fires now
    facts = analyzer.facts(a.case)
    every = {s.test: s for s in analyzer.suggester.suggest(facts, a.matched, n=100, min_gain=0.0)}
    assert test in every, sorted(every)
    assert knowledge.rule[rule].title not in every[test].why, every[test].why
    # the real table of the test for this case: the rule is in the test's rules, but no outcome "fires" it
    candidates, _, _ = analyzer.suggester._candidates(facts, a.matched)
    offer, table = next((t, tb) for t, tb in candidates if t.name == test)
    assert rule in {r.id for r in offer.rules}
    assert rule not in table.fired and table.fired, sorted(table.fired)
    tiers = quotable_rules(offer.rules, offer.positive_rule, table.fired, facts, offer.base_key, "stain")
    assert rule not in {r.id for tier in tiers for r in tier}


def test_no_next_test_quotes_a_rule_the_case_matches_already(knowledge, analyzer):
    """Over the published cases: a why line quotes what the test's result would add, never a rule in force."""
    from ddx.loader import iter_cases
    from tests.conftest import CASES

    quoted = 0
    for path in sorted(CASES.glob("*.yaml")):
        for loaded in iter_cases(path, knowledge):
            a = analyzer.analyze(loaded.case)
            for s in analyzer.suggester.suggest(analyzer.facts(a.case), a.matched, n=100, min_gain=0.0):
                reads = re.search(r"would make the case read '(.*)', found in", s.why)
                if reads:
                    quoted += 1
                    titles = {knowledge.rule[r].title for r in a.matched if r in knowledge.rule}
                    assert reads.group(1) not in titles, (loaded.case.id, s.why)
    assert quoted  # the check saw such lines


def test_a_second_subtype_close_to_the_first_is_named_beside_it(knowledge, analyzer):
    """An inflamed myogenic tumour with marked pleomorphism, brisk mitoses and necrosis: ILMS's conventional and
    RMS-arising profiles near even; the ranking line named only 'conventional (share 51 %)'."""
    from ddx.ranking import RUNNER_UP_SHARE
    from ddx.render import entity_label, render_markdown

    raw = {
        "id": "grade",
        "patient": {"age": 48, "sex": "male"},
        "clinical": {"site": "thigh", "depth": "deep", "size_cm": 9},
        "morphology": {
            "cell_types": ["epithelioid", "spindle", "pleomorphic"],
            "inflammation": ["foamy_histiocytes", "neutrophils"],
            "inflammation_density": "prominent",
            "pleomorphism": "marked",
            "mitoses_per_10hpf": 22,
            "necrosis": "present",
        },
        "stains": {"desmin": "diffuse", "myod1": "positive", "myogenin": "focal", "alk": "negative"},
    }
    analysis = analyzer.analyze(validate(knowledge, raw))
    ilms = next(r for r in analysis.ranking if r.entity == "ilms")
    assert ilms.runner_up is not None and ilms.runner_up[1] >= RUNNER_UP_SHARE
    assert ilms.runner_up[1] <= ilms.subtype_share and ilms.subtype_share + ilms.runner_up[1] <= 1 + 1e-9
    label = entity_label(ilms, knowledge)
    assert "conventional" in label and "RMS-in-IRMT" in label, label
    assert "next: Rhabdomyosarcoma arising" in render_markdown(analysis, knowledge, top=13)
    lone = next(r for r in analysis.ranking if r.subtype is not None and r.runner_up is None)
    assert ";" not in entity_label(lone, knowledge)  # a clear lead names one profile
