"""Rendering analyses: the contract's JSON shape, markdown, and rich text.

No Textual and no click here: the CLI and the TUI both call these.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.containers import Lines
from rich.markup import escape
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ddx import __version__
from ddx.analysis import Analysis, Unused, provenance_line
from ddx.facts import case_facts
from ddx.knowledge import Knowledge
from ddx.ranking import FIGURE_SPACE, Evidence, RankedEntity, lower_first, percent_text, probability_text, ranker_for
from ddx.report_comment import figure_text, pointer_findings, pointer_tests, unused_texts
from ddx.safetext import markdown_text, printable
from ddx.suggest import Suggestion, no_test_text

DISCLAIMER = (
    "Decision support only: ddx ranks candidates from the findings entered and its cited rules. "
    "It does not make a diagnosis; the pathologist does."
)


_COMPACT = (",", ":")
# in a lean line, a suggested test keeps what varies per case (the test's label, cost label, relative cost and
# turnaround are the same on every line: rules/vocabulary.yaml and rules/ancillary.yaml)
_LEAN_TEST_DROP = frozenset({"label", "cost_label", "relative_cost", "turnaround"})


# one encoder for every line: json.dumps with these arguments would build one per call (the same text)
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=_COMPACT).encode


def _dumps(value: Any) -> str:
    return _ENCODE(value)


def _head(analysis: Analysis) -> dict[str, Any]:
    """The keys a case's JSON begins with: ``id``, ``file`` (when known), ``sheet`` (a workbook row's) and ``expected``."""
    head: dict[str, Any] = {"id": analysis.case_id}
    if analysis.file:
        head["file"] = analysis.file
    if analysis.sheet is not None:
        head["sheet"] = analysis.sheet
    head["expected"] = analysis.expected
    return head


def _head_and_tail(analysis: Analysis, knowledge: Knowledge) -> tuple[dict[str, Any], dict[str, Any]]:
    head = _head(analysis)
    tail: dict[str, Any] = {
        "confidence": analysis.confidence.to_dict() if analysis.confidence else None,
        "suggested_tests": [s.to_dict() for s in analysis.suggestions],
        "no_separating_test": analysis.no_separating_test,
        "caveats": [{"rule": c.rule, "text": c.text, "source": c.source} for c in analysis.caveats],
        "unused_findings": [u.to_dict() for u in analysis.unused],
        "outside_differential": analysis.outside.to_dict() if analysis.outside else None,
        "informative_findings": analysis.informative,
        "lead_basis": analysis.lead_basis.to_dict() if analysis.lead_basis else None,
        "errors": [p.to_dict() for p in analysis.problems],
        "rules_version": knowledge.settings.version,
        "rules_hash": knowledge.content_hash[:12],
        "rules_dir": str(knowledge.directory),
        "prior_set": knowledge.prior_set,
        "ddx_version": __version__,
        "engine": analysis.engine or None,
    }
    return head, tail


def _entry(r: RankedEntity, knowledge: Knowledge) -> dict[str, Any]:
    out: dict[str, Any] = {"entity": r.entity, "name": r.name, "probability": round(r.probability, 6), "score": round(r.score, 4)}
    if r.subtype is not None:
        out["subtype"] = {
            "slug": r.subtype,
            "name": r.subtype_name,
            "short": knowledge.profile_short(r.subtype),  # "conventional ILMS", "TFCP2-RMS", "SRMS NOS"
            "share": round(r.subtype_share or 0.0, 4),
        }
    return out


def entity_label(r: RankedEntity, knowledge: Knowledge, *, share: bool = True) -> str:
    """'lms'; for an entity with subtypes, its leading profile: 'srms · TFCP2-RMS (share 92 %)' or
    'ilms · conventional (share 51 %; RMS-in-IRMT 49 %)', the next profile named when it holds at least
    :data:`ddx.ranking.RUNNER_UP_SHARE` — the share is of the entity's probability (``share=False``:
    'srms · TFCP2-RMS')."""
    if r.subtype is None:
        return r.entity
    short = profile_short_label(r.subtype, r.entity, knowledge)
    if not share:
        return f"{r.entity} · {short}"
    also = f"; {profile_short_label(r.runner_up[0], r.entity, knowledge)} {percent_text(r.runner_up[1])}" if r.runner_up else ""
    return f"{r.entity} · {short} (share {percent_text(r.subtype_share or 0.0)}{also})"


def profile_short_label(profile: str, entity: str, knowledge: Knowledge) -> str:
    """A profile's short name as a ranking line gives it: 'conventional' (the entity's rest), 'TFCP2-RMS'."""
    return (knowledge.entity[entity].other_short or entity) if profile == entity else knowledge.short_name(profile)


def to_json(analysis: Analysis, knowledge: Knowledge, *, evidence_for: int | None = None) -> dict[str, Any]:
    """The contract's machine-readable result (case-format.md, "Machine-readable results").

    Every entity is ranked; ``evidence_for=K`` lists the evidence of the first
    K entities only (the others have no ``evidence`` key), to keep large batch
    files small. None lists it for all.
    """
    head, tail = _head_and_tail(analysis, knowledge)
    ranking = []
    for place, r in enumerate(analysis.ranking):
        entry = _entry(r, knowledge)
        if evidence_for is None or place < evidence_for:
            entry["evidence"] = [e.to_dict() for e in r.evidence if e.listed]
        ranking.append(entry)
    return {**head, "ranking": ranking, **tail}


def to_json_line(analysis: Analysis, knowledge: Knowledge, *, evidence_for: int | None = None) -> str:
    """``to_json`` as one compact line of JSON (jsonl), byte-identical to
    ``json.dumps(to_json(...), ensure_ascii=False, separators=(",", ":"))``.

    A full ranking holds about 200 pieces of evidence, each fixed by (rule,
    entity); their JSON is built once (``Evidence.json_text``) and joined here,
    which is what makes batch output fast.
    """
    head, tail = _head_and_tail(analysis, knowledge)
    entries = []
    for place, r in enumerate(analysis.ranking):
        text = _dumps(_entry(r, knowledge))
        if evidence_for is None or place < evidence_for:
            listed = ",".join(e.json_text for e in r.evidence if e.listed)
            text = f'{text[:-1]},"evidence":[{listed}]}}'
        entries.append(text)
    return f'{_dumps(head)[:-1]},"ranking":[{",".join(entries)}],{_dumps(tail)[1:]}'


def to_lean_line(analysis: Analysis, knowledge: Knowledge, *, evidence_for: int | None = 3) -> str:
    """A case's lean batch line (``ddx batch --format jsonl``, the default ``--evidence top``): the
    contract's keys, with what is the same on every line left out.

    * each ranked entity: ``entity``, ``probability``, ``score`` and, for an entity with subtypes,
      ``subtype: {slug, share}`` (names: ``ddx rules list``);
    * evidence for the first ``evidence_for`` entities (None: all; 0: none), each ``{rule, weight, figure,
      source}`` with ``source`` a short key (``Merchant1995``) whose citation the batch summary lists once
      under ``sources`` (and ``ddx batch --sources FILE`` writes);
    * caveats ``{rule, source}``; suggested tests without their label, cost label and turnaround; pointers
      outside the differential ``{entity, findings, source}``; the confidence band ``{band, label,
      confirm_tests, confirm_with}`` (its action sentence is in the text and report formats);
    * ``"detail": "lean"``. ``ddx batch --evidence all`` writes the full shape of :func:`to_json_line`.
    """
    ranker = ranker_for(knowledge)
    keys = ranker.source_key
    head = _head(analysis)
    entries = []
    for place, r in enumerate(analysis.ranking):
        # slugs are [a-z0-9_-] (knowledge validation) and a float's repr is its JSON: no encoder needed
        text = f'{{"entity":"{r.entity}","probability":{round(r.probability, 6)!r},"score":{round(r.score, 4)!r}'
        if r.subtype is not None:
            text += f',"subtype":{{"slug":"{r.subtype}","share":{round(r.subtype_share or 0.0, 4)!r}}}'
        if evidence_for is None or place < evidence_for:
            text += f',"evidence":[{ranker.lean_evidence(r)}]'
        entries.append(text + "}")
    outside = None
    if analysis.outside:
        outside = analysis.outside.to_dict()
        outside["pointers"] = [
            {"entity": p.slug, "findings": list(p.findings), "source": keys.get(p.source, p.source)} for p in analysis.outside.pointers
        ]
    confidence = analysis.confidence
    # the keys of _head_and_tail, in its order, in their lean form; what is the same on every line is written once
    # and what repeats from line to line (a band, a caveat, a finding not used) is encoded once and kept
    tail = [
        f'"confidence":{"null" if confidence is None else _kept(_BAND_KEYS, confidence.lean_values)}',
        f'"suggested_tests":[{",".join([_lean_test_text(s) for s in analysis.suggestions])}]',
        f'"no_separating_test":{_LITERALS[analysis.no_separating_test]}',
        f'"caveats":[{",".join([_kept(_CAVEAT_KEYS, (c.rule, keys.get(c.source, c.source))) for c in analysis.caveats])}]',
        f'"unused_findings":[{_unused_texts(analysis.unused)}]',
        f'"outside_differential":{_dumps(outside)}',
        f'"informative_findings":{analysis.informative:d}',
        f'"lead_basis":{_dumps(analysis.lead_basis.to_dict()) if analysis.lead_basis else "null"}',
        f'"errors":{_dumps([p.to_dict() for p in analysis.problems])}',
    ]
    return f'{_dumps(head)[:-1]},"ranking":[{",".join(entries)}],{",".join(tail)},{_lean_constants(knowledge, analysis.engine)}}}'


def _lean_test(test: dict[str, Any]) -> dict[str, Any]:
    """A suggested test's JSON object without what is the same on every line (:data:`_LEAN_TEST_DROP`)."""
    return {k: v for k, v in test.items() if k not in _LEAN_TEST_DROP}


_LITERALS = {None: "null", True: "true", False: "false"}
_KEPT: dict[tuple[object, ...], str] = {}
_BAND_KEYS = ("band", "label", "confirm_tests", "confirm_with")
_CAVEAT_KEYS = ("rule", "source")


def _kept(names: tuple[str, ...], values: tuple[object, ...]) -> str:
    """The JSON object ``{names[i]: values[i]}`` of a lean line's confidence band ``{band, label, confirm_tests,
    confirm_with}`` or caveat ``{rule, source}``, encoded once (a run has a few dozen of each); values are
    strings, None or tuples of strings (JSON lists)."""
    key = (*names, *values)
    text = _KEPT.get(key)
    if text is None:
        if len(_KEPT) >= 4096:
            _KEPT.clear()
        text = _KEPT[key] = _dumps(dict(zip(names, values, strict=True)))
    return text


def _unused_texts(unused: list[Unused]) -> str:
    """The findings not used, as the inside of a JSON list: each ``u.to_dict()``'s JSON, made once per
    :class:`Unused` object (the analyzer shares one per finding and value: a batch repeats a few hundred)."""
    return ",".join([u.json_text for u in unused])


_LEAN_TESTS: dict[tuple[object, ...], tuple[str, str, str]] = {}


def _lean_test_text(s: Suggestion) -> str:
    """``_dumps(_lean_test(s.to_dict()))``, from three pieces kept per test, why, cost class, leader,
    contrast and askers (a batch meets a few hundred): only the two gains are written per case."""
    key = (s.test, s.kind, s.why, s.cost.cls, s.leader, s.contrast, s.asked_by, s.also, s.pointers)
    pieces = _LEAN_TESTS.get(key)
    if pieces is None:
        whole = _lean_test(s.to_dict())
        names = list(whole)
        cut, per_cost = names.index("gain_bits"), names.index("gain_per_cost")
        head = _dumps({k: whole[k] for k in names[:cut]})[:-1] + ',"gain_bits":'
        middle = "," + _dumps({k: whole[k] for k in names[cut + 1 : per_cost]})[1:-1] + ',"gain_per_cost":'
        tail = "," + _dumps({k: whole[k] for k in names[per_cost + 1 :]})[1:]
        if len(_LEAN_TESTS) >= 4096:
            _LEAN_TESTS.clear()
        pieces = _LEAN_TESTS[key] = (head, middle, tail)
    head, middle, tail = pieces
    return f"{head}{round(s.gain, 4)!r}{middle}{round(s.gain_per_cost, 4)!r}{tail}"


_CONSTANTS: dict[tuple[int, str], tuple[Knowledge, str]] = {}


def _lean_constants(knowledge: Knowledge, engine: str) -> str:
    """The end of a lean line, the same on every line of a run (rules, ddx version, engine, ``detail``):
    the JSON members of :func:`_head_and_tail`'s last keys, made once per rule set and engine."""
    hit = _CONSTANTS.get((id(knowledge), engine))
    if hit is not None and hit[0] is knowledge:
        return hit[1]
    _, tail = _head_and_tail(Analysis(case_id="", case=None, engine=engine), knowledge)
    constants = {k: tail[k] for k in ("rules_version", "rules_hash", "rules_dir", "prior_set", "ddx_version", "engine")}
    text = _dumps({**constants, "detail": "lean"})[1:-1]
    if any(held is not knowledge for held, _ in _CONSTANTS.values()):
        _CONSTANTS.clear()  # another rule set's: keep one rule set alive here, as ranker_for does
    _CONSTANTS[(id(knowledge), engine)] = (knowledge, text)
    return text


def _bar(p: float, width: int = 20) -> str:
    full = int(round(p * width))
    return "█" * full + "·" * (width - full)


def _weight(e: Evidence) -> str:
    return f"{e.weight:+.2f}"


def _evidence_line(e: Evidence) -> str:
    """'+0.38 Keratin positive (25/25 cited → 0.96)': weight, finding, the figure with its
    count or strength, cited or estimate, and the probability used after shrinkage."""
    tag = "est." if e.estimate else "cited"
    return f"{_weight(e)} {e.finding} ({figure_text(e)}; {tag} → {e.p_used:.2f})"


def outside_lines(analysis: Analysis, knowledge: Knowledge) -> list[str]:
    """The outside-the-differential block as plain lines (empty when nothing points outside)."""
    o = analysis.outside
    if not o:
        return []
    recorded = case_facts(analysis.case, knowledge.vocab) if analysis.case is not None else {}
    lines = []
    for p in o.pointers:
        found = ", ".join(pointer_findings(p, recorded, knowledge)) or "the recorded findings"
        tests = pointer_tests(p, knowledge)
        test = f" Would test it: {tests}." if tests else ""
        lines.append(f"{p.name}: {found}. {p.summary}{test} ({p.source})")
    for u in o.unexplained:
        lines.append(f"{u.finding}: no modelled entity shows it often (at most {u.p * 100:.0f} %, {u.best}).")
    return lines


def markup_text(text: str) -> str:
    """Text from a case, a rule file or a baseline inside a Rich markup string: brackets shown literally,
    control characters shown escaped, one line (it can neither style, link, clear nor retitle the terminal)."""
    return escape(printable(str(text), newlines=False))


# the weight is relative: a finding seen in a minority of ILMS and rarer still in the others is shown "for" ILMS
EVIDENCE_LEGEND = (
    "for / against: weight (log10 likelihood ratio against the differential as a whole), "
    "finding (figure; cited or est. → likelihood used; 'worth ≈N cases': how many cases a figure without a "
    "count weighs as)"
)
# pieces of evidence shown for and against each entity in text and markdown (``ddx eval --lines N``: N each)
FOR_LINES, AGAINST_LINES = 3, 2
SHARE_LEGEND = "entity · leading subtype (share: that subtype's part of the entity's probability)"
# above the ranking of a case whose findings point outside the differential (band "outside"): the bars are shares
# of what ddx models, not of the diagnosis
OUTSIDE_LEGEND = "probabilities among the modelled entities only: the findings point outside them"


_HELD = "\ue000"  # stands in for a figure's inner space while rich wraps: not whitespace, one cell wide


class FigureText(Text):
    """A :class:`rich.text.Text` whose wrapping never parts a figure from its sign ("~25 %", "< 1 %"): rich
    breaks at any whitespace, the no-break space included, so those spaces are held by a placeholder of
    the same width while the lines are made, then given back."""

    @classmethod
    def of(cls, text: Text) -> FigureText:
        """``text`` (its styles kept) as a FigureText."""
        out = cls(style=text.style, justify=text.justify, overflow=text.overflow, no_wrap=text.no_wrap, end=text.end)
        out.append_text(text)
        return out

    def wrap(self, console: Console, width: int, **kwargs: Any) -> Lines:
        held = self.copy()
        held.plain = FIGURE_SPACE.sub(_HELD, self.plain)  # the same length: the styles stay where they were
        lines = Text.wrap(held, console, width, **kwargs)
        for line in lines:
            line.plain = line.plain.replace(_HELD, " ")
        return lines


def _hanging(rows: list[tuple[str, Text]], *, marker_style: str = "", right: bool = False) -> Table:
    """Rows of (marker, text) as a grid: a text that wraps stays under itself, beside its marker (a figure
    stays whole: :class:`FigureText`)."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style=marker_style, justify="right" if right else "left")
    grid.add_column(overflow="fold")
    for marker, text in rows:
        grid.add_row(marker, FigureText.of(text))
    return grid


def ranking_table(analysis: Analysis, knowledge: Knowledge, *, top: int = 6, evidence_lines: int | None = None) -> Table:
    """The ranking as a rich grid that reads at 80 columns: per entity, a line with its rank, label, bar and
    probability, then its evidence for (up to three, or ``evidence_lines``) and against (up to two, or as many)
    indented under it, each item on lines of its own (wrapped under itself, never cut)."""
    n_for, n_against = (FOR_LINES, AGAINST_LINES) if evidence_lines is None else (evidence_lines, evidence_lines)
    grid = Table.grid(padding=(0, 1), expand=False)
    grid.add_column(justify="right", style="dim", no_wrap=True)
    grid.add_column(ratio=1)
    shown = analysis.ranking[:top]
    # every entity with subtypes names its leading profile and its share, as markdown, the report and the TUI
    # do: the evidence under it is that profile's, however remote the entity
    labels = [entity_label(r, knowledge) for r in shown]
    grid.add_row("", Text(EVIDENCE_LEGEND, style="dim"))
    if any(r.subtype is not None for r in shown):
        grid.add_row("", Text(SHARE_LEGEND, style="dim"))
    if analysis.confidence is not None and analysis.confidence.band == "outside":
        grid.add_row("", Text(OUTSIDE_LEGEND, style="yellow"))
    width = max((len(label) for label in labels), default=0)
    for i, (r, label) in enumerate(zip(shown, labels), start=1):
        head = Table.grid(padding=(0, 2))
        head.add_column(min_width=width, overflow="fold")  # the bars line up; a long label wraps on a narrow screen
        head.add_column(no_wrap=True, overflow="crop")  # the number first: on a narrow screen the bar is cut
        head.add_row(Text(label, style="bold"), f"{probability_text(r.probability):>8} {_bar(r.probability)}")
        grid.add_row(str(i), head)
        rows = [
            (kind if n == 0 else "", Text(line))
            for kind, items in (("for", r.supporting[:n_for]), ("against", r.opposing[:n_against]))
            for n, line in enumerate([_evidence_line(e) for e in items] or ["-"])
        ]
        grid.add_row("", _hanging(rows, marker_style="dim"))
    return grid


def render_text(analysis: Analysis, knowledge: Knowledge, *, top: int = 6, evidence_lines: int | None = None) -> RenderableType:
    """A rich renderable: the ranking with its evidence (``evidence_lines``: pieces for and against each entity; None:
    three for, two against), caveats and next tests (it reads at 80 columns)."""
    if analysis.problems:
        lines = Text()
        for p in analysis.problems:
            lines.append("✗ ", style="bold red")
            lines.append(str(p) + "\n")
        return Panel(lines, title=f"[bold red]{markup_text(analysis.case_id)}: not ranked", border_style="red")
    table = ranking_table(analysis, knowledge, top=top, evidence_lines=evidence_lines)
    parts: list[RenderableType] = []
    if analysis.confidence:
        band = FigureText()
        band.append(f"{analysis.confidence.label}: ", style="bold")
        band.append(analysis.confidence.action)
        parts.append(band)
    parts.append(table)
    rest = analysis.ranking[top:]
    if rest:
        # each figure one word ("<0.1"), its sign in the heading, so a wrapped line never parts "<", "0.1" and "%"
        figures = ", ".join(f"{r.entity} {probability_text(r.probability, '').replace(' ', '')}" for r in rest)
        parts.append(Text(f"also considered (%): {figures}", style="dim"))
    if analysis.lead_basis:
        parts.append(Text(analysis.lead_basis.sentence(knowledge.short_name), style="dim"))
    if analysis.outside:
        parts.append(Text("Outside the differential — the findings point beyond the entities ddx models:", style="bold yellow"))
        parts.append(_hanging([("  ◆", Text(line)) for line in outside_lines(analysis, knowledge)], marker_style="bold yellow"))
        parts.append(Text(""))
    if analysis.caveats:
        parts.append(_hanging([("⚠", Text(f"{c.text} [{c.rule}]")) for c in analysis.caveats], marker_style="bold yellow"))
        parts.append(Text(""))
    if analysis.unused:
        parts.append(Text("Recorded, not used by the ranking: " + "; ".join(unused_texts(analysis, knowledge)), style="dim"))
    if analysis.suggestions or analysis.no_separating_test:
        # listed by expected information gain per relative cost (rules/ancillary.yaml); each line gives its gain and cost
        sug = Text("Next tests (by information per cost):" if analysis.suggestions else "Next tests:", style="bold")
        if analysis.no_separating_test:
            sug.append(f" {lower_first(no_test_text(knowledge, analysis.confidence))}", style="")
        parts.append(sug)
        if analysis.suggestions:
            entries = [
                (f"  {n}.", Text(f"{s.why}  ").append(f"({s.detail})", style="dim"))
                for n, s in enumerate(analysis.suggestions, start=1)
            ]
            parts.append(_hanging(entries, right=True))
        parts.append(Text(""))
    if analysis.top and analysis.top.supporting:
        parts.append(Text("Sources of the leading evidence:", style="dim"))
        shown = FOR_LINES if evidence_lines is None else evidence_lines
        for e in analysis.top.supporting[:shown]:  # the citation wraps under itself, indented below its rule
            parts.append(Text(f"  {e.rule}:", style="dim"))
            parts.append(Padding(FigureText(e.grounds, style="dim", overflow="fold"), (0, 0, 0, 4)))
        parts.append(Text(""))
    title = f"[bold]{markup_text(analysis.case_id)}[/bold]"
    if analysis.expected:
        title += f"  (expected: {markup_text(analysis.expected)})"
    parts.append(Text(f"{provenance_line(knowledge, analysis)}\n{DISCLAIMER}", style="dim italic"))
    return Panel(Group(*parts), title=title, title_align="left")


# what the markdown table's score column is (a reader sorting by it would not get the ranking's order)
SCORE_LEGEND = (
    "Score: the sum of the evidence weights (log10 likelihood ratios against the whole differential) of the "
    "entity's leading profile. It leaves out the prior, so it need not fall in the order of the probabilities."
)


def _md(text: str) -> str:
    """Text for a markdown table cell: HTML, pipes, backslashes and control characters escaped."""
    return markdown_text(text)


def render_markdown(analysis: Analysis, knowledge: Knowledge, *, top: int = 6, evidence_lines: int | None = None) -> str:
    """The ranking as markdown (``evidence_lines`` as for :func:`render_text`), its cells escaped for the page."""
    n_for, n_against = (FOR_LINES, AGAINST_LINES) if evidence_lines is None else (evidence_lines, evidence_lines)
    lines = [f"## {_md(analysis.case_id)}", ""]
    if analysis.problems:
        lines.append("**Not ranked:**")
        lines += [f"- {_md(str(p))}" for p in analysis.problems]
        return "\n".join(lines) + "\n"
    if analysis.expected:
        lines += [f"Expected: `{analysis.expected}`", ""]
    if analysis.confidence:
        lines += [f"**{analysis.confidence.label}:** {analysis.confidence.action}", ""]
        if analysis.confidence.band == "outside":
            lines += [f"_{OUTSIDE_LEGEND[0].upper()}{OUTSIDE_LEGEND[1:]}._", ""]
    lines += ["| # | entity | probability | score | evidence for | evidence against |", "|---:|---|---:|---:|---|---|"]
    for i, r in enumerate(analysis.ranking[:top], start=1):
        for_ = "<br>".join(_md(_evidence_line(e)) for e in r.supporting[:n_for]) or "-"
        against = "<br>".join(_md(_evidence_line(e)) for e in r.opposing[:n_against]) or "-"
        also = ""
        if r.runner_up is not None:
            also = f"; next: {r.runner_up[2]} ({percent_text(r.runner_up[1])})"
        name = r.name + (
            f"; leading: {r.subtype_name} (share {percent_text(r.subtype_share or 0.0)}){also}" if r.subtype is not None else ""
        )
        shown = probability_text(r.probability)
        lines.append(f"| {i} | {r.entity} ({_md(name)}) | {shown} | {r.score:+.2f} | {for_} | {against} |")
    lines += ["", f"_{SCORE_LEGEND}_"]
    if analysis.lead_basis:
        lines += ["", _md(analysis.lead_basis.sentence(knowledge.short_name))]
    if analysis.outside:
        lines += ["", "**Outside the differential**", ""] + [f"- {_md(line)}" for line in outside_lines(analysis, knowledge)]
    if analysis.caveats:
        lines += ["", "**Caveats**", ""] + [f"- {c.text} (`{c.rule}`; {c.source})" for c in analysis.caveats]
    if analysis.unused:
        lines += ["", "**Recorded, not used by the ranking:** " + _md("; ".join(unused_texts(analysis, knowledge)))]
    if analysis.no_separating_test:
        lines += ["", f"**Next tests:** {_md(lower_first(no_test_text(knowledge, analysis.confidence)))}."]
    if analysis.suggestions:  # with no separating test, what is left is what a caveat or a pointer asks for
        heading = "**Tests still asked for**" if analysis.no_separating_test else "**Next tests** (by information per cost)"
        lines += ["", heading, ""]
        lines += [f"{n}. {_md(s.why)} ({_md(s.detail)})" for n, s in enumerate(analysis.suggestions, 1)]
    if analysis.top:
        lines += ["", "**Sources (leading candidate)**", ""]
        lines += [f"- `{e.rule}`: {_md(e.grounds)}" for e in analysis.top.evidence[: max(5, n_for)]]
    lines += ["", f"_{_md(provenance_line(knowledge, analysis))}. {DISCLAIMER}_", ""]
    return "\n".join(lines)
