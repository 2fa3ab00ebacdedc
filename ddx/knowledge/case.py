"""Pydantic models for the case-file contract (docs/case-format.md).

The models are built from a :class:`~ddx.knowledge.vocabulary.Vocabulary`, so the allowed
terms and synonyms come from ``rules/vocabulary.yaml``. Every value is
normalised to its canonical term, and numbers are coerced and range-checked
here, before anything reaches the rule engine (which compares ``"5" >= 40`` as
strings).

Errors are worded for the person who wrote the case (:func:`problems_from_validation`):
a key in the wrong part of the case names where it belongs, a YAML ``yes`` names
the term to write, a stain result given as an intensity, pattern or percentage
gets the full form, and pydantic's own messages are reworded (:func:`error_text`).
"""

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ddx.errors import Problem
from ddx.knowledge.vocabulary import SENTENCE_STOP, TermSet, UnknownTerm, Vocabulary, fold, fold_sentence

if TYPE_CHECKING:
    from ddx.fastcase import RowFacts

CASE_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,200}$"
_ID_RE = re.compile(CASE_ID_PATTERN)
_HOMES_MEMO = 4096  # keys whose homes a case schema remembers (then it forgets them all and starts again)
# a first guess at a top-level key (a sheet's column, a case file's key): the word, folded -> the key to write. A
# hint only, never read as that key: "Diagnosis" may be the authors' or a referral diagnosis
KEY_WORDS = {
    **dict.fromkeys(["case", "case_id", "case_no", "case_number", "patient_id"], "id"),
    **dict.fromkeys(["diagnosis", "dx", "final_diagnosis", "authors_diagnosis", "true_diagnosis"], "expected"),
    **dict.fromkeys(["reference", "ref", "citation", "pmid", "doi", "paper"], "source"),
    **dict.fromkeys(["comment", "comments", "remarks", "note"], "notes"),
    **dict.fromkeys(["ihc", "immunohistochemistry", "immunostains", "immunos", "stain", "markers"], "stains"),
    **dict.fromkeys(["molecular_tests", "molecular_results", "molecular_pathology", "genetics", "cytogenetics"], "molecular"),
    **dict.fromkeys(["histology", "microscopy", "morphologic_findings", "histologic_findings"], "morphology"),
    **dict.fromkeys(["clinical_data", "clinical_history", "history"], "clinical"),
}
# the same within a part: a word a report uses for a key the case format names otherwise
SECTION_KEY_WORDS = {
    "patient": {"gender": "sex", **dict.fromkeys(["age_years", "age_at_diagnosis", "years"], "age")},
    "clinical": {
        **dict.fromkeys(["location", "anatomic_site", "site_of_tumour", "site_of_tumor", "localisation", "localization"], "site"),
        **dict.fromkeys(["size", "tumour_size", "tumor_size", "diameter", "largest_dimension"], "size_cm"),
    },
}
TOP_LEVEL_KEYS = ["id", "title", "expected", "source", "patient", "clinical", "morphology", "stains", "molecular", "notes"]


def _term(termset: TermSet) -> Callable[[Any], str]:
    def normalize(value: Any) -> str:
        if isinstance(value, bool):
            raise _yes_no(value, termset)
        if value is None or isinstance(value, (dict, list)):
            kind = termset.kind.removesuffix(" term")  # "morphology.pleomorphism term" names itself a term already
            terms = list(termset.terms)
            hint, suggestions = "", terms if len(terms) <= 8 else []  # a short list of terms is offered whole
            if isinstance(value, list):
                hint = "; this field takes one term, without brackets"
                held: list[str] = []  # the terms the list holds ([dense] -> prominent), else those nearest its words
                for item in value:
                    if isinstance(item, str):
                        try:
                            held.append(termset.normalize(item))
                        except UnknownTerm:
                            pass
                if not held:
                    held = [near for item in value if isinstance(item, str) for near in termset.suggest(item)]
                if held:
                    suggestions = list(dict.fromkeys(held))[:3]
            raise PydanticCustomError(
                "term_type",
                "expected a {kind} term, got {got}{hint}",
                {"kind": kind, "got": kind_of(value), "hint": hint, "suggestions": suggestions},
            )
        try:
            return termset.normalize(value)
        except UnknownTerm as exc:
            # the nearest terms are the problem's suggestions (Problem adds "did you mean")
            raise PydanticCustomError(
                "unknown_term",
                "unknown {kind} {term}",
                {"kind": exc.kind, "term": repr(str(exc.term)), "suggestions": exc.suggestions},
            ) from None

    return normalize


def _result_term(results: TermSet, shorthand: Iterable[str]) -> Callable[[Any], str]:
    """A stain result (as :func:`_term`); an unknown word's suggestions take in the shorthand words that
    stand for a result and its extent (``difuse`` -> ``diffuse``), which a result field also accepts."""
    term = _term(results)
    words = [w for w in shorthand if isinstance(w, str)]

    def check(value: Any) -> str:
        try:
            return term(value)
        except PydanticCustomError as exc:
            if exc.type != "unknown_term" or not isinstance(value, str) or not words:
                raise
            near = difflib.get_close_matches(fold(value), words, n=2, cutoff=0.6)
            context = dict(exc.context or {})
            others = results.near(value)  # the results near it (none: the message listed every result)
            if near or others:
                context["suggestions"] = near + others
            else:
                context["suggestions"] = list(results.terms) + words  # near nothing: every word a result takes
            raise PydanticCustomError("unknown_term", exc.message_template, context) from None

    return check


def _either_reading(words: frozenset[str], negative: str, check: Callable[[Any], str]) -> Callable[[Any], str]:
    """``check``, refusing first a word that may say the test was not done or that it found nothing
    (vocabulary ``not_done_or_negative``: "ND"), with both readings: one is unknown, the other ``negative``."""

    def read(value: Any) -> str:
        if isinstance(value, str) and fold_sentence(value) in words:
            raise PydanticCustomError(
                "unknown_term",
                "'{got}' may mean not done or not detected: leave the key out if the test was not done "
                "(or write 'not done'), write {negative} if it was done and found nothing",
                {"got": value, "negative": negative},
            )
        return check(value)

    return read


def _site(sites: TermSet, sides: Sequence[str], regions: Sequence[str] = (), depths: TermSet | None = None) -> Callable[[Any], str]:
    """A site term (as :func:`_term`); with the vocabulary's ``site_sides``, the longest site term among the
    words is read, every word around it being one a report puts around a site: the side ("left thigh",
    "thigh, left", "thigh (left)", "R forearm"), a position within the region ("posterior thigh", "proximal
    medial thigh") and the words around it ("soft tissue of the thigh", "posterior aspect of the left thigh"),
    since no rule reads them: a report's laterality or position is no error. A word there that may mean
    several sites ("left hip") is refused with each. An unknown site with no site term near it by spelling is
    offered the site terms it contains ("thigh mass": thigh), or else told where the site terms are listed and
    the ``regions`` (site groups that are site terms) it may write instead. A site written with its depth
    ("deep thigh", "subcutaneous left forearm": words of ``depths``) is refused with both to write, each in
    its own key."""
    term = _term(sites)
    past = frozenset(sides)

    def words_of(value: str) -> list[str]:
        return [w for w in fold(re.sub(r"[,;.()]", " ", value)).split("_") if w]

    def bare(value: str) -> str:
        """The longest run of words that is a site term or an ambiguous site word, every word around it one to
        read past ("lower leg, left": lower_leg, not lower_extremity; "soft tissue of the abdomen": the
        ambiguous phrase, not the abdomen); the value itself, folded, when there is none."""
        words = words_of(value)
        if len(words) > _SITE_WORDS:  # no site is that long: a paragraph in the site field is refused as it stands
            return fold(value)
        for size in range(len(words), 0, -1):
            for start in range(len(words) - size + 1):
                span = "_".join(words[start : start + size])
                around = words[:start] + words[start + size :]
                if (span in sites or span in sites.ambiguous) and past.issuperset(around):
                    # "soft tissue" around a cavity may mean its wall: the entry soft_tissue_of_the_<site> stands
                    # for every way of writing it ("abdomen soft tissue", "soft tissues of the lower abdomen")
                    cavity = f"soft_tissue_of_the_{sites.normalize(span)}" if span in sites else ""
                    if cavity in sites.ambiguous and _TISSUE.intersection(around):
                        return cavity
                    return span
        return fold(value)

    def contained(value: str) -> list[str]:
        """The site terms a value holds among its words (one word or two together), an ambiguous word's
        meanings among them: "thigh mass" -> thigh, "hip mass" -> buttock, groin, thigh, bone."""
        words = words_of(value)
        spans = ["_".join(words[i : i + k]) for k in (2, 1) for i in range(len(words) - k + 1)]
        found: list[str] = []
        for w in spans:
            if w in sites:
                found.append(sites.normalize(w))
            elif w in sites.ambiguous:
                found.extend(sites.ambiguous[w])
        return list(dict.fromkeys(found))

    def with_depth(value: str) -> PydanticCustomError | None:
        """The error for a site written with its depth ("deep thigh"), or None when it is not one."""
        if depths is None:
            return None
        words = words_of(value)
        said = list(dict.fromkeys(w for w in words if w in depths))
        rest = " ".join(w for w in words if w not in depths)
        site = bare(rest) if said and rest else ""
        if site not in sites:
            return None
        meant = list(dict.fromkeys(depths.normalize(w) for w in said))  # "deep subcutaneous": two depths
        return PydanticCustomError(
            "unknown_term",
            "unknown site {term}: {said} the tumour's depth, not its site; write the site and the depth "
            "apart: clinical.site: {site} and clinical.depth: {depth}",
            {
                "term": repr(value),
                "said": " and ".join(repr(w) for w in said) + (" is" if len(said) == 1 else " are"),
                "site": sites.normalize(site),
                "depth": meant[0] if len(meant) == 1 else f"the one the source states ({' or '.join(meant)})",
                "suggestions": [sites.normalize(site)],
            },
        )

    def check(value: Any) -> str:
        if isinstance(value, str) and value not in sites:
            mixed = with_depth(value)
            if mixed is not None:
                raise mixed
        if past and isinstance(value, str) and value not in sites:
            left = bare(value)
            if left and left != fold(value) and left in sites:
                return sites.normalize(left)
            if left in sites.ambiguous:  # "left femoral": the sites the word may mean, as for "femoral"
                raise PydanticCustomError(
                    "unknown_term",
                    "unknown {kind} {term}",
                    {"kind": sites.kind, "term": repr(str(value)), "suggestions": list(sites.ambiguous[left])},
                )
        try:
            return term(value)
        except PydanticCustomError as exc:
            if exc.type != "unknown_term" or (exc.context or {}).get("suggestions"):
                raise
            held = contained(value) if isinstance(value, str) else []
            if held:
                raise PydanticCustomError(
                    "unknown_term", "unknown {kind} {term}", {**(exc.context or {}), "suggestions": held}
                ) from None
            if not regions:
                raise
            raise PydanticCustomError(
                "unknown_term",
                "unknown site {term}: no site term is near it; write the nearest of the sites listed in "
                "docs/case-format.md ('Sites'), or its region: {regions}",
                {"term": (exc.context or {}).get("term", repr(str(value))), "regions": "; ".join(regions), "suggestions": []},
            ) from None

    return check


YES_NO_WORDS = {True: ("yes", "true", "on"), False: ("no", "false", "off")}  # what YAML 1.1 reads as a boolean


def _yes_no(value: bool, termset: TermSet) -> PydanticCustomError:
    """The error for a YAML boolean where a term belongs: names the term to write, where the vocabulary has one."""
    word = next((termset.normalize(w) for w in YES_NO_WORDS[value] if w in termset), None)
    options = [word] if word else termset.terms[:8]
    fix = f"write '{word}'" if word else "write one of " + ", ".join(options)
    return PydanticCustomError(
        "term_boolean",
        "{value} is a yes/no value, not a {kind} term (YAML reads an unquoted {said} so); {fix}",
        {"said": "/".join(YES_NO_WORDS[value]), "value": str(value).lower(), "kind": termset.kind, "fix": fix, "suggestions": options},
    )


def kind_of(value: Any) -> str:
    """What a value is, in words, for messages: "a list", "a mapping", "the number 5", "'text'"."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (YAML reads an unquoted yes/no as true/false)"
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (int, float)):
        return f"the number {value:g}" if isinstance(value, float) else f"the number {value}"
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


_PLAIN_NUMBER = re.compile(r"\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*")
_LEADING_NUMBER = re.compile(r"^\s*([-+]?\d+(?:[.,]\d+)?)(?![\d_eE]|[.,]\d)\s*(\S.*)?$")
_NUM = r"[+]?(?:\d+(?:[.,]\d+)?|\.\d+)"
# "5-10", "1-2/10 HPF", "3 to 4", "<1", "> 20", "5+", "5 or more": a range or a bound, not one value
_RANGE_OR_BOUND = re.compile(
    rf"\s*(?:{_NUM}\s*(?:-|–|—|‒|−|~|to)\s*{_NUM}|[<>≤≥]=?\s*{_NUM}"
    rf"|(?:less than|more than|greater than|fewer than|over|under|above|below|up to|at least|at most)\s+{_NUM}"
    rf"|{_NUM}\s*(?:\+|or more|or less|and above|and over|plus)(?!\w))"
    r"(?![\d.,]).*",
    re.DOTALL | re.IGNORECASE,
)
# "3.5 cm", "35 mm", ".5 cm": a length with its unit (a decimal comma is refused, as in any number)
_LENGTH = re.compile(rf"\s*({_NUM})\s*(cm|mm)\.?\s*", re.IGNORECASE)
_DIMENSIONS = re.compile(rf"\s*{_NUM}\s*(?:cm|mm)?\s*(?:[x×*]\s*{_NUM}\s*(?:cm|mm)?\s*)+", re.IGNORECASE)
# "5th decade", "40s", "in her fifties": a span of ten years, not an age (an ordinal alone may be exact: "3rd week")
_DECADE = re.compile(r"decade|\b\d+0\s*'?s\b|ties\b", re.IGNORECASE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")
_WRITTEN_DATE = re.compile(r"\d{1,2}[/.]\d{1,2}[/.](?:\d{2}|\d{4})")  # 1/2/1980, 01.02.80


def _number(value: Any) -> Any:
    """Refuse booleans and non-finite numbers; text holding a number is read as it.

    Text that starts with a number and goes on (``"6 per 10 HPF"``, ``"6,5"``) is refused
    with the number to write.
    """
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "expected a number, got {got}", {"got": kind_of(value)})
    if isinstance(value, str):
        value = value.replace("\u2212", "-")  # a typeset minus ('−6', from a word processor) is a minus
        if not _PLAIN_NUMBER.fullmatch(value):  # float() would also take "1_0", "inf", "nan"
            raise _not_a_number(value)
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("number_finite", "expected a finite number")
    return value


def _not_a_number(text: str) -> PydanticCustomError:
    if _DATE.fullmatch(text.strip()):  # a date cell of a workbook reads as its ISO text
        return PydanticCustomError(
            "number_type",
            "expected a number, got the date '{got}'; this key takes a number (a date cell in a sheet: format the column as a number)",
            {"got": text},
        )
    if _RANGE_OR_BOUND.fullmatch(text):  # "5-10", "<1", "> 20": a range or a bound is not one value
        return PydanticCustomError(
            "number_type",
            "expected one number, got '{got}', a range or a bound; write the value the source gives for this "
            "case, or leave the key out",
            {"got": text},
        )
    if _WRITTEN_DATE.fullmatch(text.strip()):  # '1/2/1980': a date of birth or of diagnosis, not a number
        return PydanticCustomError(
            "number_type",
            "expected a number, got '{got}', a date; write the number itself (an age: the years at diagnosis)",
            {"got": text},
        )
    found = _LEADING_NUMBER.match(text)
    if found and "," in found.group(1) and not found.group(2):
        fix = found.group(1).replace(",", ".")
        return PydanticCustomError(
            "number_type", "expected a number, got '{got}'; write a decimal point: {fix}", {"got": text, "fix": fix}
        )
    if found:
        return PydanticCustomError(
            "number_type",
            "expected a number, got '{got}'; write the number alone ({fix}), the key names the unit",
            {"got": text, "fix": found.group(1).replace(",", ".")},
        )
    return PydanticCustomError("number_type", "expected a number, got '{got}'", {"got": text})


_AGE_PART = re.compile(
    r"\s*(\d+(?:[.,]\d+)?)[\s-]*(years?|yrs?|y\.?\s*o\.?|y/o|y|months?|mos?|mo|m|weeks?|wks?|wk|w|days?|d)(?!\w)[\s-]*(?:old\b|of\s+age\b)?"
    r"\s*[,.]?\s*(?:and\s+)?",
    re.IGNORECASE,
)
_AGE_UNIT_YEARS = {"y": 1.0, "m": 1 / 12, "w": 7 / 365.25, "d": 1 / 365.25}


def _age(value: Any) -> Any:
    """An age in years (a number; text holding one is read as it, as :func:`_number`), or an age written with
    its units, as reports give an infant's: "3 months", "1 year 6 months", "10 days", "2 wk" -> years. Text
    that is neither is refused with the number to write in years."""
    if isinstance(value, str) and value.strip():
        value = value.replace("\u2212", "-")  # a typeset minus, as in _number
        if _number_text(value):
            return _number(value)
        text, total, pos = value.strip(), 0.0, 0
        while pos < len(text):
            part = _AGE_PART.match(text, pos)
            if part is None or part.end() == pos:
                break
            total += float(part.group(1).replace(",", ".")) * _AGE_UNIT_YEARS[part.group(2)[0].lower()]
            pos = part.end()
        if pos == len(text) and pos > 0:
            return round(total, 4)
        if _DATE.fullmatch(text) or not re.search(r"[^\W\d_]", text):  # a date, or no word: the number's own messages
            raise _not_a_number(text)
        if _RANGE_OR_BOUND.fullmatch(text):  # "35-40 years", "over 50": no one age
            raise _not_a_number(text)
        if _DECADE.search(text):  # "5th decade", "40s": a span of ten years, not an age
            raise PydanticCustomError(
                "number_type",
                "expected a number of years, got '{got}', a span of years; write the age the source gives, or leave the key out",
                {"got": value},
            )
        found = _LEADING_NUMBER.match(text)
        ordinal = re.search(r"\d\s*(?:st|nd|rd|th)\b", text, re.IGNORECASE)  # "3rd week": no number of years to copy
        number = f" ({found.group(1).replace(',', '.')})" if found and not ordinal else ""
        raise PydanticCustomError(
            "number_type",
            "expected a number of years, got '{got}'; write the age in years as a number{number}, or with its units "
            "('3 months', '1 year 6 months', '10 days')",
            {"got": value, "number": number},
        )
    return _number(value)


def _size_cm(value: Any) -> Any:
    """A size in centimetres: a number, or text with its unit, ``"3.5 cm"`` or ``"35 mm"`` (read as 3.5).
    Dimensions (``"5 x 3 x 2 cm"``) and other units are refused: the key takes the greatest dimension in cm."""
    if isinstance(value, str) and not _number_text(value):
        length = _LENGTH.fullmatch(value)
        if length is not None and "," in length.group(1):
            raise PydanticCustomError(
                "number_type",
                "expected a number, got '{got}'; write a decimal point, not a comma, and no thousands separator (3.5 cm; 1200 mm)",
                {"got": value},
            )
        if length is not None:
            number = float(length.group(1))
            return _number(number / 10 if length.group(2).lower() == "mm" else number)
        if _DIMENSIONS.fullmatch(value):
            raise PydanticCustomError(
                "number_type",
                "expected one size, got the dimensions '{got}'; write the greatest dimension in centimetres",
                {"got": value},
            )
        if re.search(r"[^\W\d_]", value) and not _RANGE_OR_BOUND.fullmatch(value) and not _DATE.fullmatch(value.strip()):
            raise PydanticCustomError(
                "number_type",
                "expected a size in centimetres, got '{got}'; write the number of centimetres ('3.5', '3.5 cm'; "
                "'35 mm' is read as 3.5)",
                {"got": value},
            )
    return _number(value)


# "6/10 HPF", "6 per 10 high-power fields", "3 mitoses per HPF", "2/mm2", "4 per mm²": a count with its field area
_AREA_COUNT = re.compile(
    rf"\s*({_NUM})\s*(?:mitoses|mitotic figures|mitotic|mitosis|mfs?)?\s*(?:/|per|in|every)\s*(?:({_NUM})\s*)?"
    r"(?:(hpfs?|high[\s-]*power[\s-]*fields?|high[\s-]*power fields?)|(mm2|mm²|mm\^2|sq\.?\s*mm|square\s+millimet(?:er|re)s?))\.?\s*",
    re.IGNORECASE,
)
# a morphology number field that counts per area, by its name: mitoses_per_10hpf, mitoses_per_mm2
_PER_AREA = re.compile(r".*_per_(?:(\d*)hpf|(mm2))")


def _area_of(name: str) -> tuple[str, float] | None:
    """The area a number field's name says it counts per: ``("hpf", 10.0)``, ``("mm2", 1.0)``, or None."""
    found = _PER_AREA.fullmatch(name)
    if found is None:
        return None
    return ("mm2", 1.0) if found.group(2) else ("hpf", float(found.group(1) or 1))


def _count_per_area(name: str, siblings: dict[str, str]) -> Callable[[Any], Any]:
    """A count per area for morphology field ``name`` (``mitoses_per_10hpf``): a number, or text giving the
    field's own area (``"6/10 HPF"``, ``"6 per 10 high-power fields"``: 6). A count over another number of fields
    (``"5/50 HPF"``) is refused with the count per this field's area to write (1); one per mm² (or per HPF, on a
    per-mm² key) is refused naming the key that takes it (``siblings``: unit -> field name)."""
    unit, area = _area_of(name) or ("", 0.0)
    per = f"{area:g} HPF" if unit == "hpf" else "mm²"  # this key's area, as a message names it

    def read(value: Any) -> Any:
        found = _AREA_COUNT.fullmatch(value) if isinstance(value, str) and unit else None
        if found is None:
            return _number(value)
        if "," in found.group(1) or (found.group(2) and "," in found.group(2)):
            raise _not_a_number(value)
        count, over = float(found.group(1)), float(found.group(2) or 1)
        if over == 0:  # "5/0 HPF": no area to count over, so no count to offer
            raise PydanticCustomError(
                "number_type",
                "expected a count per {area}, got '{got}', a count over no field",
                {"got": value, "area": per},
            )
        given = "hpf" if found.group(3) else "mm2"
        if given == unit and over == area:
            return _number(count)
        if given != unit:
            other = siblings.get(given)
            where = f"write it under morphology.{other}" if other else f"this key takes a count per {per}"
            raise PydanticCustomError(
                "number_type",
                "expected a count per {area}, got '{got}', a count per {given}; {where} (the conversion depends on "
                "the microscope's field area)",
                {
                    "got": value,
                    "area": per,
                    "given": "HPF" if given == "hpf" else "mm²",
                    "where": where,
                },
            )
        raise PydanticCustomError(
            "number_type",
            "expected a count per {area}, got '{got}'; {count} per {over} is {per} per {area}: write {per}",
            {
                "got": value,
                "area": per,
                "count": f"{count:g}",
                "over": ("" if over == 1 else f"{over:g} ") + ("HPF" if given == "hpf" else "mm²"),
                "per": f"{round(count * area / over, 2):g}",
            },
        )

    return read


def _number_text(text: str) -> bool:
    """Whether text is a plain number (``"3.5"``, ``"1e-05"`` as a program writes one; not ``"1_0"``)."""
    return _PLAIN_NUMBER.fullmatch(text) is not None


def _percent(value: Any) -> Any:
    """A percentage: a number, or text such as ``"40%"`` / ``"40 %"`` (the sign is dropped)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        value = value.strip()[:-1].strip()
    return _number(value)


_HINT_WORDS = re.compile(r"[\s,;/]+")
_PERCENT_WORD = re.compile(r"^([0-9]+(?:[.,][0-9]+)?)\s*%?$")
_JOINING = frozenset({"and", "&"})  # words that join the parts of one stain result: read past
_SITE_WORDS = 12  # the most words a site is read from (the longest site term and what reports put around it)
_TISSUE = frozenset({"tissue", "tissues"})  # "soft tissue" around a cavity's name: its wall, or what lies in it
_PARTS = {"extent": "an extent", "intensity": "an intensity", "pattern": "a pattern", "percent": "a percentage"}


_SIGN_AFTER = re.compile(r"(?<=[A-Za-z])\+(?=\s|$)")  # "focal+", "weak+": the word, then its sign


def report_words(text: str) -> str:
    """A stain result as a report's sentence writes it, read as its words: a sign written on a word ("focal+")
    apart from it, a final full stop dropped."""
    return SENTENCE_STOP.sub("", _SIGN_AFTER.sub(" +", text))


def stain_form_hint(
    said: Any, given: dict[str, Any], vocab: Vocabulary, patterns: Sequence[str] | None = None
) -> dict[str, Any] | None:
    """What to write when a stain's result is given as an intensity, a pattern, a percentage or a
    mix of them (``strong``, ``40%``, ``diffuse strong``): None when some word is none of these.

    Returns the context of the message: ``said`` (as written), ``what`` (``an intensity``) and
    ``fix`` (``{result: positive, intensity: strong}``, the mapping to write); ``fields``, that mapping, which
    the case model reads in place of the words; ``clash``, True when the words are in doubt (then refused with
    the fix): a part differs from one given beside the result, a number has no '%', or the percentage
    contradicts the result ('negative 40%'). ``patterns``: the stain's own patterns, when it has a
    list (no hint offers one it would refuse); two values for one part, two results, or an extent, intensity
    or pattern beside a result that is not positive: None.
    """
    # "positive (nuclear membrane)": brackets are spaces, and two words that make one term are joined;
    # "diffuse and strong" reads as "diffuse, strong" (the 'and' joins two parts; two values of one part,
    # "weak and moderate", still have no single reading below)
    raw = [w for w in _HINT_WORDS.split(re.sub(r"[()]", " ", report_words(str(said))).strip().replace(" %", "%")) if w]
    details = (vocab.stain_patterns, vocab.stain_extents, vocab.stain_intensities)
    words: list[str] = []
    joined = False  # the word before was 'and': never join across it ("nuclear and membrane" is two patterns)
    for word in raw:
        if word.lower() in _JOINING:
            joined = True
            continue
        if (
            words
            and not joined
            and any(f"{words[-1]}_{word}" in termset for termset in details)
            and not any(word in t for t in details)
        ):
            words[-1] = f"{words[-1]}_{word}"
        else:
            words.append(word)
        joined = False
    if not words:
        return None
    parts: dict[str, Any] = {}
    result = None
    said_result = False
    bare_number = False  # a number without '%' among the words ('positive 3'): a percentage, or something else?
    for word in words:
        number = _PERCENT_WORD.match(word)
        if number:
            value = float(number.group(1).replace(",", "."))
            if "percent" in parts or not 0 <= value <= 100:
                return None
            parts["percent"] = int(value) if value.is_integer() else value
            bare_number = bare_number or "%" not in word
        elif fold(word) in vocab.stain_shorthand:
            expanded = vocab.stain_shorthand[fold(word)]
            result = result or expanded["result"]
            for key, part in expanded.items():
                if key != "result":
                    if parts.get(key, part) != part:
                        return None  # 'focal/diffuse': two extents, no single reading
                    parts[key] = part
        elif word in vocab.stain_results:
            stated = vocab.stain_results.normalize(word)
            if said_result and stated != result:
                return None  # 'positive negative': two results, no single reading
            result, said_result = stated, True
        else:
            for name, termset in (
                ("intensity", vocab.stain_intensities),
                ("pattern", vocab.stain_patterns),
                ("extent", vocab.stain_extents),
            ):
                if word in termset:
                    term = termset.normalize(word)
                    if name in parts or (name == "pattern" and patterns is not None and term not in patterns):
                        return None  # two patterns, or one this stain does not have: no single form to offer
                    parts[name] = term
                    break
            else:
                return None
    if not parts:
        return None
    if result is None:
        result = "negative" if parts.get("percent") == 0 else "positive"
    if result != "positive" and set(parts) - {"percent"}:
        return None  # 'negative, focal': how a negative stain stained is no reading ddx can take
    fields = {"result": result, **{k: v for k, v in given.items() if k != "result" and v is not None}, **parts}
    # 'negative 40%', 'positive 0%', 'strong' beside {percent: 0}: the result and the percentage disagree
    try:
        percent = float(str(fields["percent"]).rstrip("% ")) if "percent" in fields else None
    except ValueError:
        percent = None
    contradicts = percent is not None and result != "equivocal" and (result == "negative") != (percent == 0)
    named = (["a result"] if said_result else []) + [_PARTS[k] for k in _PARTS if k in parts]
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    what = f"gives {listed} in one value" if said_result or len(named) > 1 else f"is {listed}, not a result"
    fix = "{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"
    termsets = {"extent": vocab.stain_extents, "intensity": vocab.stain_intensities, "pattern": vocab.stain_patterns}

    def same(key: str, given_value: Any, read: Any) -> bool:
        """Whether a key given beside the words says what the words say ('focally' is 'focal'; 40.0 is 40)."""
        if key == "percent":
            try:
                return float(str(given_value).rstrip("% ")) == float(read)
            except ValueError:
                return False
        termset = termsets[key]
        return str(given_value) in termset and termset.normalize(str(given_value)) == read

    clash = any(k in given and given[k] is not None and not same(k, given[k], v) for k, v in parts.items())
    return {
        "said": repr(str(said)),
        "what": what,
        "fix": fix,
        "fields": fields,
        # read as the fields only when nothing is in doubt; else refused with the fix
        "clash": clash or bare_number or contradicts,
    }


def nearest_first(word: str, options: Sequence[str]) -> list[str]:
    """Every option, nearest to ``word`` first: those it begins (``nuclear`` -> ``nuclear_membrane``),
    then those holding it, then by similarity."""

    def rank(option: str) -> tuple[int, float]:
        place = 0 if option.startswith(word + "_") else 1 if word in option else 2
        return place, -difflib.SequenceMatcher(None, word, option).ratio()

    return sorted(options, key=rank)


LIST_SEPARATORS = re.compile(r"\s*[;,|]\s*")  # a list written as text: "spindle; epithelioid", "spindle, epithelioid"
LIST_SEPARATOR = re.compile(r"[;,|]")


def _listify(value: Any) -> Any:
    """A list field given one string: a list of one term, or, written as a sheet cell is, of the terms between
    its separators ("spindle, epithelioid")."""
    if isinstance(value, str):
        terms = [v for v in LIST_SEPARATORS.split(value) if v] if LIST_SEPARATOR.search(value) else [value]
        return terms or [value]  # "," alone is no list of nothing: it is refused as the term it is not
    return value


COMPOUND = "+"  # marks a compound word while its list is checked ("+lymphoplasmacytic"); no term starts with it


def _compound_key(value: str) -> str:
    """A compound word as looked up: folded, without its separators ("Lympho-plasmacytic" = "lymphoplasmacytic")."""
    return fold(value).replace("_", "")


def _term_or_compound(terms: TermSet, compounds: Mapping[str, tuple[str, ...]]) -> Callable[[Any], str]:
    """One item of a list field that has compound words: a term (as :func:`_term`), or a compound word kept
    marked for :func:`_expanding`; an unknown word's suggestions lead with the nearest compound words."""
    term = _term(terms)
    keys = {_compound_key(word): word for word in compounds}

    def check(value: Any) -> str:
        if isinstance(value, str) and _compound_key(value) in keys:
            return COMPOUND + keys[_compound_key(value)]
        try:
            return term(value)
        except PydanticCustomError as exc:
            if exc.type != "unknown_term" or not isinstance(value, str):
                raise
            near = [keys[k] for k in difflib.get_close_matches(_compound_key(value), list(keys), n=2, cutoff=0.75)]
            context = dict(exc.context or {})
            others = list(context.get("suggestions", []))
            # a small field lists every term when nothing is near; a near compound word is then the answer alone
            context["suggestions"] = near + ([] if near and len(others) == len(terms.terms) else others)
            raise PydanticCustomError("unknown_term", exc.message_template, context) from None

    return check


def _expanding(compounds: Mapping[str, tuple[str, ...]]) -> Callable[[list[str]], list[str]]:
    """After a list's items are checked: each compound word (``lymphoplasmacytic``) replaced by the terms it
    stands for (``lymphocytes``, ``plasma_cells``), except a term the list already names; the other items as
    they are. Expanding after the check keeps an error's index the item's place as written."""

    def expand(value: list[str]) -> list[str]:
        if not any(v.startswith(COMPOUND) for v in value):
            return value
        named = {v for v in value if not v.startswith(COMPOUND)}
        out: list[str] = []
        for item in value:
            if not item.startswith(COMPOUND):
                out.append(item)
                continue
            for term in compounds[item[len(COMPOUND) :]]:
                if term not in named:
                    named.add(term)
                    out.append(term)
        return out

    return expand


STAIN_NAME = object()  # a key no file can hold: a stain's value carries its stain's name while it is validated
VALUE = object()  # ... and a value that is not a mapping is wrapped under this key

Number = Annotated[float, BeforeValidator(_number)]
Percent = Annotated[float, BeforeValidator(_percent)]
# a stain's percentage as StainFinding bounds it (checked apart when another part of the stain is refused)
_STAIN_PERCENT: TypeAdapter[float] = TypeAdapter(Annotated[Percent, Field(ge=0, le=100)])


class StrictModel(BaseModel):
    """Base of the case models: unknown keys are refused, values are frozen and stripped of white space."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class StainFinding(StrictModel):
    """One immunostain: a result with optional extent, intensity, pattern, percent."""

    result: str
    extent: str | None = None
    intensity: str | None = None
    pattern: str | None = None
    percent: Annotated[Percent, Field(ge=0, le=100)] | None = None

    @property
    def positive(self) -> bool:
        return self.result == "positive"


# The typed parts of every case. :func:`build_case_schema` subclasses them for one vocabulary, so that the
# same fields check their terms (and their numbers' bounds); code that reads a case reads these types. They
# are never validated themselves, so their validators are not built (the subclasses build theirs at once).
_TYPED = ConfigDict(defer_build=True)


class PatientModel(StrictModel):
    """A case's ``patient:`` (age in years, 0-120; sex: a term of the vocabulary)."""

    model_config = _TYPED

    age: float | None = None
    sex: str | None = None


class ClinicalModel(StrictModel):
    """A case's ``clinical:``: site, depth and symptoms are terms of the vocabulary; size in cm."""

    model_config = _TYPED

    site: str | None = None
    depth: str | None = None
    size_cm: float | None = None
    presentation: str | None = None
    symptoms: list[str] = []

    @property
    def site_group(self) -> str | None:
        """The group of the site (``clinical.site_group``): the vocabulary's model (:func:`build_case_schema`)
        knows it; None without a site."""
        return None


class MorphologyModel(StrictModel):
    """A case's ``morphology:``. Its fields are the vocabulary's morphology fields, so they are read by
    name (``getattr(morphology, name)``, for ``name`` in ``Vocabulary.morphology``)."""

    model_config = _TYPED


class CaseModel(StrictModel):
    """One validated case (docs/case-format.md): the model :func:`build_case_schema` makes for a
    vocabulary subclasses this one. Terms are canonical, numbers are floats, ``stains`` maps a
    canonical stain to its finding and ``molecular`` a canonical test to ``present`` / ``absent``."""

    model_config = _TYPED

    id: str
    title: str | None = None
    expected: str | None = None  # an entity or subtype slug (the schema's entities), when it has them
    patient: PatientModel | None = None
    clinical: ClinicalModel | None = None
    morphology: MorphologyModel | None = None
    stains: dict[str, StainFinding] = {}
    molecular: dict[str, str] = {}
    notes: str | None = None
    source: str | None = None  # extension: the citation a case was taken from


@dataclass
class CaseSchema:
    """The pydantic ``Case`` model for one vocabulary (and set of entity slugs): a :class:`CaseModel`."""

    vocab: Vocabulary
    model: type[CaseModel]
    # the keys each part of a case takes: "" (the top level), "patient", "clinical", "morphology",
    # "stains" (a stain's own keys: result, extent, ...), "stains.names", "molecular.names"
    keys: dict[str, list[str]] = field(default_factory=dict)
    # where a key belongs: a key (folded, synonyms included) -> the dotted paths that take it
    placement: dict[str, list[str]] = field(default_factory=dict)
    # the models of the parts of a case: "case", "patient", "clinical", "morphology", "stains" (one finding)
    models: dict[str, type[BaseModel]] = field(default_factory=dict)
    entities: TermSet | None = None  # what ``expected`` takes (None: any text)
    _fast: Any = field(default=None, init=False, repr=False, compare=False)
    # homes() of each (key, part) asked for: a misspelt sheet column asks the same on every row (bounded)
    _homes: dict[tuple[str, str], list[str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def validate(self, data: Any) -> CaseModel:
        """The case model for ``data`` (a case mapping). Raises pydantic's ``ValidationError``
        (:func:`problems_from_validation` words it).

        A mapping written in canonical terms is built by the fast path (:mod:`ddx.fastcase`), any other
        by the model; the two give the same case.
        """
        case = self.fast(data)
        return case if case is not None else self.model.model_validate(data)

    def fast(self, data: Any) -> CaseModel | None:
        """The case for a mapping whose keys and values are all canonical, built without the model's
        validators; None for anything else (validate that with :attr:`model`)."""
        if self._fast is None:
            from ddx.fastcase import FastCase

            try:
                self._fast = FastCase(self)
            except (ValueError, LookupError):  # models the fast path does not mirror: every case takes the model
                self._fast = False
        return self._fast.build(data) if self._fast else None

    def fast_row(self, columns: list[Any], cells: list[str], decimal_comma: bool = False) -> CaseModel | None:
        """:meth:`fast` for a sheet row, read from its cells (``columns``: the sheet's column specs,
        :data:`ddx.loader.ColumnSpec`) without making it a mapping; None where :meth:`fast` would decline
        the row's mapping, or where the columns are not plainly canonical."""
        if self._fast is None:
            self.fast(None)
        return self._fast.build_row(columns, cells, decimal_comma) if self._fast else None

    def fast_row_facts(self, columns: list[Any], cells: list[str], decimal_comma: bool = False) -> "RowFacts | None":
        """What ranking reads of a plainly canonical sheet row, without making its case: a
        :class:`ddx.fastcase.RowFacts` (id, expected, facts equal to ``case_facts(fast_row(...))``), or None
        wherever :meth:`fast_row` returns None."""
        if self._fast is None:
            self.fast(None)
        return self._fast.facts_row(columns, cells, decimal_comma) if self._fast else None

    def homes(self, key: object, here: str = "") -> list[str]:
        """The dotted paths where ``key`` is a valid key: the same key in another part of the case than
        ``here`` (``age`` -> ``patient.age``), else keys that begin with it (``mitoses`` ->
        ``morphology.mitoses_per_10hpf``) or with a word close to it (``mitosis``)."""
        word = fold(key)
        if not word:
            return []
        memo = self._homes.get((word, here))
        if memo is not None:
            return list(memo)
        out = [p for p in self.placement.get(word, []) if _parent(p) != here]
        if not out:
            words = word.split("_")
            for known, paths in self.placement.items():
                head = "_".join(known.split("_")[: len(words)])
                if known.startswith(word + "_") or head != known and difflib.SequenceMatcher(None, word, head).ratio() >= 0.8:
                    out += [p for p in paths if p not in out]
        if len(self._homes) >= _HOMES_MEMO:
            self._homes.clear()
        self._homes[(word, here)] = out
        return list(out)


_SIGN = re.compile(r"(\w)\s*\(?\s*([-−–+])\s*\)?(?=[\s,;.()]|$)")  # "ALK-", "ALK (−)", "ALK+": the stain's sign
_SIGN_WORDS = {"-": "negative", "−": "negative", "–": "negative", "+": "positive", "neg": "negative", "pos": "positive"}


def _diagnosis_words(value: str) -> set[str]:
    """The folded words of a diagnosis as written, a stain's sign spelt out: "IMT (ALK-)" -> imt, alk, negative."""
    signed = _SIGN.sub(lambda m: f"{m.group(1)} {_SIGN_WORDS[m.group(2)]} ", value)
    words = {w for w in fold(re.sub(r"[,;.()]", " ", signed)).split("_") if w}
    return {_SIGN_WORDS.get(w, w) for w in words}


@dataclass(frozen=True)
class _Misfit:
    """A molecular result word said of another kind of alteration than its test's (``alterations_fit``): the
    word, the test's label and the kinds the word is said of."""

    word: str
    label: str
    kinds: tuple[str, ...]


def _a(noun: str) -> str:
    """The noun with its indefinite article: "an amplification", "a fusion"."""
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def _some_sites(group: str, site_group_of: Mapping[str, str], room: int = 60) -> str:
    """A site group that is not itself a site, with the sites of it that fit in ``room`` characters:
    "viscera: lung, gastrointestinal, liver, ..." ("..." only where some were left out)."""
    sites = [t for t, g in site_group_of.items() if g == group]
    shown: list[str] = []
    for site in sites:
        if shown and len(", ".join([*shown, site])) > room:
            break
        shown.append(site)
    return f"{group}: {', '.join(shown)}" + (" ..." if len(shown) < len(sites) else "")


def build_case_schema(vocab: Vocabulary, entities: TermSet | None = None) -> CaseSchema:
    """The case schema of ``vocab``: a ``Case`` model (a :class:`CaseModel`) whose fields take the
    vocabulary's terms and synonyms (normalised to canonical terms) and bounded numbers; ``entities``: the
    terms ``expected`` takes (None: any text). The schema's ``validate`` raises pydantic's
    ``ValidationError`` (:func:`problems_from_validation` words it)."""
    SexT = Annotated[str, BeforeValidator(_term(vocab.sex))]
    DepthT = Annotated[str, BeforeValidator(_term(vocab.depth))]
    # what a site near no term may be written as: its region where the region is a site (extremity, trunk),
    # else a site of its group ("viscera: lung, gastrointestinal, liver ...")
    regions = [group if group in vocab.sites else _some_sites(group, vocab.site_group_of) for group in vocab.site_groups.terms]
    SiteT = Annotated[str, BeforeValidator(_site(vocab.sites, vocab.site_sides, regions, vocab.depth))]
    SymptomT = Annotated[str, BeforeValidator(_term(vocab.symptoms))]
    stain_key = Annotated[str, BeforeValidator(_term(vocab.stains))]
    molecular_key = Annotated[str, BeforeValidator(_term(vocab.molecular))]
    result_norm = _either_reading(vocab.not_done_or_negative, "negative", _result_term(vocab.stain_results, vocab.stain_shorthand))
    extent_norm = _term(vocab.stain_extents)
    intensity_norm = _term(vocab.stain_intensities)
    pattern_norm = _term(vocab.stain_patterns)

    class Patient(PatientModel, defer_build=False):
        age: Annotated[float, BeforeValidator(_age), Field(ge=0, le=120)] | None = None
        sex: SexT | None = None

    class Clinical(ClinicalModel, defer_build=False):
        site: SiteT | None = None
        depth: DepthT | None = None
        size_cm: Annotated[float, BeforeValidator(_size_cm), Field(gt=0, le=300)] | None = None
        presentation: str | None = None
        symptoms: Annotated[list[SymptomT], BeforeValidator(_listify)] = []

        @property
        def site_group(self) -> str | None:
            return vocab.site_group_of.get(self.site) if self.site else None

    morph_fields: dict[str, Any] = {}
    # the number field counting per each kind of area (mitoses_per_10hpf, mitoses_per_mm2): where a count belongs
    per_area = {area[0]: name for name, mf in vocab.morphology.items() if mf.kind == "number" and (area := _area_of(name))}
    for name, mf in vocab.morphology.items():
        if mf.kind == "list" and mf.terms is not None:
            field_type: Any
            if mf.compounds:
                with_compounds: Any = Annotated[str, BeforeValidator(_term_or_compound(mf.terms, mf.compounds))]
                field_type = Annotated[list[with_compounds], BeforeValidator(_listify), AfterValidator(_expanding(mf.compounds))]
            else:
                item = Annotated[str, BeforeValidator(_term(mf.terms))]
                field_type = Annotated[list[item], BeforeValidator(_listify)]
            morph_fields[name] = (field_type, [])
        elif mf.kind == "term":
            morph_fields[name] = (Annotated[str, BeforeValidator(_term(mf.terms))] | None, None)  # type: ignore[arg-type]
        elif mf.kind == "presence":
            morph_fields[name] = (Annotated[str, BeforeValidator(_term(vocab.morphology_presence))] | None, None)
        else:
            counted = Annotated[float, BeforeValidator(_count_per_area(name, per_area)), Field(ge=mf.min, le=mf.max)]
            morph_fields[name] = (counted | None, None)
    Morphology = create_model("Morphology", __base__=MorphologyModel, __cls_kwargs__={"defer_build": False}, **morph_fields)

    def stain_finding(value: Any) -> Any:
        named = value.get(STAIN_NAME) if isinstance(value, dict) else None
        if isinstance(value, dict) and set(value) == {STAIN_NAME, VALUE}:
            value = value[VALUE]
        if isinstance(value, bool):
            raise _yes_no(value, vocab.stain_results)
        if isinstance(value, (str, int, float)):
            value = {"result": value}
        if not isinstance(value, dict):
            raise PydanticCustomError(
                "stain_type", "expected a result (e.g. positive) or a mapping with 'result', got {got}", {"got": kind_of(value)}
            )
        out = dict(value)
        stain = out.pop(STAIN_NAME, None) or named  # set by the stains mapping's own validator
        result = out.get("result")
        if result is None:
            other = [str(k) for k in out if k not in StainFinding.model_fields]
            if other:  # {reslt: negative}: the result is there, under a misspelt key
                raise PydanticCustomError(
                    "stain_result",
                    "a stain needs a 'result'; '{key}' is not a key of a stain (result, extent, intensity, pattern, percent)",
                    {"key": other[0], "suggestions": nearest_first(fold(other[0]), list(StainFinding.model_fields))[:1]},
                )
            given = {k: v for k, v in out.items() if k in ("extent", "intensity", "pattern", "percent") and v is not None}
            if given:  # {percent: 40}: the details say how it stained, the result whether it was read positive
                zero = set(given) == {"percent"} and str(given["percent"]).rstrip("% ") in ("0", "0.0")
                details = ", ".join(f"{k}: {v}" for k, v in given.items())
                fix = "{result: " + ("negative" if zero else "positive") + ", " + details + "}"
                # in a sheet the mapping is columns: the result goes in the stain's own column (a trial: a lone
                # stains.ki67.percent column was told a YAML mapping to write)
                column = f"; in a sheet, a stains.{stain} column with the result beside it" if stain else ""
                raise PydanticCustomError(
                    "stain_result",
                    "a stain needs a 'result' beside its details; write {fix} (with the result the source gives){column}",
                    {"fix": fix, "column": column},
                )
            raise PydanticCustomError("stain_result", "a stain needs a 'result' (positive, negative, equivocal)")
        if isinstance(result, bool):
            raise _yes_no(result, vocab.stain_results)
        # every problem of the stain is told at once: the first is raised, the others ride in its "more"
        found: list[tuple[str, PydanticCustomError]] = []  # (the key it is about, "" for the result; the error)
        key = result if isinstance(result, str) and result in vocab.stain_shorthand else fold(result)
        if key in vocab.stain_shorthand:
            expanded = vocab.stain_shorthand[key]
            out["result"] = expanded["result"]
            for part in ("extent", "intensity"):
                if part in expanded and out.get(part) is None:
                    out[part] = expanded[part]
        elif result in vocab.stain_results or not isinstance(result, (str, int, float)):
            out["result"] = result_norm(result)
        else:
            hint = stain_form_hint(result, out, vocab, vocab.stain_patterns_for(stain) if stain else None)
            if hint is not None and (hint["clash"] or isinstance(result, (int, float))):
                # 'focally positive' beside {extent: diffuse}: which is meant? A number: a percentage, or what?
                raise PydanticCustomError(
                    "stain_form", "{said} {what}; write {fix}", {k: v for k, v in hint.items() if k not in ("fields", "clash")}
                )
            if hint is not None:
                # 'focally positive', 'positive (nuclear membrane)', 'strong', '40%': one reading only, the
                # mapping the words spell out (a bare intensity, pattern or percentage above 0 reads positive)
                out.update(hint["fields"])
            else:
                try:
                    out["result"] = result_norm(result)
                except PydanticCustomError as exc:
                    found.append(("", exc))
        allowed = vocab.stain_patterns_for(stain) if stain else None
        for name, norm in (("extent", extent_norm), ("intensity", intensity_norm), ("pattern", pattern_norm)):
            if out.get(name) is not None:
                raw = out[name]
                try:
                    out[name] = norm(raw)
                except PydanticCustomError as exc:
                    if name != "pattern" or allowed is None or exc.type != "unknown_term":
                        found.append((name, exc))
                        continue
                    out[name] = str(raw)  # not a pattern at all: told as not one of this stain's (below)
        pattern_refused = any(name == "pattern" for name, _ in found)
        if not pattern_refused and isinstance(out.get("pattern"), str) and allowed is not None and out["pattern"] not in allowed:
            found.append(
                (
                    "pattern",
                    PydanticCustomError(
                        "stain_pattern",
                        "'{pattern}' is not a pattern of {label}",
                        {
                            "pattern": out["pattern"],
                            "label": vocab.stains.label(str(stain)),
                            "subpath": "pattern",
                            "suggestions": nearest_first(out["pattern"], allowed),
                        },
                    ),
                )
            )
        if found and out.get("percent") is not None:
            # the percentage is checked by the model only once the rest is valid: checked here too, so a stain
            # with two problems tells both in one run (a trial: 'extent: difuse, percent: 150' told the second
            # only after the first was fixed)
            try:
                _STAIN_PERCENT.validate_python(out["percent"])
            except ValidationError as exc:
                for err in exc.errors(include_url=True):
                    text = error_text({**err, "loc": ("percent",)})
                    found.append(("percent", PydanticCustomError("stain_percent", "{text}", {"text": text, "subpath": "percent"})))
        if found:
            first = found[0][1]
            more = [
                {"subpath": name, "message": exc.message(), "suggestions": list((exc.context or {}).get("suggestions", []))}
                for name, exc in found[1:]
            ]
            raise PydanticCustomError(first.type, first.message_template, {**(first.context or {}), "more": more}) if more else first
        # A negative stain with an extent, intensity or pattern is accepted: the contract's own example
        # ("One case", alk) is written so. No rule reads them, so they are listed as recorded but not used.
        return out

    stain = Annotated[StainFinding, BeforeValidator(stain_finding)]

    def name_the_stains(value: Any) -> Any:
        """Each stain's value is told its stain's name (for the patterns it allows); duplicates refused."""
        value = no_duplicate_keys(vocab.stains)(value)
        if not isinstance(value, dict):
            return value
        named: dict[Any, Any] = {}
        for key, finding in value.items():
            try:
                canonical = vocab.stains.normalize(key)
            except UnknownTerm:
                named[key] = finding  # reported by the key's own validator
                continue
            named[key] = {**finding, STAIN_NAME: canonical} if isinstance(finding, dict) else {STAIN_NAME: canonical, VALUE: finding}
        return named

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
                                "duplicate_key",
                                "'{a}' and '{b}' both name '{c}'; give it once",
                                {"a": seen[canonical], "b": key, "c": canonical},
                            )
                        seen[canonical] = key
            return value

        return check

    def alterations_fit(value: Any) -> Any:
        """Mark each result word that is said of another kind of alteration than its test records (an ALK
        rearrangement written "amplified", an MDM2 amplification "rearranged": ``Vocabulary.alteration_refused``)
        as a :class:`_Misfit`, which the result's own validator refuses: every other problem of the mapping (an
        unknown test, another bad result) is still found in the same run."""
        if isinstance(value, dict):
            marked = {}
            for key, word in value.items():
                try:
                    test = vocab.molecular.normalize(key)
                except UnknownTerm:
                    marked[key] = word  # the key's own validator says so
                    continue
                kinds = vocab.alteration_refused(test, word)
                marked[key] = word if kinds is None else _Misfit(str(word), vocab.molecular.label(test), kinds)
            value = marked
        return no_duplicates(value)

    presence_norm = _either_reading(vocab.not_done_or_negative, "absent", _term(vocab.presence))
    # kinds every alteration word is said of (an "alteration" test takes them all): not named in a refusal
    shared_kinds = set.intersection(*(set(k) for k in vocab.alteration_words.values())) if vocab.alteration_words else set()

    def molecular_result(value: Any) -> str:
        if isinstance(value, _Misfit):
            raise PydanticCustomError(
                "unknown_term",
                "'{word}' is said of {kinds}, and {test} is not one: write present or absent for what the source "
                "found by this test; a result of another kind is not this test's",
                {
                    "word": value.word,
                    "kinds": " or ".join(_a(kind) for kind in value.kinds if kind not in shared_kinds) or "another kind",
                    "test": value.label,
                    "suggestions": ["present", "absent"],
                },
            )
        return presence_norm(value)

    no_duplicates = no_duplicate_keys(vocab.molecular)

    case_fields: dict[str, Any] = {
        "id": (Annotated[str, BeforeValidator(_case_id)], ...),
        "title": (str | None, None),
        "expected": (str | None, None),
        "patient": (Patient | None, None),
        "clinical": (Clinical | None, None),
        "morphology": (Morphology | None, None),
        "stains": (Annotated[dict[stain_key, stain], BeforeValidator(name_the_stains)], {}),
        "molecular": (
            Annotated[dict[molecular_key, Annotated[str, BeforeValidator(molecular_result)]], BeforeValidator(alterations_fit)],
            {},
        ),
        "notes": (str | None, None),
        "source": (str | None, None),  # extension: the citation a case was taken from
    }

    validators: dict[str, Any] = {}

    if entities is not None:
        expected_norm = _term(entities)

        def check_expected(cls: Any, value: str | None) -> str | None:
            """An entity or subtype term; an unknown one is offered the terms among its words first ("IMT (ALK+)":
            imt, not the nearest spelling imt_alkneg), else told that only the modelled entities are scored."""
            if value is None:
                return None
            try:
                return expected_norm(value)
            except PydanticCustomError as exc:
                if exc.type != "unknown_term" or not isinstance(value, str):
                    raise
                # the terms whose every word the value holds, the most specific first: 'ALK- IMT' (alk, negative,
                # imt) holds alk_negative_imt and imt; 'IMT (ALK+)' holds imt only
                words = _diagnosis_words(value)
                spelt = [(t, set(t.split("_"))) for t in entities.spellings()]
                # more words matched first; on a tie a subtype (its entity's more specific form) first
                ranked = sorted(
                    spelt, key=lambda item: (-len(item[1]), "parent" not in entities.extra.get(entities.normalize(item[0]), {}))
                )
                held = list(dict.fromkeys(entities.normalize(t) for t, parts in ranked if parts <= words))
                # nearest spellings held close: a diagnosis outside the differential is no misspelling of one in
                # it (myxofibrosarcoma is not leiomyosarcoma, GIST not ILMS, LPS not DDLPS). A name within 0.88;
                # an abbreviation only as a typo of one as long ('ilsm': ilms)
                short = len(fold(value)) <= 6
                near = entities.near(value, cutoff=0.75 if short else 0.88, same_length=short)
                if held or near:
                    raise PydanticCustomError(
                        "unknown_term",
                        "unknown entity {term}",
                        {**(exc.context or {}), "suggestions": list(dict.fromkeys(held + near))[:3]},
                    ) from None
                raise PydanticCustomError(
                    "unknown_term",
                    "unknown entity {term}: 'expected' takes the entities ddx ranks (ddx rules list, or docs/"
                    "case-format.md 'Entities'); for a diagnosis outside them leave 'expected' out and give the "
                    "diagnosis in 'notes'",
                    {**(exc.context or {}), "suggestions": []},
                ) from None

        validators["check_expected"] = field_validator("expected")(check_expected)

    def not_a_mapping(cls: Any, data: Any) -> Any:
        if isinstance(data, list):  # several cases in one YAML or JSON file: say what to do instead
            raise PydanticCustomError(
                "case_type",
                "a case must be a mapping with at least an 'id'; this file holds a bare list of {n} items: several "
                "cases in one YAML or JSON file go under a 'cases:' key (cases: [- id: ...]), or one file each, or one "
                "row each in a CSV sheet or workbook",
                {"n": len(data)},
            )
        if not isinstance(data, dict):
            raise PydanticCustomError("case_type", "a case must be a mapping with at least an 'id'")
        return data

    validators["not_a_mapping"] = model_validator(mode="before")(not_a_mapping)

    not_done = vocab.not_done

    def gone(value: Any) -> bool:
        return isinstance(value, str) and fold_sentence(value) in not_done

    def kept(value: Any) -> Any:
        """``value`` without what says it was not done: a stain mapping's parts, a list's items (None: all of it)."""
        if gone(value):
            return None
        if isinstance(value, dict):  # a stain: {result: positive, extent: n/a} keeps its result
            if gone(value.get("result")):
                return None
            return {k: v for k, v in value.items() if not gone(v)}
        if isinstance(value, list):
            items = [v for v in value if not gone(v)]
            return items if items or not value else None
        return value

    def unrecorded(cls: Any, data: Any) -> Any:
        """A finding written as not done (vocabulary ``not_done``: 'not done', 'n/a', 'unknown' ...) is left out:
        a finding that is not given is unknown (the contract), which is what the words say. Clinical,
        morphology, stain and molecular findings; a stain's extent or pattern so written is dropped, its result
        kept; so is a list's item. The patient's sex keeps its own term 'unknown'."""
        if not isinstance(data, dict) or not not_done:
            return data
        out = None
        for section in ("clinical", "stains", "molecular", "morphology"):
            block = data.get(section)
            if not isinstance(block, dict):
                continue
            read = {k: kept(v) for k, v in block.items()}
            # dropped: what said it was not done (a key given as null stays, for its own checks)
            read = {k: v for k, v in read.items() if v is not None or block[k] is None}
            if read != block:
                out = dict(data) if out is None else out
                out[section] = read
        return data if out is None else out

    validators["unrecorded"] = model_validator(mode="before")(unrecorded)

    Case = create_model("Case", __base__=CaseModel, __validators__=validators, __cls_kwargs__={"defer_build": False}, **case_fields)
    keys: dict[str, list[str]] = {"": list(Case.model_fields)}
    for name, model in (("patient", Patient), ("clinical", Clinical), ("morphology", Morphology), ("stains", StainFinding)):
        keys[name] = list(model.model_fields)
    placement: dict[str, list[str]] = {}
    for section in ("", "patient", "clinical", "morphology"):
        for key in keys[section]:
            placement.setdefault(key, []).append(f"{section}.{key}" if section else key)
    for section, names in (("stains", vocab.stains), ("molecular", vocab.molecular)):
        keys[f"{section}.names"] = list(names.terms)
        for word, canonical in names._lookup.items():
            paths = placement.setdefault(word, [])
            if f"{section}.{canonical}" not in paths:
                paths.append(f"{section}.{canonical}")
    models: dict[str, type[BaseModel]] = {
        "case": Case,
        "patient": Patient,
        "clinical": Clinical,
        "morphology": Morphology,
        "stains": StainFinding,
    }
    return CaseSchema(vocab=vocab, model=Case, keys=keys, placement=placement, models=models, entities=entities)


def _case_id(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        raise PydanticCustomError("id_type", "a case id must be a string of letters, digits, '-', '_', '.'")
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise PydanticCustomError(
            "id_pattern",
            "a case id is 1-200 plain letters (A-Z, a-z: no accents), digits, '-', '_' or '.'; got '{got}'",
            {"got": str(value)[:80]},
        )
    return value


def problems_from_validation(
    exc: ValidationError, schema: CaseSchema | Vocabulary, *, file: str | None, case: str | None
) -> list[Problem]:
    """Turn a pydantic ValidationError into located, suggestion-bearing problems in ddx's words.

    ``schema``: the case schema the data was validated with (a :class:`Vocabulary` is accepted and its
    schema built). An unknown key names where it belongs when it is a key of another part of the case
    (``age`` at the top level: ``patient.age``). pydantic's own messages are reworded (:func:`error_text`).
    """
    if isinstance(schema, Vocabulary):
        schema = build_case_schema(schema)
    problems: list[Problem] = []
    for err in exc.errors(include_url=True):
        raw_loc = list(err["loc"])
        loc = [p for p in raw_loc if p != "[key]"]
        # function-before validators add a 'function-before[...]' segment in unions
        loc = [p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "union[")))]
        ctx = err.get("ctx") or {}
        if ctx.get("subpath"):
            loc += str(ctx["subpath"]).split(".")
        path = ""
        for part in loc:
            if isinstance(part, int) and not (path.startswith(("stains", "molecular")) and path.count(".") == 0):
                path += f"[{part}]"
            else:
                path += ("." if path else "") + str(part)
        suggestions = list(ctx.get("suggestions", []))
        message = error_text(err)
        if err["type"] == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            section = ".".join(str(p) for p in loc[:-1])
            kind = "stains" if loc and loc[0] == "stains" and len(loc) == 3 else section
            homes = schema.homes(key, here=section)
            if not section and fold(key) in KEY_WORDS:  # "Diagnosis": the key that holds what it may mean
                suggestions = [KEY_WORDS[fold(key)]]
            elif fold(key) in SECTION_KEY_WORDS.get(section, {}):  # patient.gender: the key the format names
                suggestions = [f"{section}.{SECTION_KEY_WORDS[section][fold(key)]}"]
            elif homes and schema.placement.get(fold(key)):
                suggestions = homes
            else:
                options = schema.keys.get(kind, [])
                near = TermSet("key", terms=[], _lookup={o: o for o in options}).suggest(key)
                near = [f"{section}.{o}" if section else o for o in near]
                suggestions = list(dict.fromkeys(homes + near))[:3]
                if not suggestions:  # a key of another part, misspelt (cell_type at the top level)
                    close = difflib.get_close_matches(fold(key), list(schema.placement), n=3, cutoff=0.8)
                    suggestions = list(dict.fromkeys(p for word in close for p in schema.placement[word]))[:3]
            message = f"unknown key {key!r}" + (f" in {section}" if section else " at the top level")
            lists = _list_taking(schema.vocab, section, key) if err.get("input") is None else []
            if lists:  # {cell_types: spindle, epithelioid}: in a {...} mapping a comma ends the value
                message += (
                    f": in a {{...}} mapping a comma ends a value, so {key!r} was read as a key; "
                    f"write a list in brackets, e.g. {lists[0]}: [..., {key}]"
                )
                suggestions = [f"{section}.{lists[0]}"]
        elif err["type"] == "unknown_term" and "[key]" in raw_loc and len(loc) == 2:
            homes = schema.homes(loc[1], here=str(loc[0]))
            if homes and schema.placement.get(fold(loc[1])):
                suggestions = homes + [s for s in suggestions if s not in homes]
            if loc[0] == "molecular":  # a gene for a test: ALK -> alk_rearrangement, MDM2 -> mdm2_amplification
                tests = [t for t in schema.vocab.molecular.terms if t.startswith(fold(str(loc[1])) + "_")]
                suggestions = tests + [s for s in suggestions if s not in tests]
        elif err["type"] == "unknown_term" and len(loc) >= 2 and loc[0] == "morphology" and isinstance(err.get("input"), str):
            # storiform under stroma: a term of another morphology field, named where it belongs
            fields = [
                name
                for name, mf in schema.vocab.morphology.items()
                if name != loc[1] and mf.terms is not None and err["input"] in mf.terms
            ]
            if fields:
                message += f"; {err['input']!r} is a term of morphology.{fields[0]}"
                suggestions = [f"morphology.{name}" for name in fields]
        if file is not None and file.lower().endswith(".json"):  # JSON's true/false are not YAML's yes/no
            message = _YAML_ASIDE.sub("", message)
        problems.append(Problem(message, file=file, case=case, path=path or None, suggestions=suggestions))
        for extra in ctx.get("more", ()):  # the stain's other problems, each at its key (stains.desmin.extent)
            where = ".".join(str(p) for p in loc[: len(loc) - (1 if ctx.get("subpath") else 0)])
            where += f".{extra['subpath']}" if extra.get("subpath") else ""
            problems.append(
                Problem(str(extra["message"]), file=file, case=case, path=where or None, suggestions=list(extra["suggestions"]))
            )
    return problems


_YAML_ASIDE = re.compile(r" \(YAML reads an unquoted [a-z/]+ (?:so|as true/false)\)")


def _list_taking(vocab: Vocabulary, section: str, word: str) -> list[str]:
    """The list fields of ``section`` (morphology) that take ``word`` as a term."""
    if section != "morphology":
        return []
    return [name for name, mf in vocab.morphology.items() if mf.kind == "list" and mf.terms is not None and word in mf.terms]


def error_text(err: Mapping[str, Any]) -> str:
    """One pydantic error in ddx's words (a message of ddx's own validators is kept as it is).

    pydantic's built-in errors carry a ``url`` (``errors(include_url=True)``); each type that can
    reach a user has its wording here, and any other gets a plain one naming the value given.
    """
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    loc = err.get("loc") or ()
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind == "assertion_error":
        return str(err["msg"]).removeprefix("Assertion failed, ")
    if "url" not in err and kind not in _WORDING:  # ddx's own (PydanticCustomError)
        return str(err["msg"])
    if kind in _WORDING:
        return _WORDING[kind](ctx, given, loc)
    return f"this value cannot be used here (got {kind_of(given)})"


# fields bounded by 1 that are not probabilities (rules/settings.yaml's calibration temperature): no percentage hint
_NOT_PROBABILITIES = frozenset({"temperature"})


def _bound(word: str, key: str) -> Callable[[Mapping[str, Any], Any, Sequence[Any]], str]:
    def text(ctx: Mapping[str, Any], given: Any, loc: Sequence[Any]) -> str:
        limit = ctx.get(key)
        shown = f"{limit:g}" if isinstance(limit, float) else str(limit)
        number = isinstance(given, (int, float)) and not isinstance(given, bool)
        got = f"{given:g}" if number else kind_of(given)
        text = word.format(limit=shown) + f" (got {got})"
        if key == "le" and limit == 1 and number and 2 <= given <= 100 and not (loc and loc[-1] in _NOT_PROBABILITIES):
            # a probability written as a percentage ('p: 90'); 1.5 is likelier a slip for 0.15 than 1.5 %
            text += f"; a probability is a fraction: if {given:g} is a percentage, write {given / 100:g}"
        return text

    return text


def _missing(ctx: Mapping[str, Any], given: Any, loc: Sequence[Any]) -> str:
    return f"required key {str(loc[-1])!r} is missing" if loc else "required key missing"


def _expected(what: str) -> Callable[[Mapping[str, Any], Any, Sequence[Any]], str]:
    return lambda ctx, given, loc: f"expected {what}, got {kind_of(given)}"


_WORDING: dict[str, Callable[[Mapping[str, Any], Any, Sequence[Any]], str]] = {
    "missing": _missing,
    "extra_forbidden": lambda ctx, given, loc: f"unknown key {str(loc[-1]) if loc else ''!r}",
    "greater_than": _bound("must be more than {limit}", "gt"),
    "greater_than_equal": _bound("must be {limit} or more", "ge"),
    "less_than": _bound("must be less than {limit}", "lt"),
    "less_than_equal": _bound("must be {limit} or less", "le"),
    "multiple_of": _bound("must be a multiple of {limit}", "multiple_of"),
    "finite_number": lambda ctx, given, loc: "expected a finite number",
    "float_type": _expected("a number"),
    "float_parsing": _expected("a number"),
    "int_type": _expected("a whole number"),
    "int_parsing": _expected("a whole number"),
    "int_from_float": _expected("a whole number"),
    "bool_type": _expected("true or false"),
    "bool_parsing": _expected("true or false"),
    "string_type": _expected("text (put a number in quotes to use it as text)"),
    "string_too_short": lambda ctx, given, loc: (
        "must not be empty" if ctx.get("min_length") == 1 else f"must be at least {ctx.get('min_length')} characters"
    ),
    "string_too_long": lambda ctx, given, loc: f"must be at most {ctx.get('max_length')} characters",
    "string_pattern_mismatch": lambda ctx, given, loc: f"{kind_of(given)} is not of the form this key takes ({ctx.get('pattern')})",
    "dict_type": _expected("a mapping (key: value)"),
    "model_type": _expected("a mapping (key: value)"),
    "model_attributes_type": _expected("a mapping (key: value)"),
    "list_type": _expected("a list"),
    "tuple_type": _expected("a list"),
    "set_type": _expected("a list"),
    "too_short": lambda ctx, given, loc: f"needs at least {ctx.get('min_length')} item(s)",
    "too_long": lambda ctx, given, loc: f"takes at most {ctx.get('max_length')} item(s)",
    "literal_error": lambda ctx, given, loc: f"must be one of {ctx.get('expected')} (got {kind_of(given)})",
    "enum": lambda ctx, given, loc: f"must be one of {ctx.get('expected')} (got {kind_of(given)})",
    "frozen_instance": lambda ctx, given, loc: "cannot be changed",
    "none_required": _expected("nothing"),
}
