from __future__ import annotations

import errno
import io
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from click.testing import CliRunner

from ddx.cli import main
from tests.conftest import CASES, SEED, squeezed


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_eval_text_ranks_ilms_first_for_the_seed_case():
    result = run("eval", str(SEED))
    assert result.exit_code == 0, result.output
    table = result.output.split("also considered")[0]
    assert table.index("ilms") < table.index("imt") if "imt" in table else "ilms" in table
    assert "Next tests" in result.output and "Decision support only" in result.output


def test_eval_json_matches_the_contract():
    result = run("eval", "--format", "json", str(SEED))
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["id"] == "seed-board-q1-thigh-35m" and data["expected"] == "ilms" and data["errors"] == []
    ranking = data["ranking"]
    assert ranking[0]["entity"] == "ilms"
    assert abs(sum(r["probability"] for r in ranking) - 1) < 1e-4
    for r in ranking:
        assert {"entity", "probability", "score", "evidence"} <= set(r)
        for e in r["evidence"]:
            assert {"rule", "weight", "source", "estimate"} <= set(e)
    assert len(data["suggested_tests"]) == 3
    assert all({"test", "why"} <= set(s) for s in data["suggested_tests"])


def test_eval_json_several_cases_is_a_list():
    files = sorted(str(p) for p in CASES.rglob("*.yaml"))[:3]
    data = json.loads(run("eval", "--format", "json", *files).output)
    assert isinstance(data, list) and len(data) == 3


def test_eval_output_file_holds_json_and_text_and_the_invalid_case_too(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad1\nstains: {desmni: positive}\n")
    target = tmp_path / "out.json"
    result = CliRunner().invoke(main, ["eval", "--format", "json", "-o", str(target), str(SEED), str(bad)])
    assert result.exit_code == 1 and result.stdout == ""
    assert [d["id"] for d in json.loads(target.read_text())] == ["seed-board-q1-thigh-35m", "bad1"]
    assert "2 cases written to" in result.stderr and "desmni" in result.stderr  # the error is told, not only filed
    text = tmp_path / "out.txt"
    assert CliRunner().invoke(main, ["eval", "-o", str(text), str(SEED)], env={"COLUMNS": "200"}).exit_code == 0
    lines = text.read_text(encoding="utf-8").splitlines()
    assert "seed-board-q1-thigh-35m" in lines[0] and max(len(line) for line in lines) == 100  # not the terminal's width
    assert "\x1b[" not in text.read_text(encoding="utf-8")  # plain text, no colour codes


def test_eval_output_never_replaces_an_input_and_a_failed_run_keeps_the_previous_file(tmp_path: Path):
    case = tmp_path / "case.yaml"
    case.write_text(SEED.read_text())
    result = CliRunner().invoke(main, ["eval", "-o", str(case), str(case)])
    assert result.exit_code == 2 and "one of the inputs" in result.output and case.read_text() == SEED.read_text()
    target = tmp_path / "out.md"
    target.write_text("previous\n")
    result = CliRunner().invoke(main, ["eval", "--format", "markdown", "-o", str(target), "--rules", str(tmp_path), str(SEED)])
    assert result.exit_code == 1 and target.read_text() == "previous\n"  # rules that do not load: nothing replaced


@pytest.mark.parametrize("stop", ["interrupt", "terminate"])
def test_an_eval_stopped_after_one_case_keeps_the_previous_output_and_leaves_no_temporary_file(tmp_path: Path, stop):
    """Ctrl-C or a kill (SIGTERM) between cases: the file written so far is thrown away, the previous one stays."""
    import signal

    src = tmp_path / "cases"
    src.mkdir()
    for name in ("a", "b"):
        (src / f"{name}.yaml").write_text(SEED.read_text().replace("id: seed-board-q1-thigh-35m", f"id: {name}"))
    target = tmp_path / "out.md"
    target.write_text("previous\n")
    script = (
        "import os, signal, sys\n"
        "import ddx.analysis as analysis\n"
        "real = analysis.Analyzer.analyze\n"
        "calls = []\n"
        "def analyze(self, *a, **k):\n"
        "    calls.append(1)\n"
        f"    if len(calls) == 2: {'raise KeyboardInterrupt' if stop == 'interrupt' else 'os.kill(os.getpid(), signal.SIGTERM)'}\n"
        "    return real(self, *a, **k)\n"
        "analysis.Analyzer.analyze = analyze\n"
        "from ddx.cli import main\n"
        f"sys.argv = ['ddx', 'eval', '--format', 'markdown', '-o', {str(target)!r}, {str(src)!r}]\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == (130 if stop == "interrupt" else 128 + signal.SIGTERM), done.stderr
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases", "out.md"]  # no .out.md.*.tmp left beside it


def test_misspelt_stain_exits_1_names_it_and_keeps_valid_cases(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad1\nstains: {desmni: positive}\n")
    result = CliRunner().invoke(main, ["eval", "--format", "json", str(SEED), str(bad)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    data = json.loads(result.stdout)
    assert [d["id"] for d in data] == ["seed-board-q1-thigh-35m", "bad1"]
    assert data[0]["ranking"] and not data[1]["ranking"]
    assert "desmni" in data[1]["errors"][0]["message"] and "desmin" in data[1]["errors"][0]["suggestions"]


def test_text_and_markdown_errors_are_readable(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad1\nstains: {desmni: positive}\n")
    for fmt in ("text", "markdown"):
        result = CliRunner().invoke(main, ["eval", "--format", fmt, str(bad)])
        assert result.exit_code == 1 and squeezed("did you mean 'desmin'") in squeezed(result.output)


def test_missing_file_is_exit_1_not_a_traceback(tmp_path: Path):
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "nope.yaml")])
    # squeezed: the panel wraps the message where the temporary path's length puts its edge ("no │ │ such file")
    assert result.exit_code == 1 and squeezed("no such file") in squeezed(result.output) and "Traceback" not in result.output


def test_text_output_redirected_still_names_a_missing_file_on_stderr(tmp_path: Path):
    """`ddx eval good.yaml nope.yaml > out.txt`: the not-ranked panel goes to the file, so stderr must say it too
    (the CliRunner's stdout is not a terminal, as a redirected one is)."""
    result = CliRunner().invoke(main, ["eval", str(SEED), str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml: no such file" in result.stderr and "seed-board-q1-thigh-35m" not in result.stderr
    assert "seed-board-q1-thigh-35m" in result.stdout
    # FORCE_COLOR makes rich take any stream for a terminal; the stream itself is not one
    forced = CliRunner().invoke(main, ["eval", str(tmp_path / "nope.yaml")], env={"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"})
    assert "nope.yaml: no such file" in forced.stderr


def test_usage_errors_exit_2():
    assert CliRunner().invoke(main, ["eval"]).exit_code == 2
    assert CliRunner().invoke(main, ["eval", "--format", "xml", str(SEED)]).exit_code == 2


def test_bad_rules_dir_exits_1(tmp_path: Path):
    result = CliRunner().invoke(main, ["eval", "--rules", str(tmp_path), str(SEED)])
    assert result.exit_code == 1 and squeezed("not a ddx rules directory") in squeezed(result.output)


def test_markdown_output():
    result = run("eval", "--format", "markdown", str(SEED))
    assert result.exit_code == 0 and "| 1 | ilms" in result.output and "**Next tests**" in result.output


def test_version_names_package_and_rules():
    result = run("--version")
    assert result.exit_code == 0 and result.output.startswith("ddx ") and "rules 20" in result.output


def test_installed_command_works_from_an_empty_folder(tmp_path: Path):
    """The console script, run outside the checkout, finds its packaged rules."""
    exe = Path(sysconfig.get_path("scripts")) / "ddx"
    if not exe.exists():
        exe = Path(sys.executable).parent / "ddx"
    env = {k: v for k, v in os.environ.items() if k not in ("DDX_RULES", "PYTHONPATH")}
    proc = subprocess.run(
        [str(exe), "eval", "--format", "json", str(SEED)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ranking"][0]["entity"] == "ilms"


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "report"])
def test_every_eval_output_names_the_rules_directory_version_and_hash(rules_copy, fmt):
    from ddx.knowledge import load_knowledge

    k = load_knowledge(rules_copy)
    result = run("eval", "--rules", str(rules_copy), "--format", fmt, str(SEED))
    assert result.exit_code == 0
    for part in (str(rules_copy), k.settings.version, k.content_hash[:12]):
        assert squeezed(part) in squeezed(result.output), (fmt, part)


def test_batch_summary_names_the_rules_directory(rules_copy, tmp_path):
    summary = tmp_path / "s.json"
    result = run("batch", "--rules", str(rules_copy), "--quiet", "--summary", str(summary), str(SEED))
    assert result.exit_code == 0
    data = json.loads(summary.read_text())
    assert data["rules_dir"] == str(rules_copy) and data["rules_hash"] and data["rules_version"]
    table = CliRunner().invoke(main, ["batch", "--rules", str(rules_copy), "--quiet", str(SEED)], env={"COLUMNS": "300"}).output
    assert f", {rules_copy})" in table  # a folder of one's own is named
    packaged = CliRunner().invoke(main, ["batch", "--quiet", str(SEED)], env={"COLUMNS": "300"}).output
    assert "(" in packaged and ", packaged)" in packaged and "site-packages" not in packaged and "/ddx/" not in packaged


def test_a_hand_written_case_gets_a_fix_for_each_thing_people_type(tmp_path: Path):
    """The issue's case, as a new user writes it: each error says what to write instead (JSON and text)."""
    case = tmp_path / "hand.yaml"
    case.write_text(
        "id: hand\nage: 40\nsite: thigh\nmitoses: 25\n"
        "patient: {sex: male}\nclinical: {size_cm: -2}\n"
        "morphology: {necrosis: yes}\n"
        "stains:\n  ki67: 40%\n  myod1: strong\n  desmin: {result: negative, extent: diffuse}\n"
        "  alk: {result: positive, pattern: nuclear}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["eval", "--format", "json", str(case)])
    assert result.exit_code == 1
    errors = {e["path"]: e for e in json.loads(result.stdout)["errors"]}
    assert errors["age"]["suggestions"] == ["patient.age"] and errors["site"]["suggestions"] == ["clinical.site"]
    assert errors["mitoses"]["suggestions"][0] == "morphology.mitoses_per_10hpf"
    assert "write 'present'" in errors["morphology.necrosis"]["message"]
    # '40%' and 'strong' have one reading each ({result: positive, percent: 40}, {result: positive, intensity:
    # strong}): read as it, not refused
    assert "stains.ki67" not in errors and "stains.myod1" not in errors
    assert "stains.desmin" not in errors  # as the contract's own example writes it: accepted
    assert "must be more than 0 (got -2)" in errors["clinical.size_cm"]["message"]
    assert errors["stains.alk.pattern"]["suggestions"][0] == "nuclear_membrane"
    text = CliRunner().invoke(main, ["eval", str(case)], env={"COLUMNS": "200"}).output
    assert "Input should" not in text and "did you mean 'title'" not in text and "'patient.age'" in text


def test_the_nearest_terms_are_worded_alike_wherever_they_are_offered():
    """One helper words every "did you mean": a case's term, a prior set, a rule id, a refusal on the TUI's form."""
    from ddx.errors import Problem, did_you_mean
    from ddx.tui.messages import problem_text

    assert did_you_mean(["desmin", "h_caldesmon"]) == "did you mean 'desmin' or 'h_caldesmon'?"
    assert did_you_mean(["desmin"], quoted=False) == "did you mean desmin?" and did_you_mean([]) == ""
    assert str(Problem("unknown stain 'desmni'", suggestions=["desmin"])) == "unknown stain 'desmni'; did you mean 'desmin'?"
    assert (
        problem_text(Problem("unknown stain 'desmni'", suggestions=["desmin", "h_caldesmon"]))
        == "unknown stain 'desmni'; did you mean desmin or h_caldesmon?"
    )
    prior = CliRunner().invoke(main, ["eval", "--prior-set", "populatio", str(SEED)])
    assert prior.exit_code == 2 and squeezed("(did you mean 'population'?)") in squeezed(prior.output)
    rule = CliRunner().invoke(main, ["rules", "show", "clin.age.under-19"])
    assert rule.exit_code == 1 and squeezed("; did you mean 'clin.age.under-18'") in squeezed(rule.output)
    assert "no rule 'clin.age.under-19' in " in rule.output  # the folder searched is named


def test_a_folder_without_case_files_is_an_error_row_for_eval_and_batch_alike(tmp_path):
    """One input policy (ddx.loader.read_cases): an empty folder is named as an error, exit 1, and the cases
    given beside it are still ranked."""
    empty = tmp_path / "empty"
    empty.mkdir()
    good = tmp_path / "good.yaml"
    good.write_text("id: good\npatient: {age: 40}\nstains: {desmin: positive}\n", encoding="utf-8")
    evaluated = CliRunner().invoke(main, ["eval", str(empty), str(good)])
    text = " ".join(evaluated.output.replace("│", " ").split())
    assert evaluated.exit_code == 1 and "folder holds no case files" in text and "good" in text
    batched = CliRunner().invoke(main, ["batch", str(empty), str(good), "--format", "jsonl", "-q"])
    rows = [json.loads(line) for line in batched.output.splitlines() if line.startswith("{")]
    assert batched.exit_code == 1
    assert any("folder holds no case files" in json.dumps(r.get("errors")) for r in rows)
    assert any(r.get("id") == "good" and r.get("ranking") for r in rows)


# outputs far larger than a pipe's buffer (64 KB), so ddx is still writing when the reader leaves
@pytest.mark.parametrize(
    "args",
    [["eval", str(CASES)], ["eval", str(CASES), "--format", "json"], ["batch", str(CASES), "--format", "jsonl", "--evidence", "all"]],
)
def test_a_reader_that_leaves_early_stops_ddx_quietly_with_the_sigpipe_status(args):
    """`ddx ... | head`: no traceback, nothing on stderr, and 141 (128 + SIGPIPE) as any tool stopped by a
    closed pipe, not 1, which says a case or file was invalid (rich's own handling exits 1)."""
    proc = subprocess.Popen([sys.executable, "-m", "ddx", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(200)  # the first lines arrive, then the reader leaves
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert err == b""


class _Failing(io.RawIOBase):
    """A binary stream whose every write fails with ``error`` (a pipe whose reader left, a full disk)."""

    def __init__(self, error: OSError):
        self.error = error

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        raise self.error


@pytest.mark.parametrize(
    ("error", "raised"),
    [(BrokenPipeError(errno.EPIPE, "Broken pipe"), BrokenPipeError), (OSError(errno.ENOSPC, "No space left"), OSError)],
)
def test_an_xlsx_that_cannot_be_written_raises_the_os_error_not_xlsxwriters(error, raised):
    """Regression: xlsxwriter wraps the write's OSError in its FileCreateError, which came out of `ddx batch
    --format xlsx | head -c 10` as a traceback and exit 1. The writer gives back the OSError, which the CLI turns
    into exit 141 (a reader that left) or "cannot read or write a file" (tests above)."""
    from xlsxwriter.exceptions import FileCreateError

    from ddx.cli.writers import XlsxWriter

    writer = XlsxWriter(_Failing(error), top=3)
    with pytest.raises(raised) as caught:
        writer.end(None)
    assert not isinstance(caught.value, FileCreateError) and caught.value.errno == error.errno


def test_a_checkouts_edited_rules_folder_is_named_when_the_packaged_rules_rank(tmp_path, knowledge):
    """After `pip install .`, ./rules is a copy the ranking does not read: a user who edited it is told
    (stderr) to pass --rules; nothing is said while it matches the packaged rules, nor for the same folder."""
    import shutil

    from ddx.cli.main import edited_rules_note

    packaged = knowledge.directory
    local = tmp_path / "rules"
    shutil.copytree(packaged, local)
    assert edited_rules_note(packaged, knowledge.files, local) is None
    assert edited_rules_note(packaged, knowledge.files, packaged) is None
    assert edited_rules_note(packaged, knowledge.files, tmp_path / "nothing") is None
    target = local / "rules" / "immunohistochemistry.yaml"
    target.write_text(target.read_text(encoding="utf-8").replace('n: "10/12"', 'n: "0/12"', 1), encoding="utf-8")
    note = edited_rules_note(packaged, knowledge.files, local)
    assert note is not None and "--rules rules" in note and str(packaged) in note
    shutil.copy2(packaged / "rules" / "immunohistochemistry.yaml", target)
    (local / ".history").mkdir()
    (local / ".history" / "immunohistochemistry.yaml").write_text("rules: []\n", encoding="utf-8")
    assert edited_rules_note(packaged, knowledge.files, local) is None  # the rule editor's backups are not rules
    (local / "rules" / "mine.yaml").write_text("rules: []\n", encoding="utf-8")
    assert edited_rules_note(packaged, knowledge.files, local) is not None  # a file of one's own counts too


def test_an_estimates_grounds_are_its_reasoning_not_the_rules_citation(tmp_path):
    """Regression: markdown's sources and the JSON gave an ILMS estimate the rule's citation (an IMT series,
    Coffin 1995) as its source. Markdown now names the estimate's reasoning; JSON keeps the rule's citation
    in `source` and adds the estimate's `reason`."""
    case = tmp_path / "c.yaml"
    case.write_text(
        "id: c\npatient: {age: 45, sex: female}\nclinical: {site: thigh, depth: deep, size_cm: 8}\n"
        "morphology: {cell_types: [spindle], inflammation: [foamy_histiocytes, plasma_cells]}\n"
        "stains: {desmin: diffuse, sma: positive, myod1: focal, myogenin: negative, alk: negative}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    out = json.loads(runner.invoke(main, ["eval", str(case), "--format", "json"]).output)
    out = out[0] if isinstance(out, list) else out.get("cases", [out])[0] if "cases" in out else out
    leader = out["ranking"][0]
    assert leader["entity"] == "ilms"
    plasma = next(e for e in leader["evidence"] if e["rule"] == "infl.plasma-cells")
    assert plasma["estimate"] and plasma["reason"].startswith("estimate:") and "Coffin" in plasma["source"]
    assert all("reason" not in e for e in leader["evidence"] if not e["estimate"])
    markdown = runner.invoke(main, ["eval", str(case), "--format", "markdown"]).output
    sources = markdown.split("**Sources (leading candidate)**", 1)[1]
    assert "`infl.plasma-cells`: estimate:" in sources and "Coffin" not in sources.split("`infl.plasma-cells`", 1)[1].split("\n")[0]


def test_lines_shows_more_evidence_for_and_against_each_entity():
    """The text shows the three pieces for and two against that weigh most; --lines N shows N each (the
    leader's desmin and MyoD1, shared with its neighbours, weigh little and were never in sight)."""
    from tests.conftest import SEED

    def for_lines(output: str) -> int:
        block = output.split("│ 1 ", 1)[1].split("│ 2 ", 1)[0]
        return sum(1 for line in block.splitlines() if re.match(r"^│ +(for +)?[+-]\d\.\d\d ", line) and "against" not in line)

    default = run("eval", str(SEED), "--top", "2").output
    more = run("eval", str(SEED), "--top", "2", "--lines", "8").output
    assert for_lines(default) == 3 and for_lines(more) == 8
    assert "MyoD1 positive" in more.split("│ 2 ", 1)[0] and "MyoD1 positive" not in default.split("│ 2 ", 1)[0]
    markdown = run("eval", str(SEED), "--format", "markdown", "--lines", "6").output
    assert markdown.split("\n| 1 |", 1)[1].split("\n", 1)[0].count("<br>") >= 5
