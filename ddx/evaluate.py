"""Scoring analyses against their expected diagnoses.

Top-1 and top-3 accuracy, per-entity recall, a confusion table and a
reliability table (when the leader's probability is in a band, how often the
leader is right). A variant counts as its parent: an ``eims`` answer to an
``imt`` case is right (case-format.md, "Entity slugs").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ddx.analysis import Analysis, Analyzer, analyze_paths
from ddx.knowledge import Knowledge

# Reliability bins over the leader's probability: [lo, hi).
BINS: tuple[tuple[float, float], ...] = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.0001))


@dataclass(frozen=True)
class ScoredCase:
    case_id: str
    expected: str
    answer: str
    probability: float
    rank: int | None         # 1-based rank of the expected entity (or its variant); None if absent

    @property
    def top1(self) -> bool:
        return self.rank == 1

    @property
    def top3(self) -> bool:
        return self.rank is not None and self.rank <= 3


@dataclass
class Evaluation:
    cases: list[ScoredCase] = field(default_factory=list)
    unscored: list[str] = field(default_factory=list)   # no `expected`
    failed: list[str] = field(default_factory=list)     # could not be read

    @property
    def n(self) -> int:
        return len(self.cases)

    def rate(self, hits: int) -> float:
        return hits / self.n if self.n else 0.0

    @property
    def top1(self) -> float:
        return self.rate(sum(c.top1 for c in self.cases))

    @property
    def top3(self) -> float:
        return self.rate(sum(c.top3 for c in self.cases))

    def per_entity(self) -> dict[str, tuple[int, int, int]]:
        """expected slug -> (cases, right at top-1, right within top-3)."""
        out: dict[str, tuple[int, int, int]] = {}
        for c in self.cases:
            n, t1, t3 = out.get(c.expected, (0, 0, 0))
            out[c.expected] = (n + 1, t1 + c.top1, t3 + c.top3)
        return dict(sorted(out.items()))

    def confusion(self) -> Counter[tuple[str, str]]:
        return Counter((c.expected, c.answer) for c in self.cases)

    def reliability(self) -> list[tuple[float, float, int, float, float]]:
        """Per bin: (lo, hi, cases, mean leader probability, fraction right)."""
        rows = []
        for lo, hi in BINS:
            inside = [c for c in self.cases if lo <= c.probability < hi]
            if inside:
                mean = sum(c.probability for c in inside) / len(inside)
                right = sum(c.top1 for c in inside) / len(inside)
            else:
                mean = right = 0.0
            rows.append((lo, min(hi, 1.0), len(inside), mean, right))
        return rows

    def misses(self) -> list[ScoredCase]:
        return [c for c in self.cases if not c.top1]


def score(analyses: list[Analysis], knowledge: Knowledge) -> Evaluation:
    ev = Evaluation()
    for a in analyses:
        if not a.ok:
            ev.failed.append(a.case_id)
            continue
        if not a.expected:
            ev.unscored.append(a.case_id)
            continue
        expected = a.expected
        rank = next((i for i, r in enumerate(a.ranking, start=1)
                     if r.entity == expected or knowledge.parent(r.entity) == expected), None)
        top = a.ranking[0]
        ev.cases.append(ScoredCase(a.case_id, expected, top.entity, top.probability, rank))
    return ev


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def render_markdown(ev: Evaluation) -> str:
    """The accuracy section of the README (deterministic, so a test can compare it)."""
    t1 = sum(c.top1 for c in ev.cases)
    t3 = sum(c.top3 for c in ev.cases)
    lines = [
        f"Scored cases: **{ev.n}**. Top-1: **{t1}/{ev.n} = {_pct(ev.top1)}**. "
        f"Top-3: **{t3}/{ev.n} = {_pct(ev.top3)}**.",
        "",
        "| expected | cases | top-1 right (recall) | within top-3 |",
        "|---|---:|---:|---:|",
    ]
    for slug, (n, r1, r3) in ev.per_entity().items():
        lines.append(f"| {slug} | {n} | {r1} ({_pct(r1 / n)}) | {r3} ({_pct(r3 / n)}) |")
    lines += [
        "",
        "Reliability: when the leader's probability falls in a band, how often the leader is right.",
        "",
        "| leader's probability | cases | mean probability | leader right |",
        "|---|---:|---:|---:|",
    ]
    for lo, hi, n, mean, right in ev.reliability():
        band = f"≥ {lo:.0%}" if hi >= 1.0 else f"{lo:.0%}–{hi:.0%}"
        lines.append(f"| {band} | {n} | {_pct(mean) if n else '-'} | {_pct(right) if n else '-'} |")
    misses = ev.misses()
    if misses:
        lines += ["", "Cases where the leader is not the confirmed diagnosis:", "",
                  "| case | expected | leader (probability) | rank of expected |", "|---|---|---|---:|"]
        for c in misses:
            lines.append(f"| {c.case_id} | {c.expected} | {c.answer} ({_pct(c.probability)}) | "
                         f"{c.rank if c.rank is not None else '-'} |")
    if ev.failed:
        lines += ["", "Not readable: " + ", ".join(ev.failed)]
    return "\n".join(lines) + "\n"


def evaluate_paths(paths: list[str], analyzer: Analyzer) -> tuple[list[Analysis], Evaluation]:
    """Analyse every case under ``paths`` (files or folders) and score them."""
    analyses = list(analyze_paths(paths, analyzer, suggest=False))
    return analyses, score(analyses, analyzer.knowledge)


README_BEGIN = "<!-- accuracy:begin (generated by tools/accuracy.py; tests/test_evaluation.py checks it) -->"
README_END = "<!-- accuracy:end -->"


def readme_block(readme_text: str) -> str | None:
    """The generated accuracy section inside a README, or None."""
    start = readme_text.find(README_BEGIN)
    end = readme_text.find(README_END)
    if start < 0 or end < start:
        return None
    return readme_text[start + len(README_BEGIN):end].strip("\n") + "\n"
