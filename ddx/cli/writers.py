"""Writers for batch results: jsonl, json, csv, xlsx, markdown and a rich table.

Each writer gets the results one at a time (``case``) and the summary last
(``end``). jsonl, json, csv and markdown write each case as it comes and keep
nothing; xlsx streams its rows to a temporary file and assembles the workbook
at the end (constant memory); the rich table holds one short row per case,
since a table's column widths depend on every row (use jsonl or csv for very
large runs).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, TextIO

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ddx.batch import BatchRow
from ddx.engine import engine_label
from ddx.knowledge import packaged_rules_dir
from ddx.ranking import probability_text, range_text, rate_text
from ddx.render import markup_text
from ddx.safetext import json_text, markdown_text, spreadsheet_cell

FORMATS = ("table", "jsonl", "json", "csv", "xlsx", "markdown")


class Writer(Protocol):
    """A batch output format: takes each case's row as it is ranked, then the summary."""

    def case(self, result: BatchRow) -> None: ...

    def end(self, summary: dict[str, Any] | None) -> None:
        """Finish the output; ``summary`` is None when it goes to its own file."""


def _error_text(result: BatchRow) -> str:
    return "; ".join(str(p) for p in result.errors)


def _rank(result: BatchRow) -> str:  # as the table and markdown show it
    if result.scored is None:
        return ""
    return str(result.scored.rank) if result.scored.rank is not None else "-"


class JsonlWriter:
    """One JSON object per line, in input order; the summary as a last ``{"summary": ...}`` line."""

    def __init__(self, out: TextIO):
        self.out = out

    def case(self, result: BatchRow) -> None:
        assert result.json is not None
        self.out.write(result.json)  # made safe for a terminal where it was built (ddx.batch.json_line)
        self.out.write("\n")

    def end(self, summary: dict[str, Any] | None) -> None:
        if summary is not None:
            self.out.write(json_text(json.dumps({"summary": summary}, ensure_ascii=False, separators=(",", ":"))) + "\n")


class JsonWriter:
    """``{"cases": [...], "summary": {...}}``, written as it goes."""

    def __init__(self, out: TextIO):
        self.out = out
        self.first = True
        out.write('{"cases":[\n')

    def case(self, result: BatchRow) -> None:
        assert result.json is not None
        if not self.first:
            self.out.write(",\n")
        self.first = False
        self.out.write(result.json)

    def end(self, summary: dict[str, Any] | None) -> None:
        self.out.write("\n]")
        if summary is not None:
            self.out.write(',\n"summary":' + json_text(json.dumps(summary, ensure_ascii=False, separators=(",", ":"))))
        self.out.write("}\n")


CSV_HEADER_START = ("id", "file", "line", "status", "expected", "rank_of_expected")
# after the columns above (added later, so appended): the first next test's gain, cost class and turnaround,
# and whether no test separates the leaders; then the sheet of a workbook row
NEXT_TEST_COLUMNS = ["next_test_gain_bits", "next_test_cost_class", "next_test_turnaround", "no_separating_test"]
SOURCE_COLUMNS = ["sheet"]
# then what the first leader's lead over the second rests on (log10): cited figures, estimates (ddx.ranking.LeadBasis)
LEAD_COLUMNS = ["lead_cited", "lead_estimated"]
# then the defining tests the confidence band asks for to confirm the leader (JSON ``confidence.confirm_tests``):
# the test to order when no test separates the leaders
CONFIRM_COLUMNS = ["confirm_tests"]


def csv_header(top: int) -> list[str]:
    """The columns of the csv and xlsx formats, for ``top`` leaders (docs/case-format.md, "Batch CSV columns")."""
    header = list(CSV_HEADER_START)
    for i in range(1, top + 1):
        header += [f"leader_{i}", f"probability_{i}"]
    header += ["leader_subtype", "band", "next_test", "caveats", "unused_findings", "outside_differential", "error_keys", "errors"]
    return header + NEXT_TEST_COLUMNS + SOURCE_COLUMNS + LEAD_COLUMNS + CONFIRM_COLUMNS


def probability_cell(p: float) -> float:
    """A probability as a csv/xlsx number: 4 decimals, never shown as certain (0.9999 at most, 0.0001 at least,
    as the text's '> 99.9 %' and '< 0.1 %'): a rounded 1.0000 would read as a certain diagnosis."""
    return min(max(round(p, 4), 0.0001), 0.9999)


def result_cells(result: BatchRow, top: int) -> list[str | int | float]:
    """One case's row under :func:`csv_header`, typed: the line and the rank of the expected diagnosis as
    integers, probabilities (:func:`probability_cell`), the next test's gain (bits) and the lead's cited and
    estimated parts (log10) as floats rounded to 4 decimals, the rest as
    text (``""``: empty). Not yet escaped for a spreadsheet (:func:`ddx.safetext.spreadsheet_cell`)."""
    rank: str | int = ""
    if result.scored is not None:
        rank = result.scored.rank if result.scored.rank is not None else "-"
    row: list[str | int | float] = [
        result.id,
        result.file,
        result.line or "",
        "ok" if result.ok else "error",
        result.expected or "",
        rank,
    ]
    for i in range(top):
        if i < len(result.leaders):
            slug, p = result.leaders[i]
            row += [slug, probability_cell(p)]
        else:
            row += ["", ""]
    row += [
        result.leader_subtype,
        result.band or "",
        result.next_test or "",
        "; ".join(result.caveats),
        "; ".join(result.unused),
        result.outside or "",
        "; ".join(p.path for p in result.errors if p.path),
        _error_text(result),
    ]
    flag = "" if result.no_separating_test is None else ("yes" if result.no_separating_test else "no")
    row += [
        round(result.next_test_gain, 4) if result.next_test_gain is not None else "",
        result.next_test_cost or "",
        result.next_test_turnaround or "",
        flag,
    ]
    row += [result.sheet or ""]
    row += [round(x, 4) if x is not None else "" for x in (result.lead_cited, result.lead_estimated)]
    row += [result.confirm_tests or ""]
    return row


class CsvWriter:
    """One row per case: leaders and probabilities, band, next test, errors (for spreadsheets)."""

    def __init__(self, out: TextIO, top: int):
        self.top = top
        self.writer = csv.writer(out, lineterminator="\n")
        self.writer.writerow(csv_header(top))

    def case(self, result: BatchRow) -> None:
        row = [f"{cell:.4f}" if isinstance(cell, float) else cell for cell in result_cells(result, self.top)]
        self.writer.writerow([spreadsheet_cell(cell) for cell in row])

    def end(self, summary: dict[str, Any] | None) -> None:
        pass  # a CSV holds one table; the summary goes to the terminal or --summary


XLSX_MAX_ROWS = 1_048_576  # rows of one worksheet (Excel's limit); more cases continue on a further sheet
XLSX_MAX_CELL = 32_767  # characters of one cell (Excel's limit)
_XLSX_WIDTHS = {"id": 24, "file": 24, "band": 28, "next_test": 24, "errors": 60, "unused_findings": 30}


class XlsxWriter:
    """``--format xlsx``: the csv format's rows in a workbook (XlsxWriter, streamed: constant memory).

    Sheet ``ddx batch`` holds one row per case under the header of :func:`csv_header`, header row and id
    column frozen, with a filter on the header. Probabilities are number cells shown as percentages (the
    value is the csv's, rounded to 4 decimals), the line and rank are whole numbers, the gain a number;
    every text cell is written as a string (never a formula), escaped as the csv is
    (:func:`ddx.safetext.spreadsheet_cell`: ``'=cmd``), and cut at Excel's 32,767 characters with a note.
    Error rows are rows like the others (status ``error``). Past 1,048,575 cases the rows go on in sheet
    ``ddx batch (2)``. A summary, when given, is a second sheet ``summary`` (its scalar entries:
    counts, scores, provenance). The workbook is written to ``out`` (binary) by :meth:`end`; until
    then the rows wait in a private temporary folder, removed by :meth:`end` or :meth:`discard`.
    """

    def __init__(self, out: BinaryIO, top: int):
        import tempfile

        import xlsxwriter

        from ddx.workbook import BATCH_SHEET

        self.top = top
        self.name = BATCH_SHEET
        self.header = csv_header(top)
        self.tmp = tempfile.TemporaryDirectory(prefix="ddx-xlsx-")  # 0700: the rows are patient data
        self.book = xlsxwriter.Workbook(
            out,
            {
                "constant_memory": True,
                "tmpdir": self.tmp.name,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        self.bold = self.book.add_format({"bold": True})
        self.percent = self.book.add_format({"num_format": "0.00%"})
        self.decimals = self.book.add_format({"num_format": "0.0000"})
        self.sheets = 0
        self.sheet: Any = None
        self.row = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        if self.sheet is not None:
            self.sheet.autofilter(0, 0, self.row, len(self.header) - 1)
        self.sheets += 1
        self.sheet = self.book.add_worksheet(self.name if self.sheets == 1 else f"{self.name} ({self.sheets})")
        self.sheet.freeze_panes(1, 1)
        for col, name in enumerate(self.header):
            self.sheet.set_column(col, col, _XLSX_WIDTHS.get(name, 14 if name.startswith("probability_") else 12))
            self.sheet.write_string(0, col, name, self.bold)
        self.row = 0

    def case(self, result: BatchRow) -> None:
        if self.row + 1 >= XLSX_MAX_ROWS:
            self._new_sheet()
        self.row += 1
        for col, value in enumerate(result_cells(result, self.top)):
            self._cell(self.row, col, value, self.percent if self.header[col].startswith("probability_") else self.decimals)

    def _cell(self, row: int, col: int, value: Any, number_format: Any = None) -> None:
        if value == "" or value is None:
            return
        if isinstance(value, bool):
            self.sheet.write_string(row, col, "yes" if value else "no")
        elif isinstance(value, int):
            self.sheet.write_number(row, col, value)
        elif isinstance(value, float):
            self.sheet.write_number(row, col, value, number_format)
        else:
            text = spreadsheet_cell(str(value))
            if len(text) > XLSX_MAX_CELL:
                note = f" ... [cut: {len(text):,} characters; the jsonl format has them all]"
                text = text[: XLSX_MAX_CELL - len(note)] + note
            self.sheet.write_string(row, col, text)

    def end(self, summary: dict[str, Any] | None) -> None:
        self.sheet.autofilter(0, 0, self.row, len(self.header) - 1)
        if summary is not None:
            from ddx.workbook import SUMMARY_SHEET

            sheet = self.sheet = self.book.add_worksheet(SUMMARY_SHEET)
            sheet.set_column(0, 0, 20)
            sheet.set_column(1, 1, 40)
            row = 0
            for key, value in summary.items():
                if isinstance(value, (dict, list)):
                    continue  # per-entity scores, confusion, calibration: --summary FILE.json or FILE.md
                sheet.write_string(row, 0, key, self.bold)
                if key in ("top1", "top3") and isinstance(value, (int, float)):  # fractions, shown as percentages
                    sheet.write_number(row, 1, value, self.percent)
                else:
                    self._cell(row, 1, value, self.decimals)
                row += 1
            sheet.write_string(
                row + 1,
                0,
                "Decision support only: the rankings are not diagnoses. Per-entity "
                "scores, confusion and calibration: ddx batch --summary FILE.md",
            )
        from xlsxwriter.exceptions import FileCreateError

        try:
            self.book.close()
        except FileCreateError as exc:  # xlsxwriter wraps the OSError of the write (a reader that left: EPIPE)
            cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else None
            if isinstance(cause, BrokenPipeError):
                raise cause from None  # `ddx batch --format xlsx | head -c 10`: exit 141, as the other formats
            raise cause or OSError(str(exc)) from None  # "cannot read or write a file", never a traceback
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the temporary rows (after :meth:`end`, or instead of it when the run is interrupted)."""
        for sheet in self.book.worksheets():
            handle = getattr(sheet, "row_data_fh", None)
            if handle is not None and not handle.closed:
                handle.close()
        self.tmp.cleanup()


def _md(text: str) -> str:
    return markdown_text(text)


class MarkdownWriter:
    """The markdown batch output: one table row a case (leaders and band), cells escaped, then the summary."""

    def __init__(self, out: TextIO, top: int):
        self.out = out
        self.top = top
        self.n = 0
        names = " | ".join(["leader"] + [f"#{i}" for i in range(2, top + 1)])
        out.write("# ddx batch\n\n| # | case | expected | " + names + " | band |\n")
        out.write("|---:|---|---|" + "---|" * top + "---|\n")

    def case(self, result: BatchRow) -> None:
        self.n += 1
        if not result.ok:
            cells = [f"**error**: {_md(_error_text(result))}"] + [""] * (self.top - 1) + [""]
        else:
            cells = []
            for i in range(self.top):
                if i < len(result.leaders):
                    slug, p = result.leaders[i]
                    label = result.labels[i] if i < len(result.labels) else slug
                    mark = " ✓" if i == 0 and result.scored is not None and result.scored.top1 else ""
                    cells.append(f"{_md(label)} ({probability_text(p)}){mark}")
                else:
                    cells.append("")
            cells.append(_md(result.band or ""))
        self.out.write(f"| {self.n} | {_md(result.id)} | {result.expected or ''} | " + " | ".join(cells) + " |\n")

    def end(self, summary: dict[str, Any] | None) -> None:
        if summary is not None:
            self.out.write("\n" + summary_markdown(summary))


def _not_ranked_text(summary: dict[str, Any]) -> str:
    """' (and 21 error rows with one, not scored)': the cases with an expected diagnosis that could not be
    ranked, which the scores leave out; '' when there are none."""
    n = summary.get("expected_not_ranked") or 0
    return f" (and {n} error {'row' if n == 1 else 'rows'} with one, not scored)" if n else ""


def summary_markdown(summary: dict[str, Any]) -> str:
    """A batch summary (:meth:`ddx.batch.BatchSummary.to_dict`: counts, and for scored cases top-1, top-3, mean
    reciprocal rank, per-entity recall and precision, the confusion, the subtype table and the calibration bins)
    as a markdown section. Its cells hold entity slugs and figures only; the provenance line is escaped."""
    lines = [
        "## Summary",
        "",
        f"Cases: {summary['cases']}; ranked: {summary['ranked']}; errors: {summary['errors']}; "
        f"with an expected diagnosis: {summary['with_expected']}{_not_ranked_text(summary)}.",
        "",
    ]
    if summary.get("scored"):
        lines += [
            f"Top-1: **{rate_text(summary['top1'])}**; top-3: **{rate_text(summary['top3'])}**; "
            f"mean reciprocal rank: **{summary['mrr']:.3f}**.",
            "",
            "| entity | cases | recall (top-1) | within top-3 | led | precision |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        recall, precision = summary["recall"], summary["precision"]
        for slug in sorted(set(recall) | set(precision)):
            r, p = recall.get(slug), precision.get(slug)
            lines.append(
                f"| {slug} | {r['cases'] if r else 0} | {rate_text(r['recall']) if r else '-'} | "
                f"{rate_text(r['top3'] / r['cases']) if r else '-'} | {p['led'] if p else 0} | "
                f"{rate_text(p['precision']) if p else '-'} |"
            )
        answers = sorted({a for row in summary["confusion"].values() for a in row})
        lines += [
            "",
            "Confusion (rows: expected; columns: leader):",
            "",
            "| expected | " + " | ".join(answers) + " |",
            "|---|" + "---:|" * len(answers),
        ]
        for expected, row in summary["confusion"].items():
            lines.append(f"| {expected} | " + " | ".join(str(row.get(a, "")) for a in answers) + " |")
        if summary.get("subtypes"):
            lines += [
                "",
                "Cases whose expected diagnosis is a subtype (scored above at entity level):",
                "",
                "| subtype | cases | entity first | subtype named |",
                "|---|---:|---:|---:|",
            ]
            for slug, row in summary["subtypes"].items():
                lines.append(f"| {slug} | {row['cases']} | {row['entity_top1']} | {row['subtype_named']} |")
        lines += [
            "",
            "Calibration (leader's probability against how often the leader is right):",
            "",
            "| leader's probability | cases | mean probability | leader right |",
            "|---|---:|---:|---:|",
        ]
        for b in summary["calibration"]:
            lines.append(
                f"| {range_text(b['from'], b['to'])} | {b['cases']} | "
                f"{probability_text(b['mean_probability']) if b['cases'] else '-'} | "
                f"{rate_text(b['leader_right']) if b['cases'] else '-'} |"
            )
    lines += ["", markdown_text(summary_provenance(summary))]
    return "\n".join(lines) + "\n"


@dataclass
class _TableRow:
    """One case as the table shows it (cells already escaped for markup)."""

    number: int
    id: str
    expected: str
    leaders: list[tuple[str, float]]  # (label, probability)
    band: str = ""
    mark: str = ""
    error: str | None = None


ERROR_WIDTH = 60  # an error message in a table wraps at this many characters
UNBOUNDED = 100_000  # the width a table is measured at (its natural width)
# the narrow table keeps at least this many columns for the leaders: the case id comes first (an id is what a
# reader searches for, so it is folded only when it cannot fit); a long leader label wraps at its spaces
# ("ilms · conventional" over "51.9"), and no word of a label or figure is longer than this
NARROW_LEADERS = 16


class TableWriter:
    """A rich table of cases, then the summary tables (for reading in a terminal, or in a text file).

    On a terminal the table is as wide as its content where that fits; where it does not (80 columns),
    each case takes a few lines: its id with its band (the label) under it, the expected diagnosis with the mark
    under it, the leaders one per line. Ids and bands are never cut (one longer than the screen is
    folded onto the next line, every character kept). A file is written as a console of its width shows it.
    """

    def __init__(self, console: Console, top: int):
        self.console = console
        self.top = top
        self.rows: list[_TableRow] = []

    def case(self, result: BatchRow) -> None:
        number = len(self.rows) + 1
        if not result.ok:
            first = result.errors[0]
            message = markup_text((f"{first.path}: " if first.path else "") + first.detail)
            if len(result.errors) > 1:
                message += f" (+{len(result.errors) - 1} more)"
            self.rows.append(
                _TableRow(number, markup_text(result.id), markup_text(result.expected or ""), [], error=f"[red]error[/red]: {message}")
            )
            return
        leaders = []
        for i, (slug, p) in enumerate(result.leaders[: self.top]):
            label = result.labels[i] if i < len(result.labels) else slug
            leaders.append((markup_text(label), p))
        mark = ""
        if result.scored is not None:
            mark = "[green]✓[/green]" if result.scored.top1 else f"[yellow]rank {_rank(result)}[/yellow]"
        self.rows.append(
            _TableRow(
                number, markup_text(result.id), markup_text(result.expected or ""), leaders, markup_text(result.band or ""), mark
            )
        )

    def wide_table(self) -> Table:
        """One column per leader: for a terminal wide enough, and for files."""
        table = Table(title="ddx batch", header_style="bold")
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("case", overflow="fold", no_wrap=True)
        table.add_column("expected", overflow="fold", no_wrap=True)
        table.add_column("leader", overflow="fold", max_width=ERROR_WIDTH)
        for i in range(2, self.top + 1):
            table.add_column(f"#{i}", overflow="fold")
        table.add_column("band", overflow="fold", no_wrap=True)
        table.add_column("top-1", no_wrap=True)
        for row in self.rows:
            if row.error is not None:  # an error row spans the leader columns
                table.add_row(str(row.number), row.id, row.expected, row.error, *[""] * (self.top - 1), "", "")
            else:
                cells = [f"{label} {probability_text(p)}" for label, p in row.leaders] + [""] * (self.top - len(row.leaders))
                table.add_row(str(row.number), row.id, row.expected, *cells, row.band, row.mark)
        return table

    def narrow_table(self) -> Table:
        """A few lines per case, for a terminal too narrow for :meth:`wide_table` (80 columns): the case
        id, under it its band and its expected diagnosis with the mark, and the leaders one per line."""
        longest = max((len(Text.from_markup(text).plain) for row in self.rows for text in (row.id, row.band)), default=4)
        leader = max((len(Text.from_markup(label).plain) + 7 for row in self.rows for label, _ in row.leaders), default=10)
        # what is left beside the number column, three borders, the edges and the padding of three columns
        room = self.console.width - len(str(len(self.rows))) - 4 - 6
        case_width = max(12, min(longest, room - min(leader, NARROW_LEADERS)))  # a longer id is folded, never cut
        table = Table(title="ddx batch", header_style="bold")
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("case / band / expected", overflow="fold", width=case_width)
        table.add_column("leaders (%)" if self.top > 1 else "leader (%)", overflow="fold")
        for row in self.rows:
            lines = [row.id]
            if row.band:
                lines.append(f"[dim]{row.band}[/dim]")
            if row.expected:
                lines.append(f"expected {row.expected}" + (f" {row.mark}" if row.mark else ""))
            # "55.6", ">99.9": one word, its sign in the heading, so a narrow column never splits a figure
            leaders = "\n".join(f"{label} {probability_text(p, '').replace(' ', '')}" for label, p in row.leaders)
            table.add_row(str(row.number), "\n".join(lines), row.error if row.error is not None else leaders)
        return table

    def end(self, summary: dict[str, Any] | None) -> None:
        table = self.wide_table()
        needed = Measurement.get(self.console, self.console.options.update_width(UNBOUNDED), table).maximum
        if needed > self.console.width:
            table = self.narrow_table()
        self.console.print(table)
        if any(row.error is not None for row in self.rows):
            self.console.print(
                "Error rows show their first problem; --format csv, xlsx, markdown, jsonl or json lists every problem "
                "(stderr repeats the first 20)."
            )
        if summary is not None:
            for renderable in summary_tables(summary):
                if (
                    isinstance(renderable, Table)
                    and renderable.title == CONFUSION_TITLE
                    and Measurement.get(self.console, self.console.options.update_width(UNBOUNDED), renderable).maximum
                    > self.console.width
                ):
                    renderable = confusion_list(summary)
                self.console.print(renderable)
            self.console.print(summary_provenance(summary), markup=False, highlight=False)


def summary_provenance(summary: dict[str, Any]) -> str:
    """``Rules VERSION (HASH, DIR), ddx VERSION, engine LABEL. Decision support only: …``: the closing line of the
    table and markdown summaries (the json and jsonl summaries carry the same keys)."""
    directory = summary.get("rules_dir")
    # the rules shipped with ddx are "packaged", as on every other provenance line (not a site-packages path)
    packaged = bool(directory) and os.path.realpath(str(directory)) == os.path.realpath(packaged_rules_dir())
    where = ", packaged" if packaged else f", {directory}" if directory else ""
    engine = f", engine {engine_label(summary['engine'])}" if summary.get("engine") else ""
    return (
        f"Rules {summary['rules_version']} ({summary['rules_hash']}{where}), ddx {summary['ddx_version']}{engine}. "
        "Decision support only: the rankings are not diagnoses."
    )


CONFUSION_TITLE = "Confusion (rows: expected, columns: leader)"


def confusion_list(summary: dict[str, Any]) -> Table:
    """The confusion matrix as one line per expected diagnosis (``ilms: ilms 5, erms 1, imt 1``), for a
    screen too narrow for a column per entity."""
    table = Table(title="Confusion (expected: the leaders of its cases)", header_style="bold")
    table.add_column("expected", no_wrap=True)
    table.add_column("leaders (cases)", overflow="fold")
    for expected, row in summary["confusion"].items():
        table.add_row(expected, ", ".join(f"{leader} {n}" for leader, n in sorted(row.items(), key=lambda x: -x[1])))
    return table


def summary_tables(summary: dict[str, Any]) -> list[Any]:
    """The same summary as :func:`summary_markdown` for a terminal: lines and rich tables, in order."""
    out: list[Any] = [
        f"Cases: {summary['cases']}  ranked: {summary['ranked']}  errors: {summary['errors']}  "
        f"with an expected diagnosis: {summary['with_expected']}{_not_ranked_text(summary)}"
    ]
    if not summary.get("scored"):
        return out
    out.append(
        f"Top-1: [bold]{rate_text(summary['top1'])}[/bold]  top-3: [bold]{rate_text(summary['top3'])}[/bold]  "
        f"mean reciprocal rank: [bold]{summary['mrr']:.3f}[/bold]"
    )
    per = Table(title="Per entity", header_style="bold")
    for name, justify in (
        ("entity", "left"),
        ("cases", "right"),
        ("recall", "right"),
        ("top-3", "right"),
        ("led", "right"),
        ("precision", "right"),
    ):
        per.add_column(name, justify=justify)  # type: ignore[arg-type]
    recall, precision = summary["recall"], summary["precision"]
    for slug in sorted(set(recall) | set(precision)):
        r, p = recall.get(slug), precision.get(slug)
        per.add_row(
            slug,
            str(r["cases"]) if r else "0",
            rate_text(r["recall"]) if r else "-",
            rate_text(r["top3"] / r["cases"]) if r else "-",
            str(p["led"]) if p else "0",
            rate_text(p["precision"]) if p else "-",
        )
    out.append(per)
    answers = sorted({a for row in summary["confusion"].values() for a in row})
    confusion = Table(title=CONFUSION_TITLE, header_style="bold")
    confusion.add_column("expected")
    for a in answers:
        confusion.add_column(a, justify="right")
    for expected, row in summary["confusion"].items():
        confusion.add_row(expected, *[str(row.get(a, "")) for a in answers])
    out.append(confusion)
    if summary.get("subtypes"):
        subtypes = Table(title="Expected subtypes (scored above at entity level)", header_style="bold")
        for name, justify in (("subtype", "left"), ("cases", "right"), ("entity first", "right"), ("subtype named", "right")):
            subtypes.add_column(name, justify=justify)  # type: ignore[arg-type]
        for slug, row in summary["subtypes"].items():
            subtypes.add_row(slug, str(row["cases"]), str(row["entity_top1"]), str(row["subtype_named"]))
        out.append(subtypes)
    calibration = Table(title="Calibration", header_style="bold")
    for name in ("leader's probability", "cases", "mean probability", "leader right"):
        calibration.add_column(name, justify="right")
    for b in summary["calibration"]:
        calibration.add_row(
            range_text(b["from"], b["to"]),
            str(b["cases"]),
            probability_text(b["mean_probability"]) if b["cases"] else "-",
            rate_text(b["leader_right"]) if b["cases"] else "-",
        )
    out.append(calibration)
    return out
