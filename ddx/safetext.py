"""Text from case and rule files, made safe for the place it is shown.

A case file can hold any Unicode text (a note, a file name, a value that
failed validation and is quoted back in the error). Shown as it is, such text
can act instead of being read: an escape sequence clears or retitles a
terminal (``\\x1b[2J``, OSC ``\\x1b]0;...\\x07``), a bidirectional override
reorders what the reader sees, a lone surrogate breaks every encoder, a cell
that starts with ``=`` runs as a formula in a spreadsheet, ``<script>`` runs
in a rendered markdown page. Each function here makes text inert for one
destination and keeps it readable: nothing is dropped, it is written as an
escape (``\\x1b``) instead.

Rich markup is not handled here: the display layers build :class:`rich.text.Text`
or pass ``markup=False`` (see the README's reliability section).
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls but tab and newline, DEL and the C1 controls (CSI 0x9b and OSC 0x9d act like ESC [ and ESC ]),
# the bidirectional marks and overrides (Unicode 15, "Trojan Source"), line and paragraph separators,
# and lone surrogates.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_OR_BREAK = re.compile(UNSAFE.pattern[:-1] + "\t\n]")

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection"; with the
full-width forms some spreadsheet programs also accept)."""

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x09:
        return "\\t"
    if code == 0x0A:
        return "\\n"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, *, newlines: bool = True) -> str:
    """``text`` with every control character written as an escape (``\\x1b``, ``\\u202e``).

    Tab and newline are kept when ``newlines`` is true (free text), escaped
    when it is false (an id, a title, a one-line message). Printable
    characters of every script are kept as they are.
    """
    pattern = UNSAFE if newlines else _UNSAFE_OR_BREAK
    return pattern.sub(_escape, text) if pattern.search(text) else text


def spreadsheet_cell(value: Any) -> Any:
    """A CSV/TSV cell that a spreadsheet shows and never evaluates.

    Text starting with a formula prefix (:data:`FORMULA_PREFIXES`) gets a
    leading apostrophe, as OWASP advises; numbers, also negative ones written
    as text (``-0.5``), are left alone, and so is every value that is not text.
    Control characters are escaped (:func:`printable`).
    """
    if not isinstance(value, str):
        return value
    value = printable(value)
    if value.startswith(FORMULA_PREFIXES) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_text(text: str) -> str:
    """JSON text (already encoded) with the characters JSON leaves raw but a terminal may act on
    (DEL, the C1 controls, bidirectional overrides, line separators) written as ``\\uXXXX``.

    Those characters can only occur inside JSON strings, where the escape means the
    same character: the data is unchanged for every JSON reader.
    """
    if text.isascii():  # the usual case, without a regex scan
        return text if "\x7f" not in text else _JSON_UNSAFE.sub(_json_escape, text)
    # Beyond ASCII (a why line's '≈', a name's 'ü') a byte test decides whether the scan is needed: the UTF-8
    # encoding of every unsafe character holds one of the bytes 7F (DEL), C2 (U+0080-U+009F), 9C (U+061C is
    # D8 9C), 80 or 81 (U+2000-U+207F are E2 80 xx and E2 81 xx). A line with none of them has no unsafe
    # character; one with any is scanned. Single-byte searches run at memory speed; the character-class scan
    # of a 10 KB line costs ~40 µs.
    raw = text.encode("utf-8", "surrogatepass")
    if b"\x80" not in raw and b"\x81" not in raw and b"\x9c" not in raw and b"\xc2" not in raw and b"\x7f" not in raw:
        return text
    return _JSON_UNSAFE.sub(_json_escape, text) if _JSON_UNSAFE.search(text) else text


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def markdown_text(text: str) -> str:
    """Text for a markdown table cell or line: HTML, pipes and backslashes escaped, one line, controls escaped."""
    text = printable(text, newlines=False)
    return text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
