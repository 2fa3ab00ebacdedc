"""Ranking: plain Python over the matched rules.

Model (naive Bayes over likelihood profiles, written down so it can be checked;
the README's "How the ranking works" says the same with the settings' values):

* A *profile* is an entity, or one subtype of an entity with subtypes (the
  rest of that entity is a profile too). A profile's prior is its entity's prior
  times its share; an entity's probability is the sum over its profiles, so
  findings that travel together in a subtype (ALK and keratin in TFCP2-rearranged
  RMS) are counted together, inside the subtype that explains them.
* Each matched rule r contributes P(finding | profile). A count k/n is shrunk
  towards the rate m across the differential: (k + a·m) / (n + a); an estimate
  or a figure without a denominator counts as its strength in cases
  (:func:`derived_p`). The result is clamped to ``settings.clamp`` (last guard
  only). A rule's ``negated_by`` half contributes 1 - p.
* log posterior(profile) = log prior + T × Σ log likelihoods (T =
  ``settings.calibration.temperature``, fitted by cross-validation over the
  published cases), normalised with log-sum-exp: the probabilities sum to 1.
* Unknown findings match no rule and so count for nothing; negative findings
  count through ``negated_by``.
* The weight of a piece of evidence for a profile is log10 of how much more
  likely the finding is under it than across the whole differential (the
  prior-weighted mean likelihood). An entity shows the evidence and score of its
  leading profile; probability is proportional to prior × 10^(T × score).
* Rule ids are sorted and summed with ``math.fsum``: the order of rules or
  findings never changes the result.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from string import Template

from ddx.citations import citation_keys
from ddx.knowledge import EvidenceSettings, Knowledge, Likelihood, Profile, Rule

LN10 = math.log(10.0)
MIN_WEIGHT = 0.005  # evidence that moves an entity by less than this (log10) is not listed in JSON
# a lead's cited part for the runner-up smaller than this (log10, ~1.26-fold) is said to separate neither, not to
# favour the runner-up (a ddx convention of wording; no probability depends on it)
NAMED_MARGIN = 0.1


@dataclass(frozen=True)
class Evidence:
    """One matched finding's weight for one entity: log10 of its likelihood under the entity's profile over the
    likelihood across the differential, the figure behind it (cited or estimate) and the probability used."""

    rule: str
    finding: str
    entity: str
    weight: float  # log10 likelihood ratio against the differential
    likelihood: Likelihood  # the figure behind it (cited or estimate)
    p_used: float  # after clamping and negation
    source: str
    negated: bool = False  # a tested-negative finding, scored 1 - p
    subtype: str | None = None  # the subtype whose profile this is (None: the entity, or its rest)
    strength: float = 0.0  # how many cases the figure weighs (its denominator, or equivalent cases)

    @cached_property
    def listed(self) -> bool:
        """Listed in JSON: it moves the entity by at least :data:`MIN_WEIGHT` (log10)."""
        return abs(self.weight) >= MIN_WEIGHT

    @property
    def estimate(self) -> bool:
        return self.likelihood.estimate

    @property
    def grounds(self) -> str:
        """Where the figure comes from, as a reader checks it: an estimate's own reasoning (which names the
        literature it rests on), else its citation. The rule's source covers all its cells, so for an estimate
        it often names a paper about another entity."""
        reason = (self.likelihood.reason or "").strip()
        return reason if self.likelihood.estimate and reason and self.likelihood.source is None else self.source

    @property
    def figure(self) -> str:
        """The figure as a reader sees it: '4/5', '~0.30, worth ≈10 cases', '0.97, worth ≈20 cases'."""
        return figure_text(self.likelihood, self.strength)

    @cached_property
    def _dict(self) -> dict[str, object]:
        lk = self.likelihood
        out: dict[str, object] = {
            "rule": self.rule,
            "finding": self.finding,
            "weight": round(self.weight, 3),
            "p": round(self.p_used, 4),
            "raw": round(lk.p, 4),
            "estimate": self.estimate,
            "strength": round(self.strength, 2),
            "source": self.source,
        }
        if lk.estimate and lk.reason:  # the estimate's own grounds: the rule's source covers all its cells
            out["reason"] = lk.reason
        if lk.n:
            out["n"] = lk.n
        if lk.k is not None and lk.total is not None:
            out["k"], out["total"] = lk.k, lk.total
        if lk.pooled:
            out["series"] = [{"n": s.n, "source": s.source} for s in lk.pooled]
        if self.negated:
            out["negated"] = True
        if self.subtype:
            out["subtype"] = self.subtype
        return out

    def to_dict(self) -> dict[str, object]:
        """The JSON form (built once per piece of evidence; treat it as read-only)."""
        return self._dict

    @cached_property
    def json_text(self) -> str:
        """``to_dict()`` as compact JSON, built once."""
        return json.dumps(self._dict, ensure_ascii=False, separators=(",", ":"))

    def lean_json(self, key: str) -> str:
        """The lean JSON of a batch line (:meth:`Ranker.lean_text` keeps it): ``{"rule", "weight", "figure", "source"}``, the figure
        short (``10/12``, ``33/35 pooled``, ``~0.30`` for an estimate, ``0.80`` for a figure without a
        denominator; its weight in cases is in the rules) and the source as its short key (the citations
        are listed once, in the batch summary's ``sources``)."""
        lk = self.likelihood
        figure = (
            basis_text(lk, self.strength) if lk.k is not None and lk.total is not None else f"{'~' if lk.estimate else ''}{lk.p:.2f}"
        )
        return json.dumps(
            {"rule": self.rule, "weight": round(self.weight, 3), "figure": figure, "source": key},
            ensure_ascii=False,
            separators=(",", ":"),
        )


def worth_text(strength: float) -> str:
    """'worth ≈10 cases': what a figure without a count weighs (shrunk as if it rested on that many cases; it
    is not a series of that size)."""
    return f"worth ≈{strength:g} cases"


# worth_text where a why line puts it: "[worth ≈10 cases]" after an estimate, ", worth ≈20 cases" inside a
# bracket ("[by definition, worth ≈20 cases]")
_WORTH = re.compile(r" \[worth ≈[0-9.]+ cases\]|, worth ≈[0-9.]+ cases(?=\])")


def without_worth(text: str) -> str:
    """``text`` without what its estimates weigh (:func:`worth_text`): a report's list of tests says the figure,
    marked '~' as an estimate, not its weight in the ranking."""
    return _WORTH.sub("", text)


def figure_text(lk: Likelihood, strength: float, *, negated: bool = False) -> str:
    """A figure with what it is worth in cases: '28/30', '33/33 pooled from 3 series',
    '~0.30, worth ≈10 cases' (estimate) or '0.97, worth ≈20 cases' (cited without a denominator; the
    source's own words in brackets: '1.00 (by definition), worth ≈20 cases'). 'Worth':
    a figure without a count is shrunk as if it rested on that many cases (settings ``evidence:``); it is
    not a series of that size. ``negated`` (a tested-negative finding): the cases without the positive one
    ('11/32', '~0.15, worth ≈10 cases'); a figure in the source's own words keeps them, as '1 − 1.00 (by
    definition), worth ≈20 cases'."""
    if lk.k is not None and lk.total is not None:
        k = lk.total - lk.k if negated else lk.k
        if lk.pooled and len(lk.pooled) > 1:
            return f"{k}/{lk.total} pooled from {len(lk.pooled)} series"
        return f"{k}/{lk.total}"
    if negated and lk.n:
        return f"1 − {figure_text(lk, strength)}"
    text = f"{'~' if lk.estimate else ''}{1 - lk.p if negated else lk.p:.2f}"
    note = f" ({lk.n})" if lk.n else ""  # the source's words: "0.45 (40-50 %)", "1.00 (by definition)"
    return f"{text}{note}, {worth_text(strength)}"


def basis_text(lk: Likelihood, strength: float) -> str:
    """What a figure rests on, beside a percentage: '10/11', '33/35 pooled', or 'worth ≈10 cases' (a figure
    without a count, shrunk as if it rested on that many cases), after the source's own words when it gives
    them ('by definition, worth ≈20 cases')."""
    if lk.k is not None and lk.total is not None:
        return f"{lk.k}/{lk.total}" + (" pooled" if lk.pooled and len(lk.pooled) > 1 else "")
    return f"{lk.n}, {worth_text(strength)}" if lk.n else worth_text(strength)


RUNNER_UP_SHARE = 0.25  # a second subtype holding this much of its entity's probability is named beside the first


@dataclass
class RankedEntity:
    """An entity in a ranking: its probability (the sum over its subtypes), score (log10), leading subtype and
    that subtype's share, and the evidence of the leading profile."""

    entity: str
    name: str
    probability: float
    score: float
    # the evidence of the leading profile, strongest first; the ranker passes a function that builds it
    # the first time it is read, so a batch line that prints three entities does not order thirteen
    _evidence: list[Evidence] | Callable[[], list[Evidence]] = field(default_factory=list, repr=False)
    subtype: str | None = None  # the leading profile's slug, for an entity with subtypes
    subtype_name: str | None = None
    subtype_share: float | None = None  # its share of the entity's probability
    # the next profile of an entity with subtypes, when it holds at least RUNNER_UP_SHARE of the entity's
    # probability: (slug, share, name); outputs name it beside the leading one (51 % against 49 % is no lead)
    runner_up: tuple[str, float, str] | None = None

    @property
    def evidence(self) -> list[Evidence]:
        """Every matched scoring rule's evidence for this entity's leading profile, strongest first (by
        absolute weight, then rule id)."""
        if callable(self._evidence):
            self._evidence = self._evidence()
        return self._evidence

    @property
    def supporting(self) -> list[Evidence]:
        """The evidence for this entity, strongest first: a weight that shows as +0.00 (below
        :data:`MIN_WEIGHT`) is neither for nor against."""
        return [e for e in self.evidence if e.weight > 0 and e.listed]

    @property
    def opposing(self) -> list[Evidence]:
        """The evidence against this entity (weights of :data:`MIN_WEIGHT` or more below zero)."""
        return [e for e in self.evidence if e.weight < 0 and e.listed]


def percent(p: float, estimate: bool) -> str:
    """A likelihood as a reader sees it: '45 %' (cited) or '~45 %' (estimate)."""
    value = p * 100
    text = f"{value:.0f} %" if value >= 1 or value == 0 else f"{value:.1f} %"
    return ("~" if estimate else "") + text


def probability_text(p: float, unit: str = " %") -> str:
    """A probability in percent to one decimal, never shown as certain: '55.6 %', '> 99.9 %', '< 0.1 %'
    (a space before the sign, as the figures in the rules have; ``unit=""`` for a list or a column whose
    heading carries the sign)."""
    if p >= 0.9995:
        return f"> 99.9{unit}"
    if p < 0.0005:
        return f"< 0.1{unit}"
    return f"{p * 100:.1f}{unit}"


# the spaces inside a figure, which a wrapped line must not break at: before its per cent sign ("25 %") and
# after a "<" or ">" ("< 1 %"); the report's and the terminal's wrapping hold them (ddx.report_comment, ddx.render)
FIGURE_SPACE = re.compile(r"(?<=\d) (?=%)|(?<=[<>]) (?=\d)")


def percent_text(p: float) -> str:
    """A probability or a share in whole percent, never shown as certain: '90 %', '> 99 %', '< 1 %'
    (the report's probabilities, and a subtype's share of its entity everywhere)."""
    if p >= 0.995:
        return "> 99 %"
    if p < 0.005:
        return "< 1 %"
    return f"{p * 100:.0f} %"


def maybe_probability_text(p: float | None) -> str:
    """:func:`probability_text`, or '-' for a case that was not ranked (no leader, no probability)."""
    return "-" if p is None else probability_text(p)


def rate_text(x: float) -> str:
    """A counted share (top-1, a calibration bin's hit rate): exact, '88.2 %', '100.0 %' when every case was."""
    return f"{100 * x:.1f} %"


def range_text(lo: float, hi: float) -> str:
    """A band of probabilities: '80–90 %' (an en dash); the last band, open above, '≥ 90 %'."""
    return f"≥ {100 * lo:.0f} %" if hi >= 1.0 else f"{100 * lo:.0f}–{100 * hi:.0f} %"


def join_words(words: list[str], conjunction: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {conjunction} " + words[-1]


# Names that keep their capital mid-sentence (eponyms of the field: an outside entity, a finding).
EPONYMS = frozenset({"Ewing", "Langerhans", "Touton", "Kaposi", "Hodgkin", "Rosai", "Erdheim", "Wilms", "Merkel"})


def short_name(name: str) -> str:
    """A name said inside a sentence, its parentheses dropped: 'Sarcomatoid (spindle cell) carcinoma, or another
    tumour (synovial sarcoma)' -> 'Sarcomatoid carcinoma, or another tumour'; 'Melanoma (including ...)' -> 'Melanoma'."""
    return re.sub(r"\s*\([^()]*\)", "", name).strip() or name


def lower_first(text: str) -> str:
    """'Desmin positive' -> 'desmin positive' mid-sentence; 'MyoD1', 'SMA', 'Ki-67' and eponyms
    ('Ewing sarcoma', 'Touton giant cells': :data:`EPONYMS`) stay as written."""
    word = text.split(" ", 1)[0]
    if (
        len(word) > 1
        and word[0].isupper()
        and word[1:].islower()
        and not any(c.isdigit() for c in word)
        and word.split("-", 1)[0].removesuffix("'s").removesuffix("’s") not in EPONYMS
    ):
        return text[0].lower() + text[1:]
    return text


def upper_first(text: str) -> str:
    """'the other candidates' -> 'The other candidates' at the start of a sentence."""
    return text[:1].upper() + text[1:]


def fill_sentence(frame: str, values: dict[str, str], lower: frozenset[str] = frozenset()) -> str:
    """``frame`` with its placeholders filled in as :class:`string.Template` does (``$name``, ``${name}``,
    ``$$`` for a dollar sign; unknown ones left as written). A value named in ``lower`` is put in lower case
    inside a sentence (:func:`lower_first`) and given a capital where its placeholder opens one (the frame's
    start, a line's start after an optional list dash, or after '.', '!', '?')."""

    def one(m: re.Match[str]) -> str:
        if m.group("escaped") is not None:
            return "$"
        key = m.group("named") or m.group("braced")
        if key is None or key not in values:
            return m.group(0)
        value = values[key]
        if key not in lower:
            return value
        before = frame[: m.start()].rstrip()
        opens = not before or before[-1] in ".!?" or frame[: m.start()].rsplit("\n", 1)[-1].strip() in ("", "-", "*")
        return upper_first(value) if opens else lower_first(value)

    return Template.pattern.sub(one, frame)


@dataclass(frozen=True)
class LeadBasis:
    """What the leader's lead over the runner-up rests on: the difference of the two entities' scores
    (log10; the scores of their leading profiles, as the ranking shows them), split by the figures behind
    each matched finding. A finding adds log10(p_leader / p_runner-up) (the probabilities used, after
    shrinkage) to ``cited`` when both figures are cited (a count, a published percentage, a definition) and
    to ``estimated`` when either is an estimate (a ``~`` figure with a line of reasoning), so
    ``cited + estimated`` = leader's score − runner-up's score (the priors are not in it). Positive favours
    the leader.
    """

    leader: str  # entity slug
    runner_up: str  # entity slug
    cited: float  # log10
    estimated: float  # log10
    leader_subtypes: bool = False  # the leader's probability is a sum over subtypes (said when the prior carries it)

    @property
    def findings(self) -> float:
        """The whole lead the findings give (log10): ``cited + estimated``."""
        return self.cited + self.estimated

    @property
    def on_estimates(self) -> bool:
        """The findings favour the leader (by :data:`MIN_WEIGHT` or more) and the findings with cited figures
        for both do not (they favour the runner-up, or neither by :data:`MIN_WEIGHT`)."""
        return self.findings >= MIN_WEIGHT and self.cited < MIN_WEIGHT

    def to_dict(self) -> dict[str, object]:
        return {
            "leader": self.leader,
            "runner_up": self.runner_up,
            "cited": round(self.cited, 3),
            "estimated": round(self.estimated, 3),
        }

    def sentence(self, name: Callable[[str], str] = str.upper) -> str:
        """One or two sentences for a reader (``name``: an entity's name as the output shows it):
        'The findings favour ILMS over PRMS by +0.87 (log10, about 7.5-fold): -0.24 from findings cited for
        both, +1.11 from findings with an estimate for either. The findings' margin rests on estimates: the
        cited figures alone favour PRMS.' (the board-review case) When the findings favour the runner-up the sentence is turned round
        and says the leader leads on its prior; when they separate neither, it says so."""
        first, second = name(self.leader), name(self.runner_up)
        by_prior = f"{first} leads on its prior" + (" and the sum over its subtypes" if self.leader_subtypes else "")
        if abs(self.findings) < MIN_WEIGHT:
            return f"The recorded findings do not separate {first} from {second}; {by_prior}."
        sign = 1.0 if self.findings > 0 else -1.0
        favoured, other = (first, second) if sign > 0 else (second, first)
        text = (
            f"The findings favour {favoured} over {other} by {sign * self.findings:+.2f} (log10, {fold_text(sign * self.findings)}): "
            f"{sign * self.cited:+.2f} from findings cited for both, "
            f"{sign * self.estimated:+.2f} from findings with an estimate for either"
        )
        if sign < 0:
            return text + f"; {by_prior}."
        if self.on_estimates:
            # a cited margin for the runner-up under NAMED_MARGIN is not called favouring it (a trial: 'the cited
            # figures alone favour ALKH' on -0.02 beside a lead of +7.22 overstated it)
            alone = f"favour {second}" if self.cited <= -NAMED_MARGIN else "separate neither"
            return text + f". The findings' margin rests on estimates: the cited figures alone {alone}."
        return text + "."


_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def fold_text(log10_ratio: float) -> str:
    """A positive log10 ratio as a reader weighs it: 'about 7.4-fold', 'about 32-fold', 'about 740-fold' and,
    from 1,000-fold, its power of ten: 'about 10⁷-fold' for +7.22 (not 'over 1,000-fold', which hid it)."""
    ratio = 10**log10_ratio
    if ratio >= 999.5:
        return f"about 10{str(round(log10_ratio)).translate(_SUPERSCRIPT)}-fold"
    return f"about {ratio:.1f}-fold" if ratio < 10 else f"about {ratio:.0f}-fold"


@dataclass(frozen=True)
class Contrast:
    """A matched finding that favours one entity over another."""

    rule: str
    finding: str
    favoured: Likelihood  # P(finding | favoured entity), before clamping
    other: Likelihood  # P(finding | other entity)
    negated: bool
    log10_ratio: float  # > 0: favours the first entity
    given: str | None = None  # the population of a conditional rule's figures ("desmin-positive")

    def phrase(self, favoured: str, other: str) -> str:
        def shown(lk: Likelihood) -> str:
            p = 1.0 - lk.p if self.negated else lk.p
            return percent(p, lk.estimate)

        return (
            f"{lower_first(self.finding)} ({shown(self.favoured)} of {given_name(self.given, favoured.upper())} "
            f"vs {shown(self.other)} of {given_name(self.given, other.upper())})"
        )


def given_name(given: str | None, name: str) -> str:
    """'ILMS', or 'desmin-positive ILMS' for a figure taken among the tumours of a conditional rule; a name
    that already says the condition keeps it once ('ALK-rearranged IMT', not 'ALK-rearranged ALK-rearranged
    IMT', a trial)."""
    if not given or name.lower().startswith(given.lower() + " "):
        return name
    return f"{given} {name}"


@dataclass(frozen=True)
class Caveat:
    """A pitfall's warning shown beside a ranking: the rule that raised it, its text and its source."""

    rule: str
    text: str
    source: str


def derived_p(lk: Likelihood, rate: float, evidence: EvidenceSettings) -> float:
    """The probability ddx uses for a figure, before clamping and negation.

    ``(k + a·m) / (n + a)``: ``k`` of ``n`` cases for a count; ``p·s`` of ``s``
    equivalent cases for an estimate or a figure without a denominator (``s``
    from the cell's ``strength`` or ``settings.evidence``); ``m`` the rate across
    the differential; ``a`` = ``settings.evidence.shrinkage``. So 0/8 is not 0/800.
    """
    k, n = (
        (float(lk.k), float(lk.total))
        if lk.k is not None and lk.total is not None
        else (lk.p * strength_of(lk, evidence), strength_of(lk, evidence))
    )
    a = evidence.shrinkage
    return (k + a * rate) / (n + a) if n + a > 0 else rate


def strength_of(lk: Likelihood, evidence: EvidenceSettings) -> float:
    """How many cases a figure weighs: its denominator, its own strength, or the default."""
    if lk.total is not None:
        return float(lk.total)
    if lk.strength is not None:
        return lk.strength
    return evidence.estimate_strength if lk.estimate else evidence.cited_strength


class Ranker:
    """Scores the likelihood profiles (entities and their subtypes) and sums them per entity.

    ``log_lik[rule][j]`` and ``p_used[rule][j]`` are indexed by profile
    (``knowledge.profiles``); probabilities returned by :meth:`posterior` by
    entity (``knowledge.entity_slugs``).
    """

    def __init__(self, knowledge: Knowledge):
        self.knowledge = knowledge
        self.entities = knowledge.entity_slugs
        self.profiles: list[Profile] = knowledge.profiles
        self.profile_entity = [self.entities.index(p.entity) for p in self.profiles]
        lo, hi = knowledge.settings.clamp
        self.clamp = (lo, hi)
        self.temperature = knowledge.settings.calibration.temperature
        ev = knowledge.settings.evidence
        priors = [e.prior.p for e in knowledge.entities]
        total = math.fsum(priors)  # fsum: the same last bit on every Python (3.12's sum() rounds differently)
        self.prior = [p / total for p in priors]
        self.profile_prior = [self.prior[i] * prof.share for i, prof in zip(self.profile_entity, self.profiles)]
        self.log_prior = [math.log(p) for p in self.profile_prior]
        # per rule: ln P(finding | profile) for every profile, and the reference ln P(finding)
        self.log_lik: dict[str, tuple[float, ...]] = {}
        self.log_ref: dict[str, float] = {}
        self.p_used: dict[str, tuple[float, ...]] = {}
        figures: dict[str, list[Likelihood]] = {}
        for rule in knowledge.active_rules:
            if rule.spec.likelihood is None:
                continue
            figures[rule.id], ps = self.row(rule)
            self.p_used[rule.id] = ps
            self.log_lik[rule.id] = tuple(math.log(p) for p in ps)
            self.log_ref[rule.id] = math.log(math.fsum(w * p for w, p in zip(self.profile_prior, ps)))
        # every piece of evidence is fixed by (rule, profile): build each once, not per case
        self.evidence: dict[str, tuple[Evidence, ...]] = {}
        self._last_ids: tuple[frozenset[str], list[str]] | None = None  # scoring_ids' last answer
        self._lean: dict[int, tuple[Evidence, str]] = {}  # id(evidence) -> (evidence, its lean JSON): lean_text
        for rid, row in figures.items():
            rule = knowledge.rule[rid]
            out = []
            for j, (prof, lk) in enumerate(zip(self.profiles, row)):
                weight = (self.log_lik[rid][j] - self.log_ref[rid]) / LN10
                out.append(
                    Evidence(
                        rid,
                        rule.title,
                        prof.entity,
                        weight,
                        lk,
                        self.p_used[rid][j],
                        lk.source or rule.spec.source,
                        rule.negated,
                        prof.subtype,
                        strength_of(lk, ev),
                    )
                )
            self.evidence[rid] = tuple(out)
        # per profile: each rule's place in the evidence order (strongest first, then by id)
        self.weights: dict[str, tuple[float, ...]] = {rid: tuple(e.weight for e in row) for rid, row in self.evidence.items()}
        self.place: list[dict[str, int]] = []
        for j in range(len(self.profiles)):
            ordered = sorted(self.evidence, key=lambda rid: (-abs(self.weights[rid][j]), rid))
            self.place.append({rid: n for n, rid in enumerate(ordered)})

    @cached_property
    def source_key(self) -> dict[str, str]:
        """``{source text: short key}`` for every source a batch line can cite (evidence, caveats, pointers
        outside the differential); built when a lean line first asks, not at start-up."""
        texts = {e.source for row in self.evidence.values() for e in row}
        texts |= {r.spec.source for r in self.knowledge.active_rules if r.spec.caveat}
        texts |= {o.spec.source for o in self.knowledge.outside}
        return citation_keys(texts)

    @cached_property
    def sources(self) -> dict[str, str]:
        """``{short key: citation}``, by key: what the ``source`` keys of lean batch lines stand for."""
        return {key: text for text, key in sorted(self.source_key.items(), key=lambda kv: kv[1])}

    def lean_text(self, e: Evidence) -> str:
        """``e``'s lean JSON with its source key, built once per piece of evidence (a piece of another ranker's,
        as an analysis ranked before the rules were reloaded holds, is kept with its text, so that its id is
        not taken by another object while the text is kept)."""
        hit = self._lean.get(id(e))
        if hit is None or hit[0] is not e:
            hit = self._lean[id(e)] = (e, e.lean_json(self.source_key[e.source]))
        return hit[1]

    @cached_property
    def lean_rows(self) -> dict[str, tuple[str | None, ...]]:
        """Per scoring rule, per profile: its piece of evidence's lean JSON (:meth:`lean_text`), or None for
        a piece that is not listed (a weight below :data:`MIN_WEIGHT`); built when a lean line first asks."""
        return {rid: tuple(self.lean_text(e) if e.listed else None for e in row) for rid, row in self.evidence.items()}

    def lean_evidence(self, r: RankedEntity) -> str:
        """The lean JSON texts of ``r``'s listed evidence, in its order, joined by commas (the inside of a lean
        line's ``evidence`` list): read from :attr:`lean_rows` when ``r`` was ranked here, without building
        its :class:`Evidence` list."""
        lazy = r._evidence
        if isinstance(lazy, partial) and lazy.func == self._evidence_list:  # not yet built, and ranked here
            ids, j = lazy.args
            rows = self.lean_rows
            return ",".join([t for rid in sorted(ids, key=self.place[j].__getitem__) if (t := rows[rid][j]) is not None])
        return ",".join([self.lean_text(e) for e in r.evidence if e.listed])

    def row(self, rule: Rule) -> tuple[list[Likelihood], tuple[float, ...]]:
        """A rule's figure per profile and the probability the ranker uses for it (after shrinkage,
        clamp and negation); also for a draft or retired rule, to show what it would weigh."""
        lks = [self.knowledge.profile_likelihood(rule, prof) for prof in self.profiles]
        assert all(lk is not None for lk in lks)  # guaranteed by knowledge validation
        figures = [lk for lk in lks if lk is not None]
        rate = math.fsum(w * lk.p for w, lk in zip(self.profile_prior, figures))
        ev = self.knowledge.settings.evidence
        return figures, tuple(self._p(lk, rate, ev, rule.negated) for lk in figures)

    def weights_of(self, rule: Rule) -> tuple[float, ...]:
        """The rule's weight per profile (log10 of the probability used over the differential-wide rate),
        whether or not the rule is active."""
        if rule.id in self.weights:
            return self.weights[rule.id]
        _, ps = self.row(rule)
        ref = math.log(math.fsum(w * p for w, p in zip(self.profile_prior, ps)))
        return tuple((math.log(p) - ref) / LN10 for p in ps)

    def profile_of(self, slug: str) -> int:
        """The profile of an entity (its own, or its rest when it has subtypes) or of a subtype."""
        sub = self.knowledge.subtype.get(slug)
        if sub is not None:
            return self.profile_index(self.knowledge.parent(slug), slug)
        return self.profile_index(slug)

    def _p(self, lk: Likelihood, rate: float, ev: EvidenceSettings, negated: bool) -> float:
        lo, hi = self.clamp
        p = min(max(derived_p(lk, rate, ev), lo), hi)
        return 1.0 - p if negated else p

    def _leading_profiles(self, ranking: list[RankedEntity]) -> tuple[int, int]:
        """The profile indices of the first two entities' leading profiles (``ranking`` holds at least two)."""
        a, b = (self._profile_at[(r.entity, r.subtype if r.subtype not in (None, r.entity) else None)] for r in ranking[:2])
        return a, b

    def lead_basis(self, matched: frozenset[str] | set[str], ranking: list[RankedEntity]) -> LeadBasis | None:
        """:class:`LeadBasis` of ``ranking``'s first two entities (their leading profiles) over the matched
        scoring rules; None when fewer than two entities are ranked."""
        if len(ranking) < 2:
            return None
        a, b = self._leading_profiles(ranking)
        cited: list[float] = []
        estimated: list[float] = []
        log_lik = self.log_lik
        estimate = self._estimate
        for rid in matched:  # math.fsum is exact: the order of the rules does not matter
            row = estimate.get(rid)
            if row is None:  # a caveat or a draft: it scores nothing
                continue
            part = estimated if row[a] or row[b] else cited
            part.append((log_lik[rid][a] - log_lik[rid][b]) / LN10)
        subtypes = bool(self.knowledge.entity[ranking[0].entity].subtypes)
        return LeadBasis(ranking[0].entity, ranking[1].entity, math.fsum(cited), math.fsum(estimated), subtypes)

    @cached_property
    def _estimate(self) -> dict[str, tuple[bool, ...]]:
        """Per scoring rule, per profile: whether its figure is an estimate (:attr:`Evidence.estimate`)."""
        return {rid: tuple(e.estimate for e in row) for rid, row in self.evidence.items()}

    def informative(self, matched: frozenset[str] | set[str], ranking: list[RankedEntity]) -> list[str]:
        """Matched scoring rules that separate the two leading candidates: their likelihoods under the
        leading profiles of the first two entities differ by at least ``settings.evidence.informative_spread``
        (log10); of the bands that read one recorded number (the age bands) only the first counts. Empty when fewer
        than two entities are ranked."""
        if len(ranking) < 2:
            return []
        a, b = self._leading_profiles(ranking)
        limit = self.knowledge.settings.evidence.informative_spread
        log_lik = self.log_lik
        found = sorted(r for r in matched if r in log_lik and abs(log_lik[r][a] - log_lik[r][b]) / LN10 >= limit)
        # a recorded number is one finding, however many bands read it (the age under 18 and the infant band);
        # the terms of a list (two cell types, two kinds of inflammatory cell) stay separate findings
        numbers = self._number_reads
        out, seen = [], set()
        for rid in found:
            keys = numbers.get(rid)
            if keys is not None:
                if keys in seen:
                    continue
                seen.add(keys)
            out.append(rid)
        return out

    @cached_property
    def _number_reads(self) -> dict[str, frozenset[str]]:
        """The scoring rules that read only recorded numbers (age, size, mitoses, a stain's percent: one value
        each per case), with the keys they read."""
        numbers = frozenset(path.replace(".", "__") for path, kind in self.knowledge.vocab.finding_paths().items() if kind == "number")
        return {rid: keys for rid in self.log_lik if (keys := self.knowledge.rule[rid].keys) <= numbers}

    @cached_property
    def _profile_at(self) -> dict[tuple[str, str | None], int]:
        """:meth:`profile_index` as a table: (entity, subtype or None) -> profile."""
        table: dict[tuple[str, str | None], int] = {}
        for j, prof in enumerate(self.profiles):
            table.setdefault((prof.entity, prof.subtype), j)
        return table

    def scoring_ids(self, matched: frozenset[str] | set[str]) -> list[str]:
        """The matched rules that score (have likelihoods), sorted; the last answer is kept, since the posterior
        and the ranking of one case both ask (the list is shared: do not change it)."""
        last = self._last_ids
        if last is not None and last[0] is matched:
            return last[1]
        ids = sorted(r for r in matched if r in self.log_lik)
        if isinstance(matched, frozenset):  # a set can change under its identity; a frozenset cannot
            self._last_ids = (matched, ids)
        return ids

    def profile_log_posterior(self, matched: frozenset[str] | set[str], temperature: float | None = None) -> list[float]:
        """Unnormalised log posterior per profile: ln prior + temperature × Σ ln likelihood
        (``temperature`` defaults to the settings' value)."""
        ids = self.scoring_ids(matched)
        t = self.temperature if temperature is None else temperature
        if not ids:
            return list(self.log_prior)
        columns = zip(*(self.log_lik[r] for r in ids))  # one column per profile
        return [lp + t * math.fsum(column) for lp, column in zip(self.log_prior, columns)]

    def profile_posterior(self, matched: frozenset[str] | set[str], temperature: float | None = None) -> list[float]:
        """Probabilities in profile order (they sum to 1)."""
        return self.normalize(self.profile_log_posterior(matched, temperature))

    def to_entities(self, profile_probs: list[float]) -> list[float]:
        """Profile probabilities summed per entity (entity order)."""
        out = [0.0] * len(self.entities)
        for i, p in zip(self.profile_entity, profile_probs):
            out[i] += p
        return out

    @staticmethod
    def normalize(log_post: list[float]) -> list[float]:
        top = max(log_post)
        exps = [math.exp(v - top) for v in log_post]
        total = math.fsum(exps)
        return [v / total for v in exps]

    def posterior(self, matched: frozenset[str] | set[str], temperature: float | None = None) -> list[float]:
        """Probabilities in knowledge entity order (each the sum over its subtypes)."""
        return self.to_entities(self.profile_posterior(matched, temperature))

    def rank(
        self, matched: frozenset[str], probs: list[float] | None = None, profile_probs: list[float] | None = None
    ) -> list[RankedEntity]:
        """Every entity, best first, with the evidence of its leading profile (subtype)."""
        if profile_probs is None:
            profile_probs = self.profile_posterior(matched)
        if probs is None:
            probs = self.to_entities(profile_probs)
        ids = self.scoring_ids(matched)
        scores = [math.fsum(column) for column in zip(*(self.weights[r] for r in ids))] or [0.0] * len(self.profiles)
        best: dict[int, int] = {}
        second: dict[int, int] = {}
        for j, i in enumerate(self.profile_entity):
            if i not in best or profile_probs[j] > profile_probs[best[i]]:
                if i in best:
                    second[i] = best[i]
                best[i] = j
            elif i not in second or profile_probs[j] > profile_probs[second[i]]:
                second[i] = j
        ranked = []
        for i, (slug, name, has_subtypes) in enumerate(self._entity_rows):
            j = best[i]
            prof = self.profiles[j]
            share = profile_probs[j] / probs[i] if probs[i] > 0 else prof.share
            runner_up = None
            if i in second and probs[i] > 0:
                other = profile_probs[second[i]] / probs[i]
                nxt = self.profiles[second[i]]
                runner_up = (nxt.slug, other, nxt.name) if other >= RUNNER_UP_SHARE else None
            ranked.append(
                RankedEntity(
                    slug,
                    name,
                    probs[i],
                    scores[j],
                    partial(self._evidence_list, ids, j),  # built when first read (a lean line need not)
                    subtype=prof.slug if has_subtypes else None,
                    subtype_name=prof.name if has_subtypes else None,
                    subtype_share=share if has_subtypes else None,
                    runner_up=runner_up,
                )
            )
        ranked.sort(key=lambda r: (-r.probability, r.entity))
        return ranked

    @cached_property
    def _entity_rows(self) -> list[tuple[str, str, bool]]:
        """Each entity's slug, name and whether it has subtypes, in entity order."""
        return [(slug, self.knowledge.entity[slug].name, bool(self.knowledge.entity[slug].subtypes)) for slug in self.entities]

    def _evidence_list(self, ids: list[str], j: int) -> list[Evidence]:
        """The evidence of profile ``j`` for the matched scoring rules ``ids``, in evidence order."""
        return [self.evidence[rid][j] for rid in sorted(ids, key=self.place[j].__getitem__)]

    def profile_index(self, entity: str, subtype: str | None = None) -> int:
        """The profile of an entity's subtype (None: the entity, or its rest)."""
        for j, prof in enumerate(self.profiles):
            if prof.entity == entity and prof.subtype == subtype:
                return j
        raise KeyError(subtype or entity)

    def contrast(
        self,
        matched: frozenset[str],
        favoured: str,
        other: str,
        n: int = 2,
        favoured_subtype: str | None = None,
        other_subtype: str | None = None,
    ) -> list[Contrast]:
        """The matched findings that most favour ``favoured`` over ``other`` (their leading profiles)."""
        i = self.profile_index(favoured, favoured_subtype if favoured_subtype != favoured else None)
        j = self.profile_index(other, other_subtype if other_subtype != other else None)
        out = []
        for rid in sorted(r for r in matched if r in self.log_lik):
            ratio = (self.log_lik[rid][i] - self.log_lik[rid][j]) / LN10
            if ratio > 0.05:
                rule = self.knowledge.rule[rid]
                a, b = self.evidence[rid][i].likelihood, self.evidence[rid][j].likelihood
                out.append(Contrast(rid, rule.title, a, b, rule.negated, ratio, rule.spec.given))
        out.sort(key=lambda c: (-c.log10_ratio, c.rule))
        return out[:n]

    @cached_property
    def _caveat_rules(self) -> list[Rule]:
        """The rules that carry a caveat (not their negations), by id; only active ones are ever matched."""
        rules = self.knowledge.rule
        return [rules[rid] for rid in sorted(rules) if rules[rid].spec.caveat and not rules[rid].negated]

    def caveats(self, matched: frozenset[str]) -> list[Caveat]:
        """The caveats of the matched rules, by rule id."""
        return [caveat for rid, caveat in self._caveats if rid in matched]

    @cached_property
    def _caveats(self) -> list[tuple[str, Caveat]]:
        """Each caveat rule's id and its :class:`Caveat` (frozen: made once, shared by every case)."""
        return [(r.id, Caveat(r.spec.id, r.spec.caveat or "", r.spec.source)) for r in self._caveat_rules]


_RANKERS: dict[int, tuple[Knowledge, Ranker]] = {}


def ranker_for(knowledge: Knowledge) -> Ranker:
    """The ranker of a knowledge object, built once and kept while that object is the one asked for
    (the rule checks and the rules CLI ask many times for the same rules)."""
    held = _RANKERS.get(id(knowledge))
    if held is None or held[0] is not knowledge:
        _RANKERS.clear()
        held = _RANKERS[id(knowledge)] = (knowledge, Ranker(knowledge))
    return held[1]
