"""Confidence bands: what a ranking means for the next step.

The bands and their thresholds are data (``settings.yaml``, ``bands:``); this
module only evaluates them, first match wins, and fills in the action text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ddx.knowledge import Band, Knowledge
from ddx.ranking import RankedEntity, fill_sentence, join_words, lower_first
from ddx.suggest import NO_SEPARATING_TEST, Suggestion


@dataclass(frozen=True)
class Confidence:
    """The confidence band of a ranking (the first band of ``rules/settings.yaml`` whose conditions hold): its
    id, label and the action sentence with its placeholders filled in."""

    band: str
    label: str
    action: str
    next_test: str | None = None  # the label of the test the action names, if it names one (not in to_dict)
    # the band's action has a place for a test ($next_test): its choice, even of none, is the report's too
    asks_test: bool = False
    # the defining tests the action names ($confirm_tests), as said mid-sentence: "near-haploidization"; the
    # next-tests line points to them when no test separates the leaders (JSON and CSV: ``confirm_tests``)
    confirm_tests: str | None = None
    # the same tests as finding paths ("molecular.near_haploidization"), in the order named; () when none
    confirm_with: tuple[str, ...] = ()

    @property
    def lean_values(self) -> tuple[str, str, str | None, tuple[str, ...]]:
        """``(band, label, confirm_tests, confirm_with)``: what a lean batch line keeps of the band (not the
        action sentence)."""
        return (self.band, self.label, self.confirm_tests, self.confirm_with)

    def to_dict(self) -> dict[str, object]:
        """``{band, label, action, confirm_tests, confirm_with}``: ``confirm_tests`` the defining tests the action
        asks for to confirm the leader, as it names them ("near-haploidization"), or None when it names none;
        ``confirm_with`` the same tests as finding paths (``["molecular.near_haploidization"]``, as
        ``suggested_tests`` and ``rules/entities.yaml`` name tests), empty when it names none."""
        return {
            "band": self.band,
            "label": self.label,
            "action": self.action,
            "confirm_tests": self.confirm_tests,
            "confirm_with": list(self.confirm_with),
        }


# names put in lower case inside a sentence
MID_SENTENCE = frozenset({"leader", "runner_up", "next_test", "confirm_tests", "challenger", "pending", "considered", "pitfall"})


def _labels(knowledge: Knowledge, paths: list[str]) -> str:
    return join_words([lower_first(knowledge.vocab.test_label(*path.split(".", 1))) for path in paths], "or")  # said mid-sentence


@dataclass(frozen=True)
class WhatIf:
    """A leader that findings not yet recorded would overturn: ``entity`` would lead were the findings of
    the scoring rules ``findings`` (rule ids) all present (``present``) or all absent."""

    entity: str
    present: bool
    findings: tuple[str, ...]


Overturn = Callable[[Sequence[str]], WhatIf | None]  # rule ids -> what would lead instead, or None


@dataclass(frozen=True)
class Pitfall:
    """A shown caveat that names (``consider:``) a candidate other than the leader, with not every test it asks
    for recorded: ``rule`` (its id), ``entity`` (the candidate) and that candidate's ``probability``."""

    rule: str
    entity: str
    probability: float
    name: str  # as the caveat names it: the subtype's name when ``consider`` gives a subtype, else the entity's


def open_pitfalls(
    knowledge: Knowledge, ranking: list[RankedEntity], caveats: Sequence[str], recorded: dict[str, Any]
) -> list[Pitfall]:
    """The pitfalls still open for this ranking, most probable candidate first: for each matched caveat rule
    (``caveats``, rule ids) whose ``consider`` names an entity (a subtype counts as its entity) other than
    the leader, unless every test in its ``caveat_tests`` is done (``recorded``: flat facts): recorded with a
    result that is not equivocal, or answered by another recorded test (``rules/ancillary.yaml``: a fusion
    answers the stain that screens for it, one kinase fusion of IMT the others)."""
    if not ranking:
        return []
    probability = {r.entity: r.probability for r in ranking}
    tests = knowledge.caveat_tests
    answered = knowledge.ancillary.answered(recorded) if knowledge.ancillary.relations else {}

    def done(test: str) -> bool:
        value = recorded.get(test.replace(".", "__"))
        return test in answered or (value is not None and value != "equivocal")

    out = []
    for rid in caveats:
        spec = knowledge.rule[rid].spec
        asked = tests.get(rid, ())
        if not spec.consider or (asked and all(done(t) for t in asked)):
            continue
        for slug in spec.consider:
            entity = knowledge.parent(slug)
            if entity != ranking[0].entity and entity in probability:
                named = knowledge.subtype[slug].name if slug in knowledge.subtype else knowledge.entity[entity].name
                out.append(Pitfall(rid, entity, probability[entity], _mid_sentence_name(named)))
    return sorted(out, key=lambda p: (-p.probability, p.entity, p.rule))


def _look_alikes(knowledge: Knowledge, caveats: Sequence[str], leader: str) -> set[str]:
    """The slugs the shown caveats' ``consider`` names, other than the leader's own entity and its subtypes."""
    return {slug for rid in caveats for slug in knowledge.rule[rid].spec.consider if knowledge.parent(slug) != leader}


def _shared_with_look_alike(knowledge: Knowledge, test: str, look_alikes: set[str]) -> bool:
    """Whether a look-alike (:func:`_look_alikes`) shows ``test`` present or positive in at least half its
    cases, by the rule that scores exactly that finding."""
    rule = knowledge.test_rule.get(test) if look_alikes else None
    if rule is None or not rule.spec.likelihood:
        return False
    cells = rule.spec.likelihood
    return any((cell := cells.get(slug) or cells.get(knowledge.parent(slug))) is not None and cell.p >= 0.5 for slug in look_alikes)


def _mid_sentence_name(name: str) -> str:
    """A name as said inside a sentence: without its parenthesis, a qualifier after a comma put in front
    ('Inflammatory myofibroblastic tumour, ALK-negative (ROS1 ...)' -> 'ALK-negative inflammatory
    myofibroblastic tumour')."""
    name = name.split(" (")[0]
    head, sep, qualifier = name.partition(", ")
    return f"{qualifier} {lower_first(head)}" if sep and " " not in qualifier else name


def _holds(
    band: Band,
    leader: float,
    margin: float,
    has_test: bool,
    tested: bool,
    informative: int,
    ancillary: int,
    outside: bool,
    overturned: Overturn | None,
    pitfall: float,
) -> bool:
    w = band.when
    if not (
        (w.pitfall_min is None or pitfall >= w.pitfall_min)
        and (w.outside is None or w.outside == outside)
        and (w.min_informative is None or informative >= w.min_informative)
        and (w.max_ancillary is None or ancillary <= w.max_ancillary)
        and (w.leader_min is None or leader >= w.leader_min)
        and (w.leader_max is None or leader < w.leader_max)
        and (w.margin_min is None or margin >= w.margin_min)
        and (w.margin_max is None or margin < w.margin_max)
        and (w.has_confirmatory_test is None or w.has_confirmatory_test == has_test)
        and (w.confirm_tested is None or w.confirm_tested == tested)
    ):
        return False
    # the what-if ranking last, and only when every cheaper bound holds
    return w.unrecorded_could_overturn is None or (overturned is not None and overturned(w.unrecorded_could_overturn) is not None)


def assess(
    knowledge: Knowledge,
    ranking: list[RankedEntity],
    suggestions: list[Suggestion],
    recorded: dict[str, Any],
    *,
    informative: int = 0,
    ancillary: int = 0,
    outside: list[str] | None = None,
    overturned: Overturn | None = None,
    separating: Callable[[str, str], Suggestion | None] | None = None,
    caveats: Sequence[str] = (),
) -> Confidence | None:
    """The first band whose conditions hold, or None (no bands, or no ranking).

    ``recorded`` holds the case's findings as flat facts (``molecular__x``
    keys), to tell whether a confirming test of the leader was done;
    ``informative`` counts the matched findings that separate the two leaders,
    ``ancillary`` the matched scoring findings that are stains or molecular results;
    ``outside`` names what the findings point to beyond the differential;
    ``overturned(rule_ids)`` tells what would lead if those of the scoring
    rules not recorded yet were found all present or all absent (a
    :class:`WhatIf`), or None (without it, a band that asks never holds;
    ``$challenger``, ``$pending`` and ``$direction`` say it). The confirming tests are the leading subtype's, else the
    entity's. ``separating(a, b)`` gives the test that best separates entities a and b (:meth:`Suggester.separating`),
    asked by a band about the two leaders when none of ``suggestions`` separates them; None then means none does.
    ``caveats``: the matched caveat rules' ids, for a band with ``pitfall_min`` (:func:`open_pitfalls`; ``$pitfall``
    and ``$considered`` name the caveat and the candidate, ``$next_test`` a test the caveat asks for when one
    is suggested).
    """
    if not ranking or not knowledge.settings.bands:
        return None
    leader = ranking[0]
    runner = ranking[1] if len(ranking) > 1 else None
    margin = leader.probability - (runner.probability if runner else 0.0)
    sub = knowledge.subtype.get(leader.subtype or "")
    confirm = sub.confirm_with if sub is not None and sub.confirm_with is not None else knowledge.entity[leader.entity].confirm_with
    tested = any(p.replace(".", "__") in recorded for p in confirm)
    # a confirming test the recorded findings already answer (the other kinase fusions of an ALK-positive IMT:
    # rules/ancillary.yaml, exclusive) is not named
    answered = knowledge.ancillary.answered(recorded) if knowledge.ancillary.relations else {}
    confirm = [p for p in confirm if p not in answered]
    # nor one that the look-alike a shown caveat names (consider:) shows as often: the ALK fusion does not confirm
    # IMT against ALK-positive histiocytosis, which carries one too
    if confirm and caveats:
        look_alikes = _look_alikes(knowledge, caveats, leader.entity)
        confirm = [p for p in confirm if not _shared_with_look_alike(knowledge, p, look_alikes)]
    if overturned is not None:  # one what-if ranking per list of rule ids, however many bands ask
        asked: dict[tuple[str, ...], WhatIf | None] = {}
        ask = overturned

        def overturned(ids: Sequence[str]) -> WhatIf | None:
            key = tuple(ids)
            if key not in asked:
                asked[key] = ask(key)
            return asked[key]

    def what_if(band: Band) -> dict[str, str]:
        ids = band.when.unrecorded_could_overturn
        found = overturned(ids) if ids and overturned is not None else None
        if found is None:
            return {"challenger": "another candidate", "pending": "the findings still unrecorded", "direction": "present"}
        titles = [lower_first(knowledge.rule[rid].spec.title) for rid in found.findings]
        return {
            # said inside the sentence: the name without its parenthesis ("xanthogranuloma", not "... (juvenile /
            # adult, including deep soft tissue)")
            "challenger": knowledge.entity[found.entity].name.split(" (")[0],
            "pending": join_words(titles, "and"),
            "direction": "present" if found.present else "absent",
        }

    pitfalls = open_pitfalls(knowledge, ranking, caveats, recorded)
    top_pitfall = pitfalls[0].probability if pitfalls else -1.0
    for band in knowledge.settings.bands:
        if _holds(
            band, leader.probability, margin, bool(confirm), tested, informative, ancillary, bool(outside), overturned, top_pitfall
        ):
            first = suggestions[0] if suggestions else None
            if band.when.outside:
                # the band about findings outside the differential names a test that answers the pointer, or none
                first = next((s for s in suggestions if s.pointers), None)
            if band.when.pitfall_min is not None and pitfalls:
                # the band about a pitfall names the test that best separates the leader from the look-alike
                # (its why compares those two), else one its caveat asks for; else it names none
                pair = separating(leader.entity, pitfalls[0].entity) if separating is not None else None
                first = pair or next((s for s in suggestions if pitfalls[0].rule in s.asked_by), None)
            if runner is not None and "$runner_up" in band.action and "$next_test" in band.action:
                # a band about the two leaders names the best test that separates those two, when there is one
                entity_of = {p.slug: p.entity for p in knowledge.profiles}
                pair = next((s for s in suggestions if entity_of.get(s.contrast or "") == runner.entity), None)
                if pair is None and separating is not None:
                    # none of the tests shown (ranked over every candidate) separates the two: the best that
                    # does, else the band says no test separates them (never a test whose why is about a third)
                    pair = separating(leader.entity, runner.entity)
                    first = pair
                elif pair is not None:
                    first = pair
            values = {
                "leader": _with_subtype(knowledge, leader),
                "runner_up": runner.name if runner else "the other candidates",
                "next_test": first.label if first else "a further discriminating stain",
                "next_why": first.why if first else NO_SEPARATING_TEST.lower(),
                "confirm_tests": _labels(knowledge, confirm) or "no defining test",
                "outside": join_words(outside or []) or "entities outside the differential",
                **what_if(band),
                "considered": pitfalls[0].name if pitfalls else "another candidate",
                "pitfall": lower_first(knowledge.rule[pitfalls[0].rule].spec.title) if pitfalls else "a known pitfall",
            }
            action = band.action_no_test if first is None and band.action_no_test else band.action
            named = first.label if first is not None and "$next_test" in action else None
            confirming = values["confirm_tests"] if confirm and "$confirm_tests" in action else None
            return Confidence(
                band.id,
                band.label,
                fill_sentence(action, values, MID_SENTENCE),
                named,
                "$next_test" in band.action,
                confirming,
                tuple(confirm) if confirming is not None else (),
            )
    return None


def _with_subtype(knowledge: Knowledge, r: RankedEntity) -> str:
    """The leader as a band names it: the entity, with its leading subtype when that is not the entity's rest
    profile and holds most of it ('inflammatory myofibroblastic tumour (EIMS)'; a trial: a band naming only the
    parent read as the benign-sounding entity where EIMS held > 99 % of it)."""
    if r.subtype is None or r.subtype == r.entity or (r.subtype_share or 0.0) < 0.5:
        return r.name
    return f"{r.name} ({knowledge.profile_short(r.subtype)})"
