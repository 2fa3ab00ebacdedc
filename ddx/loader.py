"""Reading case files: YAML or JSON, one case or a ``cases:`` list per file.

A file that cannot be read and a case that does not validate each become a
:class:`LoadedCase` with problems; one bad case never stops the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel, ValidationError

from ddx.case import problems_from_validation
from ddx.errors import Problem
from ddx.knowledge import Knowledge
from ddx.yamlio import ReadError, load_data

CASE_SUFFIXES = {".yaml", ".yml", ".json"}


@dataclass
class LoadedCase:
    file: str
    index: int                      # position in the file (0 for single-case files)
    id: str                         # the case id, or the file name when unknown
    case: BaseModel | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.case is not None and not self.problems


def iter_cases(path: str | Path, knowledge: Knowledge) -> Iterator[LoadedCase]:
    """Yield every case in one file, validated against the knowledge base."""
    file = str(path)
    p = Path(path)
    if p.suffix.lower() not in CASE_SUFFIXES and p.exists():
        yield LoadedCase(file, 0, p.name, problems=[Problem(
            f"not a case file (expected {', '.join(sorted(CASE_SUFFIXES))})", file=file)])
        return
    try:
        data = load_data(p)
    except ReadError as exc:
        yield LoadedCase(file, 0, p.name, problems=[Problem(str(exc), file=file, line=exc.line)])
        return
    except FileNotFoundError:
        yield LoadedCase(file, 0, p.name, problems=[Problem("no such file", file=file)])
        return
    if isinstance(data, dict) and "cases" in data and "id" not in data:
        items = data["cases"]
        if not isinstance(items, list):
            yield LoadedCase(file, 0, p.name, problems=[Problem("'cases' must be a list of cases", file=file)])
            return
        if not items:
            yield LoadedCase(file, 0, p.name, problems=[Problem("'cases' is empty", file=file)])
            return
    elif data is None:
        yield LoadedCase(file, 0, p.name, problems=[Problem("file is empty", file=file)])
        return
    else:
        items = [data]
    for index, raw in enumerate(items):
        yield validate_case(raw, knowledge, file=file, index=index, multi=len(items) > 1)


def validate_case(raw: Any, knowledge: Knowledge, *, file: str = "<input>", index: int = 0,
                  multi: bool = False) -> LoadedCase:
    fallback = Path(file).name + (f"#{index + 1}" if multi else "")
    case_id = raw.get("id") if isinstance(raw, dict) else None
    label = str(case_id) if isinstance(case_id, (str, int)) and str(case_id) else fallback
    try:
        case = knowledge.case_schema.validate(raw)
    except ValidationError as exc:
        problems = problems_from_validation(exc, knowledge.vocab, file=file, case=label)
        return LoadedCase(file, index, label, problems=problems)
    return LoadedCase(file, index, case.id, case=case)  # type: ignore[attr-defined]


def expand_paths(paths: list[str]) -> Iterator[Path]:
    """Files as given; folders recursively (case files only, sorted)."""
    for given in paths:
        p = Path(given)
        if p.is_dir():
            for child in sorted(p.rglob("*")):
                if child.is_file() and child.suffix.lower() in CASE_SUFFIXES:
                    yield child
        else:
            yield p
