"""Hostile input, round two (issue 16): each kind of defect, tested over its whole domain.

1. numbers between ddx and the engine      5. rule sets that pass the editor and break every run
2. text the encoders cannot take           6. cost that grows with the rule base
3. where output goes                       7. patient data at rest
4. what output carries                     8. small exits

Kind 1's engine-level properties are in tests/test_engine.py (every finite number, both matchers agree).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.rulecheck_bench import copies
from ddx.authoring.check import check_rules
from ddx.authoring.edit import ChangedOnDisk, EditError, read_file, save_file
from ddx.autosave import DraftStore
from ddx.batch import BatchOptions, BatchRow, Processor, _init_worker, _Pool, _work
from ddx.cli.writers import CsvWriter
from ddx.errors import DdxError, EngineError, Problem
from ddx.knowledge import load_knowledge
from ddx.loader import RawCase
from ddx.safetext import FORMULA_PREFIXES, json_text, markdown_text, printable, spreadsheet_cell
from ddx.yamlio import MAX_FILE_BYTES, ReadError, load_data, read_text
from tests.conftest import SEED
from tests.test_hostile import billion_laughs

DDX = [sys.executable, "-m", "ddx"]
FAST = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DDX, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env={**os.environ, **(env or {})}, errors="replace"
    )


def clean(result: subprocess.CompletedProcess[str]) -> None:
    """No traceback, no signal death, no click 'Aborted!'."""
    text = result.stdout + result.stderr
    assert "Traceback" not in text and "Aborted!" not in text, text[-2000:]
    assert result.returncode >= 0, f"killed by signal {-result.returncode}"


# ================================================================ 1. numbers

NUMBER_FORMS = st.floats(min_value=0, max_value=120, allow_nan=False, allow_subnormal=True)


@FAST
@given(age=NUMBER_FORMS, form=st.sampled_from(["repr", "e", "f20", "g"]), fmt=st.sampled_from(["yaml", "json"]))
def test_numbers_as_yaml_and_json_write_them_reach_the_engine_intact(knowledge, analyzer, oracle, tmp_path, age, form, fmt):
    text = {"repr": repr(age), "e": f"{age:e}", "f20": f"{age:.20f}", "g": f"{age:g}"}[form]
    path = tmp_path / f"n.{fmt}"
    if fmt == "yaml":
        path.write_text(f"id: n\npatient: {{age: {text}}}\n", encoding="utf-8")
    else:
        path.write_text(f'{{"id": "n", "patient": {{"age": {text}}}}}', encoding="utf-8")
    case = knowledge.case_schema.validate(load_data(path))
    facts = analyzer.facts(case)
    assert facts["patient__age"] == float(text)
    assert analyzer.matcher.match(facts) == oracle.matcher.match(facts)


def test_tiny_numbers_rank_in_eval_batch_and_sheets(tmp_path):
    """`age: 0.00001` once ended `ddx eval` and `ddx batch -j1` with exit 139 (segfault)."""
    (tmp_path / "a.yaml").write_text("id: a\npatient: {age: 0.00001}\n", encoding="utf-8")
    (tmp_path / "b.json").write_text('{"id": "b", "patient": {"age": 1e-05}, "clinical": {"size_cm": 5e-324}}', encoding="utf-8")
    (tmp_path / "c.csv").write_text(
        "id,patient.age,clinical.size_cm\nc1,-0.0,1e-05\nc2,1E-300,2.2250738585072014e-308\nc3,0.0000001,120\n", encoding="utf-8"
    )
    for jobs in ("1", "2"):
        result = run("batch", "a.yaml", "b.json", "c.csv", "-j", jobs, "--format", "jsonl", "-q", cwd=tmp_path)
        clean(result)
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        cases = [r for r in rows if "summary" not in r]
        assert [r["id"] for r in cases] == ["a", "b", "c1", "c2", "c3"]
        assert all(r["ranking"] and not r.get("errors") for r in cases), cases
        assert result.returncode == 0
    result = run("eval", "a.yaml", cwd=tmp_path)
    clean(result)
    assert result.returncode == 0


# ================================================================ 2. text the encoders cannot take

KEY = st.sampled_from(["id", "notes", "patient", "age", "stains", "alk", "desmin", "result", "clinical", "site"])


def _nested(draw, depth: int) -> dict:
    keys = draw(st.lists(KEY, min_size=1, max_size=4, unique=True))
    return {k: (_nested(draw, depth - 1) if depth and draw(st.booleans()) else "v") for k in keys}


@st.composite
def mapping_with_a_repeat(draw):
    """A nested mapping, and the path to one of its mappings, whose first key is to be written twice."""
    data = _nested(draw, 3)
    path: list[str] = []
    node = data
    while draw(st.booleans()):
        children = [k for k, v in node.items() if isinstance(v, dict)]
        if not children:
            break
        key = draw(st.sampled_from(children))
        path.append(key)
        node = node[key]
    return data, path, next(iter(node))


def _render(data: dict, at: list[str], key: str, style: str) -> tuple[str, int, int]:
    """The mapping as YAML block style or as JSON (one key a line), with ``key`` written a second time at
    the end of the mapping at path ``at``; returns the text and the lines of both occurrences."""
    lines: list[str] = []
    found: dict[str, int] = {}

    def walk(node: dict, here: tuple[str, ...], indent: int) -> None:
        items = list(node.items())
        for n, (k, v) in enumerate(items):
            last = n == len(items) - 1 and list(here) != at
            comma = "" if last or style == "block" else ","
            if list(here) == at and k == key:
                found["first"] = len(lines) + 1
            if isinstance(v, dict):
                lines.append(" " * indent + (f"{k}:" if style == "block" else f'"{k}": {{'))
                walk(v, (*here, k), indent + 2)
                if style != "block":
                    lines.append(" " * indent + "}" + comma)
            else:
                lines.append(" " * indent + (f"{k}: v" if style == "block" else f'"{k}": "v"{comma}'))
        if list(here) == at:
            found["second"] = len(lines) + 1
            lines.append(" " * indent + (f"{key}: again" if style == "block" else f'"{key}": "again"'))

    if style == "block":
        walk(data, (), 0)
    else:
        lines.append("{")
        walk(data, (), 2)
        lines.append("}")
    return "\n".join(lines) + "\n", found["first"], found["second"]


@FAST
@given(case=mapping_with_a_repeat(), fmt=st.sampled_from(["block", "flow", "json"]))
def test_a_repeated_key_is_an_error_naming_both_lines(tmp_path, case, fmt):
    data, at, key = case
    text, first, second = _render(data, at, key, "block" if fmt == "block" else "json")
    path = tmp_path / ("x.json" if fmt == "json" else "x.yaml")  # JSON text is also YAML (flow style)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReadError) as err:
        load_data(path, with_lines=fmt == "block")
    message = str(err.value)
    assert f"key {key!r}" in message and f"line {first}" in message and f"line {second}" in message, (text, message)
    assert err.value.line == second


def test_a_repeated_block_keeps_neither_and_names_both_lines(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(
        "id: d\npatient: {age: 4}\nstains: {alk: positive, desmin: diffuse, alk: negative}\npatient:\n  age: 50\n", encoding="utf-8"
    )
    with pytest.raises(ReadError, match="'patient' is given on line 2 and line 4"):
        load_data(path)
    path.write_text("id: d\nstains: {alk: positive, desmin: diffuse, alk: negative}\n", encoding="utf-8")
    with pytest.raises(ReadError, match="'alk' is given twice on line 2"):
        load_data(path)
    path.write_text("id: d\npatient: {age: 4}\npatient:\n  age: 50\n", encoding="utf-8")
    with pytest.raises(ReadError, match="'patient' is given on line 2 and line 3"):
        load_data(path)


@FAST
@given(parts=st.lists(st.integers(0, 59), min_size=2, max_size=4), sign=st.sampled_from(["", "-", "+"]))
def test_base_60_numbers_are_text_not_arithmetic(knowledge, tmp_path, parts, sign):
    text = sign + ":".join(str(p) for p in parts[:1]) + "".join(f":{p:02d}" for p in parts[1:])
    path = tmp_path / "x.yaml"
    path.write_text(f"id: b\npatient: {{age: {text}}}\n", encoding="utf-8")
    data = load_data(path)
    assert data["patient"]["age"] == text
    with pytest.raises(Exception, match="number"):
        knowledge.case_schema.validate(data)


@pytest.mark.parametrize("tagged", ["!!bool maybe", "!!int abc", "!!float x", "!!timestamp 2020-13-45", "!!int 0x", "!!float 1e"])
def test_an_explicit_tag_its_text_cannot_hold_is_an_error_at_its_line(tmp_path, tagged):
    path = tmp_path / "t.yaml"
    path.write_text(f"id: t\npatient:\n  age: {tagged}\n", encoding="utf-8")
    with pytest.raises(ReadError) as info:
        load_data(path)
    assert info.value.line == 3 and "cannot be read as !!" in str(info.value)
    good = tmp_path / "good.yaml"
    good.write_text("id: g\npatient: {age: 40}\n", encoding="utf-8")
    result = run("batch", str(tmp_path), "--format", "jsonl")
    clean(result)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r.get("id") for r in rows if r.get("ranking")} == {"g"}
    assert any("t.yaml" in str(r.get("file")) and r.get("errors") for r in rows)


def test_a_600_kb_base_60_value_is_refused_quickly(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("id: b\npatient: {age: 1" + ":00" * 200_000 + "}\n", encoding="utf-8")
    started = time.monotonic()
    assert isinstance(load_data(path)["patient"]["age"], str)
    assert time.monotonic() - started < 10  # was 45 s: quadratic int arithmetic


@FAST
@given(digits=st.integers(4301, 30_000), fmt=st.sampled_from(["yaml", "json"]), sign=st.sampled_from(["", "-"]))
def test_integers_too_long_to_convert_are_a_located_error(tmp_path, digits, fmt, sign):
    number = sign + "7" * digits
    path = tmp_path / f"x.{fmt}"
    path.write_text(f"id: {number}\n" if fmt == "yaml" else f'{{"id": {number}}}', encoding="utf-8")
    with pytest.raises(ReadError, match=f"{digits:,} digits is too long"):
        load_data(path)


@FAST
@given(
    code=st.integers(0xD800, 0xDFFF),
    where=st.sampled_from(["id", "notes", "key"]),
    fmt=st.sampled_from(["yaml", "json"]),
    pad=st.text(st.characters(codec="utf-8"), max_size=5),
)
def test_a_lone_surrogate_is_an_error_naming_its_key(tmp_path, code, where, fmt, pad):
    escape = f"\\u{code:04x}"
    pad = json.dumps(pad)[1:-1]
    value = f'"{pad}{escape}"'
    if where == "key":
        body = {"yaml": f"id: s\nstains:\n  {value}: positive\n", "json": f'{{"id": "s", "stains": {{{value}: 1}}}}'}
    else:
        other = "notes" if where == "id" else "id"
        body = {"yaml": f"{other}: s\n{where}: {value}\n", "json": f'{{"{other}": "s", "{where}": {value}}}'}
    path = tmp_path / f"x.{fmt}"
    path.write_text(body[fmt], encoding="utf-8")
    with pytest.raises(ReadError, match="lone surrogate|invalid Unicode character escape") as err:
        load_data(path)  # libyaml refuses the escape itself; JSON is checked by ddx
    if "lone surrogate" in str(err.value):
        assert ("stains" if where == "key" else where) in str(err.value)


def test_rule_files_have_the_case_files_alias_and_size_limits(rules_copy):
    (rules_copy / "rules" / "bomb.yaml").write_text(billion_laughs("rules: *j\n"), encoding="utf-8")
    report = check_rules(rules_copy)
    assert any("aliases in this file expand" in str(m) for m in report.errors)
    (rules_copy / "rules" / "bomb.yaml").write_text("rules: []\n# " + "x" * MAX_FILE_BYTES + "\n", encoding="utf-8")
    report = check_rules(rules_copy)
    assert any("the limit is 5242880 bytes" in str(m) for m in report.errors)


def test_a_hostile_folder_with_two_jobs_ranks_the_good_case_and_gives_one_row_each(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SEED, folder / "good.yaml")
    files = {
        "surrogate.json": '{"id": "\\ud800"}',
        "surrogate.yaml": 'id: "\\udfff"\n',
        "digits.yaml": "id: " + "1" * 4301 + "\n",
        "base60.yaml": "id: b60\npatient: {age: 1:05}\n",
        "dup.yaml": "id: dup\nstains: {alk: positive, desmin: diffuse, alk: negative}\n",
        "dup.json": '{"id": "dj", "stains": {"alk": "positive", "alk": "negative"}}',
        "bomb.yaml": billion_laughs(),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    for jobs in ("1", "2"):
        result = run("batch", "in", "-j", jobs, "--format", "jsonl", "-q", "--no-suggest", cwd=tmp_path)
        clean(result)
        assert result.returncode == 1
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        by_file = {Path(r["file"]).name: r for r in rows if "summary" not in r}
        assert set(by_file) == {"good.yaml", *files}
        assert not by_file.pop("good.yaml").get("errors")
        assert all(len(r["errors"]) == 1 for r in by_file.values()), by_file


# ================================================================ 3. where output goes


@pytest.mark.parametrize(
    "option,fmt",
    [
        ("--output", "csv"),
        pytest.param("--summary", "csv", marks=pytest.mark.slow),
        pytest.param("--output", "jsonl", marks=pytest.mark.slow),
        pytest.param("--summary", "jsonl", marks=pytest.mark.slow),
    ],
)
def test_an_output_path_that_is_an_input_is_a_usage_error_and_nothing_is_written(tmp_path, option, fmt):
    shutil.copy(SEED, tmp_path / "case.yaml")
    os.symlink("case.yaml", tmp_path / "link.yaml")
    (tmp_path / "cases").mkdir()
    shutil.copy(SEED, tmp_path / "cases" / "inner.yaml")
    before = {p: p.read_bytes() for p in (tmp_path / "case.yaml", tmp_path / "cases" / "inner.yaml")}
    for inputs, target in (
        (["case.yaml"], "case.yaml"),
        (["case.yaml"], "link.yaml"),
        (["link.yaml"], "case.yaml"),
        (["cases"], "cases/inner.yaml"),
        (["cases", "case.yaml"], "./case.yaml"),
    ):
        result = run("batch", *inputs, option, target, "--format", fmt, cwd=tmp_path)
        clean(result)
        assert result.returncode == 2 and "one of the inputs" in result.stderr, (inputs, target, result.stderr)
        assert {p: p.read_bytes() for p in before} == before
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def test_earlier_results_inside_the_input_folder_may_be_written_again(tmp_path):
    (tmp_path / "c").mkdir()
    shutil.copy(SEED, tmp_path / "c" / "case.yaml")
    for _ in range(2):
        result = run("batch", "c", "--format", "json", "-o", "c/results.json", "--summary", "c/summary.json", "-q", cwd=tmp_path)
        clean(result)
        assert result.returncode == 0, result.stderr
    for _ in range(2):
        result = run("batch", "c/case.yaml", "--format", "csv", "-o", "c/results.csv", "-q", cwd=tmp_path)
        clean(result)
        assert result.returncode == 0, result.stderr


def test_rules_test_save_may_not_name_a_case_file(tmp_path):
    shutil.copy(SEED, tmp_path / "case.yaml")
    before = (tmp_path / "case.yaml").read_bytes()
    result = run("rules", "test", "--cases", "case.yaml", "--save", "case.yaml", cwd=tmp_path)
    clean(result)
    assert result.returncode == 2 and (tmp_path / "case.yaml").read_bytes() == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_pipes_and_devices_are_error_rows_as_files_sheets_and_in_folders(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SEED, folder / "good.yaml")
    for name in ("pipe.csv", "pipe.yaml", "pipe.tsv"):
        os.mkfifo(folder / name)
    os.symlink("/dev/zero", folder / "zero.csv")
    os.symlink("/dev/zero", folder / "zero.yaml")
    for args in (["in"], ["in/pipe.csv", "in/zero.csv", "in/pipe.yaml", "in/good.yaml"]):
        result = run("batch", *args, "--format", "jsonl", "-q", cwd=tmp_path, timeout=60)
        clean(result)
        rows = [json.loads(line) for line in result.stdout.splitlines() if '"summary"' not in line]
        bad = [r for r in rows if r.get("errors")]
        assert all("not a regular file" in r["errors"][0]["message"] for r in bad)
        assert len(bad) == len(rows) - 1 and result.returncode == 1


def test_the_size_limit_counts_the_bytes_read_not_the_size_reported(tmp_path, monkeypatch):
    path = tmp_path / "big.yaml"
    path.write_text("id: big\nnotes: '" + "x" * MAX_FILE_BYTES + "'\n", encoding="utf-8")
    real = os.fstat

    def fstat(fd):  # a file that reports size 0, as /proc files do
        info = real(fd)
        return os.stat_result(
            (
                info.st_mode,
                info.st_ino,
                info.st_dev,
                info.st_nlink,
                info.st_uid,
                info.st_gid,
                0,
                int(info.st_atime),
                int(info.st_mtime),
                int(info.st_ctime),
            )
        )

    monkeypatch.setattr(os, "fstat", fstat)
    monkeypatch.setattr(os, "stat", lambda *a, **k: fstat(os.open(a[0], os.O_RDONLY)))
    with pytest.raises(ReadError, match="the limit is 5242880 bytes"):
        read_text(path)


# ================================================================ 4. what output carries

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(text=ANY_TEXT)
def test_no_text_reaches_a_spreadsheet_as_a_formula_or_a_terminal_as_a_control(text):
    cell = spreadsheet_cell(text)
    if cell.startswith(FORMULA_PREFIXES):
        float(cell)  # only a number may start with + or -
    assert not UNSAFE.search(cell.replace("\t", "").replace("\n", "")) or cell.startswith("'")
    one_line = printable(text, newlines=False)
    assert not UNSAFE.search(one_line) and "\n" not in one_line and "\t" not in one_line
    assert not UNSAFE.search(printable(text).replace("\n", "").replace("\t", ""))
    md = markdown_text(text)
    assert "<" not in md and ">" not in md and not re.search(r"(?<!\\)\|", md.replace("\\\\", ""))
    assert spreadsheet_cell(12.5) == 12.5 and spreadsheet_cell("-0.25") == "-0.25"


@settings(max_examples=2000, deadline=None, derandomize=True)
@given(text=st.one_of(ANY_TEXT, st.text(st.characters(max_codepoint=0x7F), max_size=40)))
def test_json_text_escapes_what_a_terminal_acts_on_and_means_the_same_data(text):
    encoded = json.dumps({"v": text}, ensure_ascii=False)
    shown = json_text(encoded)
    assert json.loads(shown) == {"v": text}
    assert not re.search("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]", shown)
    assert shown == encoded or not encoded.isascii() or "\x7f" in encoded


def test_json_text_byte_test_lets_no_unsafe_character_through():
    """Every code point, beside a non-ASCII character (which takes json_text past its ASCII test to the UTF-8
    byte test), comes out as the full character-class substitution writes it: escaped exactly when unsafe."""
    unsafe = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
    for code in [*range(0x80, 0x10000), 0x10FFFF]:
        text = f'"\u2248{chr(code)}"'
        want = unsafe.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
        assert json_text(text) == want, hex(code)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(values=st.lists(ANY_TEXT, min_size=4, max_size=4))
def test_every_text_cell_of_the_csv_output_is_inert(values):
    case_id, file, message, band = values
    out = io.StringIO()
    writer = CsvWriter(out, 3)
    writer.case(BatchRow(case_id, file, None, leaders=[("ilms", 0.5)], labels=["ilms"], band=band))
    writer.case(BatchRow(case_id, file, 3, errors=[Problem(message, file=file, case=case_id, path="id")]))
    for row in list(csv.reader(io.StringIO(out.getvalue())))[1:]:
        for cell in row:
            assert not cell.startswith(FORMULA_PREFIXES) or re.fullmatch(r"[+-]?[0-9.]+", cell), row
            assert not UNSAFE.search(cell.replace("\n", "").replace("\t", "")), row


HOSTILE_TEXT = [
    "\x1b[2J",
    "\x1b]0;pwned\x07",
    "\x9b31m",
    "\u202eevil",
    "[/]",
    "[bold]x[/bold]",
    "[@click=app.quit]x",
    "[clone D33]",
    "<script>alert(1)</script>",
    '=HYPERLINK("http://e/?"&A2,"x")',
    "+cmd",
    "@SUM(A1)",
    "-2+3",
]


def test_case_data_in_every_output_format_is_shown_not_acted_on(tmp_path):
    for n, text in enumerate(HOSTILE_TEXT):
        name = f"{n}{text[:12]}".replace("/", "_") + ".yaml"
        data = {"id": f"c{n}", "notes": text, "stains": {"desmin": "positive"}}
        (tmp_path / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        (tmp_path / f"bad{n}.yaml").write_text(
            yaml.safe_dump({"id": text, "stains": {text: "positive"}}, allow_unicode=True), encoding="utf-8"
        )
    names = sorted(p.name for p in tmp_path.iterdir())
    outputs = [run("eval", *names, "--format", f, cwd=tmp_path) for f in ("text", "json", "markdown", "report")]
    outputs += [run("batch", ".", "--format", f, cwd=tmp_path) for f in ("table", "csv", "jsonl", "markdown")]
    for result in outputs:
        clean(result)
        for stream in (result.stdout, result.stderr):
            assert not UNSAFE.search(stream), repr(UNSAFE.search(stream))
    csv_rows = list(csv.reader(io.StringIO(outputs[5].stdout)))
    for row in csv_rows[1:]:
        assert not any(c.startswith(("=", "+", "@")) for c in row), row
    markdown = outputs[2].stdout + outputs[7].stdout
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown


def test_rules_test_and_diff_show_file_names_and_baselines_escaped(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x\x1b]0;PWNED\x07[red]q.yaml").write_text("id: [", encoding="utf-8")
    shutil.copy(SEED, tmp_path / "c" / "seed.yaml")
    clean(run("rules", "test", "--cases", "c", "--save", "base.json", cwd=tmp_path))
    baseline = json.loads((tmp_path / "base.json").read_text(encoding="utf-8"))
    baseline["rules"]["hash"] = "h\x1b[5m"
    for entry in baseline["cases"].values():
        entry["top"] = "EVIL\x1b[2J[reverse]x"
        entry["rank_of_expected"] = 9
    baseline["cases"]["zz\x1b]0;P"] = dict(next(iter(baseline["cases"].values())))
    (tmp_path / "base.json").write_text(json.dumps(baseline), encoding="utf-8")
    for args in (
        ["rules", "test", "--cases", "c"],
        ["rules", "test", "--cases", "c", "--baseline", "base.json"],
        ["rules", "diff", str(load_knowledge().directory), str(load_knowledge().directory), "--cases", "c"],
    ):
        result = run(*args, cwd=tmp_path, env={"COLUMNS": "200"})
        clean(result)
        assert not UNSAFE.search(result.stdout + result.stderr), (args, result.stdout[-800:])


def test_markup_in_rule_titles_is_shown_literally_and_controls_are_refused(rules_copy, tmp_path):
    path = rules_copy / "rules" / "immunohistochemistry.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('title: "Desmin positive"', 'title: "Desmin positive [/] [clone D33] [@click=app.quit]x"', 1), encoding="utf-8"
    )
    result = run("eval", str(SEED), "--rules", str(rules_copy), "--format", "text", env={"COLUMNS": "300"})
    clean(result)
    assert result.returncode == 0 and "[clone D33]" in result.stdout and "[/]" in result.stdout
    path.write_text(text.replace('title: "Desmin positive"', 'title: "Desmin \\e[2J positive"', 1), encoding="utf-8")
    report = check_rules(rules_copy)
    assert any("control character" in str(m) and "title" in str(m) for m in report.errors)


def test_the_tui_shows_hostile_text_as_text(knowledge, tmp_path):
    from textual.widgets import Static

    from tests.test_tui import drive, make_app, settle, shown_text, type_text

    path = tmp_path / "x.yaml"
    path.write_text(
        yaml.safe_dump({"id": "tui", "notes": "\x1b[2J [@click=app.quit]x [/]", "stains": {"desmin": "positive"}}, allow_unicode=True),
        encoding="utf-8",
    )
    app = make_app(knowledge, path, prebuild=True)

    async def script(pilot):
        from textual.widgets import TextArea

        from ddx.tui.form import field_id

        notes = app.query_one(f"#{field_id('notes')}", TextArea).text
        assert "\\x1b[2J" in notes and not UNSAFE.search(notes)
        await pilot.press("f7")
        await type_text(pilot, "[@click=app.quit]x[/] positive")
        await pilot.press("enter")
        await settle(app, pilot)
        error = app.query_one("#stains-error", Static)
        assert error.display and "unknown stain '@click" in shown_text(error)
        app.notify("[@click=app.quit]x \x1b]0;t\x07 [/]", title="[b]")
        await settle(app, pilot)
        shown = [n.message for n in app._notifications]
        assert "[@click=app.quit]x \\x1b]0;t\\x07 [/]" in shown
        assert app.is_running

    drive(app, script)


# ================================================================ 5. rule sets that pass the editor


def _nest(depth: int) -> dict:
    node: dict = {"stains.desmin": "positive"}
    for level in range(depth):
        node = {("all" if level % 2 else "any"): [node, {"stains.sma": "positive"}]}
    return node


def test_the_editor_saves_only_what_rules_check_accepts(rules_copy):
    path = rules_copy / "rules" / "zz-deep.yaml"
    path.write_text("rules: []\n", encoding="utf-8")
    _, digest = read_file(path)
    rule = {
        "id": "test.deep",
        "title": "deep",
        "status": "active",
        "when": _nest(30),
        "rationale": "test",
        "source": "Test A. J Test. 2020;1:1",
        "caveat": "deep",
    }
    text = yaml.safe_dump({"rules": [rule]}, sort_keys=False)
    with pytest.raises(EditError, match="error"):
        save_file(path, text, digest, check_dir=rules_copy)
    assert path.read_text(encoding="utf-8") == "rules: []\n"
    load_knowledge(rules_copy)  # every later run still loads


@pytest.mark.parametrize("examples", [15, pytest.param(60, marks=pytest.mark.slow)])
def test_settings_that_load_always_rank(tmp_path_factory, examples):
    from ddx.analysis import Analyzer
    from ddx.knowledge import packaged_rules_dir

    @settings(max_examples=examples, deadline=None, derandomize=True)
    @given(
        low=st.floats(-1, 2),
        high=st.floats(-1, 2),
        shrinkage=st.floats(-1, 1e9),
        strength=st.floats(-1, 1e9),
        temperature=st.floats(-1, 2),
        suggestions=st.integers(-5, 100),
    )
    def ranks(low, high, shrinkage, strength, temperature, suggestions):
        root = tmp_path_factory.mktemp("rules")
        shutil.copytree(packaged_rules_dir(), root, dirs_exist_ok=True)
        data = yaml.safe_load((root / "settings.yaml").read_text(encoding="utf-8"))
        data["clamp"] = [low, high]
        data.setdefault("evidence", {}).update(shrinkage=shrinkage, estimate_strength=strength)
        data.setdefault("calibration", {})["temperature"] = temperature
        data["suggestions"] = suggestions
        (root / "settings.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        try:
            k = load_knowledge(root)
        except DdxError:
            return
        with Analyzer(k, "python") as analyzer:
            analysis = analyzer.analyze(k.case_schema.validate(yaml.safe_load(SEED.read_text(encoding="utf-8"))))
        total = sum(r.probability for r in analysis.ranking)
        assert abs(total - 1) < 1e-9 and all(0 <= r.probability <= 1 for r in analysis.ranking)

    ranks()


def test_saves_of_the_same_version_are_serialised_and_one_wins(rules_copy):
    path = rules_copy / "rules" / "zz-race.yaml"
    path.write_text("rules: []\n", encoding="utf-8")
    _, digest = read_file(path)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def save(n: int) -> None:
        barrier.wait()
        try:
            save_file(path, f"rules: []\n# edit {n}\n", digest)
            outcomes.append("saved")
        except ChangedOnDisk:
            outcomes.append("refused")

    threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["saved"]


# ================================================================ 6. cost that grows with the rule base


@pytest.mark.slow
def test_repeated_warnings_are_folded_into_one_per_group(rules_copy):
    """Each rule copied eight times: one warning per group of identical rules, not one per pair (was 28 each)."""
    plain = len(check_rules(rules_copy).warnings)
    copies(rules_copy, 8)
    report = check_rules(rules_copy)
    assert not report.errors
    rules = len(report.knowledge.active_rules)
    redundant = [m for m in report.warnings if m.problem.code == "redundant"]
    assert len(report.warnings) - plain <= rules / 4, len(report.warnings)
    assert redundant and all("and 3 more" in m.problem.message for m in redundant)
    scoring = [m for m in redundant if "only show a caveat" not in m.problem.message]
    assert scoring and all("counted 8 times" in m.problem.message for m in scoring)


def test_a_twin_with_other_weights_is_still_checked_for_double_counting(rules_copy):
    """Grouping rules by condition must not hide a twin whose weights differ from its group's first rule."""
    default = {"p": 0.3, "estimate": True, "reason": "test"}
    low = {"p": 0.05, "estimate": True, "reason": "test"}
    high = {"p": 0.9, "estimate": True, "reason": "test"}

    def rule(rid, when, favoured):
        return {
            "id": rid,
            "title": rid,
            "status": "active",
            "when": when,
            "rationale": "test",
            "source": "Test A. J Test. 2020;1:1",
            "default": low,
            "likelihood": {slug: (high if slug in favoured else default) for slug in favoured | {"ilms"}},
        }

    rules = [
        rule("t.a", {"patient.age": {"lt": 40}}, {"erms", "arms"}),
        rule("t.b", {"patient.age": {"lt": 40}}, {"ups", "lms"}),
        rule("t.c", {"all": [{"patient.age": {"gte": 1}}, {"patient.age": {"lt": 40.5}}]}, {"ups", "lms"}),
    ]
    (rules_copy / "rules" / "zz-twins.yaml").write_text(yaml.safe_dump({"rules": rules}, sort_keys=False), encoding="utf-8")
    report = check_rules(rules_copy, engine=False)
    messages = [m.problem.message for m in report.warnings]
    assert any("t.b and t.c fire together" in m for m in messages), messages
    assert any("t.a and t.b fire on exactly the same findings with different weights" in m for m in messages)


# ================================================================ 7. patient data at rest


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_drafts_and_their_folder_are_private_whatever_the_umask(tmp_path):
    (tmp_path / "drafts").mkdir(mode=0o755)
    os.chmod(tmp_path / "drafts", 0o755)
    old = os.umask(0)
    try:
        store = DraftStore(tmp_path)
        path = store.save({"id": "p", "notes": "patient data"}, None)
        path = store.save({"id": "p", "notes": "patient data, again"}, None)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


# ================================================================ 8. small exits


def test_an_ascii_terminal_gets_escapes_not_a_traceback(tmp_path):
    for args in (
        ["eval", str(SEED)],
        ["eval", str(SEED), "--format", "report"],
        ["batch", str(SEED)],
        ["rules", "show", "ihc.desmin"],
        ["eval", "missing-ü.yaml"],
    ):
        result = run(*args, env={"PYTHONIOENCODING": "ascii"}, cwd=tmp_path)
        clean(result)
        assert result.returncode in (0, 1), result.stderr


@pytest.mark.parametrize("delay", [0.15, 0.3, 0.6, 1.2])
def test_ctrl_c_at_any_moment_is_one_line_and_exit_130(tmp_path, delay):
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # else the child ignores Ctrl-C (tests/conftest.py)
    proc = subprocess.Popen(
        [*DDX, "batch", str(SEED), "--format", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and "Aborted!" not in err and "KeyboardInterrupt" not in err, err
    assert proc.returncode in (0, 130)
    if proc.returncode == 130:
        assert err.strip().splitlines()[-1].startswith("ddx: interrupted")


_FINALISER = """
import sys
from ddx import _entry
_entry.install_interrupt_handlers()

class Dropped:
    def __del__(self):
        raise {exc}  # as a Ctrl-C landing in a finaliser or a weakref callback: Python can only print it

Dropped()
print("ran on")
"""


def test_ctrl_c_where_python_can_only_print_it_still_ends_the_command():
    # seen in CI: Ctrl-C 0.3 s into `ddx batch` landed in the import system's weakref callback, was printed as
    # "Exception ignored in ..." with a traceback, and the batch ran on to the end
    proc = subprocess.run(
        [sys.executable, "-c", _FINALISER.format(exc="KeyboardInterrupt")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 130 and "ran on" not in proc.stdout
    assert proc.stderr.strip() == "ddx: interrupted"
    # any other exception there is printed as Python prints it, and the program goes on
    other = subprocess.run(
        [sys.executable, "-c", _FINALISER.format(exc="ValueError('x')")], capture_output=True, text=True, timeout=60
    )
    assert other.returncode == 0 and "ran on" in other.stdout and "Exception ignored in" in other.stderr


def test_a_worker_that_cannot_start_is_one_clear_error(knowledge, monkeypatch, capfd):
    def broken(self, *args, **kwargs):
        raise RuntimeError("no engine here")

    monkeypatch.setattr(Processor, "__init__", broken)  # inherited by the forked workers
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        _init_worker(str(knowledge.directory), knowledge.content_hash, BatchOptions())  # a worker ignores Ctrl-C
    finally:  # ... this process must not, nor its children after it; nor keep a worker's SIGTERM
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    with pytest.raises(EngineError, match="could not start: RuntimeError: no engine here"):
        _work([])
    raws = [RawCase("f", 0, "a", {"id": "a"})]
    with pytest.raises(EngineError, match="could not start"):
        list(_Pool(knowledge, BatchOptions(suggest=False), 2).run(raws))
    assert "Traceback" not in capfd.readouterr().err
