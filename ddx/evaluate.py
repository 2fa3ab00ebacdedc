"""Scoring analyses against their expected diagnoses.

Top-1 and top-3 accuracy, per-entity recall, a confusion table and a
reliability table (when the leader's probability is in a band, how often the
leader is right). Scoring is at entity level: a case whose ``expected`` is a
subtype (``eims``) counts as its entity (``imt``), with a subtype table beside
(was the subtype named as the entity's leading profile?). A variant counts as
its parent (docs/case-format.md, "Entity slugs").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ddx.analysis import Analysis, Analyzer, analyze_paths
from ddx.knowledge import Knowledge
from ddx.ranking import range_text, rate_text

if TYPE_CHECKING:
    from ddx.calibration import CalibrationReport

# Reliability bins over the leader's probability: [lo, hi).
BINS: tuple[tuple[float, float], ...] = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.0001))


@dataclass(frozen=True)
class ScoredCase:
    """One case scored against its confirmed diagnosis at entity level: the leader, its probability, the rank
    of the expected entity (1-based; None when not ranked), and the subtypes expected and named."""

    case_id: str
    expected: str
    answer: str
    probability: float
    rank: int | None  # 1-based rank of the expected entity (or its variant); None if absent
    subtype: str | None = None  # the expected subtype, when the case names one (expected: eims)
    subtype_named: str | None = None  # the leading subtype ddx names for the expected entity

    @property
    def top1(self) -> bool:
        return self.rank == 1

    @property
    def top3(self) -> bool:
        return self.rank is not None and self.rank <= 3


@dataclass
class Evaluation:
    """Running tallies over scored cases: memory does not grow with the number of
    cases unless ``keep_cases`` (the README keeps them to list the misses)."""

    keep_cases: bool = True
    cases: list[ScoredCase] = field(default_factory=list)
    unscored: list[str] = field(default_factory=list)  # no `expected` (kept with keep_cases)
    failed: list[str] = field(default_factory=list)  # could not be read (kept with keep_cases)
    n: int = 0
    n_unscored: int = 0
    n_failed: int = 0
    top1_hits: int = 0
    top3_hits: int = 0
    reciprocal_ranks: float = 0.0
    by_expected: dict[str, list[int]] = field(default_factory=dict)  # slug -> [cases, top-1, top-3]
    answered: Counter[str] = field(default_factory=Counter)  # leader slug -> cases
    answered_right: Counter[str] = field(default_factory=Counter)  # leader slug -> right at top-1
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)  # (expected, leader) -> cases
    bins: list[list[float]] = field(default_factory=lambda: [[0, 0.0, 0] for _ in BINS])  # n, sum p, right
    subtypes: dict[str, list[int]] = field(default_factory=dict)  # expected subtype -> [cases, entity top-1, named]

    def add(self, c: ScoredCase) -> None:
        self.n += 1
        self.top1_hits += c.top1
        self.top3_hits += c.top3
        self.reciprocal_ranks += 1.0 / c.rank if c.rank else 0.0
        tally = self.by_expected.setdefault(c.expected, [0, 0, 0])
        tally[0] += 1
        tally[1] += c.top1
        tally[2] += c.top3
        self.answered[c.answer] += 1
        self.answered_right[c.answer] += c.top1
        self.pairs[(c.expected, c.answer)] += 1
        if c.subtype is not None:
            row = self.subtypes.setdefault(c.subtype, [0, 0, 0])
            row[0] += 1
            row[1] += c.top1
            row[2] += c.subtype_named == c.subtype
        for slot, (lo, hi) in zip(self.bins, BINS):
            if lo <= c.probability < hi:
                slot[0] += 1
                slot[1] += c.probability
                slot[2] += c.top1
                break
        if self.keep_cases:
            self.cases.append(c)

    def add_unscored(self, case_id: str) -> None:
        self.n_unscored += 1
        if self.keep_cases:
            self.unscored.append(case_id)

    def add_failed(self, case_id: str) -> None:
        self.n_failed += 1
        if self.keep_cases:
            self.failed.append(case_id)

    def rate(self, hits: float) -> float:
        return hits / self.n if self.n else 0.0

    @property
    def top1(self) -> float:
        return self.rate(self.top1_hits)

    @property
    def top3(self) -> float:
        return self.rate(self.top3_hits)

    @property
    def mrr(self) -> float:
        """Mean reciprocal rank of the expected entity."""
        return self.rate(self.reciprocal_ranks)

    def per_entity(self) -> dict[str, tuple[int, int, int]]:
        """expected slug -> (cases, right at top-1, right within top-3)."""
        return {slug: (t[0], t[1], t[2]) for slug, t in sorted(self.by_expected.items())}

    def precision(self) -> dict[str, tuple[int, int]]:
        """leader slug -> (cases it led, of which it was right)."""
        return {slug: (n, self.answered_right[slug]) for slug, n in sorted(self.answered.items())}

    def confusion(self) -> Counter[tuple[str, str]]:
        return Counter(self.pairs)

    def reliability(self) -> list[tuple[float, float, int, float, float]]:
        """Per bin: (lo, hi, cases, mean leader probability, fraction right)."""
        rows = []
        for (lo, hi), (n, total, right) in zip(BINS, self.bins):
            count = int(n)
            rows.append((lo, min(hi, 1.0), count, total / count if count else 0.0, right / count if count else 0.0))
        return rows

    def misses(self) -> list[ScoredCase]:
        return [c for c in self.cases if not c.top1]

    def to_dict(self, slugs: list[str] | None = None) -> dict[str, object]:
        """The scores as JSON-ready data (batch summaries)."""
        recall = {
            slug: {"cases": n, "top1": t1, "top3": t3, "recall": round(t1 / n, 4)} for slug, (n, t1, t3) in self.per_entity().items()
        }
        precision = {
            slug: {"led": n, "right": right, "precision": round(right / n, 4)} for slug, (n, right) in self.precision().items()
        }
        confusion: dict[str, dict[str, int]] = {}
        for (expected, answer), count in sorted(self.pairs.items()):
            confusion.setdefault(expected, {})[answer] = count
        return {
            "scored": self.n,
            "top1": round(self.top1, 4),
            "top3": round(self.top3, 4),
            "mrr": round(self.mrr, 4),
            "recall": recall,
            "precision": precision,
            "confusion": confusion,
            "calibration": [
                {"from": lo, "to": hi, "cases": n, "mean_probability": round(mean, 4), "leader_right": round(right, 4)}
                for lo, hi, n, mean, right in self.reliability()
            ],
            "subtypes": {
                slug: {"cases": n, "entity_top1": t1, "subtype_named": named} for slug, (n, t1, named) in sorted(self.subtypes.items())
            },
        }


def scored_case(a: Analysis, knowledge: Knowledge) -> ScoredCase | None:
    """The analysis scored against its ``expected`` (None without one, or when it failed)."""
    if not a.ok or not a.expected or not a.ranking:
        return None
    written = a.expected
    expected = knowledge.parent(written)  # scored at entity level: a subtype counts as its entity
    rank = next((i for i, r in enumerate(a.ranking, start=1) if r.entity == expected or knowledge.parent(r.entity) == expected), None)
    top = a.ranking[0]
    subtype = written if written in knowledge.subtype else None
    named = None
    if subtype is not None and rank is not None:
        named = a.ranking[rank - 1].subtype
    return ScoredCase(a.case_id, expected, top.entity, top.probability, rank, subtype, named)


def score(analyses: Iterable[Analysis], knowledge: Knowledge, *, keep_cases: bool = True) -> Evaluation:
    """Score analyses against their ``expected`` diagnoses at entity level (a subtype counts as its entity):
    cases that could not be ranked are counted as failed, ranked cases without ``expected`` as unscored.
    ``keep_cases``: keep each scored case (False keeps only the counts, for large batches)."""
    ev = Evaluation(keep_cases=keep_cases)
    for a in analyses:
        if not a.ok:
            ev.add_failed(a.case_id)
            continue
        scored = scored_case(a, knowledge)
        if scored is None:
            ev.add_unscored(a.case_id)
        else:
            ev.add(scored)
    return ev


def render_markdown(ev: Evaluation, calibration: CalibrationReport | None = None) -> str:
    """The accuracy section of the README (deterministic, so a test can compare it); with
    ``calibration``, the leave-one-out reliability table and expected calibration error too."""
    t1, t3 = ev.top1_hits, ev.top3_hits
    confident_wrong = sum(1 for c in ev.cases if not c.top1 and c.probability >= 0.8)
    lines = [
        f"Scored cases: **{ev.n}**. Top-1: **{t1}/{ev.n} = {rate_text(ev.top1)}**. "
        f"Top-3: **{t3}/{ev.n} = {rate_text(ev.top3)}**. Wrong leaders at ≥ 80 %: **{confident_wrong}**."
        + (f" Leave-one-out expected calibration error: **{calibration.ece:.3f}**." if calibration else ""),
        "",
        "| expected | cases | top-1 right (recall) | within top-3 |",
        "|---|---:|---:|---:|",
    ]
    for slug, (n, r1, r3) in ev.per_entity().items():
        lines.append(f"| {slug} | {n} | {r1} ({rate_text(r1 / n)}) | {r3} ({rate_text(r3 / n)}) |")
    if ev.subtypes:
        lines += [
            "",
            "Cases whose source names a subtype (scored above at entity level):",
            "",
            "| expected subtype | cases | entity first | subtype named for the entity |",
            "|---|---:|---:|---:|",
        ]
        for slug, (n, t1, named) in sorted(ev.subtypes.items()):
            lines.append(f"| {slug} | {n} | {t1} | {named} |")
    lines += [
        "",
        "Reliability: when the leader's probability falls in a band, how often the leader is right.",
        "",
        "| leader's probability | cases | mean probability | leader right |",
        "|---|---:|---:|---:|",
    ]
    for lo, hi, n, mean, right in ev.reliability():
        band = range_text(lo, hi)
        lines.append(f"| {band} | {n} | {rate_text(mean) if n else '-'} | {rate_text(right) if n else '-'} |")
    if calibration is not None:
        lines += ["", calibration_markdown(calibration)]
    misses = ev.misses()
    if misses:
        lines += [
            "",
            "Cases where the leader is not the confirmed diagnosis:",
            "",
            "| case | expected | leader (probability) | rank of expected |",
            "|---|---|---|---:|",
        ]
        for c in misses:
            lines.append(
                f"| {c.case_id} | {c.expected} | {c.answer} ({rate_text(c.probability)}) | {c.rank if c.rank is not None else '-'} |"
            )
    if ev.failed:
        lines += ["", "Not readable: " + ", ".join(ev.failed)]
    return "\n".join(lines) + "\n"


def calibration_markdown(report: CalibrationReport) -> str:
    """The leave-one-out reliability table (README)."""
    lines = [
        f"Leave-one-out calibration: each case ranked with the temperature fitted on the other cases "
        f"(fitted on all: {report.temperature:g}); top-1 {rate_text(report.top1)}, log loss {report.log_loss:.3f}, "
        f"expected calibration error {report.ece:.3f}.",
        "",
        "| leader's probability (leave-one-out) | cases | mean probability | leader right |",
        "|---|---:|---:|---:|",
    ]
    for lo, hi, n, mean, right in report.bins:
        band = range_text(lo, hi)
        lines.append(f"| {band} | {n} | {rate_text(mean) if n else '-'} | {rate_text(right) if n else '-'} |")
    return "\n".join(lines)


def accuracy_section(paths: list[str], analyzer: Analyzer) -> str:
    """The README's accuracy block: scores, the subtype table, reliability, leave-one-out
    calibration and the misses (``tools/accuracy.py`` writes it; a test recomputes it)."""
    from ddx.calibration import held_cases, leave_one_out

    analyses, ev = evaluate_paths(paths, analyzer)
    held = held_cases(analyses, analyzer.knowledge)
    return render_markdown(ev, leave_one_out(analyzer.ranker, held) if held else None)


def evaluate_paths(paths: list[str], analyzer: Analyzer) -> tuple[list[Analysis], Evaluation]:
    """Analyse every case under ``paths`` (files or folders) and score them."""
    analyses = list(analyze_paths(paths, analyzer, suggest=False))
    return analyses, score(analyses, analyzer.knowledge)
