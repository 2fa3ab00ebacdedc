"""Pydantic models for the case-file contract (docs/case-format.md).

The models are built from a :class:`~ddx.vocabulary.Vocabulary`, so the allowed
terms and synonyms come from ``rules/vocabulary.yaml``. Every value is
normalised to its canonical term, and numbers are coerced and range-checked
here, before anything reaches the rule engine (which compares ``"5" >= 40`` as
strings).
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ddx.errors import Problem
from ddx.vocabulary import TermSet, UnknownTerm, Vocabulary, fold

CASE_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,200}$"
_ID_RE = re.compile(CASE_ID_PATTERN)
TOP_LEVEL_KEYS = ["id", "title", "expected", "source", "patient", "clinical", "morphology", "stains", "molecular",
                  "notes"]


def _term(termset: TermSet) -> Callable[[Any], str]:
    def normalize(value: Any) -> str:
        if value is None or isinstance(value, (bool, dict, list)):
            raise PydanticCustomError("term_type", "expected a {kind} term, got {got}",
                                      {"kind": termset.kind, "got": type(value).__name__})
        try:
            return termset.normalize(value)
        except UnknownTerm as exc:
            raise PydanticCustomError("unknown_term", "{msg}",
                                      {"msg": str(exc), "suggestions": exc.suggestions}) from None

    return normalize


def _number(value: Any) -> Any:
    """Refuse booleans and non-finite numbers; strings are coerced by pydantic."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "expected a number, got a boolean")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise PydanticCustomError("number_type", "expected a number, got '{got}'", {"got": value}) from None
        value = number
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("number_finite", "expected a finite number")
    return value


def _listify(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    return value


Number = Annotated[float, BeforeValidator(_number)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class StainFinding(StrictModel):
    """One immunostain: a result with optional extent, intensity, pattern, percent."""

    result: str
    extent: str | None = None
    intensity: str | None = None
    pattern: str | None = None
    percent: Annotated[Number, Field(ge=0, le=100)] | None = None

    @property
    def positive(self) -> bool:
        return self.result == "positive"


@dataclass
class CaseSchema:
    """The pydantic ``Case`` model for one vocabulary (and set of entity slugs)."""

    vocab: Vocabulary
    model: type[BaseModel]

    def validate(self, data: Any) -> BaseModel:
        return self.model.model_validate(data)


def build_case_schema(vocab: Vocabulary, entities: TermSet | None = None) -> CaseSchema:
    SexT = Annotated[str, BeforeValidator(_term(vocab.sex))]
    DepthT = Annotated[str, BeforeValidator(_term(vocab.depth))]
    SiteT = Annotated[str, BeforeValidator(_term(vocab.sites))]
    SymptomT = Annotated[str, BeforeValidator(_term(vocab.symptoms))]
    PresenceT = Annotated[str, BeforeValidator(_term(vocab.presence))]
    stain_key = Annotated[str, BeforeValidator(_term(vocab.stains))]
    molecular_key = Annotated[str, BeforeValidator(_term(vocab.molecular))]
    result_norm = _term(vocab.stain_results)
    extent_norm = _term(vocab.stain_extents)
    intensity_norm = _term(vocab.stain_intensities)
    pattern_norm = _term(vocab.stain_patterns)

    class Patient(StrictModel):
        age: Annotated[Number, Field(ge=0, le=120)] | None = None
        sex: SexT | None = None

    class Clinical(StrictModel):
        site: SiteT | None = None
        depth: DepthT | None = None
        size_cm: Annotated[Number, Field(gt=0, le=300)] | None = None
        presentation: str | None = None
        symptoms: Annotated[list[SymptomT], BeforeValidator(_listify)] = []

        @property
        def site_group(self) -> str | None:
            return vocab.site_group_of.get(self.site) if self.site else None

    morph_fields: dict[str, Any] = {}
    for name, mf in vocab.morphology.items():
        if mf.kind == "list":
            item = Annotated[str, BeforeValidator(_term(mf.terms))]
            morph_fields[name] = (Annotated[list[item], BeforeValidator(_listify)], [])
        elif mf.kind == "term":
            morph_fields[name] = (Annotated[str, BeforeValidator(_term(mf.terms))] | None, None)  # type: ignore[arg-type]
        elif mf.kind == "presence":
            morph_fields[name] = (PresenceT | None, None)
        else:
            morph_fields[name] = (Annotated[Number, Field(ge=mf.min, le=mf.max)] | None, None)
    Morphology = create_model("Morphology", __base__=StrictModel, **morph_fields)

    def stain_finding(value: Any) -> Any:
        if isinstance(value, str) or isinstance(value, (int, float)) and not isinstance(value, bool):
            value = {"result": value}
        if not isinstance(value, dict):
            raise PydanticCustomError("stain_type", "expected a result (e.g. positive) or a mapping with 'result'")
        out = dict(value)
        result = out.get("result")
        if result is None:
            raise PydanticCustomError("stain_result", "a stain needs a 'result' (positive, negative, equivocal)")
        key = result if isinstance(result, str) and result in vocab.stain_shorthand else fold(result)
        if key in vocab.stain_shorthand:
            expanded = vocab.stain_shorthand[key]
            out["result"] = expanded["result"]
            if "extent" in expanded and out.get("extent") is None:
                out["extent"] = expanded["extent"]
        else:
            out["result"] = result_norm(result)
        for name, norm in (("extent", extent_norm), ("intensity", intensity_norm), ("pattern", pattern_norm)):
            if out.get(name) is not None:
                out[name] = norm(out[name])
        return out

    stain = Annotated[StainFinding, BeforeValidator(stain_finding)]

    def no_duplicate_keys(termset: TermSet) -> Callable[[Any], Any]:
        def check(value: Any) -> Any:
            if isinstance(value, dict):
                seen: dict[str, Any] = {}
                for key in value:
                    try:
                        canonical = termset.normalize(key)
                    except UnknownTerm:
                        continue  # reported by the key's own validator
                    else:
                        if canonical in seen:
                            raise PydanticCustomError(
                                "duplicate_key", "'{a}' and '{b}' both name '{c}'; give it once",
                                {"a": seen[canonical], "b": key, "c": canonical})
                        seen[canonical] = key
            return value
        return check

    case_fields: dict[str, Any] = {
        "id": (Annotated[str, BeforeValidator(_case_id)], ...),
        "title": (str | None, None),
        "expected": (str | None, None),
        "patient": (Patient | None, None),
        "clinical": (Clinical | None, None),
        "morphology": (Morphology | None, None),
        "stains": (Annotated[dict[stain_key, stain], BeforeValidator(no_duplicate_keys(vocab.stains))], {}),
        "molecular": (Annotated[dict[molecular_key, PresenceT],
                                BeforeValidator(no_duplicate_keys(vocab.molecular))], {}),
        "notes": (str | None, None),
        "source": (str | None, None),   # extension: the citation a case was taken from
    }

    validators: dict[str, Any] = {}

    def check_patterns(cls: Any, stains: dict[str, StainFinding]) -> dict[str, StainFinding]:
        for name, finding in stains.items():
            allowed = vocab.stain_patterns_for(name)
            if finding.pattern and allowed is not None and finding.pattern not in allowed:
                raise PydanticCustomError(
                    "stain_pattern", "stains.{stain}.pattern: '{pattern}' is not a pattern of {label}; use one of {allowed}",
                    {"stain": name, "pattern": finding.pattern, "label": vocab.stains.label(name),
                     "allowed": ", ".join(allowed), "suggestions": allowed})
        return stains

    validators["check_patterns"] = field_validator("stains")(check_patterns)

    if entities is not None:
        expected_norm = _term(entities)

        def check_expected(cls: Any, value: str | None) -> str | None:
            return None if value is None else expected_norm(value)

        validators["check_expected"] = field_validator("expected")(check_expected)

    def not_a_mapping(cls: Any, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError("case_type", "a case must be a mapping with at least an 'id'")
        return data

    validators["not_a_mapping"] = model_validator(mode="before")(not_a_mapping)

    Case = create_model(
        "Case", __base__=StrictModel, __validators__=validators, **case_fields
    )
    return CaseSchema(vocab=vocab, model=Case)


def _case_id(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        raise PydanticCustomError("id_type", "a case id must be a string of letters, digits, '-', '_', '.'")
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise PydanticCustomError(
            "id_pattern", "a case id is 1-200 letters, digits, '-', '_' or '.'; got '{got}'", {"got": str(value)[:80]})
    return value


_SECTION_TERMSETS = {"patient": ["age", "sex"], "clinical": ["site", "depth", "size_cm", "presentation", "symptoms"]}


def problems_from_validation(exc: ValidationError, vocab: Vocabulary, *, file: str | None,
                             case: str | None) -> list[Problem]:
    """Turn a pydantic ValidationError into located, suggestion-bearing problems."""
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if p != "[key]"]
        # function-before validators add a 'function-before[...]' segment in unions
        loc = [p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "union[")))]
        path = ""
        for part in loc:
            if isinstance(part, int):
                path += f"[{part}]"
            else:
                path += ("." if path else "") + str(part)
        ctx = err.get("ctx") or {}
        suggestions = list(ctx.get("suggestions", []))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            section = str(loc[0]) if len(loc) > 1 else None
            options = _allowed_keys(section, vocab)
            suggestions = TermSet("key", terms=[], _lookup={o: o for o in options}).suggest(key)
            message = f"unknown key {key!r}" + (f" in {section}" if section else "")
        elif err["type"] == "missing":
            message = f"required key {loc[-1]!r} is missing" if loc else "required key missing"
        problems.append(Problem(message, file=file, case=case, path=path or None, suggestions=suggestions))
    return problems


def _allowed_keys(section: str | None, vocab: Vocabulary) -> list[str]:
    if section is None:
        return TOP_LEVEL_KEYS
    if section == "morphology":
        return list(vocab.morphology)
    if section == "stains":
        return ["result", "extent", "intensity", "pattern", "percent"]
    return _SECTION_TERMSETS.get(section, [])
