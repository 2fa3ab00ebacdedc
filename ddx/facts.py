"""Flatten a validated case into the facts the matchers read.

Keys are case paths with ``.`` replaced by ``__`` (``stains__alk__pattern``).
A finding that is not recorded is simply absent: unknown is not negative. A molecular result
that names a specific fusion implies the gene's rearrangement (``implies:`` in the vocabulary): a
KIF5B-ALK fusion recorded present makes ``molecular__alk_rearrangement`` present, also over a
recorded ``absent`` (a fusion found by sequencing outweighs a break-apart FISH read negative, which
misses some, such as the small EML4-ALK inversion).
Only keys that some rule tests are kept (``keys``), which keeps every fact far
below durable-rules' 255-properties-per-message limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ddx.knowledge.case import CaseModel
from ddx.knowledge.vocabulary import Vocabulary


def case_facts(case: CaseModel, vocab: Vocabulary, keys: Iterable[str] | None = None) -> dict[str, Any]:
    """The facts of a validated case: ``{"patient__age": 35.0, "stains__alk": "positive", ...}``.

    Numbers are floats, lists are sorted without repeats, a finding not recorded (None, an empty
    list) is absent. Order: patient, clinical, morphology (in the vocabulary's order), then stains and
    molecular tests in the case's order. ``keys``: keep only these.
    """
    facts: dict[str, Any] = {}
    patient = case.patient
    if patient is not None:
        _put(facts, "patient__age", patient.age)
        _put(facts, "patient__sex", patient.sex)
    clinical = case.clinical
    if clinical is not None:
        _put(facts, "clinical__site", clinical.site)
        if clinical.site:
            _put(facts, "clinical__site_group", vocab.site_group_of.get(clinical.site))
        _put(facts, "clinical__depth", clinical.depth)
        _put(facts, "clinical__size_cm", clinical.size_cm)
        _put(facts, "clinical__symptoms", sorted(set(clinical.symptoms)))
    morphology = case.morphology
    if morphology is not None:
        for name in vocab.morphology:
            value = getattr(morphology, name, None)
            if value is None or value == []:
                continue
            key = _MORPHOLOGY_KEYS.get(name) or _MORPHOLOGY_KEYS.setdefault(name, f"morphology__{name}")
            if type(value) is str:
                facts[key] = value
            elif isinstance(value, list):
                facts[key] = sorted(set(value))
            else:
                _put(facts, key, value)
    for stain, finding in case.stains.items():
        names = _STAIN_KEYS.get(stain) or stain_keys(stain)
        # the fields in STAIN_FIELDS order, read as attributes (this is the hot path)
        for key, value in zip(names, (finding.result, finding.extent, finding.intensity, finding.pattern, finding.percent)):
            if type(value) is str:  # the common case, as _put would put it
                facts[key] = value
            elif value is not None:
                _put(facts, key, value)
    for test, result in case.molecular.items():
        key = _MOLECULAR_KEYS.get(test) or _MOLECULAR_KEYS.setdefault(test, f"molecular__{test}")
        if type(result) is str:
            facts[key] = result
        else:
            _put(facts, key, result)
    if case.molecular:
        for test, implied in vocab.molecular_implies.items():
            if facts.get(f"molecular__{test}") == "present":
                facts[f"molecular__{implied}"] = "present"
    if keys is not None:
        wanted = keys if isinstance(keys, (set, frozenset)) else set(keys)
        facts = {k: v for k, v in facts.items() if k in wanted}
    return facts


# the fact keys of morphology fields, stains (result, extent, intensity, pattern, percent) and molecular
# tests, made once per name
_MORPHOLOGY_KEYS: dict[str, str] = {}
_STAIN_KEYS: dict[str, tuple[str, ...]] = {}
_MOLECULAR_KEYS: dict[str, str] = {}


STAIN_FIELDS = ("result", "extent", "intensity", "pattern", "percent")
"""A stain finding's fields, in the order its facts are put (the result's key is the stain's own)."""


def stain_keys(stain: str) -> tuple[str, ...]:
    """The fact keys of a stain's fields, in :data:`STAIN_FIELDS` order: ``stains__alk``,
    ``stains__alk__extent``, ... (made once per stain)."""
    names = _STAIN_KEYS.get(stain)
    if names is None:
        base = f"stains__{stain}"
        names = _STAIN_KEYS[stain] = tuple(base if f == "result" else f"{base}__{f}" for f in STAIN_FIELDS)
    return names


def _put(facts: dict[str, Any], key: str, value: Any) -> None:
    if value is None or value == []:
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = float(value)
    facts[key] = value
