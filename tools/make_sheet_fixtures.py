"""Build the workbook fixtures tests/data/sheets.{xlsx,xls,ods} from the CSVs beside them, saved by LibreOffice.

    python tools/make_sheet_fixtures.py     # needs LibreOffice (soffice) and openpyxl (a test dependency)

The workbooks are committed, so the tests need no LibreOffice; run this again only after changing
tests/data/sheets-thigh.csv or tests/data/sheets-lung.csv. tests/test_sheets.py reads the three files and
ranks their cases against the same CSVs.

What goes in (an intermediate .xlsx written with openpyxl, then opened and saved by LibreOffice in each
format, so that the reader is tried on files written by a spreadsheet program, not by a test):

* sheet ``Thigh`` from sheets-thigh.csv and sheet ``Lung`` from sheets-lung.csv, cells typed as a
  spreadsheet types what is typed into it: whole and decimal numbers as numbers (an id of digits too),
  ``TRUE`` / ``FALSE`` as booleans, the rest as text;
* every ``clinical.size_cm`` number as a formula (``=12.5*1``), so each file holds formula cells with the
  value LibreOffice computed and saved (ddx reads that value and evaluates nothing);
* an empty sheet ``Blank`` (skipped) and a hidden sheet ``Lists`` of drop-down terms (not read).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SHEETS = {"Thigh": DATA / "sheets-thigh.csv", "Lung": DATA / "sheets-lung.csv"}
FORMATS = ("xlsx", "xls", "ods")
FORMULA_COLUMN = "clinical.size_cm"
_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?\d+\.\d+")


def typed(text: str) -> int | float | bool | str | None:
    """A CSV cell as a spreadsheet program would take it when typed."""
    if text == "":
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text in ("TRUE", "FALSE"):
        return text == "TRUE"
    return text


def intermediate(path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    first = True
    for name, source in SHEETS.items():
        sheet = book.active if first else book.create_sheet(name)
        assert sheet is not None
        sheet.title = name
        first = False
        with source.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        formula_at = rows[0].index(FORMULA_COLUMN) if FORMULA_COLUMN in rows[0] else -1
        for r, row in enumerate(rows, start=1):
            for c, text in enumerate(row, start=1):
                value = text if r == 1 else typed(text)
                if r > 1 and c - 1 == formula_at and isinstance(value, (int, float)):
                    value = f"={value}*1"
                if value is not None:
                    sheet.cell(row=r, column=c, value=value)
    book.create_sheet("Blank")
    lists = book.create_sheet("Lists")
    for r, term in enumerate(["result", "positive", "negative", "focal", "diffuse"], start=1):
        lists.cell(row=r, column=1, value=term)
    lists.sheet_state = "hidden"
    book.save(path)


def main() -> int:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        print("LibreOffice (soffice) is not installed: apt-get install libreoffice-calc", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "src" / "sheets.xlsx"
        source.parent.mkdir()
        intermediate(source)
        profile = (work / "profile").as_uri()  # a profile of its own: another LibreOffice running is no matter
        for fmt in FORMATS:
            out = work / fmt
            subprocess.run(
                [soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", fmt, "--outdir", str(out), str(source)],
                check=True,
                capture_output=True,
                timeout=300,
            )
            made = out / f"sheets.{fmt}"
            if not made.exists():
                print(f"LibreOffice wrote no {made.name}", file=sys.stderr)
                return 1
            target = DATA / made.name
            shutil.copyfile(made, target.with_suffix(".tmp"))
            os.replace(target.with_suffix(".tmp"), target)
            print(f"{target.relative_to(ROOT)}: {target.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
