"""What counts as a citation in rule files (``ddx rules check``, check ``source``).

A source names the literature a user can find: a year and a venue — a
journal (``Am J Surg Pathol 2009;33:1850``), a book (``WHO Classification of
Tumours ... 5th ed.``), a website (``PathologyOutlines.com``) or an
identifier (PMID, PMCID, doi, ISBN, URL). It never names a file: a user has
the clone and nothing else, so a path to notes or a brief (``notes.yaml``,
``docs/brief.md``) cannot be a source.

The test is a heuristic on the text, documented so that authors know what
passes: :func:`citation_problem` returns the reason a text is not a citation,
or ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?!\d)")
IDENTIFIER = re.compile(r"\b(PMID|PMCID|PMC\d|doi|ISBN|https?://|arXiv)", re.IGNORECASE)
WEBSITE = re.compile(r"\b[\w-]+\.(com|org|info|net|gov|edu|int)\b", re.IGNORECASE)
# "2009;33:1850", "2009;33(12):1850", "2023;36:100131", "2022:e123" (year; volume or year: article)
VOLUME = re.compile(r"(19|20)\d\d\s*[;:]\s*[\w(]")
BOOK = re.compile(r"\b(\d+(st|nd|rd|th) ed\b|edition|Classification of Tumours|WHO Classification|textbook|monograph)", re.IGNORECASE)
# Words of journal titles and meeting abstracts as cited in pathology (abbreviated or not).
JOURNAL = re.compile(
    r"\b(J|Journal|Pathol(ogy)?|Am|Surg|Cancer|Oncol(ogy)?|Histopathology|Blood|Med(icine)?|"
    r"Genet(ics)?|Clin|Res|Rep(orts?)?|Int|Ann|Arch(ives)?|Acta|Lancet|Nat(ure)?|Sci(ence)?|"
    r"Virchows|Diagn|Cytopathol|Hematol|Dermatol|Radiol|Pediatr|Paediatr|Bull|Proc|"
    r"Zhonghua|Chin|Cancers|Cells|APMIS|USCAP|abstract|meeting|congress)\b"
)
PATH = re.compile(
    r"(^|[\s(\"'])(\.{1,2}/|~/|/(?!\s))|"  # ../x, ./x, ~/x, /abs/path
    r"\b[\w.-]+/[\w./-]*\.(md|ya?ml|txt|py|json|csv|tsv|xlsx?|ods|rst)\b|"  # dir/file.ext
    r"(^|\s)[\w-]+\.(md|ya?ml|py|txt|json|csv|rst)\b",  # file.ext on its own
    re.IGNORECASE,
)
URL = re.compile(r"https?://\S+|doi:\s*\S+|10\.\d{4,}/\S+", re.IGNORECASE)


def citation_problem(text: str) -> str | None:
    """Why ``text`` is not a citation of the literature, or ``None`` when it is.

    Rules: no file path (a path inside a URL or DOI is fine); a year
    (1950-2049); and a venue: an identifier, a website, ``year;volume``, a
    book marker, or a journal word.
    """
    without_links = URL.sub(" ", text)
    if PATH.search(without_links):
        return "names a file path, which users of a clone do not have; cite the literature instead"
    if not YEAR.search(text):
        return "gives no year of publication"
    if not (IDENTIFIER.search(text) or WEBSITE.search(text) or VOLUME.search(text) or BOOK.search(text) or JOURNAL.search(text)):
        return "names no journal, book, website or identifier (PMID, doi)"
    return None


# Summary pages that tabulate or paraphrase the literature: a figure may be read *through* one (the primary
# paper named beside it), but a citation naming only such a page is not a primary source.
SUMMARY = re.compile(
    r"pathology\s*outlines|e-immunohistochemistry|webpathology|curesarcoma|wikidoc|wikipedia|medscape|"
    r"uptodate|radiopaedia|ccga\.io|surgpathcriteria|surgical pathology criteria",
    re.IGNORECASE,
)
# what names a primary paper beside the page: an identifier, or a journal volume ("2009;33:1850", "2009;33(2)")
_PRIMARY_ID = re.compile(r"\b(PMID|PMCID|doi|ISBN|arXiv)\b|\bPMC\d+|10\.\d{4,}/|pubmed|ncbi\.nlm\.nih\.gov", re.IGNORECASE)
_JOURNAL_VOLUME = re.compile(r"(19|20)\d\d\s*;\s*\d+")


def summary_only(text: str) -> str | None:
    """The summary page a citation names when it names no primary paper, else ``None``.

    A citation is *summary-only* when it names a summary site (PathologyOutlines, e-immunohistochemistry,
    WebPathology, Stanford's Surgical Pathology Criteria, …) and no journal volume (``2009;33:1850``),
    identifier (PMID, PMCID, doi, a PubMed link) or book beside it:
    ``"Rani A, et al. Alveolar rhabdomyosarcoma. PathologyOutlines.com, 2023"`` is, and
    ``"Nascimento AF, et al. Am J Surg Pathol 2005;29:1106 (via e-immunohistochemistry.info)"`` is not.
    """
    found = SUMMARY.search(text)
    if not found:
        return None
    rest = SUMMARY.sub(" ", text)
    if _JOURNAL_VOLUME.search(rest) or _PRIMARY_ID.search(rest) or BOOK.search(rest):
        return None
    return found.group(0)


def split_citations(source: str) -> list[str]:
    """The citations of a source, split at '; ' outside brackets ('A 2001;1:2 (x; y); B 2002' -> 2 items)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(source):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == ";" and depth == 0 and source[i + 1 : i + 2] == " ":
            out.append(source[start:i].strip())
            start = i + 2
    out.append(source[start:].strip())
    return [c for c in out if c]


# "Merchant W, ..." / "Le Loarer F, ..." / "Jo VY, ...": a surname (one or two words) before the initials
_AUTHOR = re.compile(r"\b((?:[A-Z][a-z]+ )?[A-Z][\w'-]+) [A-Z]{1,4}\b[,.]")
_WORD = re.compile(r"[A-Za-z][\w'-]*")


def citation_keys(sources: Iterable[str]) -> dict[str, str]:
    """A short key for each distinct source text, as a reference manager would make it: the first
    citation's first author and year (``Merchant1995``), ``+N`` when the source lists N more citations
    (``Hasegawa2003+2``), and ``b``, ``c`` ... after the year for different texts with the same key
    (``Merchant1995b``: the same paper cited for another figure).

    Returns ``{source text: key}``. The keys depend only on the set of texts (they are given in sorted
    order of the texts), so the same rules give the same keys on every run and in every process.
    """
    bases: dict[str, str] = {}
    for text in sorted(set(sources)):
        parts = split_citations(text.removeprefix("pooled: ")) or [text]
        first = parts[0]
        author = _AUTHOR.search(first)
        name = author.group(1) if author else (_WORD.search(first) or _WORD.search("source")).group(0)  # type: ignore[union-attr]
        year = YEAR.search(first[author.start() :] if author else first) or YEAR.search(text)
        base = name.replace(" ", "") + (year.group(0) if year else "")
        bases[text] = base + (f"+{len(parts) - 1}" if len(parts) > 1 else "")
    keys: dict[str, str] = {}
    used: dict[str, int] = {}
    for text, base in bases.items():  # sorted by text: the first text of a base keeps it plain
        n = used.get(base, 0)
        used[base] = n + 1
        if n == 0:
            keys[text] = base
        else:
            head, plus, more = base.partition("+")
            keys[text] = f"{head}{chr(ord('a') + n) if n < 26 else f'-{n}'}{plus}{more}"
    return keys
