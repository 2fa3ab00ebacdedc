"""A pathologist's first edits of the rules (a new user's trial, 2026-12-02): a count given a 'reason' where
its citation belongs is refused, a cited figure without its own citation is warned of, a percentage is
refused with the proportion to write, one bad count is one error (not eight echoes of it in the ratios that
name its rule), and every `ddx rules` command takes the folder as DIR or --rules DIR."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ddx.authoring.check import check_rules
from ddx.cli import main
from ddx.knowledge import packaged_rules_dir

CALPONIN = """
  - id: ihc.calponin
    title: "Calponin positive"
    status: active
    when: {{stains.calponin: positive}}
    likelihood:
      ilms: {ilms}
      lms: {lms}
    default: {{p: ~0.5, reason: "estimate: held neutral"}}
    rationale: "a trial rule"
    source: "Smith J, et al. Histopathology 2025;86:123. doi:10.1111/his.99999"
"""


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "myrules"
    shutil.copytree(packaged_rules_dir(), folder, ignore=shutil.ignore_patterns(".history"))
    return folder


def add_rule(folder: Path, **cells: str) -> None:
    target = folder / "rules" / "immunohistochemistry.yaml"
    target.write_text(target.read_text(encoding="utf-8") + CALPONIN.format(**cells), encoding="utf-8")


def messages(folder: Path, code: str) -> list[str]:
    return [m.problem.message for m in check_rules(folder, engine=False).messages if m.code == code]


def test_a_count_with_a_reason_instead_of_a_source_is_refused(copy):
    add_rule(copy, ilms='{n: "3/10", reason: "our audit, not published"}', lms='{n: "9/10", source: "Smith 2025"}')
    (said,) = [m for m in messages(copy, "weight") if "reason" in m]
    assert "'source:'" in said and "{p: ~0.3, reason: ...}" in said


def test_a_cited_figure_without_its_own_source_is_warned_of(copy):
    add_rule(copy, ilms="0.3", lms='{n: "9/10", source: "Jones A, et al. Mod Pathol 2024;37:100. PMID:1"}')
    warned = messages(copy, "cell-source")
    assert len(warned) == 1 and "rule ihc.calponin, ilms" in warned[0] and "estimate" in warned[0]


def test_the_packaged_rules_give_every_cited_figure_its_source():
    assert messages(packaged_rules_dir(), "cell-source") == []


def test_a_percentage_is_refused_with_the_proportion_to_write(copy):
    add_rule(copy, ilms="30%", lms="~90%")
    said = [m for m in messages(copy, "weight") if "percentage" in m]
    assert any("write 0.3 for '30%'" in m for m in said) and any("write ~0.9 for '~90%'" in m for m in said)


def test_one_bad_count_is_one_error(copy):
    target = copy / "rules" / "immunohistochemistry.yaml"
    text = target.read_text(encoding="utf-8")
    assert text.count('n: "15/19"') == 1
    target.write_text(text.replace('n: "15/19"', 'n: "22/19"'), encoding="utf-8")
    errors = [m for m in check_rules(copy, engine=False).messages if m.severity == "error"]
    assert len(errors) == 1 and "22/19" in errors[0].problem.message


def test_every_rules_command_takes_the_folder_either_way(copy):
    add_rule(copy, ilms='{n: "3/10", source: "Smith J 2025;1:1. PMID:2"}', lms='{n: "9/10", source: "Smith J 2025;1:1. PMID:2"}')
    runner = CliRunner()
    for args in (["check", "--no-engine"], ["list"], ["show", "ihc.calponin"]):
        by_argument = runner.invoke(main, ["rules", *args, str(copy)])
        by_option = runner.invoke(main, ["rules", *args, "--rules", str(copy)])
        assert by_argument.exit_code == by_option.exit_code == 0, (args, by_argument.output, by_option.output)
        assert by_argument.output == by_option.output and "myrules" in by_option.output
    both = runner.invoke(main, ["rules", "check", str(copy), "--rules", str(packaged_rules_dir())])
    assert both.exit_code == 2 and "two rules folders" in both.output


def test_a_rule_not_found_names_the_folder_searched():
    result = CliRunner().invoke(main, ["rules", "show", "ihc.calponin"])
    assert result.exit_code == 1 and f"no rule 'ihc.calponin' in {packaged_rules_dir()}" in result.output


def test_a_misspelt_key_is_offered_the_key_at_its_own_line(copy):
    target = copy / "rules" / "immunohistochemistry.yaml"
    before = target.read_text(encoding="utf-8")
    add_rule(copy, ilms='{n: "3/10", source: "Smith J 2025;1:1. PMID:2"}', lms='{n: "9/10", source: "Smith J 2025;1:1. PMID:2"}')
    text = target.read_text(encoding="utf-8")
    start = len(before.splitlines())
    target.write_text(before + text[len(before) :].replace("    likelihood:", "    likelihod:"), encoding="utf-8")
    (problem,) = [m.problem for m in check_rules(copy, engine=False).messages if m.severity == "error"]
    assert "likelihood" in problem.suggestions
    assert problem.line == start + 1 + CALPONIN.splitlines().index("    likelihood:")  # the key's line, not its value's


def test_a_default_inside_the_likelihood_says_where_it_belongs(copy):
    add_rule(copy, ilms='{n: "3/10", source: "Smith J 2025;1:1. PMID:2"}', lms='{n: "9/10", source: "Smith J 2025;1:1. PMID:2"}')
    target = copy / "rules" / "immunohistochemistry.yaml"
    text = target.read_text(encoding="utf-8")
    moved = text.replace('    default: {p: ~0.5, reason: "estimate: held neutral"}\n', "").replace(
        '      lms: {n: "9/10"', '      default: {p: ~0.5, reason: "estimate: held neutral"}\n      lms: {n: "9/10"'
    )
    target.write_text(moved, encoding="utf-8")
    said = [m.problem.message for m in check_rules(copy, engine=False).messages if "unknown entity 'default'" in m.problem.message]
    assert said and "beside 'likelihood:'" in said[0]


def test_the_list_of_an_entitys_rules_shows_the_probability_used_beside_the_figure():
    """'0.00 (0/6)' read as 'never'; the ranking uses the shrunk figure, which the list now shows beside it."""
    import json

    out = json.loads(CliRunner().invoke(main, ["rules", "list", "--entity", "imt", "--format", "json"]).output)
    zero = [row for row in out["items"] if row["p"] and row["p"].startswith("0.00 (0/")]
    assert zero and all(0 < row["p_used"] < 0.2 for row in zero)
    table = CliRunner().invoke(main, ["rules", "list", "--entity", "imt"]).output
    assert "(0/6) → 0.0" in table.replace("\n", "")


def test_a_misspelt_key_is_offered_only_keys_of_the_part_it_is_in(copy):
    add_rule(copy, ilms='{n: "3/10", source: "Smith J 2025;1:1. PMID:2"}', lms='{n: "9/10", source: "Smith J 2025;1:1. PMID:2"}')
    target = copy / "rules" / "immunohistochemistry.yaml"
    text = target.read_text(encoding="utf-8")
    target.write_text(
        text.replace('    rationale: "a trial rule"', '    rationale: "a trial rule"\n    nam: x\n    sourse: y'), encoding="utf-8"
    )
    said = {m.problem.path: m.problem.suggestions for m in check_rules(copy, engine=False).messages if m.severity == "error"}
    assert said == {"nam": [], "sourse": ["source"]}  # a rule has no 'name' (an entity has)


def test_a_misspelt_key_in_a_block_of_terms_is_offered_the_blocks_keys(copy):
    target = copy / "vocabulary.yaml"
    text = target.read_text(encoding="utf-8")
    assert "{term: fever}" in text
    target.write_text(text.replace("{term: fever}", "{term: fever, lable: Fever}", 1), encoding="utf-8")
    said = [m.problem for m in check_rules(copy, engine=False).messages if m.severity == "error"]
    assert said and said[0].suggestions == ["label"]
