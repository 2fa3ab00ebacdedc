"""The pydantic models of the rules files: one model per file, and the models of their parts.

=================  =========================================================================
file               model
=================  =========================================================================
vocabulary.yaml    :class:`VocabularyFile` (its terms become a :class:`~ddx.knowledge.vocabulary.Vocabulary`)
settings.yaml      :class:`Settings` (bands, evidence, calibration, prior sets)
entities.yaml      :class:`EntitiesFile` (``entities:``, each an :class:`Entity` with its subtypes)
rules/*.yaml       :class:`RulesFile` (``rules:``, each a :class:`RuleSpec` with its likelihoods)
reports.yaml       :class:`ReportTemplates`
outside.yaml       :class:`OutsideFile` (``outside:``, each an :class:`OutsideEntity`)
=================  =========================================================================

Every model forbids unknown keys and is frozen. :func:`ddx.knowledge.load.load_model` reads a file,
validates it with its model and turns every error into a :class:`~ddx.errors.Problem` naming the file,
the line and the key. What a model cannot check alone (an entity a rule names, a condition's terms) is
checked by :mod:`ddx.knowledge` once every file is read.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from string import Template
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from ddx.errors import Problem, did_you_mean
from ddx.knowledge.vocabulary import MorphologyField, TermSet, Vocabulary, fold
from ddx.yamlio import key_line

RULE_ID = r"^[a-z0-9][a-z0-9_.\-]{0,120}$"


class Model(BaseModel):
    """Base of the rules-file models: unknown keys are refused and values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # the keys whose values keep their line markers when the model is read from a file (ddx.knowledge.load)
    keep_lines: ClassVar[frozenset[str]] = frozenset()


class FileModel(Model):
    """The model of one whole rules file, as :func:`ddx.knowledge.load.load_model` reads it."""

    # read with line markers; False: read without them (faster), and again with them only to locate an error
    line_markers: ClassVar[bool] = True
    # an error that no key of the file locates (a key missing at the top) is placed at the line where the
    # file's top mapping starts; False: it names the file alone
    root_line: ClassVar[bool] = False

    @classmethod
    def shape_problem(cls, data: Any, file: str) -> Problem | None:
        """The problem with a file this model does not read at all, else None.

        ``data`` is the file as read (with line markers; None: the file is empty). With None returned, an
        empty file gives no model (the caller keeps its defaults) and any other is validated.
        """
        return None


class ItemsFile(FileModel):
    """A file that is one list of items under one key (``entities:``, ``rules:``, ``outside:``).

    Each item is validated on its own: one that does not validate is refused, with its problems located
    from the item's own line (their key paths start inside the item), and the others are kept. Other keys
    at the top of the file are not read.
    """

    # load_model validates the items one by one (with the item's model), so the file's own validator is built
    # only if a mapping is validated with it directly
    model_config = ConfigDict(defer_build=True)

    list_key: ClassVar[str]  # the key of the list
    shape_code: ClassVar[str | None] = "schema"  # the check that a file without the list fails

    @classmethod
    def shape_problem(cls, data: Any, file: str) -> Problem | None:
        if data is None or isinstance(data, dict) and isinstance(data.get(cls.list_key), list):
            return None
        return Problem(f"expected a top-level '{cls.list_key}:' list", file=file, code=cls.shape_code)

    @classmethod
    def item_problem(cls, raw: Any, data: Any, file: str) -> Problem | None:
        """The problem with an item that is not validated at all (None: validate it)."""
        return None

    @classmethod
    def item_name(cls, raw: Any) -> str | None:
        """How a problem names the item ``raw`` as read ("rule infl.dense", "entity ilms"); None when it
        has no usable id."""
        key, kind = {"rules": ("id", "rule"), "outside": ("slug", "outside entity")}.get(cls.list_key, ("slug", "entity"))
        value = raw.get(key) if isinstance(raw, dict) else None
        return f"{kind} {value}" if isinstance(value, str) and value.strip() else None

    @classmethod
    def item_model(cls) -> type[Model]:
        """The model of one item (the type of the list's elements)."""
        item: type[Model] = get_args(cls.model_fields[cls.list_key].annotation)[0]
        return item


COUNT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
ALMOST_COUNT = re.compile(r"^\s*\d+\s*/")  # "4/5x", "4 / 5 cases": a count mistyped


class Series(Model):
    """One series of a pooled figure: its count ``k/n`` and its citation."""

    n: str
    source: str = Field(min_length=3)

    @field_validator("n")
    @classmethod
    def _count(cls, v: str) -> str:
        m = COUNT.match(v)
        if not m or int(m[1]) > int(m[2]) or int(m[2]) == 0:
            raise ValueError(f"a series count is written k/n with 0 <= k <= n and n > 0, got {v!r}")
        return f"{int(m[1])}/{int(m[2])}"

    @property
    def k(self) -> int:
        return int(self.n.split("/")[0])

    @property
    def total(self) -> int:
        return int(self.n.split("/")[1])


class Likelihood(Model):
    """P(finding | entity): a count, a pooled count, a cited figure or an estimate.

    Written as ``0.93`` (cited, no denominator), ``"28/30"`` (a count),
    ``~0.3`` (an estimate), or a mapping: ``{n: "28/30", source: ...}``,
    ``{pooled: [{n: "23/23", source: ...}, {n: "10/10", source: ...}]}``,
    ``{p: ~0.3, strength: 20, reason: "estimate: ..."}``. ``p`` is the raw
    proportion; the ranker shrinks it towards the rate across the
    differential with a strength of ``total`` cases (counts) or ``strength``
    equivalent cases (estimates and figures without a denominator); see
    ``settings.evidence`` and the README, "How the ranking works".
    """

    p: float = Field(ge=0, le=1)
    estimate: bool = False
    n: str | None = None  # denominator as reported, e.g. "44/73" (a count) or "never"
    k: int | None = None  # positive cases, when n is a count or the figure is pooled
    total: int | None = None  # cases tested
    strength: float | None = Field(None, gt=0)  # equivalent cases for a figure without a count
    reason: str | None = None  # one line: why an estimate has this value
    source: str | None = None  # overrides the rule's source for this figure
    pooled: tuple[Series, ...] | None = None
    # a conditional figure derived from two other rules' figures for the same profile: (numerator rule id,
    # condition rule id); p is P(numerator)/P(condition), worked out when the rules are loaded
    # (:func:`ddx.knowledge.base.derive_ratios`), and an estimate
    ratio: tuple[str, str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "__line__"}
            if "ratio" in value:
                return _ratio(value)
            p = value.get("p")
            if isinstance(p, str):
                value["p"], est = _parse_p(p)
                value["estimate"] = value.get("estimate", False) or est
            return _counted(value)
        if isinstance(value, str):
            if COUNT.match(value):
                return _counted({"n": value})
            p, est = _parse_p(value)
            return {"p": p, "estimate": est}
        if isinstance(value, bool):
            raise ValueError("a likelihood is a number between 0 and 1, a count k/n, or ~0.3 for an estimate")
        return {"p": value}

    @model_validator(mode="after")
    def _reason_is_an_estimates(self) -> Likelihood:
        if self.reason is not None and not self.estimate and self.ratio is None:
            raise ValueError(
                "'reason' is an estimate's one line of reasoning; a count or a cited figure takes its citation as "
                "'source:'. For a figure of your own (an audit, unpublished data), write an estimate: {p: ~0.3, "
                "reason: ...}"
            )
        return self

    @property
    def counted(self) -> bool:
        """True when the figure is a count (k of total cases)."""
        return self.total is not None

    def shown(self) -> str:
        text = f"{'~' if self.estimate else ''}{self.p:.2f}"
        return text + (f" ({self.n})" if self.n else "")


def _ratio(value: dict[str, Any]) -> dict[str, Any]:
    """``{ratio: [ihc.myogenin, ihc.desmin]}``: a derived estimate; its p is set once the rules are loaded."""
    pair = value.get("ratio")
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(r, str) and r for r in pair)):
        raise ValueError("ratio names two rules: [the finding's rule, the condition's rule], e.g. [ihc.myogenin, ihc.desmin]")
    given = sorted(set(value) - {"ratio", "reason", "strength"})
    if given:
        raise ValueError(f"a ratio is worked out from its two rules; drop {', '.join(given)}")
    return {**value, "ratio": tuple(pair), "p": 0.5, "estimate": True}


def _counted(value: dict[str, Any]) -> dict[str, Any]:
    """Derive k, total and p from ``n: "k/n"`` or ``pooled:`` (a given p must agree)."""
    pooled = value.get("pooled")
    k = total = None
    if isinstance(pooled, list) and pooled:
        counts = [COUNT.match(str(s.get("n", ""))) if isinstance(s, dict) else None for s in pooled]
        if all(counts):
            k = sum(int(m[1]) for m in counts if m)
            total = sum(int(m[2]) for m in counts if m)
            given_n = value.get("n")
            m = COUNT.match(str(given_n)) if given_n is not None else None
            if given_n is not None and (m is None or (int(m[1]), int(m[2])) != (k, total)):
                raise ValueError(
                    f"n {given_n!r} disagrees with the pooled series, which sum to {k}/{total} (leave n out: it is derived)"
                )
            value.setdefault("n", f"{k}/{total}")
            value.setdefault(
                "source", "pooled: " + "; ".join(f"{s.get('source')} {s.get('n')}" for s in pooled if isinstance(s, dict))
            )
    elif isinstance(value.get("n"), str) and (m := COUNT.match(value["n"])):
        k, total = int(m[1]), int(m[2])
    elif isinstance(value.get("n"), str) and ALMOST_COUNT.match(value["n"]):
        raise ValueError(f"n {value['n']!r} looks like a count but is not written k/n (e.g. '4/5')")
    if k is None or total is None:
        if value.get("p") is None and isinstance(value.get("n"), str) and value.get("pooled") is None:
            estimated = re.fullmatch(r"\s*~\s*(\d+)\s*/\s*(\d+)\s*", value["n"])
            if estimated and 0 < int(estimated[2]) and int(estimated[1]) <= int(estimated[2]):  # "~26/30"
                share = int(estimated[1]) / int(estimated[2])
                raise ValueError(
                    f'n {value["n"]!r}: a count cannot be an estimate; write the count as k/n (n: "{estimated[1]}/{estimated[2]}") '
                    f'or the estimate as a share with its reason ({{p: ~{share:.2f}, reason: "estimate: ..."}})'
                )
            raise ValueError(f'n {value["n"]!r} is not a count k/n, so the figure needs its p (e.g. p: 1.0, n: "by definition")')
        return value
    if total == 0 or k > total:
        raise ValueError(f"a count is k/n with 0 <= k <= n and n > 0, got {k}/{total}")
    if value.get("estimate"):
        raise ValueError("a count is not an estimate: drop the ~ or the count")
    if value.get("strength") is not None:
        raise ValueError("a count weighs its own denominator: drop 'strength' (it is for estimates and figures without a denominator)")
    given = value.get("p")
    if given is not None and not isinstance(given, bool) and isinstance(given, (int, float)) and abs(float(given) - k / total) > 0.011:
        raise ValueError(f"p {given} disagrees with the count {k}/{total} (= {k / total:.2f}); give one of them")
    value["p"], value["k"], value["total"] = k / total, k, total
    return value


def _parse_p(text: str) -> tuple[float, bool]:
    t = text.strip()
    est = t.startswith("~")
    percent = re.fullmatch(r"~?\s*(\d+(?:\.\d+)?)\s*%", t)
    if percent:  # "30%": the proportion it means, to write
        fix = f"{'~' if est else ''}{float(percent.group(1)) / 100:g}"
        raise ValueError(f"a likelihood is a proportion between 0 and 1, not a percentage: write {fix} for {text!r}")
    try:
        return float(t.lstrip("~").strip()), est
    except ValueError:
        raise ValueError(f"a likelihood is a number between 0 and 1, a count k/n, or ~0.3 for an estimate, got {text!r}") from None


class Prior(Likelihood):
    """An entity's prior probability, or a subtype's share of its entity: a cited figure or a marked estimate
    (never a ratio)."""

    p: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _not_a_ratio(self) -> Prior:
        if self.ratio is not None:
            raise ValueError("a prior or a share is a figure or an estimate; a ratio is for a rule's conditional cells")
        return self


class Subtype(Model):
    """A subtype of an entity: its own likelihood profile and its share of the entity.

    Rules give its figures under its slug (``likelihood: {srms_tfcp2: "5/5"}``);
    a rule that gives none uses the parent entity's figure.
    """

    slug: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    short: str | None = None  # as shown in compact text ("EIMS", "TFCP2-RMS"); default: the slug in capitals
    who2020: str | None = None
    synonyms: list[str] = []
    share: Prior  # the subtype's share of the entity (cited count or estimate)
    source: str
    notes: str | None = None
    confirm_with: list[str] | None = None  # None: the entity's confirming tests; []: none
    confirm_source: str | None = None


class Entity(Model):
    """A diagnosis of the differential (``rules/entities.yaml``): slug, names, WHO 2020 name, prior, the tests
    that confirm it and its subtypes."""

    slug: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    who2020: str | None = None
    icd_o: str | None = None
    synonyms: list[str] = []
    variant_of: str | None = None
    group: Literal["main", "mimic"] = "mimic"
    prior: Prior
    source: str
    notes: str | None = None
    # Findings that confirm this entity when recorded (finding paths, e.g.
    # molecular.near_haploidization); used by the "confirmation advised" band.
    confirm_with: list[str] = []
    confirm_source: str | None = None
    # Subtypes with their own profiles; the rest of the entity (1 - their
    # shares) keeps the entity's own figures under ``other_name``.
    subtypes: list[Subtype] = []
    other_name: str | None = None
    other_short: str = "other"  # the rest of the entity in compact text ("conventional")

    @model_validator(mode="after")
    def _shares(self) -> Entity:
        total = math.fsum(s.share.p for s in self.subtypes)
        if total >= 1.0:
            raise ValueError(
                f"the shares of the subtypes of {self.slug} sum to {total:.2f}; they must leave "
                "a share (> 0) for the rest of the entity"
            )
        return self


class Examples(Model):
    """Small cases a rule must match (``should_match``) or must not (``should_not_match``).

    Each is the findings part of a case, written as in a case file or with dotted
    keys (``{stains.desmin: positive}``); ``ddx rules check`` runs them.
    """

    should_match: list[dict[str, Any]] = []
    should_not_match: list[dict[str, Any]] = []

    @model_validator(mode="before")
    @classmethod
    def _drop_line(cls, value: Any) -> Any:
        # the examples themselves keep their line markers, for messages
        return {k: v for k, v in value.items() if k != "__line__"} if isinstance(value, dict) else value


class RuleSpec(Model):
    """One rule as a rule file writes it (compiled into :class:`ddx.knowledge.Rule`, one for each half)."""

    # kept with their line markers (each condition's line names its errors; examples are read by ddx rules check)
    keep_lines: ClassVar[frozenset[str]] = frozenset({"when", "negated_by", "examples", "accounts_for"})

    id: str = Field(pattern=RULE_ID)
    title: str  # the finding, as shown in evidence ("Desmin positive")
    status: Literal["active", "draft", "retired"]
    when: dict[str, Any]
    negated_by: dict[str, Any] | None = None  # the tested-negative complement, scored 1 - p
    negated_title: str | None = None
    likelihood: dict[str, Likelihood] | None = None
    default: Likelihood | None = None  # for entities not listed in likelihood
    # a rule that narrows another's finding to a subgroup of cases (an extremity site in an adult): the figures
    # its likelihood leaves out are that rule's, read as not depending on the narrower condition; the two
    # conditions must never hold together (``ddx rules check``), so the finding is scored once
    likelihood_from: str | None = Field(None, pattern=RULE_ID)
    rationale: str
    source: str = Field(min_length=3)
    caveat: str | None = None
    # the population the figures are taken among, for a conditional rule ("desmin-positive": the
    # figures are shares of desmin-positive tumours); reports write "of desmin-positive ILMS"
    given: str | None = None
    # the tests the caveat's text asks for (finding paths: molecular.mdm2_amplification, stains.myod1); they are
    # suggested whenever the caveat is shown (ddx/suggest.py)
    caveat_tests: list[str] = []
    # the candidates the caveat says to exclude before the ranking is read as settled (entity or subtype slugs);
    # a band with ``pitfall_min`` reads them (rules/settings.yaml)
    consider: list[str] = []
    author: str | None = None
    updated: str | None = None
    examples: Examples | None = None
    # items of list findings the rule's figures already stand for, written as a condition (``{morphology.stroma:
    # {contains: hyalinized}}``; list items only): when the rule's positive half scores, they are not listed as
    # "recorded, not used by the ranking"
    accounts_for: dict[str, Any] | None = None

    @field_validator("rationale", "title")
    @classmethod
    def _one_line(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _effect(self) -> RuleSpec:
        if self.likelihood is None and self.caveat is None:
            raise ValueError("a rule needs a likelihood (its effect on each entity) or a caveat")
        if self.negated_by is not None and self.likelihood is None:
            raise ValueError("negated_by needs a likelihood")
        if self.caveat_tests and self.caveat is None:
            raise ValueError("caveat_tests names the tests a caveat asks for: the rule needs a caveat")
        if self.default is not None and self.default.ratio is not None:
            raise ValueError("default: a ratio is worked out for a named profile; write it under likelihood for each")
        if self.likelihood_from is not None and not self.likelihood:
            raise ValueError("likelihood_from fills in the figures a likelihood leaves out: give the figures that differ")
        if self.likelihood_from == self.id:
            raise ValueError("likelihood_from names the rule itself")
        if self.likelihood_from is not None and self.default is not None:
            raise ValueError(
                "a rule with likelihood_from takes its base's default (and every figure the base gives): write the "
                "figures that differ under likelihood, not a default"
            )
        return self


class BandWhen(Model):
    """When a confidence band applies; every given bound must hold."""

    leader_min: float | None = Field(None, ge=0, le=1)  # leader's probability ≥
    leader_max: float | None = Field(None, ge=0, le=1)  # leader's probability <
    margin_min: float | None = Field(None, ge=0, le=1)  # leader − runner-up ≥
    margin_max: float | None = Field(None, ge=0, le=1)  # leader − runner-up <
    confirm_tested: bool | None = None  # a confirming test of the leader is / is not recorded
    has_confirmatory_test: bool | None = None  # the leader has / has no confirming test listed
    min_informative: int | None = Field(None, ge=0)  # at least this many findings separate the two leaders
    max_ancillary: int | None = Field(None, ge=0)  # at most this many scored stains / molecular results
    outside: bool | None = None  # the findings point / do not point outside the differential
    # scoring rule ids: those not matched yet (neither the finding nor its negation is recorded), found all
    # present or all absent, would put another entity first (findings not yet recorded could overturn the leader)
    unrecorded_could_overturn: list[str] | None = Field(None, min_length=1)
    # a shown caveat names (``consider:``) a candidate other than the leader holding at least this probability,
    # and not every test the caveat asks for is recorded (a known pitfall is still open)
    pitfall_min: float | None = Field(None, ge=0, le=1)


BAND_FIELDS = frozenset(
    {
        "leader",
        "runner_up",
        "next_test",
        "next_why",
        "confirm_tests",
        "outside",
        "challenger",
        "pending",
        "direction",
        "considered",
        "pitfall",
    }
)
REPORT_FIELDS = frozenset({"site", "diagnosis", "leader", "probability", "band"})


def _check_template(text: str, allowed: frozenset[str]) -> str:
    template = Template(text)
    if not template.is_valid():
        raise ValueError("malformed $placeholder (write $$ for a literal dollar sign)")
    unknown = set(template.get_identifiers()) - allowed
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {', '.join(sorted('$' + u for u in unknown))}; use {', '.join(sorted('$' + a for a in allowed))}"
        )
    return text


class Band(Model):
    """A confidence band (``rules/settings.yaml``): when it applies and the action it says, with placeholders."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    label: str
    when: BandWhen = BandWhen()
    action: str  # $leader, $runner_up, $next_test, $next_why, $confirm_tests are filled in
    action_no_test: str | None = None  # the action when it has no test to name (none suggested; none separating two leaders)
    rationale: str | None = None

    @field_validator("action", "action_no_test")
    @classmethod
    def _placeholders(cls, v: str | None) -> str | None:
        return None if v is None else _check_template(v, BAND_FIELDS)


class EvidenceSettings(Model):
    """How figures become probabilities (README, "How the ranking works").

    p = (k + shrinkage * m) / (total + shrinkage), where m is the row's rate
    across the differential (prior-weighted mean of the raw figures) and an
    estimate or a figure without a denominator counts as ``strength`` cases of
    its value (``estimate_strength`` / ``cited_strength`` unless the cell gives
    its own).
    """

    shrinkage: float = Field(2.0, ge=0, le=1e6)
    estimate_strength: float = Field(10.0, gt=0, le=1e6)
    cited_strength: float = Field(20.0, gt=0, le=1e6)
    informative_spread: float = Field(0.2, ge=0, le=10)  # log10 ratio between the two leaders for a finding to be informative
    unexplained_below: float = Field(0.1, gt=0, lt=1)  # a finding no profile shows this often is unexplained
    rationale: str | None = None
    source: str | None = None


class NextTests(Model):
    """How next tests are offered (ddx/suggest.py): a test whose expected information gain is below
    ``min_gain`` bits is not offered; when none reaches it, the output says no further test separates the
    leaders."""

    min_gain: float = Field(0.05, ge=0, le=10)  # bits
    reason: str | None = None


class Calibration(Model):
    """posterior ∝ prior × exp(temperature × Σ ln likelihood); 1 = plain naive Bayes."""

    temperature: float = Field(1.0, gt=0, le=1)
    derivation: str | None = None


class PriorSet(Model):
    """A named set of priors (settings ``prior_sets:``), for a practice whose case mix differs from the
    default: every entity's prior, cited or an estimate with its reason, and where the figures come from."""

    description: str
    source: str
    priors: dict[str, Prior]


class Settings(FileModel):
    """settings.yaml. Every number is bounded so that any value accepted here ranks a case
    (``clamp: [0, 1]`` once passed and made every evaluation take the log of 0)."""

    version: str
    title: str = "ddx knowledge base"
    clamp: tuple[float, float] = (0.01, 0.99)
    suggestions: int = Field(3, ge=0, le=50)
    next_tests: NextTests = NextTests()
    source: str | None = None
    evidence: EvidenceSettings = EvidenceSettings()
    calibration: Calibration = Calibration()
    bands: list[Band] = []
    # Named alternatives to the priors in entities.yaml (``ddx eval --prior-set NAME``); ``prior_set``
    # names the one applied when none is asked for (none: entities.yaml's priors).
    prior_sets: dict[str, PriorSet] = {}
    prior_set: str | None = None
    # The stains whose unconditional figures the README's provenance table counts as core (ddx/provenance.py).
    core_stains: list[str] = []

    @field_validator("clamp")
    @classmethod
    def _clamp_inside_0_1(cls, v: tuple[float, float]) -> tuple[float, float]:
        low, high = v
        if not 0 < low < high < 1:
            raise ValueError(
                f"clamp must be two probabilities with 0 < low < high < 1 (a likelihood of 0 or 1 "
                f"would make one finding decide alone); got [{low}, {high}]"
            )
        return v


class OutsideEntity(Model):
    """An entity outside ddx's differential that recorded findings can point to (rules/outside.yaml)."""

    keep_lines: ClassVar[frozenset[str]] = frozenset({"when", "negated_by", "examples"})  # as RuleSpec's

    slug: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    name: str
    when: dict[str, Any]
    findings: list[str] = []  # the finding paths it accounts for (e.g. stains.sox10)
    # stains / molecular tests that support the pointer when positive (present) but raise nothing alone (TLE1 beside
    # an SS18 rearrangement): listed with its findings only when so recorded
    supporting: list[str] = []
    rationale: str  # the whole reasoning, exclusions included (JSON, the TUI's detail pane, rule editors)
    # one or two sentences for the reader: what points there and the figure that says so, with a short
    # author-year for each figure (its full citation is in ``source``); shown in text, markdown and the TUI
    # in place of the rationale (which stands in when there is none)
    summary: str | None = Field(default=None, min_length=10)
    # stains.* / molecular.* paths of the tests that would answer the pointer (confirm it or rule it out); those
    # not recorded are offered first among the next tests, and named by the band
    tests: list[str] = []
    # finding paths whose recorded result already answers the pointer (the NAB2-STAT6 fusion for SFT): with one
    # recorded, none of ``tests`` is asked for
    answered_by: list[str] = []
    source: str = Field(min_length=3)


class EntityReport(Model):
    """How the draft report names an entity: its diagnosis line, a cited closing comment and, for a subtype,
    the word for it."""

    diagnosis: str  # the diagnosis line as a pathologist writes it
    comment: str = ""  # entity-specific closing sentences, cited
    source: str | None = None
    # for a subtype: the word the subtype frames name it by ($kind): "subtype", or "form" for a morphological
    # form that is not a WHO subtype (ALK-positive histiocytosis's spindle cell form)
    kind: str = Field(default="subtype", pattern=r"^[a-z][a-z -]{0,30}$")


# The placeholders each frame of reports.yaml may use (a frame using another is a load error).
REPORT_FRAMES: dict[str, frozenset[str]] = {
    "heading": REPORT_FIELDS,
    "specimen": REPORT_FIELDS,
    "specimen_organ": REPORT_FIELDS,
    "favoured": REPORT_FIELDS,
    "overall": REPORT_FIELDS,
    "disclaimer": REPORT_FIELDS,
    "favoured_outside": REPORT_FIELDS | {"lesion"},
    "overall_outside": REPORT_FIELDS,
    "outside_heading": REPORT_FIELDS,
    "favoured_subtype": REPORT_FIELDS | {"subtype", "share", "kind"},
    "subtype": REPORT_FIELDS | {"subtype", "share", "kind"},
    "other_subtype": frozenset({"diagnosis", "subtype", "share", "kind"}),
    "contrast": frozenset({"finding", "leader_p", "leader_short", "leader_figure", "other_p", "other_short", "other_figure"}),
    "evidence_source": frozenset({"finding", "figure", "source"}),
    "unused": frozenset({"findings"}),
    "outside_pointer": frozenset({"findings", "name", "source", "rationale"}),
    "outside_unexplained": frozenset({"finding", "p", "best"}),
    "findings": frozenset({"label", "value"}),
    "lesion": frozenset({"cells"}),
    "lesion_inflamed": frozenset({"cells"}),
    "lesion_cells_unknown": frozenset(),
    "no_findings": frozenset(),
    "differential_heading": frozenset(),
    "differential_heading_descriptive": frozenset(),
    "differential_item": frozenset({"name", "probability", "why"}),
    "differential_item_descriptive": frozenset({"name", "probability", "why", "leader_short"}),
    "differential_no_reason": frozenset({"name", "probability", "leader_short"}),
    "differential_leader_descriptive": frozenset({"name", "probability"}),
    "confidence": frozenset({"label", "action"}),
    "tests_heading": frozenset(),
    "caveats_heading": frozenset(),
    "caveat": frozenset({"text", "source"}),
    "sources_heading": frozenset(),
    "favoured_descriptive": REPORT_FIELDS | {"lesion"},
    "overall_descriptive": REPORT_FIELDS | {"lesion", "leaders", "probabilities", "next_test"},
    "overall_descriptive_no_test": REPORT_FIELDS | {"lesion", "leaders", "probabilities"},
    "differential_leader_low": frozenset({"name", "probability", "threshold"}),
    "overall_low": REPORT_FIELDS | {"lesion", "leaders", "probabilities", "next_test", "threshold"},
    "overall_low_no_test": REPORT_FIELDS | {"lesion", "leaders", "probabilities", "threshold"},
}


PROSE_FIELDS = frozenset({"label", "value", "values"})


class ProseSentence(Model):
    """One sentence of the report's morphology description (reports.yaml ``morphology_prose``).

    ``sentence`` holds ``$phrases``; ``fields`` maps a morphology field (``*``: any field no
    earlier key names) to a phrase frame (``$label``, ``$value``, ``$values``), or to frames by
    recorded value (``present``, ``absent``, a term, a number; ``*`` for any other value); a
    value without a frame, or with an empty one, leaves the field to a later sentence. The sentence is written when
    every field in ``requires`` is recorded, not yet described and has a frame here for its recorded value.
    ``join``: ``list`` joins the phrases as "a, b and c", ``or`` as "a, b or c", ``words`` one after the other.
    """

    sentence: str
    fields: dict[str, str | dict[str, str]]
    requires: list[str] = []
    join: Literal["list", "or", "words"] = "list"

    @field_validator("sentence")
    @classmethod
    def _sentence(cls, v: str) -> str:
        return _check_template(v, frozenset({"phrases"}))

    @field_validator("fields")
    @classmethod
    def _phrases(cls, v: dict[str, str | dict[str, str]]) -> dict[str, str | dict[str, str]]:
        for key, spec in v.items():
            for value, text in ({"*": spec} if isinstance(spec, str) else spec).items():
                try:
                    _check_template(text, PROSE_FIELDS)
                except ValueError as exc:
                    where = key if isinstance(spec, str) else f"{key}.{value}"
                    raise ValueError(f"fields.{where}: {exc}") from None
        return v

    def frame(self, name: str, value: str) -> str | None:
        """The phrase frame for morphology field ``name`` recorded as ``value`` (None: not this sentence's)."""
        spec = self.fields.get(name, self.fields.get("*"))
        if spec is None or isinstance(spec, str):
            return spec
        return spec.get(value, spec.get("*")) or None


class StainProse(Model):
    """The report's immunohistochemistry sentence (reports.yaml ``stain_prose``).

    Positive stains are grouped under their extent (``results`` keys ``diffuse``, ``patchy``,
    ``focal``; ``positive`` without one), the rest under their result; groups are written in
    the order of ``results``. ``details`` words a stain's intensity, pattern or percent in
    brackets after its name; ``own_sentence`` gives a stain's attribute a sentence of its own
    (``ki67.percent``).
    """

    sentence: str = "Immunohistochemistry: $groups."
    group: str = "$result for $stains"
    results: dict[str, str] = {
        "diffuse": "diffusely positive",
        "positive": "positive",
        "patchy": "patchily positive",
        "focal": "focally positive",
        "negative": "negative",
        "equivocal": "equivocal",
    }
    details: dict[str, str] = {"intensity": "$value staining", "pattern": "$value pattern", "percent": "$value % of cells"}
    own_sentence: dict[str, str] = {}

    @model_validator(mode="after")
    def _frames(self) -> StainProse:
        _check_template(self.sentence, frozenset({"groups"}))
        _check_template(self.group, frozenset({"result", "stains"}))
        for attr, text in self.details.items():
            if attr not in ("intensity", "pattern", "percent", "extent"):
                raise ValueError(f"details.{attr}: not an attribute of a stain; use intensity, pattern, percent, extent")
            _check_template(text, frozenset({"value"}))
        for key, text in self.own_sentence.items():
            if not re.fullmatch(r"[a-z0-9_]+\.(result|extent|intensity|pattern|percent)", key):
                raise ValueError(f"own_sentence key {key!r}: write stain.attribute (ki67.percent)")
            _check_template(text, frozenset({"label", "value"}))
        return self


class MolecularProse(Model):
    """The report's molecular sentence (reports.yaml ``molecular_prose``)."""

    sentence: str = "Molecular studies: $parts."
    present: str = "$tests detected"
    absent: str = "no $tests"

    @model_validator(mode="after")
    def _frames(self) -> MolecularProse:
        _check_template(self.sentence, frozenset({"parts"}))
        _check_template(self.present, frozenset({"tests"}))
        _check_template(self.absent, frozenset({"tests"}))
        return self


class ClinicalProse(Model):
    """The report's clinical sentence (reports.yaml ``clinical_prose``): each recorded item worded by its
    frame ($value), the items joined as a list into ``sentence`` ($parts)."""

    sentence: str = "Clinical history: $parts."
    age: str = "age $value years"
    age_months: str = "$value months"  # an infant (under a year), in whole months
    age_days: str = "$value days"  # a newborn (under a month), in days
    sex: str = "$value"
    site: str = "$value"  # with its depth, when recorded: ``depth_site``
    depth_site: str = "$depth $value"
    size_cm: str = "$value cm"
    presentation: str = "$value"
    symptoms: str = "$value"

    @model_validator(mode="after")
    def _frames(self) -> ClinicalProse:
        _check_template(self.sentence, frozenset({"parts"}))
        for name in ("age", "age_months", "age_days", "sex", "site", "size_cm", "presentation", "symptoms"):
            _check_template(getattr(self, name), frozenset({"value"}))
        _check_template(self.depth_site, frozenset({"value", "depth"}))
        return self


class ReportTemplates(FileModel):
    """rules/reports.yaml: the wording of ``ddx eval --format report``.

    Each sentence frame takes the placeholders listed for it in ``_fields``
    (``$site``, ``$diagnosis`` ...); ``findings`` words one recorded finding
    (``$label``, ``$value``), keyed by its path with ``*`` for any term
    (``stains.*.extent``), the most specific key first.
    """

    heading: str = "DRAFT COMMENT (ddx decision support; not a diagnosis)"
    specimen: str = "Soft tissue tumour, $site:"
    specimen_organ: str = "Tumour, $site:"  # a site of a group in organ_site_groups (not soft tissue)
    organ_site_groups: list[str] = []  # site groups that are not soft tissue (vocabulary site_groups)
    favoured: str = "$diagnosis (see comment)"
    overall: str = "Overall, these findings favour $diagnosis."
    disclaimer: str = ""
    # the leader's leading subtype, when it is not the entity's conventional / rest profile
    favoured_subtype: str = "$diagnosis, favouring the $subtype $kind (see comment)"
    subtype: str = "Of its subtypes, the findings favour the $subtype $kind ($share of the entity's probability)."
    other_subtype: str = "$diagnosis, mainly the $subtype $kind"
    # the findings that separate the leader from another candidate, with their figures
    contrast: str = "$finding ($leader_p of $leader_short [$leader_figure] vs $other_p of $other_short [$other_figure])"
    evidence_source: str = "$finding ($figure): $source"
    # recorded findings no matched scoring rule reads
    unused: str = "The following recorded findings are not used by ddx's ranking: $findings."
    # findings that point outside the modelled entities
    favoured_outside: str = "$diagnosis ranks first among the modelled entities; the findings point outside them (see comment)"
    overall_outside: str = (
        "Among the entities ddx models, $leader ranks first (ddx: $probability; $band); "
        "this probability assumes the diagnosis is one of them."
    )
    outside_heading: str = "Caution - findings outside ddx's differential:"
    outside_pointer: str = "$findings: consider $name, which ddx does not model ($source)."
    outside_unexplained: str = "$finding: not typical of any modelled entity (at most $p, in $best)."
    # bands in which the report favours no diagnosis: the diagnosis line describes the lesion and the
    # closing sentence names the leaders and the test that separates them
    descriptive_bands: list[str] = ["open", "open-thin", "close"]
    descriptive_below: float = Field(0.75, ge=0, le=1)  # ... and any leader below this probability
    lesion: str = "$cells neoplasm"
    lesion_inflamed: str = "$cells neoplasm with an inflammatory background"
    lesion_cells_unknown: str = "mesenchymal"
    favoured_descriptive: str = "$lesion (see comment)"
    overall_descriptive: str = (
        "The findings entered do not yet separate $leaders (ddx: $probabilities; $band); "
        "no diagnosis is favoured. $next_test would best separate them."
    )
    overall_descriptive_no_test: str = (
        "The findings entered do not separate $leaders (ddx: $probabilities; $band), "
        "and no further test that ddx models separates them; no diagnosis is favoured."
    )
    # ... when no diagnosis is favoured because the leader is below descriptive_below ($threshold) while its band
    # is not one of descriptive_bands (the leader may stand well clear of the others; it is only not probable enough)
    differential_leader_low: str = "$name ($probability): ranked first, but below the $threshold at which a diagnosis is favoured."
    overall_low: str = (
        "The findings entered rank $leaders in that order (ddx: $probabilities; $band); no diagnosis is favoured "
        "below $threshold; $next_test would best separate them."
    )
    overall_low_no_test: str = (
        "The findings entered rank $leaders in that order (ddx: $probabilities; $band); no diagnosis is favoured "
        "below $threshold, and no further test that ddx models separates them."
    )
    # the comment's description of the case (the default writes every recorded field plainly)
    morphology_prose: list[ProseSentence] = [ProseSentence(sentence="Recorded morphology: $phrases.", fields={"*": "$label $value"})]
    clinical_prose: ClinicalProse = ClinicalProse()
    stain_prose: StainProse = StainProse()
    molecular_prose: MolecularProse = MolecularProse()
    no_findings: str = "No morphologic, immunohistochemical or molecular findings were recorded."
    # the candidates below the leader ($name, $probability, $why: the contrasts, or differential_no_reason)
    differential_heading: str = "Differential diagnosis considered:"
    differential_item: str = "$name ($probability): less likely because of $why."
    differential_heading_descriptive: str = "Candidates considered:"
    differential_item_descriptive: str = "$name ($probability): ranks below $leader_short because of $why."
    differential_no_reason: str = (
        "$name ($probability): no recorded finding separates it from $leader_short; it ranks lower on prior frequency."
    )
    # in the descriptive bands the list opens with the first-ranked candidate, since none is set above the others
    differential_leader_descriptive: str = "$name ($probability): ranked first, by too little to be favoured."
    confidence: str = "Confidence: $label. $action"
    tests_heading: str = "Recommended additional tests:"
    caveats_heading: str = "Caveats:"
    caveat: str = "$text ($source)"
    sources_heading: str = "Sources of the leading evidence:"
    # words for terms in the prose, by field path ({"morphology.architecture": {"storiform": "a storiform pattern"}})
    term_words: dict[str, dict[str, str]] = {}
    findings: dict[str, str] = {
        "stains.*": "$label $value",
        "stains.*.extent": "$label $value",
        "stains.*.intensity": "$label $value staining",
        "stains.*.pattern": "$label $value pattern",
        "stains.*.percent": "$label $value %",
        "molecular.*": "$label $value",
        "morphology.cell_types": "$value cells",
        "patient.age": "age $value years",
        "clinical.size_cm": "size $value cm",
        "*": "$label $value",
    }
    entities: dict[str, EntityReport] = {}

    @field_validator(*(name for name in REPORT_FRAMES if name != "findings"))
    @classmethod
    def _placeholders(cls, v: str, info: Any) -> str:
        return _check_template(v, REPORT_FRAMES[info.field_name])

    @field_validator("findings")
    @classmethod
    def _finding_words(cls, v: dict[str, str]) -> dict[str, str]:
        for key, text in v.items():
            if not re.fullmatch(r"\*|[a-z_]+(\.([a-z0-9_]+|\*))*", key):
                raise ValueError(
                    f"findings key {key!r}: write a finding path, with * for any term "
                    "(stains.*, stains.*.extent, morphology.cell_types) or * alone"
                )
            try:
                _check_template(text, REPORT_FRAMES["findings"])
            except ValueError as exc:
                raise ValueError(f"findings.{key}: {exc}") from None
        return v

    def finding_words(self, path: str) -> str:
        """The frame for a finding at ``path``: its own key, then the key with its term as ``*``, then ``*``."""
        parts = path.split(".")
        keys = [path]
        if len(parts) >= 2 and parts[0] in ("stains", "molecular", "morphology"):
            keys.append(".".join([parts[0], "*", *parts[2:]]))
        keys.append("*")
        for key in keys:
            if key in self.findings:
                return self.findings[key]
        return "$label $value"


# ------------------------------------------------------------------ files of items


class EntitiesFile(ItemsFile):
    """rules/entities.yaml: the entities ranked, each with its prior and its subtypes."""

    list_key: ClassVar[str] = "entities"
    shape_code: ClassVar[str | None] = None

    entities: list[Entity]


class RulesFile(ItemsFile):
    """A file of rules (rules/rules/*.yaml)."""

    list_key: ClassVar[str] = "rules"

    rules: list[RuleSpec]

    @classmethod
    def shape_problem(cls, data: Any, file: str) -> Problem | None:
        if data is None:
            return Problem("the file is empty; expected a top-level 'rules:' list", file=file, code="schema")
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            return Problem("expected a top-level 'rules:' list", file=file, line=key_line(data, "rules") or 1, code="schema")
        return None

    @classmethod
    def item_problem(cls, raw: Any, data: Any, file: str) -> Problem | None:
        if isinstance(raw, dict):
            return None
        return Problem(
            f"each rule must be a mapping ('- id: ...'), got {raw!r:.60}", file=file, line=key_line(data, "rules"), code="schema"
        )


class OutsideFile(ItemsFile):
    """rules/outside.yaml: entities outside the differential that recorded findings can point to."""

    list_key: ClassVar[str] = "outside"

    outside: list[OutsideEntity]


# ------------------------------------------------------------------ vocabulary.yaml


# A number written where a word belongs is that word (``- 5`` is the term "5"); a yes/no that YAML read as
# true/false is not (it is refused, naming what YAML made of it).
WORDS = ConfigDict(coerce_numbers_to_str=True)


class TermSpec(Model):
    """One term of a list of terms: a word, or ``{term: ..., synonyms: [...], label: ..., help: ...}``;
    a stain's mapping may also name the ``patterns`` it takes (terms of ``stain_patterns``), and a molecular
    test the test its present result ``implies`` present (a KIF5B-ALK fusion is an ALK rearrangement)."""

    model_config = WORDS

    term: str
    synonyms: list[str] = []
    label: str | None = None
    help: str | None = None
    patterns: list[str] | None = None
    implies: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {"term": value}


class TermBlock(Model):
    """A list of terms written as a mapping: ``{terms: [...]}``."""

    terms: list[TermSpec]


# the tags of the two forms of a list of terms, in the key paths of pydantic's errors (not keys of the file:
# ddx.knowledge.load.located leaves them out)
LIST_FORM, BLOCK_FORM = "(list)", "(terms)"
UNION_TAGS = frozenset({LIST_FORM, BLOCK_FORM})


def _terms_form(value: Any) -> str:
    return BLOCK_FORM if isinstance(value, dict) else LIST_FORM


# a list of terms: ``[a, {term: b, ...}]`` or ``{terms: [a, {term: b, ...}]}``
Terms = Annotated[Annotated[list[TermSpec], Tag(LIST_FORM)] | Annotated[TermBlock, Tag(BLOCK_FORM)], Discriminator(_terms_form)]


def _term_list(terms: list[TermSpec] | TermBlock) -> list[TermSpec]:
    return terms.terms if isinstance(terms, TermBlock) else terms


class PatientTerms(Model):
    """The vocabulary's patient terms (sex)."""

    sex: Terms


class ClinicalTerms(Model):
    """The vocabulary's clinical terms other than sites (depth, symptoms)."""

    depth: Terms
    symptoms: Terms


class SiteGroup(Model):
    """A group of sites (``clinical.site_group``): the synonyms of its name and its site terms."""

    model_config = WORDS

    synonyms: list[str] = []
    terms: list[TermSpec]


class MorphologySpec(Model):
    """A morphology field: ``kind`` list (several terms), term (one), presence (present | absent) or
    number (``min``, ``max``); the terms of a list or term field."""

    model_config = WORDS

    kind: str = "term"
    terms: list[TermSpec] = []
    compounds: dict[str, list[str]] = {}  # list fields: a word that stands for several terms
    min: int | float | None = None
    max: int | float | None = None
    label: str | None = None
    help: str | None = None


class StainShorthand(Model):
    """A word that stands for a stain result and its extent or intensity (``focal``: positive, focal; ``3+``:
    positive, strong)."""

    model_config = WORDS

    result: str
    extent: str | None = None
    intensity: str | None = None


def _compounds(
    name: str, spec: MorphologySpec, terms: TermSet | None, problems: list[Problem], where: str
) -> dict[str, tuple[str, ...]]:
    """A list field's compound words (``lymphoplasmacytic: [lymphocytes, plasma_cells]``), folded, each to the
    canonical terms it stands for. A compound on a field that is not a list, a word that is already a term or
    synonym of the field, a word given twice, or one that names fewer than two distinct terms of the field (or a
    term it lacks) is a problem."""
    out: dict[str, tuple[str, ...]] = {}
    if not spec.compounds:
        return out
    if spec.kind != "list" or terms is None:
        problems.append(Problem(f"morphology.{name}: compounds need a list field (kind: list)", file=where))
        return out
    for word, targets in spec.compounds.items():
        key = fold(word)
        if key in terms:
            problems.append(Problem(f"morphology.{name}: compound {key!r} is already a term or synonym of the field", file=where))
            continue
        if key in out:
            problems.append(Problem(f"morphology.{name}: compound {key!r} is given twice", file=where))
            continue
        unknown = [t for t in targets if fold(t) not in terms]
        known = tuple(dict.fromkeys(terms.normalize(t) for t in targets if fold(t) in terms))
        if unknown or len(known) < 2:
            problems.append(
                Problem(
                    f"morphology.{name}: compound {key!r} must stand for two or more of the field's terms"
                    + (f"; not terms: {', '.join(map(str, unknown))}" if unknown else ""),
                    file=where,
                    suggestions=terms.suggest(str(unknown[0])) if unknown else [],
                )
            )
            continue
        out[key] = known
    return out


class VocabularyFile(FileModel):
    """rules/vocabulary.yaml: every key, term and synonym a case file may use.

    :meth:`vocabulary` makes the :class:`~ddx.knowledge.vocabulary.Vocabulary` the rest of ddx reads; a term given
    twice, a synonym of two terms or a pattern no stain pattern names is a problem found there.
    """

    model_config = WORDS
    line_markers: ClassVar[bool] = False
    root_line: ClassVar[bool] = True

    patient: PatientTerms
    clinical: ClinicalTerms
    site_groups: dict[str, SiteGroup]
    morphology: dict[str, MorphologySpec]
    presence: Terms
    # more synonyms for the morphology fields of the presence kind (necrosis "focal", rhabdomyoblasts "rare"):
    # {present: [...], absent: [...]}; molecular results take ``presence`` alone
    morphology_presence: dict[str, list[str]] = {}
    not_done: list[str] = []  # words for a finding not looked for: read as not recorded
    # words that may say a test was not done or that it found nothing ("ND"): refused, the hint giving both
    not_done_or_negative: list[str] = []
    # a result word that names one kind of alteration -> the kinds of molecular test (a term's last word) taking it
    alteration_words: dict[str, list[str]] = {}
    stain_results: Terms
    stain_shorthand: dict[str, StainShorthand]
    site_sides: list[str] = []  # a site's side ("left thigh"), read past: no rule reads it
    # a word that may name several sites ("femoral": thigh, groin or bone): refused, its hint naming each
    ambiguous_sites: dict[str, list[str]] = {}
    stain_extents: Terms
    stain_intensities: Terms
    stain_patterns: Terms
    stains: Terms
    molecular: Terms

    @classmethod
    def shape_problem(cls, data: Any, file: str) -> Problem | None:
        return None if isinstance(data, dict) else Problem("vocabulary must be a mapping", file=file)

    def vocabulary(self, source: Path, problems: list[Problem]) -> Vocabulary:
        """The vocabulary of these terms (``source``: the file, named by problems and kept as
        ``Vocabulary.source``). A term given twice, a synonym of two terms, a morphology kind that is not
        one of list, term, presence, number or a stain pattern that ``stain_patterns`` does not hold is
        appended to ``problems`` (the vocabulary is then not to be used)."""
        where = str(source)

        def termset(kind: str, terms: list[TermSpec] | TermBlock, two_names: bool = False) -> TermSet:
            ts = TermSet(kind, two_names=two_names)
            for spec in _term_list(terms):
                extra: dict[str, Any] = {} if spec.patterns is None else {"patterns": spec.patterns}
                if spec.implies is not None:
                    extra["implies"] = spec.implies
                try:
                    ts.add(spec.term, spec.synonyms, spec.label, spec.help, **extra)
                except ValueError as exc:
                    problems.append(Problem(f"{kind}: {exc}", file=where))
            return ts

        def add(ts: TermSet, term: str, synonyms: list[str], label: str | None = None, help: str | None = None) -> None:
            try:
                ts.add(term, synonyms, label, help)
            except ValueError as exc:  # a term given in two groups, a field named twice
                problems.append(Problem(f"{ts.kind}: {exc}", file=where))

        sex = termset("sex", self.patient.sex)
        depth = termset("depth", self.clinical.depth)
        symptoms = termset("symptom", self.clinical.symptoms)
        sites = TermSet("site")
        site_groups = TermSet("site group")
        site_group_of: dict[str, str] = {}
        for group, spec in self.site_groups.items():
            add(site_groups, group, spec.synonyms)
            group_terms = termset("site", spec.terms)
            for term in group_terms.terms:
                add(sites, term, group_terms.synonyms(term))
                site_group_of[term] = fold(group)
        sides = {fold(w) for w in self.site_sides}
        for word in sorted(w for w in sides if w in sites):  # read past around a site, so never a site itself
            term = sites.normalize(word)
            owner = "a site term" if term == word else f"a synonym of {term!r}"
            problems.append(Problem(f"site_sides: {word!r} is {owner}; remove it from one of the two", file=where))
        for word, meant in self.ambiguous_sites.items():
            key = fold(word)
            said = f"ambiguous_sites: {word!r}"
            if key in sites:
                term = sites.normalize(key)
                owner = "a site term" if term == key else f"a synonym of {term!r}"
                problems.append(Problem(f"{said} is {owner}; remove it from one of the two", file=where))
                continue
            if key in sides or key in sites.ambiguous:
                problems.append(Problem(f"{said} is " + ("a side word" if key in sides else "given twice"), file=where))
                continue
            folded = [fold(m) for m in meant]
            wrong = []
            for m, f in zip(meant, folded, strict=True):
                if f in sites.terms:
                    continue
                if f in sites:
                    wrong.append(f"{m!r} is a synonym: write its term {sites.normalize(f)!r}")
                else:
                    near = sites.suggest(f)
                    wrong.append(f"{m!r} is not a site term" + (f" ({did_you_mean(near)})" if near else ""))
            twice = sorted({f for f in folded if folded.count(f) > 1})
            if twice:
                wrong.append("named twice: " + ", ".join(repr(f) for f in twice))
            if not wrong and len(folded) < 2:
                wrong.append("a word with one meaning is a synonym of its site term, not an ambiguous word")
            if wrong:
                problems.append(Problem(f"{said}: " + "; ".join(wrong), file=where))
                continue
            sites.ambiguous[key] = folded
        morphology: dict[str, MorphologyField] = {}
        fields = TermSet("morphology field")
        for name, field in self.morphology.items():
            mf = MorphologyField(fold(name), field.kind)
            if field.kind in ("list", "term"):
                mf.terms = termset(f"morphology.{name} term", field.terms)
            elif field.kind == "number":
                mf.min, mf.max = field.min, field.max
            elif field.kind != "presence":
                problems.append(Problem(f"morphology.{name}: unknown kind {field.kind!r}", file=where))
            mf.compounds = _compounds(name, field, mf.terms, problems, where)
            morphology[mf.name] = mf
            add(fields, mf.name, [], field.label, field.help)
        vocab = Vocabulary(
            sex=sex,
            depth=depth,
            symptoms=symptoms,
            sites=sites,
            site_group_of=site_group_of,
            site_groups=site_groups,
            morphology=morphology,
            morphology_fields=fields,
            presence=termset("result", self.presence),
            morphology_presence=termset(
                "result",
                [
                    spec.model_copy(update={"synonyms": [*spec.synonyms, *self.morphology_presence.get(spec.term, [])]})
                    for spec in _term_list(self.presence)
                ],
            ),
            stain_results=termset("stain result", self.stain_results),
            not_done=frozenset(fold(w) for w in self.not_done),
            not_done_or_negative=frozenset(fold(w) for w in self.not_done_or_negative),
            alteration_words={fold(w): tuple(fold(k) for k in kinds) for w, kinds in self.alteration_words.items()},
            stain_shorthand={fold(k): v.model_dump(exclude_none=True) for k, v in self.stain_shorthand.items()},
            site_sides=tuple(fold(w) for w in self.site_sides),
            stain_extents=termset("extent", self.stain_extents),
            stain_intensities=termset("intensity", self.stain_intensities),
            stain_patterns=termset("pattern", self.stain_patterns),
            stains=termset("stain", self.stains, two_names=True),
            molecular=termset("molecular test", self.molecular, two_names=True),
            source=source,
        )
        for word, expands in vocab.stain_shorthand.items():
            for part, terms in (
                ("result", vocab.stain_results),
                ("extent", vocab.stain_extents),
                ("intensity", vocab.stain_intensities),
            ):
                if part in expands and expands[part] not in terms:
                    problems.append(Problem(f"stain_shorthand: {word!r}: unknown {part} {expands[part]!r}", file=where))
        for word in sorted(vocab.not_done_or_negative):
            if word in vocab.not_done or word in vocab.stain_results or word in vocab.presence:
                problems.append(Problem(f"not_done_or_negative: {word!r} is read as a result or as not done already", file=where))
        kinds_of_tests = {test.rpartition("_")[2] for test in vocab.molecular.terms}
        for word, kinds in vocab.alteration_words.items():
            if word not in vocab.presence:
                problems.append(Problem(f"alteration_words: {word!r} is not a presence word (presence:)", file=where))
            for kind in kinds:
                if kind not in kinds_of_tests:
                    problems.append(
                        Problem(
                            f"alteration_words: {word!r}: no molecular test is of the kind {kind!r} (the last word of a term)",
                            file=where,
                            suggestions=difflib.get_close_matches(kind, sorted(kinds_of_tests), n=3),
                        )
                    )
        for stain, extra in vocab.stains.extra.items():
            for pat in extra.get("patterns", []):
                if pat not in vocab.stain_patterns:
                    problems.append(Problem(f"stain {stain}: pattern {pat!r} is not in stain_patterns", file=where))
        for ts in (t for t in vars(vocab).values() if isinstance(t, TermSet) and t is not vocab.molecular):
            for term, extra in ts.extra.items():
                if "implies" in extra:
                    problems.append(Problem(f"{ts.kind} {term}: 'implies' is for molecular tests only", file=where))
        for test, extra in vocab.molecular.extra.items():
            written = extra.get("implies")
            if written is None:
                continue
            target = vocab.molecular.normalize(written) if written in vocab.molecular else fold(written)
            extra["implies"] = target  # canonical from here on (a synonym may be written)
            if target == test:
                problems.append(Problem(f"molecular test {test}: implies itself; name the gene's rearrangement test", file=where))
            elif target not in vocab.molecular.terms:
                near = [n for n in vocab.molecular.suggest(target) if n != test]
                problems.append(
                    Problem(
                        f"molecular test {test}: implies {written!r}, which is not another molecular test"
                        + (f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""),
                        file=where,
                    )
                )
            elif vocab.molecular.extra.get(target, {}).get("implies"):
                problems.append(
                    Problem(
                        f"molecular test {test}: implies {written!r}, which implies another test in turn (one step only)", file=where
                    )
                )
        return vocab
