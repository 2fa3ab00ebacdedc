"""Safe YAML/JSON reading with line numbers, and atomic writing.

Only ``yaml.SafeLoader`` is used: rule and case files are data, never code.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import yaml

from ddx.errors import DdxError

MAX_FILE_BYTES = 5 * 1024 * 1024  # a case or rule file larger than this is refused


class LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping (as ``__line__``)."""


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping read by :class:`LineLoader`: ``key_lines`` gives the line of each key."""

    key_lines: dict[Any, int]


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = LineDict(loader.construct_mapping(node, deep=True))
    mapping.key_lines = {}
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            mapping.key_lines.setdefault(key_node.value, key_node.start_mark.line + 1)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


def key_line(mapping: Any, key: Any) -> int | None:
    """The line of ``key`` in a mapping read with line markers (None if unknown)."""
    lines = getattr(mapping, "key_lines", None)
    if lines and str(key) in lines:
        return int(lines[str(key)])
    return None


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def strip_lines(value: Any) -> Any:
    """Remove the ``__line__`` markers added by :class:`LineLoader`."""
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value


class ReadError(DdxError):
    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def read_text(path: Path) -> str:
    try:
        info = path.stat()
    except OSError as exc:
        raise ReadError(f"cannot read file: {exc.strerror or exc}") from None
    size = info.st_size
    if stat.S_ISDIR(info.st_mode):
        raise ReadError("is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):   # a pipe or a device would block or never end
        raise ReadError("not a regular file")
    if size > MAX_FILE_BYTES:
        raise ReadError(f"file is {size} bytes; the limit is {MAX_FILE_BYTES} bytes")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReadError(f"cannot read file: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(f"not UTF-8 text (byte {exc.start})") from None


def load_data(path: Path, *, with_lines: bool = False, text: str | None = None) -> Any:
    """Load a YAML (.yaml/.yml) or JSON (.json) file safely (``text``: its content, not yet on disk)."""
    if text is None:
        text = read_text(path)
    elif len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ReadError(f"text is larger than the limit of {MAX_FILE_BYTES} bytes")
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise ReadError(f"JSON syntax error: {exc.msg}", exc.lineno) from None
        except (ValueError, RecursionError) as exc:
            raise ReadError(f"JSON error: {exc}") from None
    loader = LineLoader if with_lines else yaml.SafeLoader
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ReadError(f"YAML syntax error: {exc.problem or exc}", line) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ReadError(f"YAML error: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid number here")


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A text stream whose content replaces ``path`` only when the block ends normally.

    The data goes to a temporary file beside ``path`` (flushed and fsynced),
    then ``os.replace`` swaps it in. An exception, Ctrl-C or a kill leaves the
    previous file untouched (a kill -9 may leave a hidden ``.name.*.tmp``).
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename.

    An interrupted write leaves the previous file intact.
    """
    with atomic_output(path) as handle:
        handle.write(text)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, byte for byte (an older version kept as it was)."""
    with atomic_output(path) as handle:
        handle.flush()
        handle.buffer.write(data)


def section_text(text: str, begin: str, end: str) -> str | None:
    """The text between the ``begin`` and ``end`` markers (stripped of blank edges, one final newline), or None."""
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        return None
    return text[start + len(begin):stop].strip("\n") + "\n"


def replace_section(path: Path, begin: str, end: str, block: str) -> bool:
    """Replace the text between the ``begin`` and ``end`` markers of a file (atomically).

    Returns False, changing nothing, when the markers are missing.
    """
    text = Path(path).read_text(encoding="utf-8")
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        return False
    atomic_write_text(Path(path), text[:start + len(begin)] + "\n" + block + text[stop:])
    return True
