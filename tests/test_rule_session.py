"""The rule editor's session without a screen (ddx/authoring/session.py): open, check, preview, save,
reload and restore, as the TUI's rule editor drives them (tests/test_tui_rules.py drives the screen)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

import ddx.authoring.session as session_module
from ddx.authoring.check import RELEVANT_EFFECT, entity_effect
from ddx.authoring.edit import ChangedOnDisk, EditError, Version, history
from ddx.authoring.regression import run_cases
from ddx.authoring.session import RuleEditSession, VersionHasErrors
from ddx.knowledge import load_knowledge, packaged_rules_dir
from tests.conftest import CASES

ALK_COUNT = 'imt: {n: "8/8"'


def edited(session: RuleEditSession, old: str, new: str) -> str:
    assert session.editing is not None
    block = session.editing.original_block
    assert block.count(old) == 1
    return block.replace(old, new)


@pytest.fixture
def session(rules_copy) -> RuleEditSession:
    return RuleEditSession(load_knowledge(rules_copy), [str(CASES)])


def test_open_cuts_the_rule_out_of_its_file(session):
    editing = session.open("ihc.alk")
    assert editing is session.editing and editing.rule_id == "ihc.alk"
    assert editing.file.name == "immunohistochemistry.yaml"
    assert editing.original_file == editing.file.read_text()
    assert editing.original_block.lstrip().startswith(("- id: ihc.alk", "#"))
    assert "- id: ihc.alk\n" in editing.original_block and editing.original_block in editing.original_file
    assert not session.dirty(editing.original_block) and session.dirty(editing.original_block + "# x\n")
    with pytest.raises(EditError, match="no rule 'ihc.alkk'"):
        session.open("ihc.alkk")
    assert session.editing is editing  # the rule open before stays open


def test_listing_by_text_and_by_entity(session):
    everything = session.listing()
    assert len(everything) == len({r.spec.id for r in session.knowledge.rules})
    assert all(effect == 0.0 for effect, _ in everything)
    by_text = [r.spec.id for _, r in session.listing("ALK ihc")]
    assert "ihc.alk" in by_text and all("alk" in f"{i} {session.knowledge.rule[i].spec.title}".lower() for i in by_text)
    rows = session.listing(entity="alkh")
    ids = [r.spec.id for _, r in rows]
    assert {"ihc.alk", "mol.alk-fusion"} <= set(ids) and "clin.sex.male" not in ids
    effects = [abs(effect) for effect, _ in rows]
    assert effects == sorted(effects, reverse=True) and min(effects) >= RELEVANT_EFFECT  # strongest first
    assert all(effect == entity_effect(r, session.knowledge, "alkh") for effect, r in rows)


def test_a_count_edit_is_valid_and_its_impact_is_old_rules_against_new(session):
    session.open("ihc.alk")
    result = session.check(edited(session, ALK_COUNT, 'imt: {n: "4/8"'))
    assert result.ok and result.report.knowledge is not None
    impact = session.impact(result)
    assert impact is not None
    # the direction: the saved rules before, the edited rules after
    assert impact.old["hash"] == session.knowledge.content_hash[:12]
    assert impact.new["hash"] == result.report.knowledge.content_hash[:12] != impact.old["hash"]
    assert [c.rule for c in impact.rules] == ["ihc.alk"] and impact.rules[0].fields == ("likelihood.imt",)
    assert impact.cases and impact.compared == len([r for r in session.baseline().results if r.ok])
    assert all("ihc.alk" in c.responsible for c in impact.cases)
    # the changed cases are ranked as the edited rules alone rank them
    fresh = run_cases(result.report.knowledge, [str(CASES)]).by_key
    assert all(c.after.ranking == fresh[c.key].ranking for c in impact.cases)
    assert session.editing.file.read_text() == session.editing.original_file  # nothing written


@pytest.mark.parametrize("prior_set", [None, "population"])
def test_a_wording_edit_changes_no_case(rules_copy, prior_set):
    """Under a prior set too: the edited rules are ranked with the priors the saved rules are ranked with."""
    knowledge = load_knowledge(rules_copy)
    session = RuleEditSession(knowledge.with_prior_set(prior_set) if prior_set else knowledge, [str(CASES)])
    session.open("ihc.alk")
    result = session.check(edited(session, 'title: "ALK positive"', 'title: "ALK positive (reworded)"'))
    assert result.ok
    impact = session.impact(result)
    assert impact is not None and impact.cases == [] and [c.fields for c in impact.rules] == [("title",)]


def test_an_unknown_stain_is_an_error_at_its_editor_line_and_has_no_impact(session):
    session.open("ihc.alk")
    text = edited(session, "when: {stains.alk:", "when: {stains.alkk:")
    result = session.check(text)
    assert not result.ok and result.edited == text
    when_line = next(i for i, line in enumerate(text.splitlines(), 1) if "stains.alkk" in line)
    assert any(result.editor_line(m.problem) == when_line and "alkk" in str(m.problem) for m in result.report.errors)
    assert session.impact(result) is None
    with pytest.raises(EditError, match="would have errors"):
        session.save(result)
    assert not history(session.editing.file)


def test_a_text_that_is_not_one_rule_is_reported_at_its_line(session):
    session.open("ihc.alk")
    result = session.check("- id: x\n  title: a: b\n")
    assert not result.ok and result.file_text is None
    assert result.error_line == 2 and "mapping values" in str(result.error)


def test_no_cases_no_impact(rules_copy):
    session = RuleEditSession(load_knowledge(rules_copy), None)
    session.open("ihc.alk")
    result = session.check(edited(session, ALK_COUNT, 'imt: {n: "4/8"'))
    assert result.ok and session.impact(result) is None
    assert session.baseline().results == []


def test_check_needs_an_open_rule(session):
    with pytest.raises(ValueError, match="no rule is open"):
        session.check("- id: x\n")


def test_the_baseline_is_computed_once_per_rule_set_across_threads(session, monkeypatch):
    calls = []

    def counting(knowledge, paths, **kwargs):
        calls.append(knowledge)
        return run_cases(knowledge, paths, **kwargs)

    monkeypatch.setattr(session_module, "run_cases", counting)
    runs = []
    threads = [threading.Thread(target=lambda: runs.append(session.baseline())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(r is runs[0] for r in runs)
    assert session.baseline() is runs[0]
    before = session.knowledge
    session.reload()  # other rules: another run, never the old one
    assert session.knowledge is not before and session.baseline() is not runs[0] and len(calls) == 2
    assert session.baseline(before) is not runs[0]  # asked for the old rules again: computed again
    assert len(calls) == 3


def test_save_writes_keeps_history_and_reload_reads_it(session, rules_copy):
    f = rules_copy / "rules" / "immunohistochemistry.yaml"
    original = f.read_text()
    old_hash = session.knowledge.content_hash
    session.open("ihc.alk")
    text = edited(session, ALK_COUNT, 'imt: {n: "4/8"')
    kept = session.save(session.check(text))
    assert kept is not None and kept.path.read_text() == original
    assert 'imt: {n: "4/8"' in f.read_text() and len(f.read_text().splitlines()) == len(original.splitlines())
    assert session.saved_id(text) == "ihc.alk"
    assert [v.path for v in session.history()] == [kept.path]
    knowledge = session.reload()
    assert knowledge is session.knowledge and knowledge.content_hash != old_hash and session.editing is None
    assert session.history() == []  # no rule open


def test_a_file_changed_on_disk_is_not_overwritten(session, rules_copy):
    f = rules_copy / "rules" / "immunohistochemistry.yaml"
    session.open("ihc.alk")
    f.write_text(f.read_text() + "# edited elsewhere\n")
    result = session.check(edited(session, ALK_COUNT, 'imt: {n: "7/8"'))
    with pytest.raises(ChangedOnDisk):
        session.save(result)
    assert f.read_text().endswith("# edited elsewhere\n") and 'imt: {n: "7/8"' not in f.read_text()


def test_a_new_rule_starts_from_the_template_and_needs_a_source(session):
    session.open("ihc.alk")
    editing, template = session.new_rule()
    assert editing.rule_id is None and editing.original_block == "" and editing.file.name == "immunohistochemistry.yaml"
    assert session.saved_id(template) == "new.rule-1" and "status: draft" in template
    assert not session.check(template).ok  # no source yet
    sourced = template.replace('source: ""', 'source: "Test J 2026;1:1"')
    assert session.check(sourced).ok
    session.save(session.check(sourced))
    knowledge = session.reload()
    assert knowledge.rule["new.rule-1"].spec.status == "draft"
    assert session.new_rule()[1].count("new.rule-2") == 1  # the next number once new.rule-1 is taken


def test_restore_puts_an_earlier_version_back_and_refuses_one_with_errors(session, rules_copy, tmp_path):
    f = rules_copy / "rules" / "immunohistochemistry.yaml"
    original = f.read_text()
    session.open("ihc.alk")
    session.save(session.check(edited(session, ALK_COUNT, 'imt: {n: "4/8"')))
    session.reload()
    broken = tmp_path / "broken.yaml"
    broken.write_text(original.replace("when: {stains.alk:", "when: {stains.alkk:", 1))
    saved = f.read_text()
    with pytest.raises(VersionHasErrors, match="alkk"):
        session.restore(f, Version(broken, 0.0))
    assert f.read_text() == saved
    [version] = history(f)
    session.restore(f, version)
    assert f.read_text() == original and len(history(f)) == 2


def test_installed_rules_are_read_only(tmp_path):
    installed = tmp_path / "site-packages" / "ddx" / "_rules"  # where a wheel puts them
    shutil.copytree(packaged_rules_dir(), installed)
    session = RuleEditSession(load_knowledge(installed), [str(CASES)])
    assert session.read_only and "ddx rules init" in session.read_only
    session.open("ihc.alk")
    f: Path = session.editing.file
    original = f.read_text()
    result = session.check(edited(session, ALK_COUNT, 'imt: {n: "7/8"'))
    assert result.ok  # checked and previewed ...
    with pytest.raises(EditError, match="ddx rules init"):
        session.save(result)  # ... never saved
    version_file = tmp_path / "v.yaml"
    version_file.write_text(original)
    with pytest.raises(EditError, match="ddx rules init"):
        session.restore(f, Version(version_file, 0.0))
    assert f.read_text() == original and not history(f)
