"""Case entry: an editable case that is valid after every change.

This is the model behind interactive entry (the TUI is a thin view of it): a
change is checked against the vocabulary before it is kept, so the case held
here can always be ranked and saved. Nothing here knows about a screen.

* :class:`CaseEntry` holds one case in the contract's layout
  (``docs/case-format.md``), with canonical terms.
* :func:`parse_finding` reads quick entry such as ``alk positive cytoplasmic``
  or ``nf1 detected``.
* :func:`case_to_data` / :func:`ddx.loader.case_to_yaml` write a validated case back in
  the contract's layout; loading what they write gives the same case.
"""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ddx.errors import DdxError, Problem
from ddx.knowledge import Knowledge
from ddx.knowledge.case import TOP_LEVEL_KEYS, CaseModel, problems_from_validation, report_words
from ddx.knowledge.vocabulary import TermSet, UnknownTerm, Vocabulary, fold, fold_sentence

FINDING_SECTIONS = ("stains", "molecular")
# the entry line's word for taking a finding off, beside the vocabulary's words for a test not done
# (``not_done``, as a file reads them; "ND" is among its ``not_done_or_negative`` words, which are refused)
REMOVE = frozenset({"remove"})
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)\s*%?$")
_SPLIT = re.compile(r"[\s,;:=]+")


class InvalidEntry(DdxError):
    """A change that was refused; the case is unchanged."""

    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(str(problem))

    @property
    def suggestions(self) -> list[str]:
        return self.problem.suggestions


def _plain_number(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _compact(value: Any) -> Any:
    """Drop unset values (None, empty lists and mappings); integral floats become ints."""
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            inner = _compact(inner)
            if inner is None or inner == [] or inner == {}:
                continue
            out[key] = inner
        return out
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return _plain_number(value)


def _stain_value(finding: dict[str, Any], vocab: Vocabulary) -> Any:
    """A stain in its shortest form: ``positive`` or ``diffuse`` when that says it all."""
    if set(finding) == {"result"}:
        return finding["result"]
    for short, expanded in vocab.stain_shorthand.items():
        if finding == expanded:
            return short
    return finding


def case_to_data(case: CaseModel, vocab: Vocabulary) -> dict[str, Any]:
    """A validated case as a plain mapping in the contract's key order (only what is given)."""
    dumped = case.model_dump(exclude_none=True)
    out: dict[str, Any] = {}
    for key in TOP_LEVEL_KEYS:
        value = _compact(dumped.get(key))
        if value is None or value == [] or value == {} or value == "":
            continue
        if key == "stains":
            value = {name: _stain_value(finding, vocab) for name, finding in value.items()}
        out[key] = value
    return out


def new_case_id(now: datetime | None = None) -> str:
    """A case id for a new case, from the local time: ``case-20261204-031658``."""
    return "case-" + (now or datetime.now()).strftime("%Y%m%d-%H%M%S")


@dataclass
class ParsedFinding:
    """One stain or molecular result read from quick entry."""

    section: str  # "stains" | "molecular"
    name: str  # canonical test term
    fields: dict[str, Any] = field(default_factory=dict)  # stains: result/extent/...; molecular: result
    not_done: bool = False  # "alk not done": remove the finding

    @property
    def complete(self) -> bool:
        """True when there is something to record (a result) or to remove."""
        return self.not_done or "result" in self.fields

    def value(self) -> Any:
        if self.section == "molecular":
            return self.fields.get("result")
        return dict(self.fields)


def _tokens(text: str) -> list[str]:
    text = re.sub(r"(\d)\s+%", r"\1%", report_words(text.strip()))  # "15 %" is one word; "focal+", "Positive."
    text = re.sub(r"[()\[\]]", " ", text)  # "ALK (D5F3) positive"
    return [t for t in _SPLIT.split(text) if t]


def _take(tokens: list[str], start: int, termset: TermSet, most: int = 3) -> tuple[str, int] | None:
    """The longest run of tokens from ``start`` that names a term: (canonical, tokens used)."""
    for width in range(min(most, len(tokens) - start), 0, -1):
        words = " ".join(tokens[start : start + width])  # spaces: a name given twice is read apart ("keratin AE1/AE3")
        if words in termset:
            return termset.normalize(words), width
    return None


def parse_finding(text: str, section: str, vocab: Vocabulary) -> ParsedFinding:
    """Read ``alk positive cytoplasmic``, ``desmin diffuse strong``, ``ki67 30%``,
    ``nf1 detected`` or ``sma not done``. Raises :class:`InvalidEntry` naming
    the word that was not understood and the nearest terms."""
    if section not in FINDING_SECTIONS:
        raise ValueError(f"section must be one of {FINDING_SECTIONS}")
    names = vocab.stains if section == "stains" else vocab.molecular
    tokens = _tokens(text)
    if not tokens:
        raise InvalidEntry(Problem(f"type a {names.kind} name", path=section))
    hit = _take(tokens, 0, names, most=4)
    if hit is None:
        raise InvalidEntry(Problem(f"unknown {names.kind} {tokens[0]!r}", path=section, suggestions=names.suggest(tokens[0])))
    name, used = hit
    found = ParsedFinding(section, name)
    i = used
    path = f"{section}.{name}"
    not_done = vocab.not_done | REMOVE
    while i < len(tokens):
        if fold_sentence(tokens[i]) in vocab.not_done_or_negative:  # "ND": not done, or not detected?
            negative = "absent" if section == "molecular" else "negative"
            raise InvalidEntry(
                Problem(
                    f"{tokens[i]!r} may mean not done or not detected: type '{' '.join(tokens[:used])} not done' or "
                    f"'{' '.join(tokens[:used])} {negative}'",
                    path=path,
                )
            )
        one, two = fold_sentence(tokens[i]), fold_sentence("_".join(tokens[i : i + 2])) if i + 1 < len(tokens) else None
        if one in not_done or two in not_done:
            found.not_done = True
            i += 1 if one in not_done else 2
            continue
        if section == "molecular":
            hit = _take(tokens, i, vocab.presence)
            if hit is None:
                raise InvalidEntry(
                    Problem(
                        f"{tokens[i]!r} is not a result for {names.label(name)}",
                        path=path,
                        suggestions=[*vocab.presence.terms, "not_done"],
                    )
                )
            found.fields["result"] = hit[0]
            i += hit[1]
            continue
        word = fold(tokens[i])
        number = _NUMBER.match(tokens[i])
        if number:
            found.fields["percent"] = _plain_number(float(number.group(1)))
            i += 1
            continue
        if word in vocab.stain_shorthand and "result" not in found.fields:
            found.fields.update(vocab.stain_shorthand[word])
            i += 1
            continue
        for key, termset in (
            ("result", vocab.stain_results),
            ("intensity", vocab.stain_intensities),
            ("pattern", vocab.stain_patterns),
            ("extent", vocab.stain_extents),
        ):
            hit = _take(tokens, i, termset, most=2)
            if hit is not None:
                if key == "result" and found.fields.get("result", hit[0]) != hit[0]:
                    raise InvalidEntry(
                        Problem(f"two results for {names.label(name)}: {found.fields['result']} and {hit[0]}", path=path)
                    )
                found.fields[key] = hit[0]
                i += hit[1]
                break
        else:
            options = [
                *vocab.stain_results.terms,
                *vocab.stain_shorthand,
                *vocab.stain_intensities.terms,
                *(vocab.stain_patterns_for(name) or vocab.stain_patterns.terms),
                "not_done",
            ]
            words = TermSet("word", terms=list(options), _lookup={o: o for o in options})
            close = words.suggest(tokens[i]) or [t for t, _ in words.complete(tokens[i], 3)]
            raise InvalidEntry(Problem(f"{tokens[i]!r} is not a result, extent, intensity or pattern", path=path, suggestions=close))
    if found.not_done and found.fields:
        raise InvalidEntry(Problem(f"'not done' and a result for {names.label(name)}; give one or the other", path=path))
    if section == "stains" and "result" not in found.fields and "percent" in found.fields:
        # "ki67 30%": a percentage of stained cells implies the result
        found.fields["result"] = "positive" if found.fields["percent"] > 0 else "negative"
    if section == "stains" and "result" not in found.fields and found.fields.keys() & {"intensity", "pattern", "extent"}:
        # "desmin strong", "alk cytoplasmic": positive, as a case file reads them (the word was dropped and the
        # focus sent to the result list, where the next line's typing chose a result)
        found.fields["result"] = "positive"
    return found


class CaseEntry:
    """One case being entered. Every change is validated before it is kept."""

    def __init__(self, knowledge: Knowledge, data: dict[str, Any] | None = None):
        self.knowledge = knowledge
        self.vocab = knowledge.vocab
        self._data: dict[str, Any] = {"id": new_case_id()}
        self._case: CaseModel | None = None
        self.revision = 0
        self.saved_revision = 0
        self.load(data if data is not None else self._data)
        self.mark_saved()

    # ---------------------------------------------------------------- state

    @property
    def data(self) -> dict[str, Any]:
        """The case in the contract's layout (a copy; change it through :meth:`set`)."""
        return copy.deepcopy(self._data)

    @property
    def case(self) -> CaseModel:
        assert self._case is not None
        return self._case

    @property
    def case_id(self) -> str:
        return str(self._data["id"])

    @property
    def dirty(self) -> bool:
        return self.revision != self.saved_revision

    def mark_saved(self) -> None:
        self.saved_revision = self.revision

    def get(self, path: str) -> Any:
        node: Any = self._data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return copy.deepcopy(node)

    def findings(self, section: str) -> dict[str, dict[str, Any]]:
        """Entered stains or molecular results, each as a mapping (stains expanded from shorthand)."""
        out: dict[str, dict[str, Any]] = {}
        section_data = getattr(self.case, section)
        for name, value in section_data.items():
            if section == "stains":
                out[name] = value.model_dump(exclude_none=True)
                out[name] = {k: _plain_number(v) for k, v in out[name].items()}
            else:
                out[name] = {"result": value}
        return out

    # ---------------------------------------------------------------- changes

    def _validate(self, data: dict[str, Any], path: str | None) -> CaseModel:
        try:
            return self.knowledge.case_schema.validate(data)
        except ValidationError as exc:
            problems = problems_from_validation(exc, self.knowledge.case_schema, file=None, case=None)
            chosen = problems[0]
            if path is not None:
                for problem in problems:
                    if problem.path and (
                        problem.path == path or problem.path.startswith(path + ".") or path.startswith(problem.path + ".")
                    ):
                        chosen = problem
                        break
            raise InvalidEntry(chosen) from None

    def load(self, data: dict[str, Any]) -> None:
        """Replace the whole case (e.g. from a file or a draft); raises InvalidEntry."""
        case = self._validate(copy.deepcopy(data), None)
        self._case = case
        self._data = case_to_data(case, self.vocab)
        self.revision += 1

    def set(self, path: str, value: Any) -> bool:
        """Set (or, with None / "" / [], remove) the value at ``path``; False if nothing changed.

        ``path`` is dotted as in the contract: ``patient.age``,
        ``morphology.cell_types``, ``stains.alk`` (a synonym names the same
        stain), ``molecular.nf1_alteration``, ``notes``.
        """
        parts = path.split(".")
        if parts[0] not in TOP_LEVEL_KEYS:
            raise InvalidEntry(Problem(f"unknown key {parts[0]!r}", path=path))
        if parts[0] in FINDING_SECTIONS and len(parts) == 2:
            names = self.vocab.stains if parts[0] == "stains" else self.vocab.molecular
            try:
                parts[1] = names.normalize(parts[1])
            except UnknownTerm as exc:
                raise InvalidEntry(Problem(str(exc), path=path, suggestions=exc.suggestions)) from None
            path = ".".join(parts)
        if isinstance(value, str):
            value = value.strip()
        candidate = copy.deepcopy(self._data)
        node = candidate
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if value is None or value == "" or value == [] or value == {}:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
        if parts[0] == "id" and parts[-1] == "id" and "id" not in candidate:
            raise InvalidEntry(Problem("a case needs an id", path="id"))
        case = self._validate(candidate, path)
        data = case_to_data(case, self.vocab)
        if data == self._data:
            return False
        self._case = case
        self._data = data
        self.revision += 1
        return True

    def apply(self, finding: ParsedFinding) -> bool:
        """Record (or, for "not done", remove) a parsed stain or molecular finding."""
        path = f"{finding.section}.{finding.name}"
        if finding.not_done:
            return self.set(path, None)
        if not finding.complete:
            raise InvalidEntry(Problem(f"give a result for {finding.name}", path=path))
        return self.set(path, finding.value())

    def to_yaml(self) -> str:
        from ddx import __version__
        from ddx.loader import case_to_yaml

        return case_to_yaml(self._data, header=f"ddx case file (contract version 1), written by ddx {__version__}")


# ------------------------------------------------------------------ files


@dataclass
class Refused:
    """A value of a case file that could not be used: where it was, what was written, why."""

    path: str  # the key path as the problem names it: "patient.age", "clinical.symptoms[1]", "stains.desmni"
    value: Any  # the value as written in the file
    problem: Problem

    @property
    def field(self) -> str:
        """The path of the form field that holds it ("clinical.symptoms" for "clinical.symptoms[1]")."""
        return self.path.split("[", 1)[0]

    def value_text(self) -> str:
        """The value as one line of text, as it could be typed again ("35x", "[a, b]", "true")."""
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        if isinstance(self.value, (str, int, float)):
            return str(self.value)
        return yaml.safe_dump(self.value, default_flow_style=True, allow_unicode=True, width=10_000, sort_keys=False).strip()


@dataclass
class OpenedCase:
    """A case file opened for editing in the TUI: the entry, where Save writes, a note for the user, and the
    values left out because they could not be read."""

    entry: CaseEntry
    path: Path | None  # where Save writes (None: the file held several cases)
    note: str | None = None  # said to the user on opening
    refused: list[Refused] = field(default_factory=list)  # values left out of the case (``partial=True``)


_GONE = object()  # a refused value's place, until it is swept out
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
MAX_SALVAGE_ROUNDS = 50


def _path_parts(path: str) -> list[str | int]:
    return [int(index) if index else key for key, index in _PATH_PART.findall(path)]


def _take_out(data: dict[str, Any], path: str) -> tuple[str, Any] | None:
    """Replace the value a problem's ``path`` names with a marker: the value itself, or, where the path
    goes further than the data (a missing key inside it, a scalar where a mapping belongs), the deepest
    value it reaches. Returns (the path taken out, its value); None when the path names nothing."""
    node: Any = data
    parts = _path_parts(path)
    parent: Any = None
    for i, part in enumerate(parts):
        inside = (isinstance(node, dict) and isinstance(part, str) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if not inside:
            if parent is None:
                return None
            value, parent[parts[i - 1]] = node, _GONE
            return _joined(parts[:i]), value
        if node[part] is _GONE:
            return None  # taken out already, for another problem of the same value ('Ki67 (MIB-1): 40%')
        if i == len(parts) - 1 or not isinstance(node[part], (dict, list)):
            value, node[part] = node[part], _GONE
            return _joined(parts[: i + 1]), value
        parent, node = node, node[part]
    return None


def _joined(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + part
    return out


def _sweep(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _sweep(v) for k, v in node.items() if v is not _GONE}
    if isinstance(node, list):
        return [_sweep(v) for v in node if v is not _GONE]
    return node


def salvage_case(
    data: Any, knowledge: Knowledge, *, file: str | None = None, case: str | None = None
) -> tuple[CaseModel, list[Refused]]:
    """The valid part of a case mapping: each value the schema refuses is taken out (a bad list item
    alone, a bad stain alone, else the key) until the rest validates. A missing or invalid id is replaced
    by a new one. Returns the case and what was taken out, in the order found.

    Raises DdxError when the data is not a mapping or a problem cannot be located at a value."""
    if not isinstance(data, dict):
        raise DdxError(f"{file or 'the file'}: a case is a mapping of keys (id, patient, stains, ...)")
    data = copy.deepcopy(data)
    refused: list[Refused] = []
    for _ in range(MAX_SALVAGE_ROUNDS):
        try:
            return knowledge.case_schema.validate(data), refused
        except ValidationError as exc:
            problems = problems_from_validation(exc, knowledge.vocab, file=file, case=case)
        progress = False
        for problem in problems:
            if problem.path == "id":
                refused.append(Refused("id", data.get("id"), problem))
                data["id"] = new_case_id()
                progress = True
                continue
            taken = _take_out(data, problem.path) if problem.path else None
            if taken is not None:
                refused.append(Refused(taken[0], taken[1], problem))
                progress = True
        if not progress:
            raise DdxError("\n".join(str(p) for p in problems))
        data = _sweep(data)
    raise DdxError(f"{file or 'the case'}: too many values could not be used")


def open_case(path: str | os.PathLike[str], knowledge: Knowledge, case_id: str | None = None, *, partial: bool = False) -> OpenedCase:
    """Read one case from a file for editing. Raises DdxError with every problem located.

    With ``partial``, a case whose values are refused opens without them: each is listed in
    :attr:`OpenedCase.refused` (to be shown where it belongs and fixed). A file that cannot be read as
    a case at all still raises."""
    from ddx.loader import iter_raw, validate_raw

    path = Path(path)
    raws = list(iter_raw(path, knowledge.vocab))
    loaded = [validate_raw(r, knowledge) for r in raws]
    if case_id is not None:
        chosen = [(r, c) for r, c in zip(raws, loaded) if c.id == case_id]
        if not chosen:
            ids = ", ".join(c.id for c in loaded[:20])
            raise DdxError(f"{path}: no case with id {case_id!r}; the file holds {ids}")
        if len(chosen) > 1:  # ids are unique in a run (ddx.loader.read_cases): never open one of two silently
            where = ", ".join(f"case {r.index + 1}" + (f" (line {r.line})" if r.line else "") for r, _ in chosen[:5])
            raise DdxError(f"{path}: {len(chosen)} cases have the id {case_id!r} ({where}); give each case its own id")
        pairs = chosen
    else:
        pairs = list(zip(raws, loaded))
        if len(pairs) > 1:
            ids = ", ".join(c.id for c in loaded[:20]) + (" ..." if len(loaded) > 20 else "")
            raise DdxError(f"{path}: the file holds {len(loaded)} cases ({ids}); choose one with --case ID")
    if not pairs:
        raise DdxError(f"{path}: the file holds no case")
    raw, item = pairs[0]
    refused: list[Refused] = []
    if item.ok:
        assert item.case is not None
        case = item.case
    elif partial and not raw.problems and not raw.read_problems and any(p.path for p in item.problems):
        # a problem found in reading (read_problems: a key given twice) is never opened with one of its values:
        # the file is refused
        case, refused = salvage_case(raw.mapping(), knowledge, file=str(path), case=item.id)
    else:
        raise DdxError("\n".join(str(p) for p in item.problems))
    entry = CaseEntry(knowledge, case_to_data(case, knowledge.vocab))
    entry.mark_saved()
    if _holds_several(path):
        return OpenedCase(entry, None, f"{path.name} holds several cases; Save will ask for a new file", refused)
    if path.suffix.lower() not in (".yaml", ".yml"):
        return OpenedCase(entry, None, f"{path.name} is not YAML; Save will ask for a new .yaml file", refused)
    return OpenedCase(entry, path, None, refused)


def _holds_several(path: Path) -> bool:
    from ddx.loader import SHEET_SUFFIXES
    from ddx.yamlio import load_data

    if path.suffix.lower() in SHEET_SUFFIXES:
        return True
    try:
        data = load_data(path)
    except Exception:  # noqa: BLE001 - already read once; treat oddities as "several"
        return True
    return isinstance(data, dict) and "cases" in data
