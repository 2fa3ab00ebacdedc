"""Each packaged rule's examples as a test of its own, one test id per rule id (``test_examples[ihc.desmin]``),
as Sigma and Semgrep test each rule: a rule whose examples fail is named by the test that fails.

The examples run through the code ``ddx rules check`` runs them with (:mod:`ddx.authoring.check`): each is validated
as a case, matched by ddx's own matcher and, where durable-rules imports, by durable-rules too (the two must
agree), and compared with what the rule's ``should_match`` / ``should_not_match`` says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ddx.authoring.check import CheckReport, _run_example
from ddx.engine import DurableMatcher, PythonMatcher, durable_problem
from ddx.knowledge import Knowledge, Rule, load_knowledge, packaged_rules_dir

KNOWLEDGE = load_knowledge(packaged_rules_dir())
USABLE = [r for r in KNOWLEDGE.rules if r.spec.status != "retired"]  # the rules 'ddx rules check' runs
RULES = {r.spec.id: r for r in USABLE if not r.negated}  # a negated half shares its rule's examples


@pytest.fixture(scope="module")
def matchers() -> Iterator[tuple[set[str], PythonMatcher, DurableMatcher | None]]:
    """The fact keys, the python matcher and (where it imports) durable-rules, compiled once for the module."""
    keys = {key for r in USABLE for key in r.keys}
    durable = DurableMatcher(USABLE) if durable_problem() is None else None
    try:
        yield keys, PythonMatcher(USABLE), durable
    finally:
        if durable is not None:
            durable.close()


def run_examples(k: Knowledge, rule: Rule, matchers: tuple[set[str], PythonMatcher, Any]) -> CheckReport:
    report = CheckReport(k.directory, k)
    examples = rule.spec.examples
    assert examples is not None, f"rule {rule.spec.id} has no examples"
    for want, items in ((True, examples.should_match), (False, examples.should_not_match)):
        for n, example in enumerate(items, start=1):
            _run_example(k, report, rule, want, n, example, *matchers)
    return report


def test_the_tests_run_every_example_ddx_rules_check_runs():
    """The rules are chosen here as 'ddx rules check' chooses them: together the tests run as many examples."""
    from ddx.authoring.check import check_rules

    per_rule = sum(
        len(r.spec.examples.should_match) + len(r.spec.examples.should_not_match)
        for r in RULES.values()
        if r.spec.examples is not None
    )
    assert check_rules(packaged_rules_dir(), engine=False).examples_run == per_rule > 0


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_examples(rule_id: str, matchers):
    rule = RULES[rule_id]
    examples = rule.spec.examples
    assert examples is not None and examples.should_match and examples.should_not_match, (
        f"rule {rule_id} needs a should_match and a should_not_match example"
    )
    report = run_examples(KNOWLEDGE, rule, matchers)
    assert report.examples_run == len(examples.should_match) + len(examples.should_not_match)
    assert report.errors == [], "\n".join(str(m.problem) for m in report.errors)
