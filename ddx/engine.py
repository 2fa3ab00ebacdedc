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
  :func:`ddx.knowledge.conditions.max_true_branches`) and no shard holds more than
  ``SHARD_BRANCHES`` paths in all, so no shard can approach any limit
  (the limits and ddx's margins: :mod:`ddx.engine_limits`);
* no reload -> a matcher is immutable; build a new one and ``close()`` the old.

``PythonMatcher`` evaluates the same compiled conditions in plain Python. It
is the engine where durable-rules cannot run (its last release, 2.0.28, does
not import on Python 3.13 and later: ``undefined symbol: PyEval_CallObject``)
and the oracle the tests hold durable-rules to: both must return the same rule
ids for every case. :func:`make_matcher` picks one (:func:`default_engine`).
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import re
import sys
import weakref
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from ddx.engine_limits import SHARD_BRANCHES, SHARD_NEX, SHARD_TRUE_PATHS
from ddx.errors import EngineError
from ddx.knowledge import Rule
from ddx.knowledge.conditions import atoms, branch_count, compile_durable, max_true_branches

SENTINEL = "ddx.sentinel"  # rule that always fires, last; never reported
_CASE_TYPE = "case"
_SENTINEL_TYPE = "ddx-sentinel"
_SENTINEL_SET = frozenset({SENTINEL})
_ruleset_names = itertools.count(1)


class Matcher(Protocol):
    """A rule matcher: durable-rules or ddx's own, returning the same rule ids for the same facts."""

    name: str  # one of ENGINES

    def match(self, facts: dict[str, Any]) -> frozenset[str]:
        """The ids of the rules whose conditions hold for these facts."""

    def close(self) -> None: ...


ENGINES = ("durable", "python")
"""The matchers ``--engine`` and ``$DDX_ENGINE`` choose between: durable-rules' C core, or ddx's own
plain-Python evaluation of the same compiled conditions."""
ENGINE_ENV = "DDX_ENGINE"


@functools.cache
def durable_problem() -> str | None:
    """Why durable-rules cannot rank on this interpreter (one sentence), or ``None`` when it imports.

    durable-rules 2.0.28 is declared only for Python < 3.13 (pyproject.toml); installed by hand on 3.13
    it builds but fails to import (``undefined symbol: PyEval_CallObject``).
    """
    try:
        import durable_rules_engine  # noqa: F401
    except ImportError as exc:
        py = f"{sys.version_info.major}.{sys.version_info.minor}"
        if isinstance(exc, ModuleNotFoundError):
            return f"durable-rules is not installed for Python {py} (it installs and imports on 3.11 and 3.12 only)"
        return f"durable-rules does not import on Python {py} ({exc})"
    return None


def durable_version() -> str:
    """The installed durable-rules' version, e.g. ``2.0.28`` (``unknown`` when its metadata is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("durable-rules")
    except PackageNotFoundError:  # pragma: no cover - the module imports, so its metadata is there
        return "unknown"


def default_engine() -> str:
    """The engine used when none is chosen: ``$DDX_ENGINE`` if set, else ``durable`` where durable-rules
    imports and ``python`` elsewhere (Python 3.13+). Raises :class:`EngineError` for an unknown name in
    ``$DDX_ENGINE`` (see :func:`check_engine`)."""
    chosen = os.environ.get(ENGINE_ENV, "").strip().lower()
    if chosen:
        return check_engine(chosen, f"${ENGINE_ENV}")
    return "durable" if durable_problem() is None else "python"


def check_engine(name: str, where: str = "--engine") -> str:
    """``name`` if it is one of :data:`ENGINES` and can run here, else :class:`EngineError` saying which
    engines exist and, for ``durable`` where it cannot import, why and what to use instead."""
    name = name.strip().lower()
    if name not in ENGINES:
        raise EngineError(f"{where}: unknown engine {name!r}; the engines are {', '.join(ENGINES)}")
    if name == "durable" and (problem := durable_problem()) is not None:
        raise EngineError(f"{where}: {problem}; rank with the python engine (--engine python), which returns the same rule ids")
    return name


def engine_label(name: str, *, short: bool = False) -> str:
    """How provenance lines name an engine: ``durable-rules 2.0.28`` or ``ddx's built-in matcher (python)``;
    ``short``: ``durable-rules`` or ``built-in matcher`` (the TUI's status line)."""
    if short:
        return "durable-rules" if name == "durable" else "built-in matcher"
    return f"durable-rules {durable_version()}" if name == "durable" else "ddx's built-in matcher (python)"


def make_matcher(rules: Sequence[Rule], engine: str | None = None) -> Matcher:
    """A matcher for these rules: ``engine`` (one of :data:`ENGINES`), or :func:`default_engine`.

    Raises :class:`EngineError` when the engine is unknown or cannot run on this interpreter, or when
    durable-rules refuses the rules.
    """
    name = check_engine(engine) if engine is not None else default_engine()
    return DurableMatcher(rules) if name == "durable" else PythonMatcher(rules)


class PythonMatcher:
    """Plain-Python evaluation of the compiled conditions: the engine where durable-rules cannot run,
    and the oracle durable-rules is tested against."""

    name = "python"

    def __init__(self, rules: Iterable[Rule]):
        self._rules = [(r.id, r.predicate) for r in rules]

    def match(self, facts: dict[str, Any]) -> frozenset[str]:
        return frozenset(rid for rid, pred in self._rules if pred(facts))

    def close(self) -> None:
        pass


def nex_count(rule: Rule) -> int:
    """How many "not recorded" ($nex) tests the rule's condition compiles to."""
    return sum(1 for a in atoms(rule.condition) if a.op == "known" and not a.value)


def plan_shards(
    rules: Sequence[Rule], budget: int = SHARD_TRUE_PATHS, total: int = SHARD_BRANCHES, nex: int = SHARD_NEX
) -> list[list[Rule]]:
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
        if current and (
            used + cost > total or nexes + rule_nex > nex or max_true_branches([r.condition for r in current + [rule]]) > budget
        ):
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


def engine_number(value: float) -> str:
    """A finite number written as durable-rules' JSON reader parses it.

    The engine's number grammar is ``-?digits(.digits([eE][+-]?digits)?)?``: an
    exponent is read only after a fraction. Python writes ``1e-05`` and
    ``1e+16``, which the engine cannot parse -- and durable-rules then reports
    success and reads uninitialised memory (a segfault). Here such numbers get
    their ``.0`` (``1.0e-05``), which the engine reads back with ``strtod``
    to the same double (``repr`` round-trips). Raises :class:`EngineError` for
    NaN and infinities, which no model accepts.
    """
    if not math.isfinite(value):
        raise EngineError(f"the engine cannot take the number {value!r}")
    text = repr(float(value))
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


def engine_json(value: Any) -> str:
    """JSON text for durable-rules: standard JSON, numbers as :func:`engine_number` writes them.

    Takes dicts, lists, strings, numbers, booleans and None; raises
    :class:`EngineError` for anything else and for numbers the engine cannot hold.
    Standard JSON (C speed) is used whenever it holds no number the engine
    would misread -- nearly always: an exponent only appears below 1e-4 and
    from 1e16 -- and the text is rebuilt value by value otherwise.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        text = None
    if text is not None and not _NUMBER_TO_REWRITE.search(text):
        return text
    return _engine_json(value)


def _plain_numbers(values: Iterable[Any]) -> bool:
    """True when every number among ``values`` (scalars, or lists of scalars) is one that ``json.dumps``
    writes as the engine reads it: no exponent (Python writes one below 1e-4 and from 1e16), no integer
    past int64, nothing infinite or NaN. Faster than searching the JSON text (:func:`engine_json`)."""
    for value in values:
        if isinstance(value, float):
            if not (value == 0.0 or 1e-4 <= abs(value) < 1e16):
                return False
        elif isinstance(value, int):
            if not -(2**63) < value < 2**63:
                return False
        elif isinstance(value, list):
            if not _plain_numbers(value):
                return False
        elif not isinstance(value, str) and value is not None:
            return False
    return True


_NUMBER_TO_REWRITE = re.compile(r"[0-9][eE]|[0-9]{19}")  # an exponent, or an integer past int64 (may be in a string)


def _engine_json(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return "true" if value else ("false" if value is False else "null")
    if isinstance(value, float):
        return engine_number(value)
    if isinstance(value, int):
        if abs(value) >= 2**63:  # the engine reads integers with atoll
            return engine_number(float(value))
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_engine_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_engine_json(v) for v in value) + "]"
    raise EngineError(f"the engine cannot take a value of type {type(value).__name__}")


def _delete_rulesets(engine: Any, handles: list[int]) -> None:
    for handle in handles:
        try:
            engine.delete_ruleset(handle)
        except Exception:  # pragma: no cover - best effort at shutdown
            pass
    handles.clear()


class DurableMatcher:
    """durable-rules (C core) matcher: one fact per case, rulesets as data."""

    name = "durable"

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
                text = engine_json(ruleset_definition(shard))
                self._handles.append(engine.create_ruleset(name, text))
        except Exception as exc:
            self.close()
            raise EngineError(f"durable-rules refused the rule set: {exc}") from None

    def match(self, facts: dict[str, Any]) -> frozenset[str]:
        """The ids of the rules whose conditions ``facts`` (a case's flat facts: strings, numbers, lists of
        strings) satisfy. Raises :class:`EngineError` when the engine fails or drops work."""
        if not self._handles:
            raise EngineError("matcher is closed")
        sid = str(next(self._sids))
        case_fact = dict(facts)
        case_fact.update(t=_CASE_TYPE, id="case", sid=sid)
        # one payload per case, asserted in every shard: the case and the sentinel fact
        text = json.dumps(case_fact, ensure_ascii=False) if _plain_numbers(facts.values()) else engine_json(case_fact)
        payload = f'[{text},{{"t":"{_SENTINEL_TYPE}","id":"sentinel","sid":"{sid}"}}]'
        fired: list[str] = []
        for index, handle in enumerate(self._handles):
            self._run(handle, payload, sid, index, fired)
        names = frozenset(fired)
        if SENTINEL not in names:
            raise EngineError("the sentinel rule did not fire; the engine dropped work")
        return names - _SENTINEL_SET

    def _run(self, handle: int, payload: str, sid: str, shard: int, fired: list[str]) -> None:
        """Assert the payload in one shard and append the names of the rules that fired to ``fired``."""
        engine = self._engine
        try:
            rc, offset = engine.assert_facts(handle, payload)
        except Exception as exc:
            raise EngineError(f"durable-rules error in shard {shard}: {exc}") from None
        if rc == 2:
            raise EngineError(f"durable-rules saw session {sid} twice (duplicate fact ids)")
        before = len(fired)
        try:
            result = engine.start_action_for_state(handle, offset)
            while result:
                message = result[1] if isinstance(result, tuple) else result
                fired.append(_rule_name(message))
                result = engine.complete_and_start_action(handle, offset)
        except Exception as exc:
            raise EngineError(f"durable-rules error while draining shard {shard}: {exc}") from None
        finally:
            if len(fired) > before:  # deleting a state in which nothing fired segfaults
                engine.delete_state(handle, sid)
            else:  # pragma: no cover - the sentinel makes this unreachable
                self.leaked_sessions += 1

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
    if message.startswith('{"'):
        return message[2 : message.index('"', 2)]
    start = message.index('"') + 1
    return message[start : message.index('"', start)]
