"""Random, valid, synthetic cases drawn from the vocabulary.

Used by the engine-vs-oracle agreement tests and by the benchmarks. These are
not patients: every value is drawn uniformly from the allowed terms.
"""

from __future__ import annotations

import random
from typing import Any

from ddx.knowledge.vocabulary import Vocabulary


def synthetic_case(vocab: Vocabulary, rng: random.Random, case_id: str, density: float = 0.35) -> dict[str, Any]:
    """One raw case mapping (as a case file would hold it)."""

    def maybe() -> bool:
        return rng.random() < density

    case: dict[str, Any] = {"id": case_id}
    patient: dict[str, Any] = {}
    if maybe():
        patient["age"] = rng.choice([rng.randint(0, 95), round(rng.uniform(0, 100), 1), 18, 50])
    if maybe():
        patient["sex"] = rng.choice(vocab.sex.terms)
    if patient:
        case["patient"] = patient
    clinical: dict[str, Any] = {}
    if maybe():
        clinical["site"] = rng.choice(vocab.sites.terms)
    if maybe():
        clinical["depth"] = rng.choice(vocab.depth.terms)
    if maybe():
        clinical["size_cm"] = rng.choice([round(rng.uniform(0.5, 30), 1), 5, 5.0])
    if maybe():
        clinical["symptoms"] = rng.sample(vocab.symptoms.terms, rng.randint(1, 2))
    if clinical:
        case["clinical"] = clinical
    morphology: dict[str, Any] = {}
    for name, mf in vocab.morphology.items():
        if not maybe():
            continue
        if mf.kind == "list" and mf.terms:
            morphology[name] = rng.sample(mf.terms.terms, rng.randint(1, min(3, len(mf.terms.terms))))
        elif mf.kind == "term" and mf.terms:
            morphology[name] = rng.choice(mf.terms.terms)
        elif mf.kind == "presence":
            morphology[name] = rng.choice(vocab.presence.terms)
        elif mf.kind == "number":
            morphology[name] = rng.choice([0, 10, rng.randint(0, 60)])
    if morphology:
        case["morphology"] = morphology
    stains: dict[str, Any] = {}
    for stain in vocab.stains.terms:
        if not maybe():
            continue
        result = rng.choice(vocab.stain_results.terms + list(vocab.stain_shorthand))
        if rng.random() < 0.5 or result in vocab.stain_shorthand:
            stains[stain] = result
        else:
            finding: dict[str, Any] = {"result": result}
            if rng.random() < 0.5:
                finding["extent"] = rng.choice(vocab.stain_extents.terms)
            patterns = vocab.stain_patterns_for(stain)
            if patterns and rng.random() < 0.6:
                finding["pattern"] = rng.choice(patterns)
            if rng.random() < 0.3:
                finding["percent"] = rng.choice([0, 20, rng.randint(0, 100)])
            if result == "negative":  # a negative stain has no extent or pattern (the draws are kept,
                finding.pop("extent", None)  # so the cases drawn after this one do not change)
                finding.pop("pattern", None)
            stains[stain] = finding
    if stains:
        case["stains"] = stains
    molecular = {t: rng.choice(vocab.presence.terms) for t in vocab.molecular.terms if maybe()}
    if molecular:
        case["molecular"] = molecular
    return case
