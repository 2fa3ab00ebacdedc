"""Properties that must hold for every valid case (hypothesis).

Cases are drawn from the vocabulary by :func:`ddx.synthetic.synthetic_case`
from a hypothesis-chosen seed and density, so every run covers the same
space and a failure shrinks to a seed that reproduces it. ``derandomize``
makes the CI run reproducible.
"""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddx.analysis import Analyzer
from ddx.entry import CaseEntry, case_to_data
from ddx.knowledge import load_knowledge
from ddx.loader import case_to_yaml
from ddx.ranking import Ranker
from ddx.synthetic import synthetic_case
from ddx.yamlio import strip_lines

KNOWLEDGE = load_knowledge()
ENGINE = Analyzer(KNOWLEDGE)  # durable-rules
ORACLE = Analyzer(KNOWLEDGE, "python")  # plain Python
# the same rules in reverse order (a different sharding of the engine, too)
REVERSED = dataclasses.replace(KNOWLEDGE, rules=list(reversed(KNOWLEDGE.rules)))
ENGINE_REVERSED = Analyzer(REVERSED)
SCORED = sorted(r.id for r in KNOWLEDGE.active_rules if r.spec.likelihood is not None)

COMMON = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def raw_cases(draw: st.DrawFn) -> dict:
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    density = draw(st.sampled_from([0.05, 0.2, 0.4, 0.7, 1.0]))
    return synthetic_case(KNOWLEDGE.vocab, random.Random(seed), f"h{seed}", density=density)


def _ranking(analysis) -> list[tuple[str, float]]:
    return [(r.entity, r.probability) for r in analysis.ranking]


def budget(fast: int, slow: int) -> pytest.MarkDecorator:
    """Run a property with ``fast`` examples in the default suite and ``slow`` under ``pytest -m slow``."""
    return pytest.mark.parametrize("examples", [fast, pytest.param(slow, marks=pytest.mark.slow)])


def check(examples: int, strategy: st.SearchStrategy, body) -> None:
    """``body`` as a hypothesis property over ``strategy`` with ``examples`` examples (derandomised)."""
    settings(max_examples=examples, **COMMON)(given(strategy)(body))()


@pytest.mark.durable
@budget(1_000, 10_000)
def test_engine_and_oracle_match_the_same_rules(examples):
    def body(raw):
        case = KNOWLEDGE.case_schema.validate(raw)
        facts = ENGINE.facts(case)
        assert ENGINE.matcher.match(facts) == ORACLE.matcher.match(facts)

    check(examples, raw_cases(), body)


@budget(300, 1_500)
def test_ranking_is_deterministic_normalised_and_independent_of_order(examples):
    check(examples, raw_cases(), _deterministic_normalised_and_independent_of_order)


def _deterministic_normalised_and_independent_of_order(raw):
    case = KNOWLEDGE.case_schema.validate(raw)
    first = ENGINE.analyze(case)
    again = ENGINE.analyze(case)
    assert _ranking(first) == _ranking(again) and first.matched == again.matched
    probs = [p for _, p in _ranking(first)]
    assert all(0.0 <= p <= 1.0 for p in probs) and math.isclose(math.fsum(probs), 1.0, abs_tol=1e-9)
    # the findings in another order
    shuffled = _reordered(raw, random.Random(len(str(raw))))
    assert _ranking(ENGINE.analyze(KNOWLEDGE.case_schema.validate(shuffled))) == _ranking(first)
    # the rules in another order
    assert _ranking(ENGINE_REVERSED.analyze(case)) == _ranking(first)


def _reordered(value, rng: random.Random):
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _reordered(v, rng) for k, v in items}
    if isinstance(value, list):
        out = [_reordered(v, rng) for v in value]
        rng.shuffle(out)
        return out
    return value


RANKER = Ranker(KNOWLEDGE)


@budget(600, 3_000)
def test_a_finding_most_likely_under_x_never_lowers_x(examples):
    check(
        examples, st.tuples(st.sets(st.sampled_from(SCORED), max_size=12), st.sampled_from(SCORED)), lambda pair: _never_lowers(*pair)
    )


def _never_lowers(matched, rule_id):
    """Adding a matched rule whose likelihood for profile X (an entity or a subtype) is at least
    that for every other profile never lowers X's probability (the Bayes update, after shrinkage,
    clamping, negation and the temperature)."""
    before = RANKER.profile_posterior(frozenset(matched - {rule_id}))
    after = RANKER.profile_posterior(frozenset(matched | {rule_id}))
    lik = RANKER.log_lik[rule_id]
    for i, x in enumerate(lik):
        if x >= max(lik):
            assert after[i] >= before[i] - 1e-12, (rule_id, RANKER.profiles[i].slug)


@budget(300, 1_500)
def test_save_then_load_round_trips_every_case(examples):
    check(examples, raw_cases(), _round_trips)


def _round_trips(raw):
    import yaml

    case = KNOWLEDGE.case_schema.validate(raw)
    text = case_to_yaml(case_to_data(case, KNOWLEDGE.vocab))
    again = KNOWLEDGE.case_schema.validate(strip_lines(yaml.safe_load(text)))
    assert again == case
    entry = CaseEntry(KNOWLEDGE, case_to_data(again, KNOWLEDGE.vocab))
    assert entry.case == case
