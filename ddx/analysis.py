"""The one entry point the CLI and the TUI share: a case in, a cited ranking out."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ddx.bands import Confidence, WhatIf, assess
from ddx.engine import Matcher, engine_label, make_matcher
from ddx.errors import Problem
from ddx.facts import case_facts
from ddx.knowledge import NEGATION_SUFFIX, Knowledge
from ddx.knowledge.case import CaseModel
from ddx.knowledge.conditions import Reads, requires_unrecorded, supposed_keys
from ddx.ranking import Caveat, LeadBasis, RankedEntity, join_words, lower_first, ranker_for, short_name
from ddx.suggest import Suggester, Suggestion

ANCILLARY = ("stains__", "molecular__")


@dataclass(frozen=True)
class Unused:
    """A recorded finding that no matched scoring rule reads: it does not move the ranking."""

    path: str  # the case path, e.g. "stains.cd68" or "morphology.cell_types"
    value: Any  # the recorded value (one list item for list findings)

    @property
    def text(self) -> str:
        return f"{self.path}: {self.value}"

    def to_dict(self) -> dict[str, Any]:
        return {"finding": self.path, "value": self.value}

    @cached_property
    def json_text(self) -> str:
        """``to_dict()`` as compact JSON, built once (the analyzer shares one object per finding and value)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Unexplained:
    """A scored finding that no modelled entity shows often (every profile's likelihood is low)."""

    rule: str
    finding: str
    best: str  # the profile that explains it best
    p: float  # its likelihood there

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "finding": self.finding, "best": self.best, "p": round(self.p, 4)}


@dataclass(frozen=True)
class Pointer:
    """An entity outside the differential that the recorded findings point to."""

    slug: str
    name: str
    findings: tuple[str, ...]  # the recorded findings it accounts for
    rationale: str
    source: str
    summary: str = ""  # the entry's short sentence for the reader (its rationale when it has none)
    tests: tuple[str, ...] = ()  # the tests that would answer it and are not recorded yet (stains.x, molecular.x)

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity": self.slug,
            "name": self.name,
            "findings": list(self.findings),
            "summary": self.summary,
            "rationale": self.rationale,
            "source": self.source,
            "tests": list(self.tests),
        }


@dataclass(frozen=True)
class OutsideReport:
    """Findings the modelled entities do not explain, and where they point."""

    unexplained: tuple[Unexplained, ...] = ()
    pointers: tuple[Pointer, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.unexplained or self.pointers)

    def to_dict(self) -> dict[str, Any]:
        return {"unexplained": [u.to_dict() for u in self.unexplained], "pointers": [p.to_dict() for p in self.pointers]}


@dataclass
class Analysis:
    """One case's result: the ranking (entities best first, probabilities summing to 1), next tests, caveats, the
    matched rule ids, the confidence band, findings not used, pointers outside the differential and the lead's
    basis; or, for a case that could not be ranked, its ``problems`` (and an empty ranking)."""

    case_id: str
    case: CaseModel | None
    expected: str | None = None
    ranking: list[RankedEntity] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    caveats: list[Caveat] = field(default_factory=list)
    matched: frozenset[str] = frozenset()
    problems: list[Problem] = field(default_factory=list)
    file: str | None = None
    sheet: str | None = None  # the workbook sheet the case is a row of (JSON "sheet")
    confidence: Confidence | None = None
    unused: list[Unused] = field(default_factory=list)
    outside: OutsideReport = field(default_factory=OutsideReport)
    informative: int = 0  # matched findings that separate the two leaders (settings.evidence.informative_spread)
    ancillary: int = 0  # distinct stains and molecular tests that matched scoring rules read
    # True when next tests were computed and none gains settings.next_tests.min_gain bits ("no further test
    # separates the leaders"); None when they were not computed
    no_separating_test: bool | None = None
    engine: str = ""  # the matcher that ranked it: "durable" or "python" (ddx.engine.ENGINES); "" if none ran
    # what the lead of the first entity over the second rests on: cited figures or estimates (None: fewer than two)
    lead_basis: LeadBasis | None = None

    @property
    def engine_label(self) -> str:
        """``durable-rules 2.0.28`` or ``python (ddx's matcher)``; empty when no engine ran (a bad case)."""
        return engine_label(self.engine) if self.engine else ""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def top(self) -> RankedEntity | None:
        return self.ranking[0] if self.ranking else None


# an outside entity as Analyzer.outside reads it: its pattern, its spec, its findings and its tests with their fact
# keys, and the pointer made for each set of those findings recorded and tests pending
_Keyed = tuple[tuple[str, str], ...]  # (finding path, fact key) pairs
_OutsideRow = tuple[
    Callable[[dict[str, Any]], bool], Any, _Keyed, _Keyed, _Keyed, _Keyed, dict[tuple[tuple[str, ...], tuple[str, ...]], Pointer]
]


class Analyzer:
    """Matches a case against the rules, ranks the entities, suggests tests."""

    def __init__(self, knowledge: Knowledge, engine: str | None = None):
        """``engine``: ``durable`` or ``python`` (:data:`ddx.engine.ENGINES`); ``None`` takes
        :func:`ddx.engine.default_engine` (durable-rules where it imports). Raises
        :class:`~ddx.errors.EngineError` when the engine cannot run here or refuses the rules."""
        self.knowledge = knowledge
        rules = knowledge.active_rules
        self.matcher: Matcher = make_matcher(rules, engine)
        self.ranker = ranker_for(knowledge)  # one per rule set: its tables are built once
        self.suggester = Suggester(knowledge, self.ranker)
        confirm = {p.replace(".", "__") for e in knowledge.entities for p in e.confirm_with}
        confirm |= {p.replace(".", "__") for s in knowledge.subtype.values() for p in s.confirm_with or []}
        self.keys = knowledge.referenced_keys | confirm | knowledge.ancillary.keys
        # per scoring rule: the fact keys it reads, and for list findings the items it reads; and the findings a
        # scoring rule's figures stand for (its ``accounts_for``), read only for "recorded, not used by the ranking"
        self.reads: dict[str, Reads] = {rid: reads for rid, (reads, _) in knowledge.scoring_reads.items()}
        self.accounts: dict[str, Reads] = {
            rid: accounts for rid, (_, accounts) in knowledge.scoring_reads.items() if accounts is not None
        }
        # per scoring rule: the fact keys it holds only without (a what-if that records one of them drops it), and
        # the keys a what-if supposing its finding records (those it reads as a value, not as "not recorded")
        self.needs_unrecorded: dict[str, frozenset[str]] = {}
        self.supposes: dict[str, frozenset[str]] = {}
        for rule in knowledge.active_rules:
            if rule.id in self.ranker.log_lik:
                if needs := requires_unrecorded(rule.condition):
                    self.needs_unrecorded[rule.id] = needs
                self.supposes[rule.id] = supposed_keys(rule.condition)
        # per scoring rule: the stains and molecular tests it reads ("stains__alk", however many of its keys)
        self.ancillary_reads = {
            rid: frozenset("__".join(k.split("__")[:2]) for k in keys if k.startswith(ANCILLARY))
            for rid, (keys, _) in self.reads.items()
        }
        # the scoring rules whose finding no profile shows often (every likelihood below
        # settings.evidence.unexplained_below): the profile that explains it best, and its likelihood
        limit = knowledge.settings.evidence.unexplained_below
        self.unexplained: dict[str, tuple[str, float]] = {}
        for rid, ps in self.ranker.p_used.items():
            best = max(range(len(ps)), key=lambda j: (ps[j], -j))
            if ps[best] < limit:
                self.unexplained[rid] = (self.ranker.profiles[best].slug, ps[best])

    @property
    def engine(self) -> str:
        """The engine ranking with this analyzer: ``durable`` or ``python``."""
        return self.matcher.name

    def facts(self, case: CaseModel) -> dict[str, Any]:
        return case_facts(case, self.knowledge.vocab, self.keys)

    def analyze(self, case: CaseModel, *, suggest: bool = True, file: str | None = None) -> Analysis:
        """The cited ranking of a validated case (:class:`Analysis`; ``suggest``: also the next tests)."""
        return self.analyze_facts(
            case_facts(case, self.knowledge.vocab), case.id, case.expected, case=case, suggest=suggest, file=file
        )

    def analyze_facts(
        self,
        every: dict[str, Any],
        case_id: str,
        expected: str | None = None,
        *,
        case: CaseModel | None = None,
        suggest: bool = True,
        file: str | None = None,
    ) -> Analysis:
        """:meth:`analyze` for a case given as its facts (``every``: :func:`ddx.facts.case_facts`'s dict, every
        recorded finding), as a batch reads a plainly canonical sheet row (:meth:`ddx.fastcase.FastCase.facts_row`).
        ``case``: the validated case, when there is one (the :class:`Analysis` keeps it; None leaves
        ``Analysis.case`` None, which no batch output reads)."""
        facts = {k: v for k, v in every.items() if k in self.keys}
        matched = self.matcher.match(facts)
        profile_probs = self.ranker.profile_posterior(matched)
        posterior = self.ranker.to_entities(profile_probs)
        ranking = self.ranker.rank(matched, posterior, profile_probs)
        outside = self.outside(every, matched)
        pending: dict[str, list[str]] = {}  # the tests the outside pointers ask for, with the pointers asking
        for pointer in outside.pointers:
            for test in pointer.tests:
                pending.setdefault(test, []).append(pointer.slug)
        suggestions = self.suggester.suggest(facts, matched, profile_posterior=profile_probs, pointers=pending) if suggest else []
        informative = self.ranker.informative(matched, ranking)
        # distinct stains and molecular tests read by matched scoring rules (ALK positive is one, however many
        # rules read it)
        ancillary = set().union(*(self.ancillary_reads[r] for r in matched if r in self.ancillary_reads))
        names = [self._said[p.slug] for p in outside.pointers]  # said inside the band's sentence
        names += [f"{lower_first(u.finding)} (explained by no modelled entity)" for u in outside.unexplained]
        caveats = self._answered(self.ranker.caveats(matched), every)
        separating: list[Suggestion] = []  # the test a band about two close leaders names, when none shown is it

        def separate(a: str, b: str) -> Suggestion | None:
            found = self.suggester.separating(facts, matched, profile_probs, (a, b))
            separating.extend([found] if found is not None else [])
            return found

        confidence = assess(
            self.knowledge,
            ranking,
            suggestions,
            facts,
            informative=len(informative),
            ancillary=len(ancillary),
            outside=names,
            overturned=lambda ids: self.overturned(ids, facts, matched, ranking),
            separating=separate if suggest else None,
            caveats=[c.rule for c in caveats],
        )
        no_separating = (
            not any(s.gain >= self.knowledge.settings.next_tests.min_gain for s in suggestions)
            if suggest and self.knowledge.settings.suggestions > 0
            else None
        )
        listed = {s.path for s in suggestions} | {path for s in suggestions for path, _ in s.also}
        if confidence is not None and separating and confidence.next_test == separating[0].label and separating[0].path not in listed:
            # the band's test, which separates its two leaders, is in the list it points to, last (the list is
            # ranked over every candidate, where it came lower); a test does separate the leaders
            suggestions = [*suggestions, separating[0]]
            no_separating = False
        return Analysis(
            case_id=case_id,
            case=case,
            engine=self.engine,
            expected=expected,
            ranking=ranking,
            suggestions=suggestions,
            caveats=caveats,
            matched=matched,
            file=file,
            confidence=confidence,
            unused=self.unused(every, matched),
            outside=outside,
            informative=len(informative),
            ancillary=len(ancillary),
            no_separating_test=no_separating,
            lead_basis=self.ranker.lead_basis(matched, ranking),
        )

    def overturned(
        self, rule_ids: Sequence[str], facts: dict[str, Any], matched: frozenset[str], ranking: list[RankedEntity]
    ) -> WhatIf | None:
        """What would lead instead of ``ranking``'s leader if the findings of ``rule_ids`` that are not
        recorded were found all present, or else all absent; None when neither would change the leader (or
        every one is recorded, or the ranking is empty). Ties go as in the ranking (by slug).

        A rule's finding is not recorded when neither the rule nor its negation matched and no finding
        either of them reads as a plain value (not a list item) is in ``facts``, so ``pleomorphism:
        moderate`` counts as recorded for the marked-pleomorphism rule. The negation is the rule's
        ``negated_by``; a rule without one is left out of the "all absent" case.
        """
        if not ranking:
            return None
        pending = [r for r in rule_ids if self.unrecorded(r, facts, matched)]
        scored = self.ranker.log_lik
        slugs = self.ranker.entities
        for present, extra in (
            (True, [r for r in pending if r in scored]),
            (False, [n for r in pending if (n := r + NEGATION_SUFFIX) in scored]),
        ):
            if extra:
                post = self.ranker.posterior(self.what_if_matched(matched, extra))
                top = min(range(len(post)), key=lambda i: (-post[i], slugs[i]))
                if slugs[top] != ranking[0].entity:
                    return WhatIf(slugs[top], present, tuple(r.removesuffix(NEGATION_SUFFIX) for r in extra))
        return None

    def what_if_matched(self, matched: frozenset[str], extra: Sequence[str]) -> frozenset[str]:
        """The rules that would match were the findings of ``extra`` (rule ids) recorded: ``matched`` with them
        added, less the matched rules that hold only while one of the findings they record is unrecorded
        (marked pleomorphism recorded, the giant-cell rule that reads giant cells in its absence no longer
        matches)."""
        recorded = set().union(*(self.supposes.get(rid, ()) for rid in extra))
        gone = {r for r in matched if r in self.needs_unrecorded and not self.needs_unrecorded[r].isdisjoint(recorded)}
        return (matched - gone) | frozenset(extra)

    def unrecorded(self, rule_id: str, facts: dict[str, Any], matched: frozenset[str]) -> bool:
        """Neither ``rule_id`` nor its negation matched, and no plain finding either reads is recorded."""
        halves = (rule_id, rule_id + NEGATION_SUFFIX)
        if any(h in matched for h in halves):
            return False
        return not any(k in facts for h in halves if h in self.reads for k in self.reads[h][0])

    def _answered(self, caveats: list[Caveat], every: dict[str, Any]) -> list[Caveat]:
        """``caveats``, each that asks for a test the case records (its ``caveat_tests``) saying what was
        recorded, so that it is not read as asking again ("confirm the ALK rearrangement" beside an ALK
        rearrangement recorded present), and each asking for a test that the recorded findings answer
        (``rules/ancillary.yaml``: exclusive groups, surrogates) saying so ("stain ROS1 and pan-TRK" beside an
        ALK rearrangement: the kinase fusions of IMT exclude one another). A caveat asking for nothing recorded
        or answered is the shared object as it was."""
        keys = self._caveat_keys
        ancillary = self.knowledge.ancillary
        answered: dict[str, str] | None = None
        out = caveats
        for i, caveat in enumerate(caveats):
            asked = keys.get(caveat.rule, ())
            if not asked:
                continue
            recorded = tuple((t, every[key]) for t, key in asked if key in every)
            if answered is None:
                answered = ancillary.answered(every) if ancillary.relations else {}
            implied = tuple(t for t, key in asked if key not in every and t in answered)
            if not recorded and not implied:
                continue
            # the note is worked out first (rare: a caveat whose tests are answered), so that the memo's key holds
            # everything the text says
            note = self._answered_note(implied, every) if implied else ""
            memo = self._recorded_caveats
            try:
                said_so = memo.get((caveat, recorded, note))
                keep = True
            except TypeError:  # a value that cannot be a key: made, not kept
                said_so, keep = None, False
            if said_so is None:
                text = caveat.text
                if recorded:
                    from ddx.report_comment import finding_text  # the knowledge's words for a finding (reports.yaml)

                    text += f" (Recorded: {'; '.join(finding_text(self.knowledge, test, value) for test, value in recorded)}.)"
                if note:
                    text += f" ({note})"
                said_so = Caveat(caveat.rule, text, caveat.source)
                if keep and len(memo) < 4096:
                    memo[caveat, recorded, note] = said_so
            out = list(out) if out is caveats else out
            out[i] = said_so
        return out

    def _answered_note(self, tests: tuple[str, ...], every: dict[str, Any]) -> str:
        """'Not needed here: ROS1 and pan-TRK are answered by the findings recorded: the kinase fusions of
        inflammatory myofibroblastic tumour exclude one another.': why a caveat's tests are not offered."""
        vocab, ancillary = self.knowledge.vocab, self.knowledge.ancillary

        def label(path: str) -> str:
            return vocab.test_label(*path.split(".", 1))

        asked = set(tests)
        why = []
        for g in ancillary.exclusive:  # a group answers the tests of its members not shown, once one member is shown
            shown = [m for m in g.members if m.shown(every)]
            if shown and any(asked & set(m.tests) for m in g.members if m not in shown):
                why.append(f"the {g.spec.name} exclude one another")
        for sur in ancillary.surrogates:  # a surrogate test recorded answers the stains that stand for it
            if sur.test.replace(".", "__") in every and asked & set(sur.answers):
                why.append(f"{label(sur.test)} is recorded")
        verb = "is" if len(tests) == 1 else "are"
        return f"Not needed here: {join_words([label(t) for t in tests])} {verb} answered by the findings recorded: {'; '.join(why)}."

    @cached_property
    def _caveat_keys(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Per caveat rule id: the tests it asks for (``caveat_tests``), each with its fact key."""
        return {rid: tuple((t, t.replace(".", "__")) for t in tests) for rid, tests in self.knowledge.caveat_tests.items()}

    @cached_property
    def _recorded_caveats(self) -> dict[tuple[Caveat, tuple[tuple[str, Any], ...], str], Caveat]:
        """:meth:`_answered`'s caveats that say what was recorded or answered, by caveat, recorded results and
        the note on the answered tests (frozen, shared)."""
        return {}

    def unused(self, every: dict[str, Any], matched: frozenset[str]) -> list[Unused]:
        """Recorded findings that no matched scoring rule reads (or names in its ``accounts_for``), in case order.

        A site counts as read when a rule reads its site group, a stain's result when a rule reads one of
        its details (Ki-67's percent); a list finding (cell types, inflammation ...) is judged item by item, and
        a finding an ``accounts_for`` names with one value (``molecular.ranbp2_alk_fusion: present``) by its value.
        """
        key_readers, item_readers = self._readers
        out = []
        for key, value in every.items():
            if key == "clinical__site_group":
                continue
            readers = key_readers.get(key)
            if readers is not None and not readers.isdisjoint(matched):
                continue
            if isinstance(value, list):
                for v in value:
                    readers = item_readers.get((key, str(v)))
                    if readers is None or readers.isdisjoint(matched):
                        out.append(self._unused(key, v, True))
            else:
                readers = item_readers.get((key, str(value)))  # a result a rule's accounts_for stands for
                if readers is None or readers.isdisjoint(matched):
                    out.append(self._unused(key, value, False))
        return out

    def _unused(self, key: str, value: Any, item: bool) -> Unused:
        """The :class:`Unused` of a fact key and its value (``item``: one item of a list finding, kept as it
        is; a number that is whole is shown as an int), made once and shared, since a batch repeats the same
        few hundred and it is frozen. The type is in the cache key because 1, 1.0 and True are one dict key;
        values of one type that are equal share one object (0.0 and -0.0: a validated case's facts hold whole
        floats as ints and no float in a list). Only :meth:`analyze_facts` given raw facts can pass a value that
        cannot be a key: it is not kept."""
        made = self._unused_made
        cache_key = (key, type(value), value, item)
        try:
            found = made.get(cache_key)
            keep = True
        except TypeError:
            found, keep = None, False
        if found is None:
            shown = int(value) if not item and isinstance(value, float) and value.is_integer() else value
            found = Unused(key.replace("__", "."), shown)
            if keep:
                if len(made) >= 20_000:
                    made.clear()
                made[cache_key] = found
        return found

    @cached_property
    def _unused_made(self) -> dict[tuple[str, type, Any, bool], Unused]:
        return {}

    @cached_property
    def _readers(self) -> tuple[dict[str, frozenset[str]], dict[tuple[str, str], frozenset[str]]]:
        """For :meth:`unused`, built once: the scoring rules that read each fact key (or name it in their
        ``accounts_for``), a site's key also read by the rules that read its site group and a stain's result
        by those that read one of its details; and the rules that read each item of a list finding."""
        keys: dict[str, set[str]] = {}
        items: dict[tuple[str, str], set[str]] = {}
        for table in (self.reads, self.accounts):
            for rid, (plain, listed) in table.items():
                for key in plain:
                    keys.setdefault(key, set()).add(rid)
                    if key == "clinical__site_group":
                        keys.setdefault("clinical__site", set()).add(rid)
                    if key.startswith("stains__") and key.count("__") >= 2:
                        keys.setdefault("__".join(key.split("__")[:2]), set()).add(rid)
                for key, values in listed.items():
                    for value in values:
                        items.setdefault((key, value), set()).add(rid)
        return {k: frozenset(v) for k, v in keys.items()}, {k: frozenset(v) for k, v in items.items()}

    def outside(self, every: dict[str, Any], matched: frozenset[str]) -> OutsideReport:
        """Findings no modelled profile explains (every likelihood below
        ``settings.evidence.unexplained_below``) and the outside entities whose pattern holds."""
        unexplained = [
            Unexplained(rid, self.knowledge.rule[rid].title, *self.unexplained[rid])
            for rid in sorted(r for r in matched if r in self.unexplained)
        ]
        pointers = []
        for predicate, spec, findings, tests, answers, support, made in self._pointers:
            if predicate(every):
                recorded = tuple(f for f, key in findings if key in every)
                recorded += tuple(f for f, key in support if every.get(key) in ("positive", "present"))
                answered = any(key in every for _, key in answers)
                pending = () if answered else tuple(t for t, key in tests if key not in every)
                pointer = made.get((recorded, pending))  # frozen: one per set of findings and tests recorded, shared
                if pointer is None:
                    pointer = made[recorded, pending] = Pointer(
                        spec.slug, spec.name, recorded, spec.rationale, spec.source, spec.summary or spec.rationale, pending
                    )
                pointers.append(pointer)
        return OutsideReport(tuple(unexplained), tuple(pointers))

    @cached_property
    def _pointers(self) -> list[_OutsideRow]:
        """Per outside entity, built once: its pattern, its spec, its findings, its tests, the findings that answer
        it and those that support it, with their fact keys, and the :class:`Pointer` made for each set recorded."""

        def keyed(paths: list[str]) -> tuple[tuple[str, str], ...]:
            return tuple((p, p.replace(".", "__")) for p in paths)

        return [
            (o.predicate, o.spec, keyed(o.spec.findings), keyed(o.spec.tests), keyed(o.spec.answered_by), keyed(o.spec.supporting), {})
            for o in self.knowledge.outside
        ]

    @cached_property
    def _said(self) -> dict[str, str]:
        """Each outside entity's name as said inside a confidence band's sentence ('melanoma')."""
        return {o.spec.slug: lower_first(short_name(o.spec.name)) for o in self.knowledge.outside}

    def close(self) -> None:
        self.matcher.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def provenance_line(knowledge: Knowledge, analysis: Analysis) -> str:
    """``rules VERSION (HASH, WHERE); engine LABEL``: which rules and which engine ranked a case (the
    engine part is left out for a case no engine ranked)."""
    engine = f"; engine {analysis.engine_label}" if analysis.engine else ""
    return f"{knowledge.version_line}{engine}"


def analyze_paths(paths: Iterable[str], analyzer: Analyzer, *, suggest: bool = True) -> Iterator[Analysis]:
    """Every case under ``paths`` (files or folders), read by :func:`ddx.loader.read_cases` (its policy:
    unreadable cases, folders without case files and repeated ids carry their problems) and analysed."""
    from ddx.loader import read_cases, readable_expected, validate_raw

    knowledge = analyzer.knowledge
    for raw in read_cases(paths, knowledge.vocab):
        loaded = validate_raw(raw, knowledge)
        if loaded.ok:
            assert loaded.case is not None
            analysis = analyzer.analyze(loaded.case, suggest=suggest, file=loaded.file)
            analysis.sheet = loaded.sheet
            yield analysis
        else:
            yield Analysis(
                case_id=loaded.id,
                case=None,
                expected=readable_expected(raw, knowledge),
                problems=loaded.problems,
                file=loaded.file,
                sheet=loaded.sheet,
            )
