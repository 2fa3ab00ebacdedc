"""The ALK fusion partner: a named fusion (KIF5B-ALK, RANBP2-ALK, RRBP1-ALK, EML4-ALK) is its gene's
rearrangement (``implies:`` in vocabulary.yaml, applied in ddx.facts), counted once as the ALK fusion, and
its partner, a conditional finding (mol.alk-partner.*), separates the ALK-fused entities."""

from __future__ import annotations

from ddx.facts import case_facts
from tests.conftest import validate

# an ALK-positive inflammatory lesion with histiocytic markers: IMT and ALK-positive histiocytosis both fit
BASE = {
    "id": "alk-partner",
    "patient": {"age": 30},
    "morphology": {"cell_types": ["spindle"], "inflammation": ["lymphocytes", "foamy_histiocytes"]},
    "stains": {"cd68": "positive", "alk": "positive"},
}


def _case(knowledge, **molecular):
    return validate(knowledge, {**BASE, "molecular": molecular})


def _probability(analysis, entity):
    return next(r.probability for r in analysis.ranking if r.entity == entity)


def test_a_named_fusion_records_the_rearrangement_it_is(knowledge):
    facts = case_facts(_case(knowledge, kif5b_alk_fusion="present"), knowledge.vocab)
    assert facts["molecular__kif5b_alk_fusion"] == "present" and facts["molecular__alk_rearrangement"] == "present"
    assert list(facts)[-1] == "molecular__alk_rearrangement"  # after what the case records
    # a fusion named by sequencing outweighs a break-apart read negative (FISH misses some)
    facts = case_facts(_case(knowledge, alk_fish="negative", kif5b_alk_fusion="present"), knowledge.vocab)
    assert facts["molecular__alk_rearrangement"] == "present"
    # a fusion found absent implies nothing; a synonym is the term
    assert "molecular__alk_rearrangement" not in case_facts(_case(knowledge, kif5b_alk="absent"), knowledge.vocab)
    assert case_facts(_case(knowledge, **{"RANBP2::ALK": "detected"}), knowledge.vocab)["molecular__alk_rearrangement"] == "present"


def test_the_partner_is_counted_once_with_the_fusion_it_names(knowledge, analyzer):
    named = analyzer.analyze(_case(knowledge, kif5b_alk_fusion="present"))
    both = analyzer.analyze(_case(knowledge, alk_rearrangement="present", kif5b_alk_fusion="present"))
    assert {"mol.alk-fusion", "mol.alk-partner.kif5b"} <= named.matched
    assert named.matched == both.matched
    assert [(r.entity, r.probability) for r in named.ranking] == [(r.entity, r.probability) for r in both.ranking]
    assert not any(u.path.startswith("molecular.") for u in named.unused)


def test_the_partner_moves_the_alk_fused_entities_apart(knowledge, analyzer):
    """KIF5B (27/32 ALK-positive histiocytoses, no recognised IMT partner) favours ALK-positive histiocytosis;
    EML4 (7/35 ALK-rearranged IMT, 1/32 histiocytoses) favours IMT; RANBP2 (EIMS) favours the IMT family."""
    alk = analyzer.analyze(_case(knowledge, alk_rearrangement="present"))

    def odds(analysis):
        return _probability(analysis, "alkh") / _probability(analysis, "imt")

    kif5b = analyzer.analyze(_case(knowledge, alk_rearrangement="present", kif5b_alk_fusion="present"))
    eml4 = analyzer.analyze(_case(knowledge, alk_rearrangement="present", eml4_alk_fusion="present"))
    ranbp2 = analyzer.analyze(_case(knowledge, alk_rearrangement="present", ranbp2_alk_fusion="present"))
    assert odds(kif5b) > 10 * odds(alk)
    assert odds(eml4) < odds(alk) / 2 and odds(ranbp2) < odds(alk) / 2


def test_a_partner_gains_only_once_an_alk_fusion_is_known(knowledge, analyzer):
    """The partner's figures are shares of ALK-rearranged tumours: without a known ALK fusion a partner test
    says nothing a break-apart would not say first, so it gains nothing; with one, it separates IMT from
    ALK-positive histiocytosis."""
    partners = {"kif5b_alk_fusion", "ranbp2_alk_fusion", "rrbp1_alk_fusion", "eml4_alk_fusion"}

    def gains(case):
        analysis = analyzer.analyze(case)
        every = analyzer.suggester.suggest(analyzer.facts(case), analysis.matched, n=1000, min_gain=0.0)
        return {s.test: s.gain for s in every if s.test in partners}

    assert all(g < 1e-9 for g in gains(_case(knowledge)).values())
    known = gains(_case(knowledge, alk_rearrangement="present"))
    assert known["kif5b_alk_fusion"] > 0.05, known
