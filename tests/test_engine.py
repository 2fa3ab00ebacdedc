"""durable-rules hazards (README.md, "durable-rules, driven safely"), one test each,
and the agreement of the production matcher with the plain-Python oracle."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import textwrap
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddx.engine import (
    SENTINEL,
    DurableMatcher,
    PythonMatcher,
    engine_json,
    engine_number,
    plan_shards,
    ruleset_definition,
)
from ddx.errors import EngineError, KnowledgeError
from ddx.knowledge import Rule, RuleSpec, load_knowledge
from ddx.knowledge.conditions import compile_predicate, parse_condition
from ddx.synthetic import synthetic_case
from tests.conftest import REPO, validate


def make_rule(knowledge, rid, when):
    spec = RuleSpec.model_validate(
        {"id": rid, "title": rid, "status": "active", "when": when, "caveat": "x", "rationale": "test", "source": "test"}
    )
    node = parse_condition(when, knowledge.vocab)
    return Rule(rid, spec, False, node, compile_predicate(node), "test", None)


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {"MALLOC_PERTURB_": "165", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO
    )


@pytest.mark.durable
def test_engine_agrees_with_oracle_on_generated_cases(knowledge, analyzer, oracle):
    """Thousands of generated cases: both matchers return exactly the same rules.

    3,000 evaluations in one matcher also exceed the 1,024-live-session limit
    many times over, which only works because every session is deleted."""
    rng = random.Random(20261124)
    fired = set()
    for i in range(3000):
        raw = synthetic_case(knowledge.vocab, rng, f"g{i}", density=rng.choice([0.1, 0.3, 0.6]))
        facts = analyzer.facts(validate(knowledge, raw))
        got, want = analyzer.matcher.match(facts), oracle.matcher.match(facts)
        assert got == want, (raw, sorted(got ^ want))
        fired |= got
    # the generator reaches most of the rule base, so the comparison means something
    assert len(fired) > 0.8 * len(knowledge.active_rules)


@pytest.mark.durable
def test_no_host_no_threads(knowledge):
    before = threading.active_count()
    with DurableMatcher(knowledge.active_rules) as m:
        m.match({})
    assert threading.active_count() == before
    assert "durable.lang" not in sys.modules and "durable.engine" not in sys.modules


@pytest.mark.durable
def test_delete_state_when_nothing_matched_does_not_segfault():
    # An empty case matches no rule; without the sentinel, deleting its
    # session segfaults. Run in a child under MALLOC_PERTURB_=165.
    proc = run_python("""
        from ddx.knowledge import load_knowledge
        from ddx.engine import DurableMatcher
        m = DurableMatcher(load_knowledge().active_rules)
        assert all(m.match({}) == frozenset() for _ in range(2000))
        print("ok", m.leaked_sessions)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["ok", "0"]


@pytest.mark.durable
def test_sentinel_is_never_reported(knowledge, analyzer):
    assert SENTINEL not in analyzer.matcher.match({"stains__desmin": "positive"})


@pytest.mark.durable
def test_or_firing_once_per_branch_is_deduplicated(knowledge):
    rule = make_rule(
        knowledge,
        "t.or",
        {
            "any": [
                {"stains.desmin": "positive"},
                {"stains.sma": "positive"},
                {"morphology.cell_types": {"contains_any": ["spindle", "round"]}},
            ]
        },
    )
    import durable_rules_engine as engine

    # raw engine: fires once per true branch
    handle = engine.create_ruleset("t_or_raw", json.dumps(ruleset_definition([rule])))
    facts = {"stains__desmin": "positive", "stains__sma": "positive", "morphology__cell_types": ["round", "spindle"]}
    rc, off = engine.assert_facts(
        handle, json.dumps([dict(facts, t="case", id="c", sid="1"), {"t": "ddx-sentinel", "id": "s", "sid": "1"}])
    )
    raw = []
    res = engine.start_action_for_state(handle, off)
    while res:
        raw.append(res)
        res = engine.complete_and_start_action(handle, off)
    engine.delete_state(handle, "1")
    engine.delete_ruleset(handle)
    assert len(raw) > 2  # several firings of t.or plus the sentinel
    with DurableMatcher([rule]) as m:
        assert m.match(facts) == {"t.or"}


@pytest.mark.durable
def test_absent_test_is_anchored_to_the_case_fact(knowledge):
    rule = make_rule(knowledge, "t.nex", {"molecular.mdm2_amplification": {"known": False}})
    with DurableMatcher([rule]) as m:
        assert m.match({}) == {"t.nex"}
        assert m.match({"molecular__mdm2_amplification": "present"}) == frozenset()


@pytest.mark.durable
def test_string_numbers_never_reach_the_engine(knowledge):
    # durable-rules compares "5" >= 40 as strings (true); pydantic coerces first
    rule = make_rule(knowledge, "t.age", {"patient.age": {"gte": 40}})
    case = validate(knowledge, {"id": "x", "patient": {"age": "5"}})
    from ddx.facts import case_facts

    facts = case_facts(case, knowledge.vocab)
    with DurableMatcher([rule]) as m:
        assert m.match(facts) == frozenset()
        assert m.match({"patient__age": 41.0}) == {"t.age"}


@pytest.mark.durable
def test_many_child_tests_under_one_node_do_not_hang():
    # 600 equality tests on one property would hang a single ruleset (512
    # child tests under one alpha node). Sharding keeps every ruleset small.
    proc = run_python(
        """
        from ddx.knowledge import load_knowledge, Rule, RuleSpec
        from ddx.knowledge.conditions import parse_condition, compile_predicate
        from ddx.engine import DurableMatcher, PythonMatcher
        k = load_knowledge()
        rules = []
        for i in range(600):
            when = {"morphology.mitoses_per_10hpf": {"gte": float(i)}}
            node = parse_condition(when, k.vocab)
            spec = RuleSpec.model_validate({"id": f"t{i}", "title": "t", "status": "active", "when": when,
                                            "caveat": "x", "rationale": "t", "source": "test"})
            rules.append(Rule(f"t{i}", spec, False, node, compile_predicate(node), "t", None))
        m = DurableMatcher(rules)
        for v in (0.0, 30.0, 599.0):
            assert m.match({"morphology__mitoses_per_10hpf": v}) == PythonMatcher(rules).match(
                {"morphology__mitoses_per_10hpf": v})
        print("ok", len(m.shards))
    """,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok")


def test_shards_respect_the_path_bounds(knowledge):
    from ddx.engine_limits import SHARD_BRANCHES, SHARD_TRUE_PATHS
    from ddx.knowledge.conditions import branch_count, max_true_branches

    shards = plan_shards(knowledge.active_rules)
    assert sum(len(s) for s in shards) == len(knowledge.active_rules)
    for shard in shards:
        assert max_true_branches([r.condition for r in shard]) <= SHARD_TRUE_PATHS
        assert sum(branch_count(r.condition) for r in shard) <= SHARD_BRANCHES


@pytest.mark.durable
def test_exclusive_paths_share_a_shard_and_the_engine_accepts_them(knowledge):
    # 100 rules on one key with different values: one fact can complete only one
    # of them, so they fit one ruleset although they are more than 64 paths
    rules = [make_rule(knowledge, f"t.age{i}", {"patient.age": float(i)}) for i in range(100)]
    from ddx.knowledge.conditions import max_true_branches

    assert max_true_branches([r.condition for r in rules]) == 1
    with DurableMatcher(rules) as m:
        assert len(m.shards) == 1
        assert m.match({"patient__age": 42.0}) == {"t.age42"}


@pytest.mark.durable
def test_the_bound_counts_every_path_that_can_hold_together(knowledge):
    # engine errors are raised, not swallowed: 65 paths that one fact completes together are refused by the engine (error 303);
    # the bound sees all 65, so the planner splits them
    from ddx.knowledge.conditions import max_true_branches

    stains = knowledge.vocab.stains.terms
    rules = [make_rule(knowledge, f"t.{s}", {f"stains.{s}": {"known": True}}) for s in stains]
    rules += [make_rule(knowledge, f"t.{s}.x", {f"stains.{s}.extent": {"known": True}}) for s in stains]
    assert len(rules) > 64
    assert max_true_branches([r.condition for r in rules]) == len(rules)
    facts = {f"stains__{s}": "positive" for s in stains} | {f"stains__{s}__extent": "diffuse" for s in stains}
    with DurableMatcher(rules, shard_budget=10_000) as unsharded:
        with pytest.raises(EngineError, match="303"):
            unsharded.match(facts)
    with DurableMatcher(rules) as sharded:
        assert len(sharded.shards) > 1
        assert sharded.match(facts) == PythonMatcher(rules).match(facts)


@pytest.mark.durable
def test_rule_with_too_many_alternatives_is_refused(rules_copy):
    (rules_copy / "rules" / "huge.yaml").write_text(
        textwrap.dedent("""
        rules:
          - id: huge
            title: huge
            status: active
            when: {all: [{morphology.cell_types: {contains_any: [spindle, epithelioid, round, pleomorphic, rhabdoid]}},
                          {morphology.architecture: {contains_any: [fascicles, sheets, storiform, nested, cords]}}]}
            caveat: too broad
            rationale: test
            source: test
    """)
    )
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(rules_copy)
    text = str(info.value)
    assert "huge.yaml" in text and "25 alternatives" in text and "limit is 24" in text


@pytest.mark.durable
def test_rulesets_are_freed_on_close(knowledge):
    import durable_rules_engine as engine

    for _ in range(100):
        m = DurableMatcher(knowledge.active_rules)
        m.match({"stains__desmin": "positive"})
        handles = list(m._handles)
        m.close()
        with pytest.raises(Exception):  # noqa: B017 - the C module raises bare Exception on a freed handle
            engine.assert_facts(handles[0], json.dumps([{"t": "case", "id": "c", "sid": "1"}]))
    with pytest.raises(EngineError, match="closed"):
        m.match({})


@pytest.mark.durable
def test_definition_is_rebuilt_not_mutated(knowledge):
    first = ruleset_definition(knowledge.active_rules)
    DurableMatcher(knowledge.active_rules).close()
    assert ruleset_definition(knowledge.active_rules) == first


# ---------------------------------------------------------------- numbers (issue 16, kind 1)

ENGINE_NUMBER = r"-?[0-9]+(\.[0-9]+([eE][+-]?[0-9]+)?)?"  # durable-rules' json.c getNumber

FINITE = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # subnormal .. 1.8e308, -0.0
    st.sampled_from(
        [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1e-05, 1e-7, 1e16, 1e22, 1.7976931348623157e308, -1e-05, 0.1, 120.0, 1e-300]
    ),
    st.integers(min_value=-(2**70), max_value=2**70),
)


@settings(max_examples=2000, deadline=None, derandomize=True)
@given(value=FINITE)
def test_every_finite_number_is_written_in_the_engine_grammar_and_reads_back_exactly(value):
    import re

    text = engine_number(float(value))
    assert re.fullmatch(ENGINE_NUMBER, text), text
    assert float(text) == float(value) and math.copysign(1, float(text)) == math.copysign(1, float(value))


@pytest.fixture(scope="module")
def threshold_rules(knowledge):
    """Comparisons against thresholds across all magnitudes (rules may hold any finite number)."""
    thresholds = [0.0, -0.0, 5e-324, 1e-300, 1e-05, 0.5, 1.0, 45.0, 1e16, 1e300, -1e-05, -1e300]
    rules = [
        make_rule(knowledge, f"t.{op}.{i}", {"patient.age": {op: t}})
        for i, t in enumerate(thresholds)
        for op in ("gt", "gte", "lt", "lte")
    ]
    with DurableMatcher(rules) as durable:
        yield durable, PythonMatcher(rules)


@pytest.mark.durable
@settings(max_examples=1500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=FINITE)
def test_numbers_of_every_magnitude_reach_the_engine_intact(threshold_rules, value):
    """1e-05 once made durable-rules read uninitialised memory (exit 139); now both matchers agree."""
    durable, oracle = threshold_rules
    facts = {"patient__age": float(value)}
    assert durable.match(facts) == oracle.match(facts)


def test_engine_json_refuses_what_the_engine_cannot_hold():
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(EngineError):
            engine_json({"a": bad})
    with pytest.raises(EngineError):
        engine_json({"a": object()})
    assert json.loads(engine_json({"a": [1, 'x"y', None, True, 1e-05]})) == {"a": [1, 'x"y', None, True, 1e-05]}
