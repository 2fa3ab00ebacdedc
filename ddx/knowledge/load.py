"""Reading one rules file into its model (:mod:`ddx.knowledge.models`).

:func:`load_model` is the one path every rules file takes: read it (PyYAML's safe loader with line
markers, through the cache of parsed rule files), strip the markers, validate it with its model, and turn
every validation error into a :class:`~ddx.errors.Problem` naming the file, the line and the key
(:func:`located`). :mod:`ddx.knowledge` then checks what no single file can (entities named by rules,
the terms of conditions).
"""

from __future__ import annotations

import collections.abc
import copy
import difflib
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ValidationError

from ddx.errors import KnowledgeError, Problem
from ddx.knowledge.case import error_text
from ddx.knowledge.models import UNION_TAGS, FileModel, ItemsFile, Model, VocabularyFile
from ddx.knowledge.vocabulary import Vocabulary
from ddx.yamlio import ReadError, key_line, load_data, strip_lines

M = TypeVar("M", bound=FileModel)
T = TypeVar("T", bound=Model)


@dataclass
class Entry(Generic[T]):
    """One item of a file of items (:class:`~ddx.knowledge.models.ItemsFile`), as read and as validated."""

    raw: Any  # as read, with its line markers
    line: int | None  # the line where it starts (None: not a mapping)
    value: T | None = None  # the item's model; None: refused (see problems)
    error: ValidationError | None = None  # why the model refused it (None: valid, or refused before validation)
    problems: list[Problem] = field(default_factory=list)


def read_data(path: Path, problems: list[Problem], overrides: Mapping[Path, str], *, lines: bool = True) -> Any:
    """A rules file's data (``overrides``: unsaved texts by path; ``lines``: with line markers), read through
    the cache of parsed rule files; None for an empty file, and None with a problem appended (check
    ``syntax``) for a file that cannot be read or parsed."""
    try:
        return load_data(path, with_lines=lines, text=overrides.get(path), plain=True, cache=True)
    except ReadError as exc:
        problems.append(Problem(str(exc), file=str(path), line=exc.line, code="syntax", item=_item_at(path, overrides, exc.line)))
        return None


_ITEM_START = re.compile(r"^\s*-\s*(id|slug)\s*:\s*['\"]?([^\s'\"#]+)")


def _item_at(path: Path, overrides: Mapping[Path, str], line: int | None) -> str | None:
    """The rule, entity, subtype or outside entity a line of a rules file is in ("rule infl.dense", "subtype
    ilms_rms"): the last '- id:' or '- slug:' at or above it (a '- slug:' indented deeper than the file's first
    items is a subtype's); None when there is none, or the text cannot be read."""
    if not line:
        return None
    try:
        text = overrides.get(path)
        if text is None:
            text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    rows = text.splitlines()
    starts = [(i, m) for i, m in enumerate(map(_ITEM_START.match, rows)) if m]
    top = min((len(m.group(0)) - len(m.group(0).lstrip()) for _, m in starts), default=0)
    for i, found in reversed(starts):
        if i < line:
            if found.group(1) == "id":
                return f"rule {found.group(2)}"
            indent = len(found.group(0)) - len(found.group(0).lstrip())
            kind = "subtype" if indent > top else "outside entity" if path.name == "outside.yaml" else "entity"
            return f"{kind} {found.group(2)}"
    return None


def located(
    exc: ValidationError,
    file: str,
    data: Any,
    base_line: int | None,
    code: str = "schema",
    model: type[BaseModel] | None = None,
    item: str | None = None,
) -> list[Problem]:
    """Each error of ``exc`` as a problem in ``file`` (and in ``item``, the rule or entity named, when given):
    its key path, and the line of the deepest key or
    mapping of ``data`` (as read, with line markers) that the path reaches (``base_line`` when none does).
    An error in a likelihood or a prior is check ``weight``, any other ``code``. An unknown key is offered
    the nearest keys of the part of ``model`` (the model validated) where it was written."""
    problems = []
    errors = exc.errors(include_url=True)
    # a key reported missing because a key beside it is misspelt ('rationle' for 'rationale'; in a likelihood
    # cell, 'poold' leaves the form with 'p' to be tried): each misspelt key is read as its nearest key (where
    # that key is not written), the data validated again, and a key missing only before is not reported; the
    # misspelt key's own error says it (did you mean)
    caused = _caused_by_typos(errors, data, model)
    errors = [err for err in errors if err["type"] != "missing" or _missing_key(err) not in caused]
    for err in errors:
        parts = [p for p in err["loc"] if p not in UNION_TAGS]  # the form of a list of terms is not a key
        loc = _named_path(data, parts)
        line = base_line
        node = data
        for depth, part in enumerate(parts):  # walk to the deepest key or mapping that carries a line
            line = key_line(node, part) or line
            if err["type"] == "extra_forbidden" and depth == len(parts) - 1:
                break  # an unknown key: its own line, not its value's first line
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
            if isinstance(node, dict) and "__line__" in node:
                line = node["__line__"]
        msg = error_text(err)
        suggestions: list[str] = []
        if err["type"] == "extra_forbidden" and loc and model is not None:  # 'likelihod', 'sorce': the keys there
            suggestions = difflib.get_close_matches(loc[-1], _keys_at(model, parts[:-1]), n=3, cutoff=0.75)
        if "likelihood" in loc or "default" in loc or loc[-1:] == ["prior"] or "prior" in loc:
            kind = "weight"
        else:
            kind = code
        problems.append(Problem(msg, file=file, line=line, path=".".join(loc) or None, code=kind, suggestions=suggestions, item=item))
    return problems


def _missing_key(err: Any) -> tuple[str, ...]:
    return tuple(str(p) for p in err["loc"] if p not in UNION_TAGS)


def _caused_by_typos(errors: list[Any], data: Any, model: type[BaseModel] | None) -> set[tuple[str, ...]]:
    """The missing keys (as key paths) of ``errors`` that reading each unknown key as its nearest key of
    ``model`` (one not written beside it) makes present: they are the misspelt keys, not missing ones."""
    missing = {_missing_key(err) for err in errors if err["type"] == "missing"}
    if model is None or not missing or not isinstance(data, dict):
        return set()
    fixed, _ = as_meant(data, errors, model)
    if fixed is data:
        return set()
    try:
        model.model_validate(stripped(fixed, model) if issubclass(model, Model) else strip_lines(fixed))
    except ValidationError as again:
        still = {_missing_key(err) for err in again.errors() if err["type"] == "missing"}
        return missing - still
    except (TypeError, ValueError):
        return set()
    return missing


def as_meant(data: Any, errors: list[Any], model: type[BaseModel]) -> tuple[Any, list[tuple[list[Any], Any, bool]]]:
    """``data`` with each unknown key of ``errors`` (a validation's errors) read as its nearest key of ``model``
    that is not written beside it (``rationle`` as ``rationale``), copied along the way with its line markers
    (``data`` itself when no key is read so), and the unknown keys it could not read so: (the path of their
    mapping, the key, whether a key written beside it is near: ``sources`` beside ``source``)."""
    fixed = data
    left: list[tuple[list[Any], Any, bool]] = []
    for err in errors:
        parts = [p for p in err["loc"] if p not in UNION_TAGS]
        if err["type"] != "extra_forbidden" or not parts:
            continue
        node = _at(fixed, parts[:-1])
        if not isinstance(node, dict):
            continue
        near = difflib.get_close_matches(str(parts[-1]), _keys_at(model, parts[:-1]), n=3, cutoff=0.75)
        absent = [k for k in near if k not in node]
        if absent:
            fixed = _with_key_renamed(fixed, parts[:-1], parts[-1], absent[0])
        else:
            left.append((parts[:-1], parts[-1], bool(near)))
    return fixed, left


def _at(data: Any, parts: Sequence[Any]) -> Any:
    node = data
    for part in parts:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _with_key_renamed(data: Any, parts: Sequence[Any], old: Any, new: str) -> Any:
    """A copy of ``data`` (copied along ``parts`` only, line markers kept) with key ``old`` of the mapping at
    ``parts`` renamed ``new``."""
    copied = copy.copy(data)
    if not parts:
        copied[new] = copied.pop(old)
        lines = getattr(data, "key_lines", None)
        if lines is not None and old in lines:
            copied.key_lines = {**lines, new: lines[old]}
        return copied
    copied[parts[0]] = _with_key_renamed(data[parts[0]], parts[1:], old, new)
    return copied


def _named_path(data: Any, parts: Sequence[Any]) -> list[str]:
    """The key path ``parts`` as shown: an item of a list by its ``slug`` or ``id`` where it has one
    (``subtypes.ilms_rms.share``, not ``subtypes.0.share``), else by its index."""
    shown = []
    node = data
    for part in parts:
        item = None
        try:
            siblings = node if isinstance(node, list) else None
            node = node[part]
            if isinstance(part, int) and isinstance(node, dict) and siblings is not None:
                item = next((node[k] for k in ("slug", "id") if isinstance(node.get(k), str)), None)
                names = [s.get("slug", s.get("id")) if isinstance(s, dict) else None for s in siblings]
                if not item or "." in item or names.count(item) > 1:  # an index says more than an odd name
                    item = None
        except (KeyError, IndexError, TypeError):
            node = None
        shown.append(item if item is not None else str(part))
    return shown


def _keys_at(model: type[BaseModel], path: Sequence[Any]) -> list[str]:
    """The keys the part of ``model`` at ``path`` (an error's location: field names, list indexes, mapping
    keys) takes; [] where the path leaves the models (a mapping of free keys, an unknown key's value). Where
    a union allows several forms (a list of terms or a block of them), the keys of every form that fits."""
    here: list[Any] = [model]
    for part in path:
        ahead: list[Any] = []
        for node in here:
            if isinstance(node, type) and issubclass(node, BaseModel):
                field = node.model_fields.get(str(part))
                if field is not None:
                    ahead += _forms(field.annotation)
            elif not isinstance(part, str) or typing.get_origin(node) in (dict, collections.abc.Mapping):
                ahead += _forms(_item_type(node))  # a list index, or a mapping's key: the type of its items
        here = ahead
        if not here:
            return []
    keys: list[str] = []
    for node in here:
        if isinstance(node, type) and issubclass(node, BaseModel):
            keys += [k for k in node.model_fields if k not in keys]
    return keys


def _forms(annotation: Any) -> list[Any]:
    """The models and containers ``annotation`` allows: itself, or each arm of Optional, a union or Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (list, tuple, dict, collections.abc.Sequence, collections.abc.Mapping):
        return [annotation]
    return [form for arg in typing.get_args(annotation) for form in _forms(arg)]


def _item_type(container: Any) -> Any:
    """The type of a container annotation's items (a dict's values), or None."""
    args = [a for a in typing.get_args(container) if a is not Ellipsis]  # tuple[X, ...]: X
    return args[-1] if args else None


def load_model(
    path: Path,
    model: type[M],
    problems: list[Problem],
    overrides: Mapping[Path, str] | None = None,
    *,
    entries: list[Entry[Any]] | None = None,
) -> M | None:
    """The file at ``path`` validated as ``model``; None when it cannot be read, is empty, or does not validate.

    Every problem is appended to ``problems``, located (file, line, key path): a file that cannot be read
    or parsed (check ``syntax``), one ``model`` does not read at all
    (:meth:`~ddx.knowledge.models.FileModel.shape_problem`), and each validation error. ``overrides`` maps
    paths to text that replaces the file on disk (an edit not yet saved).

    A file of items (:class:`~ddx.knowledge.models.ItemsFile`) validates item by item: the model holds the
    items that are valid, and each refused item's problems start at its own line and key. With
    ``entries``, every item is appended there in file order, as an :class:`Entry` that holds its problems
    (not appended to ``problems``: the caller reports them with its own checks of the item).
    """
    over = overrides or {}
    file = str(path)
    before = len(problems)
    data = read_data(path, problems, over, lines=model.line_markers)
    if len(problems) > before:
        return None
    shape = model.shape_problem(data, file)
    if shape is not None:
        problems.append(shape)
        return None
    if data is None:
        return None
    if issubclass(model, ItemsFile):
        found, whole = _items(data, model, file)
        if entries is not None:
            entries += found
        else:
            for entry in found:
                problems += entry.problems
        return cast(M, whole)
    try:
        return model.model_validate(stripped(data, model) if model.line_markers else data)
    except ValidationError as exc:
        if not model.line_markers:  # read again, with the markers that locate the errors
            data = read_data(path, [], over) or data
        base = data.get("__line__") if model.root_line and isinstance(data, dict) else None
        problems += located(exc, file, data, base, model=model)
        return None


def _items(data: dict[str, Any], model: type[ItemsFile], file: str) -> tuple[list[Entry[Any]], ItemsFile]:
    """The items of a file of items, each validated with the item's model, and the file's model of the
    valid ones."""
    item_model = model.item_model()
    found: list[Entry[Any]] = []
    for raw in data[model.list_key]:
        entry: Entry[Any] = Entry(raw, raw.get("__line__") if isinstance(raw, dict) else None)
        found.append(entry)
        problem = model.item_problem(raw, data, file)
        if problem is not None:
            entry.problems.append(problem)
            continue
        try:
            entry.value = item_model.model_validate(stripped(raw, item_model))
        except ValidationError as exc:
            entry.error = exc
            entry.problems += located(exc, file, raw, entry.line, model=item_model, item=model.item_name(raw))
    kept = [entry.value for entry in found if entry.value is not None]
    return found, model.model_construct(None, **{model.list_key: kept})  # its items are validated already


def stripped(value: Any, model: type[Model]) -> Any:
    """``value`` without line markers, except in the values of ``model.keep_lines`` (conditions)."""
    keep = model.keep_lines
    if not keep:
        return strip_lines(value)
    if not isinstance(value, dict):
        return value
    return {k: v if k in keep else strip_lines(v) for k, v in value.items() if k != "__line__"}


def load_vocabulary(path: Path, text: str | None = None) -> Vocabulary:
    """The vocabulary in ``path`` (``text``: its content, not yet saved).

    Raises :class:`KnowledgeError` listing every problem: a file that cannot be read, each key that is
    missing or of the wrong type (file, line and key), a term given twice, a synonym of two terms, an
    unknown morphology kind, a stain pattern that ``stain_patterns`` does not hold.
    """
    problems: list[Problem] = []
    model = load_model(path, VocabularyFile, problems, {path: text} if text is not None else None)
    if model is None:
        raise KnowledgeError(problems)
    vocab = model.vocabulary(path, problems)
    if problems:
        raise KnowledgeError(problems)
    return vocab
