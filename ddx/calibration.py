"""Does the probability mean what it says? Leave-one-out calibration over scored cases.

The ranking has one free parameter that is fitted rather than read from the
literature: the temperature T in ``posterior ∝ prior × exp(T × Σ ln likelihood)``
(``settings.calibration``). It is chosen to minimise the log loss of the
confirmed diagnosis (the mean of -ln P(expected entity)) over a grid of values.

:func:`leave_one_out` holds each case out in turn, fits T on the others, and
ranks the held-out case with that T: the resulting probabilities are what ddx
would have said about cases its temperature was not fitted on. Over them it
reports top-1 accuracy, a reliability table (the bins of
:data:`ddx.evaluate.BINS`) and the expected calibration error,

    ECE = Σ over bins (cases in bin / all cases) × |fraction right − mean leader probability|.

Matching does not depend on T, so each case is matched once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ddx.analysis import Analysis
from ddx.evaluate import BINS
from ddx.knowledge import Knowledge
from ddx.ranking import Ranker

GRID: tuple[float, ...] = tuple(round(0.2 + 0.02 * i, 2) for i in range(41))  # 0.20 … 1.00
MIN_FIT_CASES = 20  # fewer scored cases than this cannot support a fitted temperature


@dataclass(frozen=True)
class Held:
    """One scored case as the calibration sees it."""

    case_id: str
    matched: frozenset[str]
    expected: str  # entity slug


@dataclass(frozen=True)
class Prediction:
    """One case's leave-one-out prediction: the temperature fitted without it, its leader and that leader's
    probability, and whether the leader was the confirmed diagnosis."""

    case_id: str
    temperature: float  # fitted without this case
    leader: str
    probability: float  # the leader's probability
    right: bool


@dataclass(frozen=True)
class CalibrationReport:
    """The leave-one-out calibration over the scored cases: the temperature fitted on all, each case's
    prediction, the reliability bins, the expected calibration error, top-1 and the log loss (natural log)."""

    temperature: float  # fitted on all cases
    predictions: tuple[Prediction, ...]
    bins: tuple[tuple[float, float, int, float, float], ...]  # lo, hi, cases, mean probability, fraction right
    ece: float
    top1: float
    log_loss: float  # mean -ln P(expected), leave-one-out

    def to_dict(self) -> dict[str, object]:
        return {
            "temperature": self.temperature,
            "cases": len(self.predictions),
            "ece": round(self.ece, 4),
            "top1": round(self.top1, 4),
            "log_loss": round(self.log_loss, 4),
            "bins": [
                {"from": lo, "to": hi, "cases": n, "mean_probability": round(m, 4), "leader_right": round(r, 4)}
                for lo, hi, n, m, r in self.bins
            ],
        }


def held_cases(analyses: Iterable[Analysis], knowledge: Knowledge) -> list[Held]:
    """The scored cases as the calibration needs them: what matched, and the expected entity."""
    return [
        Held(a.case_id, a.matched, knowledge.parent(a.expected))
        for a in analyses
        if a.ok and a.expected and knowledge.parent(a.expected) in knowledge.entity
    ]


def _probs(ranker: Ranker, case: Held, t: float) -> list[float]:
    return ranker.posterior(case.matched, temperature=t)


def _loss(ranker: Ranker, cases: Sequence[Held], t: float) -> list[float]:
    out = []
    for c in cases:
        probs = _probs(ranker, c, t)
        p = probs[ranker.entities.index(c.expected)]
        out.append(-math.log(max(p, 1e-12)))
    return out


def fit_temperature(ranker: Ranker, cases: Sequence[Held], grid: Sequence[float] = GRID) -> float:
    """The grid value with the lowest mean log loss (ties: the larger T, i.e. less tempering)."""
    best = (math.inf, 1.0)
    for t in grid:
        loss = math.fsum(_loss(ranker, cases, t))
        if loss < best[0] - 1e-12 or (abs(loss - best[0]) <= 1e-12 and t > best[1]):
            best = (loss, t)
    return best[1]


def reliability(predictions: Sequence[Prediction]) -> tuple[tuple[tuple[float, float, int, float, float], ...], float]:
    """Reliability rows over :data:`BINS` and the expected calibration error."""
    rows = []
    ece = 0.0
    n_all = len(predictions)
    for lo, hi in BINS:
        inside = [p for p in predictions if lo <= p.probability < hi]
        n = len(inside)
        mean = math.fsum(p.probability for p in inside) / n if n else 0.0
        right = sum(p.right for p in inside) / n if n else 0.0
        rows.append((lo, min(hi, 1.0), n, mean, right))
        if n_all:
            ece += n / n_all * abs(right - mean)
    return tuple(rows), ece


def leave_one_out(ranker: Ranker, cases: Sequence[Held], grid: Sequence[float] = GRID) -> CalibrationReport:
    """Fit T without each case, rank the case with it; reliability and ECE over those rankings."""
    # per case and grid value: the loss, computed once (the sum over the others is then a subtraction)
    losses = {t: _loss(ranker, cases, t) for t in grid}
    totals = {t: math.fsum(v) for t, v in losses.items()}
    predictions = []
    held_losses = []
    for i, c in enumerate(cases):
        t_i = min(grid, key=lambda t: (totals[t] - losses[t][i], -t))
        probs = _probs(ranker, c, t_i)
        top = max(range(len(probs)), key=lambda j: (probs[j], -j))
        leader = ranker.entities[top]
        predictions.append(Prediction(c.case_id, t_i, leader, probs[top], leader == c.expected))
        held_losses.append(losses[t_i][i])
    bins, ece = reliability(predictions)
    top1 = sum(p.right for p in predictions) / len(predictions) if predictions else 0.0
    fitted = min(grid, key=lambda t: (totals[t], -t)) if cases else 1.0
    log_loss = math.fsum(held_losses) / len(held_losses) if held_losses else 0.0
    return CalibrationReport(fitted, tuple(predictions), bins, ece, top1, log_loss)
