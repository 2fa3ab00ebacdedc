"""Saving a case over its own file (a trainee's TUI trial, 2026-12-02: Save rewrote the whole file, dropped its
comments and kept no previous version). Only what changed is written, the rest of the file kept as it was, and
the previous bytes go to ``.history/`` first; what cannot be merged exactly is written anew, never wrongly."""

from __future__ import annotations

import textwrap

import pytest

from ddx.entry import open_case
from ddx.loader import iter_cases, save_case
from ddx.yamlio import HISTORY_KEEP, keep_version

WRITTEN = textwrap.dedent(
    """\
    # Case 7 of the series; comments are the researcher's own
    id: s7   # the lab's number
    title: "45 yo man, deep thigh"
    patient: {age: 45 yo, sex: M}
    clinical:
      site: right thigh
    stains:
      ALK (D5F3): negative   # clone D5F3
      desmin: patchy +
    molecular:
      RANBP2::ALK: detected
    notes: >-
      A long note that ddx would wrap in its own way, kept on its lines exactly as
      the researcher wrote it.
    """
)


def _opened(tmp_path, knowledge, text=WRITTEN):
    path = tmp_path / "s7.yaml"
    path.write_text(text, encoding="utf-8")
    return path, open_case(path, knowledge, partial=True).entry


def test_a_save_in_place_changes_only_the_lines_that_changed_and_keeps_the_previous_version(tmp_path, knowledge):
    path, entry = _opened(tmp_path, knowledge)
    entry.set("stains.alk", "positive")
    entry.set("patient.age", 46)
    entry.set("molecular.ranbp2_alk_fusion", None)
    entry.set("stains.sma", "negative")
    saved = save_case(entry, path, in_place=True)
    assert saved.in_place and not entry.dirty
    after = path.read_text(encoding="utf-8").splitlines()
    before = WRITTEN.splitlines()
    assert after[:3] == before[:3]  # the comments, the id line and the quoted title as written
    assert "  ALK (D5F3): positive   # clone D5F3" in after and "  desmin: patchy +" in after
    assert "patient: {age: 46, sex: M}" in after and "  sma: negative" in after
    assert not any("RANBP2" in line or line == "molecular:" for line in after)
    assert after[-3:] == before[-3:]  # the note's own line breaks
    [case] = [c.case for c in iter_cases(path, knowledge)]
    assert case == entry.case  # the file reads as the case that was saved
    assert saved.kept is not None and saved.kept.read_text(encoding="utf-8") == WRITTEN
    assert saved.kept.parent == tmp_path / ".history" / "s7.yaml"


def test_a_file_that_cannot_be_merged_exactly_is_written_anew_and_kept(tmp_path, knowledge):
    """A refused value still in the file (the case opened without it) cannot be kept beside the saved case."""
    path, entry = _opened(tmp_path, knowledge, WRITTEN.replace("desmin: patchy +", "desmin: postive"))
    assert "desmin" not in entry.findings("stains")
    entry.set("stains.desmin", "negative")
    saved = save_case(entry, path, in_place=True)
    assert not saved.in_place and "# Case 7" not in path.read_text(encoding="utf-8")
    [case] = [c.case for c in iter_cases(path, knowledge)]
    assert case == entry.case
    assert saved.kept is not None and "desmin: postive" in saved.kept.read_text(encoding="utf-8")


def test_save_as_over_another_file_writes_the_case_whole_and_keeps_that_file(tmp_path, knowledge):
    path, entry = _opened(tmp_path, knowledge)
    other = tmp_path / "other.yaml"
    other.write_text("# another case\nid: other\n", encoding="utf-8")
    saved = save_case(entry, other)
    assert not saved.in_place and "another case" not in other.read_text(encoding="utf-8")
    assert saved.kept is not None and saved.kept.read_text(encoding="utf-8") == "# another case\nid: other\n"


def test_an_unchanged_save_keeps_no_copy_and_history_is_bounded(tmp_path, knowledge):
    path, entry = _opened(tmp_path, knowledge)
    assert save_case(entry, path, in_place=True).kept is None and path.read_text(encoding="utf-8") == WRITTEN
    for i in range(HISTORY_KEEP + 3):
        keep_version(path, f"id: v{i}\n".encode())
    kept = sorted((tmp_path / ".history" / "s7.yaml").iterdir())
    assert len(kept) == HISTORY_KEEP and kept[-1].read_text(encoding="utf-8") == f"id: v{HISTORY_KEEP + 2}\n"


def test_the_tui_saves_in_place_and_says_where_the_previous_version_is(tmp_path, knowledge):
    from textual.widgets import Input

    from tests.test_tui import drive, make_app, settle, type_text

    path = tmp_path / "s7.yaml"
    path.write_text(WRITTEN, encoding="utf-8")
    app = make_app(knowledge, path=path)
    said: list[str] = []
    app.notify = lambda message, **kw: said.append(str(message))  # type: ignore[method-assign]

    async def script(pilot):
        quick = app.query_one("#stains-entry", Input)
        quick.focus()
        await settle(app, pilot)
        await type_text(pilot, "sma negative")
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("ctrl+s")
        await settle(app, pilot)

    drive(app, script)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Case 7 of the series") and "  sma: negative" in text and "# clone D5F3" in text
    assert any(s.startswith(f"Saved {path}") and ".history" in s for s in said), said


def test_a_draft_offer_takes_no_press_at_first_and_asks_before_discarding(knowledge, tmp_path, monkeypatch):
    """Keys typed for the form as the offer appeared once discarded the draft (Tab, then Enter), unasked."""
    from ddx.autosave import DraftStore
    from ddx.tui.dialogs import ConfirmDraftDiscard, DraftOffer
    from tests.test_tui import drive, leave_a_draft, make_app, settle

    monkeypatch.setattr(DraftOffer, "ARMING", 60.0)  # the first moments last until the test says they are over
    leave_a_draft(knowledge, tmp_path)
    [left] = DraftStore(tmp_path).orphans()
    second = make_app(knowledge, drafts=DraftStore(tmp_path))

    async def offer(pilot):
        screen = second.screen
        assert isinstance(screen, DraftOffer) and not screen.armed
        await pilot.press("tab", "enter")  # typed as it appeared: taken by no button
        assert second.screen is screen and left.path.is_file()
        screen.armed = True  # the moment has passed
        await pilot.pause(0.3)  # a button takes no second press while it shows the first (Textual, 0.2 s)
        await pilot.press("enter")  # on Discard, which the Tab focused
        await settle(second, pilot)
        assert isinstance(second.screen, ConfirmDraftDiscard) and left.path.is_file()
        await pilot.press("enter")  # the default answer keeps it
        await settle(second, pilot)
        assert left.path.is_file()  # kept: offered again next time

    drive(second, offer)
    third = make_app(knowledge, drafts=DraftStore(tmp_path))

    async def discard(pilot):
        third.screen.armed = True
        await pilot.click("#discard")
        await settle(third, pilot)
        await pilot.click("#discard")
        await settle(third, pilot)
        assert not left.path.exists()

    drive(third, discard)


def test_a_stain_typed_again_says_which_result_it_replaced(knowledge):
    from textual.widgets import Input

    from tests.test_tui import drive, make_app, settle, type_text

    app = make_app(knowledge)
    said: list[str] = []
    app.notify = lambda message, **kw: said.append(str(message))  # type: ignore[method-assign]

    async def script(pilot):
        quick = app.query_one("#stains-entry", Input)
        quick.focus()
        for line in ("desmin patchy", "desmin diffuse strong"):
            await type_text(pilot, line)
            await pilot.press("enter")
            await settle(app, pilot)

    drive(app, script)
    assert app.entry.findings("stains")["desmin"] == {"result": "positive", "extent": "diffuse", "intensity": "strong"}
    assert any(s.startswith("Desmin was positive, ") and s.endswith("now positive, diffuse, strong.") for s in said), said


def test_save_with_the_id_cleared_says_an_id_is_required(knowledge):
    from textual.widgets import Input

    from tests.test_tui import drive, make_app, settle

    app = make_app(knowledge)
    said: list[str] = []
    app.notify = lambda message, **kw: said.append(str(message))  # type: ignore[method-assign]

    async def script(pilot):
        await pilot.press("f5")
        await settle(app, pilot)
        box = app.query_one("#f-id", Input)
        box.value = ""
        box.focus()
        await settle(app, pilot)
        await pilot.press("ctrl+s")
        await settle(app, pilot)

    drive(app, script)
    assert any(s.startswith("Not saved: ") and "is required; type one" in s for s in said), said


def test_a_value_refused_in_the_stain_editor_is_named_in_the_rankings_note(knowledge):
    from textual.widgets import Input

    from tests.test_tui import drive, make_app, settle, type_text

    app = make_app(knowledge)

    async def script(pilot):
        quick = app.query_one("#stains-entry", Input)
        quick.focus()
        await type_text(pilot, "desmin")
        await pilot.press("enter")  # a name alone: its result and percent in the editor below
        await settle(app, pilot)
        box = app.query_one("#stains-percent", Input)
        box.value = "patchy +"
        box.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        held = app.differential.held_back_text
        assert "patchy +" in held and held.startswith("Stains: ") and "a value refused" not in held, held

    drive(app, script)


def test_a_deleted_key_keeps_the_comment_below_it_and_the_files_indentation_and_line_endings(tmp_path, knowledge):
    text = (
        "id: c1\r\nmorphology:\r\n    cell_types:\r\n        - spindle\r\n        - epithelioid\r\nstains:\r\n"
        "    desmin: positive   # strong\r\n    # ALK: done at the referring hospital, clone 5A4\r\n"
        "    alk: negative\r\n    sma: positive\r\n"
    )
    path, entry = _opened(tmp_path, knowledge, text)
    path.write_bytes(text.encode())  # as written, with its CRLF line ends
    entry.set("stains.desmin", None)
    entry.set("stains.sma", "negative")
    saved = save_case(entry, path, in_place=True)
    after = path.read_bytes().decode()
    assert saved.in_place and "\r\n" in after and "\n" not in after.replace("\r\n", "")
    lines = after.split("\r\n")
    assert "    # ALK: done at the referring hospital, clone 5A4" in lines and "    alk: negative" in lines
    assert "        - spindle" in lines and "    sma: negative" in lines and not any("desmin" in x for x in lines)


def test_a_merge_that_would_lose_a_comment_line_writes_anew(tmp_path, knowledge):
    """A comment ruamel files under the mapping's last key goes with it when that key is deleted: not merged."""
    path, entry = _opened(tmp_path, knowledge, "id: c2\nstains:\n  alk: negative\n  desmin: positive\n  # note on desmin\n")
    entry.set("stains.desmin", None)
    saved = save_case(entry, path, in_place=True)
    assert not saved.in_place and saved.kept is not None and "# note on desmin" in saved.kept.read_text(encoding="utf-8")


def test_every_case_file_takes_a_one_stain_change_in_place_with_at_most_three_changed_lines(tmp_path, knowledge):
    import difflib
    import shutil

    from tests.conftest import CASES

    merged = 0
    for source in sorted(CASES.rglob("*.yaml")):
        copy = tmp_path / source.name
        shutil.copy(source, copy)
        opened = open_case(copy, knowledge, partial=True) if "cases:" not in source.read_text(encoding="utf-8") else None
        if opened is None or opened.path is None:
            continue
        entry = opened.entry
        entry.set("stains.pax8", None if "pax8" in entry.findings("stains") else "negative")  # a change either way
        assert entry.dirty
        saved = save_case(entry, copy, in_place=True)
        before, after = source.read_text(encoding="utf-8").splitlines(), copy.read_text(encoding="utf-8").splitlines()
        changed = [x for x in difflib.unified_diff(before, after, lineterm="", n=0) if x[:1] in "+-" and x[:3] not in ("+++", "---")]
        assert saved.in_place and len(changed) <= 3, (source.name, changed)
        merged += 1
    assert merged >= 100


@pytest.mark.parametrize(
    ("text", "in_place"),
    [
        # ruamel's indentation guess raised IndexError on a dashes-only line in a block scalar (a crash in the TUI)
        ("id: c1\nstains: {desmin: positive}\nnotes: |\n  IHC:\n  ----\n", True),
        # a document start and end, a byte-order mark: kept
        ("---\n# c\nid: c1\nstains:\n  desmin: positive\n...\n", True),
        ("\ufeffid: c1\nstains:\n  desmin: positive\n", True),
        # two indentations in one file: ruamel writes one, so the file is written anew rather than re-indented
        ("id: c1\nclinical:\n  site: thigh\nstains:\n    desmin: positive\n", False),
    ],
)
def test_odd_files_are_merged_exactly_or_written_anew_never_crash(tmp_path, knowledge, text, in_place):
    path = tmp_path / "c1.yaml"
    path.write_bytes(text.encode("utf-8"))
    entry = open_case(path, knowledge, partial=True).entry
    entry.set("stains.desmin", "negative")
    saved = save_case(entry, path, in_place=True)
    after = path.read_bytes().decode("utf-8")
    assert saved.in_place is in_place
    [case] = [c.case for c in iter_cases(path, knowledge)]
    assert case == entry.case
    if in_place:  # only the desmin line changed
        changed = [(a, b) for a, b in zip(text.splitlines(), after.splitlines()) if a != b]
        assert len(text.splitlines()) == len(after.splitlines()) and len(changed) == 1 and "desmin" in changed[0][1]


def test_an_end_of_line_comment_that_would_go_with_a_changed_list_makes_the_file_written_anew(tmp_path, knowledge):
    text = "id: c1\nmorphology:\n  cell_types:\n    - spindle  # mostly\n    - epithelioid  # focal\n"
    path, entry = _opened(tmp_path, knowledge, text)
    entry.set("morphology.cell_types", ["spindle"])
    saved = save_case(entry, path, in_place=True)
    assert not saved.in_place and saved.kept is not None and "# mostly" in saved.kept.read_text(encoding="utf-8")


def test_a_comment_inside_a_block_scalar_is_text_not_a_comment(tmp_path, knowledge):
    text = "id: c1\nstains:\n  desmin: positive\nnotes: |\n  # not a comment: the note's first line\n  more\n"
    path, entry = _opened(tmp_path, knowledge, text)
    entry.set("notes", "changed")
    saved = save_case(entry, path, in_place=True)
    after = path.read_text(encoding="utf-8")
    assert saved.in_place and "changed" in after and "not a comment" not in after
