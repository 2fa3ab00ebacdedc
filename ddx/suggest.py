"""Next best tests: which stain or molecular test not yet in the case would
best separate the current candidates (expected information gain).

For a test T and each of its possible results o (negative; positive focal or
diffuse; positive with each staining pattern the vocabulary allows for T;
molecular present / absent):

* the rules that read T are evaluated on the case plus o (rules that do not
  read T cannot change, so only those are re-evaluated);
* results that match the same rules are merged;
* P(o | e) is the product of the likelihoods those rules give e, normalised
  over the results (a result matching no rule takes the remaining mass);
* gain(T) = H(P(e)) - sum_o P(o) H(P(e | o)), in bits.

The "why" line quotes the figures behind the test for the two leading
candidates it separates most (``~`` marks an estimate), each with its count or
its strength in cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ddx.knowledge import Knowledge, Rule
from ddx.ranking import Ranker, basis_text, percent, strength_of


@dataclass(frozen=True)
class Suggestion:
    test: str            # "alk" or "mdm2_amplification"
    kind: str            # "stain" | "molecular"
    label: str
    gain: float          # expected information gain, bits
    why: str

    def to_dict(self) -> dict[str, object]:
        return {"test": self.test, "kind": self.kind, "label": self.label,
                "gain_bits": round(self.gain, 4), "why": self.why}


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


class Suggester:
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
            outcomes += [{base: "positive", base + "__pattern": pattern}
                         for pattern in vocab.stain_patterns_for(stain) or []]
            self._add(stain, "stain", vocab.stains.label(stain), base, outcomes, rules, {base: "positive"})
        for test in vocab.molecular.terms:
            base = f"molecular__{test}"
            self._add(test, "molecular", vocab.molecular.label(test), base,
                      [{base: "absent"}, {base: "present"}], rules, {base: "present"})

    def _add(self, name: str, kind: str, label: str, base: str, outcomes: list[dict[str, object]],
             rules: list[Rule], positive: dict[str, object]) -> None:
        reading = [r for r in rules if any(k == base or k.startswith(base + "__") for k in r.keys)]
        if not reading:
            return
        positive_rule = next((r for r in reading if not r.negated and r.predicate(positive)), None)
        self.tests.append(_Test(name, kind, label, base, outcomes, reading, positive_rule))

    def suggest(self, facts: dict[str, object], matched: frozenset[str], n: int | None = None,
                profile_posterior: list[float] | None = None) -> list[Suggestion]:
        """Gains are over the entities (separating two subtypes of one entity gains nothing);
        ``profile_posterior`` (profile order) may be passed in when the caller already has it."""
        n = self.knowledge.settings.suggestions if n is None else n
        ranker = self.ranker
        pp = ranker.profile_posterior(matched) if profile_posterior is None else profile_posterior
        posterior = ranker.to_entities(pp)
        h0 = _entropy(posterior)
        profiles = range(len(pp))
        t = ranker.temperature
        # the leading profile of each of the three leading entities
        best: dict[int, int] = {}
        for j, i in enumerate(ranker.profile_entity):
            if i not in best or pp[j] > pp[best[i]]:
                best[i] = j
        leaders = [best[i] for i in sorted(range(len(posterior)), key=lambda i: -posterior[i])[:3]]
        results = []
        for test in self.tests:
            if any(k == test.base_key or k.startswith(test.base_key + "__") for k in facts):
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
                if empty_index is not None and total < 1.0:
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
            gain = max(0.0, h0 - expected_h)
            results.append(Suggestion(test.name, test.kind, test.label, gain, self._why(test, leaders)))
        results.sort(key=lambda s: (-round(s.gain, 9), s.test))
        return results[:n]

    def _why(self, test: _Test, leaders: list[int]) -> str:
        rule = test.positive_rule
        short = [self.knowledge.short_name(p.slug) for p in self.ranker.profiles]
        word = "positive" if test.kind == "stain" else "present"
        if rule is None:
            return f"{test.label}: its result changes the ranking of the leading candidates"
        best = None
        profiles = self.ranker.profiles
        for a in leaders:
            for b in leaders:
                if a < b:
                    pa = self.knowledge.profile_likelihood(rule, profiles[a])
                    pb = self.knowledge.profile_likelihood(rule, profiles[b])
                    if pa is not None and pb is not None:
                        diff = abs(pa.p - pb.p)
                        if best is None or diff > best[0]:
                            best = (diff, (a, pa), (b, pb)) if pa.p >= pb.p else (diff, (b, pb), (a, pa))
        if best is None:
            return f"{test.label}: {rule.title}"
        (_, (hi, phi), (lo, plo)) = best
        ev = self.knowledge.settings.evidence
        return (f"{test.label}: {word} in {percent(phi.p, phi.estimate)} of {short[hi]} "
                f"[{basis_text(phi, strength_of(phi, ev))}], "
                f"{percent(plo.p, plo.estimate)} of {short[lo]} [{basis_text(plo, strength_of(plo, ev))}]")
