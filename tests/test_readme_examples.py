"""The README's example outputs are what the installed ddx prints now (tools/readme_examples.py), and the
provenance line of text output names no path of the machine it ran on."""

from __future__ import annotations

import difflib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from ddx.cli import main
from ddx.knowledge import Knowledge, load_knowledge, packaged_rules_dir

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
REGENERATE = "run python tools/readme_examples.py --write"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_examples", REPO / "tools" / "readme_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered(tool: ModuleType) -> tuple[str, list, list[str]]:
    text = README.read_text(encoding="utf-8")
    found = tool.examples(text)
    return text, found, tool.render_all(found)


@pytest.mark.durable  # the examples were ranked by durable-rules, and say so
def test_every_readme_example_is_what_ddx_prints_now(rendered):
    _, found, blocks = rendered
    assert len(found) >= 3, "README.md has lost its '<!-- example:begin COMMAND -->' markers"
    stale = [(e, b) for e, b in zip(found, blocks, strict=True) if e.body != b]
    if stale:
        example, block = stale[0]
        diff = "".join(list(difflib.unified_diff(example.body.splitlines(True), block.splitlines(True), "README.md", "ddx now"))[:40])
        pytest.fail(f"README examples are stale: {[e.command for e, _ in stale]}; {REGENERATE}\n{diff}")


def test_every_ddx_output_in_the_readme_is_a_generated_example(rendered):
    """A block showing ddx's output (``$ ddx …`` or JSON) outside the markers would go stale unseen."""
    text, found, _ = rendered
    outside = text
    for example in reversed(found):
        outside = outside[: example.start] + outside[example.end :]
    assert re.findall(r"^\$ ddx.*$", outside, re.M) == []
    assert "```json" not in outside
    commands = [e.command for e in found]
    assert any("--format report" in c for c in commands) and any("--format json" in c for c in commands)


def test_the_examples_show_no_path_of_this_machine(rendered):
    _, _, blocks = rendered
    for block in blocks:
        assert str(REPO) not in block and str(packaged_rules_dir()) not in block
    text_blocks = [b for b in blocks if b.startswith("```text")]
    assert text_blocks and all(re.search(r"rules \S+ \([0-9a-f]{12}, packaged\)", b) for b in text_blocks)


def test_writing_replaces_the_examples_and_nothing_else(tool: ModuleType, rendered):
    text, found, blocks = rendered
    fake = [f"```text\n$ {e.command}\nplaceholder {i}\n```\n" for i, e in enumerate(found)]
    new = tool.updated(text, found, fake)
    again = tool.examples(new)
    assert [e.body for e in again] == fake and [e.command for e in again] == [e.command for e in found]
    assert tool.updated(new, again, blocks) == tool.updated(text, found, blocks)
    outside = new
    for example in reversed(again):
        outside = outside[: example.start] + outside[example.end :]
    stripped = text
    for example in reversed(found):
        stripped = stripped[: example.start] + stripped[example.end :]
    assert outside == stripped


def test_a_marker_that_is_not_a_ddx_command_is_refused(tool: ModuleType):
    (example,) = tool.examples("<!-- example:begin rm -rf / -->\n<!-- example:end -->")
    with pytest.raises(ValueError, match="must start with 'ddx'"):
        tool.render(example)


# ------------------------------------------------------------------ the provenance line


def test_the_packaged_rules_are_named_packaged_not_by_their_path(knowledge: Knowledge):
    assert knowledge.packaged and knowledge.location == "packaged"
    assert knowledge.version_line == f"rules {knowledge.settings.version} ({knowledge.content_hash[:12]}, packaged)"
    by_path = load_knowledge(str(packaged_rules_dir()))  # --rules naming the packaged directory
    assert by_path.packaged and str(packaged_rules_dir()) not in by_path.version_line


def test_other_rules_are_named_by_their_directory(rules_copy: Path):
    k = load_knowledge(rules_copy)
    assert not k.packaged and k.location == str(rules_copy) and f", {rules_copy})" in k.version_line
    assert f", {rules_copy}, prior set population)" in k.with_prior_set("population").version_line


def test_the_report_header_names_no_install_path():
    result = CliRunner().invoke(main, ["eval", "--format", "report", str(REPO / "cases" / "seed-board-q1-thigh-35m.yaml")])
    assert result.exit_code == 0, result.output
    header = result.output.split("\n\n", 1)[0]
    assert "packaged)" in header and str(packaged_rules_dir()) not in result.output


def test_version_still_says_where_the_packaged_rules_are():
    """'ddx rules diff PACKAGED_DIR myrules' needs the path; 'ddx --version' gives it."""
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and f"packaged rules in {packaged_rules_dir()}" in result.output


def test_the_tui_worked_example_quotes_the_figures_ddx_shows_now():
    """The README's worked example (seed case, then ALK positive cytoplasmic) is prose, not a generated block:
    its leader's percentage and the IMT figures it quotes are checked against the ranking here."""
    import yaml

    from ddx.analysis import Analyzer
    from tests.conftest import SEED, validate

    text = " ".join(README.read_text(encoding="utf-8").split())
    said = re.search(
        r"On the seed case ILMS leads at (\d+) %\. Typing `alk positive cytoplasmic` raises IMT \(ALK positive, (\d+/\d+) of IMT", text
    )
    site = re.search(r"deep extremity site \((\d+/\d+) pooled\) and MyoD1 with desmin \(~(\d+) % of desmin-positive IMT\)", text)
    assert said and site, "the worked example's wording changed: update this test with it"
    knowledge = load_knowledge()
    raw = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    with Analyzer(knowledge) as analyzer:
        seed = analyzer.analyze(validate(knowledge, raw))
        raw["stains"]["alk"] = {"result": "positive", "pattern": "cytoplasmic"}
        with_alk = analyzer.analyze(validate(knowledge, raw))
    assert seed.ranking[0].entity == "ilms" and f"{seed.ranking[0].probability * 100:.0f}" == said[1]
    assert with_alk.ranking[0].entity == "ilms"  # "but keeps ILMS first"
    imt = next(r for r in with_alk.ranking if r.entity == "imt")
    figures = {e.rule: e for e in imt.evidence}
    alk, extremity, myod1 = figures["ihc.alk"], figures["clin.site.extremity"], figures["ihc.myod1.with-desmin"]
    assert f"{alk.likelihood.k}/{alk.likelihood.total}" == said[2]
    assert f"{extremity.likelihood.k}/{extremity.likelihood.total}" == site[1] and extremity.weight < 0
    assert myod1.likelihood.estimate and f"{myod1.likelihood.p * 100:.0f}" == site[2] and myod1.weight < 0
