"""The evidence chart: each recorded finding's weight for one candidate against another.

A diverging bar chart in the manner of LIRICAL: one bar per matched scoring
rule (a recorded finding the ranking reads), its length the finding's log10
likelihood ratio between two candidates, right of the centre line when the
finding favours the first (by default the leader), left when it favours the
second (by default the runner-up).

What a bar is, in ddx's model (:mod:`ddx.ranking`)::

    bar = log10( P(finding | A) / P(finding | B) )

with ``P`` the probability the ranking uses for the figure (shrunk towards the
differential-wide rate, clamped, ``1 - p`` for a negative finding) and ``A``,
``B`` the *leading profiles* of the two entities (an entity with subtypes is
shown by the subtype that leads it for this case, as in the ranking's detail).
It is the difference of the two evidence weights the ranking shows
(``Evidence.weight`` is log10 of the finding's likelihood over the
differential-wide mean likelihood; the mean cancels), so the bars sum to the
difference of the two scores. Unit: log10 likelihood ratio (``+1`` = the
finding is ten times as likely under A as under B; ``+0.3`` about twice).

The identity the chart keeps (tested)::

    log10 posterior odds (A : B) = log10 prior odds (A : B) + T × Σ bars

where the odds are those of the two profiles, the prior of a profile is its
entity's prior times its share, and ``T`` is ``settings.calibration.temperature``.
For two entities without subtypes the posterior odds are the ratio of their
probabilities in the ranking.

A bar is an *estimate* when either of its two figures is an estimate (marked
``~``); otherwise both figures are cited. The renderers make estimates visibly
different without colour: hatched and lighter with ``~`` in the SVG, a shaded
block (``▒``) with ``~`` in the terminal.

Nothing here knows of Textual or click: :func:`chart_svg` gives a standalone SVG
document (a string), :func:`chart_text` a :class:`rich.text.Text` for a terminal.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text

from ddx.analysis import Analysis
from ddx.knowledge import Knowledge
from ddx.ranking import Evidence, RankedEntity, probability_text
from ddx.report_comment import figure_text, leading_subtype
from ddx.safetext import printable

AXIS_LABEL = "log10 likelihood ratio"
ESTIMATE_MARK = "~"
SVG_LABEL = 50  # characters of a finding shown beside its bar in the SVG
DISCLAIMER = "Decision support only; the pathologist makes the diagnosis."


@dataclass(frozen=True)
class ChartBar:
    """One recorded finding: its log10 likelihood ratio between the chart's two candidates."""

    rule: str
    finding: str  # the finding as scored ('Mitoses 10 per 10 HPF or fewer')
    log10_lr: float  # log10 P(finding | A) / P(finding | B); > 0 favours A
    favoured: Evidence  # the evidence for A (its figure, the probability used, its source)
    other: Evidence  # the evidence for B

    @property
    def estimate(self) -> bool:
        """True when either of the two figures is an estimate."""
        return self.favoured.estimate or self.other.estimate


@dataclass(frozen=True)
class Side:
    """One of the two candidates of a chart."""

    entity: str  # entity slug
    name: str  # the entity's full name
    label: str  # 'PRMS', 'ILMS · conventional', 'SRMS · TFCP2-RMS' (the leading profile)
    short: str  # 'PRMS', 'ILMS', 'TFCP2-RMS'
    rank: int  # 1 = the leader
    probability: float  # the entity's probability in the ranking

    @property
    def role(self) -> str:
        """'leader', 'runner-up' or 'rank 4'."""
        return {1: "leader", 2: "runner-up"}.get(self.rank, f"rank {self.rank}")


@dataclass(frozen=True)
class EvidenceChart:
    """The data of one chart: candidate A (``favoured``) against candidate B (``other``).

    ``bars`` holds every matched scoring rule, strongest first (by ``|log10_lr|``, then rule id).
    ``prior_log10_odds`` is log10 prior(A) / prior(B) of the two leading profiles;
    ``temperature`` the ranking's T. Both are unitless log10 odds.
    """

    case_id: str
    favoured: Side
    other: Side
    bars: tuple[ChartBar, ...]
    prior_log10_odds: float
    temperature: float
    rules_line: str = ""  # 'rules 2026.11.29 (bb12ba9f1a39)'

    @property
    def total(self) -> float:
        """Σ bars: the log10 likelihood ratio of all recorded findings together (A : B)."""
        return math.fsum(b.log10_lr for b in self.bars)

    @property
    def posterior_log10_odds(self) -> float:
        """log10 posterior odds of the two profiles: prior odds + T × Σ bars."""
        return self.prior_log10_odds + self.temperature * self.total


def _profile_share(knowledge: Knowledge, r: RankedEntity) -> float:
    subtype = r.subtype if r.subtype not in (None, r.entity) else None
    for prof in knowledge.profiles:
        if prof.entity == r.entity and prof.subtype == subtype:
            return prof.share
    raise KeyError(r.subtype or r.entity)


def _label(knowledge: Knowledge, r: RankedEntity) -> str:
    if r.subtype is None:
        return r.entity.upper()
    if r.subtype == r.entity:
        return f"{r.entity.upper()} · {knowledge.entity[r.entity].other_short}"
    return f"{r.entity.upper()} · {knowledge.short_name(r.subtype)}"


def evidence_chart(analysis: Analysis, knowledge: Knowledge, favoured: str | None = None, other: str | None = None) -> EvidenceChart:
    """The chart of ``favoured`` against ``other`` (entity slugs; default: the leader against the
    runner-up), from the ranking's own evidence.

    Raises ``ValueError`` when the case was not ranked, fewer than two entities are ranked, a slug is
    not in the ranking, or both slugs name the same entity; ``KeyError`` when the ranking does not
    belong to ``knowledge`` (an entity or subtype it does not know).
    """
    ranking = analysis.ranking
    if not analysis.ok or len(ranking) < 2:
        raise ValueError(f"case {analysis.case_id!r} has no ranking of two or more entities to chart")
    slugs = [r.entity for r in ranking]
    a_slug = favoured or slugs[0]
    b_slug = other or (slugs[1] if a_slug == slugs[0] else slugs[0])
    for slug in (a_slug, b_slug):
        if slug not in slugs:
            raise ValueError(f"{slug!r} is not in the ranking of case {analysis.case_id!r}; ranked: {', '.join(slugs)}")
    if a_slug == b_slug:
        raise ValueError(f"a chart compares two entities; both are {a_slug!r}")
    a, b = ranking[slugs.index(a_slug)], ranking[slugs.index(b_slug)]
    theirs = {e.rule: e for e in b.evidence}
    bars = [ChartBar(e.rule, e.finding, e.weight - theirs[e.rule].weight, e, theirs[e.rule]) for e in a.evidence if e.rule in theirs]
    bars.sort(key=lambda bar: (-abs(bar.log10_lr), bar.rule))
    prior = math.log10(knowledge.entity[a.entity].prior.p * _profile_share(knowledge, a)) - math.log10(
        knowledge.entity[b.entity].prior.p * _profile_share(knowledge, b)
    )

    def side(r: RankedEntity) -> Side:
        # the chart's narrow header names the entity, or the subtype that leads it
        short = knowledge.short_name(leading_subtype(r) or r.entity)
        return Side(r.entity, r.name, _label(knowledge, r), short, slugs.index(r.entity) + 1, r.probability)

    return EvidenceChart(
        analysis.case_id,
        side(a),
        side(b),
        tuple(bars),
        prior,
        knowledge.settings.calibration.temperature,
        f"rules {knowledge.settings.version} ({knowledge.content_hash[:12]})",
    )


# ------------------------------------------------------------------ shared wording


def _value(bar: ChartBar) -> str:
    """'+0.67', '-0.12'; ' 0.00' when the finding weighs the same under both (no '-0.00')."""
    return f"{bar.log10_lr:+.2f}" if abs(bar.log10_lr) >= 0.005 else " 0.00"


_XML_UNSAFE = re.compile("[\ufffe\uffff]")


def _plain(text: str) -> str:
    """Data from the rules or the case as one inert line: controls, bidirectional marks, lone surrogates
    and the two XML non-characters written as escapes (nothing is dropped)."""
    text = printable(str(text), newlines=False)
    return _XML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


# ------------------------------------------------------------------ SVG


def escape(text: str) -> str:
    """``&``, ``<``, ``>`` and ``"`` as XML entities: text for an element or a ``"``-quoted attribute.

    (``xml.sax.saxutils.escape`` does the same but imports ``urllib.request``, about 0.1 s of the TUI's
    start-up.)"""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _x(text: str) -> str:
    """Data for an SVG element or attribute value: made inert (:func:`_plain`), then escaped."""
    return escape(_plain(text))


def _step(limit: float) -> float:
    for step in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0):
        if limit / step <= 4:
            return step
    return 10.0 ** math.ceil(math.log10(limit / 4))


def _tick(value: float) -> str:
    text = f"{value:+.2f}".rstrip("0").rstrip(".")
    return "0" if abs(value) < 1e-9 else text.replace("-", "−")


def chart_svg(chart: EvidenceChart) -> str:
    """A standalone SVG document (UTF-8 text) of the chart.

    Bars right of the centre favour ``chart.favoured``, left ``chart.other``; the x axis is labelled
    "log10 likelihood ratio". A bar resting on an estimate is hatched and lighter, dashed at its edge,
    and its finding is marked ``~``; each row's tooltip (``<title>``) gives both figures and their
    sources. Every label from the rules or the case is escaped for XML (its control characters written as
    escapes); a finding longer than ``SVG_LABEL`` characters is cut with '…' (whole in the tooltip).
    """
    a, b = chart.favoured, chart.other
    row_h, bar_h, font = 24, 15, 12
    label_w, plot_w, right_pad = 360, 440, 16
    width = label_w + plot_w + right_pad
    top = 78
    rows = max(len(chart.bars), 1)
    plot_top, plot_bottom = top, top + rows * row_h
    height = plot_bottom + 118
    cx = label_w + plot_w / 2
    half = plot_w / 2 - 52  # room for the value beside a full-length bar
    biggest = max((abs(bar.log10_lr) for bar in chart.bars), default=0.0)
    step = _step(max(biggest, 0.2))
    limit = step * math.ceil(max(biggest, 0.2) / step - 1e-9)
    scale = half / limit
    fav, oth = "#1f5fa6", "#b5521b"  # blue / orange: a diverging pair readable with red-green colour blindness

    title = (
        f"Evidence per recorded finding: {a.label} ({a.role}, {probability_text(a.probability)}) "
        f"against {b.label} ({b.role}, {probability_text(b.probability)})"
    )
    desc = (
        f"Case {chart.case_id}: {a.label} is {a.name}, {b.label} is {b.name}. "
        f"Each bar is a recorded finding: its {AXIS_LABEL} {a.label} : {b.label}; "
        f"right favours {a.label}, left favours {b.label}. Hatched bars marked {ESTIMATE_MARK} rest on at least "
        "one estimated figure."
    )
    heading = f"Evidence per recorded finding: {a.label} against {b.label}"
    subtitle = (
        f"Case {_cut(chart.case_id, 60)} · {a.label}: {a.role}, {probability_text(a.probability)} · "
        f"{b.label}: {b.role}, {probability_text(b.probability)}"
    )
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc" '
        f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="{font}">',
        f'<title id="chart-title">{_x(title)}</title>',
        f'<desc id="chart-desc">{_x(desc)}</desc>',
        "<defs>",
        *(
            f'<pattern id="hatch-{key}" patternUnits="userSpaceOnUse" width="6" height="6" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{colour}" fill-opacity="0.22"/>'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="{colour}" stroke-width="2.2"/></pattern>'
            for key, colour in (("a", fav), ("b", oth))
        ),
        "</defs>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="12" y="22" font-size="15" font-weight="bold">{_x(heading)}</text>',
        f'<text x="12" y="40" fill="#444444">{_x(subtitle)}</text>',
        f'<text x="{cx - 8:.1f}" y="{top - 10}" text-anchor="end" fill="{oth}" font-weight="bold">{_x(f"◀ favours {b.label}")}</text>',
        f'<text x="{cx + 8:.1f}" y="{top - 10}" fill="{fav}" font-weight="bold">{_x(f"favours {a.label} ▶")}</text>',
    ]
    for n in range(0, len(chart.bars), 2):
        out.append(f'<rect x="0" y="{top + n * row_h}" width="{width}" height="{row_h}" fill="#f3f3f3"/>')
    # grid and ticks
    n_ticks = round(limit / step)
    for i in range(-n_ticks, n_ticks + 1):
        x = cx + i * step * scale
        out.append(
            f'<line x1="{x:.1f}" y1="{plot_top - 2}" x2="{x:.1f}" y2="{plot_bottom + 4}" '
            f'stroke="{"#555555" if i == 0 else "#e3e3e3"}" stroke-width="{1.4 if i == 0 else 1}"/>'
        )
        out.append(f'<text x="{x:.1f}" y="{plot_bottom + 18}" text-anchor="middle" fill="#333333">{_tick(i * step)}</text>')
    out.append(
        f'<line x1="{cx - limit * scale:.1f}" y1="{plot_bottom + 4}" x2="{cx + limit * scale:.1f}" '
        f'y2="{plot_bottom + 4}" stroke="#555555"/>'
    )
    out.append(
        f'<text x="{cx:.1f}" y="{plot_bottom + 36}" text-anchor="middle" font-weight="bold">'
        f"{_x(f'{AXIS_LABEL} ({a.label} : {b.label})')}</text>"
    )
    if not chart.bars:
        out.append(f'<text x="{cx:.1f}" y="{top + 16}" text-anchor="middle" fill="#666666">no recorded finding is scored</text>')
    for n, bar in enumerate(chart.bars):
        y = top + n * row_h
        mid = y + row_h / 2
        v = bar.log10_lr
        w = abs(v) * scale
        x = cx if v >= 0 else cx - w
        key, colour = ("a", fav) if v >= 0 else ("b", oth)
        tip = (
            f"{bar.finding}: {_value(bar)} ({AXIS_LABEL}). "
            f"{a.label}: {figure_text(bar.favoured)}, {'estimate' if bar.favoured.estimate else 'cited'} "
            f"→ {bar.favoured.p_used:.2f} ({bar.favoured.grounds}). "
            f"{b.label}: {figure_text(bar.other)}, {'estimate' if bar.other.estimate else 'cited'} "
            f"→ {bar.other.p_used:.2f} ({bar.other.grounds})."
        )
        out.append(f"<g><title>{_x(tip)}</title>")
        label = _cut(_plain(bar.finding), SVG_LABEL) + (f" {ESTIMATE_MARK}" if bar.estimate else "")
        out.append(f'<text x="{label_w - 10}" y="{mid + 4:.1f}" text-anchor="end">{escape(label)}</text>')
        if bar.estimate:
            out.append(
                f'<rect x="{x:.1f}" y="{mid - bar_h / 2:.1f}" width="{w:.1f}" height="{bar_h}" '
                f'fill="url(#hatch-{key})" stroke="{colour}" stroke-width="1" stroke-dasharray="3 2"/>'
            )
        else:
            out.append(f'<rect x="{x:.1f}" y="{mid - bar_h / 2:.1f}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>')
        text = _value(bar).strip().replace("-", "−")
        tx, anchor = (x + w + 4, "start") if v >= 0 else (x - 4, "end")
        style = ' font-style="italic"' if bar.estimate else ""
        out.append(f'<text x="{tx:.1f}" y="{mid + 4:.1f}" text-anchor="{anchor}" fill="#222222"{style}>{text}</text></g>')
    # legend and the identity
    y = plot_bottom + 58
    out += [
        f'<rect x="12" y="{y - 11}" width="22" height="13" fill="{fav}"/>',
        f'<text x="40" y="{y}">cited: both figures from the literature</text>',
        f'<rect x="300" y="{y - 11}" width="22" height="13" fill="url(#hatch-a)" stroke="{fav}" stroke-dasharray="3 2"/>',
        f'<text x="328" y="{y}">{ESTIMATE_MARK} estimate: at least one figure is an estimate</text>',
        f'<text x="12" y="{y + 20}" fill="#333333">{_x(_identity(chart))}</text>',
        f'<text x="12" y="{y + 38}" fill="#666666" font-size="10.5">{_x(f"{chart.rules_line} · {DISCLAIMER}")}</text>',
        "</svg>",
    ]
    return "\n".join(out) + "\n"


def _identity(chart: EvidenceChart) -> str:
    t = "" if chart.temperature == 1 else f"{chart.temperature:g} × "
    return (
        f"{t}Sum of the bars {chart.total:+.2f} + prior log10 odds {chart.prior_log10_odds:+.2f} = "
        f"posterior log10 odds {chart.posterior_log10_odds:+.2f} ({chart.favoured.label} : {chart.other.label})"
    )


def chart_beside(report: str | Path) -> Path:
    """Where a report's evidence chart goes: beside it, ``<report stem>-chart.svg``
    ('case-report.txt' -> 'case-report-chart.svg'; never the report itself)."""
    path = Path(report)
    return path.with_name(f"{path.stem}-chart.svg")


def report_chart_svg(analysis: Analysis, knowledge: Knowledge) -> str | None:
    """The SVG of the leader against the runner-up for a report export, or None when the case has no
    ranking of two entities to chart."""
    try:
        return chart_svg(evidence_chart(analysis, knowledge))
    except (KeyError, ValueError):
        return None


def chart_paths(target: str | Path, case_ids: Iterable[str]) -> list[Path]:
    """Where the charts of several cases go: ``target`` itself for one case; ``STEM-<case id>SUFFIX``
    beside it (suffix ``.svg`` when ``target`` has none) for each of several, ``-2``, ``-3`` … after an id
    that comes again. (Case ids are letters, digits, ``-``, ``_`` and ``.``: never a path.)"""
    ids = list(case_ids)
    path = Path(target)
    if len(ids) == 1:
        return [path]
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
        name = i if seen[i] == 1 else f"{i}-{seen[i]}"  # a case id given twice does not overwrite
        out.append(path.with_name(f"{path.stem}-{name}{path.suffix or '.svg'}"))
    return out


def write_charts(target: str | Path, analyses: list[Analysis], knowledge: Knowledge) -> list[str]:
    """Write the leader-against-runner-up chart of each ranked case (:func:`chart_paths` names the
    files), each atomically. Returns one line per case for the user: where its chart went, or why it
    has none. Raises ``OSError`` when a file cannot be written (the files written before it stay)."""
    if not analyses:
        return ["no chart written: no case was ranked"]
    lines = []
    for path, analysis in zip(chart_paths(target, [a.case_id for a in analyses]), analyses):
        svg = report_chart_svg(analysis, knowledge)
        if svg is None:
            lines.append(f"no chart for case {_plain(analysis.case_id)}: fewer than two entities are ranked")
            continue
        from ddx.yamlio import atomic_write_text

        atomic_write_text(path, svg)
        lines.append(f"evidence chart of {_plain(analysis.case_id)} written to {_plain(str(path))}")
    return lines


# ------------------------------------------------------------------ terminal

MIN_WIDTH = 30
WIDE_AT = 64  # from this width a finding and its bar share one line


def _wrap(text: str, width: int, lines: int = 3) -> list[str]:
    """``text`` wrapped to ``width`` columns, at most ``lines`` lines (the last one cut with '…')."""
    out = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]
    if len(out) > lines:
        out = out[: lines - 1] + [_cut(" ".join(out[lines - 1 :]), width)]
    return out


def chart_text(chart: EvidenceChart, width: int = 80) -> Text:
    """The chart for a terminal ``width`` columns wide (at least ``MIN_WIDTH``): the two candidates, a
    legend, one row per finding with its value and a bar diverging from a centre line (``│``; right
    favours the first candidate), an axis, and the sum with the prior and posterior odds.

    Cited bars are solid (``█``, half cells ``▌``/``▐``), estimates shaded (``▒``) and marked ``~``.
    No line is longer than ``width``. From ``WIDE_AT`` columns a finding, its value and its bar share a
    line (a long finding wraps below); narrower, the finding has its own line and the bar and value go
    under it.
    """
    width = max(width, MIN_WIDTH)
    a, b = chart.favoured, chart.other
    wide = width >= WIDE_AT
    values = [f"{_value(bar)}{ESTIMATE_MARK if bar.estimate else ' '}" for bar in chart.bars]
    value_w = max((len(v) for v in values), default=6)
    if wide:
        half = max(6, min(16, (width - value_w - 34) // 2))
        label_w = width - (2 * half + 1) - value_w - 2
        lead = " " * (label_w + value_w + 2)
    else:
        half = min(16, (width - value_w - 2) // 2)
        label_w, lead = width, ""
    limit = max((abs(bar.log10_lr) for bar in chart.bars), default=0.0) or 0.1

    text = Text()
    first, second = _plain(f"{a.label} ({a.role})"), _plain(f"against {b.label} ({b.role})")
    head = [f"{first} {second}"] if len(first) + len(second) < width else [first, second]
    text.append("\n".join(line for part in head for line in _wrap(part, width, 2)), style="bold")
    legend = f"█ cited  ▒ {ESTIMATE_MARK} estimate"
    heading = f"{AXIS_LABEL} per recorded finding"
    for line in [f"{heading};  {legend}"] if len(heading) + len(legend) + 3 <= width else _wrap(heading, width, 2) + [legend]:
        text.append("\n" + line, style="dim")
    text.append("\n" + lead)
    text.append(_cut(_plain(f"◀ {b.short}"), half).rjust(half), style="red")
    text.append("│", style="dim")
    text.append(_cut(_plain(f"{a.short} ▶"), half).ljust(half), style="green")
    if not chart.bars:
        text.append("\n" + _cut("no recorded finding is scored", width), style="dim italic")
    value_style = {True: "italic", False: "bold"}
    for bar, value in zip(chart.bars, values):
        label = _wrap(_plain(bar.finding), label_w)
        if wide:
            text.append("\n" + label[0].ljust(label_w) + " ")
            text.append(value.rjust(value_w), style=value_style[bar.estimate])
            text.append(" ")
            text.append_text(_bar_cells(bar, half, limit))
            for more in label[1:]:
                text.append("\n" + more)
        else:
            text.append("\n" + "\n".join(label) + "\n")
            text.append_text(_bar_cells(bar, half, limit))
            text.append(" ")
            text.append(value.rjust(value_w), style=value_style[bar.estimate])
    text.append("\n" + lead + f"−{limit:.2f}".ljust(half) + "0" + f"+{limit:.2f}".rjust(half), style="dim")
    t = "" if chart.temperature == 1 else f"{chart.temperature:g} × "
    line = (
        (f"sum {chart.total:+.2f}; prior {chart.prior_log10_odds:+.2f} + {t}sum = posterior {chart.posterior_log10_odds:+.2f}")
        if t
        else (f"sum {chart.total:+.2f} + prior {chart.prior_log10_odds:+.2f} = posterior {chart.posterior_log10_odds:+.2f}")
    )
    odds = _plain(f"(log10 odds {a.short} : {b.short})")
    parts = [f"{line} {odds}"] if len(line) + len(odds) < width else _wrap(line, width, 2) + _wrap(odds, width, 2)
    for part in parts:
        text.append("\n" + part, style="dim")
    return text


def _bar_cells(bar: ChartBar, half: int, limit: float) -> Text:
    """The bar of one finding: ``half`` cells each side of a centre line, scaled so ``limit`` fills a side."""
    v = bar.log10_lr
    fill = abs(v) / limit * half if limit > 0 else 0.0
    if bar.estimate:
        cells = min(half, round(fill)) or (1 if abs(v) >= 0.005 else 0)
        body = "▒" * cells
    else:
        halves = min(2 * half, round(fill * 2)) or (1 if abs(v) >= 0.005 else 0)
        body = "█" * (halves // 2)
        if halves % 2:
            body = body + "▌" if v >= 0 else "▐" + body
    out = Text()
    if v >= 0:
        out.append(" " * half)
        out.append("│", style="dim")
        out.append(body, style="green")
        out.append(" " * (half - len(body)))
    else:
        out.append(" " * (half - len(body)))
        out.append(body, style="red")
        out.append("│", style="dim")
        out.append(" " * half)
    return out
