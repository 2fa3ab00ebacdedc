"""Flatten a validated case into the facts the matchers read.

Keys are case paths with ``.`` replaced by ``__`` (``stains__alk__pattern``).
A finding that is not recorded is simply absent: unknown is not negative.
Only keys that some rule tests are kept (``keys``), which keeps every fact far
below durable-rules' 255-properties-per-message limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from ddx.vocabulary import Vocabulary


def case_facts(case: BaseModel, vocab: Vocabulary, keys: Iterable[str] | None = None) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    patient = getattr(case, "patient", None)
    if patient is not None:
        _put(facts, "patient__age", patient.age)
        _put(facts, "patient__sex", patient.sex)
    clinical = getattr(case, "clinical", None)
    if clinical is not None:
        _put(facts, "clinical__site", clinical.site)
        if clinical.site:
            _put(facts, "clinical__site_group", vocab.site_group_of.get(clinical.site))
        _put(facts, "clinical__depth", clinical.depth)
        _put(facts, "clinical__size_cm", clinical.size_cm)
        _put(facts, "clinical__symptoms", sorted(set(clinical.symptoms)))
    morphology = getattr(case, "morphology", None)
    if morphology is not None:
        for name in vocab.morphology:
            value = getattr(morphology, name, None)
            if isinstance(value, list):
                value = sorted(set(value))
            _put(facts, f"morphology__{name}", value)
    for stain, finding in (getattr(case, "stains", None) or {}).items():
        base = f"stains__{stain}"
        _put(facts, base, finding.result)
        _put(facts, base + "__extent", finding.extent)
        _put(facts, base + "__intensity", finding.intensity)
        _put(facts, base + "__pattern", finding.pattern)
        _put(facts, base + "__percent", finding.percent)
    for test, result in (getattr(case, "molecular", None) or {}).items():
        _put(facts, f"molecular__{test}", result)
    if keys is not None:
        wanted = set(keys)
        facts = {k: v for k, v in facts.items() if k in wanted}
    return facts


def _put(facts: dict[str, Any], key: str, value: Any) -> None:
    if value is None or value == []:
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = float(value)
    facts[key] = value
