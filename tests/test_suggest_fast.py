"""The fast next-test suggester (ddx/suggest.py) equals the reference (tests/suggest_reference.py).

Equal means: the same suggestions in the same order, every ``to_dict()`` and ``detail`` identical, gains within
1e-9 bits (bit for bit when the scalar arithmetic is used). Checked three ways for each corpus: the scalar way
only (``vectorise_after=None``), numpy from the first call (``0``), and the default switch after
``VECTORISE_AFTER`` calls; on every published case, on dense synthetic cases and on sparse ones (most findings
dropped, so most tests are candidates); at the settings' temperature and at two others; and with min_gain set
exactly to a gain, where the threshold falls on the boundary.
"""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ddx.analysis import Analyzer
from ddx.knowledge import Knowledge
from ddx.loader import iter_cases
from ddx.ranking import Ranker
from ddx.suggest import GAIN_SLACK, VECTORISE_AFTER, Suggester, Suggestion, _near_key, _Test, _unsure
from ddx.synthetic import synthetic_case
from tests.conftest import CASES, REPO, validate
from tests.suggest_reference import ReferenceSuggester

DENSE, SPARSE = 300, 150  # the default run (the reference takes about 2 ms a case); -m slow: 15,000 and 5,000


@dataclass
class Case:
    facts: dict[str, Any]
    matched: frozenset[str]
    pp: list[float]


def sparse(case: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A dense synthetic case with most findings dropped (each kept with probability 0.15)."""
    out: dict[str, Any] = {"id": case["id"]}
    for section, value in case.items():
        if isinstance(value, dict):
            kept = {k: v for k, v in value.items() if rng.random() < 0.15}
            if kept:
                out[section] = kept
    return out


def inputs(analyzer: Analyzer, ranker: Ranker, raws: Iterator[dict[str, Any]]) -> list[Case]:
    knowledge = analyzer.knowledge
    out = []
    for raw in raws:
        case = validate(knowledge, raw)
        facts = analyzer.facts(case)
        matched = analyzer.matcher.match(facts)
        out.append(Case(facts, matched, ranker.profile_posterior(matched)))
    return out


def synthetic(analyzer: Analyzer, ranker: Ranker, dense: int, thin: int, seed: int) -> list[Case]:
    vocab = analyzer.knowledge.vocab
    rng = random.Random(seed)
    raws = [synthetic_case(vocab, rng, f"d{i}") for i in range(dense)]
    raws += [sparse(synthetic_case(vocab, rng, f"s{i}"), rng) for i in range(thin)]
    return inputs(analyzer, ranker, iter(raws))


def published(analyzer: Analyzer, ranker: Ranker) -> list[Case]:
    knowledge = analyzer.knowledge
    cases = [loaded.case for path in sorted(CASES.rglob("*.yaml")) for loaded in iter_cases(path, knowledge)]
    assert len(cases) >= 50 and all(c is not None for c in cases)
    out = []
    for case in cases:
        facts = analyzer.facts(case)
        matched = analyzer.matcher.match(facts)
        out.append(Case(facts, matched, ranker.profile_posterior(matched)))
    return out


@dataclass
class Tally:
    """What the comparison saw: so that a corpus that exercises nothing fails."""

    suggestions: int = 0
    asked: int = 0  # suggestions a caveat asked for
    no_contrast: int = 0  # suggestions without a contrast (gaining nothing, or no other entity differs)
    largest_difference: float = 0.0


def assert_same(
    reference: ReferenceSuggester, fast: list[Suggester], cases: list[Case], tally: Tally, scalar_cases: int | None = None, **kw: Any
) -> None:
    """Every fast suggester's suggestions are the reference's (the scalar one's, when ``scalar_cases`` is given,
    on the first ``scalar_cases`` cases only: it does what the reference does, and as slowly)."""
    for i, case in enumerate(cases):
        want = reference.suggest(case.facts, case.matched, profile_posterior=case.pp, **kw)
        for suggester in fast:
            if suggester.vectorise_after is None and scalar_cases is not None and i >= scalar_cases:
                continue
            got = suggester.suggest(case.facts, case.matched, profile_posterior=case.pp, **kw)
            where = f"case {i} (vectorise_after={suggester.vectorise_after}, {kw})"
            assert [s.to_dict() for s in got] == [s.to_dict() for s in want], where
            assert [s.detail for s in got] == [s.detail for s in want], where
            for a, b in zip(want, got):
                if suggester.vectorise_after is None:
                    assert b.gain == a.gain, where  # the scalar way: the reference's arithmetic
                assert abs(b.gain - a.gain) <= 1e-9, where
                tally.largest_difference = max(tally.largest_difference, abs(b.gain - a.gain))
        tally.suggestions += len(want)
        tally.asked += sum(1 for s in want if s.asked_by)
        tally.no_contrast += sum(1 for s in want if s.contrast is None)


def suggesters(knowledge: Knowledge, ranker: Ranker) -> list[Suggester]:
    return [
        Suggester(knowledge, ranker, vectorise_after=None),
        Suggester(knowledge, ranker, vectorise_after=0),
        Suggester(knowledge, ranker),
    ]


@pytest.fixture(scope="module")
def ranker(knowledge: Knowledge) -> Ranker:
    return Ranker(knowledge)


def unpanelled(knowledge: Knowledge) -> Knowledge:
    """``knowledge`` with no cost class a panel (``panel: true`` in rules/ancillary.yaml); the rules unchanged,
    so the ranker built from ``knowledge`` serves it."""
    anc = knowledge.ancillary
    assert any(c.panel for c in anc.classes.values())
    classes = {cid: c.model_copy(update={"panel": False}) for cid, c in anc.classes.items()}
    return dataclasses.replace(knowledge, ancillary=dataclasses.replace(anc, classes=classes))


def check(knowledge: Knowledge, ranker: Ranker, cases: list[Case], every: int = 200) -> Tally:
    tally = Tally()
    reference = ReferenceSuggester(knowledge, ranker)
    assert_same(reference, suggesters(knowledge, ranker), cases, tally, scalar_cases=300)
    # every candidate test, gaining anything (the whole ordering, and the tests below min_gain), on ``every`` cases
    assert_same(reference, suggesters(knowledge, ranker), cases[:every], tally, n=100, min_gain=0.0)
    # and so again with no class a panel: every test of a panel in a place of its own (tests that gain nothing
    # among them, which have no contrast)
    single = unpanelled(knowledge)
    assert_same(ReferenceSuggester(single, ranker), suggesters(single, ranker), cases[:every], tally, n=100, min_gain=0.0)
    # numpy's gains differ from the scalar ones by rounding only, far inside the slack the guards assume
    assert tally.largest_difference < GAIN_SLACK / 100
    return tally


def test_every_published_case_gets_the_reference_suggestions(knowledge, analyzer, ranker):
    tally = check(knowledge, ranker, published(analyzer, ranker))
    assert tally.suggestions > 100 and tally.asked > 0


def test_dense_and_sparse_synthetic_cases_get_the_reference_suggestions(knowledge, analyzer, ranker):
    tally = check(knowledge, ranker, synthetic(analyzer, ranker, DENSE, SPARSE, seed=19))
    # the corpus reaches the paths that differ: tests a caveat asks for, suggestions without a contrast, and
    # more than VECTORISE_AFTER cases (the default suggester switches to numpy part way)
    assert tally.asked > 20 and tally.no_contrast > 0 and DENSE + SPARSE > 2 * VECTORISE_AFTER


@pytest.mark.slow
def test_twenty_thousand_synthetic_cases_get_the_reference_suggestions(knowledge, analyzer, ranker):
    tally = check(knowledge, ranker, synthetic(analyzer, ranker, 15_000, 5_000, seed=1919), every=2000)
    assert tally.asked > 200


@pytest.mark.parametrize("temperature", [0.6, 1.7])
def test_the_tempering_is_the_reference_s(knowledge, analyzer, temperature):
    ranker = Ranker(knowledge)
    ranker.temperature = temperature
    cases = published(analyzer, ranker) + synthetic(analyzer, ranker, 60, 30, seed=int(temperature * 10))
    check(knowledge, ranker, cases, every=100)


def test_a_gain_exactly_at_min_gain_falls_where_the_reference_puts_it(knowledge, analyzer, ranker):
    # numpy's gain may lie a hair either side of the scalar one: at the threshold the scalar gain decides
    cases = synthetic(analyzer, ranker, 30, 10, seed=7)
    reference = ReferenceSuggester(knowledge, ranker)
    fast = [Suggester(knowledge, ranker, vectorise_after=0)]
    tally, thresholds = Tally(), 0
    for case in cases:
        for s in reference.suggest(case.facts, case.matched, profile_posterior=case.pp, n=100, min_gain=0.0)[:6]:
            if s.gain > 0:
                assert_same(reference, fast, [case], tally, min_gain=s.gain)
                thresholds += 1
    assert thresholds > 60


def test_suggestions_change_with_the_other_findings_a_conditional_rule_reads(knowledge, analyzer, ranker):
    # desmin's table depends on MyoD1 and myogenin (conditional rules): the cached table follows them
    base = {"id": "c", "patient": {"age": 40}, "morphology": {"cell_types": ["spindle", "epithelioid"]}}
    variants = [
        base,
        {**base, "stains": {"myod1": "positive"}},
        {**base, "stains": {"myogenin": "positive"}},
        {**base, "stains": {"myod1": "negative", "myogenin": "positive"}},
    ]
    cases = inputs(analyzer, ranker, iter(variants * 3))
    fast = Suggester(knowledge, ranker, vectorise_after=0)
    desmin = next(t for t in fast.tests if t.name == "desmin")
    assert_same(ReferenceSuggester(knowledge, ranker), [fast], cases, Tally(), n=100, min_gain=0.0)
    assert len(desmin.tables) >= 3  # one per state of the findings its rules read beyond it


def test_which_tests_are_done_is_the_prefix_scan(knowledge, analyzer):
    fast = Suggester(knowledge, Ranker(knowledge))
    bases = [t.base_key for t in fast.tests] + ["molecular__alk_rearrangement", "stains__myod1"]
    keys = sorted(analyzer.keys) + [b + suffix for b in bases for suffix in ("__extent", "__pattern", "x", "_2", "__")]
    keys += [b[:-1] for b in bases] + ["stains", "stains__", "molecular__"]
    rng = random.Random(3)
    for _ in range(300):
        facts = {k: "positive" for k in rng.sample(keys, rng.randint(0, 40))}
        done = fast._done(facts)
        for base in set(bases):
            assert (base in done) == any(k == base or k.startswith(base + "__") for k in facts), (base, sorted(facts))


def test_the_guards_flag_every_gain_that_could_round_either_way(knowledge):
    fast = Suggester(knowledge, Ranker(knowledge))
    tests: list[_Test] = list({t.cost.cost: t for t in fast.tests}.values())  # one per relative cost
    assert len(tests) >= 2
    rng = random.Random(5)
    # gains on the 9th, 4th and 2nd decimals' half-way points, a hair off them, and at random
    gains = [(m + 0.5) / 10**d + e for d in (2, 4, 9) for m in (0, 1, 12, 123) for e in (0.0, 1e-13, -3e-13, 5e-11)]
    gains += [rng.uniform(0, 3) for _ in range(2000)]
    flagged = 0
    for test in tests:
        cost = test.cost.cost
        for g in gains:
            around = (g - GAIN_SLACK, g, g + GAIN_SLACK)
            key = _near_key(g, test)
            if key is not None:  # the key it gives is every nearby gain's key
                assert all(key == (-round(x / cost, 9), -round(x, 9)) for x in around), (g, cost)
            if not _unsure(g, cost):
                shown = {(round(x, 4), round(x / cost, 4), f"{x:.2f}", round(x, 9), round(x / cost, 9)) for x in around}
                assert len(shown) == 1, (g, cost)
            flagged += _unsure(g, cost)
    assert flagged > 0
    assert _near_key((12 + 0.5) / 1e9, tests[0]) is None and _unsure(0.125, 1.0) and not _unsure(0.1234321, 1.0)


def test_ranking_a_few_cases_does_not_import_numpy():
    # numpy costs about 0.1 s of CPU to import: ddx eval on a case must not pay it (VECTORISE_AFTER)
    code = (
        "import sys\n"
        "from ddx.analysis import Analyzer\n"
        "from ddx.knowledge import load_knowledge\n"
        "from ddx.loader import iter_cases\n"
        "k = load_knowledge()\n"
        "a = Analyzer(k)\n"
        f"cases = [c.case for c in iter_cases({str(CASES / 'seed-board-q1-thigh-35m.yaml')!r}, k)] * 5\n"
        "assert all(a.analyze(c).suggestions for c in cases)\n"
        "print('numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_suggestion_a_caveat_asks_for_is_kept_when_no_rule_reads_the_test(knowledge, analyzer, ranker):
    # the caveat-asked tests that gain nothing come out of the reference's second list; the fast one keeps them
    fast = Suggester(knowledge, ranker, vectorise_after=0)
    reference = ReferenceSuggester(knowledge, ranker)
    cases = synthetic(analyzer, ranker, 300, 0, seed=11)
    zero: list[Suggestion] = []
    for case in cases:
        got = fast.suggest(case.facts, case.matched, profile_posterior=case.pp)
        want = reference.suggest(case.facts, case.matched, profile_posterior=case.pp)
        assert [s.to_dict() for s in got] == [s.to_dict() for s in want]
        zero += [s for s in got if s.asked_by and s.gain < knowledge.settings.next_tests.min_gain]
    assert zero, "the corpus has no caveat-asked test below min_gain"


def test_a_conditional_pair_summing_to_one_gives_the_same_table_either_side_of_rounding(knowledge, analyzer):
    """ihc.cd163.diffuse and its negation are both 'given CD163 positive', so their likelihoods sum to 1 only up
    to the last bit (3.11 and 3.13 once gave 0.02 and 0.22 bits for CD163 on one case, their sum() of the priors
    differing). Nudged a few ulps either side of 1, the CD163 test's table is the same."""
    import math

    case = validate(knowledge, {"id": "cd163-table", "patient": {"age": 74}, "stains": {"cd68": "positive", "desmin": "negative"}})
    facts = analyzer.facts(case)
    suggester = analyzer.suggester
    test = next(t for t in suggester.tests if t.path == "stains.cd163")
    log_lik = suggester.ranker.log_lik
    pair = ("ihc.cd163.diffuse", "ihc.cd163.diffuse:not")
    kept = {rid: log_lik[rid] for rid in pair}
    rows, below, above = [], False, False
    try:
        for nudge in (-8e-16, -4e-16, 0.0, 4e-16, 8e-16):
            for rid, values in kept.items():
                log_lik[rid] = tuple(v + nudge for v in values)
            sums = [math.fsum(math.exp(log_lik[rid][i]) for rid in pair) for i in range(len(kept[pair[0]]))]
            below |= any(x < 1.0 for x in sums)
            above |= any(x >= 1.0 for x in sums)
            table = suggester._build(test, facts, frozenset())
            rows.append([[round(x, 9) for x in row] for row in table.rows])
    finally:
        log_lik.update(kept)
    assert below and above  # the nudges do put the sum on both sides of 1
    assert all(r == rows[0] for r in rows)
