"""The case ids of a batch run, in about 20 bytes a case: what ``ddx batch`` checks duplicates against.

A run of a million cases must not hold a million id strings and location strings (~190 bytes a case in
a dict). Each id is kept as a 96-bit BLAKE2b digest (a 64-bit key and a 32-bit check) with where it was
first seen (an index into the files and sheets of the run, and the line). New ids go to a small dict;
when it holds more than 1/32 of the rest, it is merged into sorted numpy arrays (a merge is a linear
``searchsorted`` + ``insert``, so a run of n cases merges O(32 n) entries in all, in C).

Two different ids are taken for one when their 96-bit digests agree: with n ids the chance that any
pair does is below n² / 2^97 (under 10^-16 for a million cases).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ddx.errors import location

_MIN_BUFFER = 4096  # ids held in the dict before the first merge
_BUFFER_SHARE = 32  # merge when the dict holds more than 1/32 of the merged ids


def _digest(case_id: str) -> tuple[int, int]:
    raw = hashlib.blake2b(case_id.encode("utf-8", "surrogatepass"), digest_size=12).digest()
    return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")


class SeenIds:
    """Ids seen so far and where each was first seen (``file``, ``line``, ``sheet``).

    :meth:`first` returns the location of an earlier case with the same id (``cases.csv:3``,
    ``series.xlsx, sheet 'Thigh', row 5``; :func:`ddx.errors.location`) and records the id when it is new.
    """

    def __init__(self) -> None:
        self._places: list[tuple[str, str | None]] = []  # (file, sheet), one entry per run of cases
        self._place_index: dict[tuple[str, str | None], int] = {}
        self._recent: dict[int, tuple[int, int, int]] = {}  # key -> (check, place, line)
        # numpy arrays from the first merge on (numpy is imported then: a run of a few cases never needs it)
        self._keys: Any = None  # sorted uint64
        self._checks: Any = None  # uint32
        self._where: Any = None  # uint32
        self._lines: Any = None  # int32, -1: no line

    def __len__(self) -> int:
        return (0 if self._keys is None else len(self._keys)) + len(self._recent)

    def first(self, case_id: str, file: str, line: int | None = None, sheet: str | None = None) -> str | None:
        """Where ``case_id`` was seen before, or None (and it is recorded as seen here)."""
        key, check = _digest(case_id)
        held = self._recent.get(key)
        keys = self._keys
        if held is None and keys is not None and keys.size:
            i = int(keys.searchsorted(keys.dtype.type(key)))
            if i < keys.size and keys.item(i) == key:
                held = (self._checks.item(i), self._where.item(i), self._lines.item(i))
        if held is not None and held[0] == check:
            place_file, place_sheet = self._places[held[1]]
            return location(place_file, held[2] if held[2] >= 0 else None, place_sheet)
        if held is not None:  # the 64-bit keys agree, the ids do not: keep the new id in the dict only
            return None  # (a second such id in a run is beyond any realistic chance)
        place = self._place_index.get((file, sheet))
        if place is None:
            place = self._place_index[(file, sheet)] = len(self._places)
            self._places.append((file, sheet))
        self._recent[key] = (check, place, line if line is not None and 0 <= line < 2**31 else -1)
        if len(self._recent) > max(_MIN_BUFFER, (0 if self._keys is None else len(self._keys)) // _BUFFER_SHARE):
            self._merge()
        return None

    def _merge(self) -> None:
        import numpy as np

        if self._keys is None:
            self._keys = np.empty(0, dtype=np.uint64)
            self._checks = np.empty(0, dtype=np.uint32)
            self._where = np.empty(0, dtype=np.uint32)
            self._lines = np.empty(0, dtype=np.int32)
        keys = np.fromiter(self._recent.keys(), dtype=np.uint64, count=len(self._recent))
        rows = np.array(list(self._recent.values()), dtype=np.int64).reshape(-1, 3)
        order = np.argsort(keys, kind="stable")
        keys, rows = keys[order], rows[order]
        at = np.searchsorted(self._keys, keys)
        self._keys = np.insert(self._keys, at, keys)
        self._checks = np.insert(self._checks, at, rows[:, 0].astype(np.uint32))
        self._where = np.insert(self._where, at, rows[:, 1].astype(np.uint32))
        self._lines = np.insert(self._lines, at, rows[:, 2].astype(np.int32))
        self._recent.clear()
