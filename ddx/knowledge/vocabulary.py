"""The controlled vocabulary: terms, synonyms and allowed values, read from
``rules/vocabulary.yaml`` (its model: :class:`ddx.knowledge.models.VocabularyFile`; read by
:func:`ddx.knowledge.load.load_vocabulary`). Nothing here names a stain or a site: it is data.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ddx.errors import did_you_mean

_FOLD = re.compile(r"[\s\-/:]+")
_NEAR_MEMO = 4096  # words whose nearest terms a term set remembers (then it forgets them all and starts again)


def fold(text: object) -> str:
    """Normalise user input: case-insensitive; spaces, hyphens, slashes and colons (a fusion written
    ``VGLL2::NCOA2``) folded to ``_``."""
    s = str(text).strip().lower()
    return _FOLD.sub("_", s)


class UnknownTerm(ValueError):
    """A term not in the vocabulary; carries the nearest known terms."""

    def __init__(self, kind: str, term: object, suggestions: list[str]):
        self.kind = kind
        self.term = term
        self.suggestions = suggestions
        msg = f"unknown {kind} {str(term)!r}"
        if suggestions:
            msg += "; " + did_you_mean(suggestions)
        super().__init__(msg)


# a sentence's full stop after a word ("Positive.", "Not done."; "n.d." keeps its own): not part of the term
SENTENCE_STOP = re.compile(r"(?<=[A-Za-z]{2})\.\s*$")


def fold_sentence(value: object) -> str:
    """:func:`fold`, a sentence's full stop dropped (:data:`SENTENCE_STOP`: "Not done." -> "not_done")."""
    return SENTENCE_STOP.sub("", fold(value))


_BRACKETED = re.compile(r"\s*([^()\[\]]*[^()\[\]\s])\s*[(\[]\s*([^()\[\]]*[^()\[\]\s])\s*[)\]]\s*")
_LETTER_DIGIT_SPACE = re.compile(r"(?<=[a-z])_(?=\d)")


@dataclass
class TermSet:
    """A closed set of canonical terms with synonyms."""

    kind: str
    terms: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    help: dict[str, str] = field(default_factory=dict)
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    # words that are not terms because they may mean several ("femoral": the thigh, the groin or the femur): the
    # terms a hint offers for each, instead of the nearest spellings (which would offer "bone" alone)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    # a name written with another of the same term's names ("ALK (D5F3)", "keratin AE1/AE3"): that term (stains
    # and molecular tests, where a report gives the clone or the method beside the name)
    two_names: bool = False
    _lookup: dict[str, str] = field(default_factory=dict)
    # the nearest terms of each word asked for (difflib over every spelling costs ~1 ms; a sheet column that is
    # misspelt asks the same on every row): dropped whenever a term or synonym is added, bounded
    _near: dict[tuple[str, int, float, bool], list[str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def add(
        self,
        term: str,
        synonyms: Sequence[str] = (),
        label: str | None = None,
        help: str | None = None,
        **extra: Any,
    ) -> None:
        canonical = fold(term)
        if canonical in self._lookup and self._lookup[canonical] != canonical:
            raise ValueError(f"{self.kind} term {canonical!r} is already a synonym of {self._lookup[canonical]!r}")
        if canonical in self.terms:
            raise ValueError(f"duplicate {self.kind} term {canonical!r}")
        self.terms.append(canonical)
        self._lookup[canonical] = canonical
        self._near.clear()
        self.labels[canonical] = label or canonical
        if help:
            self.help[canonical] = help
        if extra:
            self.extra[canonical] = extra
        for syn in synonyms:
            self.add_synonym(syn, canonical)

    def add_synonym(self, synonym: str, canonical: str) -> None:
        key = fold(synonym)
        if key in self._lookup and self._lookup[key] != canonical:
            raise ValueError(f"{self.kind} synonym {key!r} maps to both {self._lookup[key]!r} and {canonical!r}")
        self._lookup[key] = canonical
        self._near.clear()

    def __contains__(self, value: object) -> bool:
        key = fold(value)
        return key in self._lookup or self._resolve(key, value) is not None

    def normalize(self, value: object) -> str:
        if isinstance(value, str):
            hit = self._lookup.get(value)  # keys are folded, so an exact hit needs no folding
            if hit is not None:
                return hit
        key = fold(value)
        try:
            return self._lookup[key]
        except KeyError:
            found = self._resolve(key, value)
            if found is not None:
                return found
            raise UnknownTerm(self.kind, value, self.suggest(key)) from None

    def _resolve(self, key: str, value: object) -> str | None:
        """The term of a spelling that is no synonym as written (``key``: ``value`` folded), or None: a sentence's
        full stop dropped ("Positive.", "thigh."; "n.d." keeps its own); for stains and tests (``two_names``), a
        name with a space inside ("CD 68") or given twice ("ALK (D5F3)", :meth:`_named_twice`)."""
        stopped = SENTENCE_STOP.sub("", key)
        if stopped != key and stopped in self._lookup:
            return self._lookup[stopped]
        if not self.two_names:
            return None
        closed = _LETTER_DIGIT_SPACE.sub("", key)  # "CD 68", "S 100", "CAM 5.2", "AE 1/AE 3": letters, then digits
        if closed != key and closed in self._lookup:  # (not "desmin -", nor "cd3 0": digits, then digits)
            return self._lookup[closed]
        return self._named_twice(value)

    def _named_twice(self, value: object) -> str | None:
        """The term a name gives twice, as two of its names side by side: a name and its clone in brackets
        (``"ALK (D5F3)"``), a name and another name (``"keratin AE1/AE3"``, ``"pan-keratin (AE1/AE3)"``); or a
        name in brackets that is one without them (``"ALK (FISH)"``). None when the parts are not both names of
        one term."""
        text = str(value)
        if len(text) > 64 or text.count(" ") > 6:  # a stain's name and its clone, not a paragraph
            return None
        bracketed = _BRACKETED.fullmatch(text)
        if bracketed is not None:  # "ALK (FISH)": the name the brackets leave ("ALK FISH"), if it is one
            joined = self._lookup.get(fold(f"{bracketed.group(1)} {bracketed.group(2)}"))
            if joined is not None:
                return joined
        splits = [(bracketed.group(1), bracketed.group(2))] if bracketed else []
        words = text.split()
        splits += [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
        for first, second in splits:
            term = self._lookup.get(fold(first))
            if term is not None and term == self._lookup.get(fold(second)):
                return term
        return None

    def suggest(self, value: str, n: int = 3) -> list[str]:
        """The terms nearest ``value`` (at most ``n``); for a small closed set with none near, every term; for
        a word that may mean several terms (:attr:`ambiguous`), each of them."""
        meant = self.ambiguous.get(fold(value))
        if meant is not None:
            return list(meant)
        out = self.near(value, n)
        if not out and len(self.terms) <= 8:
            return list(self.terms)  # a small closed set: show every option
        return out

    def near(self, value: str, n: int = 3, cutoff: float = 0.6, same_length: bool = False) -> list[str]:
        """The canonical terms whose spelling or a synonym's is close to ``value`` (at most ``n``; maybe none;
        ``cutoff``: difflib's similarity ratio a spelling must reach; ``same_length``: only spellings as long as
        the word, a typo's, not another word that shares its letters)."""
        word = fold(value)
        known = self._near.get((word, n, cutoff, same_length))
        if known is not None:
            return list(known)
        spellings = [w for w in self._lookup if len(w) == len(word)] if same_length else list(self._lookup)
        close = difflib.get_close_matches(word, spellings, n=n * 2, cutoff=cutoff)
        out: list[str] = []
        for c in close:
            canonical = self._lookup[c]
            if canonical not in out:
                out.append(canonical)
        if len(self._near) >= _NEAR_MEMO:
            self._near.clear()
        self._near[(word, n, cutoff, same_length)] = out[:n]
        return out[:n]

    def spellings(self) -> list[str]:
        """Every folded spelling the set reads: its terms and their synonyms."""
        return list(self._lookup)

    def label(self, term: str) -> str:
        return self.labels.get(term, term)

    def synonyms(self, term: str) -> list[str]:
        """The folded synonyms of canonical ``term`` (the term itself excluded), in the order they were given."""
        return [word for word, canonical in self._lookup.items() if canonical == term and word != term]

    def complete(self, text: str, limit: int = 12) -> list[tuple[str, str | None]]:
        """Terms for what has been typed so far: ``(canonical, synonym matched or None)``.

        The term that ``text`` names exactly (itself or by a synonym: ``ck`` is
        keratin, before ck7) comes first; then canonical terms that start with
        ``text``, then the terms an ambiguous word that starts with it may mean
        (:attr:`ambiguous`), then terms one of whose synonyms starts with it, then
        terms containing it anywhere. Each canonical term appears once.
        """
        key = fold(text)
        if not key:
            return [(t, None) for t in self.terms[:limit]]
        out: dict[str, str | None] = {}
        exact = self._lookup.get(key)
        if exact is not None:
            out[exact] = None if exact == key else key
        for term in self.terms:
            if term.startswith(key):
                out.setdefault(term, None)
        for word, meant in self.ambiguous.items():  # "femoral": the thigh, the groin and the bone, never one alone
            if word.startswith(key):
                for term in meant:
                    out.setdefault(term, word)
        for word, term in self._lookup.items():
            if word != term and word.startswith(key):
                out.setdefault(term, word)
        for word, term in self._lookup.items():
            if key in word:
                out.setdefault(term, None if word == term else word)
        return list(out.items())[:limit]


@dataclass
class MorphologyField:
    """One morphology finding of the vocabulary: its kind (a list of terms, one term, present/absent or a
    number), its terms or bounds, and the words that stand for several of its terms."""

    name: str
    kind: str  # list | term | presence | number
    terms: TermSet | None = None
    min: float | None = None
    max: float | None = None
    # a list field's words that stand for several of its terms ("lymphoplasmacytic": lymphocytes and
    # plasma cells), folded word -> canonical terms; a case that writes the word records each term
    compounds: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Vocabulary:
    """Every term a case may use (``rules/vocabulary.yaml``), with synonyms, as term sets that normalise
    what a case writes and name the nearest terms when it is not one."""

    sex: TermSet
    depth: TermSet
    symptoms: TermSet
    sites: TermSet
    site_group_of: dict[str, str]
    site_groups: TermSet
    morphology: dict[str, MorphologyField]
    morphology_fields: TermSet
    presence: TermSet
    morphology_presence: TermSet  # presence, with the words reports use for a finding seen in part ("focal")
    stain_results: TermSet
    stain_shorthand: dict[str, dict[str, str]]
    stain_extents: TermSet
    stain_intensities: TermSet
    stain_patterns: TermSet
    stains: TermSet
    molecular: TermSet
    site_sides: tuple[str, ...] = ()  # words of a side ("left thigh") read past in a site: no rule reads the side
    not_done: frozenset[str] = frozenset()  # folded words for a finding not looked for: read as not recorded
    # folded words that may mean not done or not detected ("ND"): refused with both readings
    not_done_or_negative: frozenset[str] = frozenset()
    # folded result words that name one kind of alteration ("amplified") -> the kinds of test taking them
    alteration_words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: Path | None = None
    _paths: dict[str, str] | None = field(default=None, repr=False)

    def alteration_refused(self, test: str, word: object) -> tuple[str, ...] | None:
        """The kinds of test a result word names when molecular ``test`` (canonical) is of none of them — an
        ALK rearrangement written "amplified" — else None. A test's kind is the last word of its term
        (``alk_rearrangement``: rearrangement); ``alteration_words`` in vocabulary.yaml."""
        kinds = self.alteration_words.get(fold(word)) if isinstance(word, str) else None
        if kinds is None or test.rpartition("_")[2] in kinds:
            return None
        return kinds

    @cached_property
    def molecular_implies(self) -> dict[str, str]:
        """``{test: implied test}``: a molecular test whose present result makes another present (a KIF5B-ALK
        fusion is an ALK rearrangement; ``implies:`` in vocabulary.yaml), canonical terms."""
        return {t: fold(x["implies"]) for t, x in self.molecular.extra.items() if "implies" in x}

    def stain_patterns_for(self, stain: str) -> list[str] | None:
        """The patterns allowed for ``stain`` (None: any pattern term)."""
        pats = self.stains.extra.get(stain, {}).get("patterns")
        return [fold(p) for p in pats] if pats else None

    def finding_paths(self) -> dict[str, str]:
        """Every case path a rule may test, with the kind of its value (built once)."""
        if self._paths is None:
            self._paths = self._build_finding_paths()
        return self._paths

    def _build_finding_paths(self) -> dict[str, str]:
        """Every case path a rule may test, with the kind of its value.

        Kinds: number, term:<termset kind>, list:<termset kind>.
        """
        paths: dict[str, str] = {
            "patient.age": "number",
            "patient.sex": "term",
            "clinical.site": "term",
            "clinical.site_group": "term",
            "clinical.depth": "term",
            "clinical.size_cm": "number",
            "clinical.symptoms": "list",
        }
        for name, mf in self.morphology.items():
            paths[f"morphology.{name}"] = {"list": "list", "number": "number"}.get(mf.kind, "term")
        for stain in self.stains.terms:
            paths[f"stains.{stain}"] = "term"
            for sub in ("extent", "intensity", "pattern"):
                paths[f"stains.{stain}.{sub}"] = "term"
            paths[f"stains.{stain}.percent"] = "number"
        for test in self.molecular.terms:
            paths[f"molecular.{test}"] = "term"
        return paths

    def termset_for(self, path: str) -> TermSet | None:
        """The term set that values at ``path`` are drawn from (None for numbers)."""
        parts = path.split(".")
        section = parts[0]
        if path == "patient.sex":
            return self.sex
        if path == "clinical.site":
            return self.sites
        if path == "clinical.site_group":
            return self.site_groups
        if path == "clinical.depth":
            return self.depth
        if path == "clinical.symptoms":
            return self.symptoms
        if section == "morphology" and len(parts) == 2 and parts[1] in self.morphology:
            mf = self.morphology[parts[1]]
            if mf.kind == "presence":
                return self.morphology_presence
            return mf.terms
        if section == "stains":
            if len(parts) == 2:
                return self.stain_results
            if len(parts) == 3:
                return {"extent": self.stain_extents, "intensity": self.stain_intensities, "pattern": self.stain_patterns}.get(
                    parts[2]
                )
        if section == "molecular":
            return self.presence
        return None

    def test_label(self, section: str, term: str) -> str:
        sets = {"stains": self.stains, "molecular": self.molecular}
        return sets[section].label(term)
