"""The draft report never over-commits, and its prose comes from rules/reports.yaml (issue 17):
a descriptive diagnosis line in the open and close bands, no "100%", every recorded finding in
the description (including a field the vocabulary adds), conditional figures named as such."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ddx.cli import main
from ddx.errors import KnowledgeError
from ddx.knowledge import load_knowledge
from ddx.ranking import lower_first
from ddx.report_comment import describe_morphology, outside_paragraph, percent_text, render_report, split_citations
from tests.conftest import CASES, SEED, validate


def flat(text: str) -> str:
    return " ".join(text.split())


def diagnosis_line(text: str) -> str:
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("Soft tissue tumour"))
    return lines[i + 1]


def comment(text: str) -> str:
    return flat(text.split("Comment: ", 1)[1].split("\n\n", 1)[0])


def test_an_open_band_favours_no_diagnosis(knowledge, analyzer):
    case = validate(knowledge, {"id": "open", "patient": {"age": 30}, "stains": {"desmin": "positive"}})
    analysis = analyzer.analyze(case)
    assert analysis.confidence.band in knowledge.reports.descriptive_bands
    text = render_report(analysis, knowledge, analyzer.ranker)
    line = diagnosis_line(text)
    names = {e.name.lower() for e in knowledge.entities} | {t.diagnosis.lower() for t in knowledge.reports.entities.values()}
    assert not any(n in line.lower() for n in names), line
    assert "neoplasm" in line
    body = flat(text)
    assert "favour " not in body and "less likely" not in body
    # the comment names the leaders with their probabilities and the test that separates them
    leaders = [knowledge.reports.entities[r.entity].diagnosis for r in analysis.ranking[:2]]
    assert all(name[0].lower() + name[1:] in body for name in leaders)
    assert f"{lower_first(analysis.suggestions[0].label)} would best separate them" in body  # mid-sentence
    assert "none is favoured" in body
    # the list of candidates opens with the first-ranked one: none is set above the others
    candidates = flat(text.split("Candidates considered", 1)[1].split("Confidence:", 1)[0])
    first = knowledge.reports.entities[analysis.ranking[0].entity].diagnosis
    assert candidates.split(" - ")[1].startswith(first) and "ranked first, by too little to be favoured" in candidates


def test_a_leader_favoured_by_its_band_but_below_the_threshold_is_said_to_be_too_improbable(knowledge, analyzer):
    """A published laryngeal IMT with its ALK rearrangement and no H&E finding: the leader at ~65 % stands well
    clear of the rest, in a band that is not one of the descriptive bands; no diagnosis is favoured because it
    is below ``descriptive_below``, and the report says that, not that the findings do not separate them."""
    from tests.test_draft_v2 import load

    analysis = analyzer.analyze(load(CASES / "ajmal-2024-imt-larynx-24m.yaml", knowledge))
    t = knowledge.reports
    leader, runner = analysis.ranking[:2]
    assert analysis.confidence.band not in t.descriptive_bands and leader.probability < t.descriptive_below
    assert leader.probability - runner.probability > 0.3  # not a close call
    body = flat(render_report(analysis, knowledge, analyzer.ranker))
    threshold = percent_text(t.descriptive_below)
    assert f"no diagnosis is favoured below {threshold}" in body and "do not yet separate" not in body
    assert f"ranked first, but below the {threshold} at which a diagnosis is favoured" in body
    assert "by too little to be favoured" not in body
    # a leader below the threshold in a descriptive band keeps that band's wording
    case = validate(knowledge, {"id": "open", "patient": {"age": 30}, "stains": {"desmin": "positive"}})
    open_body = flat(render_report(analyzer.analyze(case), knowledge, analyzer.ranker))
    assert "ranked first, by too little to be favoured" in open_body and "do not yet separate" in open_body


def test_a_settled_band_names_the_diagnosis(knowledge, analyzer):
    from tests.test_draft_v2 import load

    analysis = analyzer.analyze(load(SEED, knowledge))
    assert analysis.confidence.band not in knowledge.reports.descriptive_bands
    text = render_report(analysis, knowledge, analyzer.ranker)
    assert diagnosis_line(text).strip("- ").startswith(knowledge.reports.entities[analysis.ranking[0].entity].diagnosis)


def test_the_lesion_line_describes_recorded_cells_and_inflammation(knowledge, analyzer):
    case = validate(
        knowledge,
        {
            "id": "c",
            "stains": {"desmin": "positive"},
            "morphology": {"cell_types": ["spindle", "epithelioid"], "inflammation": ["lymphocytes"]},
        },
    )
    analysis = analyzer.analyze(case)
    if analysis.confidence.band not in knowledge.reports.descriptive_bands:
        pytest.skip("this case is no longer open under the current rules")
    line = diagnosis_line(render_report(analysis, knowledge, analyzer.ranker))
    assert "Spindle and epithelioid cell neoplasm with an inflammatory background" in line


@pytest.mark.parametrize(
    ("p", "shown"),
    [(0.9996, "> 99 %"), (0.995, "> 99 %"), (0.994, "99 %"), (0.5, "50 %"), (0.006, "1 %"), (0.004, "< 1 %"), (0.0, "< 1 %")],
)
def test_probabilities_are_never_shown_as_certain(p, shown):
    assert percent_text(p) == shown


def test_a_near_certain_leader_is_not_100_percent(knowledge, analyzer):
    from tests.test_draft_v2 import load

    analysis = analyzer.analyze(load(CASES / "headneckpathol-2020-srms-mandible-15m.yaml", knowledge))
    assert analysis.ranking[0].probability >= 0.995
    text = flat(render_report(analysis, knowledge, analyzer.ranker))
    assert "ddx: > 99 %" in text and "(> 99 % of the entity's probability)" in text
    assert "ddx: 100 %" not in text and "(100 % of the entity" not in text  # a figure may be 100 % (8/8), a probability not


def _value_for(field):
    if field.kind == "number":
        return 3
    if field.kind == "presence":
        return "present"
    first = field.terms.terms[0]
    return [first] if field.kind == "list" else first


def test_every_morphology_field_reaches_the_description(knowledge):
    for name, field in knowledge.vocab.morphology.items():
        case = validate(knowledge, {"id": "m", "morphology": {name: _value_for(field)}})
        sentences = describe_morphology(case, knowledge)
        assert len(sentences) == 1, (name, sentences)
        assert not re.search(r"\$|\ba [aeiou]", sentences[0]), sentences


def test_the_description_reads_as_prose(knowledge):
    case = validate(
        knowledge,
        {
            "id": "p",
            "morphology": {
                "architecture": ["fascicles", "storiform"],
                "inflammation": ["plasma_cells"],
                "mitoses_per_10hpf": 0,
                "rhabdomyoblasts": "present",
                "pleomorphism": "none",
            },
        },
    )
    text = " ".join(describe_morphology(case, knowledge))
    assert "The tumour is arranged in fascicles and a storiform pattern." in text
    assert "There is an inflammatory infiltrate of plasma cells." in text
    assert "0 mitoses" not in text and "Mitoses are not identified (0 per 10 HPF)." in text
    assert "rhabdomyoblasts" in text
    assert "growth pattern is" not in text


def test_stain_details_are_all_described(knowledge, analyzer):
    case = validate(
        knowledge,
        {
            "id": "s",
            "stains": {
                "desmin": {"result": "positive", "extent": "focal", "intensity": "strong"},
                "alk": {"result": "positive", "pattern": "cytoplasmic"},
                "ki67": {"result": "positive", "percent": 40},
                "cd68": "negative",
            },
        },
    )
    text = comment(render_report(analyzer.analyze(case), knowledge, analyzer.ranker))
    assert "focally positive for desmin (strong staining)" in text
    assert "ALK (cytoplasmic pattern)" in text and "negative for CD68" in text
    assert "The proliferation index by Ki-67 is 40 %." in text


def test_a_negative_stain_is_written_without_its_extent_or_intensity(knowledge, analyzer):
    # the contract accepts them beside a negative result; the sentence does not say "negative (strong staining)"
    stains = {
        "alk": {"result": "negative", "intensity": "strong", "extent": "diffuse"},
        "desmin": {"result": "positive", "intensity": "strong"},
    }
    a = analyzer.analyze(validate(knowledge, {"id": "n", "stains": stains}))
    text = comment(render_report(a, knowledge, analyzer.ranker))
    assert "negative for ALK." in text and "positive for desmin (strong staining)" in text
    assert {("stains.alk.intensity", "strong"), ("stains.alk.extent", "diffuse")} <= {(u.path, u.value) for u in a.unused}


def test_a_stain_label_in_brackets_takes_its_details_inside_them(knowledge, analyzer):
    case = validate(knowledge, {"id": "s", "stains": {"cdk4": {"result": "positive", "intensity": "strong"}}})
    text = comment(render_report(analyzer.analyze(case), knowledge, analyzer.ranker))
    assert "CDK4 (IHC, strong staining)" in text and ") (" not in text.split("Sources")[0]


def _write_rules(rules: Path, name: str, change) -> None:
    path = rules / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_a_field_the_vocabulary_adds_reaches_the_report(rules_copy: Path, tmp_path: Path):
    _write_rules(rules_copy, "vocabulary.yaml", lambda d: d["morphology"].update({"perineural_invasion": {"kind": "presence"}}))
    case = tmp_path / "c.yaml"
    case.write_text("id: c\nmorphology: {perineural_invasion: present, cell_types: [spindle]}\n", encoding="utf-8")
    out = CliRunner().invoke(main, ["eval", "--format", "report", "--rules", str(rules_copy), str(case)])
    assert out.exit_code == 0, out.output
    assert "perineural invasion" in comment(out.output)


def test_a_prose_frame_naming_no_field_is_a_load_error(rules_copy: Path):
    _write_rules(rules_copy, "reports.yaml", lambda d: d["morphology_prose"][0]["fields"].update({"cel_types": "$values cells"}))
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(rules_copy)
    assert "reports.yaml" in str(exc.value) and "'cel_types' is not a morphology field" in str(exc.value)
    assert "cell_types" in str(exc.value)


def test_conditional_figures_name_their_population(knowledge, analyzer):
    case = validate(
        knowledge,
        {
            "id": "g",
            "patient": {"age": 12},
            "stains": {
                "desmin": {"result": "positive", "extent": "diffuse"},
                "myogenin": {"result": "positive", "extent": "focal"},
                "myod1": "positive",
            },
        },
    )
    text = flat(render_report(analyzer.analyze(case), knowledge, analyzer.ranker))
    conditional = [r.spec for r in knowledge.rules if r.spec.given]
    assert conditional, "no rule is marked as conditional"
    seen = 0
    for m in re.finditer(
        r"(myogenin focal or patchy|desmin diffuse[^(]*\(if positive\)|MyoD1 positive \(if desmin "
        r"positive\)) \(([^)]*)\)",
        text,
    ):
        seen += 1
        figures = m.group(2)
        assert all(f"-positive {short}" in figures for short in re.findall(r"of (?:\S+-positive )?([A-Z]+)", figures)), figures
    assert seen


def test_citations_split_outside_brackets_only():
    assert split_citations("WHO 2020 (via a.org; b.com); Doe J. J Foo 2001;1:2 (x; y)") == [
        "WHO 2020 (via a.org; b.com)",
        "Doe J. J Foo 2001;1:2 (x; y)",
    ]
    assert split_citations("Doe J. J Foo 2001;1:2") == ["Doe J. J Foo 2001;1:2"]


def test_a_leader_below_three_to_one_is_not_favoured_whatever_the_band(knowledge, analyzer):
    case = validate(
        knowledge,
        {
            "id": "c8",
            "patient": {"age": 62},
            "clinical": {"site": "retroperitoneum"},
            "morphology": {
                "cell_types": ["pleomorphic"],
                "pleomorphism": "marked",
                "inflammation": ["foamy_histiocytes", "lymphocytes"],
                "inflammation_density": "prominent",
            },
            "stains": {"desmin": "focal", "myogenin": "focal"},
        },
    )
    analysis = analyzer.analyze(case)
    assert analysis.ranking[0].probability < knowledge.reports.descriptive_below
    text = render_report(analysis, knowledge, analyzer.ranker)
    assert diagnosis_line(text).startswith("  - Pleomorphic cell neoplasm with an inflammatory background")
    assert "favour " not in flat(text) and "less likely" not in flat(text)


def test_an_outside_case_names_no_diagnosis_and_sets_no_candidate_aside(knowledge, analyzer):
    case = validate(
        knowledge,
        {
            "id": "mel",
            "morphology": {"cell_types": ["epithelioid"]},
            "stains": {"s100": "diffuse", "sox10": "positive", "hmb45": "positive"},
        },
    )
    analysis = analyzer.analyze(case)
    assert analysis.outside
    text = render_report(analysis, knowledge, analyzer.ranker)
    line = diagnosis_line(text)
    assert line.startswith("  - Epithelioid cell neoplasm; the findings point outside")
    leader = knowledge.reports.entities[analysis.ranking[0].entity]
    assert leader.diagnosis not in line and leader.comment.strip()[:40] not in flat(text)
    assert "less likely" not in flat(text) and "ranks below" in flat(text)


@pytest.mark.parametrize(
    "stains, cited",
    [
        # each caution cites the paper of the stain that raised it, not the entry's first source
        ({"h3k27me3": "lost", "sox10": "negative", "s100": "focal"}, "Schaefer IM"),
        ({"sox10": "focal", "hmb45": "negative", "melan_a": "negative"}, "Nonaka D"),
        ({"stat6": "diffuse", "cd34": "diffuse"}, "Han Y"),
        ({"langerin": "diffuse"}, "Chikwava K"),
        ({"cd1a": "positive"}, "Salari B"),
    ],
)
def test_an_outside_caution_cites_the_source_of_the_stain_that_raised_it(knowledge, analyzer, stains, cited):
    analysis = analyzer.analyze(validate(knowledge, {"id": "o", "stains": stains}))
    assert analysis.outside and analysis.outside.pointers
    cautions = " ".join(outside_paragraph(analysis, knowledge))
    assert cited in cautions, cautions


def test_absent_findings_are_never_listed_with_present_ones(knowledge):
    case = validate(
        knowledge,
        {
            "id": "a",
            "morphology": {
                "rhabdomyoblasts": "present",
                "calcifications": "absent",
                "hemosiderin": "present",
                "hyalinized_vessels": "absent",
            },
        },
    )
    text = " ".join(describe_morphology(case, knowledge))
    assert "The tumour shows rhabdomyoblasts and hemosiderin." in text
    assert "The tumour shows no calcifications or hyalinized vessels." in text


def test_no_output_prints_a_probability_as_certain(knowledge, analyzer, tmp_path):
    from ddx.ranking import probability_text
    from ddx.ranking import probability_text as pct  # what every writer prints a probability with
    from ddx.render import render_markdown

    assert probability_text(0.9996) == "> 99.9 %" and probability_text(0.0) == "< 0.1 %"
    assert probability_text(0.5556) == "55.6 %" and probability_text(0.5556, "%") == "55.6%"
    from tests.test_draft_v2 import load

    analysis = analyzer.analyze(load(CASES / "headneckpathol-2020-srms-mandible-15m.yaml", knowledge))
    markdown = render_markdown(analysis, knowledge)
    assert "100.0" not in markdown and "> 99.9 %" in markdown and not re.search(r"\b0\.0 %", markdown)
    assert pct(0.99999) == "> 99.9 %"
    out = CliRunner().invoke(main, ["eval", str(CASES / "headneckpathol-2020-srms-mandible-15m.yaml")], env={"COLUMNS": "120"}).output
    assert "100.0" not in out and "> 99.9 %" in out and not re.search(r"\b0\.0 ?%", out)

    # nor a subtype's share of its entity, in any case's text or markdown (7 of the sample cases lead with a
    # profile above 99.5 % of its entity)
    paths = [str(path) for path in sorted(CASES.glob("*.yaml"))]  # one run per format ranks every case
    shares = [
        share
        for fmt in ("text", "markdown")
        for share in re.findall(
            r"share ([^)]*)\)",
            CliRunner().invoke(main, ["eval", "--top", "13", "--format", fmt, *paths], env={"COLUMNS": "200"}).output,
        )
    ]
    assert len(paths) > 100
    assert "> 99 %" in shares and "100 %" not in shares and "0 %" not in shares


def test_a_band_without_a_test_to_suggest_does_not_name_one(knowledge, analyzer):
    """With no suggestion the band says so, instead of 'start with a further discriminating stain'."""
    from ddx.bands import assess

    analysis = analyzer.analyze(validate(knowledge, {"id": "o", "patient": {"age": 40}}))
    assert analysis.confidence.band == "open-thin" and analysis.suggestions
    bare = assess(knowledge, analysis.ranking, [], {}, informative=analysis.informative, ancillary=analysis.ancillary)
    band = next(b for b in knowledge.settings.bands if b.id == bare.band)
    assert band.action_no_test and bare.action == band.action_no_test
    assert "further discriminating" not in bare.action and "start with" not in bare.action
    assert analysis.suggestions[0].label in analysis.confidence.action


def test_the_clinical_history_is_in_the_report(knowledge, analyzer):
    case = validate(
        knowledge,
        {
            "id": "h",
            "patient": {"age": 35, "sex": "male"},
            "clinical": {"site": "thigh", "depth": "deep", "size_cm": 6, "presentation": "slowly growing mass", "symptoms": ["fever"]},
            "stains": {"desmin": "positive"},
        },
    )
    text = flat(render_report(analyzer.analyze(case), knowledge, analyzer.ranker))
    assert "Clinical history: 35 years; male; thigh (deep); 6 cm; slowly growing mass; fever." in text
    bare = flat(
        render_report(analyzer.analyze(validate(knowledge, {"id": "b", "stains": {"desmin": "positive"}})), knowledge, analyzer.ranker)
    )
    assert "Clinical history" not in bare


def test_every_frame_of_reports_yaml_has_its_placeholders_checked():
    from ddx.knowledge import REPORT_FRAMES, ReportTemplates

    frames = {name for name, f in ReportTemplates.model_fields.items() if f.annotation in (str, "str")}
    assert frames == set(REPORT_FRAMES) - {"findings"}


def test_a_favoured_subtype_is_not_named_with_its_entity_twice(knowledge, analyzer):
    """'Inflammatory myofibroblastic tumour, favouring the ALK-negative subtype', never '..., favouring the
    inflammatory myofibroblastic tumour, ALK-negative subtype' (any published case led by a subtype)."""
    from ddx.loader import iter_cases

    seen = 0
    for path in sorted(CASES.glob("*.yaml")):
        [loaded] = list(iter_cases(path, knowledge))
        analysis = analyzer.analyze(loaded.case)
        template = knowledge.reports.entities.get(analysis.ranking[0].entity)
        if template is None or not analysis.ranking[0].subtype or analysis.ranking[0].subtype == analysis.ranking[0].entity:
            continue
        text = render_report(analysis, knowledge, analyzer.ranker, width=10_000)
        favoured = [line for line in text.splitlines() if "subtype" in line]
        seen += bool(favoured)
        for line in favoured:
            assert f"the {template.diagnosis.lower()}, " not in line.lower(), line
    assert seen >= 1


def test_the_report_names_the_same_next_test_as_the_band(knowledge, analyzer):
    # a close band names the test that separates its two leaders (PRMS and ILMS here), not always the first
    # suggestion (CDK4 here, for DDLPS, third): the report's closing sentence follows the band
    case = validate(
        knowledge,
        {
            "id": "dd",
            "patient": {"age": 45},
            "clinical": {"site": "retroperitoneum"},
            "morphology": {"cell_types": ["pleomorphic", "spindle"], "pleomorphism": "marked", "inflammation": ["lymphocytes"]},
            "stains": {"desmin": "positive", "myogenin": "focal", "myod1": "positive"},
        },
    )
    a = analyzer.analyze(case)
    assert a.confidence.band == "close" and a.confidence.next_test
    assert a.suggestions[0].label != a.confidence.next_test  # the two would differ
    body = flat(render_report(a, knowledge, analyzer.ranker))
    assert f"{lower_first(a.confidence.next_test)} would best separate them" in body


def test_the_article_rule_leaves_a_stain_named_with_an_a_alone():
    from ddx.report_comment import _articles

    assert _articles("There is a inflammatory infiltrate; a edema") == "There is an inflammatory infiltrate; an edema"
    assert _articles("positive for Melan-A and SMA") == "positive for Melan-A and SMA"  # was "Melan-An and SMA"
    assert _articles("A infiltrate") == "An infiltrate"


def test_an_absent_finding_beside_a_present_one_is_never_read_as_both_absent(knowledge, analyzer):
    """'The tumour shows no pleomorphism and necrosis' reads as no necrosis (a new user's trial): what is absent
    goes last. And a scant infiltrate is no inflammatory background."""
    from ddx.report_comment import render_report

    case = {
        "id": "t",
        "morphology": {"pleomorphism": "none", "necrosis": "focal", "cell_types": ["spindle"], "inflammation_density": "scant"},
    }
    a = analyzer.analyze(validate(knowledge, case))
    text = " ".join(render_report(a, knowledge, analyzer.ranker).split())
    assert "shows necrosis and no pleomorphism" in text and "no pleomorphism and necrosis" not in text
    assert "inflammatory background" not in text
    prominent = {**case, "morphology": {**case["morphology"], "inflammation_density": "prominent"}}
    text = " ".join(render_report(analyzer.analyze(validate(knowledge, prominent)), knowledge, analyzer.ranker).split())
    assert "neoplasm with an inflammatory background" in text


def test_cells_recorded_beside_no_infiltrate_are_not_denied(knowledge, analyzer):
    """'There is no inflammatory infiltrate of eosinophils' read as no eosinophils, when eosinophils were recorded
    beside a density of none; with another density, or with no cells, the sentence is as before."""
    from ddx.report_comment import render_report

    def comment(morphology):
        a = analyzer.analyze(validate(knowledge, {"id": "t", "morphology": {"cell_types": ["spindle"], **morphology}}))
        return " ".join(render_report(a, knowledge, analyzer.ranker).split())

    text = comment({"inflammation_density": "none", "inflammation": ["eosinophils"]})
    assert "There is no inflammatory infiltrate apart from eosinophils." in text
    assert "infiltrate of eosinophils" not in text
    assert "There is a prominent inflammatory infiltrate of eosinophils." in comment(
        {"inflammation_density": "prominent", "inflammation": ["eosinophils"]}
    )
    none = comment({"inflammation_density": "none"})
    assert "There is no inflammatory infiltrate." in none and "apart from" not in none


def test_the_reports_tests_and_history_read_as_a_report(knowledge, analyzer):
    """A new user's trial (2026-12-02): the recommended tests carried 'expected gain 0.11 bits' and '[worth ≈10
    cases]', and the history said a symptom twice when the presentation had said it ('anaemia' and 'anemia')."""
    from ddx.report_comment import render_report

    seed = analyzer.analyze(validate(knowledge, yaml.safe_load(SEED.read_text(encoding="utf-8"))))
    text = render_report(seed, knowledge, analyzer.ranker)
    tests = text.split("Recommended additional tests:")[1].split("\n\n")[0]
    assert seed.suggestions and "bits" not in tests and "worth ≈" not in tests
    assert seed.suggestions[0].cost.text in " ".join(tests.split())  # the assay and turnaround stay
    case = {
        "id": "s",
        "clinical": {
            "site": "mesentery",
            "presentation": "abdominal pain, fever and anaemia",
            "symptoms": ["fever", "anemia", "weight loss"],
        },
        "stains": {"alk": "positive"},
    }
    history = " ".join(render_report(analyzer.analyze(validate(knowledge, case)), knowledge, analyzer.ranker).split())
    assert "fever and anaemia; weight loss." in history and "anemia" not in history
    # a symptom the presentation denies is kept: the history shows the conflict with what was ranked
    for denied, symptom in (
        ("mass, no fever", "fever"),
        ("denies weight loss", "weight loss"),
        ("pain-free mass", "pain"),
        ("no fever, night sweats or weight loss", "weight loss"),  # a denial anywhere in the sentence
    ):
        conflict = {**case, "clinical": {"site": "mesentery", "presentation": denied, "symptoms": [symptom.replace(" ", "_")]}}
        text = " ".join(render_report(analyzer.analyze(validate(knowledge, conflict)), knowledge, analyzer.ranker).split())
        assert f"{denied}; {symptom}." in text, text


def test_a_leader_just_below_the_threshold_is_not_rounded_up_to_it(knowledge, analyzer):
    """Review: a leader at 74.96 % was shown "(75 %): ranked first, but below the 75 %". With the threshold set
    just above a published case's leader, whose percentage rounds up to the threshold, the leader is shown
    to one decimal, rounded down, in the list and in the closing sentence; the threshold as written."""
    import dataclasses
    import math

    from ddx.loader import iter_cases

    for path in sorted(CASES.glob("*.yaml")):
        loaded = [c for c in iter_cases(path, knowledge) if c.ok]
        if len(loaded) != 1:
            continue
        analysis = analyzer.analyze(loaded[0].case)
        p = analysis.ranking[0].probability
        if analysis.confidence.band in knowledge.reports.descriptive_bands or (p * 100) % 1 < 0.5 or p < 0.3:
            continue
        threshold = math.ceil(p * 100) / 100  # p < threshold, and p rounds to it
        reports = knowledge.reports.model_copy(update={"descriptive_below": threshold})
        text = flat(render_report(analysis, dataclasses.replace(knowledge, reports=reports), analyzer.ranker))
        said = f"{threshold * 100:g} %"
        exact = f"{math.floor(p * 1000) / 10:.1f} %"
        assert f"({exact}): ranked first, but below the {said} at which a diagnosis is favoured" in text
        assert f"(ddx: {exact}" in text and f"no diagnosis is favoured below {said}" in text
        return
    pytest.fail("no published case's leader rounds up to a threshold just above it")
