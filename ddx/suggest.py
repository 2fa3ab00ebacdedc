"""Next best tests: which stain or molecular test not yet in the case would
best separate the current candidates, for what it costs.

For a test T and each of its possible results o (negative; positive focal or
diffuse; positive with each staining pattern the vocabulary allows for T;
molecular present / absent):

* the rules that read T are evaluated on the case plus o (rules that do not
  read T cannot change, so only those are re-evaluated);
* results that match the same rules are merged;
* P(o | e) is the product of the likelihoods those rules give e, normalised
  over the results (a result matching no rule takes the remaining mass);
* gain(T) = H(P(e)) - sum_o P(o) H(P(e | o)), in bits.

Tests are ranked by gain per unit of relative cost (``rules/ancillary.yaml``:
each test's cost class, e.g. IHC = 1, FISH = 6), so a stain comes before a
molecular test that gains about as much. A test gaining less than
``settings.next_tests.min_gain`` bits is not offered; when none reaches it, no
further test separates the leaders. A test whose answer the recorded findings
imply (an exclusive group of ``ancillary.yaml``: an ALK-rearranged tumour has no
NTRK fusion to find) is never offered. A test that a shown caveat asks for
(``caveat_tests``) is offered, marked with the caveat's rule, unless every look-alike the caveat names
(``consider``) holds under the pitfall band's share (1 %): the caveat is then shown, its tests not offered.

The "why" line contrasts the leader (the leading profile of the leading
entity) with the candidate the test separates it from: among the profiles of
the other entities, the one whose outcome distribution differs most from the
leader's (total variation distance), weighted by its posterior. It quotes the
figures of the rule reading T that differs most between the two (``~`` marks
an estimate), each with its count or its strength in cases.

How it is computed (issue 19; ``tests/suggest_reference.py`` is the plain
specification, and ``tests/test_suggest_fast.py`` holds this module equal to it):

* A test's outcome × profile table depends on the case only through the
  conditions its rules test on *other* findings (a conditional rule, a
  combination with another stain) and through which of its rules the case
  already matches; it is built once per such state and kept.
* The gain of every candidate test is one numpy pass over the tables' rows
  (numpy is imported only once a Suggester has answered ``VECTORISE_AFTER``
  calls; before that the scalar arithmetic, identical to the reference, is
  used). numpy's sums differ from ``math.fsum`` by rounding (measured below
  2e-15 bits); a decision or a shown figure that such a difference could
  change (the min_gain threshold, the ordering key to 9 decimals, the gain as
  printed) is taken from the scalar computation instead, so every output is
  the reference's.
* The contrast and the why line are worked out for the tests returned only
  (the contrast's entity scores from the numpy pass, the scalar way where two
  come within ``SCORE_SLACK``); the why lines are kept per table, leader and
  contrast.
* Which tests a case has done comes from a map of fact key to test (no scan of
  every fact key per test).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from ddx.knowledge import Knowledge, Profile, Rule
from ddx.knowledge.ancillary import UNCLASSED, TestCost
from ddx.knowledge.conditions import Atom, atoms, compile_predicate
from ddx.ranking import Ranker, basis_text, given_name, lower_first, percent, short_name, strength_of

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ddx.bands import Confidence

    Array = npt.NDArray[np.float64]

NO_SEPARATING_TEST = "No further test separates the leaders"


def no_test_text(knowledge: Knowledge, confidence: Confidence | None = None) -> str:
    """'No further test separates the leaders (none is expected to gain 0.05 bits or more)', and when the
    case's confidence band names the leader's defining test (:attr:`Confidence.confirm_tests`): '; to confirm
    the leader: near-haploidization', so the two lines do not read as a contradiction."""
    text = f"{NO_SEPARATING_TEST} (none is expected to gain {knowledge.settings.next_tests.min_gain:g} bits or more)"
    confirm = confidence.confirm_tests if confidence is not None else None
    return f"{text}; to confirm the leader: {confirm}" if confirm else text


SECTION = {"stain": "stains", "molecular": "molecular"}
MIN_QUOTED_DIFFERENCE = 0.1  # a plain-positive figure is quoted when it differs this much between the two


@dataclass(frozen=True)
class Suggestion:
    """One next test: what it is, what it is expected to gain, what it costs, and why.

    ``gain`` is in bits (expected reduction of the entropy of the entity
    posterior); ``cost`` its class (relative cost, a routine immunostain = 1,
    and turnaround); ``leader``/``contrast`` the profile slugs the why line
    compares (``contrast`` None when no other candidate differs);
    ``asked_by`` the rule ids of shown caveats that ask for the test; ``pointers`` the outside-the-differential
    entries (``rules/outside.yaml`` slugs) whose pointer it would answer; ``also``
    the (path, label) of the other tests the same order reads (a class with
    ``panel: true`` in ``rules/ancillary.yaml``) that gain at least ``min_gain`` or that a shown caveat asks for.
    """

    test: str  # "alk" or "mdm2_amplification"
    kind: str  # "stain" | "molecular"
    label: str
    gain: float  # expected information gain, bits
    why: str
    cost: TestCost = UNCLASSED
    leader: str | None = None
    contrast: str | None = None
    asked_by: tuple[str, ...] = ()
    also: tuple[tuple[str, str], ...] = ()
    pointers: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """The finding path of the test: ``stains.alk``, ``molecular.mdm2_amplification``."""
        return f"{SECTION[self.kind]}.{self.test}"

    @property
    def gain_per_cost(self) -> float:
        """Bits per unit of relative cost: what the suggestions are ranked by."""
        return self.gain / self.cost.cost

    @property
    def detail(self) -> str:
        """'expected gain 0.22 bits; FISH, 2-5 working days' (and who asked for it)."""
        if self.gain == 0.0 and (self.asked_by or self.pointers):  # asked for, but no rule of the ranking reads it
            return "the ranking does not read it; " + self._order_text("")
        return f"expected gain {self.gain:.2f} bits; " + self._order_text("")

    def _order_text(self, where: str) -> str:
        """The assay and its turnaround, what else the order reads and who asks for it ('FISH, 2-5 working days;
        asked for by a caveat'); ``where`` follows 'caveat' (' below' in the report)."""
        text = self.cost.text
        if self.also:
            text += f"; the same {self.cost.label} also reads {join_and([lower_first(label) for _, label in self.also])}"
        if self.asked_by:
            text += f"; asked for by a caveat{where}" if len(self.asked_by) == 1 else f"; asked for by the caveats{where}"
        if self.pointers and self.gain > 0.0:  # a why about the modelled entities: say what else it answers
            text += "; also tests the pointer outside the differential"
        return text

    @property
    def report_detail(self) -> str:
        """The detail as the draft report gives it: the assay and its turnaround, what else the order reads and
        who asks for it, without the information gain in bits ('FISH, 2-5 working days; asked for by a caveat
        below')."""
        return self._order_text(" below")

    def to_dict(self) -> dict[str, object]:
        return {
            "test": self.test,
            "kind": self.kind,
            "label": self.label,
            "gain_bits": round(self.gain, 4),
            "why": self.why,
            "cost_class": self.cost.cls,
            "cost_label": self.cost.label,
            "relative_cost": self.cost.cost,
            "turnaround": self.cost.turnaround,
            "gain_per_cost": round(self.gain_per_cost, 4),
            "leader": self.leader,
            "contrast": self.contrast,
            "asked_by": list(self.asked_by),
            "also": [path for path, _ in self.also],
            "pointers": list(self.pointers),
        }


def join_and(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


T = TypeVar("T")


def pick(order: Iterable[T], n: int, assay: Callable[[T], str | None]) -> list[tuple[T, list[T]]]:
    """The first ``n`` tests of ``order`` (best first), one per assay: a test whose assay (``assay(test)``:
    the cost class of a ``panel: true`` class, else None) is picked already is named with the test picked
    for it (the list beside it, best first) instead of taking a place of its own."""
    picked: list[tuple[T, list[T]]] = []
    where: dict[str, int] = {}
    for item in order:
        panel = assay(item)
        if panel is not None and panel in where:
            picked[where[panel]][1].append(item)
        elif len(picked) < n:
            if panel is not None:
                where[panel] = len(picked)
            picked.append((item, []))
    return picked


def _entropy(ps: list[float]) -> float:
    return -math.fsum(p * math.log2(p) for p in ps if p > 0)


# numpy's gains are trusted only where no decision boundary lies within GAIN_SLACK bits of them (measured
# difference from the scalar arithmetic: below 2e-15); the contrast's entity scores where no other comes within
# SCORE_SLACK (relative to the entities' posterior masses).
GAIN_SLACK = 1e-12
KEY_MARGIN = 0.5 - 4 * GAIN_SLACK * 1e9  # see _Test.key_margin
SCORE_SLACK = 1e-11
# Calls answered the scalar way before numpy is imported (numpy costs about 0.1 s of CPU to import, the scalar
# way about 1 ms a case): `ddx eval` on a few cases never imports it; a batch switches after this many cases.
VECTORISE_AFTER = 50
# The other outcomes of a test leave its no-finding outcome a share only when their likelihoods sum to less
# than 1 by more than rounding: a conditional pair (ihc.cd163.diffuse and its negation, both "if positive")
# sums to 1 only up to the last bit, which once differed between Python 3.11 and 3.13 (their sum() of the
# priors differed; it is math.fsum now); within this margin the sum counts as 1 and the outcomes are
# normalised together, so the table does not turn on the last bit.
SUMS_TO_ONE = 1e-9
TABLE_LIMIT = 4096  # tables kept per test (a test has at most 2^(conditions beyond it) x its matched subsets)
KEY_LIMIT = 10_000  # fact keys remembered (which tests a recorded key says are done)
WHY_LIMIT = 4096  # why lines kept (the first met, about 1.5 MB; most cases meet the same few hundred)


@dataclass(eq=False)
class _Table:
    """One test's outcome table for one state of the findings beyond the test that its rules read.

    ``rows``: P(outcome | profile), one row per distinct set of rules the outcomes make fire, normalised per
    profile (empty when fewer than two outcomes differ: the test cannot change the ranking); ``tempered``:
    the rows tempered and renormalised per profile (P(outcome) comes from these); ``powered``: each
    likelihood raised to the temperature (the posterior after the outcome); ``fired``: every rule an
    outcome makes fire. Built once, with the reference's arithmetic.
    """

    rows: list[list[float]]
    tempered: list[list[float]]
    powered: list[list[float]]
    fired: frozenset[str]
    blocks: Any = None  # rows, tempered, powered as numpy arrays (the vectorised pass)
    tiers: list[list[Rule]] | None = None  # the why's rules, built when the test is first shown
    whys: dict[tuple[int, int | None, tuple[str, ...], tuple[str, ...]], str] = field(default_factory=dict)
    distances: dict[int, list[float]] = field(default_factory=dict)  # per leader, per profile (see _within)


_INERT = _Table([], [], [], frozenset())
_ABSENT = object()  # a fact key the case does not record
_NONE: frozenset[str] = frozenset()


@dataclass(eq=False)
class _Test:
    name: str
    kind: str
    label: str
    base_key: str
    outcomes: list[dict[str, object]]
    rules: list[Rule]
    positive_rule: Rule | None
    cost: TestCost
    number: int = 0  # its place in Suggester.tests
    rule_ids: frozenset[str] = frozenset()
    rule_mask: int = 0  # its rules' bits (Suggester._rule_bit)
    # the conditions its rules test on findings other than this test's (conditional rules, combinations), as
    # bits of Suggester._conditions: which rules an outcome makes fire depends on the outcome and on these alone
    condition_mask: int = 0
    # the ordering key's first part, -round(gain / cost, 9): gain x key_scale is gain / cost in units of 1e-9,
    # and a value nearer than key_margin to an integer rounds the same whichever the gain within GAIN_SLACK
    key_scale: float = 1e9
    key_margin: float = 0.5
    tables: dict[tuple[int, int], _Table] = field(default_factory=dict)
    path: str = ""  # stains.alk, molecular.mdm2_amplification

    def __post_init__(self) -> None:
        self.path = f"{SECTION[self.kind]}.{self.name}"
        self.key_scale = 1e9 / self.cost.cost
        self.key_margin = 0.5 - 4 * GAIN_SLACK * self.key_scale


def _rank_key(s: Suggestion) -> tuple[float, float, str]:
    return (-round(s.gain_per_cost, 9), -round(s.gain, 9), s.test)


def _near_key(gain: float, test: _Test) -> tuple[float, float] | None:
    """The ordering key (-round(gain / cost, 9), -round(gain, 9)) of a gain known to within GAIN_SLACK, or None
    when either part could round either way within it. -round(x, 9) is -m / 1e9 for the integer m nearest
    x 1e9 (the same float), unless x 1e9 is within the slack (scaled) of a half-integer."""
    ratio, whole = gain * test.key_scale, gain * 1e9
    m_ratio, m_whole = round(ratio), round(whole)
    if abs(ratio - m_ratio) < test.key_margin and abs(whole - m_whole) < KEY_MARGIN:
        return (m_ratio / -1e9, m_whole / -1e9)
    return None


def _unsure(gain: float, cost: float) -> bool:
    """Whether a gain known to within GAIN_SLACK could be shown otherwise than the exact one: as printed (to 4
    and 2 decimals, per cost to 4) or in its ordering key (to 9 decimals): its value in units of the last
    decimal lies within 4 x GAIN_SLACK (scaled; per cost, over the cost) of a half-integer."""
    slack = 4 * GAIN_SLACK / min(cost, 1.0)
    for x, margin in (
        (gain * 1e4, 4 * GAIN_SLACK * 1e4),
        (gain / cost * 1e4, slack * 1e4),
        (gain * 1e2, 4 * GAIN_SLACK * 1e2),
        (gain * 1e9, 4 * GAIN_SLACK * 1e9),
        (gain / cost * 1e9, slack * 1e9),
    ):
        if abs(x - round(x)) > 0.5 - margin:
            return True
    return False


def _own(key: str, base: str) -> bool:
    """Whether fact ``key`` is the result of the test whose fact key is ``base`` (or its extent, pattern...)."""
    return key == base or key.startswith(base + "__")


class Suggester:
    """Next tests for a case (:meth:`suggest`), for one knowledge base and its ranker.

    ``vectorise_after``: calls answered the scalar way before the gains are computed with numpy (imported
    then); ``None``: never. The results are the same either way.
    """

    def __init__(self, knowledge: Knowledge, ranker: Ranker, *, vectorise_after: int | None = VECTORISE_AFTER):
        self.knowledge = knowledge
        self.ranker = ranker
        self.vectorise_after = vectorise_after
        self.calls = 0
        vocab = knowledge.vocab
        self.tests: list[_Test] = []
        self._conditions: dict[Atom, int] = {}  # each condition some test's rules read beyond it: its bit
        rules = [r for r in knowledge.active_rules if r.id in ranker.log_lik]
        for stain in vocab.stains.terms:
            base = f"stains__{stain}"
            outcomes: list[dict[str, object]] = [{base: "negative"}]
            outcomes += [{base: "positive", base + "__extent": extent} for extent in vocab.stain_extents.terms]
            outcomes += [{base: "positive", base + "__pattern": pattern} for pattern in vocab.stain_patterns_for(stain) or []]
            self._add(stain, "stain", vocab.stains.label(stain), base, outcomes, rules, {base: "positive"})
        for test in vocab.molecular.terms:
            base = f"molecular__{test}"
            self._add(
                test, "molecular", vocab.molecular.label(test), base, [{base: "absent"}, {base: "present"}], rules, {base: "present"}
            )
        self.by_path = {t.path: t for t in self.tests}
        # per matched rule id: the tests its caveat asks for
        caveat_tests = knowledge.caveat_tests
        self.asking = {r.id: caveat_tests[r.spec.id] for r in knowledge.active_rules if not r.negated and r.spec.id in caveat_tests}
        # per asking caveat, the entity indexes of its look-alikes (consider), and the share under which they are
        # out of reach (the pitfall band's pitfall_min, 1 % by default): fixed at load, read per case
        index = {e: i for i, e in enumerate(self.ranker.entities)}
        self._look_alikes = {
            rid: tuple(index[knowledge.parent(s)] for s in knowledge.rule[rid].spec.consider if knowledge.parent(s) in index)
            for rid in self.asking
        }
        self._pitfall_floor = next((b.when.pitfall_min for b in knowledge.settings.bands if b.when.pitfall_min is not None), 0.01)
        self._asking_ids = frozenset(self.asking)
        self._rule_bit = {rid: 1 << i for i, rid in enumerate(sorted(frozenset().union(*(t.rule_ids for t in self.tests))))}
        for t in self.tests:
            for rid in t.rule_ids:
                t.rule_mask |= self._rule_bit[rid]
        self._rule_ids = frozenset(self._rule_bit)
        # the conditions grouped by the one fact key each reads (an atom reads one key), so that the bits that
        # hold for a key's value are worked out once per value met and then looked up
        by_key: dict[str, list[tuple[int, Callable[[dict[str, object]], bool]]]] = {}
        for atom, i in self._conditions.items():
            by_key.setdefault(atom.key, []).append((1 << i, compile_predicate(atom)))
        self._condition_keys: list[tuple[str, tuple[tuple[int, Callable[[dict[str, object]], bool]], ...], dict[object, int]]] = [
            (key, tuple(conditions), {}) for key, conditions in by_key.items()
        ]
        self._whys = 0  # why lines kept (at most WHY_LIMIT)
        # the fact key of every test that can be offered; per fact key seen, those it says are done
        bases = [t.base_key for t in self.tests]
        for paths in self.asking.values():
            for test_path in paths:
                section, _, name = test_path.partition(".")
                bases.append(f"{section}__{name}")
        self._bases = tuple(dict.fromkeys(bases))
        self._done_by: dict[str, tuple[str, ...]] = {}
        self._costs: dict[str, TestCost] = {}
        # why lines of tests that no table serves (a caveat's or an outside pointer's test no rule reads, or one
        # whose result changes nothing): they depend on the test and who asks for it alone
        self._plain_whys: dict[tuple[str, tuple[str, ...], tuple[str, ...]], str] = {}
        self._temperature = ranker.temperature
        # the entities in the order of their first profile, each with its profiles (the contrast's order)
        groups: dict[int, list[int]] = {}
        for j, i in enumerate(ranker.profile_entity):
            groups.setdefault(i, []).append(j)
        self._groups = [(i, tuple(js)) for i, js in groups.items()]
        self._members = dict(self._groups)
        self._np: _Numpy | None = None
        self._lock = threading.Lock()

    def _add(
        self,
        name: str,
        kind: str,
        label: str,
        base: str,
        outcomes: list[dict[str, object]],
        rules: list[Rule],
        positive: dict[str, object],
    ) -> None:
        reading = [r for r in rules if any(_own(k, base) for k in r.keys)]
        if not reading:
            return
        positive_rule = next((r for r in reading if not r.negated and r.predicate(positive)), None)
        cost = self.knowledge.ancillary.cost(f"{SECTION[kind]}.{name}")
        others: dict[Atom, None] = {}
        for r in reading:
            for atom in atoms(r.condition):
                if not _own(atom.key, base):
                    others.setdefault(atom, None)
        mask = 0
        for atom in others:
            mask |= 1 << self._conditions.setdefault(atom, len(self._conditions))
        self.tests.append(
            _Test(
                name,
                kind,
                label,
                base,
                outcomes,
                reading,
                positive_rule,
                cost,
                len(self.tests),
                frozenset(r.id for r in reading),
                0,
                mask,
            )
        )

    def suggest(
        self,
        facts: dict[str, object],
        matched: frozenset[str],
        n: int | None = None,
        profile_posterior: list[float] | None = None,
        min_gain: float | None = None,
        pointers: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Suggestion]:
        """The next tests, best first (by gain per unit of cost), those answering an outside pointer first.

        ``facts``: the case's flat facts (they must hold the keys the exclusive
        groups read: ``knowledge.ancillary.keys``); ``matched``: the matched rule
        ids. At most ``n`` tests (default ``settings.suggestions``) gaining at
        least ``min_gain`` bits (default ``settings.next_tests.min_gain``), plus
        every untested test a matched caveat asks for. Gains are over the
        entities (separating two subtypes of one entity gains nothing);
        ``profile_posterior`` (profile order) may be passed in when the caller
        already has it. ``pointers``: test path -> the outside entries
        (``rules/outside.yaml`` slugs) whose pointer it would answer, in the order
        the entries list their tests; each such test not recorded is offered too,
        ahead of the others and in that order (the ranking's gains assume the
        diagnosis is a modelled entity, which those findings question).
        """
        settings = self.knowledge.settings
        n = settings.suggestions if n is None else n
        min_gain = settings.next_tests.min_gain if min_gain is None else min_gain
        ranker = self.ranker
        self._fresh_tables()
        pp = ranker.profile_posterior(matched) if profile_posterior is None else profile_posterior
        posterior = ranker.to_entities(pp)
        h0 = _entropy(posterior)
        asked: dict[str, list[str]] = {}
        for rid in sorted(matched & self._asking_ids):
            if self._look_alikes_out_of_reach(rid, posterior):
                continue  # its look-alikes hold under the pitfall band's share: its tests would gain nothing
            for test_path in self.asking[rid]:
                asked.setdefault(test_path, []).append(rid.removesuffix(":not"))
        candidates, answered, done = self._candidates(facts, matched)
        self.calls += 1
        leader = self._leader(pp, posterior)
        vectorise = self.vectorise_after is not None and self.calls > self.vectorise_after and bool(candidates)
        mixing: Any = None
        gains: list[float] = []
        exact: list[bool] = []
        passing: list[int] = []
        if vectorise:
            with self._lock:  # the numpy blocks are shared: one case at a time
                expected, mixing = self._vector(candidates, pp)
            for k, (test, table) in enumerate(candidates):
                gain = h0 - expected[test.number]
                if not gain > 0.0:
                    gain = 0.0
                if -2 * GAIN_SLACK < gain - min_gain < 2 * GAIN_SLACK:  # could fall either side of min_gain
                    gains.append(self._exact_gain(table, pp, h0))
                    exact.append(True)
                else:
                    gains.append(gain)
                    exact.append(False)
                if gains[k] >= min_gain:
                    passing.append(k)
        else:
            for k, (_, table) in enumerate(candidates):
                gains.append(self._exact_gain(table, pp, h0))
                exact.append(True)
                if gains[k] >= min_gain:
                    passing.append(k)
        keys: dict[int, tuple[float, float]] = {}
        for k in passing:
            test, table = candidates[k]
            key = None if exact[k] else _near_key(gains[k], test)
            if key is None:
                if not exact[k]:  # the key could round either way: the scalar gain decides
                    gains[k] = self._exact_gain(table, pp, h0)
                    exact[k] = True
                key = (-round(gains[k] / test.cost.cost, 9), -round(gains[k], 9))
            keys[k] = key
        picked = pick(sorted(passing, key=lambda k: (*keys[k], candidates[k][0].name)), n, lambda k: candidates[k][0].cost.assay)
        chosen = [k for k, _ in picked]
        also = {k: tuple((candidates[j][0].path, candidates[j][0].label) for j in rest) for k, rest in picked if rest}
        # what is shown, in the reference's order: the tests chosen, then those a caveat asks for
        shown: list[tuple[int | None, _Test | None, str]] = [(k, candidates[k][0], candidates[k][0].path) for k in chosen]
        merged: dict[int, list[str]] = {}  # a chosen panel line: the caveats asking for another test of its order
        pointers = pointers or {}
        pointed: dict[int, list[str]] = {}  # a chosen panel line: the outside pointers asking for another test of its order
        if asked or pointers:
            by_path = {test.path: k for k, (test, _) in enumerate(candidates)}
            chosen_paths = {candidates[k][0].path for k in chosen}
            panel_line = {candidates[k][0].cost.assay: k for k in chosen if candidates[k][0].cost.assay is not None}
            for test_path in dict.fromkeys([*asked, *pointers]):
                if test_path in chosen_paths or test_path in answered:
                    continue
                section, _, name = test_path.partition(".")
                if f"{section}__{name}" in done:
                    continue  # done already: the caveat's test is recorded
                hit = by_path.get(test_path)
                # without a hit no rule reads the test, or no result of it changes the ranking: it gains nothing
                asked_test = candidates[hit][0] if hit is not None else self.by_path.get(test_path)
                line = panel_line.get(asked_test.cost.assay) if asked_test is not None else None
                if line is not None and asked_test is not None:  # the order is offered already: asked for there
                    merged.setdefault(line, []).extend(asked.get(test_path, ()))
                    pointed.setdefault(line, []).extend(pointers.get(test_path, ()))
                    named = also.get(line, ())
                    if test_path not in {path for path, _ in named}:
                        also[line] = (*named, (test_path, asked_test.label))
                    continue
                shown.append((hit, asked_test, test_path))
        out = []
        for index, shown_test, test_path in shown:
            if index is None:
                by = (asked.get(test_path, ()), pointers.get(test_path, ()))
                out.append(self._suggestion(shown_test, test_path, 0.0, _INERT, None, facts, leader, *by))
                continue
            test, table = candidates[index]
            gain = gains[index]
            if not exact[index] and _unsure(gain, test.cost.cost):
                gain = self._exact_gain(table, pp, h0)
            contrast = (
                self._contrast(table, pp, leader)
                if mixing is None
                else self._vector_contrast(mixing, test, table, pp, posterior, leader)
            )
            asked_by = (*asked.get(test_path, ()), *merged.get(index, ()))
            by_pointer = tuple(dict.fromkeys((*pointers.get(test_path, ()), *pointed.get(index, ()))))
            made = self._suggestion(test, test_path, gain, table, contrast, facts, leader, asked_by, by_pointer)
            out.append(replace(made, also=also[index]) if index in also else made)
        out.sort(key=_rank_key)
        if pointers:  # the tests that answer an outside pointer first, in the order the entries list them
            listed = {path: i for i, path in enumerate(pointers)}  # rules/outside.yaml `tests`: the defining test first

            def place(s: Suggestion) -> int:  # a panel line answers a pointer through any test its order reads
                return min((listed[p] for p in (s.path, *(path for path, _ in s.also)) if p in listed), default=len(listed))

            out.sort(key=lambda s: (not s.pointers, place(s) if s.pointers else 0))
        return out

    def _look_alikes_out_of_reach(self, rid: str, posterior: list[float]) -> bool:
        """Whether every look-alike a caveat names (``consider``) holds less than the share at which the pitfall
        band calls a pitfall open (``pitfall_min``, 1 % by default): its caveat is still shown, but its tests are
        not offered (a case ranked FDCS at 99.8 % is not sent for ROS1 and pan-TRK by the ALK-negative IMT
        caveat). A caveat without ``consider`` always offers its tests."""
        look_alikes = self._look_alikes[rid]
        return bool(look_alikes) and all(posterior[i] < self._pitfall_floor for i in look_alikes)

    def _fresh_tables(self) -> None:
        """Drop the outcome tables when the ranker's temperature changed since they were tempered."""
        ranker = self.ranker
        if ranker.temperature != self._temperature:
            with self._lock:
                for test in self.tests:
                    test.tables.clear()
                self._temperature = ranker.temperature
                self._np = None
                self._whys = 0

    def separating(
        self, facts: dict[str, object], matched: frozenset[str], profile_posterior: list[float], entities: tuple[str, str]
    ) -> Suggestion | None:
        """The test that best separates two entities, as if they were the only candidates (their profiles'
        posterior renormalised, the others' set to 0), by gain per unit of cost, then gain; None when no
        test not yet done gains ``settings.next_tests.min_gain`` bits between them. Its why line contrasts
        the leading profile of the two with the other's; its ``gain`` is over all the candidates, as
        :meth:`suggest`'s are, so it reads beside them. For a band about two close leaders when none of the
        tests :meth:`suggest` returned separates them (rare: those are ranked over all the candidates)."""
        ranker = self.ranker
        self._fresh_tables()
        wanted = {ranker.entities.index(e) for e in entities}
        pp = [p if ranker.profile_entity[j] in wanted else 0.0 for j, p in enumerate(profile_posterior)]
        total = math.fsum(pp)
        if total <= 0:
            return None
        pp = [p / total for p in pp]
        posterior = ranker.to_entities(pp)
        h0 = _entropy(posterior)
        min_gain = self.knowledge.settings.next_tests.min_gain
        best: tuple[tuple[float, float, str], _Test, _Table, float] | None = None
        for test, table in self._candidates(facts, matched)[0]:
            gain = self._exact_gain(table, pp, h0)
            key = (-round(gain / test.cost.cost, 9), -round(gain, 9), test.name)
            if gain >= min_gain and (best is None or key < best[0]):
                best = (key, test, table, gain)
        if best is None:
            return None
        _, test, table, _ = best
        leader = self._leader(pp, posterior)
        contrast = self._contrast(table, pp, leader)
        gain = self._exact_gain(table, profile_posterior, _entropy(ranker.to_entities(profile_posterior)))
        return self._suggestion(test, test.path, gain, table, contrast, facts, leader, ())

    # ------------------------------------------------------------------ the tables

    def _candidates(
        self, facts: dict[str, object], matched: frozenset[str]
    ) -> tuple[list[tuple[_Test, _Table]], dict[str, Any], set[str]]:
        """The tests not yet done nor answered by a recorded result, each with its outcome table for this
        case (an outcome that changes no likelihood leaves a test out); and the answered tests and done keys."""
        answered = self._answered(facts)
        done = self._done(facts)
        # a test's table is looked up by which of its rules the case matches already and by the truth of the
        # conditions its rules test beyond it (the rest of an outcome's merged facts is the test's own result)
        holding = 0
        for key, conditions, memo in self._condition_keys:
            value = facts.get(key, _ABSENT)
            bits = memo.get(value) if type(value) is str or value is _ABSENT else None
            if bits is None:
                bits = 0
                for bit, condition in conditions:
                    if condition(facts):
                        bits |= bit
                if (type(value) is str or value is _ABSENT) and len(memo) < KEY_LIMIT:
                    memo[value] = bits
            holding |= bits
        matching = 0
        for rid in matched & self._rule_ids:
            matching |= self._rule_bit[rid]
        candidates: list[tuple[_Test, _Table]] = []
        for test in self.tests:
            if test.base_key in done or (answered and test.path in answered):
                continue
            state = (holding & test.condition_mask, matching & test.rule_mask)
            table = test.tables.get(state)
            if table is None:
                table = self._build(test, facts, test.rule_ids & matched)
                if len(test.tables) < TABLE_LIMIT:
                    test.tables[state] = table
            if table.rows:
                candidates.append((test, table))
        return candidates, answered, done

    def _answered(self, facts: dict[str, object]) -> dict[str, str]:
        """:meth:`ddx.knowledge.ancillary.Ancillary.answered` for the facts (kept there per state of the keys it
        reads). Read only."""
        ancillary = self.knowledge.ancillary
        return ancillary.answered(facts) if ancillary.relations else {}

    def _cost(self, test_path: str) -> TestCost:
        """The cost of a test by its path (``stains.alk``), remembered."""
        cost = self._costs.get(test_path)
        if cost is None:
            cost = self._costs[test_path] = self.knowledge.ancillary.cost(test_path)
        return cost

    def _done(self, facts: dict[str, object]) -> set[str]:
        """The fact keys (``stains__alk``) of the tests the facts record (a result, an extent, a pattern...)."""
        done: set[str] = set()
        memo = self._done_by
        for k in facts:
            hit = memo.get(k)
            if hit is None:
                hit = tuple(b for b in self._bases if _own(k, b))
                if len(memo) < KEY_LIMIT:
                    memo[k] = hit
            if hit:
                done.update(hit)
        return done

    def _build(self, test: _Test, facts: dict[str, object], already: frozenset[str]) -> _Table:
        """A test's table for a case that has not recorded it: the reference's computation, kept as it was
        (``already``: the test's rules the case matches)."""
        ranker = self.ranker
        profiles = range(len(ranker.profiles))
        t = ranker.temperature
        seen: dict[frozenset[str], None] = {}
        for outcome in test.outcomes:
            merged = {**facts, **outcome}
            new = frozenset(r.id for r in test.rules if r.predicate(merged)) - already
            seen.setdefault(new, None)
        if len(seen) < 2:
            return _INERT
        lik_rows = []  # per outcome: P(o | e) before normalisation
        empty_index = None
        for j, new in enumerate(seen):
            if not new:
                empty_index = j
            ids = sorted(new)
            lik_rows.append([math.exp(math.fsum(ranker.log_lik[r][i] for r in ids)) for i in profiles])
        for i in profiles:
            total = math.fsum(row[i] for k, row in enumerate(lik_rows) if k != empty_index)
            if empty_index is not None and total < 1.0 - SUMS_TO_ONE:
                lik_rows[empty_index][i] = 1.0 - total
            else:
                total += lik_rows[empty_index][i] if empty_index is not None else 0.0
                for row in lik_rows:
                    row[i] /= total
        tempered = [row[:] for row in lik_rows]
        if t != 1.0:
            for i in profiles:
                total = math.fsum(row[i] ** t for row in lik_rows)
                for k_, row in enumerate(lik_rows):
                    tempered[k_][i] = row[i] ** t / total if total > 0 else row[i]
        powered = [[x**t for x in row] for row in lik_rows]
        return _Table(lik_rows, tempered, powered, frozenset().union(*seen))

    # ------------------------------------------------------------------ the gains

    def _exact_gain(self, table: _Table, pp: list[float], h0: float) -> float:
        """The expected gain in bits, the scalar way: the reference's arithmetic, operation for operation."""
        to_entities = self.ranker.to_entities
        expected_h = 0.0
        for row_t, trow in zip(table.powered, table.tempered):
            p_o = math.fsum([p * x for p, x in zip(pp, trow)])
            if p_o > 0:
                after = [p * x for p, x in zip(pp, row_t)]
                norm = math.fsum(after)
                expected_h += p_o * _entropy(to_entities([a / norm for a in after]))
        return max(0.0, h0 - expected_h)

    def _numpy(self) -> _Numpy:
        """numpy and its arrays, made on the first vectorised call."""
        if self._np is None:
            import numpy as np

            ranker = self.ranker
            profiles, entities = len(ranker.profiles), len(ranker.entities)
            # profile -> entity, and a last column summing them all (the total of a row of the posterior)
            membership = np.zeros((profiles, entities + 1))
            membership[range(profiles), ranker.profile_entity] = 1.0
            membership[:, entities] = 1.0
            signs = -np.ones(entities + 1)  # n log2 n - sum a log2 a
            signs[entities] = 1.0
            self._np = _Numpy(np, membership, signs)
            self._layout(self._np, [max([len(t.rows) for t in test.tables.values()] + [1]) for test in self.tests])
        return self._np

    def _layout(self, state: _Numpy, sizes: list[int]) -> None:
        """Give each test a block of ``sizes[i]`` rows (as many as its largest table has), empty."""
        np = state.np
        shape = (sum(sizes), len(self.ranker.profiles))
        state.rows = np.zeros(shape)
        same = self._temperature == 1.0  # then the rows are their own tempered and powered rows
        state.tempered = state.rows if same else np.zeros(shape)
        state.powered = state.rows if same else np.zeros(shape)
        state.sizes = sizes
        state.starts = [sum(sizes[:i]) for i in range(len(sizes))]
        state.starts_array = np.array(state.starts, dtype=np.intp)
        state.loaded = [None] * len(sizes)

    def _load(self, state: _Numpy, test: _Test, table: _Table) -> bool:
        """Write a table's rows into its test's block (zero beyond them). True when the block had to grow: then
        every block was laid out anew, empty, and the others' tables must be written again."""
        np = state.np
        count = len(table.rows)
        grown = count > state.sizes[test.number]
        if grown:
            self._layout(state, [count if i == test.number else size for i, size in enumerate(state.sizes)])
        if table.blocks is None:
            table.blocks = [np.array(rows) for rows in (table.rows, table.tempered, table.powered)]
        start = state.starts[test.number]
        end = start + state.sizes[test.number]
        for array, block in zip((state.rows, state.tempered, state.powered), table.blocks):
            array[start : start + count] = block
            if count < end - start:
                array[start + count : end] = 0.0
            if state.tempered is state.rows:
                break
        state.loaded[test.number] = table
        return grown

    def _vector(self, candidates: list[tuple[_Test, _Table]], pp: list[float]) -> tuple[list[float], Any]:
        """The expected entropy after each test (bits; indexed by test number, meaningful for the candidates),
        in one numpy pass; and what :meth:`_vector_contrast` needs (each outcome's entity posterior,
        unnormalised, where each test's rows start, the posterior weights).

        Each test has a block of rows (zero beyond its table's); a block is rewritten when the case needs
        another of the test's tables."""
        state = self._numpy()
        np = state.np
        loading = True
        while loading:  # again from the start when a block had to grow (the blocks were emptied)
            loading = False
            for test, table in candidates:
                if state.loaded[test.number] is not table and self._load(state, test, table):
                    loading = True
                    break
        pv = np.array([pp])
        # per outcome (row): the entity posterior after it, unnormalised (a_e), and its total n (last column);
        # P(outcome) × entropy(a / n) = (n log2 n - sum a_e log2 a_e) / n × P(outcome); P(outcome) = n when
        # the temperature is 1
        weights = state.membership * pv.T
        after = state.powered @ weights
        plogp = (after * np.log2(np.maximum(after, 1e-300))) @ state.signs
        if state.tempered is not state.rows:
            plogp *= (state.tempered @ pv[0]) / np.maximum(after[:, -1], 1e-300)
        return np.add.reduceat(plogp, state.starts_array).tolist(), (after, state.starts, weights)

    def _vector_contrast(
        self, mixing: Any, test: _Test, table: _Table, pp: list[float], masses: list[float], leader: int
    ) -> int | None:
        """:meth:`_contrast` from the numpy pass: an entity's score is its posterior mass times the total
        variation distance between the leader's outcome distribution and its own, half the sum over outcomes
        of |mass × P(o | leader) − Σ over its profiles of posterior × P(o | profile)| (the latter from the
        numpy pass). The entity scoring most is taken when every other scores clearly less (by SCORE_SLACK,
        relative to the masses); else the scalar way decides. ``masses``: the entity posterior."""
        after, starts, weights = mixing
        rows = table.rows
        if self._temperature == 1.0:  # the numpy pass's rows are these rows
            start = starts[test.number]
            block = after[start : start + len(rows)].tolist()
        else:
            block = (table.blocks[0] @ weights).tolist()
        lead = [row[leader] for row in rows]
        lead_entity = self.ranker.profile_entity[leader]
        best, top, scores = -1, -math.inf, []
        for e, m in enumerate(masses):
            if e == lead_entity or m <= 0:
                continue
            doubled = 0.0
            for a, outcome in zip(lead, block):
                doubled += abs(m * a - outcome[e])
            scores.append((e, m, doubled))
            if doubled > top:
                best, top = e, doubled
        if best < 0:
            return None  # no other entity has any posterior mass
        top *= 0.5
        low = top - SCORE_SLACK * (masses[best] + top)  # the least the best can score
        rest = -math.inf  # the most any other can score
        for e, m, doubled in scores:
            if e != best:
                score = 0.5 * doubled
                score += SCORE_SLACK * (m + score)
                if score > rest:
                    rest = score
        if rest < 1e-15 and 2 * top - low < 1e-15:
            return None  # no other entity differs from the leader
        if low > 1.5e-15 and rest < low - 1.5e-15:
            return self._within(self._members[best], table, pp, leader)
        return self._contrast(table, pp, leader)

    # ------------------------------------------------------------------ the why

    def _leader(self, pp: list[float], posterior: list[float]) -> int:
        """The leading profile of the leading entity (the first of equals)."""
        best = -1
        for j in self._members[posterior.index(max(posterior))]:
            if best < 0 or pp[j] > pp[best]:
                best = j
        return best

    def _within(self, members: tuple[int, ...], table: _Table, pp: list[float], leader: int) -> int:
        """The profile of the contrast's entity that differs most from the leader, weighted by its posterior."""
        if len(members) == 1:
            return members[0]
        distance = table.distances.get(leader)
        if distance is None:  # per profile: the total variation distance of its outcomes from the leader's
            rows = table.rows
            distance = table.distances[leader] = [0.5 * math.fsum(abs(row[leader] - row[j]) for row in rows) for j in range(len(pp))]
        return max(members, key=lambda j: (pp[j] * distance[j], -j))

    def _contrast(self, table: _Table, pp: list[float], leader: int) -> int | None:
        """The candidate the test separates the leader from (None when no other entity differs).

        The entity, other than the leader's, whose outcome distribution (its profiles' mixed by their
        posterior) is farthest from the leader profile's (total variation distance), weighted by its
        posterior; then, within it, the profile that differs most, weighted by its posterior.
        """
        rows = table.rows
        lead_entity = self.ranker.profile_entity[leader]
        lead = [row[leader] for row in rows]
        best_entity, best_score = None, 0.0
        for i, js in self._groups:
            if i == lead_entity:
                continue
            mass = math.fsum(pp[j] for j in js)
            if mass <= 0:
                continue
            mixed = [math.fsum(pp[j] * row[j] for j in js) / mass for row in rows]
            score = mass * (0.5 * math.fsum(abs(a - d) for a, d in zip(lead, mixed)))
            if score > best_score + 1e-15:
                best_entity, best_score = i, score
        if best_entity is None:
            return None
        return self._within(self._members[best_entity], table, pp, leader)

    def _suggestion(
        self,
        test: _Test | None,
        test_path: str,
        gain: float,
        table: _Table,
        contrast: int | None,
        facts: dict[str, object],
        leader: int,
        asked_by: Any,
        pointers: Sequence[str] = (),
    ) -> Suggestion:
        section, _, name = test_path.partition(".")
        kind = "stain" if section == "stains" else "molecular"
        vocab = self.knowledge.vocab
        label = test.label if test is not None else vocab.test_label(section, name)
        cost = test.cost if test is not None else self._cost(test_path)
        asked = tuple(asked_by)
        pointing = tuple(pointers)
        plain = test is None or not table.fired  # no rule to quote: the why names the test and who asks for it
        why = self._plain_whys.get((test_path, asked, pointing)) if plain else table.whys.get((leader, contrast, asked, pointing))
        if why is None:
            tiers: list[list[Rule]] = [[], []]
            if test is not None and table.fired:
                if table.tiers is None:
                    # the same for every case the table serves: beyond the test's result, the rules read only
                    # what its state holds (which of them fire already, the conditions they test beyond it)
                    table.tiers = quotable_rules(test.rules, test.positive_rule, table.fired, facts, test.base_key, kind)
                tiers = table.tiers
            why = why_line(
                self.knowledge,
                self.ranker.profiles,
                test.positive_rule if test is not None else None,
                tiers,
                label,
                kind,
                leader,
                contrast,
                asked,
                pointing,
            )
            if plain:
                if len(self._plain_whys) < WHY_LIMIT:
                    self._plain_whys[(test_path, asked, pointing)] = why
            elif table.rows and self._whys < WHY_LIMIT:
                table.whys[(leader, contrast, asked, pointing)] = why
                self._whys += 1
        profiles = self.ranker.profiles
        return Suggestion(
            name,
            kind,
            label,
            gain,
            why,
            cost,
            profiles[leader].slug,
            profiles[contrast].slug if contrast is not None else None,
            asked,
            pointers=pointing,
        )


def quotable_rules(
    rules: Sequence[Rule],
    positive_rule: Rule | None,
    fired: frozenset[str],
    facts: dict[str, object],
    base_key: str,
    kind: str,
) -> list[list[Rule]]:
    """The rules a next test's why may quote, in two tiers: those a plain positive (present) result makes fire,
    the plain positive rule first, then those only another result makes fire (an extent, a pattern).

    ``rules``: the test's rules; ``fired``: the ids of those an outcome adds to the rules the case fires
    already (the outcome tables subtract those, :meth:`Suggester._build`, so a rule that fires while the test
    is not recorded, 'MSA positive (desmin not recorded)', is no figure of what the test would show and is
    never quoted); ``facts``: the case's, without the test; ``base_key``: the test's fact key; ``kind``:
    'stain' or 'molecular'. A negated rule is left out."""
    plain = {**facts, base_key: "positive" if kind == "stain" else "present"}
    tiers: list[list[Rule]] = [[], []]
    for r in sorted(rules, key=lambda r: r is not positive_rule):
        if r.id in fired and not r.negated:
            tiers[0 if r.predicate(plain) else 1].append(r)
    return tiers


def why_line(
    knowledge: Knowledge,
    profiles: list[Profile],
    positive_rule: Rule | None,
    tiers: list[list[Rule]],
    label: str,
    kind: str,
    leader: int,
    contrast: int | None,
    asked_by: tuple[str, ...],
    pointers: tuple[str, ...] = (),
) -> str:
    """'MDM2 (IHC): positive in ~2 % of PRMS [worth ≈10 cases] vs 100 % of DDLPS [12/12]': the leader first.

    ``profiles``: the ranker's; ``leader``/``contrast``: profile indices (``contrast`` None: no other
    candidate differs); ``positive_rule``: the test's plain positive (present) rule, quoted as 'positive in'.
    ``tiers``: the rules a result of the test makes fire (not negated) and that do not fire without it (a
    rule that fires while the test is not recorded is no figure of what the test would show): those of a plain
    positive result, then the others (both empty for a test no rule reads). The rule quoted is the one whose figures for the
    two differ most, from the first tier where they differ by at least MIN_QUOTED_DIFFERENCE."""
    candidates = [r for tier in tiers for r in tier]
    if not candidates:
        if pointers:
            named = {o.spec.slug: o.spec.name for o in knowledge.outside}
            names = join_and([lower_first(short_name(named[slug])) for slug in pointers])  # only the names said
            return f"{label}: would test {names}, which ddx does not model"
        if asked_by:
            return f"{label}: asked for by {'a caveat' if len(asked_by) == 1 else 'the caveats'} (see Caveats)"
        return f"{label}: its result changes the ranking of the leading candidates"
    ev = knowledge.settings.evidence
    lead = profiles[leader]

    def of(prof: Profile, rule: Rule) -> str:
        """'desmin-positive ALK-rearranged IMT': whose figure it is (the subtype's own, else its entity's, which
        it inherits), under the rule's condition; for a subtype quoting its entity's rest profile (no cell of its
        own, while another subtype has one), also the candidate it stands for ('ALK-rearranged IMT, the figure
        used for ALK-neg IMT'), so the sentence names the candidate the test separates."""
        whose = knowledge.figure_name(rule, prof.slug)
        own = knowledge.profile_short(prof.slug)
        name = given_name(rule.spec.given, whose)
        return name if whose in (own, knowledge.short_name(prof.entity)) else f"{name}, the figure used for {own}"

    word = "positive" if kind == "stain" else "present"

    def head(rule: Rule) -> str:
        """The rule's finding without the test's name: 'positive (desmin positive) in'; for a rule about another
        finding, what the result would make the case read."""
        if rule is positive_rule:
            return f"{word} in"
        title = rule.title
        if title.lower().startswith(label.lower() + " "):
            return f"{title[len(label) + 1 :]} in"
        # another finding the test's result lets count ('Myogenin positive (desmin positive)' for desmin): said
        # as such, not as the test's own figure
        return f"its result would make the case read '{title}', found in"

    if contrast is None:
        rule = candidates[0]
        lk = knowledge.profile_likelihood(rule, lead)
        if lk is None:
            return f"{label}: {rule.title}"
        return f"{label}: {head(rule)} {percent(lk.p, lk.estimate)} of {of(lead, rule)} [{basis_text(lk, strength_of(lk, ev))}]"
    other = profiles[contrast]
    best = None
    for tier in tiers:
        for rule in tier:
            pa = knowledge.profile_likelihood(rule, lead)
            pb = knowledge.profile_likelihood(rule, other)
            if pa is None or pb is None:
                continue
            if best is None or abs(pa.p - pb.p) > best[0] + 1e-12:
                best = (abs(pa.p - pb.p), rule, pa, pb)
        if best is not None and best[0] >= MIN_QUOTED_DIFFERENCE:
            break
    if best is None:
        return f"{label}: {candidates[0].title}"
    _, rule, pa, pb = best
    return (
        f"{label}: {head(rule)} {percent(pa.p, pa.estimate)} of {of(lead, rule)} "
        f"[{basis_text(pa, strength_of(pa, ev))}] vs {percent(pb.p, pb.estimate)} of {of(other, rule)} "
        f"[{basis_text(pb, strength_of(pb, ev))}]"
    )


@dataclass(eq=False)
class _Numpy:
    """numpy (imported on the first vectorised call) and the arrays of the vectorised pass: the profile ×
    entity membership matrix (with a column of ones); the signs summing p log2 p; and each test's block of
    rows (``rows``, ``tempered``, ``powered``: one array when the temperature is 1), where each starts, its
    size and the table it holds (see :meth:`Suggester._vector`)."""

    np: Any
    membership: Array
    signs: Array
    rows: Any = None
    tempered: Any = None
    powered: Any = None
    sizes: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    starts_array: Any = None
    loaded: list[_Table | None] = field(default_factory=list)
