"""A draft report comment (``ddx eval --format report``).

The wording lives in ``rules/reports.yaml`` (per-entity diagnosis lines, cited
closing sentences and the sentence frames for subtypes, unused findings and
findings outside the differential); this module only assembles the recorded
findings, the ranking's reasons and the suggested tests into that frame, in the
style of the reference page's sample pathology report. The helpers that word a
finding, a figure or a citation are shared with the TUI.
"""

from __future__ import annotations

import math
import re
import textwrap
from string import Template
from typing import Any

from ddx.analysis import Analysis, Pointer, provenance_line
from ddx.citations import split_citations
from ddx.facts import case_facts
from ddx.knowledge import Knowledge, ReportTemplates, Rule
from ddx.knowledge.models import EntityReport
from ddx.knowledge.vocabulary import fold
from ddx.ranking import (
    FIGURE_SPACE,
    Evidence,
    RankedEntity,
    Ranker,
    basis_text,
    given_name,
    join_words,
    lower_first,
    percent,
    percent_text,
    without_worth,
)
from ddx.ranking import figure_text as ranking_figure_text
from ddx.safetext import printable
from ddx.suggest import no_test_text

WIDTH = 96


def _term(text: str) -> str:
    return text.replace("_", " ")


def fill(frame: str, /, **values: Any) -> str:
    """A reports.yaml frame with its placeholders filled in (unknown ones are left as written)."""
    return Template(frame).safe_substitute({k: str(v) for k, v in values.items()})


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


def _cited_as(knowledge: Knowledge, path: str) -> str:
    """A finding's name as a citation writes it: 'Langerin (CD207)' -> 'Langerin', 'NAB2-STAT6 fusion' -> 'NAB2-STAT6',
    'SS18 rearrangement (SS18-SSX)' -> 'SS18' (the brackets first, then the suffix they may have hidden)."""
    words = re.sub(r"\s*\(.*?\)", "", _label_words(knowledge, path)).strip()
    return re.sub(r"\s+(?:fusion|rearrangement|mutation|amplification)$", "", words).strip()


def finding_text(knowledge: Knowledge, path: str, value: Any) -> str:
    """One recorded finding in words, from the ``findings`` frames of reports.yaml:
    ('stains.cd68', 'positive') -> 'CD68 positive'; ('morphology.cell_types', 'spindle') -> 'spindle cells'."""
    frame = knowledge.reports.finding_words(path)
    text = fill(frame, label=_label_words(knowledge, path), value=_value_words(knowledge, path, value))
    return " ".join(text.split())


def unused_texts(analysis: Analysis, knowledge: Knowledge) -> list[str]:
    """The recorded findings no matched scoring rule reads, in words; one that a pointer outside the
    differential reads says so ('SOX10 positive (points outside the differential)')."""
    pointed = {path for p in analysis.outside.pointers for path in p.findings}
    return [
        finding_text(knowledge, u.path, u.value)
        # 'stains.sox10.extent' is part of the SOX10 finding the pointer reads
        + (" (points outside the differential)" if ".".join(u.path.split(".")[:2]) in pointed else "")
        for u in analysis.unused
    ]


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


def pointer_tests(pointer: Pointer, knowledge: Knowledge) -> str:
    """The tests an outside pointer asks for and the case has not recorded, named: 'CD1a or Langerin (CD207)'
    ('' when none)."""
    labels = [knowledge.vocab.test_label(*path.split(".", 1)) for path in pointer.tests]
    return join_words(labels, "or") if labels else ""


CITATION = re.compile(r"^[A-Z][A-Za-z&'. ]*?\s(?:1[89]|20)\d\d(?:;\s?[\w()]+(?::[\w-]+)?)?")


def short_source(source: str, limit: int = 90, *, about: list[str] | None = None) -> str:
    """The first citation of a source, short: 'Nonaka D, et al. Am J Surg Pathol 2008;32:1291'. ``about``:
    words to look for (stain labels, in order): the first citation naming the first of them found in any is
    taken instead, so a caution raised by H3K27me3 cites the H3K27me3 series, not the SOX10 paper before it."""
    citations = split_citations(source) or [source]
    first = citations[0]
    for word in about or []:
        named = [c for c in citations if word.lower() in c.lower()]
        if named:
            first = named[0]
            break
    if first.startswith("pooled: "):
        first = first[len("pooled: ") :]
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
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def profile_short(knowledge: Knowledge, r: RankedEntity) -> str:
    """The short name of ``r``'s leading profile, whose figures are quoted: 'TFCP2-RMS' (a subtype),
    'ALK-rearranged IMT' (the rest profile of an entity with subtypes), else the slug in capitals ('PRMS')."""
    return knowledge.profile_short(leading_subtype(r) or r.entity)


def leading_subtype(r: RankedEntity) -> str | None:
    """The slug of the entity's leading subtype, when it is not the entity's conventional / rest profile."""
    return r.subtype if r.subtype is not None and r.subtype != r.entity else None


def count_text(e: Evidence) -> str:
    """A figure's count, or the cases it weighs, for the finding as scored:
    '25/25 pooled from 5 series', '48/84' (a negated 36/84), 'worth ≈10 cases', after the source's own words
    when it gives them ('by definition, worth ≈20 cases', as :func:`ddx.ranking.basis_text` writes it)."""
    lk = e.likelihood
    if lk.k is not None and lk.total is not None:
        if e.negated:
            return e.figure.replace(f"{lk.k}/{lk.total}", f"{lk.total - lk.k}/{lk.total}", 1)
        return e.figure
    return basis_text(lk, e.strength)


def figure_text(e: Evidence) -> str:
    """The figure behind a piece of evidence, as it counts for the finding recorded: '25/25', '~0.30, worth
    ≈10 cases'; a tested-negative finding as the cases without the positive one ('Female' from a rule on
    male sex: '11/32 pooled from 3 series'; :func:`ddx.ranking.figure_text`)."""
    return ranking_figure_text(e.likelihood, e.strength, negated=e.negated)


ARTICLE = re.compile(r"(?<![\w'’-])([Aa]) (?=[aeiouAEIOU])")  # the word "a", not the A of "Melan-A" or "HLA-A"


def _articles(text: str) -> str:
    """'a inflammatory' -> 'an inflammatory' (frames write 'a $value')."""
    return ARTICLE.sub(r"\1n ", text)


def _prose_words(knowledge: Knowledge, path: str, value: Any) -> str:
    """A recorded value as the report's prose writes it: reports.yaml ``term_words``, else the term's label."""
    words = knowledge.reports.term_words.get(path, {}).get(str(value))
    return words if words is not None else _value_words(knowledge, path, value)


def _recorded_morphology(case: Any, knowledge: Knowledge) -> dict[str, Any]:
    """The recorded morphology fields, in vocabulary order (nothing that was not recorded)."""
    m = getattr(case, "morphology", None)
    if m is None:
        return {}
    out = {}
    for name in knowledge.vocab.morphology:
        value = getattr(m, name, None)
        if value is not None and value != []:
            out[name] = value
    return out


# words that deny something in a sentence of free text ("no fever", "denies weight loss", "pain-free",
# "fever was absent", "neither fever nor pain")
_DENIAL = frozenset(
    {"no", "not", "non", "without", "denies", "denied", "denying", "negative", "absence", "absent", "nor", "neither", "never", "free"}
)


def _says(text: str, word: str) -> bool:
    """Whether free text names ``word`` (folded) in a sentence that denies nothing: 'fever and anaemia' says
    anaemia; 'no fever, night sweats or weight loss', 'pain-free' and 'fever: no' say neither. A sentence with a
    denial anywhere is not read as saying it (repeating a symptom is the safe mistake; dropping one the ranking
    scored would hide a conflict)."""
    for sentence in re.split(r"[;.!?\n]", text.lower()):
        folded = fold(sentence)
        if re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", folded) and not _DENIAL.intersection(
            re.split(r"[^a-z0-9]+", folded)
        ):
            return True
    return False


def _frame_key(value: Any) -> str:
    """The key a recorded morphology value is framed by: a number as written ("10"), a term itself, ``*`` for a list."""
    return f"{value:g}" if isinstance(value, float) else str(value) if not isinstance(value, list) else "*"


def describe_morphology(case: Any, knowledge: Knowledge) -> list[str]:
    """Sentences describing the recorded morphology, from reports.yaml ``morphology_prose``: every
    recorded field is described once, by the first sentence that has a phrase for it."""
    recorded = _recorded_morphology(case, knowledge)
    done: set[str] = set()
    out = []
    for sentence in knowledge.reports.morphology_prose:
        if any(r not in recorded or r in done or sentence.frame(r, _frame_key(recorded[r])) is None for r in sentence.requires):
            continue
        named = [f for f in sentence.fields if f != "*"]
        order = [f for f in named if f in recorded] + ([f for f in recorded if f not in named] if "*" in sentence.fields else [])
        phrases = []
        for name in order:
            if name in done:
                continue
            value = recorded[name]
            path = f"morphology.{name}"
            frame = sentence.frame(name, _frame_key(value))
            if frame is None:
                continue
            items = value if isinstance(value, list) else [value]
            values = join_words([_prose_words(knowledge, path, v) for v in items])
            label = lower_first(knowledge.vocab.morphology_fields.label(name).replace("_", " "))
            phrases.append(" ".join(fill(frame, label=label, value=values, values=values).split()))
            done.add(name)
        if phrases:
            if sentence.join == "list":
                # "no pleomorphism and necrosis" would read as no necrosis: what is absent goes last ("necrosis and
                # no pleomorphism"), each part keeping its own words
                phrases.sort(key=lambda phrase: phrase.startswith(("no ", "without ")))
            joined = " ".join(phrases) if sentence.join == "words" else join_words(phrases, "or" if sentence.join == "or" else "and")
            text = fill(sentence.sentence, phrases=joined)
            out.append(_articles(re.sub(r"\s+([,;.])", r"\1", text)))
    return out


def age_words(age: float, prose: Any) -> str:
    """An age in years as a report writes it: years from one year, whole months under a year, days under a
    month ("35 years", "4 months", "3 days"), by the frames of reports.yaml ``clinical_prose``."""
    if age >= 1:
        text = fill(prose.age, value=f"{age:g}")
    elif age * 12 >= 1:
        text = fill(prose.age_months, value=f"{round(age * 12):d}")
    else:
        text = fill(prose.age_days, value=f"{max(round(age * 365.25), 0):d}")
    return re.sub(r"(?<![\d.])1 (year|month|day)s\b", r"1 \1", text)  # "1 year", not "1 years"


def describe_clinical(case: Any, knowledge: Knowledge) -> list[str]:
    """The clinical sentence, from reports.yaml ``clinical_prose`` (nothing that was not recorded)."""
    prose = knowledge.reports.clinical_prose
    patient, clinical = getattr(case, "patient", None), getattr(case, "clinical", None)
    parts = []
    if patient is not None and patient.age is not None:
        parts.append(age_words(patient.age, prose))
    if patient is not None and patient.sex not in (None, "unknown"):
        parts.append(fill(prose.sex, value=_value_words(knowledge, "patient.sex", patient.sex)))
    if clinical is not None:
        if clinical.site:
            site = _value_words(knowledge, "clinical.site", clinical.site)
            parts.append(fill(prose.depth_site, value=site, depth=clinical.depth) if clinical.depth else fill(prose.site, value=site))
        elif clinical.depth:
            parts.append(fill(prose.depth_site, value="", depth=clinical.depth).strip())
        if clinical.size_cm is not None:
            parts.append(fill(prose.size_cm, value=f"{clinical.size_cm:g}"))
        if clinical.presentation:
            parts.append(fill(prose.presentation, value=printable(clinical.presentation.strip())))
        # a symptom the presentation already says (by its term or a synonym: 'anaemia' for anemia) is not said twice;
        # one it denies ('no fever', 'pain-free') is kept, so the history shows the conflict with what was ranked
        said = clinical.presentation or ""
        termset = knowledge.vocab.termset_for("clinical.symptoms")
        unsaid = [
            s
            for s in clinical.symptoms
            if not any(_says(said, word) for word in [fold(s), *(termset.synonyms(s) if termset is not None else [])])
        ]
        if unsaid:
            parts.append(fill(prose.symptoms, value=join_words([_value_words(knowledge, "clinical.symptoms", s) for s in unsaid])))
    return [fill(prose.sentence, parts="; ".join(p for p in parts if p))] if parts else []


def describe_stains(case: Any, knowledge: Knowledge) -> list[str]:
    """The immunohistochemistry sentence(s), from reports.yaml ``stain_prose``."""
    stains = getattr(case, "stains", None) or {}
    prose = knowledge.reports.stain_prose
    label = knowledge.vocab.stains.label
    groups: dict[str, list[str]] = {}
    own = []
    for name, f in stains.items():
        attrs = {"result": f.result, "extent": f.extent, "intensity": f.intensity, "pattern": f.pattern, "percent": f.percent}
        special = next((k for k in prose.own_sentence if k.split(".")[0] == name and attrs.get(k.split(".")[1]) is not None), None)
        if special is not None:
            value = attrs[special.split(".")[1]]
            own.append(
                fill(
                    prose.own_sentence[special],
                    label=label(name),
                    value=f"{value:g}" if isinstance(value, float) else _term(str(value)),
                )
            )
            continue
        details = [
            fill(
                frame,
                value=f"{attrs[attr]:g}"
                if isinstance(attrs[attr], float)
                else _prose_words(knowledge, f"stains.*.{attr}", attrs[attr]),
            )
            for attr, frame in prose.details.items()
            # a negative result's extent or intensity says nothing of the tumour ("negative (strong staining)"):
            # the sentence leaves it out, and the findings list it as recorded, not used
            if attrs.get(attr) is not None and f.result != "negative"
        ]
        text = lower_first(label(name))
        if details:  # 'CDK4 (IHC, strong staining)', not 'CDK4 (IHC) (strong staining)'
            text = f"{text[:-1]}, {', '.join(details)})" if text.endswith(")") else f"{text} ({', '.join(details)})"
        key = f.extent if f.result == "positive" and f.extent in prose.results else f.result
        groups.setdefault(key if key in prose.results else "equivocal", []).append(text)
    parts = [
        fill(prose.group, result=prose.results.get(key, key), stains=join_words(groups[key]))
        for key in [*prose.results, *(k for k in groups if k not in prose.results)]
        if key in groups
    ]
    out = [_articles(fill(prose.sentence, groups=join_words(parts)))] if parts else []
    return out + own


def describe_molecular(case: Any, knowledge: Knowledge) -> list[str]:
    """The molecular sentence, from reports.yaml ``molecular_prose``."""
    mol = getattr(case, "molecular", None) or {}
    prose = knowledge.reports.molecular_prose
    label = knowledge.vocab.molecular.label
    # mid-sentence after "Molecular studies:": 'near-haploidization detected', 'ALK rearrangement detected'
    found = [lower_first(label(t)) for t, v in mol.items() if v == "present"]
    absent = [lower_first(label(t)) for t, v in mol.items() if v == "absent"]
    parts = []
    if found:
        parts.append(fill(prose.present, tests=join_words(found)))
    if absent:
        # "no FOXO1 rearrangement or NCOA2 rearrangement": with "and" the second could read as found
        parts.append(fill(prose.absent, tests=join_words(absent, "or")))
    return [fill(prose.sentence, parts="; ".join(parts))] if parts else []


def _named_test(analysis: Analysis) -> str | None:
    """The label of the next test the report names: the band's, when its action has a place for one (None
    when it found no test, e.g. none that separates two close leaders); else the first suggestion's."""
    if analysis.confidence is not None and (analysis.confidence.asks_test or analysis.confidence.next_test):
        return analysis.confidence.next_test
    return analysis.suggestions[0].label if analysis.suggestions else None


def owner_short(knowledge: Knowledge, rule: Rule, r: RankedEntity) -> str:
    """The short name of whose figure ``r``'s leading profile quotes for ``rule`` (:meth:`Knowledge.figure_name`)."""
    return knowledge.figure_name(rule, leading_subtype(r) or r.entity)


def _contrast_text(
    t: ReportTemplates, analysis: Analysis, ranker: Ranker, knowledge: Knowledge, leader: RankedEntity, other: RankedEntity
) -> list[str]:
    """Why ``other`` ranks below ``leader``: the findings that most favour the leader's leading
    profile over the other's, each with both figures and their counts or strength."""
    i = ranker.profile_index(leader.entity, leading_subtype(leader))
    j = ranker.profile_index(other.entity, leading_subtype(other))
    out = []
    for c in ranker.contrast(
        analysis.matched, leader.entity, other.entity, favoured_subtype=leader.subtype, other_subtype=other.subtype
    ):
        a, b = ranker.evidence[c.rule][i], ranker.evidence[c.rule][j]
        rule = knowledge.rule[c.rule]

        def shown(e: Evidence) -> str:
            return percent(1.0 - e.likelihood.p if e.negated else e.likelihood.p, e.estimate)

        out.append(
            fill(
                t.contrast,
                finding=lower_first(c.finding),
                leader_p=shown(a),
                leader_short=given_name(c.given, owner_short(knowledge, rule, leader)),
                leader_figure=count_text(a),
                other_p=shown(b),
                other_short=given_name(c.given, owner_short(knowledge, rule, other)),
                other_figure=count_text(b),
            )
        )
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
        # the citation of the most specific recorded finding: each entry lists its defining findings first
        about = [_cited_as(knowledge, path) for path in p.findings if recorded.get(path.replace(".", "__")) is not None]
        items.append(
            fill(
                t.outside_pointer,
                findings=join_words(words) or "The recorded findings",
                name=lower_first(p.name),
                source=short_source(p.source, about=about),
                rationale=p.rationale,
            )
        )
    for u in analysis.outside.unexplained:
        items.append(fill(t.outside_unexplained, finding=u.finding, p=percent(u.p, False), best=knowledge.profile_short(u.best)))
    return [item[:1].upper() + item[1:] for item in items]


def leading_candidates(analysis: Analysis, *, cover: float = 0.8, most: int = 3) -> list[Any]:
    """The candidates a non-committal report names: the leader and the runner-up, then more (up to
    ``most``) until they hold ``cover`` of the probability."""
    chosen = list(analysis.ranking[:2])
    for r in analysis.ranking[2:most]:
        if math.fsum(c.probability for c in chosen) >= cover:
            break
        chosen.append(r)
    return chosen


def _kind(t: ReportTemplates, subtype: str | None) -> str:
    """The word the subtype frames name a subtype by (``$kind``): its reports.yaml ``kind``, else the model's default."""
    entry = t.entities.get(subtype) if subtype else None
    return entry.kind if entry is not None else EntityReport.model_fields["kind"].default


def lesion_text(case: Any, t: ReportTemplates, knowledge: Knowledge) -> str:
    """The lesion described from its recorded morphology alone (reports.yaml ``lesion`` frames): the
    recorded cell types, and an inflammatory background when a moderate or prominent infiltrate is recorded
    (or inflammatory cells without a density): a scant infiltrate is no inflammatory background."""
    m = getattr(case, "morphology", None)
    cells = [_value_words(knowledge, "morphology.cell_types", c) for c in (getattr(m, "cell_types", None) or [])]
    cell_words = join_words(cells) + " cell" if cells else t.lesion_cells_unknown
    density = getattr(m, "inflammation_density", None)
    inflamed = m is not None and density not in ("none", "scant") and (bool(getattr(m, "inflammation", None)) or density is not None)
    return fill(t.lesion_inflamed if inflamed else t.lesion, cells=cell_words)


def render_report(analysis: Analysis, knowledge: Knowledge, ranker: Ranker, *, differential: int = 4, width: int = WIDTH) -> str:
    """The draft comment as plain text, its paragraphs wrapped at ``width`` characters."""
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
        if subtype.lower().startswith(f"{diagnosis.lower()}, "):  # not 'the inflammatory myofibroblastic
            subtype = subtype[len(diagnosis) + 2 :]  # tumour, ALK-negative subtype': 'the ALK-negative'
        subtype = lower_first(subtype)
    clinical = getattr(case, "clinical", None)
    site = _term(clinical.site) if clinical is not None and clinical.site else "site not stated"
    band = lower_first(analysis.confidence.label) if analysis.confidence else "no confidence band"  # keeps 'H&E
    values = {
        "site": site,
        "diagnosis": diagnosis,
        "leader": lower_first(diagnosis),  # 'favour ALK-positive histiocytosis', 'favour inflammatory ...'
        "probability": percent_text(leader.probability),
        "band": band,
        "subtype": subtype,
        "share": percent_text(leader.subtype_share or 0.0),
        "kind": _kind(t, sub),
    }
    outside = bool(analysis.outside)
    descriptive = not outside and (
        (analysis.confidence is not None and analysis.confidence.band in t.descriptive_bands)
        or leader.probability < t.descriptive_below
    )
    values["lesion"] = lesion_text(case, t, knowledge)
    # no diagnosis favoured only because the leader is not probable enough (its band would favour one)
    low = descriptive and not (analysis.confidence is not None and analysis.confidence.band in t.descriptive_bands)
    # the setting as written (0.75 -> "75 %"), not as a probability is shown (never "> 99 %")
    values["threshold"] = f"{t.descriptive_below * 100:g} %"

    def below(p: float) -> str:
        """A leader's probability said beside "below the threshold": 74.96 % is not rounded up to "75 %"."""
        shown = percent_text(p)
        return f"{math.floor(p * 1000) / 10:.1f} %" if low and shown == values["threshold"] else shown

    if descriptive:
        leaders = leading_candidates(analysis)
        names = [lower_first(t.entities[r.entity].diagnosis if r.entity in t.entities else r.name) for r in leaders]
        values.update(
            leaders=join_words(names),
            probabilities=join_words([below(r.probability) if k == 0 else percent_text(r.probability) for k, r in enumerate(leaders)]),
            # the test the band's action names (for two close candidates, the one that separates those two),
            # else the first suggested; mid-sentence
            next_test=lower_first(chosen) if (chosen := _named_test(analysis)) else "",
        )
        sub = None  # no subtype is favoured when no entity is
    if outside:
        sub = None

    def frame(text: str) -> str:
        return fill(text, **values)

    def para(text: str, indent: str = "") -> list[str]:
        # a figure stays on one line with its sign ("~25 %", "< 1 %"): textwrap breaks at ASCII spaces only
        held = FIGURE_SPACE.sub("\u00a0", text)
        lines = textwrap.wrap(held, width, initial_indent=indent, subsequent_indent=" " * len(indent)) or [indent]
        return [line.replace("\u00a0", " ") for line in lines]

    lines = [
        *para(frame(t.heading)),
        *para(f"Case {printable(analysis.case_id, newlines=False)}; {provenance_line(knowledge, analysis)}"),
        "",
    ]
    clinical = describe_clinical(case, knowledge)
    for sentence in clinical:
        lines += para(sentence)
    if clinical:
        lines.append("")
    organ = getattr(getattr(case, "clinical", None), "site_group", None) in t.organ_site_groups
    lines += para(frame(t.specimen_organ if organ else t.specimen))
    favoured = t.favoured_outside if outside else t.favoured_descriptive if descriptive else t.favoured_subtype if sub else t.favoured
    favoured_line = frame(favoured)
    lines += para(favoured_line[:1].upper() + favoured_line[1:], "  - ")
    lines.append("")
    findings = describe_morphology(case, knowledge) + describe_stains(case, knowledge) + describe_molecular(case, knowledge)
    comment = " ".join(findings) if findings else t.no_findings
    lines += para("Comment: " + comment)
    lines.append("")
    if descriptive:
        if low:
            closing = frame(t.overall_low if values["next_test"] else t.overall_low_no_test)
        else:
            closing = frame(t.overall_descriptive if values["next_test"] else t.overall_descriptive_no_test)
    else:
        closing = frame(t.overall_outside if outside else t.overall)
    if sub:
        closing += " " + frame(t.subtype)
    for tpl in (template, sub_template) if not descriptive and not outside else ():
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

    others = [r for r in analysis.ranking[1 : 1 + differential]]
    if others:
        ranking_only = descriptive or outside  # no candidate is set aside when none is favoured
        lines.append(t.differential_heading_descriptive if ranking_only else t.differential_heading)
        item = t.differential_item_descriptive if ranking_only else t.differential_item
        if descriptive:  # none is favoured: the first-ranked is a candidate like the others, listed first
            first = t.entities[leader.entity].diagnosis if leader.entity in t.entities else leader.name
            frame_first = t.differential_leader_low if low else t.differential_leader_descriptive
            lines += para(fill(frame_first, name=first, probability=below(leader.probability), threshold=values["threshold"]), "  - ")
        for r in others:
            reasons = _contrast_text(t, analysis, ranker, knowledge, leader, r)
            name = t.entities[r.entity].diagnosis if r.entity in t.entities else r.name
            other_sub = leading_subtype(r)
            if other_sub:
                short = profile_short(knowledge, r)
                name = fill(
                    t.other_subtype,
                    diagnosis=name,
                    subtype=short,
                    share=percent_text(r.subtype_share or 0.0),
                    kind=_kind(t, other_sub),
                )
            values_r = {"name": name, "probability": percent_text(r.probability), "leader_short": profile_short(knowledge, leader)}
            text = fill(item, why="; ".join(reasons), **values_r) if reasons else fill(t.differential_no_reason, **values_r)
            lines += para(text, "  - ")
        lines.append("")
    if analysis.confidence:
        text = fill(t.confidence, label=analysis.confidence.label, action=analysis.confidence.action)
        basis = analysis.lead_basis
        # the hedge the other formats give, where the report favours a leader (in a descriptive band no
        # diagnosis is favoured, and 'the findings favour X' beside it would contradict that)
        if basis is not None and basis.on_estimates and not descriptive:
            text += " " + basis.sentence(knowledge.short_name)
        lines += para(text)
        lines.append("")
    unused = unused_texts(analysis, knowledge)
    if unused:
        lines += para(fill(t.unused, findings=join_words(unused)))
        lines.append("")
    if analysis.suggestions or analysis.no_separating_test:
        lines += para(t.tests_heading)  # wrapped like the rest: reports.yaml may give a long heading
        if analysis.no_separating_test:
            lines += para(no_test_text(knowledge, analysis.confidence) + ".", "  - ")
        for s in analysis.suggestions:  # a report's words: no bits, and no estimate's weight in cases ('~' marks it)
            lines += para(f"{without_worth(s.why)} ({s.report_detail})", "  - ")
        lines.append("")
    if analysis.caveats:
        lines.append(t.caveats_heading)
        for c in analysis.caveats:
            lines += para(fill(t.caveat, text=c.text, source=c.source), "  - ")
        lines.append("")
    leading = leader.supporting[:4]
    if leading:
        lines.append(t.sources_heading)
        for e in leading:
            source = e.grounds[len("pooled: ") :] if e.grounds.startswith("pooled: ") else e.grounds
            lines += para(fill(t.evidence_source, finding=e.finding, figure=figure_text(e), source=source), "  - ")
        lines.append("")
    lines += para(frame(t.disclaimer.strip()))
    return "\n".join(lines).rstrip() + "\n"
