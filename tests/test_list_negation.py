"""``not`` over list findings: "not recorded, or recorded without the item(s)".

The production matcher (durable-rules, ``$iall`` of ``$neq``) and the plain-Python oracle must agree on
every case, including the edge a list finding has that a term finding has not: a list recorded with
other items only.
"""

from __future__ import annotations

import random

import pytest

from ddx.authoring.satisfiability import Logic
from ddx.engine import DurableMatcher, PythonMatcher
from ddx.knowledge.conditions import describe, negate, parse_condition
from ddx.synthetic import synthetic_case
from tests.conftest import validate
from tests.test_engine import make_rule

ARCH = "morphology.architecture"

# (rule id, condition): every list operator under ``not``, and ``not`` of ``not``
CONDITIONS = {
    "t.not-contains": {"not": {ARCH: {"contains": "cords"}}},
    "t.not-any": {"not": {ARCH: {"contains_any": ["cords", "microalveolar", "pseudovascular"]}}},
    "t.not-all": {"not": {ARCH: {"contains_all": ["fascicles", "storiform"]}}},
    "t.not-not": {"not": {"not": {ARCH: {"contains_any": ["cords", "nested"]}}}},
    "t.with": {
        "all": [{"morphology.stroma": {"contains": "hyalinized"}}, {"not": {ARCH: {"contains_any": ["cords", "microalveolar"]}}}]
    },
}


def _rules(knowledge):
    return [make_rule(knowledge, rid, when) for rid, when in CONDITIONS.items()]


@pytest.mark.parametrize(
    ("architecture", "fires"),
    [
        (None, {"t.not-contains", "t.not-any", "t.not-all"}),  # not recorded: unknown is not "has it"
        (["fascicles"], {"t.not-contains", "t.not-any", "t.not-all"}),
        (["cords"], {"t.not-all", "t.not-not"}),
        (["fascicles", "storiform"], {"t.not-contains", "t.not-any"}),
        (["nested", "pseudovascular"], {"t.not-contains", "t.not-all", "t.not-not"}),
    ],
)
def test_the_oracle_reads_not_over_a_list_as_not_recorded_or_without_the_items(knowledge, architecture, fires):
    facts = {} if architecture is None else {"morphology__architecture": sorted(architecture)}
    assert PythonMatcher(_rules(knowledge)).match(facts) == fires


def test_a_rule_reading_stroma_but_not_the_pattern_fires_only_without_the_pattern(knowledge):
    matcher = PythonMatcher(_rules(knowledge))
    hyal = {"morphology__stroma": ["hyalinized"]}
    assert "t.with" in matcher.match(hyal)
    assert "t.with" in matcher.match(dict(hyal, morphology__architecture=["fascicles"]))
    assert "t.with" not in matcher.match(dict(hyal, morphology__architecture=["cords", "fascicles"]))


@pytest.mark.durable
def test_durable_rules_agrees_with_the_oracle_on_generated_cases(knowledge, analyzer):
    rules = _rules(knowledge)
    rng = random.Random(20261201)
    seen: dict[str, set[bool]] = {r.id: set() for r in rules}
    with DurableMatcher(rules) as durable:
        python = PythonMatcher(rules)
        for i in range(1500):
            raw = synthetic_case(knowledge.vocab, rng, f"n{i}", density=rng.choice([0.2, 0.5, 0.9]))
            facts = analyzer.facts(validate(knowledge, raw))
            got, want = durable.match(facts), python.match(facts)
            assert got == want, (facts.get("morphology__architecture"), sorted(got ^ want))
            for r in rules:
                seen[r.id].add(r.id in got)
    # each rule both fired and did not: the comparison covered both sides of every negation
    assert all(v == {True, False} for v in seen.values()), seen


def test_double_negation_is_the_condition_itself(knowledge):
    node = parse_condition({ARCH: {"contains_any": ["cords", "nested"]}}, knowledge.vocab)
    twice = negate(negate(node))
    facts_with = {"morphology__architecture": ["nested"]}
    assert describe(negate(node)) == f"({ARCH} not recorded or {ARCH} includes none of cords, nested)"
    from ddx.knowledge.conditions import compile_predicate

    for facts in ({}, facts_with, {"morphology__architecture": ["fascicles"]}):
        assert compile_predicate(twice)(facts) == compile_predicate(node)(facts)


def test_satisfiability_knows_a_list_cannot_both_hold_and_lack_an_item(knowledge):
    logic = Logic(knowledge.vocab)
    contradiction = parse_condition(
        {"all": [{ARCH: {"contains": "cords"}}, {"not": {ARCH: {"contains_any": ["cords", "nested"]}}}]}, knowledge.vocab
    )
    fine = parse_condition({"all": [{ARCH: {"contains": "fascicles"}}, {"not": {ARCH: {"contains": "cords"}}}]}, knowledge.vocab)
    assert not logic.satisfiable(contradiction)
    assert logic.satisfiable(fine)
    # "holds fascicles, lacks cords" implies "lacks cords", not the other way round
    lacks = parse_condition({"not": {ARCH: {"contains": "cords"}}}, knowledge.vocab)
    assert logic.implies(fine, lacks)
    assert not logic.implies(lacks, fine)


def test_a_negated_list_condition_reads_none_of_the_case_items(knowledge, analyzer):
    """ "Recorded, not used by the ranking" must still list architecture items when the only rule that fired
    on the architecture did so because the items it names are absent."""
    from ddx.knowledge.conditions import atoms, reads_nothing

    lists = frozenset(p for p, kind in knowledge.vocab.finding_paths().items() if kind == "list")
    lacks = parse_condition({"not": {ARCH: {"contains_any": ["cords", "nested"]}}}, knowledge.vocab)
    assert all(reads_nothing(a, lists) for a in atoms(lacks))
    # over a stain, "not positive" still reads the stain (it holds on a recorded negative)
    not_positive = parse_condition({"not": {"stains.desmin": "positive"}}, knowledge.vocab)
    assert not all(reads_nothing(a, lists) for a in atoms(not_positive))
    assert analyzer.reads["morph.hyalinized.no-pattern"] == (frozenset(), {"morphology__stroma": frozenset({"hyalinized"})})


def test_double_negation_over_a_list_reads_only_the_items_it_names(knowledge):
    """``not`` of ``not`` adds "recorded" beside the items: the list as a whole is still not read."""
    from ddx.knowledge.conditions import atoms, reads_nothing

    lists = frozenset(p for p, kind in knowledge.vocab.finding_paths().items() if kind == "list")
    twice = parse_condition({"not": {"not": {ARCH: {"contains": "cords"}}}}, knowledge.vocab)
    read = [a for a in atoms(twice) if not reads_nothing(a, lists)]
    assert [(a.op, a.value) for a in read] == [("contains", "cords")]


@pytest.mark.parametrize(
    ("architecture", "rule"),
    [
        (None, "morph.stroma.hyalinized"),
        (["fascicles"], "morph.hyalinized.no-pattern"),
        (["nested", "fascicles"], "morph.stroma.hyalinized"),  # the nested SRMS are the sclerosing ones
        (["fascicles", "cords"], None),  # the sclerosing pattern scores the pair
    ],
)
def test_hyalinized_stroma_is_scored_once_in_each_state_of_the_architecture(knowledge, analyzer, architecture, rule):
    facts = {"morphology__stroma": ["hyalinized"]}
    if architecture:
        facts["morphology__architecture"] = sorted(architecture)
    fired = analyzer.matcher.match(facts) & {"morph.stroma.hyalinized", "morph.hyalinized.no-pattern"}
    assert fired == ({rule} if rule else set())


def test_hyalinized_stroma_beside_a_spindle_cell_architecture_favours_srms_less(knowledge):
    """Without the pattern, an SRMS is mostly a spindle cell tumour with focal sclerosis; every other profile
    keeps its figure (none of them has the pattern to lose)."""
    unknown = knowledge.rule["morph.stroma.hyalinized"].spec.likelihood
    without = knowledge.rule["morph.hyalinized.no-pattern"].spec.likelihood
    assert without["srms"].p < unknown["srms"].p
    assert {s: c.p for s, c in without.items() if s != "srms"} == {s: c.p for s, c in unknown.items() if s != "srms"}


def test_a_finding_a_scoring_rule_accounts_for_is_not_listed_as_unused(knowledge, analyzer):
    """cords with a hyaline matrix: morph.sclerosing-pattern scores the pair (its figures are the sclerosing
    tumours'), so the stroma is not "recorded, not used"; without the pattern it would be scored itself."""
    facts = {"morphology__stroma": ["hyalinized", "myxoid"], "morphology__architecture": ["cords"]}
    matched = analyzer.matcher.match(facts)
    assert "morph.sclerosing-pattern" in matched and not matched & {"morph.stroma.hyalinized", "morph.hyalinized.no-pattern"}
    unused = {(u.finding, u.value) for u in analyzer.unused(facts, matched)}
    assert ("morphology.stroma", "hyalinized") not in unused
    # the rule accounts for the hyaline matrix only, not for every stroma it meets
    assert "morph.stroma.myxoid" in matched or ("morphology.stroma", "myxoid") in unused


def test_accounts_for_is_checked_against_the_vocabulary(rules_copy):
    from ddx.knowledge import load_knowledge_partial

    path = rules_copy / "rules" / "morphology.yaml"
    text = path.read_text(encoding="utf-8")
    broken = text.replace(
        "accounts_for: {morphology.stroma: {contains: hyalinized}}", "accounts_for: {morphology.stroma: {contains: glassy}}"
    )
    assert broken != text
    path.write_text(broken, encoding="utf-8")
    _, problems = load_knowledge_partial(rules_copy)
    [problem] = [p for p in problems if "accounts_for" in p.message]
    assert "morph.sclerosing-pattern" in problem.message and "glassy" in problem.message
    assert "hyalinized" in problem.suggestions  # the nearest valid terms


def test_accounts_for_takes_list_items_and_single_values_only(rules_copy):
    """A stain named without one value under accounts_for would be hidden from "recorded, not used" whatever its
    recorded result."""
    from ddx.knowledge import load_knowledge_partial

    path = rules_copy / "rules" / "morphology.yaml"
    text = path.read_text(encoding="utf-8")
    old = "accounts_for: {morphology.stroma: {contains: hyalinized}}"
    path.write_text(
        text.replace(old, "accounts_for: {morphology.stroma: {contains: hyalinized}, stains.cd99: {known: true}}"), encoding="utf-8"
    )
    _, problems = load_knowledge_partial(rules_copy)
    [problem] = [p for p in problems if "accounts_for" in p.message]
    assert "findings with one value" in problem.message and "stains.cd99" in problem.message and problem.line is not None
    one_value = "accounts_for: {morphology.stroma: {contains: hyalinized}, stains.cd99: negative}"
    path.write_text(text.replace(old, one_value), encoding="utf-8")
    _, problems = load_knowledge_partial(rules_copy)
    assert not [p for p in problems if "accounts_for" in p.message]


def test_rules_show_gives_what_a_rule_accounts_for():
    import json

    from click.testing import CliRunner

    from ddx.cli import main

    text = CliRunner().invoke(main, ["rules", "show", "morph.sclerosing-pattern"], env={"COLUMNS": "200"})
    assert text.exit_code == 0 and "accounts_for (as read" in text.output and "morphology.stroma includes hyalinized" in text.output
    data = json.loads(CliRunner().invoke(main, ["rules", "show", "morph.stroma.myxoid", "--format", "json"]).output)
    assert data["accounts_for"] is None


def test_describe_leaves_out_a_not_recorded_alternative_beside_recorded(knowledge):
    node = parse_condition({"all": [{ARCH: {"known": True}}, {"not": {ARCH: {"contains_any": ["cords", "nested"]}}}]}, knowledge.vocab)
    assert describe(node) == f"{ARCH} recorded and {ARCH} includes none of cords, nested"
    alone = parse_condition({"not": {ARCH: {"contains": "cords"}}}, knowledge.vocab)
    assert "not recorded" in describe(alone)  # without "recorded" beside it the alternative stays
