"""Cases from workbooks (``.xlsx``, ``.xls``, ``.ods``), read with python-calamine.

Every visible worksheet of a workbook is a source of cases, read as its CSV
export would be: the first row that holds anything is the header (dotted
column names, an ``id`` column), every row under it is one case, and each row
goes through the same row -> case mapping as a CSV row
(:func:`ddx.loader.sheet_row`, :meth:`ddx.loader.RawCase.mapping`). An empty
sheet is skipped; hidden sheets (lists for drop-downs, lookup tables) and chart
sheets are not read; a sheet with a header but no rows, or without an ``id``
column, is an error row of its own.

Cells become the text a CSV export holds (:func:`cell_text`): numbers in full
(``35.0`` -> ``35``, ``70.5`` -> ``70.5``; a number in a text column such as an
id, ``12``, is the text ``"12"``), dates as ISO dates (``2026-03-14``),
booleans as ``TRUE`` / ``FALSE``, empty cells (and cells holding a spreadsheet
error such as ``#N/A``, which calamine reads as empty) not given. A formula
cell is read as the value the spreadsheet program saved with it; no formula is
ever evaluated here.

A location names the file, the sheet and the row number the spreadsheet shows
(:class:`ddx.errors.Problem`: ``sheet``, ``line``), and validation adds the
column letter of the key path (:func:`ddx.loader.column_of`).
"""

from __future__ import annotations

import datetime
import io
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from ddx.errors import Problem
from ddx.knowledge.vocabulary import Vocabulary
from ddx.loader import (
    RESULT_SHEET,
    RawCase,
    _check_header,
    _file_problem,
    column_letter,
    column_specs,
    header_names,
    list_columns,
    number_columns,
    sheet_row,
)
from ddx.yamlio import ReadError, read_bytes

MAX_WORKBOOK_BYTES = 100 * 1024 * 1024  # a workbook file larger than this is refused (it is read whole)
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024  # .xlsx and .ods are zip archives: their parts unpacked, at most
_EXACT_INTEGERS = 2**53  # a float below this that is a whole number is written as one

CellValue = int | float | str | bool | datetime.date | datetime.time | datetime.datetime | datetime.timedelta


def cell_text(value: CellValue | None) -> str:
    """A workbook cell as the text of the sheet's CSV export (the case contract reads text).

    ``None`` and ``""`` -> ``""``; ``True`` -> ``"TRUE"``; ``35.0`` -> ``"35"`` (a whole number below
    2**53 is written without a decimal point), ``70.5`` -> ``"70.5"`` (the shortest text that reads back
    as the same float); a date -> ``"2026-03-14"``, a date and time -> ``"2026-03-14 09:30:00"``, a time ->
    ``"09:30:00"``, a duration as Python writes it; text as it is.
    """
    if type(value) is str:  # most cells: text, or "" for an empty cell
        return value
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: a bool is an int
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT_INTEGERS:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime.datetime):  # before date: a datetime is a date
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _read_workbook(path: Path) -> CalamineWorkbook:
    """The workbook at ``path`` (a regular file of at most :data:`MAX_WORKBOOK_BYTES`), read whole.

    Raises :class:`ReadError` for a pipe or a device, a file too large, a zip archive that unpacks to
    more than :data:`MAX_UNPACKED_BYTES`, and a file calamine cannot read (damaged, encrypted, or not
    a workbook at all).
    """
    data = read_bytes(path, MAX_WORKBOOK_BYTES)
    if len(data) > MAX_WORKBOOK_BYTES:
        raise ReadError(
            f"workbook is larger than {MAX_WORKBOOK_BYTES // (1024 * 1024)} MiB; save the cases as "
            "CSV (read row by row, without a limit) or split the workbook"
        )
    if data.startswith(b"PK\x03\x04"):  # .xlsx and .ods: refuse an archive that unpacks to gigabytes
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, ValueError, OSError):
            unpacked = 0  # calamine says what is wrong with it
        if unpacked > MAX_UNPACKED_BYTES:
            raise ReadError(
                f"workbook unpacks to {unpacked:,} bytes, more than the limit of "
                f"{MAX_UNPACKED_BYTES:,}; save the cases as CSV or split the workbook"
            )
    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(data))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: B036 - a Rust panic in the reader arrives as a BaseException
        raise ReadError(
            f"cannot read the workbook ({_reason(exc)}); is it damaged, password-protected, "
            "or another kind of file with a workbook's name?"
        ) from None


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def iter_workbook(path: Path, vocab: Vocabulary) -> Iterator[RawCase]:
    """One raw case per data row of every visible worksheet of a workbook, sheet by sheet.

    A workbook that cannot be read is one error row; so is each sheet that cannot be read, that has
    no ``id`` column, or that has a header but no case rows. An empty sheet is skipped; a workbook
    without a sheet that holds anything is an error row.
    """
    file = str(path)
    try:
        book = _read_workbook(path)
    except ReadError as exc:
        yield _file_problem(file, path.name, str(exc))
        return
    with book:
        found = False
        result = False  # a sheet of ddx's own batch output was met
        for meta in book.sheets_metadata:
            if meta.visible != SheetVisibleEnum.Visible or meta.typ != SheetTypeEnum.WorkSheet:
                continue
            sheet = meta.name
            try:
                rows = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # noqa: B036 - as in _read_workbook
                found = True
                yield _file_problem(file, f"{path.name}[{sheet}]", f"cannot read the sheet ({_reason(exc)})", sheet=sheet)
                continue
            if result and sheet == SUMMARY_SHEET and not _has_id_column(rows):
                continue  # the summary sheet of ddx's own workbook, said once with its rows' sheet
            for raw in _sheet_cases(file, path.name, sheet, rows, vocab):
                found = True
                result = result or any(p.message == RESULT_SHEET for p in raw.problems)
                yield raw
        if not found:
            yield _file_problem(file, path.name, "the workbook holds no case: every visible sheet is empty")


def _sheet_problem(file: str, name: str, sheet: str, message: str, row: int) -> RawCase:
    raw = _file_problem(file, f"{name}[{sheet}]", message, row, sheet)
    raw.line = row  # the error row's line: the header row
    return raw


def _sheet_cases(file: str, name: str, sheet: str, rows: Sequence[Sequence[CellValue]], vocab: Vocabulary) -> Iterator[RawCase]:
    """The cases of one sheet; ``rows`` start at row 1, column A (calamine's ``skip_empty_area=False``)."""
    header_at = next((i for i, row in enumerate(rows) if any(cell_text(v).strip() for v in row)), None)
    if header_at is None:
        return  # an empty sheet is not a source
    columns = header_names([cell_text(v) for v in rows[header_at]])
    problem = _check_header(columns)
    if problem:
        if problem.startswith("no 'id' column"):
            problem += (
                "; every visible sheet of a workbook is read as cases: hide a sheet that holds "
                "something else (notes, lists for drop-downs)"
            )
        yield _sheet_problem(file, name, sheet, problem, header_at + 1)
        return
    specs = column_specs(columns, list_columns(vocab), number_columns(vocab))
    id_column = columns.index("id")
    percent = [i for i, (_, parts, _, _) in enumerate(specs) if len(parts) == 3 and parts[0] == "stains" and parts[2] == "percent"]
    index = 0
    for at in range(header_at + 1, len(rows)):
        values = rows[at]
        cells = [v if type(v) is str else cell_text(v) for v in values]
        if not "".join(cells).strip():
            continue
        here = at + 1
        label = f"{name}[{sheet}]:{here}"
        fractions = [i for i in percent if i < len(values) and _is_fraction(values[i])]
        said = [cells[i] for i in fractions]
        for i in fractions:  # said below, and left out of the row so that its other problems are said beside it
            cells[i] = ""
        # decimal commas: a number typed as text in a European locale ("70,5") in a number column is 70.5
        raw = sheet_row(file, index, label, here, cells, specs, id_column, decimal_comma=True, sheet=sheet)
        case_id = cells[id_column].strip() if id_column < len(cells) else ""
        raw.read_problems = [
            Problem(
                f"{text} is a fraction in a percentage column: a cell formatted as a percentage holds "
                f"40 % as 0.4; write the percentage as a number (40), or as text for a value below 1 % ('0.5 %')",
                file=file,
                case=case_id or None,
                path=columns[i],
                line=here,
                sheet=sheet,
                column=column_letter(i),
            )
            for i, text in zip(fractions, said, strict=True)
        ]
        yield raw
        index += 1
    if index == 0:
        yield _sheet_problem(file, name, sheet, "the sheet has a header row but no case rows", header_at + 1)


def _has_id_column(rows: Sequence[Sequence[CellValue]]) -> bool:
    """Whether a sheet's first row that holds anything names an ``id`` column (a sheet of cases)."""
    header = next((row for row in rows if any(cell_text(v).strip() for v in row)), None)
    return header is not None and "id" in header_names([cell_text(v) for v in header])


def _is_fraction(value: CellValue) -> bool:
    """A number strictly between 0 and 1: in ``stains.X.percent``, most likely a cell formatted as a
    percentage (40 % is stored as 0.4), which the reader cannot tell from a typed 0.4."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1


BATCH_SHEET = "ddx batch"  # the sheet ddx batch --format xlsx writes its rows to
SUMMARY_SHEET = "summary"  # and the sheet of its summary


def is_batch_result(path: Path, header_start: Sequence[str]) -> bool:
    """Whether ``path`` is a workbook ``ddx batch --format xlsx`` wrote: its first sheet is
    :data:`BATCH_SHEET` and its first row starts with ``header_start``. Never raises."""
    try:
        book = _read_workbook(path)
    except (ReadError, OSError):
        return False
    try:
        with book:
            if not book.sheet_names or book.sheet_names[0] != BATCH_SHEET:
                return False
            first = book.get_sheet_by_name(BATCH_SHEET).to_python(skip_empty_area=False, nrows=1)
    except Exception:  # noqa: BLE001 - anything unreadable is not an earlier result
        return False
    return bool(first) and [cell_text(v) for v in first[0][: len(header_start)]] == list(header_start)
