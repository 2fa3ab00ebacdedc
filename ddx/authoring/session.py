"""The rule editor without a screen: one rules folder, the rule being edited, its checks and its impact.

:class:`RuleEditSession` is to the rule editor what :class:`ddx.entry.CaseEntry`
is to case entry: the TUI screen (:mod:`ddx.tui.rules`) holds the widgets and
calls it. A session holds the rules (:class:`~ddx.knowledge.Knowledge`), the
cases of the impact preview, the rule open for editing (:class:`Editing`) and
the baseline run of the cases under the saved rules (computed once per rule
set, from any thread). It lists the rules, opens one or starts a new one from
the template, checks an edited text as ``ddx rules check`` would
(:func:`ddx.authoring.edit.check_edit`), computes the cases whose ranking the
edit would change (:func:`ddx.authoring.diff.diff_runs` against the baseline),
saves (atomic, with history), reloads, and restores an earlier version.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ddx.authoring.check import RELEVANT_EFFECT, check_rules, entity_effect
from ddx.authoring.diff import RuleSetDiff, diff_runs
from ddx.authoring.edit import (
    EditCheck,
    EditError,
    Version,
    block_text,
    check_edit,
    find_block,
    history,
    new_rule_text,
    parse_block,
    read_file,
    read_only_reason,
    restore,
    save_file,
)
from ddx.authoring.regression import CaseRun, run_cases
from ddx.errors import DdxError
from ddx.knowledge import Knowledge, Rule, load_knowledge
from ddx.yamlio import read_text


@dataclass
class Editing:
    """The rule in the editor: where it lives and the file text it was cut from."""

    file: Path
    rule_id: str | None  # None: a new rule, to be added to ``file``
    original_file: str  # the file's text when the rule was opened
    opened_digest: str
    original_block: str


class VersionHasErrors(DdxError):
    """An earlier version that cannot be restored: with the current rules it has errors (``first`` names one)."""

    def __init__(self, first: object):
        self.first = first
        super().__init__(f"that version has errors with the current rules ({first})")


class RuleEditSession:
    """One rules folder open for editing.

    ``knowledge`` is the rules as saved (with the prior set the differential
    ranks with); ``cases`` the case files or folders of the impact preview
    (None or empty: no preview). ``read_only`` says why the rules must not be
    saved here (None: they may be). Methods that read or write files raise
    :class:`~ddx.errors.DdxError` (with the file named) and, for a failing
    disk, :class:`OSError`; nothing here knows about a screen.
    """

    def __init__(self, knowledge: Knowledge, cases: Sequence[str] | None = None) -> None:
        self.knowledge = knowledge
        self.cases = list(cases) if cases else None
        self.read_only = read_only_reason(knowledge.directory)
        self.editing: Editing | None = None
        self._baseline: tuple[Knowledge, CaseRun] | None = None  # the cases ranked by the saved rules
        self._baseline_lock = threading.Lock()

    # ------------------------------------------------------------------ browsing

    def rules(self) -> list[Rule]:
        """One rule per id (a rule and its negated half are one), in file order."""
        seen: dict[str, Rule] = {}
        for r in self.knowledge.rules:
            seen.setdefault(r.spec.id, r)
        return list(seen.values())

    def listing(self, words: str = "", entity: str | None = None) -> list[tuple[float, Rule]]:
        """The rules whose id, title and status contain every word of ``words`` (any case), as ``(effect,
        rule)``. With ``entity`` (an entity or subtype slug), only the rules that speak to it (``|effect| ≥``
        :data:`~ddx.authoring.check.RELEVANT_EFFECT`, log10 units; :func:`~ddx.authoring.check.entity_effect`),
        the strongest first; without, effect 0.0 and file order."""
        wanted = words.lower().split()
        rows: list[tuple[float, Rule]] = []
        for r in self.rules():
            hay = f"{r.spec.id} {r.spec.title} {r.spec.status}".lower()
            if not all(w in hay for w in wanted):
                continue
            effect = 0.0
            if entity is not None:
                effect = entity_effect(r, self.knowledge, entity) or 0.0
                if abs(effect) < RELEVANT_EFFECT:
                    continue
            rows.append((effect, r))
        if entity is not None:
            rows.sort(key=lambda row: -abs(row[0]))
        return rows

    # ------------------------------------------------------------------ opening

    def open(self, rule_id: str) -> Editing:
        """Open rule ``rule_id`` for editing (its block as it stands in its file: ``editing.original_block``).
        Raises :class:`~ddx.authoring.edit.EditError` for an id the rules do not have, DdxError when its file
        cannot be read or no longer holds it; the rule open before stays open then."""
        rule = next((r for r in self.knowledge.rules if r.spec.id == rule_id), None)
        if rule is None:
            raise EditError(f"no rule {rule_id!r} in {self.knowledge.directory}")
        file = Path(rule.file)
        text, sha = read_file(file)
        self.editing = Editing(file, rule_id, text, sha, block_text(text, find_block(text, rule_id)))
        return self.editing

    def new_rule(self) -> tuple[Editing, str]:
        """Start a new rule (``editing.rule_id`` None) in the file of the rule open now, else the first rule
        file; returns it and the template text (id ``new.rule-N``, the first N not taken; status draft).
        Raises DdxError when that file cannot be read (the rule open before stays open)."""
        file = self.editing.file if self.editing else next(iter(sorted((self.knowledge.directory / "rules").glob("*.yaml"))))
        taken = {r.spec.id for r in self.knowledge.rules}
        n = 1
        while f"new.rule-{n}" in taken:
            n += 1
        template = new_rule_text(f"new.rule-{n}", self.knowledge.entity_slugs)
        try:
            text, sha = read_file(file)
        except DdxError as exc:
            raise EditError(f"Cannot add a rule to {file.name}: {exc}") from None
        self.editing = Editing(file, None, text, sha, "")
        return self.editing, template

    def dirty(self, text: str) -> bool:
        """Whether ``text`` (the editor's) differs from the rule as opened."""
        return self.editing is not None and text != self.editing.original_block

    # ------------------------------------------------------------------ checking and impact

    def check(self, text: str, editing: Editing | None = None) -> EditCheck:
        """The rule set as it would be with ``text`` in place of the rule ``editing`` (default: the one open
        now), checked as ``ddx rules check`` checks it without compiling the engine; messages map to editor
        lines. Safe to call from a worker thread. Raises ValueError when no rule is open."""
        editing = editing if editing is not None else self.editing
        if editing is None:
            raise ValueError("no rule is open for editing")
        return check_edit(self.knowledge.directory, editing.file, editing.original_file, text, editing.rule_id)

    def baseline(self, knowledge: Knowledge | None = None) -> CaseRun:
        """The cases ranked with ``knowledge`` (default: the saved rules): computed once per rule set and
        kept, never another set's run; callers in several threads wait for one computation. With no cases, an
        empty run. Raises DdxError when the cases cannot be read."""
        knowledge = knowledge if knowledge is not None else self.knowledge
        with self._baseline_lock:
            if self._baseline is None or self._baseline[0] is not knowledge:
                self._baseline = (knowledge, run_cases(knowledge, self.cases or []))
            return self._baseline[1]

    def impact(self, result: EditCheck, knowledge: Knowledge | None = None) -> RuleSetDiff | None:
        """The cases whose ranking the checked edit would change: the baseline of ``knowledge`` (default: the
        saved rules; a worker passes the rules its edit was checked against) against the edited rules, ranked
        with the session's prior set. None when the edit does not load, there are no cases, or the cases
        cannot be read."""
        knowledge = knowledge if knowledge is not None else self.knowledge
        new = result.report.knowledge
        if new is not None:
            new = new.with_prior_set(self.knowledge.prior_set)  # the priors the differential is ranked with
        if new is None or not self.cases:
            return None
        try:
            before = self.baseline(knowledge)
            after = run_cases(new, self.cases)
        except DdxError:
            return None
        return diff_runs(knowledge, new, before, after)

    # ------------------------------------------------------------------ saving, history

    def save(self, result: EditCheck) -> Version | None:
        """Write the checked edit (``result.file_text``) to the open rule's file: refused (EditError) when the
        rules are read-only here, the edit has errors, or it is not of the open rule; checked again as
        ``ddx rules check`` checks it (engine included) under the save lock; ChangedOnDisk when the file
        changed since it was opened. Returns the version kept in the history (None: the file was new).
        Call :meth:`reload` after it."""
        if self.read_only:
            raise EditError(self.read_only)
        if self.editing is None or not result.ok or result.file_text is None:
            raise EditError("the rule set would have errors")
        return save_file(self.editing.file, result.file_text, self.editing.opened_digest, check_dir=self.knowledge.directory)

    @staticmethod
    def saved_id(text: str) -> str | None:
        """The id written in an edited rule's text (None without one). Raises EditError when the text is not
        one rule."""
        value = parse_block(text).get("id")
        return str(value) if value is not None else None

    def reload(self) -> Knowledge:
        """Load the rules again from disk (with the same prior set) and close the rule open (its file
        changed). The baseline of the new rules is computed when next asked for. Raises DdxError when the
        rules do not load; the session is unchanged then."""
        knowledge = load_knowledge(self.knowledge.directory).with_prior_set(self.knowledge.prior_set)
        self.knowledge = knowledge
        self.editing = None
        return knowledge

    def history(self) -> list[Version]:
        """Earlier versions of the open rule's file, newest first (none when no rule is open)."""
        return history(self.editing.file) if self.editing is not None else []

    def restore(self, file: Path, version: Version) -> None:
        """Make ``version`` of ``file`` current again, after checking the rule set with it (the version it
        replaces goes into the history). Raises EditError when the rules are read-only here,
        :class:`VersionHasErrors` when that version has errors with the current rules, DdxError or OSError
        when a file cannot be read or written. Call :meth:`reload` after it."""
        if self.read_only:
            raise EditError(self.read_only)
        report = check_rules(self.knowledge.directory, overrides={file: read_text(version.path)}, engine=False)
        if not report.ok:
            raise VersionHasErrors(report.errors[0])
        _, sha = read_file(file)
        restore(file, version, sha, check_dir=self.knowledge.directory)
