"""Case entry (the model behind the TUI), case files written back, drafts, completion."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ddx.autosave import DraftStore
from ddx.entry import CaseEntry, InvalidEntry, case_to_data, open_case, parse_finding
from ddx.errors import DdxError
from ddx.loader import expand_paths, iter_cases, save_case
from tests.conftest import CASES, SEED


@pytest.mark.parametrize(
    "text, section, name, fields",
    [
        ("alk positive cytoplasmic", "stains", "alk", {"result": "positive", "pattern": "cytoplasmic"}),
        (
            "ALK1 diffuse strong nuclear membrane",
            "stains",
            "alk",
            {"result": "positive", "extent": "diffuse", "intensity": "strong", "pattern": "nuclear_membrane"},
        ),
        ("pan-keratin neg", "stains", "keratin", {"result": "negative"}),
        ("smooth muscle actin focal", "stains", "sma", {"result": "positive", "extent": "focal"}),
        ("ki67 30%", "stains", "ki67", {"result": "positive", "percent": 30}),
        ("ki67 0", "stains", "ki67", {"result": "negative", "percent": 0}),
        ("nf1 detected", "molecular", "nf1_alteration", {"result": "present"}),
        ("alk rearrangement not detected", "molecular", "alk_rearrangement", {"result": "absent"}),
        ("near haploid present", "molecular", "near_haploidization", {"result": "present"}),
    ],
)
def test_quick_entry_reads_names_synonyms_and_results(knowledge, text, section, name, fields):
    found = parse_finding(text, section, knowledge.vocab)
    assert (found.name, found.fields, found.not_done) == (name, fields, False)


@pytest.mark.parametrize("word", ["pending", "insufficient", "Not done.", "n/a"])
def test_the_entry_line_reads_the_vocabularys_not_done_words_as_a_file_does(knowledge, word):
    """The entry line once kept its own short list of these words in Python: 'desmin pending', dropped from a
    file as not done, was refused when typed."""
    from tests.conftest import validate

    assert parse_finding(f"desmin {word}", "stains", knowledge.vocab).not_done
    assert "desmin" not in validate(knowledge, {"id": "t", "stains": {"desmin": word}}).stains


def test_quick_entry_not_done_and_name_alone(knowledge):
    assert parse_finding("sma not done", "stains", knowledge.vocab).not_done
    alone = parse_finding("myod", "stains", knowledge.vocab)
    assert alone.name == "myod1" and not alone.complete


@pytest.mark.parametrize(
    "text, section, words, suggestion",
    [
        ("desmni positive", "stains", "unknown stain 'desmni'", "desmin"),
        ("alk posative", "stains", "'posative' is not a result", "positive"),
        ("alk positive dot", "stains", "'dot' is not a result", "dot_like"),
        ("nf1 maybe", "molecular", "'maybe' is not a result", "present"),
    ],
)
def test_quick_entry_refuses_with_the_nearest_terms(knowledge, text, section, words, suggestion):
    with pytest.raises(InvalidEntry) as caught:
        parse_finding(text, section, knowledge.vocab)
    assert words in caught.value.problem.message
    assert suggestion in caught.value.suggestions


def test_a_refused_change_leaves_the_case_unchanged(knowledge):
    entry = open_case(SEED, knowledge).entry
    before = entry.data
    for path, value, where in [
        ("patient.age", "abc", "patient.age"),
        ("patient.age", 400, "patient.age"),
        ("clinical.site", "thig", "clinical.site"),
        ("stains.desmin", {"result": "positive", "pattern": "nuclear_membrane"}, "stains"),
        ("morphology.cell_types", ["spindel"], "morphology.cell_types"),
        ("expected", "ilmx", "expected"),
        ("id", "has space", "id"),
    ]:
        with pytest.raises(InvalidEntry) as caught:
            entry.set(path, value)
        assert caught.value.problem.path.startswith(where), (path, caught.value.problem)
        assert entry.data == before and not entry.dirty
    assert "thigh" in pytest.raises(InvalidEntry, entry.set, "clinical.site", "thig").value.suggestions


def test_changes_are_canonical_tracked_and_removable(knowledge):
    entry = CaseEntry(knowledge)
    assert not entry.dirty
    assert entry.set("stains.MyoD1", "diffuse") is True
    assert entry.get("stains") == {"myod1": "diffuse"}  # synonym key, shorthand kept
    assert entry.set("stains.myod1", {"result": "positive", "extent": "diffuse"}) is False  # same finding
    assert entry.dirty
    entry.set("patient.age", "35")
    assert entry.get("patient.age") == 35
    entry.mark_saved()
    entry.set("stains.myod1", None)  # not done: removed, not negative
    assert entry.get("stains") is None and entry.dirty
    entry.apply(parse_finding("desmin negative", "stains", knowledge.vocab))
    assert entry.findings("stains") == {"desmin": {"result": "negative"}}


def test_every_sample_case_round_trips_through_save(knowledge, tmp_path):
    count = 0
    for path in expand_paths([str(CASES)]):
        for loaded in iter_cases(path, knowledge):
            assert loaded.ok, loaded.problems
            entry = CaseEntry(knowledge, case_to_data(loaded.case, knowledge.vocab))
            out = save_case(entry, tmp_path / f"{loaded.id}.yaml").path
            again = open_case(out, knowledge)
            assert again.entry.case == loaded.case
            assert again.path == out
            count += 1
    assert count >= 40


def test_save_refuses_other_formats_and_open_names_the_problem(knowledge, tmp_path):
    entry = CaseEntry(knowledge)
    with pytest.raises(DdxError, match="yaml"):
        save_case(entry, tmp_path / "case.json")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nstains: {desmni: positive}\n")
    with pytest.raises(DdxError, match="desmni.*desmin"):
        open_case(bad, knowledge)
    several = tmp_path / "several.yaml"
    several.write_text("cases:\n  - {id: a}\n  - {id: b}\n")
    with pytest.raises(DdxError, match="2 cases.*--case"):
        open_case(several, knowledge)
    chosen = open_case(several, knowledge, "b")
    assert chosen.entry.case_id == "b" and chosen.path is None  # Save must not clobber the others


def test_save_is_atomic_and_keeps_the_old_file_on_failure(knowledge, tmp_path, monkeypatch):
    entry = open_case(SEED, knowledge).entry
    target = tmp_path / "case.yaml"
    save_case(entry, target)
    old = target.read_text()
    entry.set("stains.alk", "positive")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ddx.yamlio.os.replace", boom)
    with pytest.raises(OSError):
        save_case(entry, target)
    assert target.read_text() == old
    assert entry.dirty
    assert [p.name for p in tmp_path.iterdir() if p.name != ".history"] == ["case.yaml"]
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "case.yaml"]  # no copy half kept


def test_completion_offers_terms_and_synonyms(knowledge):
    stains = knowledge.vocab.stains
    assert stains.complete("my")[:2] == [("myod1", None), ("myogenin", None)]
    assert ("keratin", "pan_keratin") in stains.complete("pan")
    assert stains.complete("ck")[0] == ("keratin", "ck")
    assert knowledge.vocab.sites.complete("thi")[0] == ("thigh", None)


def test_drafts_are_offered_back_only_when_their_editor_is_gone(tmp_path):
    mine = DraftStore(tmp_path)
    mine.save({"id": "x", "stains": {"alk": "positive"}}, origin=None)
    other = DraftStore(tmp_path)
    other.path = other.directory / "draft-other.yaml"
    found = other.orphans()
    assert [d.case for d in found] == [{"id": "x", "stains": {"alk": "positive"}}]
    assert "a new case" in found[0].describe()
    # a draft whose editor is still running is not an orphan
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        from ddx.autosave import _alive

        deadline = time.monotonic() + 10
        while not _alive(alive.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        text = mine.path.read_text().replace(f"pid: {mine.pid}", f"pid: {alive.pid}")
        mine.path.write_text(text)
        assert other.orphans() == []
    finally:
        alive.kill()
        alive.wait()
    assert len(other.orphans()) == 1
    other.discard(found[0].path)
    assert other.orphans() == []
    (tmp_path / "drafts" / "draft-junk.yaml").write_text("{{{")
    assert other.orphans() == []


def test_a_killed_editor_not_yet_reaped_counts_as_gone(tmp_path):
    """A zombie (kill -9, parent not yet waited) must not hide its draft."""
    from ddx.autosave import _alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while not _alive(child.pid) and time.monotonic() < deadline:  # until its exec has happened
            time.sleep(0.05)
        assert _alive(child.pid)
        child.kill()
        deadline = time.monotonic() + 10
        while _alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child.pid)  # still a zombie: not reaped yet
        assert Path(f"/proc/{child.pid}").exists() or sys.platform != "linux"
    finally:
        child.wait()


@pytest.mark.parametrize(
    "text, fields",
    [
        ("sma negative focal", {"result": "negative", "extent": "focal"}),
        ("desmin equivocal focal", {"result": "equivocal", "extent": "focal"}),
        ("ki-67 15 %", {"result": "positive", "percent": 15}),
        ("ALK (D5F3) positive", {"result": "positive"}),
    ],
)
def test_quick_entry_keeps_a_given_result(knowledge, text, fields):
    assert parse_finding(text, "stains", knowledge.vocab).fields == fields


@pytest.mark.parametrize("text", ["desmin positive negative", "desmin positive not done"])
def test_quick_entry_refuses_contradictions(knowledge, text):
    with pytest.raises(InvalidEntry):
        parse_finding(text, "stains", knowledge.vocab)


def test_a_json_case_opens_but_saves_only_to_a_new_yaml_file(knowledge, tmp_path):
    source = tmp_path / "case.json"
    source.write_text('{"id": "j1", "stains": {"desmin": "positive"}}')
    opened = open_case(source, knowledge)
    assert opened.path is None and "not YAML" in (opened.note or "")


def test_opening_an_id_two_cases_of_one_file_share_is_refused_naming_both(knowledge, tmp_path):
    """ddx tui FILE --case ID: never the first of two cases with one id, silently (one id, one case)."""
    path = tmp_path / "two.yaml"
    path.write_text(
        "cases:\n  - {id: same, patient: {age: 30}}\n  - {id: other, patient: {age: 40}}\n  - {id: same, patient: {age: 50}}\n",
        encoding="utf-8",
    )
    with pytest.raises(DdxError) as info:
        open_case(path, knowledge, "same")
    assert "2 cases have the id 'same'" in str(info.value) and "case 1" in str(info.value) and "case 3" in str(info.value)
    assert open_case(path, knowledge, "other").entry.case.patient.age == 40


def test_a_value_refused_twice_is_taken_out_once_with_the_value_as_written(knowledge):
    """'Ki67 (lab 2): 40%' is refused for its key and for its value: one refused item, holding '40%' (the
    second problem once took out the marker left by the first, which the TUI could not show)."""
    from ddx.entry import salvage_case

    case, refused = salvage_case({"id": "k", "stains": {"Ki67 (lab 2)": "40%", "desmin": "diffuse"}}, knowledge)
    assert [(r.path, r.value) for r in refused] == [("stains.Ki67 (lab 2)", "40%")]
    assert set(case.stains) == {"desmin"}


def test_a_case_with_a_key_given_twice_is_not_opened_with_one_of_its_values(knowledge, tmp_path):
    """The TUI opens a case with refused values left out; a key given twice is not such a value (which of the
    two was meant?): the file is refused, naming both lines, even beside a value it could leave out."""
    path = tmp_path / "twice.yaml"
    path.write_text("id: t\nstains:\n  sma: positive\n  ALK (D5F3): negative\n  sma: negative\n", encoding="utf-8")
    with pytest.raises(DdxError, match="key 'sma' is given on line 3 and line 5"):
        open_case(path, knowledge, partial=True)
