"""The rule editor screen (F9), driven with Textual's Pilot as a user would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, OptionList, Select, Static, TextArea
from textual.widgets.text_area import Selection

from ddx.authoring.check import entity_effect
from ddx.authoring.diff import diff_rule_sets
from ddx.authoring.edit import history
from ddx.knowledge import load_knowledge
from ddx.tui.app import DdxApp
from ddx.tui.rules import DiscardEdit, HistoryScreen, RulesScreen
from tests.conftest import CASES


def make_app(rules_dir: Path) -> DdxApp:
    """The app on ``rules_dir``; the case tabs are left unbuilt (no test here opens them)."""
    return DdxApp(load_knowledge(rules_dir), offer_drafts=False, cases=[str(CASES)], prebuild_tabs=False)


async def wait_until(pilot: Any, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the screen")
        await pilot.pause(0.05)


def drive(app: DdxApp, script: Callable[[Any], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.run_test(size=(150, 45)) as pilot:
            await pilot.press("f9")
            await wait_until(pilot, lambda: isinstance(app.screen, RulesScreen) and app.screen.editing is not None)
            await script(pilot)

    asyncio.run(main())


def text_of(widget: Static) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


async def open_rule(pilot: Any, rule_id: str) -> RulesScreen:
    screen = pilot.app.screen
    await pilot.click("#rule-filter")
    await pilot.press(*rule_id)
    listing = screen.query_one("#rule-list", OptionList)
    ids = [str(listing.get_option_at_index(i).id) for i in range(listing.option_count)]
    listing.focus()
    listing.highlighted = ids.index(rule_id)
    await pilot.press("enter")
    await wait_until(pilot, lambda: screen.editing is not None and screen.editing.rule_id == rule_id)
    return screen


async def replace_in_editor(pilot: Any, screen: RulesScreen, old: str, new: str) -> None:
    """Select ``old`` in the editor and type ``new`` over it."""
    area = screen.query_one("#rule-text", TextArea)
    lines = area.text.splitlines()
    row = next(i for i, line in enumerate(lines) if old in line)
    col = lines[row].index(old)
    area.focus()
    area.selection = Selection((row, col), (row, col + len(old)))
    await pilot.press(*new)


async def press_escape(pilot: Any) -> None:
    """Escape leaves the rule editor, from the YAML editor too (its Tab moves the focus, so Escape is not
    needed to leave it)."""
    await pilot.press("escape")


@pytest.mark.slow  # a long editing session; pytest -m slow
def test_edit_a_weight_preview_save_reopen_and_restore(rules_copy):
    app = make_app(rules_copy)
    f = rules_copy / "rules" / "immunohistochemistry.yaml"
    original = f.read_text()
    comments = [line for line in original.splitlines() if line.strip().startswith("#") or " # " in line]
    old_hash = app.knowledge.content_hash

    async def script(pilot):
        screen = await open_rule(pilot, "ihc.alk")
        await replace_in_editor(pilot, screen, 'imt: {n: "8/8"', 'imt: {n: "4/8"')  # a count edit
        await wait_until(pilot, lambda: screen.impact is not None)
        assert "✓ valid" in text_of(screen.query_one("#rule-status", Static))
        # the preview lists exactly the cases a diff of the two rule sets finds
        table = screen.query_one("#impact", DataTable)
        shown = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert shown and f.read_text() == original  # nothing written before Ctrl+S
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.knowledge.content_hash != old_hash)
        saved = f.read_text()
        assert 'imt: {n: "4/8"' in saved
        assert all(c in saved for c in comments)  # every comment survives
        assert len(saved.splitlines()) == len(original.splitlines())
        expected = {c.case_id for c in diff_rule_sets(load_knowledge(), load_knowledge(rules_copy), [str(CASES)]).cases}
        assert shown == expected
        # the case behind the editor re-ranks with the saved rules
        assert app.differential.knowledge.content_hash == app.knowledge.content_hash
        # reopen: leave the editor, come back, open the rule again
        await press_escape(pilot)
        await wait_until(pilot, lambda: not isinstance(app.screen, RulesScreen))
        await pilot.press("f9")
        await wait_until(pilot, lambda: isinstance(app.screen, RulesScreen) and app.screen.editing is not None)
        screen = await open_rule(pilot, "ihc.alk")
        assert 'imt: {n: "4/8"' in screen.query_one("#rule-text", TextArea).text
        # the previous version is restorable
        [version] = history(f)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, HistoryScreen))
        app.screen.query_one("#history-list", OptionList).highlighted = 0
        app.screen.query_one("#history-list", OptionList).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: f.read_text() == original)
        assert version.path.read_text() == original
        assert len(history(f)) == 2
        await wait_until(pilot, lambda: app.knowledge.content_hash == old_hash)

    drive(app, script)


@pytest.mark.slow  # a long editing session; pytest -m slow
def test_an_unknown_stain_is_shown_at_its_line_and_cannot_be_saved(rules_copy):
    app = make_app(rules_copy)
    f = rules_copy / "rules" / "immunohistochemistry.yaml"
    original = f.read_text()

    async def script(pilot):
        screen = await open_rule(pilot, "ihc.alk")
        await replace_in_editor(pilot, screen, "when: {stains.alk:", "when: {stains.alkk:")
        await wait_until(
            pilot,
            lambda: (
                screen.check is not None
                and not screen.check.ok
                and "Checking" not in text_of(screen.query_one("#rule-status", Static))
            ),
        )
        status = text_of(screen.query_one("#rule-status", Static))
        area = screen.query_one("#rule-text", TextArea)
        when_line = next(i for i, line in enumerate(area.text.splitlines(), 1) if "stains.alkk" in line)
        assert f"line {when_line}:" in status and "alkk" in status and "alk" in status
        assert area.has_class("-invalid")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert f.read_text() == original and not history(f)
        area.cursor_location = (0, 0)
        await pilot.press("ctrl+g")
        assert area.cursor_location[0] == when_line - 1

    drive(app, script)


@pytest.mark.slow  # a long editing session; pytest -m slow
def test_a_file_changed_on_disk_is_not_overwritten(rules_copy):
    app = make_app(rules_copy)
    f = rules_copy / "rules" / "immunohistochemistry.yaml"

    async def script(pilot):
        screen = await open_rule(pilot, "ihc.alk")
        f.write_text(f.read_text() + "# edited elsewhere\n")
        await replace_in_editor(pilot, screen, 'imt: {n: "8/8"', 'imt: {n: "7/8"')
        await pilot.press("ctrl+s")
        await pilot.pause()
        text = f.read_text()
        assert text.endswith("# edited elsewhere\n") and 'imt: {n: "7/8"' not in text
        assert screen.dirty  # the edit is still in the editor

    drive(app, script)


@pytest.mark.slow  # a long editing session; pytest -m slow
def test_a_new_rule_from_the_template_is_saved_as_a_draft(rules_copy):
    app = make_app(rules_copy)

    async def script(pilot):
        screen = app.screen
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: screen.editing is not None and screen.editing.rule_id is None)
        await wait_until(pilot, lambda: screen.check is not None)
        assert not screen.check.ok  # the template has no source yet
        await pilot.press("ctrl+s")
        await pilot.pause()
        file = screen.editing.file
        assert "new.rule-1" not in file.read_text()
        await replace_in_editor(pilot, screen, 'source: ""', 'source: "Test J 2026;1:1"')
        await wait_until(pilot, lambda: screen.check is not None and screen.check.ok)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "new.rule-1" in app.knowledge.rule)
        assert app.knowledge.rule["new.rule-1"].spec.status == "draft"
        assert "- id: new.rule-1" in file.read_text()
        assert screen.editing.rule_id == "new.rule-1"

    drive(app, script)


def test_rules_are_filtered_by_entity_and_by_text(rules_copy):
    app = make_app(rules_copy)

    async def script(pilot):
        screen = app.screen
        listing = screen.query_one("#rule-list", OptionList)
        everything = listing.option_count
        screen.query_one("#entity-filter", Select).value = "alkh"
        await pilot.pause()
        ids = [str(listing.get_option_at_index(i).id) for i in range(listing.option_count)]
        assert {"ihc.alk", "mol.alk-fusion"} <= set(ids) and "clin.sex.male" not in ids and len(ids) < everything
        effects = [abs(entity_effect(app.knowledge.rule[i], app.knowledge, "alkh") or 0) for i in ids]
        assert effects == sorted(effects, reverse=True) and min(effects) >= 0.3  # strongest first
        screen.query_one("#rule-filter", Input).value = "alk"
        await pilot.pause()
        ids = {str(listing.get_option_at_index(i).id) for i in range(listing.option_count)}
        assert ids and all("alk" in i or "ALK" in app.knowledge.rule[i].spec.title for i in ids)

    drive(app, script)


def test_leaving_with_an_unsaved_edit_asks_first(rules_copy):
    app = make_app(rules_copy)

    async def script(pilot):
        screen = await open_rule(pilot, "ihc.alk")
        await replace_in_editor(pilot, screen, 'imt: {n: "8/8"', 'imt: {n: "7/8"')
        await press_escape(pilot)
        await wait_until(pilot, lambda: isinstance(app.screen, DiscardEdit))
        await pilot.click("#cancel")
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.dirty
        await pilot.press("f4")  # revert
        await pilot.pause()
        assert not screen.dirty
        await press_escape(pilot)
        await wait_until(pilot, lambda: not isinstance(app.screen, RulesScreen))

    drive(app, script)


def test_the_installed_rules_say_read_only_when_the_editor_opens(tmp_path):
    import shutil

    from ddx.knowledge import packaged_rules_dir

    installed = tmp_path / "site-packages" / "ddx" / "_rules"  # where a wheel puts them
    shutil.copytree(packaged_rules_dir(), installed)
    app = make_app(installed)
    f = installed / "rules" / "immunohistochemistry.yaml"
    original = f.read_text()

    async def script(pilot):
        screen = app.screen
        status = text_of(screen.query_one("#rule-status", Static))
        assert status.startswith("Read-only:") and "ddx rules init" in status and "Ctrl+S" not in status
        assert "read-only" in screen.title
        screen = await open_rule(pilot, "ihc.alk")
        await replace_in_editor(pilot, screen, 'imt: {n: "8/8"', 'imt: {n: "7/8"')
        await wait_until(pilot, lambda: screen.check is not None)
        status = text_of(screen.query_one("#rule-status", Static))
        assert screen.check.ok and "✓ valid" in status and "read-only here: not saved" in status
        assert "Ctrl+S saves" not in status
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert f.read_text() == original and screen.dirty

    drive(app, script)


@pytest.mark.slow  # a long editing session; pytest -m slow
def test_tab_leaves_the_yaml_editor_enter_keeps_the_indent_and_ctrl_f_goes_to_the_filter(rules_copy):
    app = make_app(rules_copy)

    async def script(pilot):
        screen = await open_rule(pilot, "ihc.alk")
        area = screen.query_one("#rule-text", TextArea)
        area.focus()
        lines = area.text.splitlines()
        row = next(i for i, line in enumerate(lines) if line.strip().startswith("title:"))
        area.cursor_location = (row, len(lines[row]))
        before = area.text
        await pilot.press("tab")
        assert not area.has_focus and area.text == before  # no indent typed: the focus moved on
        area.focus()
        area.cursor_location = (row, len(lines[row]))
        await pilot.press("enter")
        new_line = area.text.splitlines()[row + 1]
        indent = lines[row][: len(lines[row]) - len(lines[row].lstrip())]
        assert new_line == indent and indent  # the new line is indented like the last
        await pilot.press("ctrl+f")
        assert screen.query_one("#rule-filter", Input).has_focus

    drive(app, script)


@pytest.mark.slow  # a long editing session; pytest -m slow
def test_a_new_edit_clears_the_last_check_and_an_older_check_is_never_shown(rules_copy):
    """The cause of a flaky test: a check of an earlier text, shown after the editor had changed."""
    app = make_app(rules_copy)

    async def script(pilot):
        screen = await open_rule(pilot, "ihc.alk")
        await replace_in_editor(pilot, screen, "when: {stains.alk:", "when: {stains.alkk:")
        await wait_until(pilot, lambda: screen.check is not None)
        stale = screen.check
        assert not stale.ok and "alkk" in text_of(screen.query_one("#rule-status", Static))
        area = screen.query_one("#rule-text", TextArea)
        area.insert("#", (0, 0))  # the text changes; its Changed message is not handled yet
        assert screen.check is None  # the last check is of another text
        screen._show_check(screen._seq, stale)  # a check of the older text arrives in that moment
        assert screen.check is None and "alkk" in text_of(screen.query_one("#rule-status", Static))
        await pilot.pause()  # the edit is handled: the status says it is being checked
        assert text_of(screen.query_one("#rule-status", Static)) == "Checking…"
        await wait_until(pilot, lambda: screen.check is not None)
        assert screen.check.edited == area.text

    drive(app, script)


def test_a_long_rule_id_breaks_only_after_a_dot_or_hyphen():
    from ddx.tui.rules import wrap_id

    assert wrap_id("clin.depth.superficial", 21) == "clin.depth.\nsuperficial"  # was cut 'superficia' / 'l' at 80x24
    assert wrap_id("ihc.desmin", 21) == "ihc.desmin"
    lines = wrap_id("pitfall.eims-desmin-alk-nuclear-membrane", 21).split("\n")
    assert "".join(lines) == "pitfall.eims-desmin-alk-nuclear-membrane" and all(len(line) <= 21 for line in lines)
    assert wrap_id("averyveryverylongpart.x", 5) == "averyveryverylongpart.\nx"  # a part longer than the room is left whole
