"""A draft report comment (``ddx eval --format report``).

The wording lives in ``rules/reports.yaml`` (per-entity diagnosis lines and
cited closing sentences); this module only assembles the recorded findings,
the ranking's reasons and the suggested tests into that frame, in the style of
the reference page's sample pathology report.
"""

from __future__ import annotations

import textwrap
from string import Template
from typing import Any

from ddx.analysis import Analysis
from ddx.knowledge import Knowledge
from ddx.ranking import Ranker, join_words, lower_first

WIDTH = 96
EXTENT_WORDS = {"diffuse": "diffusely positive", "focal": "focally positive", "patchy": "patchily positive"}


def _term(text: str) -> str:
    return text.replace("_", " ")


def citations(sources: list[str], limit: int = 8) -> list[str]:
    """The distinct citations in ';'-joined source strings, in order of appearance."""
    out: list[str] = []
    for source in sources:
        for part in source.split("; "):
            part = part.strip().rstrip(".")
            if part and part not in out:
                out.append(part)
    return out[:limit]


def describe_morphology(case: Any) -> list[str]:
    """Sentences describing the recorded morphology (nothing that was not recorded)."""
    m = getattr(case, "morphology", None)
    if m is None:
        return []
    out = []
    cells = [_term(c) for c in (m.cell_types or [])]
    if cells:
        sentence = f"The tumour is composed of {join_words(cells)} cells"
        if m.cytoplasm:
            sentence += f" with {_term(m.cytoplasm)} cytoplasm"
        if m.architecture:
            sentence += f", arranged in {join_words([_term(a) for a in m.architecture])}"
        out.append(sentence + ".")
    elif m.architecture:
        out.append(f"The growth pattern is {join_words([_term(a) for a in m.architecture])}.")
    if m.stroma:
        out.append(f"The stroma is {join_words([_term(s) for s in m.stroma])}.")
    infl = [_term(i) for i in (m.inflammation or [])]
    density = m.inflammation_density
    if density == "none":
        out.append("There is no inflammatory infiltrate.")
    elif infl or density:
        words = f"{density} inflammatory infiltrate" if density else "inflammatory infiltrate"
        out.append(f"There is a {words}" + (f" of {join_words(infl)}" if infl else "") + ".")
    grade = []
    if m.pleomorphism:
        grade.append("no pleomorphism" if m.pleomorphism == "none" else f"{m.pleomorphism} pleomorphism")
    if m.nucleoli:
        grade.append(f"{m.nucleoli} nucleoli")
    if m.mitoses_per_10hpf is not None:
        grade.append(f"{m.mitoses_per_10hpf:g} mitoses per 10 HPF")
    elif m.mitoses_per_mm2 is not None:
        grade.append(f"{m.mitoses_per_mm2:g} mitoses per mm²")
    if m.atypical_mitoses:
        grade.append("atypical mitoses" if m.atypical_mitoses == "present" else "no atypical mitoses")
    if m.necrosis:
        grade.append("necrosis" if m.necrosis == "present" else "no necrosis")
    if grade:
        out.append(f"There is {join_words(grade)}.")
    if m.circumscription:
        out.append("The tumour is well circumscribed." if m.circumscription == "well_circumscribed"
                   else "The tumour is infiltrative.")
    return out


def describe_stains(case: Any, knowledge: Knowledge) -> list[str]:
    stains = getattr(case, "stains", None) or {}
    label = knowledge.vocab.stains.label
    groups: dict[str, list[str]] = {}
    ki67 = None
    for name, f in stains.items():
        if name == "ki67" and f.percent is not None:
            ki67 = f.percent
            continue
        text = lower_first(label(name))
        if f.pattern:
            text += f" ({_term(f.pattern)} pattern)"
        elif f.percent is not None:
            text += f" ({f.percent:g}%)"
        if f.result == "positive":
            groups.setdefault(EXTENT_WORDS.get(f.extent or "", "positive"), []).append(text)
        elif f.result == "negative":
            groups.setdefault("negative", []).append(text)
        else:
            groups.setdefault("equivocal", []).append(text)
    order = ["diffusely positive", "positive", "patchily positive", "focally positive", "negative", "equivocal"]
    parts = [f"{word} for {join_words(groups[word])}" for word in order if word in groups]
    out = []
    if parts:
        out.append(f"Immunohistochemistry shows that the tumour cells are {join_words(parts)}.")
    if ki67 is not None:
        out.append(f"The proliferation index by Ki67 is {ki67:g}%.")
    return out


def describe_molecular(case: Any, knowledge: Knowledge) -> list[str]:
    mol = getattr(case, "molecular", None) or {}
    if not mol:
        return []
    label = knowledge.vocab.molecular.label
    found = [label(t) for t, v in mol.items() if v == "present"]
    absent = [label(t) for t, v in mol.items() if v == "absent"]
    parts = []
    if found:
        parts.append(f"{join_words(found)} detected")
    if absent:
        parts.append(f"no {join_words(absent)}")
    return [f"Molecular studies: {'; '.join(parts)}."] if parts else []


def render_report(analysis: Analysis, knowledge: Knowledge, ranker: Ranker, *, differential: int = 4) -> str:
    """The draft comment as plain text."""
    if analysis.problems:
        return f"{analysis.case_id}: not ranked\n" + "\n".join(f"  - {p}" for p in analysis.problems) + "\n"
    t = knowledge.reports
    case = analysis.case
    leader = analysis.ranking[0]
    template = t.entities.get(leader.entity)
    diagnosis = template.diagnosis if template else leader.name
    clinical = getattr(case, "clinical", None)
    site = _term(clinical.site) if clinical is not None and clinical.site else "site not stated"
    band = analysis.confidence.label.lower() if analysis.confidence else "no confidence band"
    values = {"site": site, "diagnosis": diagnosis, "leader": diagnosis[:1].lower() + diagnosis[1:],
              "probability": f"{leader.probability * 100:.0f}%", "band": band}

    def fill(text: str) -> str:
        return Template(text).safe_substitute(values)

    def para(text: str, indent: str = "") -> list[str]:
        return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=" " * len(indent)) or [indent]

    lines = [fill(t.heading), f"Case {analysis.case_id}; {knowledge.version_line}", ""]
    lines += para(fill(t.specimen))
    lines += para(fill(t.favoured), "  - ")
    lines.append("")
    findings = describe_morphology(case) + describe_stains(case, knowledge) + describe_molecular(case, knowledge)
    comment = " ".join(findings) if findings else "No morphologic, immunohistochemical or molecular findings were recorded."
    lines += para("Comment: " + comment)
    lines.append("")
    closing = fill(t.overall)
    if template and template.comment:
        closing += " " + template.comment.strip()
    lines += para(closing)
    lines.append("")

    others = [r for r in analysis.ranking[1:1 + differential]]
    if others:
        lines.append("Differential diagnosis considered:")
        for r in others:
            reasons = ranker.contrast(analysis.matched, leader.entity, r.entity)
            why = ("; ".join(c.phrase(leader.entity, r.entity) for c in reasons)
                   if reasons else "no recorded finding separates it; it ranks lower on prior frequency")
            name = t.entities[r.entity].diagnosis if r.entity in t.entities else r.name
            pct = f"{r.probability * 100:.1f}%" if r.probability >= 0.001 else "<0.1%"
            lines += para(f"{name} ({pct}): less likely because of {why}.", "  - ")
        lines.append("")
    if analysis.confidence:
        lines += para(f"Confidence: {analysis.confidence.label}. {analysis.confidence.action}")
        lines.append("")
    if analysis.suggestions:
        lines.append("Recommended additional tests:")
        for s in analysis.suggestions:
            lines += para(s.why, "  - ")
        lines.append("")
    if analysis.caveats:
        lines.append("Caveats:")
        for c in analysis.caveats:
            lines += para(f"{c.text} ({c.source})", "  - ")
        lines.append("")
    sources = citations([e.source for e in leader.supporting[:4]])
    if sources:
        lines.append("Sources of the leading evidence:")
        for src in sources:
            lines += para(src, "  - ")
        lines.append("")
    lines += para(fill(t.disclaimer.strip()))
    return "\n".join(lines).rstrip() + "\n"
