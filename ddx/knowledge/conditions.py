"""The rule condition language, and its two compilations.

A condition in a rule file is one of::

    {stains.desmin: positive}                      # equality (several keys: all must hold)
    {stains.desmin: {in: [positive, equivocal]}}   # set membership (also not_in, ne)
    {patient.age: {gte: 18, lt: 50}}               # numeric comparison (gt, gte, lt, lte)
    {morphology.cell_types: {contains: spindle}}   # list contains (contains_any, contains_all)
    {molecular.mdm2_amplification: {known: true}}  # present (tested) / absent (not recorded)
    {all: [cond, cond, ...]} / {any: [cond, ...]}  # combinations
    {not: cond}                                    # negation: "not known to hold"

``not`` is rewritten at load time into the operators above (``not {desmin:
positive}`` becomes "desmin not recorded, or recorded as something else"), so
the compilations need no negation of their own. Over a list operator it becomes "not
recorded, or recorded without the item(s)", with one internal operator,
``excludes`` (a recorded list holding none of the given items), which rule
files do not write: ``{not: {morphology.architecture: {contains_any: [cords,
microalveolar]}}}``.

Each condition compiles to

* a durable-rules expression (the production matcher, :mod:`ddx.engine`), and
* a plain-Python predicate over the same flat facts (the test oracle).

Both read the same flat fact dictionary built by :func:`ddx.facts.case_facts`,
whose keys are the case paths with ``.`` replaced by ``__``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from ddx.knowledge.vocabulary import UnknownTerm, Vocabulary

COMPARISONS = {"gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}
TERM_OPS = {"eq", "ne", "in", "not_in", "known"}
NUMBER_OPS = {"eq", "known", *COMPARISONS}
LIST_OPS = {"contains", "contains_any", "contains_all", "known"}

Facts = dict[str, Any]
Predicate = Callable[[Facts], bool]


class ConditionError(ValueError):
    """A rule condition that cannot be read, with the nearest valid terms or keys."""

    def __init__(self, message: str, suggestions: list[str] | None = None):
        super().__init__(message)
        self.suggestions = suggestions or []


def fact_key(path: str) -> str:
    """The flat fact key of a finding path: ``stains.alk.extent`` -> ``stains__alk__extent``."""
    return path.replace(".", "__")


@dataclass(frozen=True)
class Atom:
    """One test of a condition: a finding path, an operator and the value it is compared with."""

    path: str
    op: str
    value: Any  # a term, a number, a tuple of terms, or a bool for "known"

    @property
    def key(self) -> str:
        return fact_key(self.path)


@dataclass(frozen=True)
class All:
    """A condition that holds when every one of its items holds."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    """A condition that holds when any one of its items holds."""

    items: tuple[Node, ...]


Node = Union[Atom, All, AnyOf]  # noqa: UP007 - a runtime alias of forward references


# ---------------------------------------------------------------- parsing


def parse_condition(spec: Any, vocab: Vocabulary, _negated: bool = False) -> Node:
    """Parse and validate a condition against the vocabulary (``_negated``: inside an odd number of ``not:``,
    where a test of a pattern the stain never shows always holds instead of never)."""
    if not isinstance(spec, dict) or not spec:
        raise ConditionError("a condition must be a non-empty mapping")
    spec = {k: v for k, v in spec.items() if k != "__line__"}
    items: list[Node] = []
    for key, value in spec.items():
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ConditionError(f"'{key}' needs a non-empty list of conditions")
            children = tuple(parse_condition(v, vocab, _negated) for v in value)
            items.append(All(children) if key == "all" else AnyOf(children))
        elif key == "not":
            items.append(negate(parse_condition(value, vocab, not _negated)))
        else:
            items.extend(_parse_path(str(key), value, vocab, _negated))
    return items[0] if len(items) == 1 else All(tuple(items))


_OPPOSITE = {"eq": "ne", "ne": "eq", "in": "not_in", "not_in": "in", "gt": "lte", "lte": "gt", "gte": "lt", "lt": "gte"}


def negate(node: Node) -> Node:
    """The condition that holds exactly when ``node`` does not.

    A finding that is not recorded is unknown, so "not (desmin positive)"
    holds when desmin is absent from the case or recorded as anything else, and
    "not (architecture includes cords)" when the architecture is not recorded or
    recorded without cords (the internal operator ``excludes``: a recorded list
    holding none of the items).
    """
    if isinstance(node, All):
        return AnyOf(tuple(negate(c) for c in node.items))
    if isinstance(node, AnyOf):
        return All(tuple(negate(c) for c in node.items))
    if node.op == "known":
        return Atom(node.path, "known", not node.value)
    missing = Atom(node.path, "known", False)
    if node.op == "contains":
        return AnyOf((missing, Atom(node.path, "excludes", (node.value,))))
    if node.op == "contains_any":
        return AnyOf((missing, Atom(node.path, "excludes", node.value)))
    if node.op == "contains_all":
        return AnyOf((missing, *(Atom(node.path, "excludes", (v,)) for v in node.value)))
    if node.op == "excludes":
        return Atom(node.path, "contains_any", node.value) if len(node.value) > 1 else Atom(node.path, "contains", node.value[0])
    return AnyOf((missing, Atom(node.path, _OPPOSITE[node.op], node.value)))


def _parse_path(path: str, spec: Any, vocab: Vocabulary, negated: bool = False) -> list[Atom]:
    paths = vocab.finding_paths()
    path = _normalize_path(path, vocab)
    if path not in paths:
        from ddx.knowledge.vocabulary import TermSet

        options = TermSet("path", _lookup={p: p for p in paths})
        raise ConditionError(f"unknown finding {path!r}", options.suggest(path))
    kind = paths[path]
    if not isinstance(spec, dict):
        spec = {"eq": spec}
    spec = {k: v for k, v in spec.items() if k != "__line__"}
    allowed = {"number": NUMBER_OPS, "list": LIST_OPS}.get(kind, TERM_OPS)
    atoms = []
    for op, value in spec.items():
        if op not in allowed:
            raise ConditionError(f"{path}: operator {op!r} does not apply to a {kind}; use one of " + ", ".join(sorted(allowed)))
        atoms.append(Atom(path, op, _parse_value(path, kind, op, value, vocab, negated)))
    if not atoms:
        raise ConditionError(f"{path}: no operator given")
    return atoms


def _normalize_path(path: str, vocab: Vocabulary) -> str:
    parts = path.split(".")
    try:
        if parts[0] == "stains" and len(parts) >= 2:
            parts[1] = vocab.stains.normalize(parts[1])
        elif parts[0] == "molecular" and len(parts) == 2:
            parts[1] = vocab.molecular.normalize(parts[1])
    except UnknownTerm as exc:
        raise ConditionError(str(exc), exc.suggestions) from None
    return ".".join(parts)


def _parse_value(path: str, kind: str, op: str, value: Any, vocab: Vocabulary, negated: bool = False) -> Any:
    if op == "known":
        if not isinstance(value, bool):
            raise ConditionError(f"{path}: 'known' takes true or false")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConditionError(f"{path}: {op} needs a number, got {value!r}")
        return float(value)
    termset = vocab.termset_for(path)
    assert termset is not None
    parts = path.split(".")
    # a stain's pattern: only the patterns the vocabulary allows for that stain, as a case is held to (a rule
    # on another pattern could never fire)
    allowed = vocab.stain_patterns_for(parts[1]) if parts[0] == "stains" and parts[2:] == ["pattern"] else None

    def term(v: Any) -> str:
        try:
            return termset.normalize(v)
        except UnknownTerm as exc:
            raise ConditionError(f"{path}: {exc}", exc.suggestions) from None

    def refuse_patterns(values: list[str]) -> None:
        """A condition that holds only on patterns the stain never shows could never fire: refused, naming its
        patterns (``ne`` and ``not_in`` hold on any other pattern, and ``in`` with one allowed pattern can hold)."""
        if allowed is None:
            return
        shown = set()
        for a in allowed:  # the vocabulary may list a pattern by a synonym
            try:
                shown.add(termset.normalize(a))
            except UnknownTerm:
                shown.add(a)
        if not shown.intersection(values):
            label = vocab.stains.label(parts[1])
            said = values[0] if len(values) == 1 else ", ".join(values)
            raise ConditionError(
                f"{path}: {said!r} is not a pattern of {label} (its patterns: {', '.join(allowed)}); no case could meet it",
                allowed,
            )

    if op in ("in", "not_in", "contains_any", "contains_all"):
        if not isinstance(value, list) or not value:
            raise ConditionError(f"{path}: {op} needs a non-empty list")
        values = tuple(sorted({term(v) for v in value}))
        if op == "in" and not negated:
            refuse_patterns(list(values))
        return values
    found = term(value)
    if op == "eq" and not negated:
        refuse_patterns([found])
    return found


# ---------------------------------------------------------------- analysis


def atoms(node: Node) -> list[Atom]:
    """The atoms of a condition tree, left to right (an atom repeated in several branches is listed each time)."""
    if isinstance(node, Atom):
        return [node]
    out: list[Atom] = []
    for child in node.items:
        out.extend(atoms(child))
    return out


def branch_count(node: Node) -> int:
    """How many alternative alpha paths the engine builds (disjunctive normal form)."""
    if isinstance(node, Atom):
        if node.op in ("in", "contains_any"):
            return len(node.value)
        return 1
    if isinstance(node, AnyOf):
        return sum(branch_count(c) for c in node.items)
    total = 1
    for child in node.items:
        total *= branch_count(child)
    return total


def branches(node: Node) -> list[tuple[Atom, ...]]:
    """The condition in disjunctive normal form, one tuple of atoms per alternative
    path, as the engine expands it (``in`` and ``contains_any`` are one path per value)."""
    if isinstance(node, Atom):
        if node.op == "in":
            return [(Atom(node.path, "eq", v),) for v in node.value]
        if node.op == "contains_any":
            return [(Atom(node.path, "contains", v),) for v in node.value]
        return [(node,)]
    if isinstance(node, AnyOf):
        return [b for child in node.items for b in branches(child)]
    out: list[tuple[Atom, ...]] = [()]
    for child in node.items:
        out = [a + b for a in out for b in branches(child)]
    return out


def requires_unrecorded(node: Node) -> frozenset[str]:
    """The fact keys the condition holds only without (``{path: {known: false}}`` on every alternative path):
    recording any value for one of them stops the rule from matching (``morph.giant-cells`` needs the
    pleomorphism grade unrecorded)."""
    paths = branches(node)
    needed = [{a.key for a in path if a.op == "known" and a.value is False} for path in paths]
    return frozenset(set.intersection(*needed)) if needed else frozenset()


def supposed_keys(node: Node) -> frozenset[str]:
    """The fact keys the condition reads as a value (any atom but ``known: false`` and ``excludes``, which
    also hold with the finding unrecorded): what supposing the rule's finding found records."""
    return frozenset(a.key for a in atoms(node) if not (a.op == "known" and a.value is False) and a.op != "excludes")


def max_true_branches(nodes: list[Node]) -> int:
    """An upper bound on how many condition paths of these rules one fact can satisfy.

    durable-rules refuses a fact that completes more than 64 paths at once
    (error 303). Paths that test the same key for different values with
    ``eq`` are mutually exclusive (a fact holds one value per key), so for
    each key only its most frequent value counts; paths without an equality
    test all count.
    """
    by_key: dict[str, dict[Any, int]] = {}
    free = 0
    for node in nodes:
        for branch in branches(node):
            tests = sorted((a.key, repr(a.value)) for a in branch if a.op == "eq")
            if not tests:
                free += 1
                continue
            key, value = tests[0]
            counts = by_key.setdefault(key, {})
            counts[value] = counts.get(value, 0) + 1
    return free + sum(max(c.values()) for c in by_key.values())


def describe(node: Node, vocab: Vocabulary | None = None) -> str:
    """A short human-readable rendering of a condition. Beside "X recorded", an alternative "X not recorded"
    (which ``not`` over a list writes) cannot hold and is left out."""
    if isinstance(node, All):
        recorded = {c.path for c in node.items if isinstance(c, Atom) and c.op == "known" and c.value}
        parts = []
        for child in node.items:
            if isinstance(child, AnyOf) and recorded:
                kept = tuple(
                    a for a in child.items if not (isinstance(a, Atom) and a.op == "known" and not a.value and a.path in recorded)
                )
                child = child if not kept else kept[0] if len(kept) == 1 else AnyOf(kept)
            parts.append(describe(child, vocab))
        return " and ".join(parts)
    if isinstance(node, AnyOf):
        return "(" + " or ".join(describe(c, vocab) for c in node.items) + ")"
    words = {
        "eq": "=",
        "ne": "≠",
        "gt": ">",
        "gte": "≥",
        "lt": "<",
        "lte": "≤",
        "in": "in",
        "not_in": "not in",
        "contains": "includes",
        "contains_any": "includes any of",
        "contains_all": "includes all of",
        "excludes": "includes none of",
    }
    if node.op == "known":
        return f"{node.path} {'recorded' if node.value else 'not recorded'}"
    value = node.value
    if isinstance(value, tuple):
        value = ", ".join(value)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{node.path} {words[node.op]} {value}"


# ---------------------------------------------------------------- what a condition reads of a case


LIST_READS = frozenset({"contains", "contains_any", "contains_all"})

# what a condition reads of a case: the fact keys read whole, and per list finding the items named
Reads = tuple[frozenset[str], dict[str, frozenset[str]]]


def condition_reads(node: Node, list_paths: frozenset[str], by_value: bool = False) -> Reads:
    """What a condition reads of a case: the fact keys it reads whole, and for list findings the items it
    names (``reads_nothing`` atoms left out). ``by_value``: a key compared with one value (``eq``) is read for
    that value alone, as a list's item is (a rule's ``accounts_for``: ``{molecular.ranbp2_alk_fusion:
    present}`` stands for that result, not for ``absent``)."""
    keys: set[str] = set()
    items: dict[str, set[str]] = {}
    for atom in atoms(node):
        if reads_nothing(atom, list_paths):
            continue
        if atom.op in LIST_READS or (by_value and atom.op == "eq"):
            values = atom.value if isinstance(atom.value, (tuple, list, frozenset)) else (atom.value,)
            items.setdefault(atom.key, set()).update(str(v) for v in values)
        else:
            keys.add(atom.key)
    return frozenset(keys), {k: frozenset(v) for k, v in items.items()}


def reads_nothing(atom: Atom, list_paths: frozenset[str]) -> bool:
    """True for a condition atom that reads none of a list finding's items: ``excludes`` (holds on the items
    *not* recorded) and ``known`` on a list (recorded or not; what a rule reads of a list is the items its
    ``contains`` atoms name, and ``not`` of ``not`` over a list adds a ``known: true`` beside them).
    (``known`` on a stain or a number keeps its read, as before lists could be negated.)"""
    return atom.op == "excludes" or (atom.op == "known" and atom.path in list_paths)


# ---------------------------------------------------------------- oracle


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compile_predicate(node: Node) -> Predicate:
    """Plain-Python predicate: the oracle the engine is tested against."""
    if isinstance(node, All):
        preds = [compile_predicate(c) for c in node.items]
        return lambda f: all(p(f) for p in preds)
    if isinstance(node, AnyOf):
        preds = [compile_predicate(c) for c in node.items]
        return lambda f: any(p(f) for p in preds)
    key, op, value = node.key, node.op, node.value
    missing = object()
    if op == "known":
        return (lambda f: key in f) if value else (lambda f: key not in f)
    if op == "eq":
        return lambda f: f.get(key, missing) == value
    if op == "ne":
        return lambda f: key in f and f[key] != value
    if op == "in":
        members = frozenset(value)
        return lambda f: f.get(key, missing) in members
    if op == "not_in":
        members = frozenset(value)
        return lambda f: key in f and f[key] not in members
    if op in COMPARISONS:
        import operator

        cmp = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}[op]
        return lambda f: _is_number(f.get(key)) and cmp(f[key], value)
    if op == "contains":
        return lambda f: isinstance(f.get(key), list) and value in f[key]
    if op == "contains_any":
        wanted = frozenset(value)
        return lambda f: isinstance(f.get(key), list) and not wanted.isdisjoint(f[key])
    if op == "contains_all":
        wanted = frozenset(value)
        return lambda f: isinstance(f.get(key), list) and wanted.issubset(f[key])
    # as durable-rules' $iall: a recorded, non-empty list with none of the items (both P and not-P are false
    # on an empty list, which case_facts never writes: an empty list is "not recorded")
    if op == "excludes":
        unwanted = frozenset(value)
        return lambda f: isinstance(f.get(key), list) and bool(f[key]) and unwanted.isdisjoint(f[key])
    raise AssertionError(op)


# ---------------------------------------------------------------- durable-rules


def compile_durable(node: Node) -> dict[str, Any]:
    """durable-rules expression for one pattern (without the type anchor)."""
    if isinstance(node, All):
        parts: list[dict[str, Any]] = []
        for child in node.items:
            expr = compile_durable(child)
            parts.extend(expr["$and"] if set(expr) == {"$and"} else [expr])
        return parts[0] if len(parts) == 1 else {"$and": parts}
    if isinstance(node, AnyOf):
        return {"$or": [compile_durable(c) for c in node.items]}
    key, op, value = node.key, node.op, node.value
    if op == "known":
        return {"$ex" if value else "$nex": {key: 1}}
    if op == "eq":
        return {key: value}
    if op == "ne":
        return {"$and": [{"$ex": {key: 1}}, {"$neq": {key: value}}]}
    if op == "in":
        return {"$or": [{key: v} for v in value]} if len(value) > 1 else {key: value[0]}
    if op == "not_in":
        return {"$and": [{"$ex": {key: 1}}] + [{"$neq": {key: v}} for v in value]}
    if op in COMPARISONS:
        return {COMPARISONS[op]: {key: value}}
    if op == "contains":
        return {"$iany": {key: {"$i": value}}}
    if op == "contains_any":
        alts = [{"$iany": {key: {"$i": v}}} for v in value]
        return {"$or": alts} if len(alts) > 1 else alts[0]
    if op == "contains_all":
        return {"$and": [{"$iany": {key: {"$i": v}}} for v in value]}
    if op == "excludes":  # every item differs from each value ($iall is false on an empty list)
        tests = [{"$neq": {"$i": v}} for v in value]
        return {"$iall": {key: tests[0] if len(tests) == 1 else {"$and": tests}}}
    raise AssertionError(op)
