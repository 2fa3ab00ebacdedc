"""A rule narrowed to a subgroup of cases (``likelihood_from``): a finding whose figures depend on another
finding (the site of a tumour on the patient's age) is scored once, by the rule for the subgroup the case is in,
with the figures that differ written there and the rest taken from the broader rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddx.authoring.check import check_rules
from ddx.errors import KnowledgeError
from ddx.knowledge import load_knowledge
from tests.test_rulecheck import add_rules, messages

BASE = """\
- id: test.site
  title: test site
  status: active
  when: {clinical.site_group: extremity, not: {patient.age: {gte: 18}}}
  likelihood:
    ilms: {n: "4/9", source: "Base A 2020;1:1"}
    imt: {p: ~0.05, reason: "estimate: the base's reasoning"}
    imt_alkneg: {p: ~0.07, reason: "estimate: the subtype's base reasoning"}
    srms: 0.3
  default: ~0.2
  rationale: a test rule
  source: Base J 2026;1:1
- id: test.site.adult
  title: test site, adult
  status: active
  when: {clinical.site_group: extremity, patient.age: {gte: 18}}
  likelihood_from: test.site
  likelihood:
    imt: {n: "1/45", source: "Adult B 2021;2:2"}
  rationale: a test rule
  source: Adult J 2026;1:1
"""


def _specs(rules_dir: Path):
    return {r.spec.id: r.spec for r in load_knowledge(rules_dir).rules}


def test_a_narrowed_rule_takes_the_figures_it_does_not_give_from_its_base(rules_copy):
    add_rules(rules_copy, BASE)
    spec = _specs(rules_copy)["test.site.adult"]
    cells = spec.likelihood
    assert cells["imt"].total == 45  # its own figure
    assert cells["imt_alkneg"].p == 0.07  # a subtype's own figure in the base is the base's knowledge of it: kept
    assert (cells["ilms"].k, cells["ilms"].total) == (4, 9)  # the base's count, with the base's citation
    assert cells["srms"].p == 0.3 and cells["srms"].source == "Base J 2026;1:1"  # a cited figure keeps its source
    assert spec.default is not None and spec.default.p == 0.2  # and the default
    base = _specs(rules_copy)["test.site"]
    assert set(base.likelihood) == {"ilms", "imt", "imt_alkneg", "srms"}  # the base is unchanged


def test_an_inherited_estimate_says_whose_figure_it_is(rules_copy):
    add_rules(
        rules_copy,
        BASE.replace('    imt: {n: "1/45", source: "Adult B 2021;2:2"}', '    ilms: {n: "5/9", source: "Adult C 2022;3:3"}'),
    )
    cells = _specs(rules_copy)["test.site.adult"].likelihood
    assert "the figure of rule test.site" in cells["imt"].reason and cells["imt"].reason.startswith("estimate: the base's reasoning")
    assert "the figure of rule test.site" in cells["imt_alkneg"].reason  # the subtype's own base figure
    assert cells["ilms"].total == 9 and cells["ilms"].k == 5


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (("likelihood_from: test.site\n", "likelihood_from: test.sit\n"), ["'test.sit'", "is not a rule", "test.site"]),
        (
            (
                "  default: ~0.2\n  rationale: a test rule\n  source: Base J 2026;1:1\n",
                "  rationale: a test rule\n  source: Base J 2026;1:1\n  likelihood_from: test.other\n",
            ),
            ["is itself filled from"],
        ),
        (("likelihood_from: test.site\n", "likelihood_from: test.site.adult\n"), ["names the rule itself"]),
    ],
)
def test_a_base_that_cannot_lend_its_figures_is_a_problem(rules_copy, edit, words):
    body = BASE.replace(*edit)
    if "test.other" in body:
        body += (
            BASE.split("- id: test.site.adult")[0]
            .replace("id: test.site\n", "id: test.other\n")
            .replace("site_group: extremity, not: {patient.age: {gte: 18}}", "site_group: trunk")
        )
    add_rules(rules_copy, body)
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(rules_copy)
    for word in words:
        assert word in str(info.value)


def test_a_narrowed_rule_needs_figures_of_its_own(rules_copy):
    add_rules(
        rules_copy, BASE.replace('  likelihood:\n    imt: {n: "1/45", source: "Adult B 2021;2:2"}\n', "  caveat: a test caveat\n")
    )
    with pytest.raises(KnowledgeError, match="give the figures that differ"):
        load_knowledge(rules_copy)


def test_rules_check_refuses_a_narrowed_rule_that_can_fire_with_its_base(rules_copy):
    add_rules(
        rules_copy,
        BASE.replace(
            "when: {clinical.site_group: extremity, not: {patient.age: {gte: 18}}}", "when: {clinical.site_group: extremity}"
        ),
    )
    report = check_rules(rules_copy, engine=False)
    [msg] = messages(report, "narrowed", "error")
    assert "test.site.adult" in msg and "count twice" in msg and "zz-test.yaml" in msg


def test_rules_check_accepts_the_pair_once_the_base_is_narrowed_the_other_way(rules_copy):
    add_rules(rules_copy, BASE)
    report = check_rules(rules_copy, engine=False)
    assert not messages(report, "narrowed"), [str(m) for m in report.messages]


def test_rules_check_refuses_a_narrowed_rule_whose_base_is_not_active(rules_copy):
    add_rules(rules_copy, BASE.replace("  status: active\n", "  status: draft\n", 1))
    report = check_rules(rules_copy, engine=False)
    [msg] = messages(report, "narrowed", "error")
    assert "draft" in msg


def test_a_subtype_without_a_figure_in_either_rule_reads_its_entitys_narrowed_figure(rules_copy):
    add_rules(rules_copy, BASE.replace('    imt_alkneg: {p: ~0.07, reason: "estimate: the subtype\'s base reasoning"}\n', ""))
    k = load_knowledge(rules_copy)
    rule = k.rule["test.site.adult"]
    assert "imt_alkneg" not in rule.spec.likelihood
    [alkneg] = [p for p in k.profiles if p.subtype == "imt_alkneg"]
    assert k.profile_likelihood(rule, alkneg).total == 45


@pytest.mark.parametrize(
    ("age", "rule", "srms_k_n"),
    [(None, "clin.site.viscera", None), (52, "clin.site.viscera.adult", (4, 32)), (6, "clin.site.viscera.child", (13, 34))],
)
def test_a_visceral_site_is_scored_once_by_the_rule_for_the_patients_age(knowledge, oracle, age, rule, srms_k_n):
    """The packaged site rules: one of the three fires, and spindle cell / sclerosing RMS's figure is that of
    its age group (children's paratesticular tumours; adults' rarely in an organ)."""
    from tests.conftest import validate

    raw = {"id": "c", "clinical": {"site": "paratesticular"}} | ({"patient": {"age": age}} if age is not None else {})
    matched = set(oracle.analyze(validate(knowledge, raw)).matched)
    fired = sorted(r for r in matched if r.startswith("clin.site.viscera"))
    assert fired == [rule]
    cell = knowledge.rule[rule].spec.likelihood["srms"]
    if srms_k_n is not None:
        assert (cell.k, cell.total) == srms_k_n
        base = knowledge.rule["clin.site.viscera"].spec.likelihood
        assert knowledge.rule[rule].spec.likelihood["prms"] == base["prms"]  # no age split known: the base's figure


def test_a_taken_figure_is_counted_and_checked_once_where_it_is_written(rules_copy):
    """The provenance table counts a narrowed rule's own figures only, and ddx rules check does not report the
    base's figures a second time at the narrowed rule; ddx rules show says whose figure a row is."""
    from ddx.provenance import evidence_split

    def totals(k):
        return {s.profile: s.total for s in evidence_split(k)}

    add_rules(rules_copy, BASE.split("- id: test.site.adult")[0])
    before = totals(load_knowledge(rules_copy))
    add_rules(rules_copy, BASE)
    k = load_knowledge(rules_copy)
    after = totals(k)
    assert after["imt"] == before["imt"] + 1 and after["ilms"] == before["ilms"]
    assert "ilms" in k.rule["test.site.adult"].inherited and "imt" not in k.rule["test.site.adult"].inherited
    assert "default" in k.rule["test.site.adult"].inherited
    summary_page = 'source: "Smith J. Inflammatory leiomyosarcoma. PathologyOutlines.com, 2024"'
    add_rules(rules_copy, BASE.replace('source: "Base A 2020;1:1"', summary_page))
    report = check_rules(rules_copy, engine=False)
    summary = [str(m) for m in report.messages if m.code == "summary-source" and "zz-test.yaml" in str(m)]
    assert len(summary) == 1 and "rule test.site, ilms" in summary[0], summary


CHILD = """\
- id: test.site.child
  title: test site, child
  status: active
  when: {clinical.site_group: extremity, patient.age: {lt: 18}}
  likelihood_from: test.site
  likelihood:
    imt: {n: "8/110", source: "Child C 2022;3:3"}
  rationale: a test rule
  source: Child J 2026;1:1
"""


def _family(adult_when: str = "{clinical.site_group: extremity, patient.age: {gte: 18}}") -> str:
    base = BASE.replace("not: {patient.age: {gte: 18}}", "patient.age: {known: false}")
    return base.replace("when: {clinical.site_group: extremity, patient.age: {gte: 18}}", f"when: {adult_when}") + CHILD


def test_rules_check_accepts_a_family_read_three_ways(rules_copy):
    add_rules(rules_copy, _family())
    report = check_rules(rules_copy, engine=False)
    assert not messages(report, "narrowed"), [str(m) for m in report.messages]


def test_rules_check_refuses_two_narrowed_rules_of_one_base_that_overlap(rules_copy):
    """Regression (review): only each narrowed rule against its base was compared, so an adult rule reading
    age >= 16 and a child rule reading age < 18 both scored a 17-year-old's site."""
    add_rules(rules_copy, _family("{clinical.site_group: extremity, patient.age: {gte: 16}}"))
    report = check_rules(rules_copy, engine=False)
    [msg] = messages(report, "narrowed", "error")
    assert "test.site.adult" in msg and "test.site.child" in msg and "count twice" in msg


def test_rules_check_refuses_negations_of_one_family_that_overlap(rules_copy):
    """Regression (review): the negated_by halves were not compared, so a base whose negation was not narrowed
    scored 'site not the extremity' beside its narrowed rule's."""
    negation = "  negated_by: {clinical.site_group: trunk}\n"
    body = _family().replace("  likelihood:\n    ilms:", negation + "  likelihood:\n    ilms:", 1)
    body = body.replace(
        "  likelihood_from: test.site\n", "  likelihood_from: test.site\n" + negation.replace("}", ", patient.age: {gte: 18}}"), 1
    )
    add_rules(rules_copy, body)
    report = check_rules(rules_copy, engine=False)
    [msg] = messages(report, "narrowed", "error")
    assert "test.site:not" in msg and "test.site.adult:not" in msg and "its negation would count twice" in msg


def test_a_narrowed_rule_left_inactive_beside_its_active_base_is_a_warning(rules_copy):
    add_rules(
        rules_copy,
        _family().replace(
            "  status: active\n  when: {clinical.site_group: extremity, patient.age: {lt: 18}}",
            "  status: draft\n  when: {clinical.site_group: extremity, patient.age: {lt: 18}}",
        ),
    )
    report = check_rules(rules_copy, engine=False)
    [msg] = messages(report, "narrowed", "warning")
    assert "test.site.child is draft" in msg and "scored by neither" in msg


def test_a_narrowed_rule_gives_no_default_of_its_own(rules_copy):
    add_rules(rules_copy, BASE.replace("  likelihood_from: test.site\n", "  likelihood_from: test.site\n  default: ~0.6\n"))
    with pytest.raises(KnowledgeError, match="takes its base's default"):
        load_knowledge(rules_copy)


def test_rules_show_names_the_base_of_each_taken_figure(rules_copy):
    """`ddx rules show`: a row whose figure the rule writes has no base; a row read from the base names it, the
    base's default included (with the base's citation, not the narrowed rule's)."""
    import json

    from click.testing import CliRunner

    from ddx.cli import main

    add_rules(rules_copy, BASE)
    out = CliRunner().invoke(main, ["rules", "show", "test.site.adult", "--rules", str(rules_copy), "--format", "json"])
    assert out.exit_code == 0, out.output
    shown = json.loads(out.output)
    assert shown["likelihood_from"] == "test.site"
    weights = shown["weights"]
    assert weights["imt"]["inherited_from"] is None and weights["ilms"]["inherited_from"] == "test.site"
    assert weights["prms"]["inherited_from"] == "test.site" and weights["prms"]["source"] == "Base J 2026;1:1"  # the default
    text = CliRunner().invoke(main, ["rules", "show", "test.site.adult", "--rules", str(rules_copy)], env={"COLUMNS": "200"})
    assert "from test.site:" in text.output and "likelihood_from" in text.output


def test_rules_diff_says_a_narrowed_rules_changed_figure_came_from_its_base(knowledge, rules_copy):
    from ddx.authoring.diff import rule_changes

    path = rules_copy / "rules" / "clinical.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  - id: clin.site.viscera\n")
    at = text.index("      ilms: {p: ~0.03,", start)
    end = text.index("\n", at)
    path.write_text(text[:at] + '      ilms: {p: ~0.05, reason: "estimate: a test"}' + text[end:], encoding="utf-8")
    changes = {c.rule: c for c in rule_changes(knowledge, load_knowledge(rules_copy))}
    assert "from" not in str(changes["clin.site.viscera"])
    assert "likelihood.ilms ~0.03 → ~0.05 (from clin.site.viscera)" in str(changes["clin.site.viscera.adult"])
