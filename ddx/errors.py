"""Errors a user can cause and fix. Each names where the problem is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ddx.safetext import printable

DID_YOU_MEAN = "did you mean"


def did_you_mean(suggestions: Sequence[str], *, quoted: bool = True) -> str:
    """The hint naming the nearest valid terms, ``did you mean 'desmin' or 'h_caldesmon'?`` -- each term as
    ``repr`` writes it, or as it is with ``quoted=False`` (a screen that sets them apart itself); "" for none.
    Callers put it after "; " or in parentheses."""
    if not suggestions:
        return ""
    terms = [repr(s) for s in suggestions] if quoted else list(suggestions)
    return f"{DID_YOU_MEAN} {' or '.join(terms)}?"


class DdxError(Exception):
    """Base class: a user-facing error, printed without a traceback."""


@dataclass
class Problem:
    """One thing wrong with one input, located as precisely as we can."""

    message: str
    file: str | None = None
    case: str | None = None
    path: str | None = None  # key path inside the case, e.g. "stains.desmni"
    line: int | None = None
    suggestions: list[str] = field(default_factory=list)
    code: str | None = None  # which check found it (``ddx rules check``), e.g. "unknown-term"
    sheet: str | None = None  # a workbook's sheet; ``line`` is then the row number the spreadsheet shows
    column: str | None = None  # a workbook's column letter(s) the key path was read from ("C")
    item: str | None = None  # the rule or entity of a rules file the problem is in ("rule infl.dense")

    def __str__(self) -> str:
        """One line naming where and what; control characters from the input are shown escaped.

        ``cases.csv:3: case 's1': stains.desmni: unknown stain ...``; a workbook row is named in
        words: ``series.xlsx, sheet 'Thigh', row 5: case 's1': stains.desmni (column C): ...``; a rule
        by its id: ``inflammation.yaml:12: rule infl.dense: rationale: required key is missing``."""
        where = []
        if self.file:
            where.append(location(self.file, self.line, self.sheet))
        if self.case:
            where.append(f"case {self.case!r}")
        if self.item:
            where.append(self.item)
        if self.path:
            where.append(self.path + (f" (column {self.column})" if self.column else ""))
        elif self.column:
            where.append(f"column {self.column}")
        return printable((": ".join(where) + ": " if where else "") + self.detail, newlines=False)

    @property
    def detail(self) -> str:
        """The message with the nearest valid terms ("did you mean ..."), without where it is."""
        text = self.message
        if self.suggestions and DID_YOU_MEAN not in text and not all(repr(s) in text for s in self.suggestions):
            text += "; " + did_you_mean(self.suggestions)
        return text

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"message": str(self)}
        for key in ("file", "sheet", "case", "item", "path", "column", "line"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.suggestions:
            out["suggestions"] = list(self.suggestions)
        return out


def location(file: str, line: int | None = None, sheet: str | None = None) -> str:
    """Where a case is: ``cases.csv:3``, or ``series.xlsx, sheet 'Thigh', row 5`` for a workbook row."""
    if sheet is None:
        return file + (f":{line}" if line else "")
    return f"{file}, sheet {sheet!r}" + (f", row {line}" if line else "")


class KnowledgeError(DdxError):
    """The rules directory (vocabulary, entities, rules) is invalid."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class EngineError(DdxError):
    """The rule engine reported an error; never swallowed."""
