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
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 1_000_000  # an unchanged long line stays one line (ruamel re-wraps every scalar it writes)
    rt.indent(mapping=2, sequence=4, offset=2)
    try:
        doc = rt.load(old_text)
    except YAMLError:
        return None
    if not isinstance(doc, CommentedMap) or not _apply(doc, baseline, entry.data, (), entry):
        return None
    out = io.StringIO()
    rt.dump(doc, out)
    text = out.getvalue()
    try:
        again = case_to_data(knowledge.case_schema.validate(yaml.safe_load(text)), knowledge.vocab)
    except Exception:  # noqa: BLE001 - not read back: write the case anew
        return None
    return text if again == entry.data else None


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
        if name not in keys:
            return False
        del node[keys[name]]
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
