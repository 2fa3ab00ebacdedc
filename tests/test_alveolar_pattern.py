"""An alveolar pattern (morph.alveolar) is the pattern that names alveolar RMS; the microalveolar,
pseudovascular and cord-like growth of sclerosing RMS (morph.sclerosing-pattern) is another finding. Until
2026-12-01 one rule read both, so a record saying "alveolar" gave SRMS the sclerosing patterns' figure."""

from __future__ import annotations

from tests.conftest import validate

BASE = {
    "id": "pattern",
    "patient": {"age": 16},
    "clinical": {"site": "extremity"},
    "stains": {"desmin": "positive"},
}


def _odds(knowledge, analyzer, architecture, a="arms", b="srms"):
    case = validate(knowledge, {**BASE, "morphology": {"architecture": architecture}} if architecture else BASE)
    analysis = analyzer.analyze(case)
    p = {r.entity: r.probability for r in analysis.ranking}
    return p[a] / p[b], analysis.matched


def test_alveolar_is_read_apart_from_the_sclerosing_patterns(knowledge, analyzer):
    alveolar, matched = _odds(knowledge, analyzer, ["alveolar"])
    assert "morph.alveolar" in matched and "morph.sclerosing-pattern" not in matched
    sclerosing, matched = _odds(knowledge, analyzer, ["microalveolar", "pseudovascular"])
    assert "morph.sclerosing-pattern" in matched and "morph.alveolar" not in matched
    plain, _ = _odds(knowledge, analyzer, [])
    # alveolar favours ARMS over SRMS; microalveoli and pseudovascular spaces favour SRMS over ARMS
    assert alveolar > 3 * plain
    assert sclerosing < plain
