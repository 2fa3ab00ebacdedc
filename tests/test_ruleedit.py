"""Editing one rule in its file: splicing keeps every other byte; saving keeps history."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ddx.authoring.edit import (
    ChangedOnDisk,
    EditError,
    append_rule,
    block_text,
    check_edit,
    find_block,
    history,
    new_rule_text,
    read_file,
    read_only_reason,
    replace_rule,
    restore,
    rule_blocks,
    save_file,
)
from ddx.errors import DdxError
from ddx.knowledge import load_knowledge
from tests.conftest import REPO


@pytest.mark.parametrize("every", [4, pytest.param(1, marks=pytest.mark.slow)])
def test_every_rule_round_trips_byte_for_byte(knowledge, every):
    """Each rule block spliced back into its file gives the file back (every 4th rule by default; all of them
    with pytest -m slow); every file's blocks are found, in order."""
    files = sorted({Path(r.file) for r in knowledge.rules})
    for f in files:
        text = f.read_text()
        blocks = rule_blocks(text)
        assert [b.rule_id for b in blocks] == list(dict.fromkeys(r.spec.id for r in knowledge.rules if Path(r.file) == f))
        for b in blocks[::every]:
            assert replace_rule(text, b.rule_id, block_text(text, b))[0] == text


def test_comment_lines_above_a_rule_travel_with_it(knowledge):
    f = Path(knowledge.rule["ihc.myod1"].file)
    text = f.read_text()
    block = block_text(text, find_block(text, "ihc.myod1"))
    assert block.startswith("  - id: ihc.myod1\n")  # as in the file, indentation included
    assert "# Desmin-positive cases are scored by ihc.myod1.with-desmin" in block  # a comment inside the rule
    header = text.splitlines()[0]
    assert header.startswith("#") and header not in block  # the file header stays put


def test_a_weight_edit_changes_that_line_only(knowledge):
    f = Path(knowledge.rule["ihc.alk"].file)
    text = f.read_text()
    block = block_text(text, find_block(text, "ihc.alk"))
    edited = block.replace("ilms: {p: ~0.02,", "ilms: {p: ~0.3,")
    new, _ = replace_rule(text, "ihc.alk", edited)
    old_lines, new_lines = text.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b]
    assert len(changed) == 1 and "ilms: {p: ~0.3," in new_lines[changed[0]]


@pytest.mark.parametrize(
    "edited, words",
    [
        ("- id: a\n  title: x: y\n  status: active\n", "line 2"),
        ("id: not-a-list-item\n", "exactly one rule"),
        ("- id: a\n- id: b\n", "exactly one rule"),
    ],
)
def test_an_edit_that_is_not_one_rule_is_refused(knowledge, edited, words):
    f = Path(knowledge.rule["ihc.alk"].file)
    with pytest.raises(EditError, match=words):
        replace_rule(f.read_text(), "ihc.alk", edited)


def test_append_rule_adds_after_the_last_rule(knowledge, rules_copy):
    f = rules_copy / "rules" / "pitfalls.yaml"
    text = f.read_text()
    new, start = append_rule(text, new_rule_text("new.rule-1", knowledge.entity_slugs))
    assert new.startswith(text.rstrip("\n"))
    assert [b.rule_id for b in rule_blocks(new)][-1] == "new.rule-1"
    assert new.splitlines()[start].startswith("  # A new rule")


def test_the_template_is_refused_until_it_has_a_source(knowledge, rules_copy):
    f = rules_copy / "rules" / "pitfalls.yaml"
    text = f.read_text()
    template = new_rule_text("new.rule-1", knowledge.entity_slugs)
    first = check_edit(rules_copy, f, text, template, None)
    assert not first.ok and any("source" in str(m) for m in first.report.errors)
    line = next(first.editor_line(m.problem) for m in first.report.errors)
    assert template.splitlines()[line - 1].lstrip().startswith("source:")  # the error is at its editor line
    done = check_edit(rules_copy, f, text, template.replace('source: ""', 'source: "Test J 2026;1:1"'), None)
    assert done.ok, [str(m) for m in done.report.errors]


def test_check_edit_maps_an_unknown_term_to_its_editor_line(rules_copy):
    f = rules_copy / "rules" / "immunohistochemistry.yaml"
    text = f.read_text()
    block = block_text(text, find_block(text, "ihc.alk"))
    result = check_edit(rules_copy, f, text, block.replace("when: {stains.alk:", "when: {stains.alkk:"), "ihc.alk")
    assert not result.ok
    [err] = result.report.errors
    line = result.editor_line(err.problem)
    assert line is not None and "stains.alkk" in block.replace("stains.alk:", "stains.alkk:", 1).splitlines()[line - 1]
    assert f.read_text() == text  # checking never writes


def test_save_keeps_the_previous_version_and_restores_it(rules_copy):
    f = rules_copy / "rules" / "pitfalls.yaml"
    original, sha = read_file(f)
    kept = save_file(f, original + "\n# edited\n", sha)
    assert kept is not None and kept.path.read_text() == original
    assert f.read_text().endswith("# edited\n")
    assert [v.path for v in history(f)] == [kept.path]
    _, sha2 = read_file(f)
    restore(f, kept, sha2)
    assert f.read_text() == original
    assert len(history(f)) == 2  # the edited version was kept too
    assert not list((rules_copy / "rules").glob(".*.tmp"))
    assert load_knowledge(rules_copy).content_hash == load_knowledge().content_hash  # .history is not a rule file


def test_save_refuses_a_file_changed_on_disk(rules_copy):
    f = rules_copy / "rules" / "pitfalls.yaml"
    original, sha = read_file(f)
    f.write_text(original + "# someone else\n")
    with pytest.raises(ChangedOnDisk, match="changed on disk"):
        save_file(f, original + "# mine\n", sha)
    assert f.read_text().endswith("# someone else\n") and not history(f)


def test_a_failed_write_leaves_the_file_as_it_was(rules_copy, monkeypatch):
    f = rules_copy / "rules" / "pitfalls.yaml"
    original, sha = read_file(f)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        save_file(f, "rules: []\n", sha)
    assert f.read_text() == original
    assert not list((rules_copy / "rules").glob(".*.tmp"))


def test_installed_rules_are_not_edited_in_place(tmp_path):
    installed = tmp_path / "site-packages" / "ddx" / "_rules"
    (installed / "rules").mkdir(parents=True)
    assert "ddx rules init" in (read_only_reason(installed) or "")
    mine = tmp_path / "mine"
    (mine / "rules").mkdir(parents=True)
    assert read_only_reason(mine) is None


def test_find_block_names_a_missing_rule(knowledge):
    with pytest.raises(DdxError, match="not in this file"):
        find_block(Path(knowledge.rule["ihc.alk"].file).read_text(), "no.such.rule")


def test_a_file_with_windows_line_endings_keeps_them(knowledge):
    text = Path(knowledge.rule["ihc.alk"].file).read_text().replace("\n", "\r\n")
    block = block_text(text, find_block(text, "ihc.alk"))
    new, _ = replace_rule(text, "ihc.alk", block.replace("imt: {p: 0.6,", "imt: {p: 0.3,"))
    assert new.count("\r\n") == text.count("\r\n") and "\n" not in new.replace("\r\n", "")
    assert new.replace("imt: {p: 0.3,", "imt: {p: 0.6,") == text


TWO_RULES = """\
# header
rules:
  # ---- first section ----
  - id: a
    title: A
    # a note inside a
    status: active

# ---- second section ----
  - id: b
    title: B
#    status: draft
    status: active
# end of file"""


def test_section_comments_left_of_the_rules_belong_to_no_rule():
    blocks = {b.rule_id: b for b in rule_blocks(TWO_RULES)}
    a = block_text(TWO_RULES, blocks["a"])
    b = block_text(TWO_RULES, blocks["b"])
    # a comment directly above a rule, at its dash, is the rule's; one further left is nobody's
    assert a == "  # ---- first section ----\n  - id: a\n    title: A\n    # a note inside a\n    status: active\n"
    assert b.startswith("  - id: b") and "#    status: draft" in b and "end of file" not in b
    assert "second section" not in a + b
    for rid, text in (("a", a), ("b", b)):
        assert replace_rule(TWO_RULES, rid, text)[0] == TWO_RULES + "\n"


def test_a_file_without_a_final_newline_keeps_its_last_line_in_its_rule():
    text = "rules:\n  - id: a\n    title: A\n  - id: b\n    status: active\n    title: B"
    block = block_text(text, find_block(text, "b"))
    assert block.endswith("title: B\n")
    new, _ = replace_rule(text, "b", block.replace("title: B", "title: Changed"))
    assert new.endswith("title: Changed\n") and "title: B" not in new
    appended, _ = append_rule(text, "- id: c\n  title: C\n")
    assert "    title: B\n\n  - id: c\n    title: C\n" in appended


def test_a_rule_pasted_at_another_indentation_is_moved_to_the_files():
    text = "rules:\n  - id: a\n    title: A\n"
    new, _ = replace_rule(text, "a", "- id: a\n  title: Z\n")
    assert new == "rules:\n  - id: a\n    title: Z\n"


def test_flow_style_rule_lists_are_refused_clearly():
    with pytest.raises(EditError, match="flow list"):
        rule_blocks("rules: [{id: a, title: A}]\n")


def test_a_file_rewritten_in_another_encoding_is_not_overwritten(rules_copy):
    f = rules_copy / "rules" / "pitfalls.yaml"
    original, sha = read_file(f)
    f.write_bytes((original + "# Müller\n").encode("latin-1"))
    with pytest.raises(DdxError, match="changed on disk"):
        save_file(f, original + "# mine\n", sha)
    assert f.read_bytes().endswith("# M\xfcller\n".encode("latin-1")) and not history(f)


def test_an_unreadable_rule_file_is_a_user_error():
    from ddx.yamlio import ReadError

    assert issubclass(ReadError, DdxError)


@pytest.mark.parametrize(
    "text",
    [
        "rules",
        TWO_RULES,
        "rules:\n  - id: a\n    title: A\n  - id: b\n    title: B",
        "rules:\r\n  - id: a\r\n",
        "rules:\n- id: a\n  title: A\n- id: b\n  title: B\nother: 1\n",
    ],
    ids=["packaged", "section-comments", "no-final-newline", "crlf", "indentless-then-a-key"],
)
def test_libyaml_and_the_python_parser_find_the_same_blocks(monkeypatch, text):
    """Blocks are found with libyaml's parser (about ten times faster on a rule file); its line marks are the
    pure-Python parser's on every packaged rule file and on the odd layouts above."""
    import yaml

    from ddx.authoring import edit

    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml: there is only the one parser")
    texts = [p.read_text(encoding="utf-8") for p in sorted((REPO / "rules" / "rules").glob("*.yaml"))] if text == "rules" else [text]
    for t in texts:
        fast = rule_blocks(t)
        monkeypatch.setattr(edit, "SAFE_LOADER", yaml.SafeLoader)
        assert rule_blocks(t) == fast and fast
        monkeypatch.undo()
