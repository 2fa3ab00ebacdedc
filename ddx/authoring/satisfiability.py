"""Satisfiability and implication of rule conditions over the vocabulary's finding domains.

The condition checks of ``ddx rules check`` (:mod:`ddx.authoring.check`)
reason with this: a condition that no case can satisfy, an alternative of one
that never holds, a rule's ``when`` and ``negated_by`` that can hold at once,
two rules whose conditions are the same in effect, a rule whose condition
implies another's.

A condition (:data:`ddx.knowledge.conditions.Node`) is taken in disjunctive normal form
(:func:`ddx.knowledge.conditions.branches`): a list of alternatives, each a conjunction
of atoms. One alternative becomes a :data:`DomainMap`, one :class:`Domain` per
finding key it tests (a key it does not test allows anything):

* :class:`Terms` for a term finding: the set of values allowed, drawn from the
  finding's term set, with :data:`MISSING` standing for "not recorded";
* :class:`Numbers` for a number: one interval (ends open or closed), and
  whether "not recorded" is allowed;
* :class:`Items` for a list finding: the items it must contain, the items it
  must not (``never``, from ``not``), and whether an unrecorded list is allowed.

The logic is exact for term findings (their values come from the vocabulary),
for number ranges and for list membership, with one gap: a ``never`` that
excludes every term of a list (so no recorded list could hold) is not noticed.
It does not know relations between different findings (a site and its site
group). So it may miss a contradiction, never report a false one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ddx.knowledge.conditions import All, AnyOf, Atom, Node, branches
from ddx.knowledge.vocabulary import Vocabulary

MISSING = None
"""In a :class:`Terms` set: the finding is not recorded."""


class Domain:
    """What one alternative of a condition allows for one finding key (a value; equal domains compare equal).

    Subclasses combine only with their own kind (a key has one kind of value)."""

    def meet(self, other: Any) -> Domain:
        """What both allow (the conjunction of the two)."""
        raise NotImplementedError

    def empty(self) -> bool:
        """Nothing is allowed: no case can satisfy the alternative."""
        raise NotImplementedError

    def within(self, other: Any) -> bool:
        """Everything this allows, ``other`` allows too."""
        raise NotImplementedError


DomainMap = dict[str, Domain]
"""One alternative of a condition: finding key (``stains__desmin``) -> what it allows."""


@dataclass(frozen=True)
class Terms(Domain):
    """A term finding: the values allowed (terms of its term set, and :data:`MISSING` for not recorded)."""

    allowed: frozenset[Any]

    def meet(self, other: Terms) -> Terms:
        return Terms(self.allowed & other.allowed)

    def empty(self) -> bool:
        return not self.allowed

    def within(self, other: Terms) -> bool:
        return self.allowed <= other.allowed


@dataclass(frozen=True)
class Numbers(Domain):
    """A number finding: the interval ``lo``..``hi`` (each end open or closed; infinite ends allowed) when
    ``present`` (False: no recorded value is allowed), and ``missing``: "not recorded" is allowed."""

    missing: bool
    lo: float = -math.inf
    lo_open: bool = False
    hi: float = math.inf
    hi_open: bool = False
    present: bool = True

    def _nonempty_interval(self) -> bool:
        if not self.present:
            return False
        if self.lo < self.hi:
            return True
        return self.lo == self.hi and not self.lo_open and not self.hi_open

    def meet(self, other: Numbers) -> Numbers:
        lo, lo_open = max((self.lo, self.lo_open), (other.lo, other.lo_open))
        hi, hi_open = min((self.hi, not self.hi_open), (other.hi, not other.hi_open))
        return Numbers(self.missing and other.missing, lo, lo_open, hi, not hi_open, self.present and other.present)

    def empty(self) -> bool:
        return not self.missing and not self._nonempty_interval()

    def within(self, other: Numbers) -> bool:
        if self.missing and not other.missing:
            return False
        if not self._nonempty_interval():
            return True
        if not other._nonempty_interval():
            return False
        lo_ok = other.lo < self.lo or (other.lo == self.lo and (not other.lo_open or self.lo_open))
        hi_ok = other.hi > self.hi or (other.hi == self.hi and (not other.hi_open or self.hi_open))
        return lo_ok and hi_ok


@dataclass(frozen=True)
class Items(Domain):
    """A list finding: ``must``, the items a recorded list must contain, and ``never``, the items it must
    not (from ``not``), allowed when ``present``; ``missing``: not recorded is allowed. Any list may hold
    any items together."""

    missing: bool
    present: bool
    must: frozenset[str] = frozenset()
    never: frozenset[str] = frozenset()

    def meet(self, other: Items) -> Items:
        must, never = self.must | other.must, self.never | other.never
        return Items(self.missing and other.missing, self.present and other.present and not must & never, must, never)

    def empty(self) -> bool:
        return not self.missing and not self.present

    def within(self, other: Items) -> bool:
        if self.missing and not other.missing:
            return False
        return not self.present or (other.present and other.must <= self.must and other.never <= self.never)


class Logic:
    """Satisfiability and implication of conditions over one vocabulary's finding domains.

    A condition is a parsed :data:`ddx.knowledge.conditions.Node` (from
    :func:`ddx.knowledge.conditions.parse_condition` with the same vocabulary). Results
    per node are cached (by identity, the node kept alive), so one instance
    serves a whole check.
    """

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab
        self.kinds = vocab.finding_paths()
        self._terms: dict[str, frozenset[Any]] = {}
        self._alternatives: dict[int, tuple[Node, list[DomainMap | None]]] = {}

    def _universe(self, path: str) -> frozenset[Any]:
        if path not in self._terms:
            termset = self.vocab.termset_for(path)
            self._terms[path] = frozenset(termset.terms) if termset is not None else frozenset()
        return self._terms[path]

    def atom(self, a: Atom) -> Domain:
        """What one atom allows for its key. The kind comes from the vocabulary (a path it does not list is
        a term finding). A number atom takes ``eq``, ``gt``, ``gte``, ``lt``, ``lte`` or ``known`` (KeyError
        otherwise: ``ne`` on a number is split by :meth:`alternatives` first); a list atom ``contains``,
        ``contains_all``, ``excludes`` or ``known`` (``contains_any`` is split into alternatives by
        :func:`ddx.knowledge.conditions.branches`)."""
        kind = self.kinds.get(a.path, "term")
        if kind == "number":
            if a.op == "known":
                return Numbers(missing=not a.value, present=bool(a.value))
            v = a.value
            return {
                "eq": Numbers(False, v, False, v, False),
                "gt": Numbers(False, lo=v, lo_open=True),
                "gte": Numbers(False, lo=v),
                "lt": Numbers(False, hi=v, hi_open=True),
                "lte": Numbers(False, hi=v),
            }[a.op]
        if kind == "list":
            if a.op == "known":
                return Items(missing=not a.value, present=bool(a.value))
            items = frozenset(a.value) if isinstance(a.value, tuple) else frozenset([a.value])
            if a.op == "excludes":  # from ``not``: a recorded list without these items
                return Items(False, True, never=items)
            return Items(False, True, items)  # contains / contains_all (contains_any is split into branches)
        terms = self._universe(a.path)
        value = set(a.value) if isinstance(a.value, tuple) else {a.value}
        allowed = {"eq": value, "in": value, "ne": terms - value, "not_in": terms - value}.get(a.op)
        if a.op == "known":
            allowed = set(terms) if a.value else {MISSING}
        return Terms(frozenset(allowed or ()))

    def branch(self, atoms_: tuple[Atom, ...]) -> DomainMap | None:
        """The per-key domains of one alternative (a conjunction of atoms), or None when it can never hold."""
        out: DomainMap = {}
        for a in atoms_:
            d = self.atom(a)
            out[a.key] = out[a.key].meet(d) if a.key in out else d
            if out[a.key].empty():
                return None
        return out

    def _prepared(self, node: Node) -> Node:
        """``ne`` on a number (from ``not {age: 30}``) as "less or greater": one interval per alternative."""
        if isinstance(node, All):
            return All(tuple(self._prepared(c) for c in node.items))
        if isinstance(node, AnyOf):
            return AnyOf(tuple(self._prepared(c) for c in node.items))
        if node.op == "ne" and self.kinds.get(node.path) == "number":
            return AnyOf((Atom(node.path, "lt", node.value), Atom(node.path, "gt", node.value)))
        return node

    def alternatives(self, node: Node) -> list[DomainMap | None]:
        """One domain map per alternative of ``node`` in disjunctive normal form, in order (None for one
        that can never hold); cached per node."""
        cached = self._alternatives.get(id(node))
        if cached is None or cached[0] is not node:
            cached = (node, [self.branch(b) for b in branches(self._prepared(node))])
            self._alternatives[id(node)] = cached
        return cached[1]

    def satisfiable(self, node: Node) -> bool:
        """Some case satisfies ``node`` (one of its alternatives can hold)."""
        return any(alt is not None for alt in self.alternatives(node))

    def signature(self, node: Node) -> frozenset[frozenset[tuple[str, Domain]]]:
        """The satisfiable alternatives of ``node`` as a value: equal signatures, equal conditions (an
        empty signature: the condition can never hold)."""
        return frozenset(frozenset(alt.items()) for alt in self.alternatives(node) if alt is not None)

    @staticmethod
    def branch_within(a: DomainMap, b: DomainMap) -> bool:
        """Every case satisfying alternative ``a`` satisfies ``b`` (``a`` tests every key ``b`` tests, each
        within ``b``'s domain)."""
        return all(k in a and a[k].within(dom) for k, dom in b.items())

    def implies(self, a: Node, b: Node) -> bool:
        """Sufficient test that every case satisfying ``a`` satisfies ``b``: each satisfiable alternative of
        ``a`` lies within one of ``b``'s (a condition that can never hold implies anything)."""
        alts_b = [x for x in self.alternatives(b) if x is not None]
        return all(any(self.branch_within(x, y) for y in alts_b) for x in self.alternatives(a) if x is not None)

    def jointly(self, a: Node, b: Node) -> bool:
        """Some case satisfies both ``a`` and ``b``."""
        for x in self.alternatives(a):
            for y in self.alternatives(b):
                if x is None or y is None:
                    continue
                merged = dict(x)
                ok = True
                for k, d in y.items():
                    merged[k] = merged[k].meet(d) if k in merged else d
                    if merged[k].empty():
                        ok = False
                        break
                if ok:
                    return True
        return False
