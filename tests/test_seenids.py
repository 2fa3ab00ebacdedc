"""The duplicate-id register of ddx batch: exact answers in ~16 bytes a case."""

from __future__ import annotations

import random

from ddx.seenids import SeenIds


def test_a_repeated_id_names_where_it_was_first_seen_across_merges(monkeypatch):
    import ddx.seenids as seenids

    monkeypatch.setattr(seenids, "_MIN_BUFFER", 1024)
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


def test_a_dict_of_ids_and_the_register_agree_through_many_merges(monkeypatch):
    """Every answer equals a plain dict's, with merges after every few ids (ranges empty, one id, many)."""
    import ddx.seenids as seenids

    monkeypatch.setattr(seenids, "_MIN_BUFFER", 3)
    rng = random.Random(11)
    seen, model = SeenIds(), {}
    for step in range(4_000):
        case_id = f"id{rng.randrange(1_500)}"
        file, line = f"f{step % 7}.csv", step + 2
        expected = model.get(case_id)
        assert seen.first(case_id, file, line) == expected, (step, case_id)
        model.setdefault(case_id, f"{file}:{line}")
    assert len(seen) == len(model)


def test_two_ids_whose_keys_agree_are_both_kept(monkeypatch):
    """Ids whose 64-bit keys agree but whose checks do not (here only in their top bit) are different ids,
    and each is found again, before a merge and after."""
    import ddx.seenids as seenids

    monkeypatch.setattr(seenids, "_digest", lambda case_id: (12345, {"a": 0x7FFF, "b": 0xFFFF, "c": 0x8001}[case_id]))
    seen = SeenIds()
    assert seen.first("a", "x.csv", 2) is None
    assert seen.first("b", "x.csv", 3) is None
    assert seen.first("a", "y.csv", 4) == "x.csv:2"
    assert seen.first("b", "y.csv", 5) == "x.csv:3"
    seen._merge()
    assert seen.first("c", "z.csv", 6) is None
    assert (seen.first("a", "y.csv", 7), seen.first("b", "y.csv", 8), seen.first("c", "y.csv", 9)) == (
        "x.csv:2",
        "x.csv:3",
        "z.csv:6",
    )


def test_places_past_sixteen_bits_are_kept_and_lines_past_32_bits_dropped(monkeypatch):
    """A run of more files than the packed place field holds keeps the later ones' places exactly; a line
    past the 32-bit field is reported without a line."""
    import ddx.seenids as seenids

    monkeypatch.setattr(seenids, "_MANY_PLACES", 4)  # as if the 16-bit field were full after 4 files
    monkeypatch.setattr(seenids, "_MIN_BUFFER", 2)
    seen = SeenIds()
    for i in range(10):
        assert seen.first(f"case-{i}", f"file{i}.yaml", None if i % 2 else i + 1) is None
    assert seen.first("huge", "big.csv", 2**32 + 5) is None
    for i in range(10):
        assert seen.first(f"case-{i}", "again.yaml") == (f"file{i}.yaml" if i % 2 else f"file{i}.yaml:{i + 1}")
    assert seen.first("huge", "again.yaml") == "big.csv"  # a line past the field is kept as no line


def test_a_batch_below_the_first_merge_holds_no_arrays():
    """Fewer ids than the dict holds before its first merge are answered from the dict (no numpy arrays made)."""
    import ddx.seenids as seenids

    seen = SeenIds()
    for i in range(seenids._MIN_BUFFER):
        assert seen.first(f"c{i}", "a.csv", i + 2) is None
    assert seen._keys == [] and seen.first("c7", "b.csv", 3) == "a.csv:9"
    seen.first("one more", "a.csv", 1)
    assert len(seen._keys) == 64 and sum(k.size for k in seen._keys) == seenids._MIN_BUFFER + 1


def test_the_place_field_holds_every_place_up_to_its_last_value():
    """With the real field, places around 2^15 and 2^16 (one file each) come back exact."""
    seen = SeenIds()
    for place in range(70_000):
        assert seen.first(f"case-{place}", f"f{place}.yaml", 3) is None
    for place in (0, 32_767, 32_768, 65_534, 65_535, 65_536, 69_999):
        assert seen.first(f"case-{place}", "again.yaml") == f"f{place}.yaml:3"
