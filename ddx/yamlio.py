"""Safe YAML/JSON reading with line numbers, and atomic writing.

Only PyYAML's safe loader is used (libyaml's ``CSafeLoader`` where installed): rule and case files are data, never code.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import yaml

from ddx.errors import DdxError
from ddx.safetext import UNSAFE

MAX_FILE_BYTES = 5 * 1024 * 1024  # a case or rule file larger than this is refused


MAX_EXPANDED_NODES = 1_000_000  # values a file's YAML aliases may expand to (a "billion laughs" is refused)


SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it


REPEATED_KEY = "give each key once"  # the end of the message for a key given twice (readers test for it)


def repeated_key_text(key: Any, first: int, line: int) -> str:
    """The message for ``key`` given on line ``first`` and again on ``line``."""
    where = f"twice on line {line}" if first == line else f"on line {first} and line {line}"
    return f"key {key!r} is given {where}; {REPEATED_KEY}"


class DataLoader(SAFE_LOADER):  # type: ignore[misc]
    """The one YAML loader for case and rule files: PyYAML's safe loader (libyaml's C parser where
    installed, about ten times faster), stricter.

    * a key repeated in one mapping is an error naming both lines (YAML itself
      would keep the last value silently, so ``alk: positive ... alk: negative``
      became negative);
    * numbers are YAML 1.1's without the base-60 forms (``1:05`` is the text
      "1:05", not 65, and a long such value no longer costs quadratic time);
    * an integer longer than Python converts (4,300 digits) is an error with its line;
    * aliases may not expand the document past :data:`MAX_EXPANDED_NODES` values.
    """

    yaml_implicit_resolvers: dict[Any, Any] = {}  # replaced below: the SafeLoader's, without base 60
    _line_maps = False  # LineLoader: each mapping is a LineDict that knows its lines

    def construct_document(self, node: Any) -> Any:
        try:
            return self._construct_tree(node)
        except Exception:  # noqa: S110 - an alias, a merge key, a repeated key, a rare tag ...: PyYAML's path decides
            pass
        if _expanded_size(node, {}) > MAX_EXPANDED_NODES:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"the aliases in this file expand to more than {MAX_EXPANDED_NODES:,} values "
                "(a file of aliases nested in aliases is refused)",
                node.start_mark,
            )
        return super().construct_document(node)

    def _construct_tree(self, root: Any) -> Any:
        """The document built straight from its nodes, for a plain tree: mappings with scalar keys given once,
        sequences, and scalars of the tags in :data:`_TREE_SCALARS` (each made by its registered constructor).

        It is PyYAML's result (``construct_document`` after the alias guard), four to six times faster on
        the rule files, because such a tree needs none of that bookkeeping. Anything else raises, and
        ``construct_document`` takes PyYAML's own path: a node met twice (an alias: PyYAML shares the
        object, and the alias guard counts it), more nodes than :data:`MAX_EXPANDED_NODES` (the guard
        refuses them), a merge key, a key given twice or any error (PyYAML's path words it, in its order).
        """
        seen: set[int] = set()
        constructors = self.yaml_constructors
        line_maps = self._line_maps
        scalar_node, sequence_node, mapping_node = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode

        def build(node: Any) -> Any:
            count = len(seen)
            seen.add(id(node))
            if len(seen) == count or count >= MAX_EXPANDED_NODES:
                raise _NotATree
            kind = node.__class__
            tag = node.tag
            if kind is scalar_node:
                if tag == _STR:
                    return node.value
                if tag not in _TREE_SCALARS:
                    raise _NotATree
                return constructors[tag](self, node)
            if kind is sequence_node and tag == _SEQ:
                return [build(child) for child in node.value]
            if kind is not mapping_node or tag != _MAP:
                raise _NotATree
            pairs = node.value
            mapping: dict[Any, Any] = LineDict() if line_maps else {}
            for key_node, value_node in pairs:
                if key_node.__class__ is not scalar_node or key_node.tag == _MERGE:
                    raise _NotATree
                mapping[build(key_node)] = build(value_node)
            if len(mapping) != len(pairs):  # a key given twice
                raise _NotATree
            if line_maps:
                key_lines: dict[Any, int] = {}
                for key_node, _ in pairs:
                    key_lines.setdefault(key_node.value, key_node.start_mark.line + 1)
                mapping.key_lines = key_lines  # type: ignore[attr-defined]
                mapping["__line__"] = node.start_mark.line + 1
            return mapping

        return build(root)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader reports it
                    continue
                if first is not None:
                    self._key_given_twice(node, key_node, repeated_key_text(key, first, line))
                else:
                    seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def _key_given_twice(self, node: Any, key_node: Any, message: str) -> None:
        """A key given twice in ``node``: an error (:class:`_TolerantLineLoader` notes it instead)."""
        raise yaml.constructor.ConstructorError(None, None, message, key_node.start_mark)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (KeyError, ValueError, TypeError, OverflowError):
            # an explicit tag whose text it cannot hold (`!!bool maybe`, `!!int abc`, `!!float x`): PyYAML's
            # constructors raise plain Python errors there, which would end the read without a line
            if not isinstance(node, yaml.ScalarNode):
                raise
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"{str(node.value)[:60]!r} cannot be read as !!{kind}; write the value without the tag", node.start_mark
            ) from None

    def construct_yaml_int(self, node: Any) -> Any:
        digits = sum(ch.isdigit() for ch in str(node.value))
        if digits > MAX_DIGITS:
            raise yaml.constructor.ConstructorError(None, None, _too_many_digits(digits), node.start_mark)
        return super().construct_yaml_int(node)


MAX_DIGITS = 4300  # Python's own limit on converting text to int

_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_TREE_SCALARS = frozenset(
    {
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:timestamp",
    }
)


class _NotATree(Exception):
    """The document needs PyYAML's own constructor (see :meth:`DataLoader._construct_tree`)."""


def _too_many_digits(digits: int) -> str:
    return f"a whole number of {digits:,} digits is too long to read (at most {MAX_DIGITS:,})"


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """How many values ``node`` stands for once every alias is expanded (memoised: linear time)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias counts once
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = size = min(size, MAX_EXPANDED_NODES + 1)
    return size


_INT = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
                    |[-+]?0[0-7_]+
                    |[-+]?(?:0|[1-9][0-9_]*)
                    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)  # PyYAML's, less the base-60 form
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""",
    re.X,
)  # PyYAML's, less the base-60 form


def _without_base_60() -> dict[Any, Any]:
    resolvers: dict[Any, Any] = {}
    for first, entries in SAFE_LOADER.yaml_implicit_resolvers.items():
        resolvers[first] = [
            (tag, regexp) for tag, regexp in entries if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
        ]
    for tag, regexp, firsts in (("tag:yaml.org,2002:int", _INT, "-+0123456789"), ("tag:yaml.org,2002:float", _FLOAT, "-+0123456789.")):
        for first in firsts:
            resolvers.setdefault(first, []).append((tag, regexp))
    return resolvers


DataLoader.yaml_implicit_resolvers = _without_base_60()
DataLoader.add_constructor("tag:yaml.org,2002:int", DataLoader.construct_yaml_int)


class LineLoader(DataLoader):
    """:class:`DataLoader` that remembers the line of every mapping (as ``__line__``)."""

    _line_maps = True


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


class _TolerantLineLoader(LineLoader):
    """:class:`LineLoader` that notes a key given twice (``duplicates``: the mapping node, its line, the
    message) instead of refusing the document, so a file of several cases can refuse only the case that
    holds it (PyYAML keeps the last value)."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self.duplicates: list[tuple[Any, int, str]] = []

    def _key_given_twice(self, node: Any, key_node: Any, message: str) -> None:
        self.duplicates.append((node, key_node.start_mark.line + 1, message))


def _subtree(node: Any, into: set[int]) -> set[int]:
    """The ids of ``node`` and every node under it."""
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in into:
            continue
        into.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack += (key, value)
        elif isinstance(current, yaml.SequenceNode):
            stack += current.value
    return into


def load_noting_duplicates(path: Path) -> tuple[Any, list[tuple[int | None, int, str]]] | None:
    """A YAML file read with lines (as :func:`load_data` ``with_lines``) whose repeated keys are noted, not
    refused: (data, [(case, line, message)]), ``case`` being the index of the case (in ``cases:``; 0 for a
    file of one case) whose mapping holds the key, or ``None`` for a key outside every case (``cases:``
    itself given twice). ``None`` when the file is not YAML or does not read this way either (the caller
    keeps the first error)."""
    if path.suffix.lower() not in (".yaml", ".yml"):
        return None
    try:
        text = read_text(path)
        loader = _TolerantLineLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except (OSError, ReadError, yaml.YAMLError, RecursionError, UnicodeError, ValueError, TypeError):
        return None
    if find_text(data, _SURROGATE) is not None:
        return None
    items: list[Any] = [root]
    if isinstance(root, yaml.MappingNode) and isinstance(data, dict) and "cases" in data and "id" not in data:
        listed = [value for key, value in root.value if isinstance(key, yaml.ScalarNode) and key.value == "cases"]
        items = listed[-1].value if listed and isinstance(listed[-1], yaml.SequenceNode) else []
    trees = [_subtree(item, set()) for item in items]
    found: list[tuple[int | None, int, str]] = []
    for node, line, message in loader.duplicates:
        found.append((next((i for i, tree in enumerate(trees) if id(node) in tree), None), line, message))
    return data, found


def strip_lines(value: Any) -> Any:
    """Remove the ``__line__`` markers added by :class:`LineLoader`."""
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value


class ReadError(DdxError):
    """A file that cannot be read as data, with the line where known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def open_regular(path: Path) -> int:
    """An open file descriptor for reading ``path``, which must be a regular file.

    Opened without blocking, so a named pipe with no writer cannot hang the
    open, then checked with ``fstat`` on the descriptor itself (no race
    between the check and the read). Raises :class:`ReadError` for a folder,
    a pipe, a device or a socket, and for a file that cannot be opened.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except IsADirectoryError:
        raise ReadError("is a directory, not a file") from None
    except FileNotFoundError:
        raise ReadError("no such file") from None
    except OSError as exc:
        raise ReadError(f"cannot read file: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ReadError("is a directory, not a file")
        if not stat.S_ISREG(mode):  # a pipe or a device would block or never end
            raise ReadError("not a regular file (a named pipe, a device or a socket is not read)")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of the regular file ``path``: more than ``limit`` means the file is too large
    (the caller says for what). Raises :class:`ReadError` for a pipe, a device or a read that fails."""
    fd = open_regular(path)
    try:
        with os.fdopen(fd, "rb") as handle:
            return handle.read(limit + 1)
    except OSError as exc:
        raise ReadError(f"cannot read file: {exc.strerror or exc}") from None


def read_text(path: Path) -> str:
    """The UTF-8 text of a regular file of at most :data:`MAX_FILE_BYTES` bytes.

    The limit counts the bytes actually read, not the size the file reports
    (a file in ``/proc`` reports 0). Raises :class:`ReadError`.
    """
    raw = read_bytes(path, MAX_FILE_BYTES)
    if len(raw) > MAX_FILE_BYTES:
        raise ReadError(f"file is larger than 5 MiB; the limit is {MAX_FILE_BYTES} bytes")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(f"not UTF-8 text (byte {exc.start})") from None


def load_data(path: Path, *, with_lines: bool = False, text: str | None = None, plain: bool = False, cache: bool = False) -> Any:
    """Load a YAML (.yaml/.yml) or JSON (.json) file safely (``text``: its content, not yet on disk).

    Raises :class:`ReadError` (with the line where known) for a syntax error, a
    repeated key, an alias bomb, a number too long to read, or an escape that
    makes a lone surrogate (``"\\ud800"``: no encoder can write it back out).
    ``plain`` (rule files): text may hold no control character but tab and
    newline, so a title cannot clear or retitle the terminal that shows it.
    ``cache`` (rule files read from disk): keep the parsed data in the cache of
    parsed rule files (:func:`cache_dir`) and take it from there while the file
    is unchanged; the data and the errors are those of a parse.
    """
    clean: bool | None = None  # no backslash and no control character in the text (see _plain_text)
    entry = None  # the cache file for the text
    if text is None:
        text = read_text(path)
        if cache and path.suffix.lower() in (".yaml", ".yml"):
            clean = _plain_text(text)
            entry = _cache_entry(text, with_lines) if clean else None
            if entry is not None:
                data = _cache_read(entry, with_lines)
                if data is not _MISS:
                    return data  # parsed before; a clean text needs none of the checks below
    elif len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ReadError(f"text is larger than the limit of {MAX_FILE_BYTES} bytes")
    data = _parse(path, with_lines, text)
    if entry is not None:
        _cache_write(entry, data, with_lines)
    if "\\u" in text or "\\U" in text:  # only an escape can make a lone surrogate
        hit = find_text(data, _SURROGATE)
        if hit is not None:
            raise ReadError(
                f"{hit[0] or 'the file'}: text holds a lone surrogate (an escape such as "
                "\\ud800 that is not a character); write the character itself",
                hit[1],
            )
    if plain and not (_plain_text(text) if clean is None else clean):
        hit = find_text(data, UNSAFE)
        if hit is not None:
            raise ReadError(
                f"{hit[0] or 'the file'}: text holds the control character {hit[2]!r}; "
                "rule files hold plain text (tab and newline only)",
                hit[1],
            )
    return data


def _plain_text(text: str) -> bool:
    """True when no text loaded from ``text`` can hold a control character or a lone surrogate: every
    text in the data is the file's own characters but where an escape (a backslash) made one, so a file
    without a backslash and without such a character holds none (and its data need not be searched)."""
    return "\\" not in text and UNSAFE.search(text) is None


# ------------------------------------------------------------------ the cache of parsed rule files
#
# A rule file's parsed data (what ``load_data`` returns: LineDicts with their lines) is kept as JSON in
# $DDX_CACHE_DIR, else the user cache folder (``platformdirs``), one file per content: its name is the
# SHA-256 of the file's text, ddx's version, this loader's own source, PyYAML's and libyaml's versions and
# the kind of load, so an edited file, another ddx or another loader never reads an entry made for something else.
# Only files without a backslash or a control character are cached (for them the text checks of
# ``load_data`` find nothing), and only data JSON holds exactly (text keys; text, numbers, true/false,
# null, lists, mappings). An entry that cannot be read, does not parse, is not the current user's or
# is writable by others is ignored (the file is parsed); DDX_NO_CACHE=1 turns the cache off.

CACHE_FORMAT = "ddx-parsed-rules 1"
MAX_CACHE_ENTRIES = 200  # the oldest entries beyond this are removed when one is written
_KEY_LINES = "\x00"  # in an entry, the last pair of a LineDict: its key lines (no rule text holds \x00)
_MISS = object()
_salt: bytes | None = None


class _NotCacheable(Exception):
    """The data holds something JSON does not give back exactly (a date, a number as a key ...)."""


def cache_dir() -> Path | None:
    """Where parsed rule files are cached: ``$DDX_CACHE_DIR``, else ``rules`` in the user cache folder
    (``~/.cache/ddx/rules`` on Linux); None when ``$DDX_NO_CACHE`` is set to anything but ``0``."""
    if os.environ.get("DDX_NO_CACHE", "0") not in ("", "0"):
        return None
    explicit = os.environ.get("DDX_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ddx", appauthor=False)) / "rules"


def _cache_salt() -> bytes:
    global _salt
    if _salt is None:
        import hashlib

        from ddx import __version__

        try:
            source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
        except OSError:  # no source beside the module (a frozen install): the version alone
            source = "?"
        libyaml = getattr(getattr(yaml, "_yaml", None), "get_version_string", lambda: "none")()
        _salt = f"{CACHE_FORMAT}\0{__version__}\0{source}\0{yaml.__version__}\0{libyaml}\0{SAFE_LOADER.__name__}\0".encode()
    return _salt


def _cache_entry(text: str, with_lines: bool) -> Path | None:
    """The cache file for ``text`` (None: no cache)."""
    try:
        folder = cache_dir()
        if folder is None:
            return None
        import hashlib

        digest = hashlib.sha256(_cache_salt() + (b"lines\0" if with_lines else b"plain\0") + text.encode("utf-8"))
        return folder / f"{digest.hexdigest()}.json"
    except Exception:  # noqa: BLE001 - no cache folder can be named here: parse
        return None


def _cache_read(entry: Path, with_lines: bool) -> Any:
    """The data kept in ``entry``, or ``_MISS``."""
    try:
        fd = os.open(entry, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return _MISS
    try:
        info = os.fstat(fd)
        getuid = getattr(os, "getuid", None)  # POSIX: the entry must be yours and writable by you alone
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_size > 4 * MAX_FILE_BYTES
            or (getuid is not None and (info.st_uid != getuid() or info.st_mode & 0o022))
        ):
            return _MISS
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            raw = handle.read()
        head, _, body = raw.partition(b"\n")
        if head != f"{CACHE_FORMAT} {entry.stem}".encode():
            return _MISS
        return json.loads(body, object_pairs_hook=_line_dict) if with_lines else json.loads(body)
    except Exception:  # noqa: BLE001 - a damaged entry is a miss
        return _MISS
    finally:
        if fd >= 0:
            os.close(fd)


def _line_dict(pairs: list[tuple[str, Any]]) -> LineDict:
    key, lines = pairs.pop()
    if key != _KEY_LINES:
        raise ValueError("not a cached LineDict")
    mapping = LineDict(pairs)
    mapping.key_lines = dict(lines)
    return mapping


def _encode(value: Any, with_lines: bool) -> Any:
    """``value`` as JSON data that :func:`_cache_read` turns back into an equal value of the same types."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is list:
        return [_encode(item, with_lines) for item in value]
    if kind is (LineDict if with_lines else dict):
        out = {}
        for key, item in value.items():
            if type(key) is not str or key == _KEY_LINES:
                raise _NotCacheable(key)
            out[key] = _encode(item, with_lines)
        if with_lines:
            out[_KEY_LINES] = [[k, n] for k, n in value.key_lines.items()]
        return out
    raise _NotCacheable(kind)


def _cache_write(entry: Path, data: Any, with_lines: bool) -> None:
    """Keep ``data`` in ``entry`` (nothing happens when it cannot be written or JSON cannot hold it)."""
    try:
        body = json.dumps(_encode(data, with_lines), ensure_ascii=False, separators=(",", ":"))
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with atomic_output(entry, mode=0o600, sync=False) as handle:
            handle.write(f"{CACHE_FORMAT} {entry.stem}\n{body}")
        entries = sorted(entry.parent.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-MAX_CACHE_ENTRIES]:
            old.unlink()
    except Exception:  # noqa: BLE001 - a cache that cannot be written is no cache
        pass


def _parse(path: Path, with_lines: bool, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text, parse_constant=_reject_constant, parse_int=_json_int, object_pairs_hook=_json_object)
        except json.JSONDecodeError as exc:
            raise ReadError(f"JSON syntax error: {exc.msg}", exc.lineno) from None
        except _RepeatedKey as exc:
            first, second = _json_key_lines(text, exc.key)
            raise ReadError(f"JSON error: {repeated_key_text(exc.key, first, second)}", second) from None
        except (ValueError, RecursionError) as exc:
            raise ReadError(f"JSON error: {exc}") from None
    loader = LineLoader if with_lines else DataLoader
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise ReadError(yaml_problem_text(exc, text), line) from None
    except UnicodeEncodeError:  # libyaml is handed UTF-8: a lone surrogate in text not read from a file
        raise ReadError("text holds a lone surrogate (not a character); write the character itself") from None
    except yaml.reader.ReaderError as exc:  # a control character: its own words, at its line (not the parser's)
        position = exc.position if isinstance(exc.position, int) and 0 <= exc.position <= len(text) else None
        line = text[:position].count("\n") + 1 if position is not None else None
        said = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise ReadError(
            f"YAML error: the text holds a control character ({said}), which YAML does not allow; "
            "if this is not a text file, leave it out of the cases, else remove the character",
            line,
        ) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ReadError(f"YAML error: {exc}") from None


def yaml_problem_text(exc: yaml.MarkedYAMLError, text: str) -> str:
    """'YAML syntax error: <the parser's problem> (<what it usually means>)' for a YAML error in ``text``, the
    same hint from libyaml and from PyYAML's own parser (their messages differ; libyaml's names no character)."""
    mark = exc.problem_mark
    syntax = (yaml.scanner.ScannerError, yaml.parser.ParserError, yaml.composer.ComposerError)
    kind = "YAML syntax error" if isinstance(exc, syntax) else "YAML error"
    problem = str(exc.problem or exc)
    if (
        mark is not None
        and "cannot start any token" in problem
        and 0 <= mark.index < len(text)
        and repr(text[mark.index]) not in problem
    ):  # libyaml does not name the character
        problem += f" ({text[mark.index]!r})"
    hint = _YAML_HINTS.get(problem)
    return f"{kind}: {problem}" + (f" ({hint})" if hint else "")


_TAB_HINT = "a tab: replace it with spaces; YAML indents with spaces only"
# what libyaml's (and PyYAML's) terse messages usually mean in a hand-written case file
_YAML_HINTS: dict[str, str] = {
    "mapping values are not allowed in this context": (
        "usually a key indented more or less than the keys beside it, a line above without its ': ', "
        "or a value holding ': ' that needs quotes"
    ),
    "could not find expected ':'": "usually a line without 'key: value', or a key indented differently from those beside it",
    "did not find expected key": "usually a key indented differently from the keys beside it",
    "did not find expected '-' indicator": (
        "usually a line indented less than the list items around it, or a key of the item above indented too "
        "little: check this line and the one above"
    ),
    "found a tab character that violates indentation": _TAB_HINT,
    "found a tab character where an indentation space is expected": _TAB_HINT,  # a tab in a block scalar (notes: |)
    "found character '\\t' that cannot start any token": _TAB_HINT,  # PyYAML
    "found character that cannot start any token ('\\t')": _TAB_HINT,  # libyaml, the character named above
    "block sequence entries are not allowed in this context": (
        "usually a value written '-' after 'key: ' (YAML reads a dash there as a list item); write 'negative', or quote the sign ('-')"
    ),
}
_YAML_HINTS["mapping values are not allowed here"] = _YAML_HINTS["mapping values are not allowed in this context"]  # PyYAML


def find_text(value: Any, pattern: re.Pattern[str], path: str = "") -> tuple[str, int | None, str] | None:
    """The first text (key or value) in loaded data that ``pattern`` finds something in.

    Returns (key path, line of the key where known, the text matched), or None.
    """
    if isinstance(value, str):
        found = pattern.search(value)
        return (path, None, found.group()) if found else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (found := pattern.search(key)):
                return here, key_line(value, key), found.group()
            hit = find_text(item, pattern, here)
            if hit is not None:
                return hit if hit[1] is not None else (hit[0], key_line(value, key), hit[2])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            hit = find_text(item, pattern, f"{path}[{index}]")
            if hit is not None:
                return hit
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


class _RepeatedKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a repeated key (``json`` would keep the last value silently)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return result


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(_too_many_digits(len(text.lstrip("-"))))
    return int(text)


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')


def _json_key_lines(text: str, key: str) -> tuple[int, int]:
    """The lines of the first repeated ``key`` inside one JSON object (only called on an error)."""
    stack: list[dict[str, int] | None] = []  # per open bracket: the keys seen (None for an array)
    previous: tuple[str, int] | None = None  # the string token just read, and where
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "{[":
            stack.append({} if token == "{" else None)
        elif token in "}]":
            if stack:
                stack.pop()
        elif token == ":" and previous is not None and stack and stack[-1] is not None:
            keys = stack[-1]
            name = json.loads(previous[0])
            line = text.count("\n", 0, previous[1]) + 1
            if name == key and name in keys:
                return keys[name], line
            keys.setdefault(name, line)
        previous = (token, match.start()) if token.startswith('"') else None
    return 0, 0


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid number here")


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, mode: int | None = None, sync: bool = True) -> Iterator[TextIO]:
    """A text stream whose content replaces ``path`` only when the block ends normally.

    The data goes to a temporary file beside ``path`` (flushed and fsynced),
    then ``os.replace`` swaps it in. An exception, Ctrl-C or a kill leaves the
    previous file untouched (a kill -9 may leave a hidden ``.name.*.tmp``).
    ``mode``: the new file's permissions (default: the previous file's, else
    0666 less the umask); the temporary file has them from its creation
    (``mkstemp`` makes it 0600), so private data is never readable by others.
    ``sync=False`` skips the fsync, for a file whose reader detects a torn write (the rules cache).
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if mode is None:
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
            if sync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename (``mode``: see :func:`atomic_output`).

    An interrupted write leaves the previous file intact.
    """
    with atomic_output(path, mode=mode) as handle:
        handle.write(text)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, byte for byte (an older version kept as it was)."""
    with atomic_output(path) as handle:
        handle.flush()
        handle.buffer.write(data)


HISTORY_DIR = ".history"  # beside a saved file: <folder>/.history/<file name>/ (a batch reads no hidden folder)
HISTORY_KEEP = 200  # versions kept per file; the oldest go first


def history_folder(file: Path) -> Path:
    """Where the earlier versions of ``file`` are kept: ``<folder>/.history/<file name>/``."""
    return file.parent / HISTORY_DIR / file.name


def keep_version(file: Path, data: bytes, folder: Path | None = None) -> Path:
    """Keep ``data`` (the bytes ``file`` holds before it is replaced) as ``<µs since the epoch>-<sha256[:8]>.yaml``
    in ``folder`` (default :func:`history_folder`), atomically; the oldest beyond :data:`HISTORY_KEEP` are
    removed. Returns the kept file. Raises OSError when the folder cannot be written (then nothing is replaced)."""
    import hashlib
    import time

    folder = history_folder(file) if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / f"{time.time_ns() // 1000}-{hashlib.sha256(data).hexdigest()[:8]}.yaml"
    atomic_write_bytes(kept, data)
    for _, stale in kept_versions(folder)[HISTORY_KEEP:]:
        try:
            os.unlink(stale)
        except OSError:
            pass
    return kept


def kept_versions(folder: Path) -> list[tuple[float, Path]]:
    """The versions :func:`keep_version` kept in ``folder``, newest first: (when it was replaced, in seconds
    since the epoch; the file). A missing folder holds none."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)) / 1e6, p) for p in folder.glob("*.yaml") if (m := _KEPT.match(p.name))]
    return sorted(found, key=lambda item: item[0], reverse=True)


_KEPT = re.compile(r"^(\d+)-")  # a kept version's name: microseconds since the epoch, then its digest


def section_text(text: str, begin: str, end: str) -> str | None:
    """The text between the ``begin`` and ``end`` markers (stripped of blank edges, one final newline), or None."""
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        return None
    return text[start + len(begin) : stop].strip("\n") + "\n"
