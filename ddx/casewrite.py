"""Saving a case over the file it came from: the file's layout kept, its previous version kept.

A case saved back to its own YAML file changes only what was changed: the file is read with ruamel.yaml's
round-trip loader (comments, key order, quoting and flow style kept), the differences between what the file
holds (read as ddx reads it) and the case being saved are applied to it, and the result is read back and
compared with the case; anything that does not come back equal (a value the file spells in a way ddx could not
place, a refused value still in the file) makes ddx write the whole case anew instead, as before. Either way
the file's previous bytes are first copied into ``<folder>/.history/<file name>/`` (the rule editor's layout;
a batch does not read hidden folders).
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from ddx.knowledge.vocabulary import UnknownTerm

if TYPE_CHECKING:
    from ddx.entry import CaseEntry

FINDING_SECTIONS = ("stains", "molecular")


def merged_case_text(old_text: str, entry: CaseEntry) -> str | None:
    """``old_text`` (a one-case YAML file) with the case of ``entry`` written into it, changing only what
    differs; None when that cannot be done exactly (the caller writes the whole case instead): the file is not
    one case ddx reads without a problem (read first with PyYAML's safe loader), a changed key cannot be found
    in it, a comment would be lost, the file mixes indentations, or the merged text does not read back as the
    case. Never raises: whatever the round trip trips on makes the caller write the case anew."""
    try:
        return _merged(old_text, entry)
    except Exception:  # noqa: BLE001 - whatever the round trip trips on (ruamel's own errors included), write anew
        return None


def _merged(old_text: str, entry: CaseEntry) -> str | None:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    from ddx.entry import case_to_data

    knowledge = entry.knowledge
    bom = old_text.startswith("\ufeff")
    body = old_text.removeprefix("\ufeff")
    before = yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(before, dict) or "cases" in before:
        return None
    baseline = case_to_data(knowledge.case_schema.validate(before), knowledge.vocab)
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 1_000_000  # an unchanged long line stays one line (ruamel re-wraps every scalar it writes)
    rt.explicit_start = _DOCUMENT_START.match(body) is not None
    rt.explicit_end = _DOCUMENT_END.search(body) is not None
    doc = rt.load(body)
    lines = body.splitlines()
    layout = _layout(doc, lines) if isinstance(doc, CommentedMap) else None
    if layout is None:
        return None
    rt.indent(mapping=layout[0], sequence=layout[1], offset=layout[2])
    lost: list[str] = []  # the end-of-line comments of deleted keys' lines: they go with their lines
    if not _apply(doc, baseline, entry.data, (), entry, lost):
        return None
    out = io.StringIO()
    rt.dump(doc, out)
    text = out.getvalue()
    crlf = body.count("\r\n")
    if crlf and crlf * 2 >= body.count("\n"):  # the file's line endings, as most of its lines have them
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    if _comments(body) - Counter(lost) - _comments(text):  # a comment of the file would be lost
        return None
    again = case_to_data(knowledge.case_schema.validate(yaml.safe_load(text)), knowledge.vocab)
    if again != entry.data:
        return None
    return ("\ufeff" if bom else "") + text


def _layout(doc: Any, lines: list[str]) -> tuple[int, int, int] | None:
    """The file's indentation as ruamel.yaml sets it (mapping, sequence, offset of the dash), read from where
    its nested block mappings and lists stand; None when the file mixes several (ruamel writes one)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    maps: set[int] = set()
    seqs: set[tuple[int, int]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, CommentedMap):
            for key, value in node.items():
                column = node.lc.key(key)[1]
                if isinstance(value, CommentedMap) and value and not value.fa.flow_style():
                    maps.add(value.lc.key(next(iter(value)))[1] - column)
                elif isinstance(value, CommentedSeq) and value and not value.fa.flow_style():
                    line, at = value.lc.item(0)
                    seqs.add((at - column, lines[line].rfind("-", 0, at) - column))
                walk(value)
        elif isinstance(node, CommentedSeq):
            for value in node:
                walk(value)

    walk(doc)
    if len(maps) > 1 or len(seqs) > 1:
        return None
    mapping = maps.pop() if maps else 2
    sequence, offset = seqs.pop() if seqs else (mapping, 0)
    if mapping < 1 or offset < 0 or sequence < offset + 2:
        return None
    return mapping, sequence, offset


_DOCUMENT_START = re.compile(r"(?:%.*\r?\n|#.*\r?\n|\s*\r?\n)*---")
_DOCUMENT_END = re.compile(r"^\.\.\.\s*$", re.MULTILINE)
# a key whose value is a block scalar ("notes: >-", "- text: |"): the lines below it, more indented, are text
_BLOCK_SCALAR = re.compile(r"^(\s*)(?:-\s+)?(?:'[^']*'|\"[^\"]*\"|[^#'\"\s][^#]*?)\s*:\s*[|>][-+0-9]*\s*(?:#.*)?$")


def _comments(text: str) -> Counter[str]:
    """Every comment of a YAML text (a whole comment line or the end of a line), as written, outside quoted
    strings and block scalars."""
    found: Counter[str] = Counter()
    block: int | None = None  # the indent of the key whose block scalar is being read
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if block is not None:
            if not line.strip() or indent > block:
                continue
            block = None
        opened = _BLOCK_SCALAR.match(line)
        if opened is not None:
            block = len(opened.group(1))
        comment = _comment_of(line)
        if comment:
            found[comment] += 1
    return found


def _comment_of(line: str) -> str | None:
    """The comment a YAML line ends with (from its '#'), or None; a '#' inside quotes or a word is no comment."""
    quote = None
    for i, char in enumerate(line):
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"" and (i == 0 or line[i - 1] in " \t:[{,-"):
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[i:].strip()
    return None


def _canonical(key: Any, where: tuple[str, ...], entry: CaseEntry) -> str:
    """A key of the file as the case names it: a stain or test by its term, any other key as written."""
    if len(where) == 1 and where[0] in FINDING_SECTIONS:
        names = entry.vocab.stains if where[0] == "stains" else entry.vocab.molecular
        try:
            return names.normalize(key)
        except UnknownTerm:
            return str(key)
    return str(key)


def _apply(
    node: Any, old: Mapping[str, Any], new: Mapping[str, Any], where: tuple[str, ...], entry: CaseEntry, lost: list[str]
) -> bool:
    """Change ``node`` (a round-trip mapping read as ``old``) so that it reads as ``new``; False when a key that
    changed cannot be found in it once (two spellings of one stain, a value ddx read from another key)."""
    keys: dict[str, Any] = {}
    for key in node:
        name = _canonical(key, where, entry)
        if name in keys:
            return False
        keys[name] = key
    for name in [k for k in old if k not in new]:
        if name not in keys or not _drop(node, keys[name], lost):
            return False
    for name, value in new.items():
        if name in old and old[name] == value:
            continue
        if name not in keys:
            if name in old:
                return False
            _add(node, name, _fresh(value), where)
            continue
        here = node[keys[name]]
        if isinstance(value, dict) and isinstance(old.get(name), dict) and isinstance(here, dict):
            if not _apply(here, old[name], value, (*where, name), entry, lost):
                return False
        else:
            node[keys[name]] = _fresh(value)
    return True


def _drop(node: Any, key: Any, lost: list[str]) -> bool:
    """Delete ``key`` from a round-trip mapping, keeping the comment lines ruamel files under it (those below
    its line) above the next key; its end-of-line comment goes with it. False when the comments cannot be kept
    so (the key is the mapping's last, or they are held in another place)."""
    tokens = node.ca.items.get(key)
    below: list[str] = []
    if tokens:
        if any(t is not None for i, t in enumerate(tokens) if i != 2):
            return False
        lines = tokens[2].value.split("\n") if tokens[2] is not None else []
        below = [line.strip() for line in lines[1:] if line.strip()]  # lines[0]: the deleted line's own comment
        if lines and lines[0].strip():
            lost.append(lines[0].strip())
    order = list(node)
    after = order[order.index(key) + 1] if order.index(key) + 1 < len(order) else None
    if below and after is None:
        return False
    del node[key]
    if below:
        indent = node.lc.key(after)[1]  # the next key's column
        text = "\n".join(line.removeprefix("#").removeprefix(" ") for line in below)
        node.yaml_set_comment_before_after_key(after, before=text, indent=indent)
    return True


def _add(node: Any, name: str, value: Any, where: tuple[str, ...]) -> None:
    """Add a key: at the top level before the first key the contract puts after it (``stains`` before
    ``notes``), elsewhere at the end."""
    from ddx.knowledge.case import TOP_LEVEL_KEYS

    if not where and name in TOP_LEVEL_KEYS:
        rank = TOP_LEVEL_KEYS.index(name)
        for position, key in enumerate(node):
            if str(key) in TOP_LEVEL_KEYS and TOP_LEVEL_KEYS.index(str(key)) > rank:
                node.insert(position, name, value)
                return
    node[name] = value


def _fresh(value: Any) -> Any:
    """A new value as ddx writes a case: mappings in block style, a list of short terms on one line."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _fresh(v)
        return out
    if isinstance(value, list):
        seq = CommentedSeq(_fresh(v) for v in value)
        if all(isinstance(v, (str, int, float)) and len(str(v)) < 40 for v in value):
            seq.fa.set_flow_style()
        return seq
    return value
