"""Reading cases: YAML or JSON files (one case, or a ``cases:`` list per file),
CSV / TSV spreadsheets and workbooks (``.xlsx``, ``.xls``, ``.ods``; every
visible sheet) with one case per row and dotted column names.

Reading and validating are two steps. :func:`iter_raw` turns a file into raw
case mappings (:class:`RawCase`), streaming spreadsheet rows one at a time;
:func:`validate_raw` checks one against the vocabulary. A file that cannot be
read and a case that does not validate each carry their problems; one bad
case never stops the others.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml
from pydantic import ValidationError

from ddx.errors import DdxError, Problem
from ddx.knowledge import Knowledge
from ddx.knowledge.case import CASE_ID_PATTERN, KEY_WORDS, LIST_SEPARATOR, LIST_SEPARATORS, CaseModel, problems_from_validation
from ddx.knowledge.vocabulary import Vocabulary, fold
from ddx.yamlio import (
    REPEATED_KEY,
    ReadError,
    atomic_output,
    atomic_write_text,
    key_line,
    load_data,
    load_noting_duplicates,
    open_regular,
    strip_lines,
)

if TYPE_CHECKING:
    from ddx.entry import CaseEntry

CASE_SUFFIXES = {".yaml", ".yml", ".json"}
SHEET_SUFFIXES = {".csv", ".tsv"}
WORKBOOK_SUFFIXES = {".xlsx", ".xls", ".ods"}  # read by ddx.workbook (python-calamine), every visible sheet
INPUT_SUFFIXES = CASE_SUFFIXES | SHEET_SUFFIXES | WORKBOOK_SUFFIXES
_BAD_BYTES = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)
_NOT_UTF8 = "not UTF-8 text; save the sheet as 'CSV UTF-8'"
ColumnSpec = tuple[str, list[str], bool, bool]  # a sheet column: name, its dotted parts, holds a list, a number
_ID_TEXT = re.compile(CASE_ID_PATTERN)
_DECIMAL_COMMA = re.compile(r"^([-+]?\d+),(\d+)(\s*%)?$")  # 70,5 / 12,5 % in a sheet separated by ";"


@dataclass
class RawCase:
    """One case as read from its file, before validation."""

    file: str
    index: int  # position in the file (0-based; a sheet's data rows count from 0)
    label: str  # the case id, or a stand-in naming the file (and row)
    data: Any = None
    line: int | None = None  # the line in the file, where known (spreadsheet rows; a workbook's row number)
    problems: list[Problem] = field(default_factory=list)
    # problems found in reading that leave the case to be validated too (a key given twice): reported with
    # what validation finds, so one run names every problem of the case
    read_problems: list[Problem] = field(default_factory=list)
    # a spreadsheet row is kept as its cells until validation (done in a worker process)
    cells: list[str] | None = None
    columns: list[ColumnSpec] | None = None
    id_column: int = -1
    decimal_comma: bool = False  # the sheet is separated by ";": 70,5 in a number column is 70.5
    sheet: str | None = None  # the sheet's name, for a row of a workbook (.xlsx, .xls, .ods)

    @property
    def case_id(self) -> str | None:
        """The id as written (numbers as text), or None."""
        if self.cells is not None:
            cell = self.cells[self.id_column] if 0 <= self.id_column < len(self.cells) else ""
            return cell.strip() or None
        value = self.data.get("id") if isinstance(self.data, dict) else None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        return str(value).strip() or None

    def mapping(self) -> Any:
        """The case as a mapping (a sheet row is converted here; may raise ValueError)."""
        if self.cells is not None and self.columns is not None:
            return _row_to_case(self.columns, self.cells, self.decimal_comma)
        return self.data


@dataclass
class LoadedCase:
    """A case read and validated: the case, or the problems that kept it from being one, with where it came
    from (file, position, line, workbook sheet)."""

    file: str
    index: int  # position in the file (0 for single-case files)
    id: str  # the case id, or the file name when unknown
    case: CaseModel | None = None
    problems: list[Problem] = field(default_factory=list)
    line: int | None = None
    sheet: str | None = None  # the workbook sheet the case is a row of

    @property
    def ok(self) -> bool:
        return self.case is not None and not self.problems


def _file_problem(file: str, label: str, message: str, line: int | None = None, sheet: str | None = None) -> RawCase:
    return RawCase(file, 0, label, sheet=sheet, problems=[Problem(message, file=file, line=line, sheet=sheet)])


RESULT_KEYS = frozenset({"ranking", "rules_version"})  # keys of ``ddx eval --format json`` output, never of a case
RESULT_COLUMNS = frozenset({"status", "leader_1"})  # columns of ``ddx batch --format csv/xlsx`` output, never of a case sheet
RESULT_SHEET = "this is a ddx result (it has 'status' and 'leader_1' columns), not a case sheet: leave results out of the inputs"


def iter_raw(path: str | Path, vocab: Vocabulary) -> Iterator[RawCase]:
    """Yield every case in one file, unvalidated (spreadsheets row by row)."""
    file = str(path)
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in SHEET_SUFFIXES:
        yield from iter_sheet(p, vocab)
        return
    if suffix in WORKBOOK_SUFFIXES:
        from ddx.workbook import iter_workbook  # python-calamine is imported only when a workbook is read

        yield from iter_workbook(p, vocab)
        return
    if suffix not in CASE_SUFFIXES and p.exists():
        yield _file_problem(file, p.name, f"not a case file (expected {', '.join(sorted(INPUT_SUFFIXES))})")
        return
    duplicates: list[tuple[int | None, int, str]] = []  # (case index, line, message) of each key given twice
    lines: list[int | None] = []
    try:
        data = load_data(p)
    except ReadError as exc:
        noted = load_noting_duplicates(p) if REPEATED_KEY in str(exc) else None
        if noted is None:
            yield _file_problem(file, p.name, str(exc), exc.line)
            return
        data, duplicates = noted  # a key given twice refuses its case only, with the case's other problems
        outside = [(line, message) for owner, line, message in duplicates if owner is None]
        if outside:  # outside every case ('cases:' given twice): the file cannot be read
            yield _file_problem(file, p.name, f"YAML error: {outside[0][1]}", outside[0][0])
            return
        lines = _case_lines(data) or []
        data = strip_lines(data)
    except FileNotFoundError:
        yield _file_problem(file, p.name, "no such file")
        return
    if isinstance(data, dict) and "cases" in data and "id" not in data:
        items = data["cases"]
        if not isinstance(items, list):
            yield _file_problem(file, p.name, "'cases' must be a list of cases")
            return
        if not items:
            yield _file_problem(file, p.name, "'cases' is empty")
            return
    elif data is None:
        yield _file_problem(file, p.name, "file is empty")
        return
    else:
        items = [data]
    multi = len(items) > 1
    if multi and not lines:
        lines = _item_lines(p, len(items))
    for index, item in enumerate(items):
        raw = RawCase(file, index, p.name + (f"#{index + 1}" if multi else ""), item, line=lines[index] if multi and lines else None)
        raw.label = raw.case_id or raw.label
        raw.read_problems = [
            Problem(f"YAML error: {message}", file=file, case=raw.label, line=line)
            for owner, line, message in duplicates
            if owner == index
        ]
        if isinstance(item, dict) and RESULT_KEYS <= item.keys():
            # ddx's own output saved beside the cases: said once, and its id is not taken from the real case
            raw.problems = [
                Problem(
                    "this is a ddx result (it has 'ranking' and 'rules_version'), not a case: leave results out of the inputs",
                    file=file,
                    case=raw.label,
                    line=raw.line,
                )
            ]
        yield raw


def _item_lines(path: Path, count: int) -> list[int | None]:
    """The line where each case of a YAML file's ``cases:`` list starts (``[]`` for JSON, or when the file
    cannot be read again): an error or a duplicate id in a file of several cases says where it is. The file
    is parsed a second time, with lines, only when it holds several cases."""
    if path.suffix.lower() not in (".yaml", ".yml"):
        return []
    try:  # not kept (_lines_of): most files have no problem to place, and the data would outlive the file's run
        data = load_data(path, with_lines=True)
    except (ReadError, OSError):
        return []
    lines = _case_lines(data)
    return lines if lines is not None and len(lines) == count else []


def _case_lines(data: Any) -> list[int | None] | None:
    """The start line of each case of a ``cases:`` list read with lines (None when there is no such list)."""
    items = data.get("cases") if isinstance(data, dict) and "id" not in data else None
    if not isinstance(items, list):
        return None
    return [item.get("__line__") if isinstance(item, dict) else None for item in items]


def readable_expected(raw: RawCase, knowledge: Knowledge) -> str | None:
    """The ``expected`` diagnosis of a case that failed validation, when it is itself a valid term (an error
    row keeps it, so a failing case still shows what it was, in ``ddx eval`` as in ``ddx batch``), else None."""
    try:
        data = raw.mapping()
    except ValueError:
        return None
    said = data.get("expected") if isinstance(data, dict) else None
    terms = knowledge.case_schema.entities
    if not isinstance(said, str) or terms is None:
        return None
    try:
        return terms.normalize(said)
    except ValueError:
        return None


def validate_raw(raw: RawCase, knowledge: Knowledge, *, fast: bool = True) -> LoadedCase:
    """Validate one raw case against the knowledge base's case schema (``fast``: False when the sheet row is
    known not to take the fast path, :meth:`ddx.knowledge.case.CaseSchema.fast_row_facts` having declined it)."""
    if raw.problems:
        return LoadedCase(raw.file, raw.index, raw.label, problems=list(raw.problems), line=raw.line, sheet=raw.sheet)
    if fast and raw.cells is not None and raw.columns is not None and not raw.read_problems:  # plainly canonical: no model
        built = knowledge.case_schema.fast_row(raw.columns, raw.cells, raw.decimal_comma)
        if built is not None:
            return LoadedCase(raw.file, raw.index, built.id, case=built, line=raw.line, sheet=raw.sheet)
    try:
        data = raw.mapping()
    except ValueError as exc:
        return LoadedCase(
            raw.file,
            raw.index,
            raw.label,
            line=raw.line,
            sheet=raw.sheet,
            problems=[Problem(str(exc), file=raw.file, case=raw.label, line=raw.line, sheet=raw.sheet)],
        )
    try:
        case = knowledge.case_schema.validate(data)
    except ValidationError as exc:
        problems = problems_from_validation(exc, knowledge.case_schema, file=raw.file, case=raw.label)
        for problem in problems:
            problem.line = raw.line
            if (
                raw.cells is not None
                and problem.message.startswith("unknown key")
                and problem.message.endswith("at the top level")
                and (not problem.suggestions or fold(problem.path or "") in KEY_WORDS)
            ):  # no misspelling of a key: a column kept for oneself ('Comments', 'PMID')
                problem.message += f" (a column of your own, not to be read: start its name with {OWN_COLUMN!r})"
            if raw.sheet is not None:  # a workbook row: the sheet, and the column the key path was read from
                problem.sheet = raw.sheet
                problem.column = column_of(raw.columns or [], problem.path)
        if raw.cells is None:  # a YAML case: each problem at the line of its key, where it can be found
            _key_lines(raw, problems)
            # in the order of the file's lines, as an editor shows them (the model reports fields in its own order)
            problems.sort(key=lambda p: p.line if p.line is not None else 0)
        return LoadedCase(raw.file, raw.index, raw.label, problems=raw.read_problems + problems, line=raw.line, sheet=raw.sheet)
    if raw.read_problems:
        return LoadedCase(raw.file, raw.index, raw.label, problems=list(raw.read_problems), line=raw.line, sheet=raw.sheet)
    return LoadedCase(raw.file, raw.index, case.id, case=case, line=raw.line, sheet=raw.sheet)


def _key_lines(raw: RawCase, problems: list[Problem]) -> None:
    """Set each problem of a YAML case to the line of the key it is about (``stains.desmin``: the line of
    ``desmin:`` under ``stains:``; the nearest enclosing key the file has, when a key was written as a synonym
    or not at all). The file is read a second time, with lines, only when one of its cases has problems (once
    for all of them); a file that cannot be, or whose case no longer reads as it did (JSON, or changed since),
    leaves the lines as they were."""
    if Path(raw.file).suffix.lower() not in (".yaml", ".yml") or not any(p.path for p in problems):
        return
    data = _lines_of(Path(raw.file))
    if isinstance(data, dict) and "cases" in data and "id" not in data:
        items = data["cases"]
        data = items[raw.index] if isinstance(items, list) and 0 <= raw.index < len(items) else None
    if not isinstance(data, dict) or strip_lines(data) != raw.data:  # not read, or changed since: lines unknown
        return
    for problem in problems:
        mapping: Any = data
        for part in (problem.path or "").split("."):
            part = part.split("[", 1)[0]  # "cell_types[1]": the list's key (its items share its line or follow it)
            if not isinstance(mapping, dict):
                break
            key = part if part in mapping else next((k for k in mapping if isinstance(k, str) and fold(k) == fold(part)), None)
            line = key_line(mapping, key) if key is not None else None
            if line is None:
                break
            problem.line = line
            mapping = mapping[key]


# the last YAML file read with lines: (path, inode, mtime, ctime, size) and its data. One tuple, read and
# replaced whole, so threads (the TUI's checks) never see one file's key with another's data.
_LINES: tuple[tuple[str, int, int, int, int], Any] | None = None


def _lines_of(path: Path) -> Any:
    """A YAML file read with line markers (None when it cannot be read), kept for the next case of the same
    unchanged file: a file of many failing cases is read with lines once, not once a case."""
    try:
        st = path.stat()
    except OSError:
        return None
    global _LINES
    key = (str(path), st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)  # ctime: a rewrite that kept the mtime
    last = _LINES
    if last is not None and last[0] == key:
        return last[1]
    try:
        data = load_data(path, with_lines=True)
    except (ReadError, OSError):
        data = None
    _LINES = (key, data)
    return data


def iter_cases(path: str | Path, knowledge: Knowledge) -> Iterator[LoadedCase]:
    """Yield every case in one file, validated against the knowledge base."""
    for raw in iter_raw(path, knowledge.vocab):
        yield validate_raw(raw, knowledge)


def validate_case(raw: Any, knowledge: Knowledge, *, file: str = "<input>", index: int = 0, multi: bool = False) -> LoadedCase:
    """Validate one case mapping (as held in memory, e.g. by the TUI)."""
    item = RawCase(file, index, Path(file).name + (f"#{index + 1}" if multi else ""), raw)
    item.label = item.case_id or item.label
    return validate_raw(item, knowledge)


def read_cases(paths: Iterable[str], vocab: Vocabulary, *, exclude: Iterable[str] = ()) -> Iterator[RawCase]:
    """Every case under ``paths`` (files as given, folders recursively: :func:`expand_paths`), in order, not
    yet validated (:func:`validate_raw`). The one way ddx reads its inputs — ``ddx eval``, ``ddx batch``,
    ``ddx rules test`` and the accuracy scoring all read through it — with one policy:

    * a file or a case that cannot be read is a :class:`RawCase` carrying its problems (one bad case never
      stops the others);
    * a folder that holds no case files is one such error row, naming the folder;
    * a case whose id an earlier case of the same run used is an error naming where the id was first used;
      it is not ranked (ids key every output: a batch line, a baseline, a scored case);
    * ``exclude``: paths skipped (the run's own output files, when they sit inside an input folder).
    """
    return _unique_ids(_inputs(paths, vocab, exclude=exclude))


def _inputs(paths: Iterable[str], vocab: Vocabulary, *, exclude: Iterable[str] = ()) -> Iterator[RawCase]:
    skip = {Path(os.path.realpath(p)) for p in exclude}  # realpath never raises (a link loop)
    for given in paths:
        p = Path(given)
        found = False
        for path in expand_paths([given]):
            if Path(os.path.realpath(path)) in skip:
                continue
            found = True
            yield from iter_raw(path, vocab)
        if p.is_dir() and not found:
            yield RawCase(
                str(p), 0, p.name, problems=[Problem(f"folder holds no case files ({', '.join(sorted(INPUT_SUFFIXES))})", file=str(p))]
            )


def _unique_ids(raws: Iterable[RawCase]) -> Iterator[RawCase]:
    from ddx.seenids import SeenIds

    seen = SeenIds()  # ~16 bytes a case (ddx/seenids.py)
    for raw in raws:
        case_id = None if raw.problems else raw.case_id
        if case_id is not None:
            first = seen.first(case_id, raw.file, raw.line, raw.sheet)
            if first is not None:
                column = None
                if raw.sheet is not None and raw.columns is not None and 0 <= raw.id_column < len(raw.columns):
                    column = column_letter(raw.id_column)
                raw.problems = [
                    Problem(
                        f"duplicate case id {case_id!r}: already used in {first}",
                        file=raw.file,
                        case=case_id,
                        path="id",
                        line=raw.line,
                        sheet=raw.sheet,
                        column=column,
                    )
                ]
        yield raw


def expand_paths(paths: Iterable[str]) -> Iterator[Path]:
    """Files as given; folders recursively (case files and sheets only, sorted)."""
    for given in paths:
        p = Path(given)
        if p.is_dir():
            for child in sorted(p.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(p).parts)
                # "~$name.xlsx": the owner file Microsoft Office keeps beside an open workbook, not a workbook
                if hidden or child.suffix.lower() not in INPUT_SUFFIXES or child.name.startswith("~$"):
                    continue
                # a case file, or a link to one that cannot be followed (a loop, a missing target):
                # that one becomes an error row instead of vanishing silently. Links to folders are
                # not followed, so a link loop cannot make the walk endless.
                if not child.is_dir():  # a pipe or a device here becomes an error row too
                    yield child
        else:
            yield p


# --- spreadsheets -------------------------------------------------------------------------------


def list_columns(vocab: Vocabulary) -> set[str]:
    """Column names whose cells hold a list of terms."""
    out = {"clinical.symptoms"}
    out |= {f"morphology.{name}" for name, mf in vocab.morphology.items() if mf.kind == "list"}
    return out


def _delimiter(suffix: str, header_line: str) -> str:
    if suffix == ".tsv":
        return "\t"
    # spreadsheet programs in many locales save "CSV" with semicolons
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def number_columns(vocab: Vocabulary) -> set[str]:
    """Column names whose cells hold a number other than a stain's percentage (``stains.X.percent``,
    whatever the stain's name)."""
    return {path for path, kind in vocab.finding_paths().items() if kind == "number" and not path.startswith("stains.")}


def _is_number_column(parts: list[str], numbers: set[str] | frozenset[str]) -> bool:
    return ".".join(parts) in numbers or (len(parts) == 3 and parts[0] == "stains" and parts[2] == "percent")


MAX_LINE_CHARS = 1024 * 1024  # a sheet line longer than this is refused (a row is never this long)
MAX_ROW_LINES = 1000  # lines one row may span (a quoted cell with line breaks); more is a quote left open


class _BadRow(Exception):
    """A row the sheet reader cannot read (a line too long, a quote left open)."""


class _SheetLines:
    """A sheet's lines for the csv reader, numbered from 1.

    The lines handed out since the current row began are kept (at most
    :data:`MAX_ROW_LINES` lines and :data:`MAX_LINE_CHARS` characters), so a row
    that cannot be read is dropped and reading goes on at the line after the
    row's first line (:meth:`drop_row`): a quote left open costs its own row,
    not the rest of the sheet. Nothing else is held.
    """

    def __init__(self, handle: TextIO):
        self.handle = handle
        self.number = 0  # the last line read from the file
        self.row: list[tuple[int, str | None]] = []  # the current row's lines (None: a line too long)
        self.chars = 0
        self.replay: list[tuple[int, str | None]] = []  # lines to hand out again, last first

    def __iter__(self) -> _SheetLines:
        return self

    def __next__(self) -> str:
        if self.replay:
            number, line = self.replay.pop()
        else:
            line = self.handle.readline(MAX_LINE_CHARS + 1)
            if not line:
                raise StopIteration
            self.number += 1
            number = self.number
            if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
                while (rest := self.handle.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
                    pass  # the rest of the line is skipped, however long
                line = None
        self.row.append((number, line))
        if line is None:
            raise _BadRow(f"a line longer than {MAX_LINE_CHARS:,} characters")
        self.chars += len(line)
        if len(self.row) > MAX_ROW_LINES or self.chars > MAX_LINE_CHARS:
            raise _BadRow(
                f"a quoted cell that starts in this row runs on for more than {len(self.row) - 1:,} lines; a quote left open?"
            )
        return line

    @property
    def first(self) -> int:
        """The line the current row began on."""
        return self.row[0][0] if self.row else self.number + 1

    def row_done(self) -> None:
        self.row.clear()
        self.chars = 0

    def drop_row(self) -> tuple[int, str]:
        """Give up the current row: its first line (number and text) is returned and the lines
        after it are read again."""
        number, line = self.row[0] if self.row else (self.number, "")
        self.replay.extend(reversed(self.row[1:]))
        self.row_done()
        return number, line or ""


_CSV_WORDS = (
    ("unexpected end of data", "a quote opened in this row is never closed"),
    ("expected after", 'a quote inside a cell must be doubled ("") or the whole cell quoted'),
    ("field larger than field limit", "a cell is longer than the limit of {limit:,} characters"),
)


def _row_error(exc: Exception) -> str:
    """A csv module error in words, for a row that cannot be read."""
    text = str(exc)
    for words, meaning in _CSV_WORDS:
        if words in text:
            return meaning.format(limit=csv.field_size_limit())
    return text


def iter_sheet(path: Path, vocab: Vocabulary) -> Iterator[RawCase]:
    """One raw case per data row of a CSV/TSV file; streams, never holds the sheet.

    A row that cannot be read as CSV (a quote left open, a stray quote, a line over
    :data:`MAX_LINE_CHARS`) becomes one error row, and reading goes on at the next line.
    In a sheet separated by ``;`` a decimal comma in a number column (``70,5``) is read as a
    decimal point.
    """
    file = str(path)
    try:
        handle = open(open_regular(path), encoding="utf-8-sig", errors="surrogateescape", newline="")
    except ReadError as exc:
        yield _file_problem(file, path.name, str(exc))
        return
    with handle:
        try:
            first = handle.readline(MAX_LINE_CHARS + 1)
            handle.seek(0)
            delimiter = _delimiter(path.suffix.lower(), first)
            lines = _SheetLines(handle)
            header = next(csv.reader(lines, delimiter=delimiter, strict=True), None)
        except (UnicodeDecodeError, csv.Error, _BadRow) as exc:
            yield _file_problem(file, path.name, f"cannot read the header row: {_row_error(exc)}", 1)
            return
        if not header or not any(cell.strip() for cell in header):
            yield _file_problem(file, path.name, "the sheet is empty (no header row)", 1)
            return
        lines.row_done()
        columns = header_names(header)
        problem = _NOT_UTF8 if _BAD_BYTES.search("".join(columns)) else _check_header(columns)
        if problem:
            yield _file_problem(file, path.name, problem, 1)
            return
        specs = column_specs(columns, list_columns(vocab), number_columns(vocab))
        id_column = columns.index("id")
        decimal_comma = delimiter == ";"
        index = 0
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                if index == 0:
                    yield _file_problem(file, path.name, "the sheet has a header row but no case rows", 1)
                return
            except (UnicodeDecodeError, csv.Error, _BadRow) as exc:
                here, text = lines.drop_row()
                case_id = _id_of_line(text, delimiter, id_column)
                yield RawCase(
                    file,
                    index,
                    case_id or f"{path.name}:{here}",
                    line=here,
                    problems=[
                        Problem(
                            f"unreadable row: {_row_error(exc)}; this row is not read (the rest of the sheet is)",
                            file=file,
                            case=case_id,
                            line=here,
                        )
                    ],
                )
                index += 1
                reader = csv.reader(lines, delimiter=delimiter, strict=True)  # the old one is mid-row
                continue
            here = lines.first
            lines.row_done()
            if not "".join(row).strip():
                continue
            yield sheet_row(file, index, f"{path.name}:{here}", here, row, specs, id_column, decimal_comma)
            index += 1


def sheet_row(
    file: str,
    index: int,
    label: str,
    here: int,
    row: list[str],
    specs: list[ColumnSpec],
    id_column: int,
    decimal_comma: bool = False,
    sheet: str | None = None,
) -> RawCase:
    """One data row of a sheet (CSV/TSV, or a workbook's sheet) as a raw case, or as an error row.

    ``label`` stands for the case while its id is unknown; ``here`` is the row's line (CSV) or row
    number (workbook). The row is kept as its cells and made a case mapping at validation
    (:meth:`RawCase.mapping`, in a worker process); a row with more cells than the header has
    columns, or with text that was not UTF-8, is an error row.
    """
    if len(row) > len(specs) and not "".join(row[len(specs) :]).strip():
        row = row[: len(specs)]  # empty trailing cells, as spreadsheets export them
    message = None
    if len(row) > len(specs):
        message = f"row has {len(row)} cells but the header has {len(specs)} columns"
    elif _BAD_BYTES.search("".join(row)):
        message = _NOT_UTF8
    if message:
        cell = row[id_column].strip() if id_column < len(row) else ""
        case_id = cell if cell and not _BAD_BYTES.search(cell) else None
        return RawCase(
            file,
            index,
            case_id or label,
            line=here,
            sheet=sheet,
            problems=[Problem(message, file=file, case=case_id, line=here, sheet=sheet)],
        )
    raw = RawCase(
        file, index, label, line=here, cells=row, columns=specs, id_column=id_column, decimal_comma=decimal_comma, sheet=sheet
    )
    raw.label = raw.case_id or label
    return raw


def column_letter(index: int) -> str:
    """A 0-based column index as a spreadsheet names it: 0 -> ``A``, 25 -> ``Z``, 26 -> ``AA``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_of(specs: list[ColumnSpec], path: str | None) -> str | None:
    """The column (its letter, columns counted from A) that a problem's key path was read from.

    The column named by the path (``stains.desmni``; ``morphology.cell_types[1]`` is its list
    column), else the nearest column above it (``stains.alk`` for ``stains.alk.result``), else the
    columns under it (``stains.alk`` given only as ``stains.alk.pattern``: ``D``; several: ``D, E``).
    None when no column holds it (a key no column gives, such as a missing ``id``).
    """
    if not path:
        return None
    key = re.sub(r"\[\d+\]", "", path)
    names = {name: i for i, (name, _, _, _) in enumerate(specs) if name}
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        found = names.get(".".join(parts[:end]))
        if found is not None:
            return column_letter(found)
    under = [column_letter(i) for name, i in names.items() if name.startswith(key + ".")]
    return ", ".join(under) or None


def _id_of_line(text: str, delimiter: str, id_column: int) -> str | None:
    """The case id in the first line of a row that could not be read, where one can be made out."""
    try:
        cells = next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter), [])
    except csv.Error:
        return None
    cell = cells[id_column].strip() if id_column < len(cells) else ""
    return cell if cell and _ID_TEXT.match(cell) else None


OWN_COLUMN = "#"  # a column whose name starts with it is the sheet owner's (a PMID, a remark): never read


def header_names(cells: Sequence[str]) -> list[str]:
    """A sheet's column names as read: stripped and lower case (the keys of a case are lower case; a stain's
    name is folded anyway), so that ``Stains.Desmin`` and ``ID`` are the columns they look like; a column
    whose name starts with :data:`OWN_COLUMN` is named "" (not read, as a column without a name)."""
    return ["" if cell.strip().startswith(OWN_COLUMN) else cell.strip().lower() for cell in cells]


def _check_header(columns: list[str]) -> str | None:
    """The problem of a header row (``columns`` as :func:`header_names` gives them), or None: a column given
    twice, no ``id`` column (with the column that may mean it), or ddx's own result sheet."""
    seen: dict[str, int] = {}
    for number, name in enumerate(columns, start=1):
        if not name:
            continue
        if name in seen:
            return f"column {name!r} appears twice (columns {seen[name]} and {number})"
        seen[name] = number
    if not seen:  # "# exported from ..." on the first line, or a row of own columns
        return (
            "no column to read: every cell of the first row is empty or starts with '#'; the first row must name "
            "the columns (remove a comment line above them)"
        )
    if RESULT_COLUMNS <= seen.keys():
        return RESULT_SHEET
    if "id" not in seen:
        shown = ", ".join(repr(c) for c in columns[:8] if c) + (", ..." if len(columns) > 8 else "")
        near = next((c for c in seen if KEY_WORDS.get(fold(c)) == "id"), None)
        hint = f"; did you mean 'id' for the column {near!r}?" if near else ""
        return f"no 'id' column (every case needs one){hint}; the columns are {shown}"
    return None


def row_to_case(
    columns: list[str], row: list[str], lists: set[str], numbers: set[str] | None = None, decimal_comma: bool = False
) -> dict[str, Any]:
    """A nested case mapping from one row: ``stains.alk.pattern`` -> stains: {alk: {pattern: ...}}.

    Empty cells are not given (unknown, not negative). ``stains.X`` is the
    stain's result (or shorthand) and may be combined with ``stains.X.pattern``
    and the other parts. Cells of list columns are split on ``;``, ``,`` or ``|``.
    With ``decimal_comma`` (a sheet separated by ``;``), a number written with a
    decimal comma (``70,5``) in a number column (``numbers``, and every
    ``stains.X.percent``) is given with a decimal point.
    """
    return _row_to_case(column_specs(columns, lists, numbers or set()), row, decimal_comma)


def column_specs(columns: list[str], lists: set[str], numbers: set[str]) -> list[ColumnSpec]:
    """A sheet's column specs (:data:`ColumnSpec`) from its header: each column's dotted parts, whether it
    holds a list (``lists``, :func:`list_columns`) and whether a number (``numbers``, :func:`number_columns`)."""
    specs = []
    for name in columns:
        parts = name.split(".")
        specs.append((name, parts, name in lists, _is_number_column(parts, numbers)))
    return specs


def _row_to_case(specs: list[ColumnSpec], row: list[str], decimal_comma: bool = False) -> dict[str, Any]:
    case: dict[str, Any] = {}
    for (name, parts, is_list, is_number), cell in compress(zip(specs, row), row):  # the cells not empty
        value: Any = cell.strip()
        if not value or not name:
            continue
        if is_list:
            value = [v for v in LIST_SEPARATORS.split(value) if v] if LIST_SEPARATOR.search(value) else [value]
        elif is_number and decimal_comma:
            value = _DECIMAL_COMMA.sub(r"\1.\2\3", value)
        if len(parts) == 2:  # section.key, the common column: put here unless _put has something to say
            node = case.get(parts[0])
            if node is None:
                case[parts[0]] = {parts[1]: value}
                continue
            if isinstance(node, dict) and not isinstance(node.get(parts[1]), dict):
                node[parts[1]] = value
                continue
        _put(case, parts, value, name)
    return case


def _put(case: dict[str, Any], parts: list[str], value: Any, column: str) -> None:
    node = case
    for depth, key in enumerate(parts[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            if parts[0] == "stains" and depth == 1:  # stains.alk given, then stains.alk.pattern
                child = node[key] = {"result": child}
            else:
                raise ValueError(f"column {column!r} conflicts with column {'.'.join(parts[: depth + 1])!r}")
        node = child
    last = parts[-1]
    if isinstance(node.get(last), dict):
        if parts[0] == "stains" and len(parts) == 2:  # stains.alk.pattern given, then stains.alk
            node[last]["result"] = value
            return
        raise ValueError(f"column {column!r} conflicts with the columns under it")
    node[last] = value


def flatten_case(case: dict[str, Any]) -> dict[str, str]:
    """The inverse of :func:`row_to_case`: one spreadsheet row (dotted column -> cell text)."""
    row: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):
            row[prefix] = "; ".join(str(v) for v in value)
        elif value is not None:
            row[prefix] = str(value)

    walk("", case)
    return row


def write_sheet(cases: Iterable[dict[str, Any]], path: Path, *, delimiter: str = ",") -> int:
    """Write case mappings as a sheet (columns: the union of their flattened keys, id first)."""
    rows = [flatten_case(c) for c in cases]
    columns = sorted({k for r in rows for k in r} - {"id"})
    with atomic_output(path) as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow(["id", *columns])
        for r in rows:
            writer.writerow([r.get("id", ""), *(r.get(c, "") for c in columns)])
    return len(rows)


# --- writing cases (the read side above) -------------------------------------------------------


class _CaseDumper(yaml.SafeDumper):
    """Block mappings; lists of plain terms on one line (``cell_types: [spindle, epithelioid]``)."""


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flow = all(isinstance(v, (str, int, float)) and len(str(v)) < 40 for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_CaseDumper.add_representer(list, _represent_list)


def case_to_yaml(data: dict[str, Any], *, header: str | None = None) -> str:
    """YAML text for a case mapping (block style, key order kept, Unicode as is)."""
    text = yaml.dump(data, Dumper=_CaseDumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
    return (f"# {header}\n" if header else "") + text


@dataclass(frozen=True)
class SavedCase:
    """What :func:`save_case` wrote: the file, the earlier version kept (None: there was none, or it held the
    same bytes), and whether the file's own layout was kept (comments, order, quoting)."""

    path: Path
    kept: Path | None
    in_place: bool


def save_case(entry: CaseEntry, path: str | os.PathLike[str], *, in_place: bool = False) -> SavedCase:
    """Write the case being entered (:class:`ddx.entry.CaseEntry`) as ``path`` (.yaml or .yml) atomically: the
    previous file stays intact until the new one is complete, and its bytes are first kept in
    ``<folder>/.history/<file name>/`` (:func:`ddx.yamlio.keep_version`). ``in_place``: ``path`` is the file the
    case was opened from, so only what changed is written into it, its comments and layout kept
    (:func:`ddx.casewrite.merged_case_text`; the whole case is written when that cannot be done exactly).
    Raises :class:`DdxError` for another suffix, OSError when the file or its history cannot be written."""
    from ddx.casewrite import merged_case_text
    from ddx.yamlio import keep_version

    path = Path(path)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise DdxError(f"{path}: save cases as .yaml or .yml")
    try:
        before: bytes | None = path.read_bytes()
    except FileNotFoundError:
        before = None
    text = None
    if in_place and before is not None:
        try:
            text = merged_case_text(before.decode("utf-8"), entry)
        except UnicodeDecodeError:
            text = None
    merged = text is not None
    if text is None:
        text = entry.to_yaml()
    kept = keep_version(path, before) if before is not None and before != text.encode("utf-8") else None
    atomic_write_text(path, text)
    entry.mark_saved()
    return SavedCase(path, kept, merged)
