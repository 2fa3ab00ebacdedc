"""``ddx rules check``: one test per check, on a copy of the packaged rules with one defect."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from ddx.authoring.check import check_rules, example_case


def add_rules(rules_dir: Path, body: str, name: str = "zz-test.yaml") -> Path:
    path = rules_dir / "rules" / name
    path.write_text("rules:\n" + textwrap.indent(textwrap.dedent(body), "  "))
    return path


def rule(rid: str, when: str, *, extra: str = "", likelihood: str = "{ilms: 0.6}", default: str = "~0.3") -> str:
    """A rule as a list item at column 0 (line 1 is its '- id:'; when is line 4, likelihood 5 + extra lines)."""
    return (
        f"- id: {rid}\n  title: {rid}\n  status: active\n  when: {when}\n"
        + extra
        + f"  likelihood: {likelihood}\n  default: {default}\n  rationale: a test rule\n"
        f"  source: Test J 2026;1:1\n"
    )


def messages(report, code: str, severity: str | None = None) -> list[str]:
    return [str(m) for m in report.messages if m.code == code and (severity is None or m.severity == severity)]


def test_packaged_rules_pass_with_every_example_run(knowledge):
    report = check_rules()
    assert report.ok and not report.warnings, [str(m) for m in report.messages]
    specs = {r.spec.id for r in knowledge.rules}
    assert report.examples_run >= 2 * len(specs)  # every rule has a should-match and a should-not-match example
    assert report.shards >= 1


def test_misspelt_stain_names_file_line_and_the_right_term(rules_copy):
    add_rules(rules_copy, rule("test.misspelt", "{stains.desmn: positive}"))
    report = check_rules(rules_copy)
    assert not report.ok
    [msg] = messages(report, "unknown-term", "error")
    assert "zz-test.yaml:5:" in msg and "desmn" in msg and "'desmin'" in msg


@pytest.mark.parametrize(
    "change, code, line",
    [
        (("source: Test J 2026;1:1", "source: ''"), "schema", 9),
        (("{ilms: 0.6}", "{ilms: -0.2}"), "weight", 6),
        (("default: ~0.3", "default: ~1.3"), "weight", 7),
    ],
)
def test_missing_source_and_weights_out_of_range_are_errors_at_their_line(rules_copy, change, code, line):
    add_rules(rules_copy, rule("test.bad", "{stains.desmin: positive}").replace(*change))
    report = check_rules(rules_copy)
    found = messages(report, code, "error")
    assert found and all(f"zz-test.yaml:{line}: rule test.bad: " in m for m in found), [str(m) for m in report.messages]


def test_a_misspelt_key_names_its_rule_and_the_key_meant(rules_copy):
    """A rule that does not validate is named by its id as well as its line, in text and in JSON."""
    add_rules(rules_copy, rule("test.typo", "{stains.desmin: positive}").replace("rationale:", "rationle:"))
    found = [m for m in check_rules(rules_copy).messages if m.code == "schema" and m.severity == "error"]
    texts = [str(m) for m in found]
    assert any("rule test.typo: rationle: unknown key 'rationle'; did you mean 'rationale'?" in t for t in texts), texts
    assert not [t for t in texts if "required key" in t], texts  # the misspelt key's own error says it
    assert {m.problem.to_dict().get("item") for m in found} == {"rule test.typo"}


def test_a_rule_with_a_misspelt_key_gets_its_other_checks_in_the_same_pass(rules_copy):
    """A rule refused for a misspelt key is read again as meant, so its failing example, and another's
    duplicate id, are reported beside the key's error, not on the next run."""
    typo = rule("test.typo", "{stains.sma: positive}").replace("rationale:", "rationle:")
    typo += "  examples:\n    should_match:\n      - {stains.desmin: positive}\n    should_not_match: []\n"
    twice = rule("ihc.desmin", "{stains.sma: positive}").replace("source:", "sorce:")
    add_rules(rules_copy, typo + twice)
    report = check_rules(rules_copy)
    texts = [str(m) for m in report.messages if m.severity == "error"]
    assert any("rationle: unknown key" in t for t in texts) and any("sorce: unknown key" in t for t in texts), texts
    assert any("duplicate rule id 'ihc.desmin'" in t for t in texts), texts
    assert any("rule test.typo: should_match example 1" in t for t in texts), texts


def test_duplicate_id_is_an_error(rules_copy):
    add_rules(rules_copy, rule("ihc.desmin", "{stains.sma: positive}"))
    [msg] = messages(check_rules(rules_copy), "duplicate-id", "error")
    assert "immunohistochemistry.yaml:" in msg and "zz-test.yaml:2" in msg


@pytest.mark.parametrize(
    "when",
    [
        "{all: [{stains.desmin: positive}, {stains.desmin: negative}]}",
        "{patient.age: {gt: 50, lt: 40}}",
        "{patient.age: {gte: 50, lt: 50}}",
        "{stains.desmin: {in: [positive, equivocal]}, all: [{stains.desmin: {not_in: [positive, equivocal]}}]}",
        "{morphology.cell_types: {contains: spindle}, all: [{morphology.cell_types: {known: false}}]}",
    ],
)
def test_condition_that_can_never_hold_is_an_error(rules_copy, when):
    add_rules(rules_copy, rule("test.never", when))
    report = check_rules(rules_copy)
    [msg] = messages(report, "unsatisfiable", "error")
    assert "zz-test.yaml:5" in msg and "test.never" in msg and "can never hold" in msg


def test_one_impossible_alternative_is_a_warning(rules_copy):
    add_rules(rules_copy, rule("test.partly", "{any: [{stains.sma: positive}, {patient.age: {gt: 50, lt: 40}}]}"))
    report = check_rules(rules_copy)
    assert report.ok
    [msg] = messages(report, "unsatisfiable", "warning")
    assert "patient.age > 50 and patient.age < 40" in msg


def test_finding_and_its_negation_that_can_hold_together_is_an_error(rules_copy):
    add_rules(
        rules_copy, rule("test.both", "{stains.sma: positive}", extra="  negated_by: {stains.sma: {in: [positive, negative]}}\n")
    )
    [msg] = messages(check_rules(rules_copy), "conflict", "error")
    assert "test.both" in msg and "'when' and 'negated_by'" in msg


def _copy_of_desmin_rule(rules_dir: Path, new_id: str, when: str | None = None, imt: str | None = None) -> str:
    from ddx.authoring.edit import block_text, find_block

    text = (rules_dir / "rules" / "immunohistochemistry.yaml").read_text()
    block = block_text(text, find_block(text, "ihc.desmin"))
    block = block.replace("id: ihc.desmin", f"id: {new_id}")
    block = re.sub(r"\n\s+negated_by: .*", "", block)
    block = re.sub(r"\n    examples:(\n      .*)*", "", block)
    if when:
        block = block.replace("when: {stains.desmin: positive}", f"when: {when}")
    if imt:
        block = re.sub(r"\n(\s+)imt:.*(?:\n\1\s+\S.*)*", f"\\n\\1imt: {imt}", block)  # with a pooled figure's lines
    return block


def test_rule_firing_on_the_same_findings_with_the_same_weights_is_redundant(rules_copy):
    add_rules(rules_copy, _copy_of_desmin_rule(rules_copy, "test.desmin-again"))
    report = check_rules(rules_copy)
    assert report.ok
    [msg] = messages(report, "redundant")
    assert "ihc.desmin and test.desmin-again" in msg and "counted twice" in msg and "zz-test.yaml:" in msg


def test_same_findings_with_different_weights_is_a_conflict(rules_copy):
    add_rules(rules_copy, _copy_of_desmin_rule(rules_copy, "test.desmin-other", imt="~0.9"))
    [msg] = messages(check_rules(rules_copy), "conflict", "warning")
    assert "ihc.desmin and test.desmin-other" in msg and "different weights" in msg


def test_narrower_rule_with_the_same_weights_is_subsumed(rules_copy):
    add_rules(
        rules_copy, _copy_of_desmin_rule(rules_copy, "test.desmin-and-sma", when="{stains.desmin: positive, stains.sma: positive}")
    )
    report = check_rules(rules_copy)
    [msg] = messages(report, "subsumed")
    assert "test.desmin-and-sma is subsumed by ihc.desmin" in msg
    assert not messages(report, "redundant")


def test_narrower_rule_with_its_own_weights_is_not_flagged(rules_copy):
    # ihc.desmin.diffuse is narrower than ihc.desmin by design (scored conditional on desmin positive)
    report = check_rules(rules_copy)
    assert not messages(report, "subsumed") and not messages(report, "redundant")


def test_entity_no_rule_favours_is_reported(rules_copy):
    ents = rules_copy / "entities.yaml"
    ents.write_text(ents.read_text() + "  - slug: zz\n    name: A test entity\n    prior: ~0.01\n    source: Test J 2026;1:1\n")
    for f in [*(rules_copy / "rules").glob("*.yaml"), rules_copy / "settings.yaml"]:  # zz weighs as fdcs
        f.write_text(re.sub(r"^(\s+)fdcs: (.*)$", r"\1fdcs: \2\n\1zz: \2", f.read_text(), flags=re.M))
    report = check_rules(rules_copy)
    assert report.ok, [str(m) for m in report.errors]
    [msg] = messages(report, "unreachable")
    assert "entity zz can never lead" in msg and "fdcs always ranks above it" in msg
    assert re.search(r"entities.yaml:\d+:", msg)


def test_entity_with_one_rule_of_its_own_is_reachable(rules_copy):
    ents = rules_copy / "entities.yaml"
    ents.write_text(ents.read_text() + "  - slug: zz\n    name: A test entity\n    prior: ~0.01\n    source: Test J 2026;1:1\n")
    for f in [*(rules_copy / "rules").glob("*.yaml"), rules_copy / "settings.yaml"]:
        f.write_text(re.sub(r"^(\s+)fdcs: (.*)$", r"\1fdcs: \2\n\1zz: \2", f.read_text(), flags=re.M))
    add_rules(rules_copy, rule("test.zz", "{stains.cd34: equivocal}", likelihood="{zz: 0.9}", default="~0.1"))
    assert not messages(check_rules(rules_copy), "unreachable")


def test_rule_past_an_engine_limit_is_refused_with_the_limit_named(rules_copy, knowledge):
    stains = knowledge.vocab.stains.terms[:25]
    alts = ", ".join(f"{{stains.{s}: positive}}" for s in stains)
    add_rules(rules_copy, rule("test.huge", f"{{any: [{alts}]}}"))
    report = check_rules(rules_copy)  # returns: the engine is never asked to build it
    [msg] = messages(report, "engine-limit", "error")
    assert "25 alternatives" in msg and "limit is 24" in msg and "64 alpha tests" in msg and "zz-test.yaml:5" in msg


def test_approaching_an_engine_limit_is_a_warning(rules_copy, knowledge):
    stains = knowledge.vocab.stains.terms[:20]
    alts = ", ".join(f"{{stains.{s}: equivocal}}" for s in stains)
    add_rules(rules_copy, rule("test.broad", f"{{any: [{alts}]}}"))
    report = check_rules(rules_copy)
    assert report.ok
    [msg] = messages(report, "engine-limit", "warning")
    assert "test.broad" in msg and "20 of at most 24" in msg


def test_many_rules_on_one_condition_path_are_sharded_not_refused(rules_copy):
    """durable-rules allows 256 rules per identical path per ruleset; shards keep every ruleset far below."""
    from ddx.analysis import Analyzer
    from ddx.knowledge import load_knowledge

    body = "".join(
        rule(f"test.same-{i:03d}", "{stains.cd34: equivocal}", likelihood=f"{{ilms: {0.2 + i / 1000}}}") for i in range(260)
    )
    add_rules(rules_copy, body)
    report = check_rules(rules_copy, engine=False)
    assert not messages(report, "engine-limit", "error") and report.shards >= 2
    k = load_knowledge(rules_copy)
    case = k.case_schema.validate({"id": "x", "stains": {"cd34": "equivocal"}})
    with Analyzer(k) as engine, Analyzer(k, "python") as oracle:
        matched = engine.analyze(case, suggest=False).matched
        assert matched == oracle.analyze(case, suggest=False).matched
    assert sum(m.startswith("test.same-") for m in matched) == 260


def test_retired_rules_are_not_checked_against_their_examples(rules_copy):
    f = rules_copy / "rules" / "clinical.yaml"
    text = f.read_text()
    i = text.index("id: clin.age.under-18")
    f.write_text(text[:i] + text[i:].replace("status: active", "status: retired", 1))
    report = check_rules(rules_copy)
    assert report.ok and not report.warnings, [str(m) for m in report.messages]


@pytest.mark.parametrize(
    "when, error",
    [
        ("{not: {patient.age: 30}}", False),
        ("{patient.age: 30, not: {patient.age: 30}}", True),
        ("{patient.age: {lt: 18}, patient.sex: {known: true}, not: {patient.sex: male}}", False),
    ],
)
def test_negated_findings_are_read_exactly(rules_copy, when, error):
    add_rules(rules_copy, rule("test.neg", when))
    report = check_rules(rules_copy)
    assert bool(messages(report, "unsatisfiable", "error")) is error
    assert not messages(report, "unsatisfiable", "warning") and not messages(report, "internal")


EXAMPLES = """\
  examples:
    should_match:
      - {stains.sma: positive}
      - {stains: {sma: {result: positive, extent: diffuse}}}
    should_not_match:
      - {stains.sma: negative}
"""


def test_examples_that_hold_pass(rules_copy):
    add_rules(rules_copy, rule("test.sma", "{stains.sma: positive}", extra=EXAMPLES))
    report = check_rules(rules_copy)
    assert report.ok, [str(m) for m in report.errors]


def test_failing_example_is_an_error_at_the_example_line(rules_copy):
    add_rules(
        rules_copy,
        rule("test.sma", "{stains.sma: positive}", extra=EXAMPLES.replace("{stains.sma: negative}", "{stains.sma: positive}")),
    )
    report = check_rules(rules_copy)
    [msg] = messages(report, "example", "error")
    assert "should_not_match example 1 should not match but does" in msg and "zz-test.yaml:11:" in msg


def test_example_with_an_unknown_term_names_it(rules_copy):
    add_rules(
        rules_copy,
        rule("test.sma", "{stains.sma: positive}", extra=EXAMPLES.replace("{stains.sma: negative}", "{stains.smaa: negative}")),
    )
    [msg] = messages(check_rules(rules_copy), "example", "error")
    assert "not a valid case" in msg and "smaa" in msg and "'sma'" in msg


def test_example_shorthand_nests_dotted_keys():
    assert example_case({"stains.desmin": "positive", "stains.desmin.extent": "diffuse", "patient.age": 40}, "x") == {
        "id": "x",
        "stains": {"desmin": {"result": "positive", "extent": "diffuse"}},
        "patient": {"age": 40},
    }


def test_consider_names_a_known_candidate_and_belongs_to_a_caveat(rules_copy):
    caveat = "  caveat: a test caveat\n"
    add_rules(
        rules_copy,
        rule("test.typo", "{stains.desmin: positive}", extra=caveat + "  consider: [alk_h]\n")
        + rule("test.bare", "{stains.desmin: positive}", extra="  consider: [alkh]\n"),
    )
    report = check_rules(rules_copy)
    [unknown] = messages(report, "unknown-term", "error")
    assert "consider: unknown entity 'alk_h'" in unknown and "'alkh'" in unknown and "zz-test.yaml:7:" in unknown  # its own line
    assert any("test.bare" in m and "add the caveat" in m for m in messages(report, "condition", "error"))
    assert any("test.typo" in m and "needs caveat_tests" in m for m in messages(report, "condition", "error"))


def test_an_estimate_without_its_reason_is_named_for_a_main_entity(rules_copy):
    """``ilms: ~0.6`` (no reason) is named under ILMS; the same value with its reason is not."""
    add_rules(
        rules_copy,
        rule("zz.bare", "{stains.cd30: positive, stains.cd34: positive}", likelihood="{ilms: ~0.6}")
        + rule(
            "zz.reasoned", "{stains.cd30: positive, stains.s100: positive}", likelihood='{ilms: {p: ~0.6, reason: "estimate: a test"}}'
        ),
    )
    notes = [m for m in messages(check_rules(rules_copy, engine=False), "estimate-reason", "warning") if "main entity ilms" in m]
    assert len(notes) == 1
    assert "zz.bare" in notes[0] and "zz.reasoned" not in notes[0]


def test_an_estimate_without_its_reason_is_named_for_any_profile_and_a_default(rules_copy):
    """A mimic's bare estimate and a bare ``default`` are named as well, rule by rule."""
    add_rules(
        rules_copy,
        rule("zz.mimic", "{stains.cd30: positive, stains.cd34: positive}", likelihood="{fdcs: ~0.6}"),  # default: ~0.3
    )
    notes = messages(check_rules(rules_copy, engine=False), "estimate-reason", "warning")
    assert any("profile fdcs give no reason: zz.mimic" in m for m in notes), notes
    assert any("a rule's default give no reason: zz.mimic" in m for m in notes), notes


def test_an_estimate_without_its_reason_is_located_at_its_own_cell(rules_copy):
    """Rule-editing trial: the warning pointed at the rule's ``- id:`` line, not at the cell (the README promises
    the line of the offending key)."""
    path = rules_copy / "rules" / "immunohistochemistry.yaml"
    lines = path.read_text(encoding="utf-8").split("\n")
    start = lines.index("  - id: ihc.cd34")
    at = next(i for i in range(start, len(lines)) if lines[i].startswith("      lms:"))
    lines[at] = "      lms: ~0.1"
    path.write_text("\n".join(lines), encoding="utf-8")
    (found,) = [m for m in check_rules(rules_copy, engine=False).messages if m.code == "estimate-reason"]
    assert "profile lms" in str(found) and "ihc.cd34" in str(found)
    assert found.problem.file == str(path) and found.problem.line == at + 1


def test_every_estimate_gives_its_reason():
    """The standard: an estimate is marked and gives one line of reasoning, for every profile and every
    rule's default (the main entities' since 2026-11-30, the others' since 2026-12-01)."""
    assert messages(check_rules(engine=False), "estimate-reason") == []


def test_a_figure_citing_only_a_summary_page_is_a_warning_at_its_rule(rules_copy):
    """A count or cited value whose every citation is a summary page is named (rule, profile, site, the
    cell's own line); a pool's series cited to a page alone, a count written inside a citation list and a
    cell that falls back on a summary-only rule source are named too. Not named: the same value with the
    primary paper beside the page (in the citation or as another citation), an estimate whose reason names
    the page, and a pool's series cited to a paper."""
    summary = '"Rani A. PathologyOutlines.com, 2023"'
    add_rules(
        rules_copy,
        rule("zz.summary", "{stains.cd30: positive, stains.cd34: positive}", likelihood="{ilms: {p: 0.6, source: " + summary + "}}")
        + rule(
            "zz.primary",
            "{stains.cd30: positive, stains.s100: positive}",
            likelihood='{ilms: {p: 0.6, source: "Stock N. Am J Surg Pathol 2009;33:1850 (via PathologyOutlines.com, 2023)"}}',
        )
        + rule(
            "zz.two",
            "{stains.cd30: positive, stains.cd31: positive}",
            likelihood='{ilms: {p: 0.6, source: "Rani A. PathologyOutlines.com, 2023; Stock N. Am J Surg Pathol 2009;33:1850"}}',
        )
        + rule(
            "zz.estimate",
            "{stains.cd30: positive, stains.sma: positive}",
            likelihood='{ilms: {p: ~0.6, reason: "estimate: as PathologyOutlines.com, 2023 describes"}}',
        )
        + rule(
            "zz.pool",
            "{stains.cd30: positive, stains.ema: positive}",
            likelihood='{ilms: {pooled: [{n: "3/7", source: "e-immunohistochemistry, 2020"}, {n: "1/9", source: "Test J 2020;1:2"}]}}',
        )
        + rule(
            "zz.inline",
            "{stains.cd30: positive, stains.erg: positive}",
            likelihood='{ilms: {n: "2/16", source: "Test J 2020;1:2 1/9; e-immunohistochemistry 1/7"}}',
        )
        + rule("zz.fallback", "{stains.cd30: positive, stains.cd99: positive}", likelihood="{ilms: 0.6}").replace(
            "source: Test J 2026;1:1", "source: " + summary
        ),
    )
    warned = messages(check_rules(rules_copy, engine=False), "summary-source", "warning")
    named = {m.split(", ilms")[0].split("rule ")[-1] for m in warned}
    assert named == {"zz.summary", "zz.pool", "zz.inline", "zz.fallback"}, warned
    [summary_msg] = [m for m in warned if "rule zz.summary, ilms cites only a summary page (PathologyOutlines)" in m]
    assert "zz-test.yaml:6:" in summary_msg and "or mark the value an estimate" in summary_msg  # its cell's line
    [pool_msg] = [m for m in warned if "zz.pool" in m]
    assert "series 3/7" in pool_msg and "e-immunohistochemistry" in pool_msg and "estimate" not in pool_msg
    assert any("zz.inline" in m and "e-immunohistochemistry 1/7" in m for m in warned)
    assert any("zz.fallback" in m and "falls back on" in m for m in warned)


def test_a_prior_cited_to_a_summary_page_is_named_and_a_negated_rule_once(rules_copy):
    """Entity priors are figures too; a rule with a negation (two halves) is named once."""
    entities = rules_copy / "entities.yaml"
    text = entities.read_text()
    old = text[text.index("  - slug: xg") :]
    prior_line = next(line for line in old.splitlines() if line.startswith("    prior:"))
    entities.write_text(
        text.replace(prior_line, '    prior: {p: 0.04, source: "Shankar V. Juvenile xanthogranuloma. PathologyOutlines.com, 2023"}', 1)
    )
    add_rules(
        rules_copy,
        rule(
            "zz.negated",
            "{stains.cd30: positive}",
            extra="  negated_by: {stains.cd30: negative}\n",
            likelihood='{ilms: {p: 0.6, source: "Rani A. PathologyOutlines.com, 2023"}}',
        ),
    )
    warned = messages(check_rules(rules_copy, engine=False), "summary-source", "warning")
    assert sum("entity xg: prior" in m for m in warned) == 1, warned
    assert sum("zz.negated" in m for m in warned) == 1, warned


def test_no_packaged_figure_rests_on_a_summary_page_alone():
    assert messages(check_rules(engine=False), "summary-source") == []


def test_an_estimate_whose_reason_suggests_another_figure_is_warned(rules_copy):
    """'2/32 ≈ 0.06 suggests ~0.06' beside ~0.12: the reasoning and the figure disagree (warning, with the cell's
    line); within REASON_FIGURE_SLACK, a range, or a reason that says why it departs without 'suggests', passes."""
    add_rules(
        rules_copy,
        rule(
            "zz.disagrees",
            "{stains.cd30: positive, stains.sma: positive}",
            likelihood='{ilms: {p: ~0.12, reason: "estimate: 2/32 ≈ 0.06 suggests ~0.06"}}',
        )
        + rule(
            "zz.agrees",
            "{stains.cd30: positive, stains.ema: positive}",
            likelihood='{ilms: {p: ~0.45, reason: "estimate: the pool suggests ~0.42"}}',
        )
        + rule(
            "zz.range",
            "{stains.cd30: positive, stains.cd99: positive}",
            likelihood='{ilms: {p: ~0.35, reason: "estimate: the two series suggest ~0.3-0.4"}}',
        )
        + rule(
            "zz.explains",
            "{stains.cd30: positive, stains.erg: positive}",
            likelihood='{ilms: {p: ~0.5, reason: "estimate: the pool 17/41 is adult; weighted it gives 0.5-0.6, hence ~0.5"}}',
        ),
    )
    warned = messages(check_rules(rules_copy, engine=False), "reason-figure", "warning")
    assert len(warned) == 1 and "rule zz.disagrees, ilms" in warned[0] and "suggests ~0.06" in warned[0], warned
    assert "zz-test.yaml:6:" in warned[0]  # its cell's line


def test_no_packaged_estimate_contradicts_its_own_reason():
    assert messages(check_rules(engine=False), "reason-figure") == []


def test_a_misspelt_key_in_an_entity_is_one_error_not_one_per_reference(rules_copy):
    """An entity refused for a typo is reported with its key and once as not loaded; the rules, prior sets and
    reports that name it (and its subtypes) are not each reported as naming an unknown entity."""
    path = rules_copy / "entities.yaml"
    text = path.read_text()
    path.write_text(text.replace("    who2020: Inflammatory leiomyosarcoma\n", "    who2O20: Inflammatory leiomyosarcoma\n", 1))
    report = check_rules(rules_copy)
    errors = [str(m) for m in report.messages if m.severity == "error"]
    assert errors == [e for e in errors if "entity ilms: who2O20: unknown key 'who2O20'; did you mean 'who2020'?" in e]
    assert len(errors) == 1, errors
    [not_loaded] = [str(m) for m in report.messages if m.severity == "note" and "not loaded" in str(m)]
    assert "entity ilms:" in not_loaded and "ilms_rms" in not_loaded and "ilms_lung" in not_loaded


def test_a_yaml_error_in_the_entities_is_one_error(rules_copy):
    """entities.yaml that cannot be read is its syntax error and a note, not an unknown entity at every rule."""
    path = rules_copy / "entities.yaml"
    path.write_text(path.read_text().replace("\n    prior: {p: ~0.08", "\n     prior: {p: ~0.08", 1))
    report = check_rules(rules_copy)
    errors = [str(m) for m in report.messages if m.severity == "error"]
    assert len(errors) == 1 and "entities.yaml:" in errors[0] and "YAML syntax error" in errors[0], errors
    assert any("not read" in str(m) for m in report.messages if m.severity == "note")


def test_a_mistyped_entity_slug_is_one_error_naming_both_names(rules_copy):
    """An entity whose slug no rule names, beside a near slug many rules name, is one error at the entity."""
    path = rules_copy / "entities.yaml"
    path.write_text(path.read_text().replace("  - slug: ilms\n", "  - slug: ilsm\n", 1))
    report = check_rules(rules_copy)
    errors = [str(m) for m in report.messages if m.severity == "error"]
    assert len(errors) == 1, errors
    assert "entities.yaml:" in errors[0] and "'ilsm'" in errors[0] and "'ilms'" in errors[0] and "mistyped" in errors[0]


def test_a_misspelt_key_in_a_cell_or_a_subtype_is_named_once_where_it_is(rules_copy):
    """A misspelt key of a pooled cell is not also its form's required key missing; a subtype is named by its
    slug, not its position in the list."""
    path = rules_copy / "rules" / "immunohistochemistry.yaml"
    path.write_text(path.read_text().replace("        pooled:\n", "        poold:\n", 1))
    entities = rules_copy / "entities.yaml"
    entities.write_text(entities.read_text().replace("        share: {p: ~0.1", "        shre: {p: ~0.1", 1))
    errors = [str(m) for m in check_rules(rules_copy).messages if m.severity == "error"]
    assert len(errors) == 2, errors
    assert any("poold: unknown key 'poold'; did you mean 'pooled'?" in e for e in errors), errors
    assert any("entity ilms: subtypes.ilms_rms.shre: unknown key 'shre'; did you mean 'share'?" in e for e in errors), errors


def test_a_rule_source_that_is_no_citation_is_reported_at_its_own_line(rules_copy):
    add_rules(rules_copy, rule("test.notes", "{stains.desmin: positive}").replace("source: Test J 2026;1:1", "source: my notes"))
    [msg] = [m for m in messages(check_rules(rules_copy), "source", "error") if "test.notes" in m]
    assert "zz-test.yaml:9:" in msg, msg


def test_a_rule_key_indented_into_the_likelihoods_is_one_error_saying_so(rules_copy):
    """'rationale:' indented under 'likelihood:' is not also the rationale missing and a cell that is no figure."""
    body = rule("test.indent", "{stains.desmin: positive}").replace("  rationale: a test rule\n", "")
    body = body.replace("  likelihood: {ilms: 0.6}\n", "  likelihood:\n    ilms: 0.6\n    rationale: a test rule\n")
    add_rules(rules_copy, body)
    errors = [str(m) for m in check_rules(rules_copy).messages if m.severity == "error"]
    assert len(errors) == 1 and "'rationale' is a key of the rule itself" in errors[0], errors


def test_a_misspelt_key_hides_no_other_key_missing_and_a_salvaged_rule_no_false_error(rules_copy):
    """Review: 'exmaples' beside a rationale left out still reports the rationale missing; 'likelihood_form' for
    'likelihood_from' is not read without it (which would report every entity's likelihood missing)."""
    add_rules(rules_copy, rule("test.two", "{stains.desmin: positive}").replace("  rationale: a test rule\n", "  exmaples: []\n"))
    base = rule("test.base", "{stains.sma: positive}")
    narrowed = (
        "- id: test.narrow\n  title: t\n  status: active\n  when: {stains.sma: positive, stains.desmin: positive}\n"
        "  likelihood_form: test.base\n  likelihood: {ilms: 0.6}\n  rationale: r\n  source: Test J 2026;1:1\n"
    )
    add_rules(rules_copy, base + narrowed, name="zz-more.yaml")
    errors = [str(m) for m in check_rules(rules_copy).messages if m.severity == "error"]
    assert any("rule test.two: rationale: required key 'rationale' is missing" in e for e in errors), errors
    assert any("rule test.two: exmaples: unknown key" in e for e in errors), errors
    assert any("rule test.narrow: likelihood_form: unknown key" in e for e in errors), errors
    assert not [e for e in errors if "test.narrow" in e and "no likelihood for" in e], errors


def test_a_new_entity_beside_a_typo_in_two_rules_is_not_taken_for_a_rename(rules_copy):
    """Review: a new entity no rule names yet, and 'dlps' written for 'ddlps' in two rules, are reported as what
    they are, not as one entity renamed."""
    path = rules_copy / "entities.yaml"
    new = (
        "entities:\n  - slug: wdlps\n    name: Well-differentiated liposarcoma\n    group: main\n"
        '    prior: {p: ~0.02, reason: "estimate: test"}\n    source: "Test J 2026;1:1"\n'
    )
    path.write_text(path.read_text().replace("entities:\n", new, 1))
    add_rules(
        rules_copy,
        rule("test.a", "{stains.sma: positive}", likelihood="{dlps: 0.6}")
        + rule("test.b", "{stains.desmin: positive}", likelihood="{dlps: 0.6}"),
    )
    errors = [str(m) for m in check_rules(rules_copy).messages if m.severity == "error"]
    assert not [e for e in errors if "mistyped" in e], errors[:3]
    assert any("rule test.a: unknown entity 'dlps'" in e for e in errors), errors[:5]
    assert any("no prior for wdlps" in e for e in errors) or any("no likelihood for" in e and "wdlps" in e for e in errors)


def test_a_yaml_error_in_a_rule_file_names_the_rule_it_is_in(rules_copy):
    """A key outdented below its rule's keys is a YAML error at its line, in that rule, with what to check."""
    body = rule("test.yaml", "{stains.desmin: positive}").replace("  rationale: a test rule\n", "rationale: a test rule\n")
    add_rules(rules_copy, rule("test.before", "{stains.sma: positive}") + body)
    [msg] = messages(check_rules(rules_copy), "syntax", "error")
    assert "zz-test.yaml:" in msg and "rule test.yaml: YAML syntax error" in msg, msg


@pytest.mark.parametrize(
    ("file", "anchor", "named"),
    [
        ("entities.yaml", "        short: RMS-in-IRMT\n", "subtype ilms_rms"),
        ("outside.yaml", None, "outside entity"),
    ],
)
def test_a_yaml_error_names_a_subtype_or_an_outside_entity_as_such(rules_copy, file, anchor, named):
    """A '- slug:' indented under an entity is a subtype's; one in outside.yaml is an outside entity's."""
    path = rules_copy / file
    text = path.read_text()
    if anchor is None:  # the line after the first outside entity's slug
        start = text.index("- slug:")
        anchor = text[text.index("\n", start) + 1 : text.index("\n", text.index("\n", start) + 1) + 1]
    # a key outdented to column 0 inside the item: a syntax error there
    path.write_text(text.replace(anchor, anchor + "stray: [\n", 1))
    [msg] = messages(check_rules(rules_copy), "syntax", "error")
    assert f": {named}" in msg, msg
