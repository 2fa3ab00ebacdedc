"""A draft report comment (``ddx eval --format report``).

The wording lives in ``rules/reports.yaml`` (per-entity diagnosis lines, cited
closing sentences and the sentence frames for subtypes, unused findings and
findings outside the differential); this module only assembles the recorded
findings, the ranking's reasons and the suggested tests into that frame, in the
style of the reference page's sample pathology report. The helpers that word a
finding, a figure or a citation are shared with the TUI.
"""

from __future__ import annotations

import re
import textwrap
from string import Template
from typing import Any

from ddx.analysis import Analysis, Pointer
from ddx.facts import case_facts
from ddx.knowledge import Knowledge, ReportTemplates
from ddx.ranking import Evidence, RankedEntity, Ranker, join_words, lower_first, percent
from ddx.safetext import printable
from ddx.suggest import no_test_text

WIDTH = 96
EXTENT_WORDS = {"diffuse": "diffusely positive", "focal": "focally positive", "patchy": "patchily positive"}


def _term(text: str) -> str:
    return text.replace("_", " ")


def fill(text: str, **values: Any) -> str:
    """A reports.yaml frame with its placeholders filled in (unknown ones are left as written)."""
    return Template(text).safe_substitute({k: str(v) for k, v in values.items()})


def _value_words(knowledge: Knowledge, path: str, value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (int, bool)):
        return str(value)
    termset = knowledge.vocab.termset_for(path)
    text = termset.label(str(value)) if termset is not None else str(value)
    return _term(text)


def _label_words(knowledge: Knowledge, path: str) -> str:
    parts = path.split(".")
    vocab = knowledge.vocab
    if parts[0] == "stains" and len(parts) >= 2:
        return vocab.stains.label(parts[1])
    if parts[0] == "molecular" and len(parts) >= 2:
        return vocab.molecular.label(parts[1])
    if parts[0] == "morphology" and len(parts) >= 2:
        return _term(vocab.morphology_fields.label(parts[1]))
    return _term(parts[-1])


def finding_text(knowledge: Knowledge, path: str, value: Any) -> str:
    """One recorded finding in words, from the ``findings`` frames of reports.yaml:
    ('stains.cd68', 'positive') -> 'CD68 positive'; ('morphology.cell_types', 'spindle') -> 'spindle cells'."""
    frame = knowledge.reports.finding_words(path)
    text = fill(frame, label=_label_words(knowledge, path), value=_value_words(knowledge, path, value))
    return " ".join(text.split())


def unused_texts(analysis: Analysis, knowledge: Knowledge) -> list[str]:
    """The recorded findings no matched scoring rule reads, in words."""
    return [finding_text(knowledge, u.path, u.value) for u in analysis.unused]


def _recorded(analysis: Analysis, knowledge: Knowledge) -> dict[str, Any]:
    return case_facts(analysis.case, knowledge.vocab) if analysis.case is not None else {}


def pointer_findings(pointer: Pointer, recorded: dict[str, Any], knowledge: Knowledge) -> list[str]:
    """The recorded findings an outside entity accounts for, in words ('S100 positive')."""
    out = []
    for path in pointer.findings:
        value = recorded.get(path.replace(".", "__"))
        values = value if isinstance(value, list) else [value]
        out += [finding_text(knowledge, path, v) if v is not None else _term(path) for v in values]
    return out


CITATION = re.compile(r"^[A-Z][A-Za-z&'. ]*?\s(?:1[89]|20)\d\d(?:;\s?[\w()]+(?::[\w-]+)?)?")


def short_source(source: str, limit: int = 90) -> str:
    """The first citation of a source, short: 'Nonaka D, et al. Am J Surg Pathol 2008;32:1291'."""
    first = source.split("; ")[0].strip()
    if first.startswith("pooled: "):
        first = first[len("pooled: "):]
    segments = [s.strip() for s in re.split(r"\.\s+", first) if s.strip()]
    if not segments:
        return source[:limit]
    head = CITATION.match(segments[0])
    if head:
        return head.group(0)
    for seg in segments[1:]:
        journal = CITATION.match(seg)
        if journal:
            authors = segments[0]
            if "," in authors and "et al" not in authors:
                authors = authors.split(",")[0] + ", et al"
            return f"{authors}. {journal.group(0)}"
    return first if len(first) <= limit else first[:limit - 1].rstrip() + "…"


def profile_short(knowledge: Knowledge, r: RankedEntity) -> str:
    """'TFCP2-RMS' for an entity led by a subtype, else the entity slug in capitals."""
    return knowledge.short_name(leading_subtype(r) or r.entity)


def leading_subtype(r: RankedEntity) -> str | None:
    """The slug of the entity's leading subtype, when it is not the entity's conventional / rest profile."""
    return r.subtype if r.subtype is not None and r.subtype != r.entity else None


def count_text(e: Evidence) -> str:
    """A figure's count, or the cases it weighs, for the finding as scored:
    '25/25 pooled from 5 series', '48/84' (a negated 36/84), '≈10 cases'."""
    lk = e.likelihood
    if lk.k is not None and lk.total is not None:
        if e.negated:
            return e.figure.replace(f"{lk.k}/{lk.total}", f"{lk.total - lk.k}/{lk.total}", 1)
        return e.figure
    return f"≈{e.strength:g} cases"


def figure_text(e: Evidence) -> str:
    """The figure behind a piece of evidence ('25/25', '~0.30, ≈10 cases'; '1 − …' for a negative finding)."""
    return f"1 − {e.figure}" if e.negated else e.figure


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


def _contrast_text(t: ReportTemplates, analysis: Analysis, ranker: Ranker, knowledge: Knowledge,
                   leader: RankedEntity, other: RankedEntity) -> list[str]:
    """Why ``other`` ranks below ``leader``: the findings that most favour the leader's leading
    profile over the other's, each with both figures and their counts or strength."""
    i = ranker.profile_index(leader.entity, leading_subtype(leader))
    j = ranker.profile_index(other.entity, leading_subtype(other))
    out = []
    for c in ranker.contrast(analysis.matched, leader.entity, other.entity,
                             favoured_subtype=leader.subtype, other_subtype=other.subtype):
        a, b = ranker.evidence[c.rule][i], ranker.evidence[c.rule][j]

        def shown(e: Evidence) -> str:
            return percent(1.0 - e.likelihood.p if e.negated else e.likelihood.p, e.estimate)

        out.append(fill(t.contrast, finding=lower_first(c.finding),
                        leader_p=shown(a), leader_short=profile_short(knowledge, leader), leader_figure=count_text(a),
                        other_p=shown(b), other_short=profile_short(knowledge, other), other_figure=count_text(b)))
    return out


def outside_paragraph(analysis: Analysis, knowledge: Knowledge) -> list[str]:
    """The caution items for findings outside the differential (empty when there are none)."""
    t = knowledge.reports
    if not analysis.outside:
        return []
    recorded = _recorded(analysis, knowledge)
    items = []
    for p in analysis.outside.pointers:
        words = pointer_findings(p, recorded, knowledge)
        items.append(fill(t.outside_pointer, findings=join_words(words) or "The recorded findings",
                          name=lower_first(p.name), source=short_source(p.source), rationale=p.rationale))
    for u in analysis.outside.unexplained:
        items.append(fill(t.outside_unexplained, finding=u.finding, p=percent(u.p, False),
                          best=knowledge.short_name(u.best)))
    return [item[:1].upper() + item[1:] for item in items]


def render_report(analysis: Analysis, knowledge: Knowledge, ranker: Ranker, *, differential: int = 4) -> str:
    """The draft comment as plain text."""
    if analysis.problems:
        return f"{printable(analysis.case_id, newlines=False)}: not ranked\n" + "\n".join(f"  - {p}" for p in analysis.problems) + "\n"
    t = knowledge.reports
    case = analysis.case
    leader = analysis.ranking[0]
    template = t.entities.get(leader.entity)
    diagnosis = template.diagnosis if template else leader.name
    sub = leading_subtype(leader)
    sub_template = t.entities.get(sub) if sub else None
    subtype = ""
    if sub:
        subtype = sub_template.diagnosis if sub_template else (leader.subtype_name or sub)
        subtype = lower_first(subtype)
    clinical = getattr(case, "clinical", None)
    site = _term(clinical.site) if clinical is not None and clinical.site else "site not stated"
    band = analysis.confidence.label.lower() if analysis.confidence else "no confidence band"
    values = {"site": site, "diagnosis": diagnosis, "leader": diagnosis[:1].lower() + diagnosis[1:],
              "probability": f"{leader.probability * 100:.0f}%", "band": band,
              "subtype": subtype, "share": f"{(leader.subtype_share or 0.0) * 100:.0f}%"}
    outside = bool(analysis.outside)

    def frame(text: str) -> str:
        return fill(text, **values)

    def para(text: str, indent: str = "") -> list[str]:
        return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=" " * len(indent)) or [indent]

    lines = [frame(t.heading), f"Case {printable(analysis.case_id, newlines=False)}; {knowledge.version_line}", ""]
    lines += para(frame(t.specimen))
    favoured = t.favoured_outside if outside else t.favoured_subtype if sub else t.favoured
    lines += para(frame(favoured), "  - ")
    lines.append("")
    findings = describe_morphology(case) + describe_stains(case, knowledge) + describe_molecular(case, knowledge)
    comment = " ".join(findings) if findings else "No morphologic, immunohistochemical or molecular findings were recorded."
    lines += para("Comment: " + comment)
    lines.append("")
    closing = frame(t.overall_outside if outside else t.overall)
    if sub:
        closing += " " + frame(t.subtype)
    for tpl in (template, sub_template):
        if tpl and tpl.comment:
            closing += " " + tpl.comment.strip()
    lines += para(closing)
    lines.append("")
    cautions = outside_paragraph(analysis, knowledge)
    if cautions:
        lines += para(frame(t.outside_heading))
        for item in cautions:
            lines += para(item, "  - ")
        lines.append("")

    others = [r for r in analysis.ranking[1:1 + differential]]
    if others:
        lines.append("Differential diagnosis considered:")
        for r in others:
            reasons = _contrast_text(t, analysis, ranker, knowledge, leader, r)
            why = ("; ".join(reasons) if reasons
                   else "no recorded finding separates it; it ranks lower on prior frequency")
            name = t.entities[r.entity].diagnosis if r.entity in t.entities else r.name
            other_sub = leading_subtype(r)
            if other_sub:
                short = profile_short(knowledge, r)
                name = fill(t.other_subtype, diagnosis=name, subtype=short,
                            share=f"{(r.subtype_share or 0.0) * 100:.0f}%")
            pct = f"{r.probability * 100:.1f}%" if r.probability >= 0.001 else "<0.1%"
            lines += para(f"{name} ({pct}): less likely because of {why}.", "  - ")
        lines.append("")
    if analysis.confidence:
        lines += para(f"Confidence: {analysis.confidence.label}. {analysis.confidence.action}")
        lines.append("")
    unused = unused_texts(analysis, knowledge)
    if unused:
        lines += para(fill(t.unused, findings=join_words(unused)))
        lines.append("")
    if analysis.suggestions or analysis.no_separating_test:
        lines.append("Recommended additional tests:")
        if analysis.no_separating_test:
            lines += para(no_test_text(knowledge) + ".", "  - ")
        for s in analysis.suggestions:
            lines += para(f"{s.why} ({s.detail})", "  - ")
        lines.append("")
    if analysis.caveats:
        lines.append("Caveats:")
        for c in analysis.caveats:
            lines += para(f"{c.text} ({c.source})", "  - ")
        lines.append("")
    leading = leader.supporting[:4]
    if leading:
        lines.append("Sources of the leading evidence:")
        for e in leading:
            source = e.source[len("pooled: "):] if e.source.startswith("pooled: ") else e.source
            lines += para(fill(t.evidence_source, finding=e.finding, figure=figure_text(e), source=source), "  - ")
        lines.append("")
    lines += para(frame(t.disclaimer.strip()))
    return "\n".join(lines).rstrip() + "\n"
