"""The validation fast path: a case mapping written in canonical terms becomes the case model
through dict look-ups, without pydantic's validators.

A mapping takes the fast path only when every key is a key of its part of the case and every
value is already what the model would make of it: a vocabulary term in its canonical spelling,
a number (or the plain decimal text a sheet holds: ``35``, ``12.5``) within the key's range,
text with no surrounding whitespace. Anything else (an unknown key, a synonym, a capital
letter, a stain result given as an intensity, ``40%``, ``6 cm``, a YAML boolean, an empty
value, an id that is a number ...) makes :meth:`FastCase.build` return None, and the caller
validates with the pydantic model, so every normalisation and every error message is the
model's own.

A sheet row is read the same way straight from its cells (:meth:`FastCase.build_row`), when every
column of the sheet is one the fast path reads; the case is the one its mapping
(:meth:`ddx.loader.RawCase.mapping`) gives. ``ddx batch`` goes one step further for such a row
(:meth:`FastCase.facts_row`): it reads the cells straight to the flat facts the ranking reads
(:func:`ddx.facts.case_facts`'s), with the same checks, and never makes the case, which no batch
output reads.

The case built here is the model's: the same classes, the same field values (numbers as
floats, defaults filled in, fresh lists), the same ``model_fields_set``; ``tests/test_fastpath.py``
holds the two equal. Where the case model has a validator the fast path does not know, or a
self-check on canonical probe cases finds the two differ (each probe as a mapping, and as a sheet
row where the row readers take it: the row's case and its facts read without the case must be the
model's case and :func:`ddx.facts.case_facts`'s facts), the fast path is not used at all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from itertools import compress
from typing import Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel

from ddx.facts import STAIN_FIELDS, case_facts, stain_keys
from ddx.knowledge.case import CASE_ID_PATTERN, LIST_SEPARATOR, LIST_SEPARATORS, CaseModel, CaseSchema
from ddx.knowledge.vocabulary import TermSet, Vocabulary
from ddx.loader import ColumnSpec, column_specs, list_columns, number_columns

Check = Callable[[Any], Any]  # a canonical value -> the model's value; raises _Decline otherwise
_Column = tuple[int, Any, Check, bool | None]  # a sheet column: what it gives, its key, its check, list/number

_ID = re.compile(CASE_ID_PATTERN)
_BIG = 2.0**53  # ints beyond this are left to the model (its rounding to float is its own)
_new = object.__new__
_set = object.__setattr__
_TOP, _PART, _STAIN, _FINDING, _MOLECULAR = range(5)  # what a sheet column gives (FastCase._plan)
_TOP_TEXT = {"id", "title", "expected", "source", "notes"}


class RowFacts(NamedTuple):
    """What ranking reads of a sheet row (:meth:`FastCase.facts_row`): the case's id, its ``expected``
    (None when not given) and its facts (:func:`ddx.facts.case_facts`'s keys, values and order)."""

    id: str
    expected: str | None
    facts: dict[str, Any]


class _Decline(Exception):
    """The mapping is not plainly canonical: the model decides."""


def _canonical(termset: TermSet) -> frozenset[str]:
    """The terms ``termset.normalize`` returns unchanged (text a model field keeps as it is)."""
    return frozenset(w for w, c in termset._lookup.items() if w == c and _plain(w))


def _plain(text: str) -> bool:
    """Text a pydantic ``str`` field (whitespace stripped) keeps as it is: no surrounding whitespace and no
    lone surrogate (which pydantic refuses)."""
    if text != text.strip():
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _term(termset: TermSet) -> Check:
    canon = _canonical(termset)

    def check(value: Any) -> Any:
        if type(value) is str and value in canon:
            return value
        raise _Decline

    return check


def _terms(termset: TermSet) -> Check:
    """A list of terms (a single term is a list of one, as the model's ``_listify`` makes it)."""
    canon = _canonical(termset)

    def check(value: Any) -> Any:
        if type(value) is list:
            for item in value:
                if type(item) is not str or item not in canon:
                    raise _Decline
            return list(value)
        if type(value) is str and value in canon:
            return [value]
        raise _Decline

    return check


def _text(value: Any) -> Any:
    if type(value) is str and _plain(value):
        return value
    raise _Decline


def _number(ge: float | None = None, le: float | None = None, gt: float | None = None) -> Check:
    """A finite number within the bounds, as a float; text only as plain digits with at most one point."""

    def check(value: Any) -> Any:
        kind = type(value)
        if kind is float:
            number = value
        elif kind is str:
            if not (value.isascii() and value.replace(".", "", 1).isdigit()):
                raise _Decline
            number = float(value)
        elif kind is int and -_BIG < value < _BIG:
            number = float(value)
        else:
            raise _Decline
        if (
            not math.isfinite(number)
            or (ge is not None and not number >= ge)
            or (le is not None and not number <= le)
            or (gt is not None and not number > gt)
        ):
            raise _Decline
        return number

    return check


P = TypeVar("P", bound=BaseModel)


class _Part(Generic[P]):
    """One model (patient, clinical, morphology, a stain finding): its checks and its defaults."""

    def __init__(self, cls: type[P], checks: dict[str, Check]):
        self.cls = cls
        self.checks = checks
        self.defaults: dict[str, Any] = {}
        self.fresh: list[tuple[str, type]] = []  # fields whose default is an empty list or mapping
        for name, info in cls.model_fields.items():
            default = info.get_default(call_default_factory=True)
            self.defaults[name] = default
            if isinstance(default, (list, dict)):
                if default:
                    raise ValueError(f"{cls.__name__}.{name}: a non-empty mutable default")
                self.fresh.append((name, type(default)))

    def make(self, given: dict[str, Any]) -> P:
        """The instance with the fields ``given`` (already in the model's form), the others at their defaults."""
        values = self.defaults.copy()
        values.update(given)
        for name, kind in self.fresh:
            if name not in given:
                values[name] = kind()
        model = _new(self.cls)  # the instance as pydantic's model_construct makes it
        _set(model, "__dict__", values)
        _set(model, "__pydantic_fields_set__", set(given))
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        return model

    def build(self, data: Any) -> P:
        if type(data) is not dict:
            raise _Decline
        checks = self.checks
        given = {}
        for key, value in data.items():
            check = checks.get(key)
            if check is None:
                raise _Decline
            given[key] = check(value)
        return self.make(given)


# what each model's validators are, as build_case_schema writes them: anything else disables the fast path
# ("unrecorded" drops findings written as not done: such a value is not canonical, so the fast path declines it)
_KNOWN_VALIDATORS = {"Case": {"not_a_mapping", "check_expected", "unrecorded"}}


class FastCase:
    """The fast path for one :class:`~ddx.knowledge.case.CaseSchema` (built once, used for every case)."""

    def __init__(self, schema: CaseSchema):
        vocab = schema.vocab
        models = schema.models
        for name, cls in models.items():
            decorators = cls.__pydantic_decorators__
            named = (
                set(decorators.field_validators)
                | set(decorators.model_validators)
                | set(decorators.validators)
                | set(decorators.root_validators)
                | set(decorators.field_serializers)
                | set(decorators.model_serializers)
            )
            if (
                named - _KNOWN_VALIDATORS.get(cls.__name__, set())
                or cls.__pydantic_post_init__
                or cls.__pydantic_root_model__
                or cls.model_config.get("extra") != "forbid"
            ):
                raise ValueError(f"{name}: a model the fast path does not know")
        self.patient = _Part(models["patient"], {"age": _number(ge=0, le=120), "sex": _term(vocab.sex)})
        self.clinical = _Part(
            models["clinical"],
            {
                "site": _term(vocab.sites),
                "depth": _term(vocab.depth),
                "size_cm": _number(gt=0, le=300),
                "presentation": _text,
                "symptoms": _terms(vocab.symptoms),
            },
        )
        morphology: dict[str, Check] = {}
        for name, mf in vocab.morphology.items():
            if mf.kind == "list" and mf.terms is not None:
                morphology[name] = _terms(mf.terms)
            elif mf.kind == "term" and mf.terms is not None:
                morphology[name] = _term(mf.terms)
            elif mf.kind == "presence":
                morphology[name] = _term(vocab.presence)
            elif mf.kind == "number":
                morphology[name] = _number(ge=mf.min, le=mf.max)
        self.morphology = _Part(models["morphology"], morphology)
        self.finding = _Part(
            models["stains"],
            {
                "result": _term(vocab.stain_results),
                "extent": _term(vocab.stain_extents),
                "intensity": _term(vocab.stain_intensities),
                "pattern": _term(vocab.stain_patterns),
                "percent": _number(ge=0, le=100),
            },
        )
        self.results = _canonical(vocab.stain_results)
        self.stains = _canonical(vocab.stains)
        self.allowed = {s: frozenset(p) if (p := vocab.stain_patterns_for(s)) is not None else None for s in self.stains}
        self.molecular = _canonical(vocab.molecular)
        self.presence = _canonical(vocab.presence)
        # a shorthand result (focal: positive, focal) as the model expands it, for any stain that takes no pattern
        self.shorthand: dict[str, tuple[dict[str, Any], set[str]]] = {}
        some_stain = next(iter(sorted(self.stains)), None)
        for word in vocab.stain_shorthand:
            if some_stain is None or type(word) is not str or not _plain(word):
                continue
            try:
                case = schema.model.model_validate({"id": "x", "stains": {some_stain: word}})
                finding = case.stains[some_stain]
            except ValueError:
                continue
            self.shorthand[word] = (
                {k: v for k, v in finding.__dict__.items() if k in finding.model_fields_set},
                set(finding.model_fields_set),
            )
        # a finding written as its result alone ("positive", "focal"): its values and fields set (a shorthand
        # first, as the model reads it)
        self.words: dict[str, tuple[dict[str, Any], frozenset[str]]] = {}
        for word, (given, named) in self.shorthand.items():
            made = self.finding.make(dict(given))
            self.words[word] = (made.__dict__, frozenset(named))
        for word in self.results - set(self.shorthand):
            made = self.finding.make({"result": word})
            self.words[word] = (made.__dict__, frozenset(made.model_fields_set))
        self.case = _Part(schema.model, {})
        self.sections = {"patient": self.patient, "clinical": self.clinical, "morphology": self.morphology}
        # what facts_row needs that case_facts reads from the vocabulary
        self.site_group_of = vocab.site_group_of
        self.morphology_keys = [(name, f"morphology__{name}") for name in vocab.morphology]
        self.implies = list(vocab.molecular_implies.items())
        self.stain_keys = {stain: stain_keys(stain) for stain in self.stains}
        if tuple(self.finding.defaults) != STAIN_FIELDS or any(
            v is not None
            for f, v in self.finding.defaults.items()
            if f != "result"  # a result is always given
        ):
            raise ValueError("a stain finding's fields are not the fast path's")
        # a finding written as its result alone: its facts, as (index in STAIN_FIELDS, value)
        self.word_facts = {
            word: tuple((i, v) for i, f in enumerate(STAIN_FIELDS) if (v := values.get(f)) is not None)
            for word, (values, _) in self.words.items()
        }
        self._plans: dict[int, tuple[list[ColumnSpec], list[_Column | None] | None]] = {}
        expected = _term(schema.entities) if schema.entities is not None else _text
        self.top: dict[str, Callable[[Any], Any]] = {
            "id": self._id,
            "title": _text,
            "expected": expected,
            "source": _text,
            "notes": _text,
            "patient": self.patient.build,
            "clinical": self.clinical.build,
            "morphology": self.morphology.build,
            "stains": self._stains,
            "molecular": self._molecular,
        }
        if set(self.top) != set(self.case.defaults):
            raise ValueError("the case model's keys are not the fast path's")
        for part, names in (
            (self.patient, {"age", "sex"}),
            (self.clinical, {"site", "depth", "size_cm", "presentation", "symptoms"}),
            (self.morphology, set(morphology)),
            (self.finding, set(self.finding.checks)),
        ):
            if set(part.defaults) != names or set(part.checks) != names:
                raise ValueError(f"{part.cls.__name__}: its keys are not the fast path's")
        specs_of = (list_columns(vocab), number_columns(vocab))
        for probe in _probes(vocab, schema.entities):  # a validator the fast path does not mirror: not used
            fast = self.build(probe)
            model = schema.model.model_validate(probe)
            if fast is None or _state(fast) != _state(model):
                raise ValueError(f"the fast path and the model differ on {probe!r}")
            # the same probe as a sheet row: the row's case, and its facts read without the case (facts_row,
            # a second writer of case_facts's facts), must be the model's. A row the two readers both decline
            # (a cell the fast path does not read as text, such as a negative number a vocabulary allows) takes
            # the model like any such row: nothing to compare, and no reason to turn the fast path off.
            columns, cells = _probe_row(probe)
            specs = column_specs(columns, *specs_of)
            row_case, row_facts = self.build_row(specs, cells), self.facts_row(specs, cells)
            if (row_case is None) != (row_facts is None):
                raise ValueError(f"the sheet row readers disagree on taking the sheet row of {probe!r}")
            if row_case is None or row_facts is None:
                continue
            want = case_facts(model, vocab)
            if (
                _state(row_case) != _state(model)
                or (row_facts.id, row_facts.expected) != (model.id, model.expected)
                or list(row_facts.facts.items()) != list(want.items())
                or [type(v) for v in row_facts.facts.values()] != [type(v) for v in want.values()]
            ):
                raise ValueError(f"the facts path and the model differ on the sheet row of {probe!r}")

    def build(self, data: Any) -> CaseModel | None:
        """The case for a plainly canonical mapping, or None (validate it with the model)."""
        if type(data) is not dict or "id" not in data:
            return None
        top = self.top
        given = {}
        try:
            for key, value in data.items():
                check = top.get(key)
                if check is None:
                    return None
                given[key] = check(value)
        except _Decline:
            return None
        return self.case.make(given)

    def build_row(self, specs: list[ColumnSpec], cells: list[str], decimal_comma: bool = False) -> CaseModel | None:
        """The case for a sheet row (its cells under ``specs``, as :func:`ddx.loader.sheet_row` keeps them)
        whose columns and cells are all plainly canonical, built without making the row a mapping first;
        None for anything else (make the mapping, :meth:`ddx.loader.RawCase.mapping`, and validate that).
        The case is ``build(mapping)``'s."""
        read = self._read_row(specs, cells, decimal_comma)
        if read is None:
            return None
        top, parts, stains, molecular = read
        try:
            for section, given in parts.items():
                top[section] = self.sections[section].make(given)
            if stains:
                top["stains"] = self._stains(stains)
            if molecular:
                top["molecular"] = molecular
        except _Decline:
            return None
        return self.case.make(top)

    def facts_row(self, specs: list[ColumnSpec], cells: list[str], decimal_comma: bool = False) -> RowFacts | None:
        """A sheet row read straight to what ranking needs, without making the case: its id, its
        ``expected`` and its facts, equal to ``case_facts(build_row(...))`` (:func:`ddx.facts.case_facts`,
        every key, in its order); None wherever :meth:`build_row` returns None. ``tests/test_fastpath.py``
        holds the two equal."""
        read = self._read_row(specs, cells, decimal_comma)
        if read is None:
            return None
        top, parts, stains, molecular = read
        facts: dict[str, Any] = {}
        patient = parts.get("patient")
        if patient is not None:
            for name, key in (("age", "patient__age"), ("sex", "patient__sex")):
                if (value := patient.get(name)) is not None:
                    facts[key] = value
        clinical = parts.get("clinical")
        if clinical is not None:
            site = clinical.get("site")
            if site is not None:
                facts["clinical__site"] = site
                if (group := self.site_group_of.get(site)) is not None:
                    facts["clinical__site_group"] = group
            for name, key in (("depth", "clinical__depth"), ("size_cm", "clinical__size_cm")):
                if (value := clinical.get(name)) is not None:
                    facts[key] = value
            if symptoms := clinical.get("symptoms"):
                facts["clinical__symptoms"] = sorted(set(symptoms))
        morphology = parts.get("morphology")
        if morphology is not None:
            for name, key in self.morphology_keys:
                value = morphology.get(name)
                if value is None or value == []:
                    continue
                facts[key] = sorted(set(value)) if type(value) is list else value
        keys = self.stain_keys
        try:
            for stain, value in stains.items():
                names = keys[stain]
                if type(value) is str:  # a result or a shorthand alone: its facts are known in advance
                    known = self.word_facts.get(value)
                    if known is None:
                        raise _Decline
                    for i, found in known:
                        facts[names[i]] = found
                else:
                    given = self._finding_given(stain, value)
                    for i, name in enumerate(STAIN_FIELDS):  # the result is given, every other default is None
                        if (found := given.get(name)) is not None:
                            facts[names[i]] = found
        except _Decline:
            return None
        if molecular:
            for test, result in molecular.items():
                facts[f"molecular__{test}"] = result
            for test, implied in self.implies:
                if facts.get(f"molecular__{test}") == "present":
                    facts[f"molecular__{implied}"] = "present"
        return RowFacts(top["id"], top.get("expected"), facts)

    def _read_row(
        self, specs: list[ColumnSpec], cells: list[str], decimal_comma: bool
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any], dict[str, str]] | None:
        """A row's cells checked and sorted by where they go: the top-level values, each part's given
        values (in the model's form), each stain's cell (a result or shorthand, or a mapping of its
        details) and each molecular result; None for a row that is not plainly canonical."""
        plan = self._plan(specs)
        if plan is None:
            return None
        top: dict[str, Any] = {}
        parts: dict[str, dict[str, Any]] = {}
        stains: dict[str, Any] = {}
        molecular: dict[str, str] = {}
        presence = self.presence
        try:
            for entry, cell in compress(zip(plan, cells), cells):  # the cells not empty
                value: Any = cell.strip()
                if not value or entry is None:
                    continue
                kind, key, check, split = entry
                if kind == _STAIN:  # stains.X: the result (or shorthand), as _put puts it
                    found = stains.get(key)
                    if type(found) is dict:
                        found["result"] = value
                    else:
                        stains[key] = value
                    continue
                if split is not None:
                    if split:  # a list column, split as _row_to_case splits it
                        value = [v for v in LIST_SEPARATORS.split(value) if v] if LIST_SEPARATOR.search(value) else [value]
                    elif decimal_comma and "," in value:  # a decimal comma: the mapping reads it
                        return None
                if kind == _PART:
                    section, name = key
                    given = parts.get(section)
                    if given is None:
                        parts[section] = {name: check(value)}
                    else:
                        given[name] = check(value)
                elif kind == _FINDING:  # stains.X.pattern and the like (stains.X.result too: the later wins)
                    stain, name = key
                    found = stains.get(stain)
                    if found is None:
                        stains[stain] = {name: value}
                    elif type(found) is dict:
                        found[name] = value
                    else:
                        stains[stain] = {"result": found}
                        stains[stain][name] = value
                elif kind == _MOLECULAR:
                    if value not in presence:
                        return None
                    molecular[key] = value
                else:
                    top[key] = check(value)
        except _Decline:
            return None
        if "id" not in top:
            return None
        return top, parts, stains, molecular

    def _plan(self, specs: list[ColumnSpec]) -> list[_Column | None] | None:
        """What each column of a sheet gives (None for a column without a name), or None when some column
        is not plainly canonical (a key the model would place, refuse or merge: the mapping is made).
        Made once per sheet (a few, kept by the identity of the sheet's specs)."""
        hit = self._plans.get(id(specs))
        if hit is not None and hit[0] is specs:
            return hit[1]
        columns = [
            self._column(parts, True if is_list else False if is_number else None) if name else None
            for name, parts, is_list, is_number in specs
        ]
        plan = None if any(name and column is None for (name, _, _, _), column in zip(specs, columns)) else columns
        if len(self._plans) >= 8:
            self._plans.clear()
        self._plans[id(specs)] = (specs, plan)
        return plan

    def _column(self, parts: list[str], split: bool | None) -> _Column | None:
        """What a column named by ``parts`` gives; ``split``: True for a list column, False for a number
        column (a decimal comma), else None. None for a column the fast path does not read."""
        head, key = parts[0], parts[-1]
        if len(parts) == 1 and head in _TOP_TEXT and not split:
            return _TOP, head, self.top[head], split
        if len(parts) == 2 and head in self.sections and key in self.sections[head].checks:
            return _PART, (head, key), self.sections[head].checks[key], split
        if len(parts) == 2 and head == "stains" and key in self.stains and not split:
            return _STAIN, key, _text, split
        if len(parts) == 3 and head == "stains" and parts[1] in self.stains and key in self.finding.checks and not split:
            return _FINDING, (parts[1], key), _text, split
        if len(parts) == 2 and head == "molecular" and key in self.molecular and not split:
            return _MOLECULAR, key, _text, split
        return None

    @staticmethod
    def _id(value: Any) -> Any:
        if type(value) is str and _ID.fullmatch(value):
            return value
        raise _Decline

    def _stains(self, data: Any) -> Any:
        if type(data) is not dict:
            raise _Decline
        out = {}
        stains, words, cls = self.stains, self.words, self.finding.cls
        for stain, value in data.items():
            if type(stain) is not str or stain not in stains:
                raise _Decline
            if type(value) is str:  # a result or a shorthand alone: its finding is known in advance
                known = words.get(value)
                if known is None:
                    raise _Decline
                finding = _new(cls)
                _set(finding, "__dict__", known[0].copy())
                _set(finding, "__pydantic_fields_set__", set(known[1]))
                _set(finding, "__pydantic_extra__", None)
                _set(finding, "__pydantic_private__", None)
                out[stain] = finding
            else:
                out[stain] = self._finding(stain, value)
        return out

    def _finding(self, stain: str, value: Any) -> BaseModel:
        """A stain's finding given as a mapping (``{result: positive, pattern: nuclear}``)."""
        return self.finding.make(self._finding_given(stain, value))

    def _finding_given(self, stain: str, value: Any) -> dict[str, Any]:
        """The fields a stain's finding given as a mapping sets, in the model's form."""
        if type(value) is not dict:
            raise _Decline
        result = value.get("result")
        given: dict[str, Any] = {}
        if type(result) is str and result in self.shorthand:
            given.update(self.shorthand[result][0])
            rest = {k: v for k, v in value.items() if k != "result"}
        elif type(result) is str and result in self.results:
            rest = value
        else:
            raise _Decline
        part = self.finding
        checks = part.checks
        for key, item in rest.items():
            check = checks.get(key)
            if check is None:
                raise _Decline
            given[key] = check(item)
        pattern = given.get("pattern")
        if pattern is not None:
            allowed = self.allowed[stain]
            if allowed is not None and pattern not in allowed:
                raise _Decline
        return given

    def _molecular(self, data: Any) -> Any:
        if type(data) is not dict:
            raise _Decline
        canon, presence = self.molecular, self.presence
        for test, result in data.items():
            if type(test) is not str or test not in canon or type(result) is not str or result not in presence:
                raise _Decline
        return dict(data)


def _state(value: Any) -> Any:
    """What a consumer can see of a case: classes, fields in order with their values and types, fields set."""
    if isinstance(value, BaseModel):
        return (
            type(value),
            [(k, _state(v)) for k, v in value.__dict__.items()],
            value.model_fields_set,
            value.__pydantic_extra__,
            value.__pydantic_private__,
        )
    if isinstance(value, dict):
        return dict, [(k, _state(v)) for k, v in value.items()]
    if isinstance(value, list):
        return list, [_state(v) for v in value]
    return type(value), value


def _probe_row(probe: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A probe case as a sheet's columns and one row of cells (dotted column names; a stain's result in its
    own column ``stains.X``, its other parts in ``stains.X.part``; lists joined with ``;``)."""
    columns: list[str] = []
    cells: list[str] = []

    def put(name: str, value: Any) -> None:
        columns.append(name)
        if isinstance(value, list):
            cells.append("; ".join(value))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            cells.append(format(Decimal(repr(value)), "f"))  # as a sheet holds it: 0.00001, not 1e-05
        else:
            cells.append(str(value))

    for key, value in probe.items():
        if not isinstance(value, dict):
            put(key, value)
            continue
        for name, item in value.items():
            if not isinstance(item, dict):
                put(f"{key}.{name}", item)
                continue
            for part, given in item.items():
                put(f"{key}.{name}" if part == "result" else f"{key}.{name}.{part}", given)
    return columns, cells


def _probes(vocab: Vocabulary, entities: TermSet | None) -> list[dict[str, Any]]:
    """Canonical cases with every key given (numbers as numbers and as text), for the self-check: the fast
    path must take each and make what the model makes."""

    def first(termset: TermSet) -> str:
        return termset.terms[0]

    morphology: dict[str, Any] = {}
    for name, mf in vocab.morphology.items():
        if mf.terms is not None and mf.kind in ("list", "term"):
            morphology[name] = mf.terms.terms[:2] if mf.kind == "list" else first(mf.terms)
        elif mf.kind == "presence":
            morphology[name] = first(vocab.presence)
        elif mf.kind == "number":
            morphology[name] = mf.min if mf.min is not None else 1
    stains: dict[str, Any] = {}
    words = vocab.stain_results.terms + [w for w in vocab.stain_shorthand if isinstance(w, str)]
    for n, stain in enumerate(vocab.stains.terms):
        patterns = vocab.stain_patterns_for(stain) or vocab.stain_patterns.terms
        stains[stain] = (
            words[n % len(words)]
            if n % 2
            else {
                "result": words[n % len(words)],
                "extent": first(vocab.stain_extents),
                "intensity": first(vocab.stain_intensities),
                "pattern": patterns[0],
                "percent": "12.5",
            }
        )
    case = {
        "id": "probe-1",
        "title": "t",
        "source": "s",
        "notes": "n",
        "patient": {"age": 35, "sex": first(vocab.sex)},
        "clinical": {
            "site": first(vocab.sites),
            "depth": first(vocab.depth),
            "size_cm": "2.5",
            "presentation": "p",
            "symptoms": vocab.symptoms.terms[:2],
        },
        "morphology": morphology,
        "stains": stains,
        "molecular": {t: first(vocab.presence) for t in vocab.molecular.terms},
    }
    if entities is not None and entities.terms:
        case["expected"] = first(entities)
    return [case, {"id": "probe-2", "patient": {"age": "35.5"}, "clinical": {"symptoms": first(vocab.symptoms)}}]
