"""The condition logic of ``ddx rules check`` on its own: domains, satisfiability, implication, overlap.

The cases follow what the checks ask of it (ddx/authoring/check.py): a rule whose condition can never
hold (``satisfiable``), a ``when`` and ``negated_by`` that can hold at once (``jointly``), two rules with
the same condition (``signature``) or one implying the other (``implies``).
"""

from __future__ import annotations

import math

import pytest
import yaml

from ddx.authoring.satisfiability import MISSING, Items, Logic, Numbers, Terms
from ddx.knowledge.conditions import Atom, parse_condition


@pytest.fixture(scope="module")
def logic(knowledge) -> Logic:
    return Logic(knowledge.vocab)


def cond(text: str, knowledge):
    return parse_condition(yaml.safe_load(text), knowledge.vocab)


# ------------------------------------------------------------------ the domains alone


def test_terms_meet_is_the_values_both_allow():
    a, b = Terms(frozenset({"positive", "equivocal"})), Terms(frozenset({"positive", "negative"}))
    assert a.meet(b) == Terms(frozenset({"positive"})) and not a.meet(b).empty()
    assert Terms(frozenset({"positive"})).meet(Terms(frozenset({"negative"}))).empty()
    assert Terms(frozenset({"positive"})).within(a) and not a.within(Terms(frozenset({"positive"})))
    # "not recorded" is a value of its own: recorded-as-anything does not include it
    assert not Terms(frozenset({MISSING})).within(Terms(frozenset({"positive", "negative", "equivocal"})))


@pytest.mark.parametrize(
    "a, b, empty",
    [
        (Numbers(False, lo=18, hi=50, hi_open=True), Numbers(False, lo=50), True),  # [18, 50) and [50, ∞)
        (Numbers(False, lo=18, hi=50), Numbers(False, lo=50), False),  # meet at 50 exactly
        (Numbers(False, hi=5, hi_open=True), Numbers(False, lo=5, lo_open=True), True),  # < 5 and > 5
        (Numbers(False, hi=5), Numbers(False, lo=5, lo_open=True), True),  # ≤ 5 and > 5
        (Numbers(False, 30, False, 30, False), Numbers(False, lo=18, hi=50), False),  # = 30 in [18, 50]
        (Numbers(missing=True, present=False), Numbers(False, lo=10), True),  # not recorded, and ≥ 10
        (Numbers(missing=True, present=False), Numbers(missing=True, present=False), False),  # not recorded, twice
    ],
)
def test_numbers_meet_respects_open_and_closed_ends(a, b, empty):
    assert a.meet(b).empty() is empty
    assert b.meet(a).empty() is empty  # the meet does not depend on the order


def test_numbers_meet_keeps_the_stricter_end():
    closed, opened = Numbers(False, lo=5), Numbers(False, lo=5, lo_open=True)
    assert closed.meet(opened) == opened.meet(closed) == Numbers(False, lo=5, lo_open=True)
    upper = Numbers(False, hi=9).meet(Numbers(False, hi=9, hi_open=True))
    assert (upper.hi, upper.hi_open, upper.lo) == (9, True, -math.inf)


@pytest.mark.parametrize(
    "a, b, within",
    [
        (Numbers(False, lo=18, hi=50, hi_open=True), Numbers(False, lo=10), True),
        (Numbers(False, lo=18), Numbers(False, lo=18, lo_open=True), False),  # 18 itself is outside
        (Numbers(False, lo=18, lo_open=True), Numbers(False, lo=18), True),
        (Numbers(False, hi=50), Numbers(False, hi=50, hi_open=True), False),
        (Numbers(missing=True, present=False), Numbers(False, lo=0), False),  # not recorded is not a number ≥ 0
        (Numbers(False, lo=0), Numbers(missing=True, present=True), True),  # any value, or none
        (Numbers(False, lo=60, hi=50), Numbers(False, lo=0, hi=1), True),  # an empty interval lies within anything
    ],
)
def test_numbers_within(a, b, within):
    assert a.within(b) is within


def test_items_must_accumulate_and_a_list_may_hold_any_items_together():
    spindle, epithelioid = Items(False, True, frozenset({"spindle"})), Items(False, True, frozenset({"epithelioid"}))
    both = spindle.meet(epithelioid)
    assert both == Items(False, True, frozenset({"spindle", "epithelioid"})) and not both.empty()
    assert both.within(spindle) and not spindle.within(both)
    absent = Items(missing=True, present=False)
    assert absent.meet(spindle).empty()
    assert not absent.within(spindle) and absent.within(Items(missing=True, present=True))


# ------------------------------------------------------------------ conditions: satisfiable or not


@pytest.mark.parametrize(
    "text, satisfiable",
    [
        ("{all: [{stains.desmin: positive}, {stains.desmin: negative}]}", False),
        ("{any: [{all: [{stains.desmin: positive}, {stains.desmin: negative}]}, {stains.sma: positive}]}", True),
        ("{stains.desmin: {not_in: [positive, negative, equivocal]}}", False),  # every term of the vocabulary
        ("{stains.desmin: {not_in: [positive, negative]}}", True),
        ("{all: [{stains.desmin: positive}, {not: {stains.desmin: positive}}]}", False),
        ("{all: [{stains.desmin: {known: false}}, {stains.desmin: {ne: positive}}]}", False),  # ne: recorded
        ("{all: [{stains.desmin: {known: false}}, {not: {stains.desmin: positive}}]}", True),  # not: also absent
        ("{patient.age: {gt: 50, lt: 20}}", False),
        ("{patient.age: {gte: 50, lte: 50}}", True),
        ("{patient.age: {gt: 50, lte: 50}}", False),
        ("{all: [{patient.age: {known: false}}, {patient.age: {gte: 18}}]}", False),
        ("{all: [{patient.age: 30}, {not: {patient.age: 30}}]}", False),
        ("{all: [{patient.age: {gte: 18}}, {not: {patient.age: {gte: 40}}}]}", True),
        ("{all: [{morphology.cell_types: {known: false}}, {morphology.cell_types: {contains: spindle}}]}", False),
        ("{morphology.cell_types: {contains_all: [spindle, epithelioid, rhabdoid]}}", True),
        ("{all: [{stains.desmin: positive}, {patient.age: {gt: 50, lt: 20}}]}", False),  # one key empties it
    ],
)
def test_satisfiable(logic, knowledge, text, satisfiable):
    node = cond(text, knowledge)
    assert logic.satisfiable(node) is satisfiable
    assert (logic.signature(node) == frozenset()) is not satisfiable


def test_alternatives_are_in_order_and_the_impossible_ones_are_none(logic, knowledge):
    node = cond("{any: [{all: [{stains.desmin: positive}, {stains.desmin: negative}]}, {stains.sma: positive}]}", knowledge)
    first, second = logic.alternatives(node)
    assert first is None
    assert second == {"stains__sma": Terms(frozenset({"positive"}))}
    assert logic.alternatives(node) is logic.alternatives(node)  # cached per node


def test_ne_on_a_number_is_less_or_greater(logic):
    ne = Atom("patient.age", "ne", 30)
    with pytest.raises(KeyError):  # an atom alone: ne on a number has no single interval
        logic.atom(ne)
    assert logic.alternatives(ne) == [
        {"patient__age": Numbers(False, hi=30, hi_open=True)},
        {"patient__age": Numbers(False, lo=30, lo_open=True)},
    ]


def test_known_false_on_a_term_is_only_the_missing_value(logic):
    assert logic.atom(Atom("stains.desmin", "known", False)) == Terms(frozenset({MISSING}))
    assert logic.atom(Atom("stains.desmin", "known", True)) == Terms(frozenset({"positive", "negative", "equivocal"}))
    assert logic.atom(Atom("stains.desmin", "ne", "positive")) == Terms(frozenset({"negative", "equivocal"}))


# ------------------------------------------------------------------ two conditions: implied, joint, the same


@pytest.mark.parametrize(
    "a, b, implied",
    [
        ("{patient.age: {gte: 18, lt: 50}}", "{patient.age: {gte: 10}}", True),
        ("{patient.age: {gte: 18, lt: 50}}", "{patient.age: {gt: 18}}", False),
        ("{stains.desmin: positive}", "{stains.desmin: {in: [positive, equivocal]}}", True),
        ("{stains.desmin: {in: [positive, equivocal]}}", "{stains.desmin: positive}", False),
        ("{stains.desmin: positive}", "{stains.desmin: {known: true}}", True),
        ("{not: {stains.desmin: positive}}", "{stains.desmin: {ne: positive}}", False),  # "not recorded" too
        ("{morphology.cell_types: {contains_all: [spindle, epithelioid]}}", "{morphology.cell_types: {contains: spindle}}", True),
    ],
)
def test_implication_is_exact_on_single_findings(knowledge, a, b, implied):
    import yaml

    logic = Logic(knowledge.vocab)
    na, nb = (parse_condition(yaml.safe_load(x), knowledge.vocab) for x in (a, b))
    assert logic.implies(na, nb) is implied


@pytest.mark.parametrize(
    "a, b, implied",
    [
        ("{stains.desmin: positive, stains.sma: positive}", "{stains.desmin: positive}", True),  # narrower: more keys
        ("{stains.desmin: positive}", "{stains.desmin: positive, stains.sma: positive}", False),
        ("{stains.desmin: positive}", "{any: [{stains.desmin: positive}, {stains.sma: positive}]}", True),
        ("{any: [{stains.desmin: positive}, {stains.sma: positive}]}", "{stains.desmin: positive}", False),
        ("{any: [{stains.desmin: positive}, {stains.desmin: equivocal}]}", "{stains.desmin: {ne: negative}}", True),
        ("{all: [{stains.desmin: positive}, {stains.desmin: negative}]}", "{stains.sma: positive}", True),  # never holds
        ("{stains.sma: positive}", "{all: [{stains.desmin: positive}, {stains.desmin: negative}]}", False),
        ("{patient.age: 30}", "{not: {patient.age: {gt: 40}}}", True),
        ("{patient.age: {known: false}}", "{not: {patient.age: {gt: 40}}}", True),  # not: absent too
        ("{patient.age: {known: false}}", "{patient.age: {lte: 40}}", False),
    ],
)
def test_implication_across_combinations(logic, knowledge, a, b, implied):
    assert logic.implies(cond(a, knowledge), cond(b, knowledge)) is implied


@pytest.mark.parametrize(
    "when, negated_by, joint",
    [
        ("{stains.desmin: positive}", "{stains.desmin: {in: [positive, equivocal]}}", True),
        ("{stains.desmin: positive}", "{stains.desmin: negative}", False),
        ("{stains.desmin: positive}", "{not: {stains.desmin: positive}}", False),  # a finding and its negation
        ("{patient.age: {gte: 40}}", "{patient.age: {lt: 40}}", False),
        ("{patient.age: {gte: 40}}", "{patient.age: {lte: 40}}", True),  # both hold at 40
        ("{morphology.cell_types: {contains: spindle}}", "{morphology.cell_types: {contains: epithelioid}}", True),
        ("{any: [{stains.desmin: negative}, {stains.sma: positive}]}", "{stains.desmin: positive}", True),
        ("{all: [{stains.desmin: negative}, {stains.sma: positive}]}", "{stains.desmin: positive}", False),
    ],
)
def test_jointly(logic, knowledge, when, negated_by, joint):
    a, b = cond(when, knowledge), cond(negated_by, knowledge)
    assert logic.jointly(a, b) is joint and logic.jointly(b, a) is joint


def test_signature_is_equal_for_conditions_written_differently(logic, knowledge):
    as_in = cond("{stains.desmin: {in: [positive, equivocal]}}", knowledge)
    as_any = cond("{any: [{stains.desmin: equivocal}, {stains.desmin: positive}]}", knowledge)
    padded = cond(
        "{any: [{stains.desmin: positive}, {stains.desmin: equivocal}, "
        "{all: [{stains.desmin: positive}, {stains.desmin: negative}]}]}",
        knowledge,
    )
    assert logic.signature(as_in) == logic.signature(as_any) == logic.signature(padded)
    assert logic.signature(as_in) != logic.signature(cond("{stains.desmin: positive}", knowledge))
