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
_NESTED_KEY = re.compile(r"^( +)[^\s#\-][^:\n]*:", re.MULTILINE)  # an indented "key:" line: the mapping indent


def merged_case_text(old_text: str, entry: CaseEntry) -> str | None:
    """``old_text`` (a one-case YAML file) with the case of ``entry`` written into it, changing only what
    differs; None when that cannot be done exactly (the caller writes the whole case instead): the file is not
    one case ddx reads without a problem, a changed key cannot be found in it, or the merged text does not
    read back as the case."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    from ddx.entry import case_to_data

    knowledge = entry.knowledge
    try:
        before = yaml.load(old_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        if not isinstance(before, dict) or "cases" in before:
            return None
        baseline = case_to_data(knowledge.case_schema.validate(before), knowledge.vocab)
    except Exception:  # noqa: BLE001 - any file ddx cannot read as one clean case is written anew
        return None
    from ruamel.yaml.util import load_yaml_guess_indent

    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 1_000_000  # an unchanged long line stays one line (ruamel re-wraps every scalar it writes)
    try:
        _, list_indent, list_offset = load_yaml_guess_indent(old_text)  # the file's own indentation, kept
        nested = [len(m.group(1)) for m in _NESTED_KEY.finditer(old_text)]
        rt.indent(mapping=min(nested, default=2), sequence=list_indent or 2, offset=list_offset or 0)
        doc = rt.load(old_text)
    except YAMLError:
        return None
    if not isinstance(doc, CommentedMap) or not _apply(doc, baseline, entry.data, (), entry):
        return None
    out = io.StringIO()
    rt.dump(doc, out)
    text = out.getvalue()
    if "\r\n" in old_text:  # the file's line endings, kept
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    if not _comments_kept(old_text, text):
        return None
    try:
        again = case_to_data(knowledge.case_schema.validate(yaml.safe_load(text)), knowledge.vocab)
    except Exception:  # noqa: BLE001 - not read back: write the case anew
        return None
    return text if again == entry.data else None


def _comments_kept(old_text: str, new_text: str) -> bool:
    """Whether every comment line of the old file (a line holding only a comment) is in the new one."""
    kept = Counter(line.strip() for line in new_text.splitlines() if line.strip().startswith("#"))
    for line in old_text.splitlines():
        said = line.strip()
        if said.startswith("#"):
            if kept[said] <= 0:
                return False
            kept[said] -= 1
    return True


def _canonical(key: Any, where: tuple[str, ...], entry: CaseEntry) -> str:
    """A key of the file as the case names it: a stain or test by its term, any other key as written."""
    if len(where) == 1 and where[0] in FINDING_SECTIONS:
        names = entry.vocab.stains if where[0] == "stains" else entry.vocab.molecular
        try:
            return names.normalize(key)
        except UnknownTerm:
            return str(key)
    return str(key)


def _apply(node: Any, old: Mapping[str, Any], new: Mapping[str, Any], where: tuple[str, ...], entry: CaseEntry) -> bool:
    """Change ``node`` (a round-trip mapping read as ``old``) so that it reads as ``new``; False when a key that
    changed cannot be found in it once (two spellings of one stain, a value ddx read from another key)."""
    keys: dict[str, Any] = {}
    for key in node:
        name = _canonical(key, where, entry)
        if name in keys:
            return False
        keys[name] = key
    for name in [k for k in old if k not in new]:
        if name not in keys or not _drop(node, keys[name]):
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
            if not _apply(here, old[name], value, (*where, name), entry):
                return False
        else:
            node[keys[name]] = _fresh(value)
    return True


def _drop(node: Any, key: Any) -> bool:
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
