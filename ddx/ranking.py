"""Ranking: plain Python over the matched rules.

Model (naive Bayes over the rule base, written down so it can be checked):

* Each matched rule r contributes its likelihood P(finding | entity) for every
  entity, clamped to ``settings.clamp`` (default 0.01-0.99) so that no single
  finding can eliminate an entity and conflicting input never divides by zero.
  A rule's ``negated_by`` half (the tested-negative finding) contributes 1 - p.
* log posterior(e) = log prior(e) + sum of log likelihoods, normalised with
  log-sum-exp: the probabilities sum to 1.
* Unknown findings match no rule and so count for nothing; negative findings
  count through ``negated_by``.
* The weight of a piece of evidence for entity e is log10 of how much more
  likely the finding is under e than across the whole differential (the
  prior-weighted mean likelihood). Positive weights argue for e, negative
  against. An entity's score is the sum of its weights; since the reference
  term is the same for every entity, probability is proportional to
  prior x 10^score.
* Rule ids are sorted and summed with ``math.fsum``: the order of rules or
  findings never changes the result.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property

from ddx.knowledge import Knowledge, Likelihood, Rule

LN10 = math.log(10.0)


@dataclass(frozen=True)
class Evidence:
    rule: str
    finding: str
    entity: str
    weight: float          # log10 likelihood ratio against the differential
    likelihood: Likelihood  # the figure behind it (cited or estimate)
    p_used: float          # after clamping and negation
    source: str
    negated: bool = False  # a tested-negative finding, scored 1 - p

    @property
    def estimate(self) -> bool:
        return self.likelihood.estimate

    @cached_property
    def _dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rule": self.rule, "finding": self.finding, "weight": round(self.weight, 3),
            "p": round(self.p_used, 4), "estimate": self.estimate, "source": self.source,
        }
        if self.likelihood.n:
            out["n"] = self.likelihood.n
        return out

    def to_dict(self) -> dict[str, object]:
        """The JSON form (built once per piece of evidence; treat it as read-only)."""
        return self._dict

    @cached_property
    def json_text(self) -> str:
        """``to_dict()`` as compact JSON, built once."""
        return json.dumps(self._dict, ensure_ascii=False, separators=(",", ":"))


@dataclass
class RankedEntity:
    entity: str
    name: str
    probability: float
    score: float
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def supporting(self) -> list[Evidence]:
        return [e for e in self.evidence if e.weight > 0]

    @property
    def opposing(self) -> list[Evidence]:
        return [e for e in self.evidence if e.weight < 0]


def percent(p: float, estimate: bool) -> str:
    """A likelihood as a reader sees it: '45 %' (cited) or '~45 %' (estimate)."""
    value = p * 100
    text = f"{value:.0f} %" if value >= 1 or value == 0 else f"{value:.1f} %"
    return ("~" if estimate else "") + text


def join_words(words: list[str], conjunction: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {conjunction} " + words[-1]


def lower_first(text: str) -> str:
    """'Desmin positive' -> 'desmin positive' mid-sentence; 'MyoD1' and 'SMA' stay."""
    word = text.split(" ", 1)[0]
    if len(word) > 1 and word[0].isupper() and word[1:].islower():
        return text[0].lower() + text[1:]
    return text


@dataclass(frozen=True)
class Contrast:
    """A matched finding that favours one entity over another."""

    rule: str
    finding: str
    favoured: Likelihood      # P(finding | favoured entity), before clamping
    other: Likelihood         # P(finding | other entity)
    negated: bool
    log10_ratio: float        # > 0: favours the first entity

    def phrase(self, favoured: str, other: str) -> str:
        def shown(lk: Likelihood) -> str:
            p = 1.0 - lk.p if self.negated else lk.p
            return percent(p, lk.estimate)
        return (f"{lower_first(self.finding)} ({shown(self.favoured)} of {favoured.upper()} "
                f"vs {shown(self.other)} of {other.upper()})")


@dataclass(frozen=True)
class Caveat:
    rule: str
    text: str
    source: str


class Ranker:
    def __init__(self, knowledge: Knowledge):
        self.knowledge = knowledge
        self.entities = knowledge.entity_slugs
        lo, hi = knowledge.settings.clamp
        self.clamp = (lo, hi)
        priors = [e.prior.p for e in knowledge.entities]
        total = sum(priors)
        self.prior = [p / total for p in priors]
        self.log_prior = [math.log(p) for p in self.prior]
        # per rule: ln P(finding | e) for every entity, and the reference ln P(finding)
        self.log_lik: dict[str, tuple[float, ...]] = {}
        self.log_ref: dict[str, float] = {}
        self.p_used: dict[str, tuple[float, ...]] = {}
        for rule in knowledge.active_rules:
            if rule.spec.likelihood is None:
                continue
            ps = tuple(self._p(rule, e) for e in self.entities)
            self.p_used[rule.id] = ps
            self.log_lik[rule.id] = tuple(math.log(p) for p in ps)
            self.log_ref[rule.id] = math.log(math.fsum(w * p for w, p in zip(self.prior, ps)))
        # every piece of evidence is fixed by (rule, entity): build each once, not per case
        self.evidence: dict[str, tuple[Evidence, ...]] = {}
        for rid in self.log_lik:
            rule = knowledge.rule[rid]
            row = []
            for i, slug in enumerate(self.entities):
                lk = rule.likelihood(slug)
                assert lk is not None
                weight = (self.log_lik[rid][i] - self.log_ref[rid]) / LN10
                row.append(Evidence(rid, rule.title, slug, weight, lk, self.p_used[rid][i],
                                    lk.source or rule.spec.source, rule.negated))
            self.evidence[rid] = tuple(row)
        # per entity: each rule's place in the evidence order (strongest first, then by id)
        self.weights: dict[str, tuple[float, ...]] = {rid: tuple(e.weight for e in row)
                                                      for rid, row in self.evidence.items()}
        self.place: list[dict[str, int]] = []
        for i in range(len(self.entities)):
            ordered = sorted(self.evidence, key=lambda rid: (-abs(self.weights[rid][i]), rid))
            self.place.append({rid: n for n, rid in enumerate(ordered)})

    def _p(self, rule: Rule, entity: str) -> float:
        lk = rule.likelihood(entity)
        assert lk is not None  # guaranteed by knowledge validation
        lo, hi = self.clamp
        p = min(max(lk.p, lo), hi)
        return 1.0 - p if rule.negated else p

    def log_posterior(self, matched: frozenset[str] | set[str]) -> list[float]:
        """Unnormalised log posterior per entity (in knowledge entity order)."""
        ids = sorted(r for r in matched if r in self.log_lik)
        columns = zip(self.log_prior, *(self.log_lik[r] for r in ids))   # one column per entity
        return [math.fsum(column) for column in columns]

    @staticmethod
    def normalize(log_post: list[float]) -> list[float]:
        top = max(log_post)
        exps = [math.exp(v - top) for v in log_post]
        total = math.fsum(exps)
        return [v / total for v in exps]

    def posterior(self, matched: frozenset[str]) -> list[float]:
        """Probabilities in knowledge entity order."""
        return self.normalize(self.log_posterior(matched))

    def rank(self, matched: frozenset[str], probs: list[float] | None = None) -> list[RankedEntity]:
        if probs is None:
            probs = self.posterior(matched)
        ids = sorted(r for r in matched if r in self.log_lik)
        scores = [math.fsum(column) for column in zip(*(self.weights[r] for r in ids))] or [0.0] * len(probs)
        ranked = []
        for i, slug in enumerate(self.entities):
            row = self.evidence
            evidence = [row[rid][i] for rid in sorted(ids, key=self.place[i].__getitem__)]
            ranked.append(RankedEntity(slug, self.knowledge.entity[slug].name, probs[i], scores[i], evidence))
        ranked.sort(key=lambda r: (-r.probability, r.entity))
        return ranked

    def contrast(self, matched: frozenset[str], favoured: str, other: str, n: int = 2) -> list[Contrast]:
        """The matched findings that most favour ``favoured`` over ``other``."""
        i, j = self.entities.index(favoured), self.entities.index(other)
        out = []
        for rid in sorted(r for r in matched if r in self.log_lik):
            ratio = (self.log_lik[rid][i] - self.log_lik[rid][j]) / LN10
            if ratio > 0.05:
                rule = self.knowledge.rule[rid]
                a, b = rule.likelihood(favoured), rule.likelihood(other)
                assert a is not None and b is not None
                out.append(Contrast(rid, rule.title, a, b, rule.negated, ratio))
        out.sort(key=lambda c: (-c.log10_ratio, c.rule))
        return out[:n]

    def caveats(self, matched: frozenset[str]) -> list[Caveat]:
        out = []
        for rid in sorted(matched):
            rule = self.knowledge.rule.get(rid)
            if rule is not None and rule.spec.caveat and not rule.negated:
                out.append(Caveat(rule.spec.id, rule.spec.caveat, rule.spec.source))
        return out
