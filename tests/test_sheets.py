"""Workbooks as case sheets (.xlsx, .xls, .ods) and ddx batch --format xlsx.

The fixtures tests/data/sheets.{xlsx,xls,ods} were saved by LibreOffice from tests/data/sheets-*.csv
(tools/make_sheet_fixtures.py): the reader is tried on files no test wrote. Other workbooks are made
here with openpyxl.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import pty
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from ddx.cli import main
from ddx.loader import column_of, iter_raw, validate_raw, write_sheet
from ddx.synthetic import synthetic_case
from ddx.workbook import cell_text
from tests.conftest import REPO, SEED

DATA = REPO / "tests" / "data"
CSVS = [DATA / "sheets-thigh.csv", DATA / "sheets-lung.csv"]
FIXTURES = [DATA / f"sheets.{fmt}" for fmt in ("xlsx", "xls", "ods")]
BAD_ROW = ("sheet-leg-37m", "Thigh", 3, "M")  # stains.myod1 'postive': the fixtures' one bad row


def run(*args: str, cwd: Path | None = None):
    if cwd is None:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def jsonl_rows(text: str) -> list[dict]:
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [r for r in rows if "summary" not in r]


def csv_rows(path: Path) -> dict[str, dict[str, str]]:
    """The fixtures' source rows by id: the cells a workbook row must read as."""
    out = {}
    for source in CSVS:
        with source.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                out[row["id"]] = {k: v for k, v in row.items() if v}
    return out


# --- reading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("book", FIXTURES, ids=lambda p: p.suffix)
def test_a_workbook_saved_by_libreoffice_reads_as_its_csvs(book, knowledge):
    """Every row of both sheets is the case its CSV row is: numbers (35.0 -> 35, the id 1042 -> '1042'),
    lists, and formula cells (clinical.size_cm is =12.5*1 in the files) read as the value LibreOffice saved."""
    raws = list(iter_raw(book, knowledge.vocab))
    expected = {}
    for source in CSVS:
        for raw in iter_raw(source, knowledge.vocab):
            expected[raw.case_id] = (raw.mapping(), raw.line)
    assert [(r.case_id, r.sheet, r.line) for r in raws] == [
        ("sheet-thigh-35m", "Thigh", 2),
        ("sheet-leg-37m", "Thigh", 3),
        ("sheet-arm-60m", "Thigh", 4),
        ("1042", "Lung", 2),
        ("sheet-lung-21m", "Lung", 3),
    ]  # the hidden sheet and the empty one are not read
    for raw in raws:
        assert not raw.problems
        mapping, line = expected[raw.case_id]
        assert raw.mapping() == mapping and raw.line == line, raw.case_id
    assert raws[1].mapping()["clinical"]["size_cm"] == "12.5"


def test_the_xlsx_fixture_holds_formulas_and_a_hidden_sheet():
    """What the test above relies on: the cells it reads as values are formulas in the file."""
    book = openpyxl.load_workbook(DATA / "sheets.xlsx")
    assert book["Lists"].sheet_state == "hidden"
    sizes = [c.value for c in book["Thigh"]["G"][1:]]
    assert sizes == ["=6*1", "=12.5*1", "=4.4*1"]


@pytest.mark.parametrize("book", FIXTURES, ids=lambda p: p.suffix)
def test_two_sheets_and_a_bad_row_rank_like_the_csvs(book):
    from_book = run("batch", str(book), "--format", "jsonl", "--evidence", "none", "--no-suggest")
    from_csv = run("batch", *map(str, CSVS), "--format", "jsonl", "--evidence", "none", "--no-suggest", "-q")
    assert from_book.exit_code == 1 and from_csv.exit_code == 1  # one bad row in each
    rows = jsonl_rows(from_book.stdout)
    reference = {r["id"]: r for r in jsonl_rows(from_csv.stdout)}
    assert [r["id"] for r in rows] == list(reference) == list(csv_rows(DATA))
    for row in rows:
        assert row["file"] == str(book) and row["sheet"] in ("Thigh", "Lung")
        want = reference[row["id"]]
        assert [(e["entity"], e["probability"]) for e in row["ranking"]] == [
            (e["entity"], e["probability"]) for e in want["ranking"]
        ], row["id"]
        assert row["confidence"] == want["confidence"]
    ranked = [r["id"] for r in rows if not r["errors"]]
    assert len(ranked) == 4 and all(r["ranking"] for r in rows if r["id"] in ranked)
    [bad] = [r for r in rows if r["errors"]]
    case_id, sheet, line, column = BAD_ROW
    [problem] = bad["errors"]
    assert (bad["id"], bad["sheet"], problem["sheet"], problem["line"], problem["column"], problem["path"]) == (
        case_id,
        sheet,
        sheet,
        line,
        column,
        "stains.myod1",
    )
    assert problem["suggestions"] == ["positive"]
    assert problem["message"] == (
        f"{book}, sheet 'Thigh', row 3: case 'sheet-leg-37m': stains.myod1 (column M): "
        "unknown stain result 'postive'; did you mean 'positive'?"
    )
    assert problem["message"] in from_book.stderr
    [csv_problem] = reference[case_id]["errors"]
    assert csv_problem["message"].startswith(f"{CSVS[0]}:3: case 'sheet-leg-37m': stains.myod1: unknown")


def test_eval_reads_a_workbook_too():
    result = run("eval", str(DATA / "sheets.ods"), "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [(d["id"], d.get("sheet")) for d in data][:4] == [
        ("sheet-thigh-35m", "Thigh"),
        ("sheet-leg-37m", "Thigh"),
        ("sheet-arm-60m", "Thigh"),
        ("1042", "Lung"),
    ]
    assert data[0]["ranking"][0]["entity"] == "ilms"


def test_cells_read_as_the_text_of_a_csv_export():
    assert [cell_text(v) for v in (35.0, 70.5, 0.1, 12, -0.0, 1e20, 2.0**60 + 2048, True, False, None, "", " x ")] == [
        "35",
        "70.5",
        "0.1",
        "12",
        "0",
        "1e+20",
        "1.152921504606849e+18",
        "TRUE",
        "FALSE",
        "",
        "",
        " x ",
    ]
    assert cell_text(datetime.date(2026, 3, 14)) == "2026-03-14"
    assert cell_text(datetime.datetime(2026, 3, 14, 9, 30)) == "2026-03-14 09:30:00"
    assert cell_text(datetime.time(9, 30)) == "09:30:00"


def library_book(path: Path) -> Path:
    """A workbook with every kind of sheet: data not starting at A1, an empty sheet, a hidden one, one
    with a header only, one without an id column, and cells of every type."""
    book = openpyxl.Workbook()
    main_sheet = book.active
    main_sheet.title = "Cases 2026"
    main_sheet["B3"], main_sheet["C3"], main_sheet["D3"], main_sheet["E3"] = (
        "id",
        "patient.age",
        "stains.desmin",
        "morphology.necrosis",
    )
    main_sheet["F3"], main_sheet["G3"], main_sheet["H3"] = "stains.ki67", "stains.ki67.percent", "notes"
    rows = [
        (1001, 35.0, "diffuse", True, "positive", 30, datetime.date(2026, 3, 14)),  # row 4
        ("b2", "35,5", "focal", False, None, None, "=1+1"),  # row 5: text age, a formula
        (None, 50, "positive", None, None, None, None),  # row 6: no id
        ("b4", 40, "positive", None, "positive", 0.4, None),  # row 7: 40 % as 0.4
        ("b5", 40, "diffsue", None, None, None, None),  # row 8: a misspelled term
    ]
    for offset, values in enumerate(rows):
        for col, value in enumerate(values):
            if value is not None:
                main_sheet.cell(row=4 + offset, column=2 + col, value=value)
    book.create_sheet("Empty")
    hidden = book.create_sheet("Lists")
    hidden["A1"] = "terms"
    hidden.sheet_state = "hidden"
    header_only = book.create_sheet("Later")
    header_only["A1"], header_only["B1"] = "id", "stains.desmin"
    notes = book.create_sheet("Notes")
    notes["A1"] = "Entered by the registrar"
    again = book.create_sheet("Again")
    again["A1"], again["B1"] = "stains.alk", "id"
    again["A2"], again["B2"] = "positive", "1001"
    book.save(path)
    return path


def test_a_workbook_made_by_the_library_every_sheet_and_cell_kind(tmp_path, knowledge):
    book = library_book(tmp_path / "book.xlsx")
    raws = list(iter_raw(book, knowledge.vocab))
    where = [(r.label, r.sheet, r.line) for r in raws]
    assert where == [
        ("1001", "Cases 2026", 4),
        ("b2", "Cases 2026", 5),
        ("book.xlsx[Cases 2026]:6", "Cases 2026", 6),
        ("b4", "Cases 2026", 7),
        ("b5", "Cases 2026", 8),
        ("book.xlsx[Later]", "Later", 1),
        ("book.xlsx[Notes]", "Notes", 1),
        ("1001", "Again", 2),
    ]
    first, second, no_id, fraction, typo, later, notes, again = raws
    assert first.mapping() == {
        "id": "1001",
        "patient": {"age": "35"},
        "stains": {"desmin": "diffuse", "ki67": {"result": "positive", "percent": "30"}},
        "morphology": {"necrosis": "TRUE"},
        "notes": "2026-03-14",
    }
    loaded = validate_raw(first, knowledge)
    assert loaded.ok and loaded.case.morphology.necrosis == "present" and loaded.case.patient.age == 35
    # a decimal comma typed as text reads as in a ';' CSV; a formula saved without its value is empty (not evaluated)
    assert second.mapping() == {
        "id": "b2",
        "patient": {"age": "35.5"},
        "stains": {"desmin": "focal"},
        "morphology": {"necrosis": "FALSE"},
    }
    problem = validate_raw(no_id, knowledge).problems[0]
    assert (problem.path, problem.sheet, problem.line, problem.column) == ("id", "Cases 2026", 6, "B")
    assert str(problem).startswith(f"{book}, sheet 'Cases 2026', row 6: case 'book.xlsx[Cases 2026]:6': id (column B)")
    [problem] = validate_raw(fraction, knowledge).problems  # said with the row's other problems, if any
    assert (problem.path, problem.column, problem.line) == ("stains.ki67.percent", "G", 7)
    assert "0.4 is a fraction" in problem.message and "write the percentage as a number (40)" in problem.message
    problem = validate_raw(typo, knowledge).problems[0]
    assert (problem.path, problem.column, problem.line) == ("stains.desmin", "D", 8) and "diffsue" in problem.message
    assert "header row but no case rows" in later.problems[0].message and later.problems[0].line == 1
    assert "no 'id' column" in notes.problems[0].message and "hide a sheet" in notes.problems[0].message
    assert again.mapping() == {"id": "1001", "stains": {"alk": "positive"}}  # columns in any order


def test_duplicate_ids_across_sheets_name_the_first_sheet_and_row(tmp_path):
    book = library_book(tmp_path / "book.xlsx")
    result = run("batch", str(book), "--format", "jsonl", "--evidence", "none", "--no-suggest", "-q")
    rows = jsonl_rows(result.stdout)
    [duplicate] = [r for r in rows if r.get("sheet") == "Again"]
    [problem] = duplicate["errors"]
    assert problem["message"] == (
        f"{book}, sheet 'Again', row 2: case '1001': id (column B): duplicate case id "
        f"'1001': already used in {book}, sheet 'Cases 2026', row 4"
    )
    assert [r["id"] for r in rows if not r["errors"]] == ["1001", "b2"]


def test_column_of_a_key_path():
    specs = [
        (name, name.split("."), False, False)
        for name in ("id", "stains.alk", "stains.alk.pattern", "morphology.cell_types", "", "stains.myod1.extent")
    ]
    assert column_of(specs, "stains.alk") == "B"
    assert column_of(specs, "stains.alk.pattern") == "C"
    assert column_of(specs, "stains.alk.result") == "B"
    assert column_of(specs, "morphology.cell_types[1]") == "D"
    assert column_of(specs, "stains.myod1") == "F"
    assert column_of(specs, "patient.age") is None and column_of(specs, None) is None


def test_unreadable_workbooks_are_one_error_row_each_and_the_rest_is_ranked(tmp_path, monkeypatch, knowledge):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "csv-named.xlsx").write_text("id,stains.desmin\nx,positive\n", encoding="utf-8")
    (folder / "~$owner.xlsx").write_bytes(b"\x00" * 165)  # Office's lock file beside an open workbook: skipped
    (folder / "seed.yaml").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    empty = openpyxl.Workbook()
    empty.save(folder / "empty.xlsx")
    result = run("batch", str(folder), "--format", "jsonl", "-q")
    assert result.exit_code == 1
    rows = {Path(r["file"]).name: r for r in jsonl_rows(result.stdout)}
    assert set(rows) == {"csv-named.xlsx", "empty.xlsx", "seed.yaml"}
    assert "cannot read the workbook" in rows["csv-named.xlsx"]["errors"][0]["message"]
    assert "every visible sheet is empty" in rows["empty.xlsx"]["errors"][0]["message"]
    assert rows["seed.yaml"]["ranking"][0]["entity"] == "ilms"
    import ddx.workbook

    monkeypatch.setattr(ddx.workbook, "MAX_UNPACKED_BYTES", 10_000)  # the zip-bomb guard, on a small file
    [raw] = list(iter_raw(DATA / "sheets.xlsx", knowledge.vocab))
    assert "unpacks to" in raw.problems[0].message


# --- writing --------------------------------------------------------------------------------------

HOSTILE_YAML = {
    "formula.yaml": "id: -cmd\nnotes: x\nstains: {desmin: positive}\n",
    "bad-id.yaml": 'id: "=HYPERLINK(\\"http://e\\")"\nstains: {desmin: positive}\n',
}


def test_xlsx_output_one_row_per_case_frozen_header_numbers_and_inert_text(tmp_path):
    for name, text in HOSTILE_YAML.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    inputs = [str(DATA / "sheets.xlsx"), str(tmp_path / "formula.yaml"), str(tmp_path / "bad-id.yaml")]
    out, as_csv = tmp_path / "results.xlsx", tmp_path / "results.csv"
    result = run("batch", *inputs, "-o", str(out), "-q")  # the format follows the file name
    assert result.exit_code == 1 and out.exists()
    assert run("batch", *inputs, "--format", "csv", "-o", str(as_csv), "-q").exit_code == 1
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["ddx batch", "summary"]
    sheet = book["ddx batch"]
    assert sheet.freeze_panes == "B2"
    cells = list(sheet.iter_rows())
    header = [c.value for c in cells[0]]
    with as_csv.open(encoding="utf-8", newline="") as handle:
        reference = list(csv.reader(handle))
    assert header == reference[0] and len(cells) == len(reference) == 1 + 7  # 5 fixture rows, 2 YAML cases
    for row, want in zip(cells[1:], reference[1:]):
        # a number the csv writes with 4 decimals reads back as an int when it is whole (0.0 -> 0)
        shown = [
            ""
            if c.value is None
            else f"{c.value:.4f}"
            if isinstance(c.value, float) or (isinstance(c.value, int) and "." in w)
            else str(c.value)
            for c, w in zip(row, want)
        ]
        assert shown + [""] * (len(want) - len(shown)) == want  # the csv's cells, typed
        assert all(c.data_type != "f" for c in row)  # never a formula
    by_id = {row[0].value: row for row in cells[1:]}
    p1 = by_id["sheet-thigh-35m"][header.index("probability_1")]
    assert p1.data_type == "n" and isinstance(p1.value, float) and p1.number_format == "0.00%" and 0.5 < p1.value < 1
    assert by_id["sheet-thigh-35m"][header.index("line")].value == 2
    assert by_id["'-cmd"][header.index("status")].value == "ok"  # a formula-like id, escaped as in the csv
    assert by_id["'-cmd"][0].data_type == "s"
    hostile = by_id['\'=HYPERLINK("http://e")']
    assert hostile[0].data_type == "s" and hostile[header.index("status")].value == "error"
    bad = by_id["sheet-leg-37m"]
    assert bad[header.index("status")].value == "error" and bad[header.index("sheet")].value == "Thigh"
    assert "row 3" in bad[header.index("errors")].value and "column M" in bad[header.index("errors")].value
    summary = {row[0].value: row[1].value for row in book["summary"].iter_rows() if row[0].value}
    assert summary["cases"] == 7 and summary["errors"] == 2 and len(summary["rules_hash"]) == 12


def test_xlsx_to_a_pipe_works_and_to_a_terminal_is_refused(tmp_path):
    piped = run("batch", str(SEED), "--format", "xlsx", "-q")
    assert piped.exit_code == 0 and piped.stdout_bytes.startswith(b"PK")
    book = openpyxl.load_workbook(io.BytesIO(piped.stdout_bytes))
    assert book["ddx batch"]["A2"].value == "seed-board-q1-thigh-35m"
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ddx", "batch", str(SEED), "--format", "xlsx", "-q"],
            stdout=follower,
            stderr=subprocess.PIPE,
            timeout=120,
            cwd=tmp_path,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 2
    assert b"--format xlsx writes a workbook" in proc.stderr and b"--output FILE.xlsx" in proc.stderr


def test_an_xlsx_result_in_an_input_folder_is_written_over_never_read(tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "seed.yaml").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    out = folder / "results.xlsx"
    for _ in range(2):
        result = run("batch", str(folder), "-o", str(out), "-q")
        assert result.exit_code == 0, result.output
        assert openpyxl.load_workbook(out)["ddx batch"].max_row == 2
    library_book(folder / "input.xlsx")
    refused = run("batch", str(folder), "-o", str(folder / "input.xlsx"), "-q")
    assert refused.exit_code == 2 and "one of the inputs" in refused.output


@pytest.mark.parametrize("sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_an_interrupted_xlsx_run_leaves_the_previous_file_and_no_rows_behind(tmp_path, knowledge, sig):
    """The rows wait in a temporary folder until the workbook is written; Ctrl-C (which ends the process with
    os._exit, skipping every finaliser) and SIGTERM leave neither it nor a half-written workbook."""
    rng = random.Random(5)
    write_sheet([synthetic_case(knowledge.vocab, rng, f"syn-{i}") for i in range(5_000)], tmp_path / "big.csv")
    out = tmp_path / "results.xlsx"
    out.write_bytes(b"the previous results")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(scratch))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ddx", "batch", str(tmp_path / "big.csv"), "-o", str(out), "-q", "--no-suggest"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith("ddx-xlsx-") for p in scratch.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None, "the run never started writing"
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig and "Traceback" not in stderr, stderr
    assert out.read_bytes() == b"the previous results"
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "results.xlsx", "tmp"]


def test_workbook_rows_rank_the_same_in_worker_processes():
    one = run("batch", str(DATA / "sheets.xls"), "--format", "jsonl", "-q", "--jobs", "1")
    two = run("batch", str(DATA / "sheets.xls"), "--format", "jsonl", "-q", "--jobs", "2")
    assert one.exit_code == two.exit_code == 1 and one.stdout == two.stdout
    assert [r.get("sheet") for r in jsonl_rows(two.stdout)] == ["Thigh"] * 3 + ["Lung"] * 2


def test_a_text_format_is_not_written_into_a_file_named_as_a_workbook(tmp_path):
    out = tmp_path / "results.xlsx"
    result = CliRunner().invoke(
        main, ["batch", str(REPO / "cases" / "seed-board-q1-thigh-35m.yaml"), "--format", "csv", "-o", str(out), "-q"]
    )
    assert result.exit_code == 2 and "named as a workbook" in result.output and not out.exists()


def test_an_upper_case_id_header_is_read_and_a_date_in_a_number_column_is_explained(tmp_path):
    sheet = tmp_path / "cases.csv"
    sheet.write_text("ID,Patient.Age\nc1,40\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["batch", str(sheet), "--format", "json", "-q"])
    assert result.exit_code == 0 and json.loads(result.output)["cases"][0]["id"] == "c1"
    book = tmp_path / "dates.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["id", "patient.age"])
    wb.active.append(["c1", datetime.date(2020, 1, 5)])
    wb.save(book)
    data = json.loads(CliRunner().invoke(main, ["batch", str(book), "--format", "json", "-q"]).output)
    [message] = [e["message"] for c in data["cases"] for e in c["errors"]]
    assert "the date '2020-01-05'" in message and "(2020)" not in message
