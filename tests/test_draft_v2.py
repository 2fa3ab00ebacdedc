"""The draft report on knowledge model v2: the leading subtype, the figures' counts or strength,
recorded findings the ranking does not use, and findings that point outside the differential.
All of the new wording is data in rules/reports.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ddx.analysis import Analyzer, OutsideReport, Pointer, Unexplained
from ddx.cli import main
from ddx.errors import KnowledgeError
from ddx.knowledge import ReportTemplates, load_knowledge
from ddx.loader import iter_cases
from ddx.ranking import percent_text
from ddx.report_comment import count_text, figure_text, finding_text, render_report, short_source, unused_texts
from tests.conftest import CASES, SEED

TFCP2_CASE = CASES / "headneckpathol-2022-srms-face-43f.yaml"
MELANOMA = {"id": "mel", "stains": {"s100": "positive", "sox10": "positive", "hmb45": "positive"}}


def flat(text: str) -> str:
    return " ".join(text.split())  # ignore line wrapping


def load(path: Path, knowledge):
    [loaded] = list(iter_cases(path, knowledge))
    return loaded.case


def report(analyzer, knowledge, case) -> tuple[str, object]:
    analysis = analyzer.analyze(case)
    return render_report(analysis, knowledge, analyzer.ranker), analysis


def test_a_leading_subtype_is_named_with_its_share(knowledge, analyzer):
    text, analysis = report(analyzer, knowledge, load(TFCP2_CASE, knowledge))
    leader = analysis.ranking[0]
    assert leader.entity == "srms" and leader.subtype == "srms_tfcp2"
    share = percent_text(leader.subtype_share)  # the report writes a share as every output does: never "100 %"
    text = flat(text)
    assert "Spindle cell / sclerosing rhabdomyosarcoma, favouring the TFCP2-rearranged rhabdomyosarcoma subtype" in text
    assert f"favour the TFCP2-rearranged rhabdomyosarcoma subtype ({share} of the entity's probability)" in text
    assert "FUS::TFCP2 or EWSR1::TFCP2" in text  # the subtype's own cited comment
    assert "of TFCP2-RMS [" in text  # the reasons compare the subtype's profile


def test_the_conventional_profile_is_not_named(knowledge, analyzer):
    text, analysis = report(analyzer, knowledge, load(SEED, knowledge))
    assert analysis.ranking[0].subtype == analysis.ranking[0].entity  # the rest profile leads
    assert "favouring the" not in text and "Of its subtypes" not in text


def test_quoted_figures_carry_their_count_or_strength(knowledge, analyzer):
    text, analysis = report(analyzer, knowledge, load(TFCP2_CASE, knowledge))
    text = flat(text)
    # every reason quotes a count (k/n) or the cases an estimate weighs, in brackets
    reasons = re.findall(r"\[([^\]]+)\]", text.split("Differential diagnosis considered:")[1].split("Confidence:")[0])
    assert reasons and all(re.fullmatch(r"\d+/\d+( pooled from \d+ series)?|worth ≈\d+ cases", r) for r in reasons)
    assert any("/" in r for r in reasons) and any("cases" in r for r in reasons)
    sources = text.split("Sources of the leading evidence:")[1]
    for e in analysis.ranking[0].supporting[:4]:
        assert f"{e.finding} ({figure_text(e)}):" in sources


def test_negated_counts_are_complemented(knowledge, analyzer):
    ranker = analyzer.ranker
    for row in ranker.evidence.values():
        for e in row:
            lk = e.likelihood
            if e.negated and lk.k is not None and lk.total is not None:
                assert count_text(e).startswith(f"{lk.total - lk.k}/{lk.total}")
                return
    pytest.skip("no negated rule with a count")


def test_unused_findings_are_listed(knowledge, analyzer):
    case = knowledge.case_schema.validate({**MELANOMA, "stains": {**MELANOMA["stains"], "lysozyme": "positive"}})
    text, analysis = report(analyzer, knowledge, case)
    words = unused_texts(analysis, knowledge)
    assert "Lysozyme positive" in words
    assert "The following recorded findings are not used by ddx's ranking: " in flat(text)
    for w in words:
        assert w in flat(text)
    seed_text, seed = report(analyzer, knowledge, load(SEED, knowledge))
    assert bool(seed.unused) == ("not used by ddx's ranking" in seed_text)


def test_findings_outside_the_differential_are_a_caution(knowledge, analyzer):
    case = knowledge.case_schema.validate(MELANOMA)
    text, analysis = report(analyzer, knowledge, case)
    assert any(p.slug == "melanoma" for p in analysis.outside.pointers)
    text = flat(text)
    assert "the findings point outside the entities ddx models" in text
    assert "that probability assumes the diagnosis is one of them" in text
    assert "these pathologic findings favour" not in text
    caution = text.split("Caution - findings that point outside ddx's differential:")[1].split("Differential diagnosis")[0]
    assert "S100 positive" in caution and "SOX10 positive" in caution
    assert "consider melanoma (including clear cell sarcoma" in caution
    assert "(Nonaka D, et al. Am J Surg Pathol 2008;32:1291)" in caution  # the short source


def test_unexplained_findings_are_in_the_caution(knowledge, analyzer):
    analysis = analyzer.analyze(load(SEED, knowledge))
    analysis.outside = OutsideReport(unexplained=(Unexplained("ihc.x", "Foo positive", "srms_tfcp2", 0.03),))
    text = flat(render_report(analysis, knowledge, analyzer.ranker))
    assert "Foo positive: not typical of any modelled entity (at most 3 %, in TFCP2-RMS)." in text
    assert "Caution - findings that point outside" in text


def test_finding_words_and_short_sources(knowledge):
    assert finding_text(knowledge, "stains.cd68", "positive") == "CD68 positive"
    assert finding_text(knowledge, "stains.cd30.extent", "diffuse") == "CD30 extent diffuse"
    assert finding_text(knowledge, "morphology.cell_types", "multinucleated_giant") == "multinucleated giant cells"
    assert finding_text(knowledge, "patient.age", 50.0) == "age 50 years"
    assert finding_text(knowledge, "molecular.tfcp2_rearrangement", "present") == "TFCP2 rearrangement present"
    assert (
        short_source(
            "Folpe AL, Mentzel T, Weiss SW. Perivascular epithelioid cell neoplasms. "
            "Am J Surg Pathol 2005;29:1558; Miettinen M, et al. X. Y 2015"
        )
        == "Folpe AL, et al. Am J Surg Pathol 2005;29:1558"
    )
    assert (
        short_source("Warnke RA, et al. Diagnosis of lymphoma. N Engl J Med 1983;309:1275. PMID:6355845")
        == "Warnke RA, et al. N Engl J Med 1983;309:1275"
    )
    assert short_source("Int J Clin Exp Pathol 2015 (PMC4680460). PMID:26722515") == "Int J Clin Exp Pathol 2015"
    assert short_source("an unparsed note") == "an unparsed note"  # text without a citation is kept whole
    for o in knowledge.outside:  # every outside entry gets a short citation with a year
        assert re.search(r"(19|20)\d\d", short_source(o.spec.source)), o.spec.slug


def test_new_wording_comes_from_reports_yaml(rules_copy: Path, tmp_path: Path):
    reports = rules_copy / "reports.yaml"
    text = reports.read_text(encoding="utf-8")
    text = text.replace(
        'unused: "The following recorded findings are not used by ddx\'s ranking: $findings."', 'unused: "Not weighed: $findings."'
    )
    text = text.replace('  "stains.*": "$label $value"', '  "stains.*": "$label: $value"')
    reports.write_text(text, encoding="utf-8")
    case = tmp_path / "mel.yaml"
    case.write_text("id: mel\nstains: {s100: positive, sox10: positive, hmb45: positive, lysozyme: positive}\n", encoding="utf-8")
    out = flat(
        CliRunner().invoke(main, ["eval", "--format", "report", "--rules", str(rules_copy), str(case)], catch_exceptions=False).output
    )
    assert "Not weighed: " in out and "Lysozyme: positive" in out


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("subtype", "Favour $subtyp.", "$subtyp"),
        ("outside_pointer", "$findings point to $leader", "$leader"),
        ("findings", {"stains.*": "$label $result"}, "$result"),
        ("findings", {"Stains": "$label"}, "finding path"),
    ],
)
def test_templates_are_validated(field, value, message):
    with pytest.raises(ValueError) as exc:
        ReportTemplates.model_validate({field: value})
    assert message in str(exc.value)


def test_a_broken_frame_in_reports_yaml_names_the_file(rules_copy: Path):
    reports = rules_copy / "reports.yaml"
    text = reports.read_text(encoding="utf-8")
    assert "favour the $subtype $kind ($share" in text  # the frame the test breaks is still there
    reports.write_text(text.replace("favour the $subtype $kind ($share", "favour the $subtype $kind ($shares"), encoding="utf-8")
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(rules_copy)
    assert "reports.yaml" in str(exc.value) and "$shares" in str(exc.value)


def test_every_case_renders(knowledge):
    with Analyzer(knowledge) as analyzer:
        for path in sorted(CASES.glob("*.yaml")):
            for loaded in iter_cases(path, knowledge):
                if loaded.ok:
                    text = render_report(analyzer.analyze(loaded.case), knowledge, analyzer.ranker)
                    assert "$" not in text.replace("$$", ""), path.name  # every placeholder filled
                    assert ("Caution - findings" in text) == bool(analyzer.analyze(loaded.case).outside)


def test_pointer_without_recorded_findings_still_reads(knowledge, analyzer):
    analysis = analyzer.analyze(load(SEED, knowledge))
    analysis.outside = OutsideReport(pointers=(Pointer("x", "Something else", (), "why", "Doe J. J Foo 2001;1:2"),))
    text = flat(render_report(analysis, knowledge, analyzer.ranker))
    assert "The recorded findings: consider something else, which ddx does not model (Doe J. J Foo 2001;1:2)." in text
