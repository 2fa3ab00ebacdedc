"""Lean batch lines (the default of ddx batch --format jsonl): the full line's facts, each said once."""

from __future__ import annotations

import json
import random

from click.testing import CliRunner

from ddx.batch import source_table
from ddx.citations import citation_keys
from ddx.cli import main
from ddx.ranking import ranker_for
from ddx.render import to_json, to_lean_line
from ddx.synthetic import synthetic_case
from tests.conftest import CASES, SEED

DROPPED_FROM_TESTS = {"label", "cost_label", "relative_cost", "turnaround"}


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_citation_keys_are_author_year_unique_and_independent_of_order():
    texts = [
        "Merchant W, Calonje E, Fletcher CDM. Histopathology 1995;27:525",
        "Merchant W, Calonje E, Fletcher CDM. Histopathology 1995;27:525 (any extent)",
        "Le Loarer F, et al. Mod Pathol 2020;33:404",
        "Jo VY, Fletcher CDM. Am J Surg Pathol 2011;35:1523; Coffin CM, et al. Am J Surg Pathol 1995;19:859",
        "pooled: Coffin CM, et al. Am J Surg Pathol 1995;19:859 8/84; Wang Z, et al. Pediatr Surg Int 2015",
        "WHO Classification of Tumours, Soft Tissue and Bone, 5th ed., 2020",
    ]
    keys = citation_keys(texts)
    assert keys[texts[0]] == "Merchant1995" and keys[texts[1]] == "Merchant1995b"
    assert keys[texts[2]] == "LeLoarer2020"
    assert keys[texts[3]] == "Jo2011+1" and keys[texts[4]] == "Coffin1995+1"
    assert keys[texts[5]] == "WHO2020"
    assert citation_keys(reversed(texts)) == keys


def test_every_source_of_the_rules_has_one_key_and_the_table_inverts_it(knowledge):
    ranker = ranker_for(knowledge)
    table = source_table(knowledge)
    assert len(table) == len(ranker.source_key) == len(set(ranker.source_key.values()))
    assert {text: key for key, text in table.items()} == ranker.source_key
    assert all(f'"source":"{ranker.source_key[e.source]}"' in ranker.lean_text(e) for row in ranker.evidence.values() for e in row)


def _lean_matches_full(lean: dict, full: dict, table: dict[str, str]) -> None:
    assert lean["detail"] == "lean"
    assert [(r["entity"], r["probability"], r["score"]) for r in lean["ranking"]] == [
        (r["entity"], r["probability"], r["score"]) for r in full["ranking"]
    ]
    for a, b in zip(lean["ranking"], full["ranking"]):
        assert ("evidence" in a) == ("evidence" in b)
        assert a.get("subtype", {}).get("slug") == b.get("subtype", {}).get("slug")
        for x, y in zip(a.get("evidence", []), b.get("evidence", []), strict=True):
            assert (x["rule"], x["weight"], table[x["source"]]) == (y["rule"], y["weight"], y["source"])
            if "k" in y:
                assert x["figure"].startswith(f"{y['k']}/{y['total']}")
            else:
                assert x["figure"].lstrip("~") == f"{y['raw']:.2f}" and x["figure"].startswith("~") == y["estimate"]
    assert lean["suggested_tests"] == [{k: v for k, v in s.items() if k not in DROPPED_FROM_TESTS} for s in full["suggested_tests"]]
    assert [(c["rule"], table[c["source"]]) for c in lean["caveats"]] == [(c["rule"], c["source"]) for c in full["caveats"]]
    same = ("id", "expected", "unused_findings", "informative_findings", "errors", "no_separating_test", "rules_hash", "engine")
    assert {k: lean[k] for k in same} == {k: full[k] for k in same}
    assert lean["confidence"] == {k: full["confidence"][k] for k in ("band", "label", "confirm_tests", "confirm_with")}


def test_a_lean_line_says_what_the_full_line_says(analyzer, knowledge):
    rng = random.Random(19)
    cases = [knowledge.case_schema.validate(synthetic_case(knowledge.vocab, rng, f"s{i}")) for i in range(60)]
    cases += [knowledge.case_schema.validate(__import__("yaml").safe_load(SEED.read_text(encoding="utf-8")))]
    table = source_table(knowledge)
    for case in cases:
        analysis = analyzer.analyze(case, file="x.yaml")
        for evidence_for in (3, 0, None):
            lean = json.loads(to_lean_line(analysis, knowledge, evidence_for=evidence_for))
            _lean_matches_full(lean, to_json(analysis, knowledge, evidence_for=evidence_for), table)


def test_batch_writes_lean_lines_by_default_with_the_sources_once(tmp_path):
    sources = tmp_path / "sources.json"
    result = run("batch", str(CASES), "--format", "jsonl", "-q", "--sources", str(sources))
    assert result.exit_code == 0
    *lines, last = result.output.splitlines()
    summary = json.loads(last)["summary"]
    assert json.loads(sources.read_text(encoding="utf-8")) == summary["sources"]
    cited = {e["source"] for line in lines for r in json.loads(line)["ranking"] for e in r.get("evidence", [])}
    assert cited and cited <= set(summary["sources"])
    full = run("batch", str(CASES), "--format", "jsonl", "-q", "--evidence", "full").output.splitlines()
    assert "sources" not in json.loads(full[-1])["summary"]
    table = summary["sources"]
    for a, b in zip(lines, full, strict=False):
        _lean_matches_full(json.loads(a), json.loads(b), table)
    # what the lean line leaves out is said once per file, not once per case
    assert sum(map(len, lines)) * 2 < sum(map(len, full[:-1]))


def test_a_finding_not_used_keeps_the_value_it_was_recorded_with(analyzer, knowledge):
    # the analyzer shares one Unused per finding and value, and a lean line encodes each once: 1, 1.0 and True are
    # one dict key, so each must still come back as itself (a whole number as an int; a list item untouched)
    from ddx.analysis import Analysis

    def unused(facts):
        return analyzer.unused(facts, frozenset())

    given = ({"x__n": True}, {"x__n": 1}, {"x__n": 1.0}, {"x__n": 1.5})
    seen = [(u.path, u.value, type(u.value)) for facts in given for u in unused(facts)]
    assert seen == [("x.n", True, bool), ("x.n", 1, int), ("x.n", 1, int), ("x.n", 1.5, float)]
    items = unused({"x__items": [2.0, True, "a"]})
    assert [(u.value, type(u.value)) for u in items] == [(2.0, float), (True, bool), ("a", str)]
    assert [u.value for u in unused({"x__raw": [["a"]], "x__map": {"a": 1}})] == [["a"], {"a": 1}]  # not kept, still said
    # one key read as a value, then as a list item: shown as an int, then kept as given
    assert [(u.value, type(u.value)) for facts in ({"x__m": 2.0}, {"x__m": [2.0]}) for u in unused(facts)] == [(2, int), (2.0, float)]

    def said(found):
        line = to_lean_line(Analysis(case_id="c", case=None, unused=found), knowledge)
        return line.split('"unused_findings":')[1].split("]", 1)[0] + "]"

    texts = [said(unused(facts)) for facts in ({"x__n": 1}, {"x__n": True}, {"x__n": 1.0}, {"x__items": [2.0]})]
    assert texts == [
        '[{"finding":"x.n","value":1}]',
        '[{"finding":"x.n","value":true}]',
        '[{"finding":"x.n","value":1}]',
        '[{"finding":"x.items","value":2.0}]',
    ]
    assert [said([u]) for u in items] == [f"[{json.dumps(u.to_dict(), separators=(',', ':'))}]" for u in items]


def test_lean_lines_of_two_rule_sets_in_one_process_are_each_their_own(analyzer, knowledge, tmp_path):
    # what a lean line keeps between lines (its constant end, its evidence table) belongs to one rule set; a line
    # of rules reloaded in between, and of an analysis ranked before the reload, is the line made fresh
    import shutil

    from ddx.analysis import Analyzer
    from ddx.knowledge import load_knowledge

    other = tmp_path / "rules"
    shutil.copytree(knowledge.directory, other)
    settings = other / "settings.yaml"
    settings.write_text(settings.read_text(encoding="utf-8").replace("version:", "version: 'x' # was", 1), encoding="utf-8")
    second = load_knowledge(other)
    case = knowledge.case_schema.validate(__import__("yaml").safe_load(SEED.read_text(encoding="utf-8")))
    ours = analyzer.analyze(case, file="x.yaml")
    before = to_lean_line(ours, knowledge)
    with Analyzer(second, analyzer.engine) as theirs:
        line = to_lean_line(theirs.analyze(case, file="x.yaml"), second)
    assert json.loads(line)["rules_version"] == "x" != json.loads(before)["rules_version"]
    assert {k: v for k, v in json.loads(line).items() if k not in ("rules_version", "rules_hash", "rules_dir")} == {
        k: v for k, v in json.loads(before).items() if k not in ("rules_version", "rules_hash", "rules_dir")
    }
    assert to_lean_line(ours, knowledge) == before  # ranked by a ranker since replaced: read from its evidence


def test_a_lean_suggested_test_is_the_text_its_dict_encodes_to(analyzer, knowledge):
    """The lean line writes a suggested test from pieces kept per test and why, with only its gains written
    per case: the text must be the one its dict encodes to, key order and float form included."""
    from ddx.render import _dumps, _lean_test, _lean_test_text

    rng = random.Random(23)
    seen = 0
    for i in range(80):
        case = knowledge.case_schema.validate(synthetic_case(knowledge.vocab, rng, f"t{i}"))
        for s in analyzer.analyze(case).suggestions:
            for _ in range(2):  # made, then from the kept pieces
                assert _lean_test_text(s) == _dumps(_lean_test(s.to_dict()))
            seen += 1
    assert seen > 40
