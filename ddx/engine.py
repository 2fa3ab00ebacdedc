"""Which rules match this case: durable-rules, behind an interface of ours.

``DurableMatcher`` is the production matcher. It drives durable-rules' C
extension directly (``durable_rules_engine``), never ``durable.lang`` or the
default ``Host``. Guards, one per hazard measured in
README.md, "durable-rules, driven safely" (each has a test in tests/test_engine.py):

* default Host timer threads, Host segfaults -> the Host is never used;
* 1024 live sessions per ruleset -> every session is deleted after use;
* ``delete_state`` segfaults if no rule fired -> a sentinel rule always fires,
  and a state is deleted only after something fired in it;
* swallowed action errors -> there are no Python actions; every engine error
  code becomes an :class:`EngineError`;
* "no rule matched" (rc 1) -> normal, drained anyway;
* ``$or`` fires once per true branch, ``$nex`` matches internal facts -> fired
  rule ids are collected into a set, and every pattern is anchored on
  ``t == "case"``;
* multi-pattern joins -> one pattern per rule, one fact per case;
* ``register_rulesets`` mutates its input -> a fresh JSON text per ruleset;
* fact ids hashed -> every fact has an explicit id, every evaluation its own sid;
* structural limits (more than 64 condition paths completed by one fact is
  error 303; 512 child tests under one node hang the process; 256 rules per
  condition path; 4096 rules) -> the rules are split into shards, each its
  own ruleset, such that no fact can complete more than ``SHARD_TRUE_PATHS``
  paths in a shard (a bound computed from the conditions, see
  :func:`ddx.conditions.max_true_branches`) and no shard holds more than
  ``SHARD_BRANCHES`` paths in all, so no shard can approach any limit;
* no reload -> a matcher is immutable; build a new one and ``close()`` the old.

``OracleMatcher`` evaluates the same compiled conditions in plain Python: it
is the test oracle, and both must return the same rule ids for every case.
"""

from __future__ import annotations

import itertools
import json
import weakref
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from ddx.conditions import atoms, branch_count, compile_durable, max_true_branches
from ddx.errors import EngineError
from ddx.knowledge import Rule

SHARD_TRUE_PATHS = 60        # paths one fact can complete per ruleset (the engine refuses 65: error 303)
SHARD_BRANCHES = 200         # paths per ruleset in all (far below 256 per path and 512 tests per node)
SHARD_NEX = 100              # "not recorded" ($nex) tests per ruleset (the engine allows 128 under one node)
SENTINEL = "ddx.sentinel"    # rule that always fires, last; never reported
_CASE_TYPE = "case"
_SENTINEL_TYPE = "ddx-sentinel"
_ruleset_names = itertools.count(1)


class Matcher(Protocol):
    def match(self, facts: dict[str, Any]) -> frozenset[str]:
        """The ids of the rules whose conditions hold for these facts."""

    def close(self) -> None: ...


class OracleMatcher:
    """Plain-Python evaluation of the compiled conditions (the test oracle)."""

    def __init__(self, rules: Iterable[Rule]):
        self._rules = [(r.id, r.predicate) for r in rules]

    def match(self, facts: dict[str, Any]) -> frozenset[str]:
        return frozenset(rid for rid, pred in self._rules if pred(facts))

    def close(self) -> None:
        pass


def nex_count(rule: Rule) -> int:
    """How many "not recorded" ($nex) tests the rule's condition compiles to."""
    return sum(1 for a in atoms(rule.condition) if a.op == "known" and not a.value)


def plan_shards(rules: Sequence[Rule], budget: int = SHARD_TRUE_PATHS,
                total: int = SHARD_BRANCHES, nex: int = SHARD_NEX) -> list[list[Rule]]:
    """Split rules, in order, into groups that no fact can overload.

    A group takes rules while the bound on paths completed at once stays
    within ``budget``, its paths number at most ``total`` and its $nex tests
    at most ``nex``.
    """
    shards: list[list[Rule]] = []
    current: list[Rule] = []
    used = nexes = 0
    for rule in rules:
        cost, rule_nex = branch_count(rule.condition), nex_count(rule)
        if current and (used + cost > total or nexes + rule_nex > nex
                        or max_true_branches([r.condition for r in current + [rule]]) > budget):
            shards.append(current)
            current, used, nexes = [], 0, 0
        current.append(rule)
        used += cost
        nexes += rule_nex
    if current:
        shards.append(current)
    return shards


def ruleset_definition(rules: Iterable[Rule]) -> dict[str, Any]:
    """The durable-rules ruleset (as data, not the decorator DSL) for some rules."""
    definition: dict[str, Any] = {}
    for rule in rules:
        expr = compile_durable(rule.condition)
        parts = expr["$and"] if set(expr) == {"$and"} else [expr]
        definition[rule.id] = {"all": [{"m": {"$and": [{"t": _CASE_TYPE}, *parts]}}], "pri": 0}
    definition[SENTINEL] = {"all": [{"m": {"t": _SENTINEL_TYPE}}], "pri": 1_000_000}
    return definition


def _delete_rulesets(engine: Any, handles: list[int]) -> None:
    for handle in handles:
        try:
            engine.delete_ruleset(handle)
        except Exception:  # pragma: no cover - best effort at shutdown
            pass
    handles.clear()


class DurableMatcher:
    """durable-rules (C core) matcher: one fact per case, rulesets as data."""

    def __init__(self, rules: Sequence[Rule], *, shard_budget: int = SHARD_TRUE_PATHS):
        import durable_rules_engine as engine  # the C module only: no Host, no threads

        self._engine = engine
        self._handles: list[int] = []
        self._sids = itertools.count(1)
        self.shards = plan_shards(list(rules), shard_budget)
        self.leaked_sessions = 0
        self._finalizer = weakref.finalize(self, _delete_rulesets, engine, self._handles)
        try:
            for shard in self.shards or [[]]:
                name = f"ddx_{next(_ruleset_names)}"
                text = json.dumps(ruleset_definition(shard), ensure_ascii=False)
                self._handles.append(engine.create_ruleset(name, text))
        except Exception as exc:
            self.close()
            raise EngineError(f"durable-rules refused the rule set: {exc}") from None

    def match(self, facts: dict[str, Any]) -> frozenset[str]:
        if not self._handles:
            raise EngineError("matcher is closed")
        sid = str(next(self._sids))
        case_fact = dict(facts)
        case_fact.update(t=_CASE_TYPE, id="case", sid=sid)
        payload = json.dumps([case_fact, {"t": _SENTINEL_TYPE, "id": "sentinel", "sid": sid}],
                             ensure_ascii=False)
        fired: set[str] = set()
        for index, handle in enumerate(self._handles):
            fired |= self._run(handle, payload, sid, index)
        if SENTINEL not in fired:
            raise EngineError("the sentinel rule did not fire; the engine dropped work")
        fired.discard(SENTINEL)
        return frozenset(fired)

    def _run(self, handle: int, payload: str, sid: str, shard: int) -> set[str]:
        engine = self._engine
        try:
            rc, offset = engine.assert_facts(handle, payload)
        except Exception as exc:
            raise EngineError(f"durable-rules error in shard {shard}: {exc}") from None
        if rc == 2:
            raise EngineError(f"durable-rules saw session {sid} twice (duplicate fact ids)")
        fired: set[str] = set()
        try:
            result = engine.start_action_for_state(handle, offset)
            while result:
                message = result[1] if isinstance(result, tuple) else result
                fired.add(_rule_name(message))
                result = engine.complete_and_start_action(handle, offset)
        except Exception as exc:
            raise EngineError(f"durable-rules error while draining shard {shard}: {exc}") from None
        finally:
            if fired:  # deleting a state in which nothing fired segfaults
                engine.delete_state(handle, sid)
            else:  # pragma: no cover - the sentinel makes this unreachable
                self.leaked_sessions += 1
        return fired

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> DurableMatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rule_name(message: str) -> str:
    """The rule id is the first key of the action text: ``{"<rule id>": {...}}``.

    Rule ids cannot contain quotes (see RULE_ID), so no JSON parse is needed.
    """
    start = message.index('"') + 1
    return message[start:message.index('"', start)]
