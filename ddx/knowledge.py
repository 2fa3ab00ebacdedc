"""Loading the knowledge base: ``rules/`` holds the vocabulary, the entities,
the settings and the rule files. Everything is validated into pydantic models
(``extra="forbid"``); a broken file is an error naming the file and line.
"""

from __future__ import annotations

import difflib
import gc
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from string import Template
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ddx.ancillary import Ancillary, canonical_test, check_classes, load_ancillary, test_paths
from ddx.case import CaseSchema, build_case_schema, error_text
from ddx.conditions import ConditionError, Node, Predicate, atoms, branch_count, compile_predicate, parse_condition
from ddx.engine_limits import (
    ENGINE_FACT_PROPERTIES,
    ENGINE_RULES,
    ENGINE_TRUE_PATHS,
    MAX_BRANCHES_PER_RULE,
    MAX_FACT_PROPERTIES,
    MAX_RULES,
)
from ddx.errors import KnowledgeError, Problem
from ddx.vocabulary import TermSet, Vocabulary, load_vocabulary
from ddx.yamlio import ReadError, key_line, load_data, strip_lines

RULE_ID = r"^[a-z0-9][a-z0-9_.\-]{0,120}$"
NEGATION_SUFFIX = ":not"



class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


COUNT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


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
    n: str | None = None        # denominator as reported, e.g. "44/73" (a count) or "never"
    k: int | None = None        # positive cases, when n is a count or the figure is pooled
    total: int | None = None    # cases tested
    strength: float | None = Field(None, gt=0)   # equivalent cases for a figure without a count
    reason: str | None = None   # one line: why an estimate has this value
    source: str | None = None   # overrides the rule's source for this figure
    pooled: tuple[Series, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "__line__"}
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

    @property
    def counted(self) -> bool:
        """True when the figure is a count (k of total cases)."""
        return self.total is not None

    def shown(self) -> str:
        text = f"{'~' if self.estimate else ''}{self.p:.2f}"
        return text + (f" ({self.n})" if self.n else "")


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
                raise ValueError(f"n {given_n!r} disagrees with the pooled series, which sum to {k}/{total} "
                                 "(leave n out: it is derived)")
            value.setdefault("n", f"{k}/{total}")
            value.setdefault("source", "pooled: " + "; ".join(f"{s.get('source')} {s.get('n')}" for s in pooled
                                                               if isinstance(s, dict)))
    elif isinstance(value.get("n"), str) and (m := COUNT.match(value["n"])):
        k, total = int(m[1]), int(m[2])
    if k is None or total is None:
        return value
    if total == 0 or k > total:
        raise ValueError(f"a count is k/n with 0 <= k <= n and n > 0, got {k}/{total}")
    if value.get("estimate"):
        raise ValueError("a count is not an estimate: drop the ~ or the count")
    if value.get("strength") is not None:
        raise ValueError("a count weighs its own denominator: drop 'strength' (it is for estimates and figures "
                         "without a denominator)")
    given = value.get("p")
    if given is not None and not isinstance(given, bool) and isinstance(given, (int, float)) \
            and abs(float(given) - k / total) > 0.011:
        raise ValueError(f"p {given} disagrees with the count {k}/{total} (= {k / total:.2f}); give one of them")
    value["p"], value["k"], value["total"] = k / total, k, total
    return value


def _parse_p(text: str) -> tuple[float, bool]:
    t = text.strip()
    est = t.startswith("~")
    try:
        return float(t.lstrip("~").strip()), est
    except ValueError:
        raise ValueError(f"a likelihood is a number between 0 and 1, a count k/n, or ~0.3 for an estimate, got {text!r}") from None


class Prior(Likelihood):
    p: float = Field(gt=0, le=1)


class Subtype(Model):
    """A subtype of an entity: its own likelihood profile and its share of the entity.

    Rules give its figures under its slug (``likelihood: {srms_tfcp2: "5/5"}``);
    a rule that gives none uses the parent entity's figure.
    """

    slug: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    short: str | None = None    # as shown in compact text ("EIMS", "TFCP2-RMS"); default: the slug in capitals
    who2020: str | None = None
    synonyms: list[str] = []
    share: Prior                # the subtype's share of the entity (cited count or estimate)
    source: str
    notes: str | None = None
    confirm_with: list[str] | None = None   # None: the entity's confirming tests; []: none
    confirm_source: str | None = None


class Entity(Model):
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
    other_short: str = "other"     # the rest of the entity in compact text ("conventional")

    @model_validator(mode="after")
    def _shares(self) -> Entity:
        total = sum(s.share.p for s in self.subtypes)
        if total >= 1.0:
            raise ValueError(f"the shares of the subtypes of {self.slug} sum to {total:.2f}; they must leave "
                             "a share (> 0) for the rest of the entity")
        return self


@dataclass(frozen=True)
class Profile:
    """One likelihood profile the ranker scores: an entity, or one of its subtypes.

    ``subtype`` is None for an entity without subtypes and for the rest of an
    entity with subtypes (named by ``Entity.other_name``).
    """

    entity: str
    subtype: str | None
    name: str
    share: float          # of the entity's prior (1 for an entity without subtypes)

    @property
    def slug(self) -> str:
        return self.subtype or self.entity


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
    id: str = Field(pattern=RULE_ID)
    title: str                         # the finding, as shown in evidence ("Desmin positive")
    status: Literal["active", "draft", "retired"]
    when: dict[str, Any]
    negated_by: dict[str, Any] | None = None   # the tested-negative complement, scored 1 - p
    negated_title: str | None = None
    likelihood: dict[str, Likelihood] | None = None
    default: Likelihood | None = None  # for entities not listed in likelihood
    rationale: str
    source: str = Field(min_length=3)
    caveat: str | None = None
    # the population the figures are taken among, for a conditional rule ("desmin-positive": the
    # figures are shares of desmin-positive tumours); reports write "of desmin-positive ILMS"
    given: str | None = None
    # the tests the caveat's text asks for (finding paths: molecular.mdm2_amplification, stains.myod1); they are
    # suggested whenever the caveat is shown (ddx/suggest.py)
    caveat_tests: list[str] = []
    author: str | None = None
    updated: str | None = None
    examples: Examples | None = None

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
        return self


class BandWhen(Model):
    """When a confidence band applies; every given bound must hold."""

    leader_min: float | None = Field(None, ge=0, le=1)   # leader's probability ≥
    leader_max: float | None = Field(None, ge=0, le=1)   # leader's probability <
    margin_min: float | None = Field(None, ge=0, le=1)   # leader − runner-up ≥
    margin_max: float | None = Field(None, ge=0, le=1)   # leader − runner-up <
    confirm_tested: bool | None = None   # a confirming test of the leader is / is not recorded
    has_confirmatory_test: bool | None = None   # the leader has / has no confirming test listed
    min_informative: int | None = Field(None, ge=0)   # at least this many findings separate the two leaders
    max_ancillary: int | None = Field(None, ge=0)     # at most this many scored stains / molecular results
    outside: bool | None = None   # the findings point / do not point outside the differential


BAND_FIELDS = frozenset({"leader", "runner_up", "next_test", "next_why", "confirm_tests", "outside"})
REPORT_FIELDS = frozenset({"site", "diagnosis", "leader", "probability", "band"})


def _check_template(text: str, allowed: frozenset[str]) -> str:
    template = Template(text)
    if not template.is_valid():
        raise ValueError("malformed $placeholder (write $$ for a literal dollar sign)")
    unknown = set(template.get_identifiers()) - allowed
    if unknown:
        raise ValueError(f"unknown placeholder(s) {', '.join(sorted('$' + u for u in unknown))}; "
                         f"use {', '.join(sorted('$' + a for a in allowed))}")
    return text


class Band(Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    label: str
    when: BandWhen = BandWhen()
    action: str   # $leader, $runner_up, $next_test, $next_why, $confirm_tests are filled in
    action_no_test: str | None = None   # the action when no test is suggested (default: action)
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
    informative_spread: float = Field(0.2, ge=0, le=10)   # log10 ratio between the two leaders for a finding to be informative
    unexplained_below: float = Field(0.1, gt=0, lt=1)   # a finding no profile shows this often is unexplained
    rationale: str | None = None
    source: str | None = None


class NextTests(Model):
    """How next tests are offered (ddx/suggest.py): a test whose expected information gain is below
    ``min_gain`` bits is not offered; when none reaches it, the output says no further test separates the
    leaders."""

    min_gain: float = Field(0.05, ge=0, le=10)   # bits
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


class Settings(Model):
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
            raise ValueError(f"clamp must be two probabilities with 0 < low < high < 1 (a likelihood of 0 or 1 "
                             f"would make one finding decide alone); got [{low}, {high}]")
        return v


class OutsideEntity(Model):
    """An entity outside ddx's differential that recorded findings can point to (rules/outside.yaml)."""

    slug: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    name: str
    when: dict[str, Any]
    findings: list[str] = []    # the finding paths it accounts for (e.g. stains.sox10)
    rationale: str
    source: str = Field(min_length=3)


@dataclass
class Outside:
    """A compiled outside-the-differential pattern."""

    spec: OutsideEntity
    predicate: Predicate


class EntityReport(Model):
    diagnosis: str                 # the diagnosis line as a pathologist writes it
    comment: str = ""              # entity-specific closing sentences, cited
    source: str | None = None


# The placeholders each frame of reports.yaml may use (a frame using another is a load error).
REPORT_FRAMES: dict[str, frozenset[str]] = {
    "heading": REPORT_FIELDS, "specimen": REPORT_FIELDS, "favoured": REPORT_FIELDS, "overall": REPORT_FIELDS,
    "disclaimer": REPORT_FIELDS,
    "favoured_outside": REPORT_FIELDS | {"lesion"}, "overall_outside": REPORT_FIELDS, "outside_heading": REPORT_FIELDS,
    "favoured_subtype": REPORT_FIELDS | {"subtype", "share"},
    "subtype": REPORT_FIELDS | {"subtype", "share"},
    "other_subtype": frozenset({"diagnosis", "subtype", "share"}),
    "contrast": frozenset({"finding", "leader_p", "leader_short", "leader_figure",
                           "other_p", "other_short", "other_figure"}),
    "evidence_source": frozenset({"finding", "figure", "source"}),
    "unused": frozenset({"findings"}),
    "outside_pointer": frozenset({"findings", "name", "source", "rationale"}),
    "outside_unexplained": frozenset({"finding", "p", "best"}),
    "findings": frozenset({"label", "value"}),
    "lesion": frozenset({"cells"}), "lesion_inflamed": frozenset({"cells"}),
    "lesion_cells_unknown": frozenset(), "no_findings": frozenset(),
    "differential_heading": frozenset(), "differential_heading_descriptive": frozenset(),
    "differential_item": frozenset({"name", "probability", "why"}),
    "differential_item_descriptive": frozenset({"name", "probability", "why", "leader_short"}),
    "differential_no_reason": frozenset({"name", "probability", "leader_short"}), "confidence": frozenset({"label", "action"}),
    "tests_heading": frozenset(), "caveats_heading": frozenset(), "caveat": frozenset({"text", "source"}),
    "sources_heading": frozenset(),
    "favoured_descriptive": REPORT_FIELDS | {"lesion"},
    "overall_descriptive": REPORT_FIELDS | {"lesion", "leaders", "probabilities", "next_test"},
    "overall_descriptive_no_test": REPORT_FIELDS | {"lesion", "leaders", "probabilities"},
}


PROSE_FIELDS = frozenset({"label", "value", "values"})


class ProseSentence(Model):
    """One sentence of the report's morphology description (reports.yaml ``morphology_prose``).

    ``sentence`` holds ``$phrases``; ``fields`` maps a morphology field (``*``: any field no
    earlier key names) to a phrase frame (``$label``, ``$value``, ``$values``), or to frames by
    recorded value (``present``, ``absent``, a term, a number; ``*`` for any other value); a
    value without a frame, or with an empty one, leaves the field to a later sentence. The sentence is written when
    every field in ``requires`` is recorded and not yet described. ``join``: ``list`` joins the
    phrases as "a, b and c", ``or`` as "a, b or c", ``words`` one after the other.
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

    sentence: str = "Immunohistochemistry shows that the tumour cells are $groups."
    group: str = "$result for $stains"
    results: dict[str, str] = {"diffuse": "diffusely positive", "positive": "positive",
                               "patchy": "patchily positive", "focal": "focally positive",
                               "negative": "negative", "equivocal": "equivocal"}
    details: dict[str, str] = {"intensity": "$value staining", "pattern": "$value pattern",
                               "percent": "$value% of cells"}
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
    sex: str = "$value"
    site: str = "$value"          # with its depth, when recorded: ``depth_site``
    depth_site: str = "$depth $value"
    size_cm: str = "$value cm"
    presentation: str = "$value"
    symptoms: str = "$value"

    @model_validator(mode="after")
    def _frames(self) -> ClinicalProse:
        _check_template(self.sentence, frozenset({"parts"}))
        for name in ("age", "sex", "site", "size_cm", "presentation", "symptoms"):
            _check_template(getattr(self, name), frozenset({"value"}))
        _check_template(self.depth_site, frozenset({"value", "depth"}))
        return self


class ReportTemplates(Model):
    """rules/reports.yaml: the wording of ``ddx eval --format report``.

    Each sentence frame takes the placeholders listed for it in ``_fields``
    (``$site``, ``$diagnosis`` ...); ``findings`` words one recorded finding
    (``$label``, ``$value``), keyed by its path with ``*`` for any term
    (``stains.*.extent``), the most specific key first.
    """

    heading: str = "DRAFT COMMENT (ddx decision support; not a diagnosis)"
    specimen: str = "Soft tissue tumour, $site:"
    favoured: str = "$diagnosis (see comment)"
    overall: str = "Overall, these findings favour $diagnosis."
    disclaimer: str = ""
    # the leader's leading subtype, when it is not the entity's conventional / rest profile
    favoured_subtype: str = "$diagnosis, favouring the $subtype subtype (see comment)"
    subtype: str = "Of its subtypes, the findings favour the $subtype subtype ($share of the entity's probability)."
    other_subtype: str = "$diagnosis, mainly the $subtype subtype"
    # the findings that separate the leader from another candidate, with their figures
    contrast: str = ("$finding ($leader_p of $leader_short [$leader_figure] vs "
                     "$other_p of $other_short [$other_figure])")
    evidence_source: str = "$finding ($figure): $source"
    # recorded findings no matched scoring rule reads
    unused: str = "The following recorded findings are not used by ddx's ranking: $findings."
    # findings that point outside the modelled entities
    favoured_outside: str = "$diagnosis ranks first among the modelled entities; the findings point outside them (see comment)"
    overall_outside: str = ("Among the entities ddx models, $leader ranks first (ddx: $probability; $band); "
                            "this probability assumes the diagnosis is one of them.")
    outside_heading: str = "Caution - findings outside ddx's differential:"
    outside_pointer: str = "$findings: consider $name, which ddx does not model ($source)."
    outside_unexplained: str = "$finding: not typical of any modelled entity (at most $p, in $best)."
    # bands in which the report favours no diagnosis: the diagnosis line describes the lesion and the
    # closing sentence names the leaders and the test that separates them
    descriptive_bands: list[str] = ["open", "open-thin", "close"]
    descriptive_below: float = Field(0.75, ge=0, le=1)   # ... and any leader below this probability
    lesion: str = "$cells neoplasm"
    lesion_inflamed: str = "$cells neoplasm with an inflammatory background"
    lesion_cells_unknown: str = "mesenchymal"
    favoured_descriptive: str = "$lesion (see comment)"
    overall_descriptive: str = ("The findings entered do not yet separate $leaders (ddx: $probabilities; $band); "
                                "no diagnosis is favoured. $next_test would best separate them.")
    overall_descriptive_no_test: str = ("The findings entered do not separate $leaders (ddx: $probabilities; $band), "
                                        "and no further test that ddx models separates them; no diagnosis is favoured.")
    # the comment's description of the case (the default writes every recorded field plainly)
    morphology_prose: list[ProseSentence] = [ProseSentence(sentence="Recorded morphology: $phrases.",
                                                           fields={"*": "$label $value"})]
    clinical_prose: ClinicalProse = ClinicalProse()
    stain_prose: StainProse = StainProse()
    molecular_prose: MolecularProse = MolecularProse()
    no_findings: str = "No morphologic, immunohistochemical or molecular findings were recorded."
    # the candidates below the leader ($name, $probability, $why: the contrasts, or differential_no_reason)
    differential_heading: str = "Differential diagnosis considered:"
    differential_item: str = "$name ($probability): less likely because of $why."
    differential_heading_descriptive: str = "Candidates considered:"
    differential_item_descriptive: str = "$name ($probability): ranks below $leader_short because of $why."
    differential_no_reason: str = ("$name ($probability): no recorded finding separates it from $leader_short; "
                                   "it ranks lower on prior frequency.")
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
                raise ValueError(f"findings key {key!r}: write a finding path, with * for any term "
                                 "(stains.*, stains.*.extent, morphology.cell_types) or * alone")
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


@dataclass
class Rule:
    """A validated, compiled rule (one of the two halves of a rule spec)."""

    id: str                    # engine id: the spec id, or spec id + ":not"
    spec: RuleSpec
    negated: bool
    condition: Node
    predicate: Predicate
    file: str
    line: int | None           # the line of this half's condition
    spec_line: int | None = None   # the line where the rule starts (its "- id:")

    @property
    def title(self) -> str:
        if self.negated:
            return self.spec.negated_title or f"{self.spec.title}: negative"
        return self.spec.title

    @cached_property
    def keys(self) -> frozenset[str]:
        """The fact keys the condition reads (computed once: the matcher, the ranker and the suggester ask often)."""
        return frozenset(a.key for a in atoms(self.condition))

    def likelihood(self, entity: str) -> Likelihood | None:
        lk = self.spec.likelihood or {}
        return lk.get(entity, self.spec.default)


def _prose_problems(reports: ReportTemplates, vocab: Vocabulary, file: str) -> list[Problem]:
    """Morphology prose and term words that name no vocabulary field or term (a typo would leave a
    recorded finding out of the report)."""
    problems = []
    fields = vocab.morphology
    for i, sentence in enumerate(reports.morphology_prose):
        for name in (*sentence.fields, *sentence.requires):
            if name != "*" and name not in fields:
                problems.append(Problem(f"morphology_prose[{i}]: {name!r} is not a morphology field", file=file,
                                        path=f"morphology_prose.{i}", suggestions=vocab.morphology_fields.suggest(name)))
        for name, spec in sentence.fields.items():
            mf = fields.get(name)
            if isinstance(spec, str) or mf is None or mf.kind == "number":
                continue
            terms = vocab.presence if mf.kind == "presence" else mf.terms
            for value in spec:
                if value != "*" and terms is not None and value not in terms.terms:
                    problems.append(Problem(f"morphology_prose[{i}].fields.{name}: {value!r} is not a term of "
                                            f"{name}", file=file, path=f"morphology_prose.{i}.fields.{name}",
                                            suggestions=terms.suggest(value)))
    for path, words in reports.term_words.items():
        terms = vocab.termset_for(path)
        if terms is None:
            problems.append(Problem(f"term_words: {path!r} is not a field with terms", file=file,
                                    path=f"term_words.{path}"))
            continue
        for term in words:
            if term not in terms.terms:
                problems.append(Problem(f"term_words.{path}: {term!r} is not a term of {path}", file=file,
                                        path=f"term_words.{path}", suggestions=terms.suggest(term)))
    return problems


@dataclass
class Knowledge:
    directory: Path
    settings: Settings
    vocab: Vocabulary
    entities: list[Entity]
    rules: list[Rule]
    content_hash: str
    files: list[Path] = field(default_factory=list)
    reports: ReportTemplates = field(default_factory=ReportTemplates)
    entity_lines: dict[str, int] = field(default_factory=dict)   # slug -> line in entities.yaml
    outside: list[Outside] = field(default_factory=list)         # rules/outside.yaml
    prior_set: str | None = None   # the settings prior set applied to the entities' priors, if any
    file_priors: dict[str, Prior] = field(default_factory=dict)   # entities.yaml's priors, by slug
    ancillary: Ancillary = field(default_factory=Ancillary)       # rules/ancillary.yaml: test costs, exclusive findings

    @cached_property
    def entity_slugs(self) -> list[str]:
        return [e.slug for e in self.entities]

    @cached_property
    def entity_terms(self) -> TermSet:
        """Entity and subtype slugs with their synonyms (what ``expected`` accepts)."""
        ts = TermSet("entity")
        for e in self.entities:
            ts.add(e.slug, e.synonyms, label=e.name)
            for s in e.subtypes:
                ts.add(s.slug, s.synonyms, label=s.name)
        return ts

    @cached_property
    def subtype(self) -> dict[str, Subtype]:
        """subtype slug -> its definition."""
        return {s.slug: s for e in self.entities for s in e.subtypes}

    @cached_property
    def profiles(self) -> list[Profile]:
        """Every likelihood profile, entity by entity: an entity without subtypes is one
        profile; an entity with subtypes is its rest (share 1 - the subtypes' shares)
        followed by each subtype."""
        out = []
        for e in self.entities:
            if not e.subtypes:
                out.append(Profile(e.slug, None, e.name, 1.0))
                continue
            rest = 1.0 - sum(s.share.p for s in e.subtypes)
            out.append(Profile(e.slug, None, e.other_name or f"{e.name}, other", rest))
            out += [Profile(e.slug, s.slug, s.name, s.share.p) for s in e.subtypes]
        return out

    @cached_property
    def entity(self) -> dict[str, Entity]:
        return {e.slug: e for e in self.entities}

    @cached_property
    def rule(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    @cached_property
    def active_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.spec.status == "active"]

    @cached_property
    def case_schema(self) -> CaseSchema:
        return build_case_schema(self.vocab, self.entity_terms)

    @cached_property
    def referenced_keys(self) -> frozenset[str]:
        keys: set[str] = set()
        for r in self.active_rules:
            keys |= r.keys
        return frozenset(keys)

    @cached_property
    def caveat_tests(self) -> dict[str, tuple[str, ...]]:
        """Rule spec id -> the tests its caveat asks for, as canonical finding paths (``molecular.x``)."""
        out = {}
        for r in self.rules:
            if r.spec.caveat_tests and not r.negated:
                out[r.spec.id] = tuple(c for t in r.spec.caveat_tests if (c := canonical_test(t, self.vocab)))
        return out

    def parent(self, slug: str) -> str:
        """The entity a slug is scored as: a subtype's entity, a variant's parent, else the slug."""
        for entity in self.entities:
            if any(s.slug == slug for s in entity.subtypes):
                return entity.slug
        found = self.entity.get(slug)
        return found.variant_of if found is not None and found.variant_of else slug

    def short_name(self, slug: str) -> str:
        """'IMT', 'EIMS', 'TFCP2-RMS': a subtype's short name, else the slug (entity or subtype) in capitals."""
        sub = self.subtype.get(slug)
        return sub.short if sub is not None and sub.short else slug.upper()

    def profile_likelihood(self, rule: Rule, profile: Profile) -> Likelihood | None:
        """The figure a rule gives a profile: the subtype's own, else its entity's."""
        if profile.subtype is not None and rule.spec.likelihood and profile.subtype in rule.spec.likelihood:
            return rule.spec.likelihood[profile.subtype]
        return rule.likelihood(profile.entity)

    @property
    def packaged(self) -> bool:
        """True when these are the rules shipped with ddx (:func:`packaged_rules_dir`), however they were named."""
        try:
            return self.directory.resolve() == packaged_rules_dir().resolve()
        except (KnowledgeError, OSError):
            return False

    @property
    def location(self) -> str:
        """Where the rules came from, as provenance lines print it: ``packaged`` for the rules shipped with
        ddx (never the install's path, which differs from machine to machine), else the directory as it
        was given (``--rules DIR``, ``$DDX_RULES``)."""
        return "packaged" if self.packaged else str(self.directory)

    @property
    def version_line(self) -> str:
        """``rules VERSION (HASH12, LOCATION[, prior set NAME])``, e.g. ``rules 2026.11.29 (bb12ba9f1a39,
        packaged)``: the provenance line of every text output (see :attr:`location`)."""
        priors = f", prior set {self.prior_set}" if self.prior_set else ""
        return f"rules {self.settings.version} ({self.content_hash[:12]}, {self.location}{priors})"

    def with_prior_set(self, name: str | None) -> Knowledge:
        """This knowledge with the priors of settings ``prior_sets[name]`` (``None``: entities.yaml's own,
        whatever the settings' default ``prior_set``; :func:`load_knowledge` applies that default).

        Raises :class:`KnowledgeError` naming the known sets when ``name`` is not one of them.
        """
        if name == self.prior_set:
            return self
        own = self.file_priors or {e.slug: e.prior for e in self.entities}
        chosen = self.settings.prior_sets.get(name) if name is not None else None
        if name is not None and chosen is None:
            known = sorted(self.settings.prior_sets)
            raise KnowledgeError([Problem(
                f"no prior set {name!r} in the settings; " + (f"known: {', '.join(known)}" if known else
                                                              "settings.yaml defines none (prior_sets:)"),
                file=str(self.directory / "settings.yaml"), suggestions=difflib.get_close_matches(name, known))])
        priors = chosen.priors if chosen is not None else own
        entities = [e.model_copy(update={"prior": priors[e.slug]}) for e in self.entities]
        return replace(self, entities=entities, prior_set=name, file_priors=own)


# ------------------------------------------------------------------ loading


def packaged_rules_dir() -> Path:
    """The rules shipped with ddx: inside the wheel, or the checkout's rules/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_rules", here.parent / "rules"):
        if (candidate / "vocabulary.yaml").is_file():
            return candidate
    raise KnowledgeError([Problem("no packaged rules found (expected ddx/_rules or rules/)")])


def resolve_rules_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--rules DIR``, else ``$DDX_RULES``, else the packaged rules."""
    chosen = explicit or os.environ.get("DDX_RULES")
    if chosen:
        path = Path(chosen).expanduser()
        if not (path / "vocabulary.yaml").is_file():
            raise KnowledgeError([Problem("not a ddx rules directory (no vocabulary.yaml)", file=str(path))])
        return path
    return packaged_rules_dir()


def _located(exc: ValidationError, file: str, data: Any, base_line: int | None,
             code: str = "schema") -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=True):
        loc = [str(p) for p in err["loc"]]
        line = base_line
        node = data
        for part in err["loc"]:  # walk to the deepest key or mapping that carries a line
            line = key_line(node, part) or line
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
            if isinstance(node, dict) and "__line__" in node:
                line = node["__line__"]
        msg = error_text(err)
        if "likelihood" in loc or "default" in loc or loc[-1:] == ["prior"] or "prior" in loc:
            kind = "weight"
        else:
            kind = code
        problems.append(Problem(msg, file=file, line=line, path=".".join(loc) or None, code=kind))
    return problems


def _load_yaml(path: Path, problems: list[Problem], overrides: Mapping[Path, str]) -> Any:
    try:
        return load_data(path, with_lines=True, text=overrides.get(path), plain=True, cache=True)
    except ReadError as exc:
        problems.append(Problem(str(exc), file=str(path), line=exc.line, code="syntax"))
        return None


def load_knowledge(directory: str | os.PathLike[str] | None = None, *,
                   overrides: Mapping[Path, str] | None = None) -> Knowledge:
    """Load and validate a rules directory.

    ``overrides`` maps files of the directory to text that replaces their
    content on disk (an edit not yet saved); a new file among them is loaded too.
    The settings' default ``prior_set``, if any, is applied (another: :meth:`Knowledge.with_prior_set`).
    Raises :class:`KnowledgeError` listing every problem found.
    """
    knowledge, problems = load_knowledge_partial(directory, overrides=overrides)
    if problems or knowledge is None:
        raise KnowledgeError(problems)
    return knowledge


def load_knowledge_partial(directory: str | os.PathLike[str] | None = None, *,
                           overrides: Mapping[Path, str] | None = None) -> tuple[Knowledge | None, list[Problem]]:
    """Load a rules directory as far as it goes: ``(knowledge, problems)``.

    With no problems this is :func:`load_knowledge`. With problems, ``knowledge``
    holds what could be read (the rules, entities and settings that are valid) so
    that ``ddx rules check`` can run its checks of single rules on them in the
    same pass; it is None when the vocabulary cannot be read. Such a partial
    knowledge base is for checking only, never for ranking.
    Raises :class:`KnowledgeError` only for a folder that is not a rules directory.
    """
    root = resolve_rules_dir(directory)
    collecting = gc.isenabled()
    # loading makes tens of thousands of objects that live on: the collector's passes (68 in a load without the
    # rules cache, 131 objects found in all) cost about 7 ms and free next to nothing
    gc.disable()
    try:
        return _load_parts(root, overrides)
    except KnowledgeError as exc:       # the vocabulary: nothing else can be read without it
        return None, exc.problems
    finally:
        if collecting:
            gc.enable()


def _load_parts(root: Path, overrides: Mapping[Path, str] | None) -> tuple[Knowledge, list[Problem]]:
    over = {Path(k): v for k, v in (overrides or {}).items()}
    problems: list[Problem] = []
    vocab = load_vocabulary(root / "vocabulary.yaml", over.get(root / "vocabulary.yaml"))
    files = [root / "vocabulary.yaml", root / "settings.yaml", root / "entities.yaml"]

    settings_data = _load_yaml(root / "settings.yaml", problems, over)
    settings = Settings(version="unknown")
    if settings_data is not None:
        try:
            settings = Settings.model_validate(strip_lines(settings_data))
        except ValidationError as exc:
            problems += _located(exc, str(root / "settings.yaml"), settings_data, None)

    entities: list[Entity] = []
    entity_lines: dict[str, int] = {}
    ent_file = root / "entities.yaml"
    ent_data = _load_yaml(ent_file, problems, over)
    if ent_data is not None:
        if not isinstance(ent_data, dict) or not isinstance(ent_data.get("entities"), list):
            problems.append(Problem("expected a top-level 'entities:' list", file=str(ent_file)))
        else:
            for raw in ent_data["entities"]:
                line = raw.get("__line__") if isinstance(raw, dict) else None
                try:
                    entities.append(Entity.model_validate(strip_lines(raw)))
                    if line:
                        entity_lines[entities[-1].slug] = line
                except ValidationError as exc:
                    problems += _located(exc, str(ent_file), raw, line)
    slugs = [e.slug for e in entities]
    sub_slugs = [s.slug for e in entities for s in e.subtypes]
    paths = vocab.finding_paths()
    for slug in sorted(set(sub_slugs)):
        if sub_slugs.count(slug) > 1 or slug in slugs:
            problems.append(Problem(f"subtype slug {slug!r} is used twice (entity and subtype slugs are one namespace)",
                                    file=str(ent_file), line=entity_lines.get(slug)))
    for e in entities:
        if slugs.count(e.slug) > 1:
            problems.append(Problem(f"duplicate entity slug {e.slug!r}", file=str(ent_file)))
        for sub in e.subtypes:
            for finding in sub.confirm_with or []:
                if finding not in paths:
                    problems.append(Problem(f"{sub.slug}: confirm_with {finding!r} is not a finding", file=str(ent_file),
                                            path=f"{e.slug}.subtypes.{sub.slug}.confirm_with"))
        if e.variant_of and e.variant_of not in slugs:
            problems.append(Problem(f"{e.slug}: variant_of {e.variant_of!r} is not an entity", file=str(ent_file)))
        for finding in e.confirm_with:
            if finding not in paths:
                near = TermSet("path", _lookup={p: p for p in paths}).suggest(finding)
                problems.append(Problem(f"{e.slug}: confirm_with {finding!r} is not a finding", file=str(ent_file),
                                        path=f"{e.slug}.confirm_with", suggestions=near))

    reports = ReportTemplates()
    rep_file = root / "reports.yaml"
    if rep_file.is_file():
        files.append(rep_file)
        rep_data = _load_yaml(rep_file, problems, over)
        if rep_data is not None:
            try:
                reports = ReportTemplates.model_validate(strip_lines(rep_data))
            except ValidationError as exc:
                problems += _located(exc, str(rep_file), rep_data, None)
            for slug in reports.entities:
                if slug not in slugs and slug not in sub_slugs:
                    problems.append(Problem(f"report template for unknown entity {slug!r}", file=str(rep_file),
                                            path=f"entities.{slug}", suggestions=sorted(slugs)))
            problems += _prose_problems(reports, vocab, str(rep_file))
            band_ids = {b.id for b in settings.bands}
            for band_id in reports.descriptive_bands:
                if band_ids and band_id not in band_ids:
                    problems.append(Problem(f"descriptive_bands: {band_id!r} is not a band of settings.yaml",
                                            file=str(rep_file), path="descriptive_bands",
                                            suggestions=sorted(band_ids)))

    outside: list[Outside] = []
    out_file = root / "outside.yaml"
    if out_file.is_file() or out_file in over:
        files.append(out_file)
        out_data = _load_yaml(out_file, problems, over)
        if out_data is not None:
            if not isinstance(out_data, dict) or not isinstance(out_data.get("outside"), list):
                problems.append(Problem("expected a top-level 'outside:' list", file=str(out_file), code="schema"))
            else:
                outside = _load_outside(out_data["outside"], out_file, vocab, problems)

    # ancillary.yaml: a rules folder made before it existed reads the packaged one (its own tests, if any,
    # are then reported as having no cost class, at that file)
    anc_file = root / "ancillary.yaml"
    if not (anc_file.is_file() or anc_file in over):
        anc_file = packaged_rules_dir() / "ancillary.yaml"
    anc_data = None
    ancillary = Ancillary(file=str(anc_file))
    if anc_file.is_file() or anc_file in over:
        files.append(anc_file)
        anc_data = _load_yaml(anc_file, problems, over)
        if anc_data is not None:
            ancillary = load_ancillary(anc_data, anc_file, vocab, problems)

    rules: list[Rule] = []
    rule_dir = root / "rules"
    rule_files = sorted(set(rule_dir.glob("*.yaml")) | set(rule_dir.glob("*.yml"))
                        | {p for p in over if p.parent == rule_dir and p.suffix in (".yaml", ".yml")})
    if not rule_files:
        problems.append(Problem("no rule files (rules/*.yaml)", file=str(rule_dir)))
    seen: dict[str, str] = {}
    for path in rule_files:
        files.append(path)
        before = len(problems)
        data = _load_yaml(path, problems, over)
        if data is None:
            if len(problems) == before:
                problems.append(Problem("the file is empty; expected a top-level 'rules:' list", file=str(path),
                                        code="schema"))
            continue
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            problems.append(Problem("expected a top-level 'rules:' list", file=str(path),
                                    line=key_line(data, "rules") or 1, code="schema"))
            continue
        list_line = key_line(data, "rules")
        for raw in data["rules"]:
            if not isinstance(raw, dict):
                problems.append(Problem(f"each rule must be a mapping ('- id: ...'), got {raw!r:.60}", file=str(path),
                                        line=list_line, code="schema"))
                continue
            rules += _load_rule(raw, path, vocab, set(slugs), seen, problems, set(sub_slugs))

    if anc_data is not None:
        offered = [(f"{k.split('__')[0]}.{k.split('__')[1]}", f"rule {r.id}", r.file, r.line or r.spec_line)
                   for r in rules if r.spec.status == "active" and r.spec.likelihood is not None
                   for k in sorted(r.keys) if k.startswith(("stains__", "molecular__"))]
        offered += [(c, f"the caveat of rule {r.spec.id}", r.file, r.spec_line)
                    for r in rules if not r.negated for t in r.spec.caveat_tests if (c := canonical_test(t, vocab))]
        check_classes(ancillary, offered, anc_data, problems)
    if len(rules) > MAX_RULES:
        problems.append(Problem(f"{len(rules)} rules; the limit is {MAX_RULES} (durable-rules: {ENGINE_RULES} rules per ruleset)",
                                file=str(rule_dir), code="engine-limit"))
    keys = {k for r in rules if r.spec.status == "active" for k in r.keys}
    if len(keys) > MAX_FACT_PROPERTIES:
        problems.append(Problem(
            f"rules test {len(keys)} distinct findings; the limit is {MAX_FACT_PROPERTIES} "
            f"(durable-rules: {ENGINE_FACT_PROPERTIES} properties per fact)", file=str(rule_dir), code="engine-limit"))
    for stain in settings.core_stains:
        if stain not in vocab.stains.terms:
            problems.append(Problem(f"core_stains: {stain!r} is not a stain of the vocabulary",
                                    file=str(root / "settings.yaml"), suggestions=vocab.stains.suggest(stain)))
    for name, chosen in settings.prior_sets.items():
        missing = sorted(set(slugs) - set(chosen.priors))
        unknown = sorted(set(chosen.priors) - set(slugs))
        if missing:
            problems.append(Problem(f"prior set {name!r}: no prior for {', '.join(missing)}",
                                    file=str(root / "settings.yaml")))
        if unknown:
            problems.append(Problem(f"prior set {name!r}: unknown entities {', '.join(unknown)}",
                                    file=str(root / "settings.yaml"), suggestions=missing[:5]))
    if settings.prior_set is not None and settings.prior_set not in settings.prior_sets:
        problems.append(Problem(f"prior_set {settings.prior_set!r} is not one of prior_sets "
                                f"({', '.join(sorted(settings.prior_sets)) or 'none defined'})",
                                file=str(root / "settings.yaml")))
    synonyms = TermSet("entity")
    for e in entities:
        for slug, names in ((e.slug, e.synonyms), *((sub.slug, sub.synonyms) for sub in e.subtypes)):
            try:
                synonyms.add(slug, names)
            except ValueError as exc:   # a synonym (or slug) given to two entities
                problems.append(Problem(str(exc), file=str(root / "entities.yaml"), code="schema"))
    knowledge = Knowledge(root, settings, vocab, entities, rules, _hash_files(files, over), files, reports,
                          entity_lines, outside, file_priors={e.slug: e.prior for e in entities}, ancillary=ancillary)
    if problems:
        return knowledge, problems
    return knowledge.with_prior_set(settings.prior_set), problems


def _load_outside(items: list[Any], path: Path, vocab: Vocabulary, problems: list[Problem]) -> list[Outside]:
    out = []
    paths = vocab.finding_paths()
    seen: set[str] = set()
    for raw in items:
        line = raw.get("__line__") if isinstance(raw, dict) else None
        try:
            spec = OutsideEntity.model_validate(_strip_top(raw))
        except ValidationError as exc:
            problems += _located(exc, str(path), raw, line)
            continue
        if spec.slug in seen:
            problems.append(Problem(f"duplicate outside entity {spec.slug!r}", file=str(path), line=line))
        seen.add(spec.slug)
        for finding in spec.findings:
            if finding not in paths:
                near = TermSet("path", _lookup={p: p for p in paths}).suggest(finding)
                problems.append(Problem(f"{spec.slug}: {finding!r} is not a finding", file=str(path), line=line,
                                        suggestions=near, code="unknown-term"))
        try:
            node = parse_condition(spec.when, vocab)
        except ConditionError as exc:
            problems.append(Problem(f"{spec.slug}: {exc}", file=str(path), line=line, suggestions=exc.suggestions,
                                    code="condition"))
            continue
        out.append(Outside(spec, compile_predicate(node)))
    return out


def _load_rule(raw: Any, path: Path, vocab: Vocabulary, slugs: set[str], seen: dict[str, str],
               problems: list[Problem], subtypes: set[str] | None = None) -> list[Rule]:
    file = str(path)
    line = raw.get("__line__") if isinstance(raw, dict) else None
    try:
        spec = RuleSpec.model_validate(_strip_top(raw))
    except ValidationError as exc:
        problems += _located(exc, file, raw, line)
        _check_unparsed_rule(raw, exc, file, line, vocab, slugs | (subtypes or set()), problems)
        return []
    where = f"{file}:{line}" if line else file
    if spec.id in seen:
        problems.append(Problem(f"duplicate rule id {spec.id!r} (first defined at {seen[spec.id]})", file=file, line=line,
                                code="duplicate-id"))
        return []
    seen[spec.id] = where
    known = slugs | (subtypes or set())
    for slug in list((spec.likelihood or {}).keys()):
        if slug not in known:
            near = TermSet("entity", _lookup={s: s for s in known}).suggest(slug)
            lk_line = key_line(raw.get("likelihood"), slug) or line
            problems.append(Problem(f"rule {spec.id}: unknown entity {slug!r}", file=file, line=lk_line, suggestions=near,
                                    code="unknown-term"))
    if spec.likelihood is not None and spec.default is None:
        missing = sorted(slugs - set(spec.likelihood))
        if missing:
            problems.append(Problem(f"rule {spec.id}: no likelihood for {', '.join(missing)}; add them or a 'default'",
                                    file=file, line=line, code="weight"))
    for test in spec.caveat_tests:
        if canonical_test(test, vocab) is None:
            paths = test_paths(vocab)
            problems.append(Problem(f"rule {spec.id}: caveat_tests: {test!r} is not a stain or molecular test "
                                    "(write stains.<stain> or molecular.<test>)", file=file,
                                    line=key_line(raw, "caveat_tests") or line, suggestions=paths.suggest(test),
                                    code="unknown-term"))
    out = []
    for negated, cond in ((False, spec.when), (True, spec.negated_by)):
        if cond is None:
            continue
        cond_line = cond.get("__line__", line) if isinstance(cond, dict) else line
        try:
            node = parse_condition(cond, vocab)
        except ConditionError as exc:
            problems.append(Problem(f"rule {spec.id}: {exc}", file=file, line=cond_line, suggestions=exc.suggestions,
                                    code="unknown-term" if exc.suggestions or "unknown" in str(exc) else "condition"))
            continue
        branches = branch_count(node)
        if branches > MAX_BRANCHES_PER_RULE:
            problems.append(Problem(
                f"rule {spec.id}: condition expands to {branches} alternatives; the limit is "
                f"{MAX_BRANCHES_PER_RULE} (durable-rules fails beyond {ENGINE_TRUE_PATHS} alpha tests true at once)",
                file=file, line=cond_line, code="engine-limit"))
            continue
        rid = spec.id + (NEGATION_SUFFIX if negated else "")
        out.append(Rule(rid, spec, negated, node, compile_predicate(node), file, cond_line, line))
    return out


def _check_unparsed_rule(raw: dict[str, Any], exc: ValidationError, file: str, line: int | None, vocab: Vocabulary,
                         known: set[str], problems: list[Problem]) -> None:
    """The checks of a rule that does not validate (a weight out of range, a key missing) which do not
    need it to: its entities and its conditions' terms, so one pass reports all its problems."""
    rule_id = raw.get("id") if isinstance(raw.get("id"), str) else "?"
    failed = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    likelihood = raw.get("likelihood")
    if isinstance(likelihood, dict):
        for slug in likelihood:
            if slug != "__line__" and isinstance(slug, str) and slug not in known:
                near = TermSet("entity", _lookup={s: s for s in known}).suggest(slug)
                problems.append(Problem(f"rule {rule_id}: unknown entity {slug!r}", file=file,
                                        line=key_line(likelihood, slug) or line, suggestions=near, code="unknown-term"))
    for key in ("when", "negated_by"):
        cond = raw.get(key)
        if not isinstance(cond, dict) or key in failed:
            continue
        try:
            parse_condition(cond, vocab)
        except ConditionError as err:
            problems.append(Problem(f"rule {rule_id}: {err}", file=file, line=cond.get("__line__", line),
                                    suggestions=err.suggestions,
                                    code="unknown-term" if err.suggestions or "unknown" in str(err) else "condition"))


def _strip_top(raw: Any) -> Any:
    """Strip line markers except inside conditions (kept for error lines)."""
    if not isinstance(raw, dict):
        return raw
    out = {}
    for k, v in raw.items():
        if k == "__line__":
            continue
        out[k] = v if k in ("when", "negated_by", "examples") else strip_lines(v)
    return out


def _hash_files(files: list[Path], overrides: Mapping[Path, str]) -> str:
    h = hashlib.sha256()
    for f in files:
        if f in overrides:
            h.update(f.name.encode())
            h.update(overrides[f].encode("utf-8"))
        elif f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()


