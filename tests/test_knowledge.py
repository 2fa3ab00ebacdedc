from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ddx.errors import KnowledgeError
from ddx.knowledge import load_knowledge


def test_packaged_rules_load_and_every_weight_has_a_source(knowledge):
    assert knowledge.active_rules
    for rule in knowledge.rules:
        assert len(rule.spec.source) > 10 and rule.spec.rationale
        for slug in knowledge.entity_slugs:
            lk = rule.likelihood(slug)
            if rule.spec.likelihood is not None:
                assert lk is not None
                assert lk.estimate or lk.source or rule.spec.source


def test_every_entity_of_the_contract_is_present(knowledge):
    contract = {"ilms", "imt", "eims", "prms", "srms", "lms", "erms", "arms", "ddlps", "ups"}
    assert contract - {"eims"} <= set(knowledge.entity_slugs)
    assert "eims" in knowledge.subtype and knowledge.parent("eims") == "imt"  # a subtype of imt now
    assert knowledge.entity_terms.normalize("EIMS") == "eims"  # still accepted as `expected`


def write_rule(rules_dir: Path, body: str) -> Path:
    path = rules_dir / "rules" / "zz-test.yaml"
    path.write_text("rules:\n" + textwrap.indent(textwrap.dedent(body), "  "))
    return path


GOOD = """\
- id: test.rule
  title: Test finding
  status: active
  when: {stains.desmin: positive}
  likelihood: {ilms: 0.5}
  default: ~0.1
  rationale: a test
  source: test source 2026
"""


def test_a_valid_extra_rule_loads(rules_copy):
    write_rule(rules_copy, GOOD)
    k = load_knowledge(rules_copy)
    assert "test.rule" in k.rule


@pytest.mark.parametrize(
    "change, words, line",
    [
        (("stains.desmin", "stains.desmni"), ["desmni", "desmin"], 5),
        (("  source: test source 2026\n", ""), ["source", "missing"], 2),
        (("{ilms: 0.5}", "{ilsm: 0.5}"), ["unknown entity 'ilsm'", "ilms"], 6),
        (("{ilms: 0.5}", "{ilms: 1.5}"), ["must be 1 or less (got 1.5)"], 6),
        (("  default: ~0.1\n", "  default:\n    p: 2\n"), ["must be 1 or less (got 2)"], 8),
        (("status: active", "status: live"), ["status"], 4),
        (("title: Test finding", "title: Test finding\n  colour: red"), ["unknown key 'colour'"], 4),
        (("positive}", "positiv}"), ["positive"], 5),
        (("{stains.desmin: positive}", "{stains.desmin: {gte: 3}}"), ["operator 'gte'"], 5),
    ],
)
def test_broken_rule_is_reported_with_file_and_line(rules_copy, change, words, line):
    write_rule(rules_copy, GOOD.replace(*change))
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(rules_copy)
    text = str(info.value)
    for w in words:
        assert w in text, text
    assert f"zz-test.yaml:{line}:" in text, text  # the line of the offending key


def test_a_missing_likelihood_points_to_the_misspelt_key_that_is_likely_it(rules_copy):
    """Without a default, a misspelt entity key leaves its entity without a likelihood: the 'no likelihood'
    error (reported first, at the rule's line) names the key that is likely it, so it does not read as a
    second mistake; other missing entities are named plainly."""
    others = ", ".join(f"{e.slug}: 0.1" for e in load_knowledge(rules_copy).entities if e.slug != "ilms")
    body = GOOD.replace("  default: ~0.1\n", "").replace("{ilms: 0.5}", f"{{ilsm: 0.5, {others}}}")
    write_rule(rules_copy, body)
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(rules_copy)
    text = str(info.value)
    assert "no likelihood for ilms ('ilsm' at line 6 may be it)" in text and "add it or a 'default'" in text, text
    write_rule(rules_copy, GOOD.replace("  default: ~0.1\n", ""))
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(rules_copy)
    assert "may be it" not in str(info.value) and "; add them or a 'default'" in str(info.value)
    # 'rms' is nearest to srms, which the rule gives: the hint names the nearest entity it lacks, prms
    given = ", ".join(f"{e.slug}: 0.1" for e in load_knowledge().entities if e.slug not in ("ilms", "prms"))
    write_rule(rules_copy, GOOD.replace("  default: ~0.1\n", "").replace("{ilms: 0.5}", f"{{ilms: 0.5, rms: 0.5, {given}}}"))
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(rules_copy)
    assert "no likelihood for prms ('rms' at line 6 may be it)" in str(info.value), str(info.value)


def test_duplicate_rule_id_names_both_places(rules_copy):
    write_rule(rules_copy, GOOD + GOOD)
    with pytest.raises(KnowledgeError, match=r"duplicate rule id 'test.rule' \(first defined at .*zz-test.yaml:2\)"):
        load_knowledge(rules_copy)


def test_yaml_syntax_error_in_rules_names_line(rules_copy):
    (rules_copy / "rules" / "zz-test.yaml").write_text("rules:\n  - id: x\n    when: {a: [\n")
    with pytest.raises(KnowledgeError, match=r"zz-test.yaml:\d+: rule x: YAML syntax error"):
        load_knowledge(rules_copy)


def test_code_in_yaml_is_refused(rules_copy, tmp_path):
    marker = tmp_path / "pwned"
    (rules_copy / "rules" / "zz-test.yaml").write_text(f"rules: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(KnowledgeError):
        load_knowledge(rules_copy)
    assert not marker.exists()


def test_missing_rules_dir_is_a_clear_error(tmp_path):
    with pytest.raises(KnowledgeError, match="not a ddx rules directory"):
        load_knowledge(tmp_path)


def test_rules_dir_from_environment(monkeypatch, rules_copy):
    write_rule(rules_copy, GOOD)
    monkeypatch.setenv("DDX_RULES", str(rules_copy))
    assert "test.rule" in load_knowledge().rule
