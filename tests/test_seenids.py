"""The duplicate-id register of ddx batch: exact answers in ~20 bytes a case."""

from __future__ import annotations

import random

from ddx.seenids import SeenIds


def test_a_repeated_id_names_where_it_was_first_seen_across_merges():
    seen = SeenIds()
    rng = random.Random(5)
    ids = [f"case-{i}" for i in range(60_000)]  # enough for many merges of the dict into the arrays
    for i, case_id in enumerate(ids):
        assert seen.first(case_id, f"part{i // 20_000}.csv", i % 20_000 + 2) is None
    assert len(seen) == len(ids)
    for i in rng.sample(range(len(ids)), 500):
        assert seen.first(ids[i], "later.csv", 7) == f"part{i // 20_000}.csv:{i % 20_000 + 2}"
    assert seen.first("case-60000", "later.csv", 8) is None  # new ids stay new
    assert seen.first("case-60000", "x.csv", 9) == "later.csv:8"


def test_sheets_files_without_lines_and_odd_ids_are_kept_exactly():
    seen = SeenIds()
    assert seen.first("Ünïcode id", "series.xlsx", 5, "Thigh") is None
    assert seen.first("42", "one.yaml") is None
    assert seen.first("bad\udcff", "raw.csv", 3) is None  # undecodable bytes, as a sheet may hold
    assert seen.first("Ünïcode id", "b.csv", 2) == "series.xlsx, sheet 'Thigh', row 5"
    assert seen.first("42", "b.csv", 3) == "one.yaml"
    assert seen.first("bad\udcff", "b.csv", 4) == "raw.csv:3"
    assert seen.first("ünïcode id", "b.csv", 5) is None  # ids are compared as written


def test_distinct_ids_are_never_taken_for_duplicates():
    seen = SeenIds()
    assert all(seen.first(f"{i:x}", "big.csv", i) is None for i in range(150_000))
