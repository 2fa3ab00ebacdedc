"""Editing one rule inside a rule file, without disturbing the rest of it.

A rule file is edited as text: the rule's block (its ``- id:`` item, with the
comment lines directly above it) is cut out, edited, and spliced back. Every
other byte of the file — comments, key order, quoting, flow style — is kept
exactly. (A round-trip YAML library was measured first: ruamel.yaml 0.19
rewrote ``{any: [{a: b}]}`` as ``{any: [a: b]}`` in five of the eight rules
files on a load/dump with no edit, so splicing text is the safer tool.)

Saving is atomic, refuses a file that changed on disk since it was opened,
and first copies the previous version into ``<rules dir>/.history/``, from
which it can be restored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

import yaml

from ddx.authoring.check import CheckReport, check_rules
from ddx.errors import DdxError, Problem
from ddx.yamlio import HISTORY_DIR, SAFE_LOADER, atomic_write_text, keep_version, kept_versions, read_text


class EditError(DdxError):
    """The edit cannot be applied (not one rule, or not where it was)."""


class ChangedOnDisk(DdxError):
    """The file changed on disk since it was opened in the editor."""


@dataclass(frozen=True)
class Block:
    """Where one rule stands in a rule file's text: 0-based lines, the comments directly above it included."""

    rule_id: str | None
    start: int  # first line (0-based), including the comment lines directly above the item
    item: int  # the line of the "- id:" item (0-based)
    end: int  # one past the last line (trailing blank lines excluded)
    indent: int  # columns before the "-"


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def rule_blocks(text: str) -> list[Block]:
    """The rule items of a rule file, in order, with their line ranges.

    A block is the ``- id:`` item and the comment lines directly above it that
    are indented at least as far as its dash; a comment left of the dash (a
    section header, a note at the end of the file) belongs to no rule.
    """
    try:
        root = yaml.compose(text, Loader=SAFE_LOADER)  # libyaml's parser: a rule file's nodes in ~10 ms, not ~100
    except (yaml.YAMLError, UnicodeEncodeError) as exc:  # libyaml reads UTF-8: a lone surrogate cannot be
        raise EditError(f"the file is not valid YAML: {exc}") from None
    if not isinstance(root, yaml.MappingNode):
        raise EditError("expected a top-level 'rules:' list")
    seq = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "rules"), None)
    if not isinstance(seq, yaml.SequenceNode):
        raise EditError("expected a top-level 'rules:' list")
    if seq.flow_style and seq.value:
        raise EditError("the rules are written as a flow list ('rules: [...]'); write one '- id:' item per rule to edit them here")
    lines = text.splitlines()
    items = []
    for node in seq.value:
        rid = None
        if isinstance(node, yaml.MappingNode):
            rid = next(
                (
                    v.value
                    for k, v in node.value
                    if isinstance(k, yaml.ScalarNode) and k.value == "id" and isinstance(v, yaml.ScalarNode)
                ),
                None,
            )
        line = node.start_mark.line
        items.append((rid, line, max(lines[line].find("-"), 0)))
    # where the list ends: the line after its last token (a file without a final newline ends mid-line)
    seq_end = min(seq.end_mark.line + (1 if seq.end_mark.column > 0 else 0), len(lines))
    starts = []
    for i, (_rid, line, indent) in enumerate(items):
        start = line
        floor = items[i - 1][1] + 1 if i else 0
        while start - 1 >= floor and _is_comment(lines[start - 1]) and _indent_of(lines[start - 1]) >= indent:
            start -= 1
        starts.append(start)
    out = []
    for i, (rid, line, indent) in enumerate(items):
        end = starts[i + 1] if i + 1 < len(items) else max(seq_end, line + 1)
        while end > line + 1 and (not lines[end - 1].strip() or (_is_comment(lines[end - 1]) and _indent_of(lines[end - 1]) < indent)):
            end -= 1
        out.append(Block(rid, starts[i], line, end, indent))
    return out


def find_block(text: str, rule_id: str) -> Block:
    """The block of the rule ``rule_id`` in a rule file's ``text``. EditError when the file has no such rule."""
    for block in rule_blocks(text):
        if block.rule_id == rule_id:
            return block
    raise EditError(f"rule {rule_id!r} is not in this file")


def block_text(text: str, block: Block) -> str:
    """The rule exactly as it stands in the file (its indentation included), ending in a newline."""
    return "\n".join(text.splitlines()[block.start : block.end]) + "\n"


def parse_block(edited: str) -> dict[str, Any]:
    """The edited text must be exactly one rule: a one-item list holding a mapping."""
    try:
        data = yaml.safe_load(edited)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise EditError(f"line {line}: YAML syntax error: {exc.problem}" if line else f"YAML syntax error: {exc}") from None
    except yaml.YAMLError as exc:
        raise EditError(f"YAML error: {exc}") from None
    if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
        raise EditError("the editor must hold exactly one rule, written as a list item ('- id: ...')")
    return data[0]


def _newline(text: str) -> str:
    """The file's line ending (a file written on Windows keeps its CRLF)."""
    return "\r\n" if "\r\n" in text else "\n"


def _indented(edited: str, indent: int) -> list[str]:
    """The edited lines, moved so that the item's dash sits at ``indent`` (unchanged if it already does)."""
    body = edited.rstrip("\r\n").splitlines()
    dash = next((_indent_of(line) for line in body if line.lstrip().startswith("-")), indent)
    shift = indent - dash
    if shift == 0:
        return body
    out = []
    for line in body:
        if not line.strip():
            out.append("")
        elif shift > 0:
            out.append(" " * shift + line)
        else:
            out.append(line[min(-shift, _indent_of(line)) :])
    return out


def replace_rule(text: str, rule_id: str, edited: str) -> tuple[str, int]:
    """The file text with rule ``rule_id`` replaced by ``edited``; and the 0-based line where it starts."""
    parse_block(edited)
    block = find_block(text, rule_id)
    lines = text.splitlines()
    new = lines[: block.start] + _indented(edited, block.indent) + lines[block.end :]
    nl = _newline(text)
    return nl.join(new) + nl, block.start


def append_rule(text: str, edited: str) -> tuple[str, int]:
    """The file text with a new rule added after the last one; and the 0-based line where it starts."""
    parse_block(edited)
    blocks = rule_blocks(text)
    lines = text.splitlines()
    if blocks:
        at, indent = blocks[-1].end, blocks[-1].indent
    else:  # "rules: []" or an empty list: rewrite the key as a block list
        lines = [line for line in lines if not re.match(r"^rules:\s*(\[\s*\])?\s*(#.*)?$", line)] + ["rules:"]
        at, indent = len(lines), 2
    insert = ([""] if blocks else []) + _indented(edited, indent)
    new = lines[:at] + insert + lines[at:]
    nl = _newline(text)
    return nl.join(new).rstrip("\r\n") + nl, at + (1 if blocks else 0)


NEW_RULE_TEMPLATE = """\
# A new rule. Fill in every field; 'ddx rules check' explains what is missing.
- id: {rule_id}
  title: "{title}"                       # the finding, as shown in the evidence
  status: draft                          # draft rules are checked but not scored; set active to use it
  when: {{stains.desmin: positive}}      # the condition (see the file header for the operators)
  likelihood:                            # P(finding | entity); ~ marks an estimate
{likelihood}
  rationale: "One line: why this finding separates the entities."
  source: ""                             # journal, year, volume:page (required)
  examples:
    should_match:
      - {{stains.desmin: positive}}
    should_not_match:
      - {{stains.desmin: negative}}
"""


def new_rule_text(rule_id: str, entities: list[str], title: str = "New finding") -> str:
    """A new rule's YAML from the template: ``rule_id`` and ``title`` filled in, and a neutral estimate (``~0.5``)
    for each entity slug of ``entities``, to be replaced with cited figures before the rule can pass a check."""
    likelihood = "\n".join(f"    {slug}: ~0.5" for slug in entities)
    return NEW_RULE_TEMPLATE.format(rule_id=rule_id, title=title, likelihood=likelihood)


# ------------------------------------------------------------------ validation


@dataclass(frozen=True)
class EditCheck:
    """The edit's effect on the whole rule set: messages mapped to editor lines."""

    report: CheckReport
    file_text: str | None  # the whole file after the edit (None: the edit itself is unreadable)
    block_start: int = 0  # 0-based line of the edited block in the file
    block_lines: int = 0
    error: str | None = None  # the edit is not one rule (syntax)
    error_line: int | None = None  # 1-based line in the editor
    edited: str = ""  # the editor text this check is of

    @property
    def ok(self) -> bool:
        return self.error is None and self.report.ok

    def editor_line(self, problem: Problem) -> int | None:
        """The 1-based editor line of a problem in the edited block, else None."""
        if problem.line is None or self.file_text is None:
            return None
        line = problem.line - self.block_start
        return line if 1 <= line <= self.block_lines else None


def check_edit(rules_dir: Path, file: Path, original: str, edited: str, rule_id: str | None) -> EditCheck:
    """Check the rule set as it would be with ``edited`` in place of rule ``rule_id`` (None: a new rule)."""
    try:
        if rule_id is None:
            text, start = append_rule(original, edited)
        else:
            text, start = replace_rule(original, rule_id, edited)
    except EditError as exc:
        match = re.match(r"line (\d+): ", str(exc))
        empty = CheckReport(rules_dir, None)
        return EditCheck(empty, None, error=str(exc), error_line=int(match.group(1)) if match else None, edited=edited)
    n = len(edited.rstrip("\r\n").splitlines())
    report = check_rules(rules_dir, overrides={file: text}, engine=False)
    return EditCheck(report, text, start, n, edited=edited)


# ------------------------------------------------------------------ saving and history


def history_dir(file: Path) -> Path:
    """``<rules dir>/.history/<file name>/``, for rule files (``<rules dir>/rules/x.yaml``) and for the
    rules directory's own files (settings.yaml ...) alike."""
    in_rule_folder = (
        file.parent.name == "rules"
        and (file.parent.parent / "vocabulary.yaml").is_file()
        and not (file.parent / "vocabulary.yaml").is_file()
    )
    return (file.parent.parent if in_rule_folder else file.parent) / HISTORY_DIR / file.name


@dataclass(frozen=True)
class Version:
    """An earlier version of a rule file kept by a save (the file, and when it was replaced)."""

    path: Path
    saved: float  # when it was replaced (seconds since the epoch)

    @property
    def label(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved))


def history(file: Path) -> list[Version]:
    """Earlier versions of ``file``, newest first."""
    return [Version(path, saved) for saved, path in kept_versions(history_dir(file))]


def read_file(file: Path) -> tuple[str, str]:
    """The text of a rule file and the digest of its bytes (to detect a change on disk before saving)."""
    text = read_text(file)
    current = _current_bytes(file)
    if current is None:
        raise EditError(f"{file} no longer exists")
    return text, hashlib.sha256(current).hexdigest()


def _current_bytes(file: Path) -> bytes | None:
    """The file's bytes now; None only when it does not exist (any other failure is an error)."""
    try:
        return file.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EditError(f"{file}: cannot read the current version ({exc.strerror or exc}); nothing was written") from None


@contextlib.contextmanager
def _save_lock(file: Path) -> Iterator[None]:
    """Serialise saves of the rule files of one directory (between processes too).

    Two editors that opened the same version could otherwise both pass the
    digest check and both write: the later would silently drop the earlier's
    edit. Under this lock the check and the write are one step. Where ``fcntl``
    is missing (Windows) saves are not serialised across processes.
    """
    folder = history_dir(file).parent
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "save.lock", "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def save_file(file: Path, new_text: str, opened_digest: str | None, *, check_dir: Path | None = None) -> Version | None:
    """Replace ``file`` with ``new_text`` atomically, after keeping its current version in the history.

    ``opened_digest`` is the digest of the text the edit started from (None: a
    new file). If the file no longer has it, nothing is written
    (:class:`ChangedOnDisk`). With ``check_dir`` (the rules directory), the
    rule set as it would be is first checked exactly as ``ddx rules check``
    checks it -- engine limits included -- and a rule set with an error is
    not written (:class:`EditError` naming the first). Saves are serialised
    (:func:`_save_lock`). The current version is kept byte for byte, whatever
    its encoding.
    """
    with _save_lock(file):
        if check_dir is not None:  # under the lock: the other files are as the check reads them
            report = check_rules(check_dir, overrides={file: new_text})
            if not report.ok:
                raise EditError(f"the rule set would have {len(report.errors)} error(s), the first: {report.errors[0]}")
        current = _current_bytes(file)
        if current is not None and opened_digest is None:
            raise ChangedOnDisk(f"{file} now exists on disk; reload it before saving")
        if current is not None and hashlib.sha256(current).hexdigest() != opened_digest:
            raise ChangedOnDisk(
                f"{file} changed on disk since it was opened; reload it (your edit is kept in the editor) and apply the edit again"
            )
        kept = None
        if current is not None:
            kept_path = keep_version(file, current, history_dir(file))
            kept = Version(kept_path, int(kept_path.name.split("-")[0]) / 1e6)
        atomic_write_text(file, new_text)
    return kept


def restore(file: Path, version: Version, opened_digest: str | None, *, check_dir: Path | None = None) -> Version | None:
    """Make an earlier version current again (the version replaced goes into the history too)."""
    return save_file(file, read_text(version.path), opened_digest, check_dir=check_dir)


def read_only_reason(rules_dir: Path) -> str | None:
    """Why the rules in ``rules_dir`` should not be edited in place (None: they may be)."""
    if rules_dir.resolve().name == "_rules" and rules_dir.resolve().parent.name == "ddx":
        return (
            "these are the rules installed with ddx; copy them first with 'ddx rules init DIR' "
            "and open them with 'ddx tui --rules DIR'"
        )
    if not os.access(rules_dir / "rules", os.W_OK):
        return f"{rules_dir / 'rules'} is not writable"
    return None
