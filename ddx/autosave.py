"""Autosaved drafts of cases being entered, so a crash or a closed terminal loses nothing.

Each running editor owns one draft file in ``<data dir>/drafts/`` (the data
dir is ``$DDX_DATA_DIR``, else the platform's user data directory), rewritten
atomically after every change. A clean exit removes it. A draft whose
process is no longer running is an *orphan*: the next start offers it back.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ddx.yamlio import ReadError, atomic_write_text, load_data

DRAFT_FORMAT = 1


def data_dir() -> Path:
    """``$DDX_DATA_DIR``, else the user data directory (e.g. ``~/.local/share/ddx``)."""
    explicit = os.environ.get("DDX_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("ddx", appauthor=False))


def _alive(pid: int) -> bool:
    """Is ``pid`` a running ddx? A zombie (killed, not yet reaped) or a reused pid is not."""
    if pid <= 0:
        return False
    proc = Path("/proc") / str(pid)
    if Path("/proc/self").exists():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            return False
        if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
            return False
        return b"ddx" in cmdline or b"pytest" in cmdline or b"python" in cmdline
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Draft:
    """A case autosaved by the TUI: the file it is kept in, the case mapping, the file it was opened from, when
    it was saved (ISO 8601) and the process that saved it."""

    path: Path
    case: dict[str, Any]
    origin: str | None  # the file the case came from, if any
    saved_at: str
    pid: int

    @property
    def case_id(self) -> str:
        return str(self.case.get("id", "?"))

    def describe(self) -> str:
        where = f" (from {self.origin})" if self.origin else " (a new case, never saved)"
        return f"case {self.case_id!r}{where}, autosaved {self.saved_at}"


class DraftStore:
    """The drafts folder. ``save`` writes this process's draft; ``orphans`` finds others' leftovers."""

    def __init__(self, directory: Path | None = None):
        self.directory = (directory if directory is not None else data_dir()) / "drafts"
        self.pid = os.getpid()
        self.path = self.directory / f"draft-{time.strftime('%Y%m%d-%H%M%S')}-{self.pid}.yaml"

    def save(self, case: dict[str, Any], origin: str | None) -> Path:
        """Write this editor's draft: a file only its user can read (0600) in a folder only its user can
        open (0700), since a draft holds patient data."""
        self._private_folder()
        payload = {
            "ddx_draft": DRAFT_FORMAT,
            "pid": self.pid,
            "origin": origin,
            "saved_at": datetime.now().isoformat(timespec="seconds"),
            "case": case,
        }
        atomic_write_text(self.path, yaml.safe_dump(payload, sort_keys=False, allow_unicode=True), mode=0o600)
        return self.path

    def _private_folder(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            info = self.directory.stat()
            if info.st_uid == os.getuid() and info.st_mode & 0o077:
                self.directory.chmod(0o700)  # made by an older ddx with the umask's permissions
        except (OSError, AttributeError):  # AttributeError: no getuid (Windows)
            pass

    def discard(self, path: Path | None = None) -> None:
        try:
            (path or self.path).unlink()
        except FileNotFoundError:
            pass

    def orphans(self) -> list[Draft]:
        """Drafts left by editors that are no longer running, newest first (unreadable ones skipped)."""
        if not self.directory.is_dir():
            return []
        found: list[Draft] = []
        for path in self.directory.glob("draft-*.yaml"):
            if path == self.path:
                continue
            try:
                data = load_data(path)
            except ReadError:
                continue
            if not isinstance(data, dict) or data.get("ddx_draft") != DRAFT_FORMAT:
                continue
            pid = data.get("pid")
            case = data.get("case")
            if not isinstance(pid, int) or not isinstance(case, dict) or _alive(pid) and pid != self.pid:
                continue
            origin = data.get("origin")
            found.append(Draft(path, case, origin if isinstance(origin, str) else None, str(data.get("saved_at", "")), pid))
        found.sort(key=lambda d: d.saved_at, reverse=True)
        return found
