"""Which engine ranks: durable-rules where it imports, ddx's own matcher elsewhere (Python 3.13+), the
choice named in every output and open to ``--engine`` / ``$DDX_ENGINE`` (issue 18).

These run on every interpreter; the ones that need durable-rules are marked ``durable``."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

import ddx.engine as engine_module
from ddx.analysis import Analyzer
from ddx.cli import main
from ddx.engine import ENGINE_ENV, ENGINES, check_engine, default_engine, engine_label, make_matcher
from ddx.errors import EngineError
from tests.conftest import CASES, SEED, squeezed

MISSING = "durable-rules is not installed for Python 3.99 (it installs and imports on 3.11 and 3.12 only)"


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


@pytest.fixture()
def no_durable(monkeypatch):
    """This interpreter as Python 3.13 sees it: durable-rules does not import."""
    monkeypatch.setattr(engine_module, "durable_problem", lambda: MISSING)
    monkeypatch.delenv(ENGINE_ENV, raising=False)


def test_without_durable_the_python_matcher_ranks_and_says_so(no_durable, knowledge):
    assert default_engine() == "python"
    with Analyzer(knowledge) as analyzer:
        analysis = analyzer.analyze(knowledge.case_schema.validate({"id": "x", "stains": {"desmin": "positive"}}))
    assert analyzer.engine == analysis.engine == "python" and analysis.ranking
    version = run("--version").output
    assert "engine ddx's built-in matcher (python)" in version and "durable-rules is not installed" in version


def test_asking_for_durable_where_it_cannot_import_is_a_usage_error_naming_the_way_out(no_durable):
    with pytest.raises(EngineError, match="--engine python"):
        check_engine("durable")
    with pytest.raises(EngineError, match="not installed"):
        make_matcher([], "durable")
    result = CliRunner().invoke(main, ["eval", "--engine", "durable", str(SEED)])
    assert result.exit_code == 2
    assert "not installed for Python" in result.output and "--engine python" in result.output
    assert "Traceback" not in result.output


def test_the_environment_chooses_and_a_bad_name_lists_the_engines(monkeypatch):
    monkeypatch.setenv(ENGINE_ENV, "Python")  # as a user may spell it
    assert default_engine() == "python"
    assert run("eval", "--format", "json", "--engine", "PYTHON", str(SEED)).exit_code == 0
    monkeypatch.setenv(ENGINE_ENV, "drools")
    with pytest.raises(EngineError, match="unknown engine 'drools'.*durable, python"):
        default_engine()
    result = CliRunner().invoke(main, ["eval", str(SEED)], env={ENGINE_ENV: "drools"})
    assert result.exit_code == 2 and "$DDX_ENGINE" in result.output and "durable, python" in result.output
    assert "'--engine'" not in result.output  # the user gave no --engine: the message names the variable


@pytest.mark.parametrize("engine", ENGINES)
def test_every_output_names_the_engine_that_ranked(engine):
    if engine == "durable" and engine_module.durable_problem() is not None:
        pytest.skip(engine_module.durable_problem() or "")
    label = engine_label(engine)
    data = json.loads(run("eval", "--format", "json", "--engine", engine, str(SEED)).output)
    assert data["engine"] == engine and data["ranking"][0]["entity"] == "ilms"
    for fmt in ("text", "markdown", "report"):
        out = run("eval", "--format", fmt, "--engine", engine, "--top", "3", str(SEED)).output
        assert squeezed(f"engine {label}") in squeezed(out), fmt  # the text panel may wrap the line
    batch = json.loads(run("batch", "--format", "json", "--engine", engine, "-q", str(SEED)).output)
    assert batch["summary"]["engine"] == engine and batch["cases"][0]["engine"] == engine
    for fmt in ("markdown", "table"):
        out = run("batch", "--format", fmt, "--engine", engine, "-q", str(SEED)).output
        assert squeezed(f"engine {label}") in squeezed(out), fmt


def test_a_case_no_engine_ranked_claims_no_engine(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad1\nstains: {desmni: positive}\n")
    data = json.loads(CliRunner().invoke(main, ["eval", "--format", "json", str(bad)]).stdout)
    assert data["engine"] is None and data["errors"]


@pytest.mark.durable
def test_both_engines_give_the_same_json_for_every_sample_case():
    """The promise of issue 18's "done when", in one interpreter: only the engine key differs."""
    files = sorted(str(p) for p in CASES.rglob("*.yaml"))
    by_engine = {}
    for engine in ENGINES:
        result = run("eval", "--format", "json", "--engine", engine, *files)
        assert result.exit_code == 0, result.output[-2000:]
        data = json.loads(result.output)
        assert {d["engine"] for d in data} == {engine}
        by_engine[engine] = [{k: v for k, v in d.items() if k != "engine"} for d in data]
    assert len(by_engine["durable"]) == len(files) >= 40
    assert by_engine["durable"] == by_engine["python"]


def test_the_tui_status_line_names_the_engine(knowledge):
    import asyncio

    from ddx.tui.app import DdxApp

    async def status() -> str:
        app = DdxApp(knowledge, offer_drafts=False, engine="python", prebuild_tabs=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            return str(app.query_one("#version").render())

    assert "built-in matcher" in asyncio.run(status())


def test_this_interpreter_gets_the_engine_it_can_run():
    """3.11 and 3.12 rank with durable-rules (it is a dependency there); 3.13+ with the python matcher."""
    expected = "durable" if sys.version_info < (3, 13) else "python"
    result = run("--version", env={ENGINE_ENV: ""})
    assert f"engine {engine_label(expected)}" in result.output


def test_rules_test_names_the_engine_in_its_text_and_in_a_saved_run(tmp_path):
    saved = tmp_path / "run.json"
    result = run("rules", "test", "--engine", "python", "--cases", str(SEED), "--save", str(saved))
    assert result.exit_code == 0, result.output
    assert squeezed(f"engine {engine_label('python')}") in squeezed(result.output)
    assert json.loads(saved.read_text())["rules"]["engine"] == "python"
