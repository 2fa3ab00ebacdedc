"""ddx batch: inputs of every kind, error rows, exit codes, atomic output, job-count invariance."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import pytest
from click.testing import CliRunner

from ddx.batch import BatchOptions, BatchRow, BatchSummary, Processor, _Pool, run_batch
from ddx.cli import main
from ddx.errors import DdxError, EngineError
from ddx.knowledge import load_knowledge
from ddx.loader import RawCase, iter_raw, row_to_case, write_sheet
from ddx.render import to_json, to_json_line
from ddx.synthetic import synthetic_case
from tests.conftest import CASES, REPO, SEED

GOOD_MULTI = """\
cases:
  - id: multi-1
    expected: imt
    clinical: {site: lung}
    stains: {alk: {result: positive, pattern: cytoplasmic}, desmin: focal}
  - id: multi-2
    stains: {myod1: positive, desmin: diffuse}
"""
SHEET = (
    "id,expected,patient.age,clinical.site,stains.desmin,stains.alk,stains.alk.pattern,"
    "morphology.cell_types,molecular.alk_rearrangement\n"
    'sheet-1,imt,12,lung,focal,positive,cytoplasmic,"spindle; epithelioid",present\n'
    "sheet-2,ilms,40,thigh,diffuse,negative,,epithelioid,\n"
)


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def mixed_folder(root: Path) -> Path:
    """The issue's folder: good YAML, multi-case YAML, JSON, a sheet, a syntax error, an invalid value."""
    folder = root / "mixed"
    (folder / "sub").mkdir(parents=True)
    (folder / "good.yaml").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "multi.yaml").write_text(GOOD_MULTI, encoding="utf-8")
    (folder / "sub" / "one.json").write_text(
        json.dumps({"id": "json-1", "expected": "ilms", "stains": {"desmin": "diffuse", "myod1": "positive"}}), encoding="utf-8"
    )
    (folder / "sub" / "sheet.csv").write_text(SHEET, encoding="utf-8")
    (folder / "broken.yaml").write_text("id: broken\nstains: {desmin: [\n", encoding="utf-8")
    (folder / "invalid.yaml").write_text("id: invalid-1\nstains: {desmin: posittive}\n", encoding="utf-8")
    (folder / "notes.txt").write_text("not a case file; skipped in folders\n", encoding="utf-8")
    return folder


def jsonl(text: str) -> tuple[list[dict], dict | None]:
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    summary = rows.pop()["summary"] if rows and "summary" in rows[-1] else None
    return rows, summary


def test_mixed_folder_every_good_case_ranked_every_bad_one_an_error_row(tmp_path):
    folder = mixed_folder(tmp_path)
    out = tmp_path / "out.jsonl"
    result = run("batch", str(folder), "--format", "jsonl", "--output", str(out))
    assert result.exit_code == 1
    rows, summary = jsonl(out.read_text(encoding="utf-8"))
    by_id = {r["id"]: r for r in rows}
    ranked = {"seed-board-q1-thigh-35m", "multi-1", "multi-2", "json-1", "sheet-1", "sheet-2"}
    assert {i for i, r in by_id.items() if not r["errors"]} == ranked
    for case_id in ranked:
        ranking = by_id[case_id]["ranking"]
        assert len(ranking) >= 10 and abs(sum(r["probability"] for r in ranking) - 1) < 1e-4
    # the syntax error names the file and line; the invalid value names case, key and nearest term
    broken = by_id["broken.yaml"]["errors"][0]
    assert broken["file"].endswith("broken.yaml") and broken["line"] in (2, 3) and "YAML syntax" in broken["message"]
    invalid = by_id["invalid-1"]["errors"][0]
    assert invalid["path"] == "stains.desmin" and invalid["case"] == "invalid-1" and "positive" in invalid["suggestions"]
    assert by_id["invalid-1"]["ranking"] == [] and by_id["broken.yaml"]["ranking"] == []
    assert summary["cases"] == 8 and summary["ranked"] == 6 and summary["errors"] == 2
    assert summary["with_expected"] == 5
    # folder order: sorted paths, cases in file order
    assert [r["id"] for r in rows] == [
        "broken.yaml",
        "seed-board-q1-thigh-35m",
        "invalid-1",
        "multi-1",
        "multi-2",
        "json-1",
        "sheet-1",
        "sheet-2",
    ]
    assert "ddx: " in result.stderr and "posittive" in result.stderr


def test_a_saved_result_beside_its_case_is_one_error_and_takes_no_id(tmp_path):
    """`ddx eval --format json` saved into the cases folder: said to be a result, not eleven unknown keys, and
    its id is not taken from the case it was made from (which was refused as a duplicate before)."""
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "seed.yaml").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    saved = run("eval", str(folder / "seed.yaml"), "--format", "json")
    assert saved.exit_code == 0
    (folder / "a-result.json").write_text(saved.stdout, encoding="utf-8")  # sorted before the case
    out = tmp_path / "out.jsonl"
    result = run("batch", str(folder), "--format", "jsonl", "--output", str(out))
    assert result.exit_code == 1
    rows, summary = jsonl(out.read_text(encoding="utf-8"))
    result_row, case_row = rows
    assert case_row["file"].endswith("seed.yaml") and not case_row["errors"] and case_row["ranking"]
    [problem] = result_row["errors"]
    assert "is a ddx result" in problem["message"] and problem["file"].endswith("a-result.json")
    assert summary["ranked"] == 1 and summary["errors"] == 1


def test_every_format_writes_every_case(tmp_path):
    folder = mixed_folder(tmp_path)
    for fmt in ("table", "json", "csv", "markdown"):
        out = tmp_path / f"out.{fmt}"
        result = run("batch", str(folder), "--format", fmt, "--output", str(out), "--quiet")
        assert result.exit_code == 1, fmt
        text = out.read_text(encoding="utf-8")
        for case_id in ("multi-2", "sheet-1", "invalid-1", "json-1"):
            assert case_id in text, (fmt, case_id)
        assert result.stderr == "", fmt  # --quiet
    data = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert len(data["cases"]) == 8 and data["summary"]["errors"] == 2
    import csv

    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8
    invalid = next(r for r in rows if r["id"] == "invalid-1")
    assert invalid["status"] == "error" and invalid["error_keys"] == "stains.desmin"
    sheet1 = next(r for r in rows if r["id"] == "sheet-1")
    assert sheet1["status"] == "ok" and sheet1["leader_1"] == "imt" and sheet1["line"] == "2"
    assert sheet1["rank_of_expected"] == "1"
    md = (tmp_path / "out.markdown").read_text(encoding="utf-8")
    assert "## Summary" in md and "Confusion" in md and "Calibration" in md
    table = (tmp_path / "out.table").read_text(encoding="utf-8")
    assert "Per entity" in table and "error" in table


def test_exit_zero_when_every_case_ranks_and_two_for_usage_errors(tmp_path):
    assert run("batch", str(SEED), "--format", "csv", "-q").exit_code == 0
    assert run("batch", str(SEED), "--jobs", "0").exit_code == 2
    assert run("batch", str(SEED), "--format", "xml").exit_code == 2
    result = run("batch", str(SEED), "--output", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert result.exit_code == 2 and "does not exist" in result.output
    assert run("batch").exit_code == 2
    missing = run("batch", str(tmp_path / "missing.yaml"), "--format", "jsonl", "-q")
    assert missing.exit_code == 1 and "no such file" in missing.output.lower()


def test_sheet_rows_rank_like_the_same_case_written_as_yaml(tmp_path, knowledge):
    rng = random.Random(7)
    cases = [synthetic_case(knowledge.vocab, rng, f"syn-{i}") for i in range(60)]
    sheet = tmp_path / "cases.csv"
    write_sheet(cases, sheet)
    raws = list(iter_raw(sheet, knowledge.vocab))
    assert [r.line for r in raws] == list(range(2, 62))
    processor = Processor(knowledge, BatchOptions(suggest=False))
    try:
        for raw, case in zip(raws, cases):
            assert not raw.problems
            from_sheet = knowledge.case_schema.validate(raw.mapping())
            assert from_sheet == knowledge.case_schema.validate(case)
    finally:
        processor.close()


def test_sheet_details_semicolons_tsv_and_stain_parts(tmp_path, knowledge):
    semi = tmp_path / "excel.csv"
    semi.write_text(
        "id;stains.alk;stains.alk.pattern;morphology.inflammation\nx1;positive;nuclear membrane;foamy histiocytes, lymphocytes\n",
        encoding="utf-8-sig",
    )
    [raw] = list(iter_raw(semi, knowledge.vocab))
    assert raw.mapping() == {
        "id": "x1",
        "stains": {"alk": {"result": "positive", "pattern": "nuclear membrane"}},
        "morphology": {"inflammation": ["foamy histiocytes", "lymphocytes"]},
    }
    case = knowledge.case_schema.validate(raw.mapping())
    assert case.stains["alk"].pattern == "nuclear_membrane"
    tsv = tmp_path / "cases.tsv"
    tsv.write_text("id\tstains.desmin\tnotes\nt1\tdiffuse\tfree text, with a comma\n\n", encoding="utf-8")
    [raw] = list(iter_raw(tsv, knowledge.vocab))
    assert raw.mapping() == {"id": "t1", "stains": {"desmin": "diffuse"}, "notes": "free text, with a comma"}
    assert row_to_case(["id", "stains.alk.pattern", "stains.alk"], ["a", "cytoplasmic", "positive"], set()) == {
        "id": "a",
        "stains": {"alk": {"pattern": "cytoplasmic", "result": "positive"}},
    }


def test_sheet_problems_are_located(tmp_path, knowledge):
    no_id = tmp_path / "no-id.csv"
    no_id.write_text("case,stains.desmin\na,positive\n", encoding="utf-8")
    [raw] = list(iter_raw(no_id, knowledge.vocab))
    assert "no 'id' column" in raw.problems[0].message and raw.problems[0].line == 1
    twice = tmp_path / "twice.csv"
    twice.write_text("id,stains.desmin,stains.desmin\na,positive,negative\n", encoding="utf-8")
    [raw] = list(iter_raw(twice, knowledge.vocab))
    assert "appears twice" in raw.problems[0].message
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,stains.desmin\na,positive,extra\nb,negative\n", encoding="utf-8")
    bad, good = list(iter_raw(ragged, knowledge.vocab))
    assert bad.line == 2 and "3 cells" in bad.problems[0].message
    assert good.mapping() == {"id": "b", "stains": {"desmin": "negative"}} and not good.problems
    typo = tmp_path / "typo.csv"
    typo.write_text("id,stains.desmni\na,positive\n", encoding="utf-8")
    [raw] = list(iter_raw(typo, knowledge.vocab))
    from ddx.loader import validate_raw

    loaded = validate_raw(raw, knowledge)
    assert loaded.problems[0].line == 2 and loaded.problems[0].path == "stains.desmni"
    assert "desmin" in loaded.problems[0].suggestions


def test_duplicate_ids_across_files_name_both_files(tmp_path):
    (tmp_path / "a.yaml").write_text("id: same\nstains: {desmin: positive}\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("id,stains.desmin\nother,negative\nsame,negative\n", encoding="utf-8")
    result = run("batch", str(tmp_path), "--format", "jsonl", "-q")
    assert result.exit_code == 1
    rows, _ = jsonl(result.output)
    assert [r["id"] for r in rows] == ["same", "other", "same"]
    assert rows[0]["errors"] == [] and rows[1]["errors"] == []
    message = rows[2]["errors"][0]["message"]
    assert "duplicate case id 'same'" in message and "a.yaml" in message and "b.csv:3" in message


def test_cases_of_a_yaml_list_carry_the_line_where_each_starts(tmp_path):
    """Regression: a duplicate id inside one file's `cases:` list said "already used in many.yaml", with no place;
    each case of the list now carries its first line, and each of its problems the line of its own key."""
    (tmp_path / "many.yaml").write_text(
        "cases:\n  - id: a\n    stains: {desmin: positive}\n  - id: b\n    stains: {desmni: positive}\n"
        "  - id: a\n    stains: {alk: positive}\n",
        encoding="utf-8",
    )
    result = run("batch", str(tmp_path / "many.yaml"), "--format", "jsonl", "-q")
    rows, _ = jsonl(result.output)
    assert [r["id"] for r in rows] == ["a", "b", "a"]
    assert rows[1]["errors"][0]["line"] == 5 and "many.yaml:5" in rows[1]["errors"][0]["message"]  # its misspelt stain's line
    duplicate = rows[2]["errors"][0]
    assert duplicate["line"] == 6 and "already used in" in duplicate["message"] and duplicate["message"].endswith("many.yaml:2")


def test_a_key_given_twice_refuses_its_case_only_with_its_other_problems(tmp_path):
    """Regression: one repeated key in one case of a `cases:` list refused the whole file ("Cases: 1, ranked:
    0"), and in a one-case file it hid the case's other problems. Now the case holding it is refused with
    the repeated key (both lines) and everything else wrong with it; the file's other cases are ranked. A
    key repeated outside every case (`cases:` twice) still refuses the file."""
    (tmp_path / "many.yaml").write_text(
        "cases:\n  - id: m1\n    stains: {desmin: positive}\n  - id: m2\n    stains:\n      desmin: positive\n"
        "      desmin: negative\n      smaa: positive\n  - id: m3\n    stains: {sma: positive}\n",
        encoding="utf-8",
    )
    rows, summary = jsonl(run("batch", str(tmp_path / "many.yaml"), "--format", "jsonl", "-q", "--no-suggest").output)
    assert [r["id"] for r in rows] == ["m1", "m2", "m3"] and summary["ranked"] == 2
    assert rows[0]["errors"] == [] and rows[2]["errors"] == []
    messages = [e["message"] for e in rows[1]["errors"]]
    assert any("key 'desmin' is given on line 6 and line 7" in m and "many.yaml:7" in m for m in messages), messages
    assert any("unknown stain 'smaa'" in m for m in messages), messages

    (tmp_path / "one.yaml").write_text("id: s1\nstains:\n  sma: positive\n  desmn: diffuse\n  sma: positve\n", encoding="utf-8")
    [row], _ = jsonl(run("batch", str(tmp_path / "one.yaml"), "--format", "jsonl", "-q", "--no-suggest").output)
    messages = " | ".join(e["message"] for e in row["errors"])
    assert "key 'sma' is given on line 3 and line 5" in messages and "'desmn'" in messages and "'positve'" in messages

    (tmp_path / "top.yaml").write_text("cases:\n  - id: t1\ncases:\n  - id: t2\n", encoding="utf-8")
    [row], summary = jsonl(run("batch", str(tmp_path / "top.yaml"), "--format", "jsonl", "-q", "--no-suggest").output)
    assert summary["ranked"] == 0 and "key 'cases' is given on line 1 and line 3" in row["errors"][0]["message"]

    # the case that holds the key is found by structure, not by line: a one-line list, a key after the list
    (tmp_path / "flow.yaml").write_text("cases: [{id: k1, stains: {sma: positive, sma: negative}}, {id: k2}]\n", encoding="utf-8")
    rows, _ = jsonl(run("batch", str(tmp_path / "flow.yaml"), "--format", "jsonl", "-q", "--no-suggest").output)
    assert [(r["id"], bool(r["errors"])) for r in rows] == [("k1", True), ("k2", False)]
    (tmp_path / "after.yaml").write_text("cases:\n  - id: a1\n  - id: a2\nextra: 1\nextra: 2\n", encoding="utf-8")
    [row], summary = jsonl(run("batch", str(tmp_path / "after.yaml"), "--format", "jsonl", "-q", "--no-suggest").output)
    assert summary["ranked"] == 0 and "key 'extra'" in row["errors"][0]["message"]


def test_output_inside_the_input_folder_is_not_read_back(tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "a.yaml").write_text("id: a\nstains: {desmin: positive}\n", encoding="utf-8")
    out = folder / "results.json"
    for _ in range(2):
        result = run("batch", str(folder), "--format", "json", "--output", str(out), "-q")
        assert result.exit_code == 0
    assert [c["id"] for c in json.loads(out.read_text(encoding="utf-8"))["cases"]] == ["a"]


def test_summary_file_takes_the_summary_out_of_the_jsonl(tmp_path):
    summary = tmp_path / "summary.json"
    result = run("batch", str(CASES), "--format", "jsonl", "--summary", str(summary), "-q", "--no-suggest")
    assert result.exit_code == 0
    rows, inline = jsonl(result.output)
    assert inline is None and len(rows) == len(list(CASES.rglob("*.yaml")))
    data = json.loads(summary.read_text(encoding="utf-8"))
    scored = len([r for r in rows if r["expected"]])  # the calibration probes carry no expected diagnosis
    assert scored == len(rows) - len(list((CASES / "probes").glob("*.yaml"))) > 0
    assert data["with_expected"] == scored
    assert 0 < data["top1"] <= data["top3"] <= 1 and 0 < data["mrr"] <= 1
    assert sum(sum(row.values()) for row in data["confusion"].values()) == scored
    assert sum(b["cases"] for b in data["calibration"]) == scored
    md = tmp_path / "summary.md"
    assert run("batch", str(CASES), "--format", "csv", "--summary", str(md), "-q").exit_code == 0
    assert md.read_text(encoding="utf-8").startswith("## Summary")


def test_results_are_identical_for_one_and_two_jobs(tmp_path, knowledge):
    rng = random.Random(11)
    write_sheet([synthetic_case(knowledge.vocab, rng, f"syn-{i}") for i in range(400)], tmp_path / "syn.csv")
    mixed = mixed_folder(tmp_path)
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.jsonl"
        result = run(
            "batch", str(CASES), str(tmp_path / "syn.csv"), str(mixed), "--format", "jsonl", "--jobs", jobs, "--output", str(out), "-q"
        )
        assert result.exit_code == 1
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"\n") == len(list(CASES.rglob("*.yaml"))) + 400 + 8 + 1


def test_jsonl_line_is_the_eval_json(analyzer, knowledge):
    rng = random.Random(3)
    cases = [knowledge.case_schema.validate(synthetic_case(knowledge.vocab, rng, f"s{i}")) for i in range(50)]
    cases += [knowledge.case_schema.validate(__import__("yaml").safe_load(SEED.read_text(encoding="utf-8")))]
    for case in cases:
        analysis = analyzer.analyze(case, file="x.yaml")
        for evidence_for in (None, 3, 0):
            expected = json.dumps(to_json(analysis, knowledge, evidence_for=evidence_for), ensure_ascii=False, separators=(",", ":"))
            assert to_json_line(analysis, knowledge, evidence_for=evidence_for) == expected
        top3 = to_json(analysis, knowledge, evidence_for=3)
        assert ["evidence" in r for r in top3["ranking"]] == [i < 3 for i in range(len(top3["ranking"]))]


def _endless(knowledge):
    i = 0
    while True:
        yield RawCase("endless", i, f"e{i}", {"id": f"e{i}", "stains": {"desmin": "positive"}})
        i += 1


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_stream_without_reading_all_input_first(knowledge, jobs):
    # an endless input: if the batch read ahead without bound, this would never return
    options = BatchOptions(suggest=False)
    if jobs == 1:
        processor = Processor(knowledge, options)
        got = [processor.process(r) for r in islice(_endless(knowledge), 100)]
        processor.close()
    else:
        results = _Pool(knowledge, options, jobs).run(_endless(knowledge))
        got = list(islice(results, 300))
        results.close()
    assert [r.id for r in got] == [f"e{i}" for i in range(len(got))]


def test_a_worker_that_dies_costs_one_error_row_not_the_batch(knowledge, monkeypatch):
    real = Processor.process

    def process(self, raw):
        if raw.label == "boom":
            os._exit(3)  # what a crash in the C engine looks like from the parent
        return real(self, raw)

    monkeypatch.setattr(Processor, "process", process)  # inherited by the forked workers
    raws = [RawCase("f", i, f"c{i}", {"id": f"c{i}", "stains": {"desmin": "positive"}}) for i in range(150)]
    raws[70] = RawCase("f", 70, "boom", {"id": "boom"})
    got = list(_Pool(knowledge, BatchOptions(suggest=False), 2).run(raws))
    assert [r.id for r in got] == [r.label for r in raws]
    assert [r.id for r in got if not r.ok] == ["boom"]
    assert "worker process died" in got[70].errors[0].message
    assert json.loads(got[70].json)["errors"][0]["case"] == "boom"  # jsonl still gets its error row


def _sheet_with_a_duplicate_across_chunks(tmp_path, knowledge, n=200):
    """A sheet whose row 150 (chunk 2) repeats the id of row 70 (chunk 1): with two jobs, two workers."""
    rng = random.Random(17)
    cases = [synthetic_case(knowledge.vocab, rng, f"d{i}") for i in range(n)]
    cases[150]["id"] = "d70"
    path = tmp_path / "dup.csv"
    write_sheet(cases, path)
    return path


def _rows(paths, knowledge, jobs):
    from dataclasses import asdict

    rows = [asdict(r) for r in run_batch([str(p) for p in paths], knowledge, BatchOptions(suggest=True, lean=True), jobs=jobs)]
    for row in rows:  # a gain is summed in an order that depends on which cases a process ranked before (last bits)
        row["next_test_gain"] = None if row["next_test_gain"] is None else round(row["next_test_gain"], 12)
    return rows


def test_workers_that_read_their_own_chunks_give_what_one_process_gives(tmp_path, knowledge, monkeypatch):
    import ddx.batch

    sheet = _sheet_with_a_duplicate_across_chunks(tmp_path, knowledge)
    mixed = mixed_folder(tmp_path)
    one = _rows([sheet, mixed], knowledge, 1)
    assert [e["message"] for e in one[150]["errors"]] == [f"duplicate case id 'd70': already used in {sheet}:72"]
    parent_reads = []  # read_cases called in this process (the workers' calls happen in theirs)
    real = ddx.batch.read_cases
    monkeypatch.setattr(ddx.batch, "read_cases", lambda *a, **k: parent_reads.append(a) or real(*a, **k))
    for jobs in (2, 3):
        assert _rows([sheet, mixed], knowledge, jobs) == one
    assert parent_reads == []


def test_a_worker_reading_its_own_chunks_that_dies_costs_one_error_row(tmp_path, knowledge, monkeypatch):
    sheet = _sheet_with_a_duplicate_across_chunks(tmp_path, knowledge)
    one = _rows([sheet], knowledge, 1)
    real = Processor.process

    def process(self, raw):
        if raw.label == "d100":  # chunk 1: the second worker's
            os._exit(3)  # what a crash in the C engine looks like from the parent
        return real(self, raw)

    monkeypatch.setattr(Processor, "process", process)  # inherited by the forked workers
    two = _rows([sheet], knowledge, 2)
    assert [r["id"] for r in two] == [r["id"] for r in one]
    assert [r["id"] for r in two if r["errors"]] == ["d100", "d70"]  # the crash, and the duplicate as before
    assert "worker process died" in two[100]["errors"][0]["message"]
    assert [r for i, r in enumerate(two) if i != 100] == [r for i, r in enumerate(one) if i != 100]


_CRASH_IN_CLI = """
import os, sys
from ddx.batch import Processor
real, crash = Processor.process, sys.argv[1]
def process(self, raw):
    if raw.label == crash:
        os._exit(3)  # a crash in the C engine
    return real(self, raw)
Processor.process = process
from ddx.cli.main import main
sys.argv = ["ddx", *sys.argv[2:]]
main()
"""


@pytest.mark.parametrize("crash", ["d0", "d100", "d299"])
def test_a_crash_under_ddx_batch_ends_the_run_with_one_error_row(tmp_path, knowledge, crash):
    # ddx batch turns SIGTERM into an exception; a pool worker that kept that handler could not be stopped
    # while it was blocked sending its results, and the run hung at exit (found by a review, 2026-12-04)
    sheet = _sheet_with_a_duplicate_across_chunks(tmp_path, knowledge, n=300)
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH_IN_CLI, crash, "batch", str(sheet), "--jobs", "2", "--format", "jsonl", "-o", str(out), "-q"],
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()][:-1]  # the last: the summary
    assert len(lines) == 300
    died = [line["id"] for line in lines if "worker process died" in json.dumps(line)]
    assert died == [crash]


@pytest.mark.parametrize("n, short", [(160, 159), (1000, 100)])  # the second: the other worker runs ahead and waits
def test_workers_that_read_different_inputs_stop_the_run(tmp_path, knowledge, monkeypatch, n, short):
    import ddx.batch

    sheet = _sheet_with_a_duplicate_across_chunks(tmp_path, knowledge, n=n)
    flag = tmp_path / "first"
    real = ddx.batch.read_cases

    def changing(*args, **kwargs):  # the first worker to read sees the file one row shorter
        try:
            os.close(os.open(flag, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return real(*args, **kwargs)
        return islice(real(*args, **kwargs), short)

    monkeypatch.setattr(ddx.batch, "read_cases", changing)
    with pytest.raises(DdxError, match="an input file changed while the batch read it"):
        list(run_batch([str(sheet)], knowledge, BatchOptions(suggest=False), jobs=2))


def test_a_worker_that_cannot_start_stops_the_run_with_its_reason(tmp_path, knowledge, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("no engine here")

    monkeypatch.setattr(Processor, "__init__", broken)  # inherited by the forked workers
    with pytest.raises(EngineError, match="could not start: RuntimeError: no engine here"):
        list(run_batch([str(SEED)], knowledge, BatchOptions(suggest=False), jobs=2))


@pytest.mark.slow
def test_workers_end_when_the_batch_process_is_killed(tmp_path, knowledge):
    rng = random.Random(3)
    write_sheet([synthetic_case(knowledge.vocab, rng, f"k{i}") for i in range(20_000)], tmp_path / "big.csv")
    proc = _ddx("batch", str(tmp_path / "big.csv"), "--jobs", "2", "--format", "jsonl", "-o", str(tmp_path / "out.jsonl"), "-q")
    deadline = time.monotonic() + 30
    children: list[int] = []
    while time.monotonic() < deadline and len(children) < 2:
        time.sleep(0.2)
        children = [int(c) for t in Path(f"/proc/{proc.pid}/task").iterdir() for c in (t / "children").read_text().split()]
    assert len(children) == 2
    proc.kill()
    proc.wait()

    def running(pid):
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] not in ("Z", "X")
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(running(c) for c in children):
        time.sleep(0.2)
    assert not any(running(c) for c in children)


def test_a_pool_that_breaks_between_two_chunks_sent_re_runs_the_rest(knowledge, monkeypatch):
    # a worker may die while the parent is still sending chunks: then submit() itself raises
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    real, calls = ProcessPoolExecutor.submit, []

    def submit(self, fn, *args):
        calls.append(args)
        if len(calls) == 4:  # the pool's start-up sends two empty chunks first; this is the second real one
            raise BrokenProcessPool("a child process terminated abruptly")
        return real(self, fn, *args)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", submit)
    raws = [RawCase("f", i, f"c{i}", {"id": f"c{i}", "stains": {"desmin": "positive"}}) for i in range(150)]
    got = list(_Pool(knowledge, BatchOptions(suggest=False), 2).run(raws))
    assert [r.id for r in got] == [r.label for r in raws] and all(r.ok for r in got)


def test_summary_counts_and_scores(knowledge):
    summary = BatchSummary(knowledge)
    from ddx.evaluate import ScoredCase

    summary.add(BatchRow("a", "f", scored=ScoredCase("a", "ilms", "ilms", 0.95, 1)))
    summary.add(BatchRow("b", "f", scored=ScoredCase("b", "imt", "ilms", 0.6, 2)))
    summary.add(BatchRow("c", "f", scored=ScoredCase("c", "prms", "srms", 0.4, 4)))
    summary.add(BatchRow("d", "f"))
    from ddx.errors import Problem

    summary.add(BatchRow("e", "f", errors=[Problem("bad")]))
    data = summary.to_dict()
    assert (data["cases"], data["ranked"], data["errors"], data["with_expected"]) == (5, 4, 1, 3)
    assert data["top1"] == round(1 / 3, 4) and data["top3"] == round(2 / 3, 4)
    assert data["mrr"] == round((1 + 1 / 2 + 1 / 4) / 3, 4)
    assert data["precision"]["ilms"] == {"led": 2, "right": 1, "precision": 0.5}
    assert data["recall"]["imt"]["recall"] == 0.0
    assert data["confusion"] == {"ilms": {"ilms": 1}, "imt": {"ilms": 1}, "prms": {"srms": 1}}


def _ddx(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "ddx", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow), pytest.param(signal.SIGKILL, marks=pytest.mark.slow)]
)
def test_an_interrupted_run_leaves_the_previous_output_intact(tmp_path, knowledge, sig):
    rng = random.Random(5)
    write_sheet([synthetic_case(knowledge.vocab, rng, f"syn-{i}") for i in range(20_000)], tmp_path / "big.csv")
    out = tmp_path / "out.jsonl"
    out.write_text("previous results\n", encoding="utf-8")
    proc = _ddx("batch", str(tmp_path / "big.csv"), "--format", "jsonl", "--output", str(out), "-q")
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".out.jsonl.") for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None, "the run never started writing"
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert out.read_text(encoding="utf-8") == "previous results\n"
    if sig != signal.SIGKILL:
        assert "Traceback" not in stderr, stderr
        assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_jsonl_lists_the_leaders_evidence_by_default_and_all_of_it_on_request():
    default = json.loads(run("batch", str(SEED), "--format", "jsonl", "-q").output.splitlines()[0])
    assert [("evidence" in r) for r in default["ranking"]] == [i < 3 for i in range(len(default["ranking"]))]
    assert default["detail"] == "lean"
    leaders = json.loads(run("batch", str(SEED), "--format", "jsonl", "-q", "--evidence", "full").output.splitlines()[0])
    assert [("evidence" in r) for r in leaders["ranking"]] == [i < 3 for i in range(len(leaders["ranking"]))]
    assert "detail" not in leaders and all("finding" in e for e in leaders["ranking"][0]["evidence"])
    full = json.loads(run("batch", str(SEED), "--format", "jsonl", "-q", "--evidence", "all").output.splitlines()[0])
    assert full == json.loads(run("eval", "--format", "json", str(SEED)).output)
    assert {**leaders, "ranking": None} == {**full, "ranking": None}
    none = json.loads(run("batch", str(SEED), "--format", "jsonl", "-q", "--evidence", "none", "--top", "5").output.splitlines()[0])
    assert not any("evidence" in r for r in none["ranking"])
    assert [r["entity"] for r in none["ranking"]] == [r["entity"] for r in full["ranking"]]


def test_sheet_hazards_each_cost_one_row_at_most(tmp_path, knowledge):
    from ddx.loader import validate_raw

    quote = tmp_path / "quote.csv"
    quote.write_text('id,stains.desmin,notes\nq1,positive,"mass 3 cm\nq2,negative,x\nq3,positive,y\n', encoding="utf-8")
    raws = list(iter_raw(quote, knowledge.vocab))
    assert [(r.label, r.line, bool(r.problems)) for r in raws] == [("q1", 2, True), ("q2", 3, False), ("q3", 4, False)]
    assert "never closed" in raws[0].problems[0].message  # never silent, and the rest is read
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        b"id,stains.desmin,notes\n"
        + b"".join(b"r%d,positive,ok\n" % i for i in range(3000))
        + b"bad,positive,caf\xe9\nlast,negative,ok\n"
    )
    raws = list(iter_raw(latin, knowledge.vocab))
    assert len(raws) == 3002 and [r.label for r in raws if r.problems] == ["bad"]
    bad = next(r for r in raws if r.problems)
    assert bad.line == 3002 and "UTF-8" in bad.problems[0].message
    assert validate_raw(raws[-1], knowledge).ok
    trailing = tmp_path / "excel.csv"
    trailing.write_text("id,stains.desmin\nt1,positive,,\n", encoding="utf-8")
    [raw] = list(iter_raw(trailing, knowledge.vocab))
    assert not raw.problems and raw.mapping() == {"id": "t1", "stains": {"desmin": "positive"}}
    header_only = tmp_path / "empty.csv"
    header_only.write_text("id,stains.desmin\n", encoding="utf-8")
    [raw] = list(iter_raw(header_only, knowledge.vocab))
    assert "no case rows" in raw.problems[0].message


def test_hidden_folders_are_skipped(tmp_path):
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "s.csv").write_text("id,stains.desmin\na,positive\n", encoding="utf-8")
    (tmp_path / ".ipynb_checkpoints" / "s-checkpoint.csv").write_text("id,stains.desmin\na,positive\n", encoding="utf-8")
    result = run("batch", str(tmp_path), "--format", "jsonl", "-q")
    assert result.exit_code == 0
    rows, _ = jsonl(result.output)
    assert [r["file"] for r in rows] == [str(tmp_path / "s.csv")]


# --- sheets and outputs (issue 17) --------------------------------------------------------------------


def test_each_kind_of_unreadable_row_costs_that_row_and_the_sheet_reads_on(tmp_path, knowledge, monkeypatch):
    import ddx.loader as loader

    monkeypatch.setattr(loader, "MAX_LINE_CHARS", 200)
    monkeypatch.setattr(loader, "MAX_ROW_LINES", 5)
    sheet = tmp_path / "kinds.csv"
    sheet.write_text(
        "id,stains.desmin,notes\n"
        'a1,positive,"two\nlines"\n'  # a quoted cell over two lines: one good row (lines 2-3)
        'a2,positive,"x"y\n'  # a stray quote: line 4
        "a3,negative," + "z" * 300 + "\n"  # a line over the limit: line 5
        'a4,positive,"opened\n'
        + "".join(f"r{i},negative,ok\n" for i in range(8))  # open, runs 5+ lines
        + "a5,positive,last\n",
        encoding="utf-8",
    )
    raws = list(iter_raw(sheet, knowledge.vocab))
    bad = {r.line: r for r in raws if r.problems}
    good = [(r.label, r.line) for r in raws if not r.problems]
    assert set(bad) == {4, 5, 6}, [(r.line, r.problems) for r in raws]
    assert "doubled" in bad[4].problems[0].message and bad[4].label == "a2"
    assert "longer than 200" in bad[5].problems[0].message
    assert "quote left open" in bad[6].problems[0].message and bad[6].label == "a4"
    assert good == [("a1", 2), *((f"r{i}", 7 + i) for i in range(8)), ("a5", 15)]
    assert raws[0].mapping()["notes"] == "two\nlines"
    quote = tmp_path / "end.csv"  # a quote left open that runs to the end of the sheet
    quote.write_text('id,stains.desmin,notes\nq1,positive,"mass\nq2,negative,x\nq3,positive,y\n', encoding="utf-8")
    raws = list(iter_raw(quote, knowledge.vocab))
    assert [(r.label, r.line, bool(r.problems)) for r in raws] == [("q1", 2, True), ("q2", 3, False), ("q3", 4, False)]
    assert "never closed" in raws[0].problems[0].message


def test_a_decimal_comma_is_read_in_number_columns_of_semicolon_sheets_only(tmp_path, knowledge):
    semi = tmp_path / "de.csv"
    semi.write_text(
        "id;patient.age;clinical.size_cm;stains.ki67;stains.ki67.percent;morphology.cell_types;notes\n"
        "d1;70,5;6,5;positive;12,5 %;spindle, epithelioid;3,5 cm, firm\n",
        encoding="utf-8",
    )
    [raw] = list(iter_raw(semi, knowledge.vocab))
    case = knowledge.case_schema.validate(raw.mapping())
    assert (case.patient.age, case.clinical.size_cm, case.stains["ki67"].percent) == (70.5, 6.5, 12.5)
    assert case.morphology.cell_types == ["spindle", "epithelioid"] and case.notes == "3,5 cm, firm"
    comma = tmp_path / "en.csv"  # a comma sheet: "70,5" is not a number there
    comma.write_text('id,patient.age\nd2,"70,5"\n', encoding="utf-8")
    [raw] = list(iter_raw(comma, knowledge.vocab))
    from ddx.loader import validate_raw

    loaded = validate_raw(raw, knowledge)
    assert not loaded.ok and "decimal point: 70.5" in str(loaded.problems[0])


def test_csv_lists_the_caveats_and_unused_findings_by_name(tmp_path, analyzer, knowledge):
    from tests.conftest import validate

    raw = {
        "id": "cav",
        "morphology": {"pleomorphism": "moderate"},
        "stains": {"desmin": "positive", "alk": {"result": "positive", "pattern": "nuclear_membrane"}},
    }
    (tmp_path / "cav.json").write_text(json.dumps(raw), encoding="utf-8")
    result = run("batch", str(tmp_path / "cav.json"), "--format", "csv", "-q")
    import csv as csvmod

    [row] = list(csvmod.DictReader(result.output.splitlines()))
    analysis = analyzer.analyze(validate(knowledge, raw))
    assert analysis.caveats and row["caveats"].split("; ") == [c.rule for c in analysis.caveats]
    assert row["unused_findings"].split("; ") == [f"{u.path}: {u.value}" for u in analysis.unused]
    assert "morphology.pleomorphism: moderate" in row["unused_findings"]


def test_table_at_80_columns_keeps_every_id_and_band_whole(tmp_path):
    long_id = "a-case-id-of-forty-four-characters-0123456"
    (tmp_path / "long.yaml").write_text(f"id: {long_id}\nstains: {{desmin: posittive}}\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["batch", str(CASES), str(tmp_path / "long.yaml"), "-q"], env={"COLUMNS": "80"}, catch_exceptions=False
    )
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in result.output
    rows = [
        json.loads(line)
        for line in run("batch", str(CASES), "--format", "jsonl", "-q", "--no-suggest", "--evidence", "none").output.splitlines()
        if '"summary"' not in line
    ]
    text = result.output
    for row in rows:  # the band by its label, as every other output names it (not its id)
        assert row["id"] in text and row["confidence"]["label"] in text
    assert "findings-unrecorded" not in text and "clear-leader" not in text
    # the error row keeps its hint (wrapped in its cell: read the cell's words in order)
    words = " ".join(w for w in text.split() if w != "│")
    assert long_id in text and "did you mean 'positive'?" in words


def test_table_written_to_a_file_reads_as_100_columns_whatever_the_terminal(tmp_path):
    """Not 200 columns, nor the terminal's: 100, as `ddx eval -o` writes; a case a few lines where the
    one-line table would be wider, ids and a long error message never cut."""
    key = "a_long_key_written_in_a_hurry_at_the_microscope_" * 3
    (tmp_path / "bad.yaml").write_text(f"id: bad\n{key}: 1\n", encoding="utf-8")
    for columns in ("300", "60"):
        out = tmp_path / f"t{columns}.txt"
        result = CliRunner().invoke(
            main,
            ["batch", str(CASES), str(tmp_path / "bad.yaml"), "-o", str(out), "-q", "--no-suggest"],
            env={"COLUMNS": columns},
            catch_exceptions=False,
        )
        assert result.exit_code == 1
        text = out.read_text(encoding="utf-8")
        assert max(len(line) for line in text.splitlines()) <= 100 and "…" not in text
        assert "case / band / expected" in text  # the rows do not fit one line each in 100 columns
        words = "".join(w for w in text.split() if w != "│")
        assert "alali-2024-ilms-oral-cavity" in text and key in words  # the error's key, folded in its cell
    assert (tmp_path / "t300.txt").read_text(encoding="utf-8") == (tmp_path / "t60.txt").read_text(encoding="utf-8")


def test_every_csv_column_is_documented():
    import io
    import re as re_

    from ddx.cli.writers import CsvWriter

    out = io.StringIO()
    CsvWriter(out, top=3)
    header = out.getvalue().strip().split(",")
    doc = (REPO / "docs" / "case-format.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Batch CSV columns") :]
    documented = set(re_.findall(r"`([a-z_]+(?:_1)?)`", section.split("\n|---|")[1]))
    for column in header:
        assert re_.sub(r"_\d+$", "_1", column) in documented, column


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_counted_rates_are_exact_while_probabilities_never_read_100(tmp_path: Path, fmt: str):
    # two cases: the seed (ILMS first, as expected) and a copy of it that expects the runner-up (PRMS), so
    # top-1 is one of two and top-3 holds both. A count of right cases is exact ("100.0 %"); only a
    # probability is kept off 100 % and 0 % ("> 99.9 %").
    summary = tmp_path / "summary.md"
    seed_text = SEED.read_text(encoding="utf-8")
    assert "\nexpected: ilms\n" in seed_text
    runner_up = tmp_path / "seed-expecting-prms.yaml"
    runner_up.write_text(
        seed_text.replace("id: seed-board-q1-thigh-35m", "id: seed-expecting-prms").replace(
            "\nexpected: ilms\n", "\nexpected: prms\n"
        ),
        encoding="utf-8",
    )
    result = run("batch", str(SEED), str(runner_up), "--format", fmt, "--summary", str(summary))
    text = result.output + (summary.read_text(encoding="utf-8") if summary.exists() else "")
    assert "top-3: 100.0 %" in text.replace("**", "").replace("[bold]", "").replace("[/bold]", "")
    assert "Top-1: 50.0 %" in text.replace("**", "")
    assert "> 99.9 %" not in text and "< 0.1 %" not in text


def test_the_csv_names_the_leading_subtype_so_it_reads_alone():
    # a subtype by its short name; an entity's rest profile with the entity ("conventional ILMS", not a bare
    # "conventional"); nothing for an entity without subtypes
    tfcp2 = CASES / "csizmok-2024-srms-mandible-31m.yaml"
    lms = CASES / "olivier-2023-lms-pelvis-81f.yaml"
    result = run("batch", str(SEED), str(tfcp2), str(lms), "--format", "csv")
    rows = {r["id"]: r for r in csv.DictReader(result.output.splitlines())}
    assert rows["seed-board-q1-thigh-35m"]["leader_1"] == "ilms"
    assert rows["seed-board-q1-thigh-35m"]["leader_subtype"] == "conventional ILMS"
    assert rows["csizmok-2024-srms-mandible-31m"]["leader_subtype"] == "TFCP2-RMS"
    assert rows["olivier-2023-lms-pelvis-81f"]["leader_1"] == "lms" and rows["olivier-2023-lms-pelvis-81f"]["leader_subtype"] == ""


def test_the_test_that_confirms_the_leader_is_a_value_not_only_a_sentence():
    """When no test separates the leaders, the band still asks for the leader's defining test: the JSON's
    ``confidence.confirm_tests`` and the CSV's last column name it (a spreadsheet user sees an empty next_test
    otherwise), and they are empty when the band's action names none."""
    ddlps = CASES / "sawayama-2017-ddlps-colon-52f.yaml"
    imt = CASES / "arslan-2013-imt-stomach-65f.yaml"
    lms = CASES / "olivier-2023-lms-pelvis-81f.yaml"
    result = run("batch", str(SEED), str(ddlps), str(imt), str(lms), "--format", "csv")
    rows = {r["id"]: r for r in csv.DictReader(result.output.splitlines())}
    assert list(rows["seed-board-q1-thigh-35m"])[-1] == "confirm_tests"
    confirming = {"sawayama-2017-ddlps-colon-52f": "MDM2 amplification", "arslan-2013-imt-stomach-65f": "ALK rearrangement"}
    for case_id, test in confirming.items():
        assert rows[case_id]["no_separating_test"] == "yes" and rows[case_id]["next_test"] == ""
        assert rows[case_id]["confirm_tests"] == test
    assert rows["seed-board-q1-thigh-35m"]["confirm_tests"] == "near-haploidization"
    assert rows["olivier-2023-lms-pelvis-81f"]["confirm_tests"] == ""
    for path in (ddlps, lms):
        confidence = json.loads(run("eval", "--format", "json", str(path)).output)["confidence"]
        named = confidence["confirm_tests"]
        assert (named is not None) == (path == ddlps)
        assert named is None or named in confidence["action"]
        # and as finding paths, to match against suggested tests and the rules
        assert confidence["confirm_with"] == (["molecular.mdm2_amplification"] if path == ddlps else [])
    # the default lean jsonl line carries both too
    lines = run("batch", str(SEED), str(ddlps), str(lms), "--format", "jsonl").output.splitlines()
    lean = {line["id"]: line["confidence"] for line in map(json.loads, (t for t in lines if t.startswith("{"))) if "id" in line}
    assert lean["sawayama-2017-ddlps-colon-52f"]["confirm_tests"] == "MDM2 amplification"
    assert lean["seed-board-q1-thigh-35m"]["confirm_tests"] == "near-haploidization"
    assert lean["seed-board-q1-thigh-35m"]["confirm_with"] == ["molecular.near_haploidization"]
    assert sorted(lean["olivier-2023-lms-pelvis-81f"]) == ["band", "confirm_tests", "confirm_with", "label"]
    assert lean["olivier-2023-lms-pelvis-81f"]["confirm_tests"] is None and lean["olivier-2023-lms-pelvis-81f"]["confirm_with"] == []


@pytest.mark.parametrize(("name", "start"), [("out.csv", "id,file,"), ("out.jsonl", '{"id":'), ("out.md", "# ddx batch")])
def test_an_output_name_gives_the_format_when_none_is_asked_for(tmp_path, name, start):
    """-o out.csv writes CSV (not the text table in a file named .csv), and a second run into the same
    input folder replaces it instead of reading it back."""
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "a.yaml").write_text("id: a\nstains: {desmin: positive}\n", encoding="utf-8")
    out = folder / name
    for _ in range(2):
        assert run("batch", str(folder), "-o", str(out), "-q", "--no-suggest").exit_code == 0
    assert out.read_text(encoding="utf-8").lstrip().startswith(start)


def test_a_table_of_over_a_hundred_cases_at_80_columns_keeps_a_long_id_whole(tmp_path):
    """Regression: the row numbers' third digit took the column a 44-character id needed, and the id folded;
    the leaders' labels wrap instead."""
    long_id = "a-case-id-of-forty-four-characters-012345678"
    for i in range(100):
        (tmp_path / f"c{i:03}.yaml").write_text(f"id: c{i:03}\nstains: {{desmin: positive}}\n", encoding="utf-8")
    (tmp_path / "long.yaml").write_text(f"id: {long_id}\nstains: {{alk: positive, cd163: positive}}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["batch", str(tmp_path), "-q"], env={"COLUMNS": "80"}, catch_exceptions=False)
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "│ 101 │" in result.output and long_id in result.output


def test_an_error_row_keeps_its_expected_diagnosis_when_that_is_valid(tmp_path):
    """A sheet row that fails validation still shows the diagnosis it was given (csv and jsonl), unless the
    diagnosis is itself the problem; the summary does not score it."""
    sheet = tmp_path / "e.csv"
    sheet.write_text(
        "id,expected,stains.desmin,stains.alk\na1,ilms,positive,negative\na2,imt,postive,positive\na3,notathing,positive,positive\n",
        encoding="utf-8",
    )
    rows = list(csv.DictReader(run("batch", str(sheet), "--format", "csv", "-q").output.splitlines()))
    assert [(r["id"], r["status"], r["expected"]) for r in rows] == [("a1", "ok", "ilms"), ("a2", "error", "imt"), ("a3", "error", "")]
    lines = [json.loads(line) for line in run("batch", str(sheet), "--format", "jsonl", "-q").output.splitlines()]
    assert [line.get("expected") for line in lines[:3]] == ["ilms", "imt", None]
    assert lines[-1]["summary"]["scored"] == 1
    # the error row with a diagnosis is counted beside the scores, not silently left out (a trial)
    assert lines[-1]["summary"]["expected_not_ranked"] == 1
    result = CliRunner().invoke(main, ["batch", str(sheet), "--format", "jsonl", "-o", str(tmp_path / "o.jsonl")])
    assert "1 error row with an expected diagnosis not scored" in " ".join(result.output.split())
    # ddx eval's JSON keeps it too, as the batch row does (a trial: it was null there)
    evaluated = json.loads(run("eval", str(sheet), "--format", "json").stdout)
    assert [(c["id"], c["expected"]) for c in evaluated] == [("a1", "ilms"), ("a2", "imt"), ("a3", None)]


def test_a_yaml_cases_problems_point_at_the_lines_of_their_keys(tmp_path):
    """Regression (a new-user trial): every problem of a YAML case was placed at the case's first line;
    now each is at its key's line (a list item at its list's line), in a file of one case or of several."""
    one = tmp_path / "one.yaml"
    one.write_text(
        "# a case\nid: broken\npatient:\n  age: 45\nmorphology:\n  cell_types:\n    - spindle\n    - multinucleted_giant\n"
        "stains:\n  sma: positive\n  desmin: difuse\n  alk: {result: positive, extent: fokal}\n",
        encoding="utf-8",
    )
    several = tmp_path / "several.yaml"
    several.write_text(
        "cases:\n  - id: good\n    stains: {desmin: positive}\n  - id: bad\n    patient:\n      age: 345\n", encoding="utf-8"
    )
    rows = run_batch([str(one), str(several)], load_knowledge(), BatchOptions(suggest=False))
    found = {(p.path, p.line) for r in rows for p in r.errors}
    assert found == {
        ("morphology.cell_types[1]", 6),
        ("stains.desmin", 11),
        ("stains.alk", 12),
        ("patient.age", 6),
    }


def test_key_lines_read_a_file_once_and_not_a_changed_one(tmp_path, monkeypatch):
    """The lines of a YAML file's keys are read once for all its failing cases (not once a case: a file of a
    thousand bad cases took a minute; where each case starts is read once before, for any file of several),
    and a case that no longer reads as the file now holds keeps the line it had (a key's line from another
    case would point at the wrong place)."""
    import ddx.loader as loader

    path = tmp_path / "many.yaml"
    path.write_text("cases:\n" + "".join(f"  - id: c{i}\n    patient:\n      age: 300\n" for i in range(30)), encoding="utf-8")
    reads = []
    real = loader.load_data
    monkeypatch.setattr(loader, "load_data", lambda p, **kw: reads.append(kw.get("with_lines")) or real(p, **kw))
    rows = list(run_batch([str(path)], load_knowledge(), BatchOptions(suggest=False)))
    assert [r.errors[0].line for r in rows] == [4 + 3 * i for i in range(30)]
    assert reads.count(True) == 2  # once for where each case starts, once for all the problems' keys
    [raw] = [r for r in loader.iter_raw(path, load_knowledge().vocab) if r.label == "c1"]
    body = path.read_text(encoding="utf-8")[len("cases:\n") :]
    path.write_text("cases:\n  - id: z\n    stains: {desmin: positive}\n" + body, encoding="utf-8")
    [problem] = loader.validate_raw(raw, load_knowledge()).problems
    assert problem.line == raw.line == 5  # where c1 started when read, not a line of the file as it is now


def test_key_lines_follow_a_file_rewritten_with_its_size_and_mtime_kept(tmp_path):
    """Regression (a review): the file read with lines was kept by path, mtime and size, so a rewrite that
    kept both (cp -p, rsync -t, a coarse clock) gave the old layout's lines; the inode change time is in the
    key now."""
    import os

    path = tmp_path / "two.yaml"
    flow = "cases:\n  - {id: c0, stains: {desmin: positive}}\n  - id: c1\n    stains: {desmin: bogus}\n# " + "x" * 20 + "\n"
    path.write_text(flow, encoding="utf-8")
    st = path.stat()
    [first] = [p.line for r in run_batch([str(path)], load_knowledge(), BatchOptions(suggest=False)) for p in r.errors]
    block = "cases:\n  - id: c0\n    stains:\n      desmin: positive\n  - id: c1\n    stains:\n      desmin: bogus\n"
    block += "#" * (len(flow) - len(block) - 1) + "\n"  # the same size
    assert len(block) == len(flow)
    path.write_text(block, encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    [second] = [p.line for r in run_batch([str(path)], load_knowledge(), BatchOptions(suggest=False)) for p in r.errors]
    assert (first, second) == (4, 7)


def test_a_case_whose_ranking_raises_is_one_error_row_and_the_batch_goes_on(knowledge, tmp_path, monkeypatch):
    # both ways a case is ranked: a canonical sheet row straight from its facts (the model is never asked for a
    # sheet row here, so it fails loudly if asked), and a case file through the model
    from ddx.analysis import Analyzer

    sheet = tmp_path / "s.csv"
    rows = "a,40,positive,imt\nb,41,positive,lms\nc,42,positive,\n"
    sheet.write_text(f"id,patient.age,stains.desmin,expected\n{rows}", encoding="utf-8")
    (tmp_path / "y.yaml").write_text("id: y\npatient: {age: 50}\nstains: {desmin: positive}\n", encoding="utf-8")
    facts, model = Analyzer.analyze_facts, Analyzer.analyze

    def broken_facts(self, every, case_id, *args, **kwargs):
        if case_id == "b":
            raise RuntimeError("boom b")
        return facts(self, every, case_id, *args, **kwargs)

    def broken_model(self, case, *args, **kwargs):
        if case.id != "z":
            raise ValueError(f"boom {case.id}")
        return model(self, case, *args, **kwargs)

    monkeypatch.setattr(Analyzer, "analyze_facts", broken_facts)
    monkeypatch.setattr(Analyzer, "analyze", broken_model)
    out = list(run_batch([str(sheet), str(tmp_path / "y.yaml")], knowledge, BatchOptions(suggest=False)))
    assert [(r.id, r.ok) for r in out] == [("a", True), ("b", False), ("c", True), ("y", False)]
    b, y = out[1].errors, out[3].errors
    assert len(b) == len(y) == 1
    assert "internal error while ranking (RuntimeError: boom b); please report it" in str(b[0]) and b[0].line == 3 and b[0].case == "b"
    assert "internal error while ranking (ValueError: boom y)" in str(y[0]) and y[0].file.endswith("y.yaml")
    assert (out[1].line, out[1].expected, out[1].sheet) == (3, "lms", None)  # the error row keeps where and what it was
    assert out[0].expected == "imt" and out[0].leaders and out[2].leaders


def test_a_csv_probability_is_never_written_as_certain(tmp_path):
    """A leader at 0.99998 was written 1.0000 (and shown '100.00%' in a workbook), a runner-up 0.0000; the text
    says '> 99.9 %'. The csv keeps 4 decimals between 0.0001 and 0.9999 (a new user's trial, 2026-12-02)."""
    from ddx.cli.writers import probability_cell

    assert (probability_cell(0.99998), probability_cell(0.00002), probability_cell(0.41236)) == (0.9999, 0.0001, 0.4124)
    raw = {
        "id": "sure",
        "patient": {"age": 45, "sex": "male"},
        "clinical": {"site": "thigh", "depth": "deep"},
        "morphology": {"cell_types": ["spindle", "epithelioid"], "inflammation": ["foamy_histiocytes"], "nucleoli": "prominent"},
        "stains": {"desmin": "diffuse", "myod1": "positive", "alk": "negative", "keratin": "negative"},
        "molecular": {"near_haploidization": "present"},
    }
    (tmp_path / "sure.json").write_text(json.dumps(raw), encoding="utf-8")
    result = run("batch", str(tmp_path / "sure.json"), "--format", "csv", "--top", "13", "-q")
    [row] = list(csv.DictReader(result.output.splitlines()))
    shown = [row[f"probability_{i}"] for i in range(1, 14)]
    assert all(0.0001 <= float(p) <= 0.9999 for p in shown) and "0.0001" in shown  # the far tail, not 0.0000


def test_the_closing_line_gives_the_scores_of_the_cases_with_an_expected_diagnosis(tmp_path):
    """Without --summary the scores were nowhere on screen (new-user trial): the closing line on stderr gives
    top-1 and top-3 over the cases with ``expected``, the same counts as the summary, and names a summary file."""
    out, summary_file = tmp_path / "out.csv", tmp_path / "scores.json"
    result = run("batch", str(mixed_folder(tmp_path)), "-o", str(out), "--summary", str(summary_file))
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    n = summary["with_expected"]
    assert 0 < n < summary["ranked"]  # some cases have no expected diagnosis: they are not counted
    top1, top3 = round(summary["top1"] * n), round(summary["top3"] * n)
    closing = result.stderr.strip().splitlines()[-1]
    assert f"top-1 {top1}/{n} ({100 * top1 / n:.1f} %), top-3 {top3}/{n} ({100 * top3 / n:.1f} %)" in closing
    assert closing.endswith(f"written to {out}; summary in {summary_file}")
    # with no expected diagnosis anywhere, no scores are claimed
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "one.yaml").write_text("id: plain-1\nstains: {desmin: positive}\n", encoding="utf-8")
    plain = run("batch", str(tmp_path / "plain"), "-o", str(tmp_path / "plain.csv"))
    assert "top-1" not in plain.stderr and "1 case, 1 ranked, 0 errors" in plain.stderr


def test_a_control_character_in_a_case_file_is_told_in_words_at_its_line(tmp_path):
    """A binary file or a stray control character gave libyaml's 'unacceptable character #x0000 ... in
    "<unicode string>", position 0', with a literal newline (a trial); now the character and its line."""
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(b"id: a\nnotes: x\x07y\n")
    result = CliRunner().invoke(main, ["eval", str(junk)])
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "junk.yaml:2: YAML error: the text holds a control character (U+0007)" in said, said
    assert "<unicode string>" not in said


def test_the_table_says_where_every_problem_is_listed(tmp_path):
    """The table's footer said every problem was on stderr, and stderr (after 20) that the output's error rows
    listed every problem, while the table shows one a row (a trial): both now name the formats that list all."""
    sheet = tmp_path / "many.csv"
    rows = "".join(f"b{i},postive,difuse\n" for i in range(25))  # two problems a row
    sheet.write_text("id,stains.desmin,stains.sma\n" + rows, encoding="utf-8")
    result = CliRunner().invoke(main, ["batch", str(sheet)], env={"COLUMNS": "120"})
    said = " ".join(result.output.split())
    assert "(+1 more)" in said
    assert "Error rows show their first problem; --format csv, xlsx, markdown, jsonl or json lists every problem" in said
    assert "ddx: ... --format csv, xlsx, markdown, jsonl or json lists every problem (25 cases)" in said
    csv_rows = list(csv.DictReader(run("batch", str(sheet), "--format", "csv", "-q").output.splitlines()))
    assert all("postive" in r["errors"] and "difuse" in r["errors"] for r in csv_rows)
