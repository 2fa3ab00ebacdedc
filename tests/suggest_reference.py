"""The reference next-test suggester: the specification the fast :class:`ddx.suggest.Suggester` is held to.

This is ddx's straightforward scalar implementation as it stood before the suggester was vectorised (issue 19),
kept verbatim apart from the class name and imports: for every candidate test and every result of it, the
rules reading the test are evaluated on the case's facts plus that result, the likelihood rows are built
with ``math.fsum``, and the expected information gain is summed outcome by outcome. It is slow and plain
on purpose. ``tests/test_suggest_fast.py`` holds the fast suggester equal to it (every suggestion's
``to_dict()``, gains to 1e-9, the same order) on every published case and on thousands of synthetic cases.

Importable by the tests (and ``bench/suggest_bench.py``) only; ddx itself never imports it. Change it only
when the suggester's *behaviour* is meant to change, and then change both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ddx.knowledge import Knowledge, Rule
from ddx.knowledge.ancillary import TestCost
from ddx.ranking import Ranker
from ddx.suggest import SECTION, SUMS_TO_ONE, Suggestion, pick, quotable_rules, why_line


def _entropy(ps: list[float]) -> float:
    return -math.fsum(p * math.log2(p) for p in ps if p > 0)


@dataclass
class _Test:
    name: str
    kind: str
    label: str
    base_key: str
    outcomes: list[dict[str, object]]
    rules: list[Rule]
    positive_rule: Rule | None
    cost: TestCost

    @property
    def path(self) -> str:
        return f"{SECTION[self.kind]}.{self.name}"


def _rank_key(s: Suggestion) -> tuple[float, float, str]:
    return (-round(s.gain_per_cost, 9), -round(s.gain, 9), s.test)


class ReferenceSuggester:
    def __init__(self, knowledge: Knowledge, ranker: Ranker):
        self.knowledge = knowledge
        self.ranker = ranker
        vocab = knowledge.vocab
        self.tests: list[_Test] = []
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
        reading = [r for r in rules if any(k == base or k.startswith(base + "__") for k in r.keys)]
        if not reading:
            return
        positive_rule = next((r for r in reading if not r.negated and r.predicate(positive)), None)
        cost = self.knowledge.ancillary.cost(f"{SECTION[kind]}.{name}")
        self.tests.append(_Test(name, kind, label, base, outcomes, reading, positive_rule, cost))

    def suggest(
        self,
        facts: dict[str, object],
        matched: frozenset[str],
        n: int | None = None,
        profile_posterior: list[float] | None = None,
        min_gain: float | None = None,
    ) -> list[Suggestion]:
        """The next tests, best first (by gain per unit of cost).

        ``facts``: the case's flat facts (they must hold the keys the exclusive
        groups read: ``knowledge.ancillary.keys``); ``matched``: the matched rule
        ids. At most ``n`` tests (default ``settings.suggestions``) gaining at
        least ``min_gain`` bits (default ``settings.next_tests.min_gain``), plus
        every untested test a matched caveat asks for. Gains are over the
        entities (separating two subtypes of one entity gains nothing);
        ``profile_posterior`` (profile order) may be passed in when the caller
        already has it.
        """
        settings = self.knowledge.settings
        n = settings.suggestions if n is None else n
        min_gain = settings.next_tests.min_gain if min_gain is None else min_gain
        ranker = self.ranker
        pp = ranker.profile_posterior(matched) if profile_posterior is None else profile_posterior
        posterior = ranker.to_entities(pp)
        h0 = _entropy(posterior)
        profiles = range(len(pp))
        t = ranker.temperature
        answered = self.knowledge.ancillary.answered(facts) if self.knowledge.ancillary.relations else {}
        asked: dict[str, list[str]] = {}
        floor = next((b.when.pitfall_min for b in settings.bands if b.when.pitfall_min is not None), 0.01)
        share = dict(zip(ranker.entities, posterior))
        for rid in sorted(matched):
            consider = (
                [self.knowledge.parent(slug) for slug in self.knowledge.rule[rid].spec.consider] if rid in self.knowledge.rule else []
            )
            if consider and all(share.get(entity, 1.0) < floor for entity in consider):
                continue  # every look-alike of the caveat under the pitfall share: its tests are not offered
            for test_path in self.asking.get(rid, ()):
                asked.setdefault(test_path, []).append(rid.removesuffix(":not"))
        evaluated: list[tuple[_Test, float, list[list[float]], frozenset[str]]] = []
        for test in self.tests:
            if any(k == test.base_key or k.startswith(test.base_key + "__") for k in facts) or test.path in answered:
                continue
            base_matched = {r.id for r in test.rules if r.id in matched}
            seen: dict[frozenset[str], None] = {}
            for outcome in test.outcomes:
                merged = {**facts, **outcome}
                new = frozenset(r.id for r in test.rules if r.predicate(merged)) - base_matched
                seen.setdefault(new, None)
            if len(seen) < 2:
                continue
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
            # P(o) from the outcome table tempered and renormalised per profile; the posterior after o
            # exactly as the ranker would give it once o is recorded (prior x likelihood^T)
            tempered = [row[:] for row in lik_rows]
            if t != 1.0:
                for i in profiles:
                    total = math.fsum(row[i] ** t for row in lik_rows)
                    for k_, row in enumerate(lik_rows):
                        tempered[k_][i] = row[i] ** t / total if total > 0 else row[i]
            expected_h = 0.0
            for row, trow in zip(lik_rows, tempered):
                p_o = math.fsum(pp[i] * trow[i] for i in profiles)
                if p_o > 0:
                    after = [pp[i] * row[i] ** t for i in profiles]
                    norm = math.fsum(after)
                    expected_h += p_o * _entropy(ranker.to_entities([a / norm for a in after]))
            evaluated.append((test, max(0.0, h0 - expected_h), lik_rows, frozenset().union(*seen)))

        def key(item: tuple[_Test, float, list[list[float]], frozenset[str]]) -> tuple[float, float, str]:
            test, gain = item[0], item[1]
            return (-round(gain / test.cost.cost, 9), -round(gain, 9), test.name)

        picked = pick(sorted((e for e in evaluated if e[1] >= min_gain), key=key), n, lambda e: e[0].cost.assay)
        chosen = [e for e, _ in picked]
        also = {e[0].path: tuple((o[0].path, o[0].label) for o in rest) for e, rest in picked if rest}
        chosen_paths = {e[0].path for e in chosen}
        by_path = {e[0].path: e for e in evaluated}
        extra: list[tuple[_Test | None, str, float, list[list[float]], frozenset[str]]] = []
        panel_line = {e[0].cost.assay: e[0].path for e in chosen if e[0].cost.assay is not None}
        merged: dict[str, list[str]] = {}
        for test_path in asked:
            if test_path in chosen_paths or test_path in answered:
                continue
            section, _, name = test_path.partition(".")
            if any(k == f"{section}__{name}" or k.startswith(f"{section}__{name}__") for k in facts):
                continue  # done already: the caveat's test is recorded
            hit = by_path.get(test_path)
            asked_test = hit[0] if hit is not None else self.by_path.get(test_path)
            line = panel_line.get(asked_test.cost.assay) if asked_test is not None else None
            if line is not None and asked_test is not None:  # the order is offered already: asked for there
                merged.setdefault(line, []).extend(asked[test_path])
                if test_path not in {p for p, _ in also.get(line, ())}:
                    also[line] = (*also.get(line, ()), (test_path, asked_test.label))
                continue
            if hit is not None:
                extra.append((hit[0], test_path, hit[1], hit[2], hit[3]))
            else:  # no rule reads it, or no result of it changes the ranking: gains nothing
                extra.append((self.by_path.get(test_path), test_path, 0.0, [], frozenset()))
        leader = self._leader(pp, posterior)
        out = [
            replace(
                self._suggestion(
                    test, test.path, gain, rows, fired, facts, pp, leader, (*asked.get(test.path, ()), *merged.get(test.path, ()))
                ),
                also=also.get(test.path, ()),
            )
            for test, gain, rows, fired in chosen
        ]
        out += [
            self._suggestion(test, test_path, gain, rows, fired, facts, pp, leader, asked[test_path])
            for test, test_path, gain, rows, fired in extra
        ]
        out.sort(key=_rank_key)
        return out

    def _leader(self, pp: list[float], posterior: list[float]) -> int:
        """The leading profile of the leading entity."""
        lead = max(range(len(posterior)), key=lambda i: (posterior[i], -i))
        entity_of = self.ranker.profile_entity
        return max((j for j in range(len(pp)) if entity_of[j] == lead), key=lambda j: (pp[j], -j))

    def _suggestion(
        self,
        test: _Test | None,
        test_path: str,
        gain: float,
        rows: list[list[float]],
        fired: frozenset[str],
        facts: dict[str, object],
        pp: list[float],
        leader: int,
        asked_by: Any,
    ) -> Suggestion:
        section, _, name = test_path.partition(".")
        kind = "stain" if section == "stains" else "molecular"
        vocab = self.knowledge.vocab
        label = (vocab.stains if kind == "stain" else vocab.molecular).label(name)
        cost = test.cost if test is not None else self.knowledge.ancillary.cost(test_path)
        contrast = self._contrast(rows, pp, leader) if rows else None
        tiers: list[list[Rule]] = [[], []]
        if test is not None:  # which rules the why may quote: shared with ddx/suggest.py, as its wording is
            tiers = quotable_rules(test.rules, test.positive_rule, fired, facts, test.base_key, kind)
        # the why line's wording is shared with ddx/suggest.py (not what this reference specifies)
        why = why_line(
            self.knowledge,
            self.ranker.profiles,
            test.positive_rule if test is not None else None,
            tiers,
            label,
            kind,
            leader,
            contrast,
            tuple(asked_by),
        )
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
            tuple(asked_by),
        )

    def _contrast(self, rows: list[list[float]], pp: list[float], leader: int) -> int | None:
        """The candidate the test separates the leader from (None when no other entity differs).

        The entity, other than the leader's, whose outcome distribution (its profiles' mixed by their
        posterior) is farthest from the leader profile's (total variation distance), weighted by its
        posterior; then, within it, the profile that differs most, weighted by its posterior. ``rows``:
        P(outcome | profile), one row per outcome.
        """
        entity_of = self.ranker.profile_entity

        def distance(dist: list[float]) -> float:
            return 0.5 * math.fsum(abs(row[leader] - d) for row, d in zip(rows, dist))

        members: dict[int, list[int]] = {}
        for j, i in enumerate(entity_of):
            if i != entity_of[leader]:
                members.setdefault(i, []).append(j)
        best_entity, best_score = None, 0.0
        for i, js in members.items():
            mass = math.fsum(pp[j] for j in js)
            if mass <= 0:
                continue
            mixed = [math.fsum(pp[j] * row[j] for j in js) / mass for row in rows]
            score = mass * distance(mixed)
            if score > best_score + 1e-15:
                best_entity, best_score = i, score
        if best_entity is None:
            return None
        return max(members[best_entity], key=lambda j: (pp[j] * distance([row[j] for row in rows]), -j))
