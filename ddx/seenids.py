"""The case ids of a batch run, in about 16 bytes a case: what ``ddx batch`` checks duplicates against.

A run of a million cases must not hold a million id strings and location strings (~190 bytes a case in
a dict). Each id is kept as an 80-bit BLAKE2b digest (a 64-bit key and a 16-bit check) with where it was
first seen (an index into the files and sheets of the run, and the line), packed into two 64-bit words.
New ids go to a small dict; when it holds more than 1/64 of the rest (and at least 32,768 ids), it is
merged into sorted numpy arrays, one pair for each of 64 ranges of the key. A merge rewrites one range
at a time, so the old and new arrays held at once are a 64th of the register, not all of it: peak memory
grows with the register itself (measured in ``bench/seenids_bench.py``, table in the README).

Two different ids are taken for one when their 80-bit digests agree: with n ids the chance that any
pair does is below n² / 2^81 (under 10^-12 for a million cases). Two ids whose 64-bit keys agree and whose
checks do not (a chance of about n² / 2^65) are both kept, the second in a dict of its own.
"""

from __future__ import annotations

import hashlib
import mmap
from typing import Any

from ddx.errors import location

# ids held in the dict before the first merge (~3.6 MB at most): a batch of fewer cases never imports numpy
# (130-170 ms of CPU, as much as ranking ~300 cases; with next tests ddx imports it anyway)
_MIN_BUFFER = 32768
_BUFFER_SHARE = 64  # merge when the dict holds more than 1/64 of the merged ids
_RANGE_BITS = 6  # the key's top 6 bits choose one of 64 ranges, each its own pair of sorted arrays
_NO_LINE = 0xFFFFFFFF  # the line field of a case without a line (a YAML file's only case)
_MANY_PLACES = 0xFFFF  # the place field of a case whose place index does not fit in 16 bits (kept in a dict)


def _digest(case_id: str) -> tuple[int, int]:
    raw = hashlib.blake2b(case_id.encode("utf-8", "surrogatepass"), digest_size=10).digest()
    return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")


class SeenIds:
    """Ids seen so far and where each was first seen (``file``, ``line``, ``sheet``).

    :meth:`first` returns the location of an earlier case with the same id (``cases.csv:3``,
    ``series.xlsx, sheet 'Thigh', row 5``; :func:`ddx.errors.location`) and records the id when it is new.
    Memory: 16 bytes an id in the arrays, plus a dict of at most 1/64 of them or 32,768 (about 100 bytes an
    entry); a run of more than 65,535 files or sheets keeps the place of each id past that in a dict as well.
    """

    def __init__(self) -> None:
        self._places: list[tuple[str, str | None]] = []  # (file, sheet), one entry per run of cases
        self._place_index: dict[tuple[str, str | None], int] = {}
        self._recent: dict[int, int] = {}  # key -> packed value (see _pack)
        self._far_places: dict[tuple[int, int], int] = {}  # (key, check) -> place index, for places past _MANY_PLACES
        self._clashes: dict[tuple[int, int], int] = {}  # (key, check) -> packed value: an id whose key another has
        self._merged = 0
        # per range of the key, numpy arrays from the first merge on (numpy is imported then: a run of a few
        # cases never needs it): sorted uint64 keys and their uint64 packed values
        self._keys: list[Any] = []
        self._values: list[Any] = []

    def __len__(self) -> int:
        return self._merged + len(self._recent)

    def first(self, case_id: str, file: str, line: int | None = None, sheet: str | None = None) -> str | None:
        """Where ``case_id`` was seen before, or None (and it is recorded as seen here)."""
        key, check = _digest(case_id)
        held = self._recent.get(key)
        if held is None and self._keys:
            keys = self._keys[key >> (64 - _RANGE_BITS)]
            i = int(keys.searchsorted(keys.dtype.type(key)))
            if i < keys.size and keys.item(i) == key:
                held = int(self._values[key >> (64 - _RANGE_BITS)].item(i))
        if held is not None and held >> 48 != check:  # the 64-bit keys agree, the ids do not: kept apart
            held = self._clashes.get((key, check))
            if held is None:
                self._clashes[(key, check)] = self._packed(key, check, file, line, sheet)
                return None
        if held is not None:
            place = (held >> 32) & 0xFFFF
            if place == _MANY_PLACES:
                place = self._far_places[key, check]
            held_line = held & 0xFFFFFFFF
            place_file, place_sheet = self._places[place]
            return location(place_file, None if held_line == _NO_LINE else held_line, place_sheet)
        self._recent[key] = self._packed(key, check, file, line, sheet)
        if len(self._recent) > max(_MIN_BUFFER, self._merged // _BUFFER_SHARE):
            self._merge()
        return None

    def _packed(self, key: int, check: int, file: str, line: int | None, sheet: str | None) -> int:
        """The check, place and line of a new id in one 64-bit word (a place past 16 bits kept apart)."""
        place = self._place_index.get((file, sheet), len(self._places))
        if place == len(self._places):
            self._place_index[(file, sheet)] = place
            self._places.append((file, sheet))
        if place >= _MANY_PLACES:
            self._far_places[key, check] = place
            place = _MANY_PLACES
        stored_line = line if line is not None and 0 <= line < _NO_LINE else _NO_LINE
        return check << 48 | place << 32 | stored_line

    def _merge(self) -> None:
        import numpy as np

        if not self._keys:
            self._keys = [np.empty(0, dtype=np.uint64) for _ in range(1 << _RANGE_BITS)]
            self._values = list(self._keys)
        keys = np.fromiter(self._recent.keys(), dtype=np.uint64, count=len(self._recent))
        values = np.fromiter(self._recent.values(), dtype=np.uint64, count=len(self._recent))
        self._merged += len(self._recent)
        self._recent.clear()
        order = np.argsort(keys)
        keys, values = keys[order], values[order]
        # where each range starts among the sorted new keys (range r holds keys with top bits r)
        starts = np.searchsorted(keys, np.arange(1 << _RANGE_BITS, dtype=np.uint64) << np.uint64(64 - _RANGE_BITS))
        bounds = [*starts.tolist(), len(keys)]
        for r in range(1 << _RANGE_BITS):
            lo, hi = bounds[r], bounds[r + 1]
            if lo == hi:
                continue
            old_keys, old_values = self._keys[r], self._values[r]
            # where the new ids go in the merged range: before the old keys they sort below
            to = np.searchsorted(old_keys, keys[lo:hi]) + np.arange(hi - lo)
            old_at = np.ones(old_keys.size + hi - lo, dtype=bool)
            old_at[to] = False
            merged_keys, merged_values = _array(old_at.size), _array(old_at.size)
            merged_keys[to], merged_values[to] = keys[lo:hi], values[lo:hi]
            merged_keys[old_at], merged_values[old_at] = old_keys, old_values
            self._keys[r], self._values[r] = merged_keys, merged_values


def _array(size: int) -> Any:
    """A uint64 numpy array of ``size`` in its own anonymous memory map.

    Its memory goes back to the system when the array is freed (the map is unmapped), so replacing a range's
    arrays at every merge leaves no holes in the heap for the resident size to grow by (measured 2026-12-04 with
    the same ranges in heap arrays: after a million ids, 4.7 of the 23.8 MB they had added were such holes,
    given back by ``malloc_trim``).
    """
    import numpy as np

    length = max(size, 1) * 8
    # private where the system has the flag: nothing writes to an array once it is built, but a shared map
    # is not what a process's own array should be
    if hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MAP_ANONYMOUS"):
        memory = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    else:  # Windows: no flags (a map there is not shared with a child process)
        memory = mmap.mmap(-1, length)
    return np.frombuffer(memory, dtype=np.uint64, count=size)
