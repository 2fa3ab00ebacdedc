"""Two rule sets compared: ``ddx rules diff`` and the rule editor's impact preview.

:func:`rule_changes` lists the rules added, removed or changed (with the keys
that differ), :func:`other_changes` the changes outside the rules that move
rankings (priors, entities, settings, vocabulary). :func:`diff_runs` compares
two runs of the same cases (:class:`ddx.authoring.regression.CaseRun`) case by
case: the cases whose ranking changes — the order of the entities, or the leader's
probability by :data:`LEADER_SHIFT` or more — each with the changed rules that
fired in it (the rules responsible).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddx.authoring.regression import CaseResult, CaseRun, run_cases
from ddx.knowledge import Knowledge
from ddx.yamlio import strip_lines


@dataclass(frozen=True)
class RuleChange:
    """A rule added, removed or changed between two rule sets; for a changed rule, which keys and which
    likelihood figures moved (before and after, as shown: '18/22', '~0.30', with '(srms's)' for a subtype's
    inherited figure and '(derived: A ÷ B)' for a cell derived from two rules' figures). A derived cell
    whose derivation and figure did not change is no change of its rule."""

    rule: str
    kind: str  # added | removed | changed
    fields: tuple[str, ...] = ()  # for "changed": which keys differ (likelihood.imt, when, status, ...)
    file: str | None = None
    line: int | None = None
    # for a changed likelihood cell: its figure before and after ("likelihood.imt": ("~0.30", "0.45")); a cell
    # whose figure is the same and only its source or reasoning changed is not here; a changed status too
    # ("status": ("active", "retired"))
    figures: tuple[tuple[str, str, str], ...] = ()
    # for a rule narrowed with likelihood_from: the changed cells it takes from its base (not written in it)
    taken: tuple[str, ...] = ()
    base: str | None = None

    def __str__(self) -> str:
        if self.kind == "changed":
            moved = {f: _moved(f, a, b) for f, a, b in self.figures}
            shown = [moved.get(f, f) + (f" (from {self.base})" if f in self.taken else "") for f in self.fields]
            return f"{self.rule} ({', '.join(shown)})"
        return f"{self.rule} ({self.kind})"


def _moved(field: str, before: str, after: str) -> str:
    """'likelihood.prms ~0.95 → ~1.00 (derived: ihc.myogenin ÷ ihc.myod1)': a derivation both figures share is
    said once, after them."""
    note = before[before.find(" (derived: ") :] if " (derived: " in before else ""
    if note and after.endswith(note):
        return f"{field} {before.removesuffix(note)} → {after.removesuffix(note)}{note}"
    return f"{field} {before} → {after}"


def _figure(cell: dict[str, Any] | None) -> str:
    """A dumped likelihood cell as a figure: '18/22', '~0.30', '0.97', with its strength when the cell sets
    one ('~0.30 worth 20') and, for a cell derived from two rules' figures, which ('~0.12 (derived: ihc.myogenin
    ÷ ihc.myod1)'); '-' when absent."""
    if cell is None:
        return "-"
    if cell.get("k") is not None and cell.get("total") is not None:
        return f"{cell['k']}/{cell['total']}"
    strength = f" worth {cell['strength']:g}" if cell.get("strength") is not None else ""
    figure = f"{'~' if cell.get('estimate') else ''}{cell.get('p', 0.0):.2f}{strength}"
    ratio = cell.get("ratio")
    if ratio:  # derived from two other rules' cells (ddx.knowledge.base.derive_ratios): it moves when they do
        figure += f" (derived: {ratio[0]} ÷ {ratio[1]})"
    return figure


def _same_derivation(before: dict[str, Any], after: dict[str, Any], field: str) -> bool:
    """Whether the cell of ``field`` ('likelihood.eprms') is derived from the same two rules' figures (``ratio``)
    in both rule sets: then only its working can differ, not what the rule file says."""
    slug = field.split(".", 1)[1]
    a, b = before.get(slug), after.get(slug)
    return isinstance(a, dict) and isinstance(b, dict) and bool(a.get("ratio")) and a.get("ratio") == b.get("ratio")


def _cell_figure(likelihood: dict[str, Any], slug: str, knowledge: Knowledge) -> str:
    """The figure a profile uses for a rule: its own cell, else (a subtype without one) its entity's, marked
    so, else the rule's default."""
    if slug in likelihood:
        return _figure(likelihood[slug])
    parent = knowledge.parent(slug)
    if parent != slug and parent in likelihood:
        return f"{_figure(likelihood[parent])} ({parent}'s)"
    return "-"


def _specs(knowledge: Knowledge) -> dict[str, tuple[dict[str, Any], str, int | None]]:
    out: dict[str, tuple[dict[str, Any], str, int | None]] = {}
    for r in knowledge.rules:
        if r.spec.id not in out:
            out[r.spec.id] = (strip_lines(r.spec.model_dump(exclude_none=True)), r.file, r.spec_line)
    return out


def _differing(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    fields = []
    for key in sorted(set(a) | set(b), key=lambda k: (list(a) + list(b)).index(k)):
        if a.get(key) == b.get(key):
            continue
        if key == "likelihood" and isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            fields += [f"likelihood.{slug}" for slug in dict.fromkeys([*a[key], *b[key]]) if a[key].get(slug) != b[key].get(slug)]
        else:
            fields.append(key)
    return fields


def rule_changes(old: Knowledge, new: Knowledge) -> list[RuleChange]:
    """Rules added, removed or changed between two rule sets (examples and wording included)."""
    a, b = _specs(old), _specs(new)
    out = []
    for rid, (spec, file, line) in b.items():
        if rid not in a:
            out.append(RuleChange(rid, "added", file=file, line=line))
        elif a[rid][0] != spec:
            fields = tuple(_differing(a[rid][0], spec))
            before, after = a[rid][0].get("likelihood") or {}, spec.get("likelihood") or {}
            figures = tuple(
                (f, old_figure, new_figure)
                for f in fields
                if f.startswith("likelihood.")
                and (old_figure := _cell_figure(before, f.split(".", 1)[1], old))
                != (new_figure := _cell_figure(after, f.split(".", 1)[1], new))
            )
            # a derived cell (the same ratio) whose figure did not move changed only its working (a base figure
            # moved, and the derived one stayed where it was kept): no change of this rule, which would be listed bare
            moved = {f for f, _, _ in figures}
            fields = tuple(
                f for f in fields if f in moved or not f.startswith("likelihood.") or not _same_derivation(before, after, f)
            )
            if not fields:
                continue
            rule = new.rule.get(rid) or old.rule.get(rid)
            taken = tuple(
                f for f in fields if f.startswith("likelihood.") and rule is not None and f.split(".", 1)[1] in rule.inherited
            )
            base = rule.spec.likelihood_from if rule is not None and taken else None
            if "status" in fields:  # 'status active → retired': what a retirement or a draft did, said
                figures += (("status", str(a[rid][0].get("status", "active")), str(spec.get("status", "active"))),)
            out.append(RuleChange(rid, "changed", fields, file, line, figures, taken, base))
    for rid, (_, file, line) in a.items():
        if rid not in b:
            out.append(RuleChange(rid, "removed", file=file, line=line))
    return out


def other_changes(old: Knowledge, new: Knowledge) -> list[str]:
    """Changes outside the rules that move rankings: priors, entities, settings, vocabulary."""
    out = []
    for e in new.entities:
        before = old.entity.get(e.slug)
        if before is None:
            out.append(f"entity {e.slug} added")
        elif before.prior.p != e.prior.p:
            out.append(f"prior of {e.slug} {before.prior.p:g} -> {e.prior.p:g}")
    out += [f"entity {s} removed" for s in old.entity_slugs if s not in new.entity]
    for slug, sub in new.subtype.items():
        before_sub = old.subtype.get(slug)
        if before_sub is None:
            out.append(f"subtype {slug} added")
        elif before_sub.share.p != sub.share.p:
            out.append(f"share of subtype {slug} {before_sub.share.p:g} -> {sub.share.p:g}")
    out += [f"subtype {s} removed" for s in old.subtype if s not in new.subtype]
    if old.settings.clamp != new.settings.clamp:
        out.append(f"settings clamp {old.settings.clamp} -> {new.settings.clamp}")
    wording = {"rationale", "source"}
    if old.settings.evidence.model_dump(exclude=wording) != new.settings.evidence.model_dump(exclude=wording):
        out.append("settings evidence (shrinkage, strengths, thresholds) changed")
    if old.settings.calibration.temperature != new.settings.calibration.temperature:
        out.append(f"temperature {old.settings.calibration.temperature:g} -> {new.settings.calibration.temperature:g}")
    if [(b.id, b.when) for b in old.settings.bands] != [(b.id, b.when) for b in new.settings.bands]:
        out.append("confidence bands changed (order or conditions)")
    for e in new.entities:
        before = old.entity.get(e.slug)
        if before is not None and before.confirm_with != e.confirm_with:
            out.append(f"confirming tests of {e.slug} changed")
    for slug, sub in new.subtype.items():
        before_sub = old.subtype.get(slug)
        if before_sub is not None and (before_sub.confirm_with != sub.confirm_with or old.parent(slug) != new.parent(slug)):
            out.append(f"subtype {slug}: confirming tests or entity changed")
    if _file_bytes(old.directory / "outside.yaml") != _file_bytes(new.directory / "outside.yaml"):
        out.append("outside.yaml changed")
    if _file_bytes(old.directory / "vocabulary.yaml") != _file_bytes(new.directory / "vocabulary.yaml"):
        out.append("vocabulary.yaml changed")  # terms, synonyms or site groups: what a case's findings mean
    return out


def _file_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


# a change in a rule's scoring (not its wording or examples) can move a ranking
SCORING_FIELDS = ("when", "negated_by", "likelihood", "default", "status")
# a case whose order is the same counts as changed when its leader's probability moves by this much or more
# (one percentage point: the bands' thresholds are whole percentages, and smaller moves are rounding)
LEADER_SHIFT = 0.01
CHANGED_RANKING = f"the order, or the leader's probability by {LEADER_SHIFT * 100:g} point or more"  # as outputs say it
# two entities within this of each other in both runs are tied: their swap is not an order change (outputs print
# probabilities to a tenth of a point, and the smallest entities of a case are often exactly equal)
TIE = 0.001


def same_order(before: CaseResult, after: CaseResult) -> bool:
    """Whether two results rank the entities in the same order, ties aside: a pair that swaps counts only when
    its two probabilities are :data:`TIE` or more apart in one of the runs. Shapes: each result's ``ranking``
    and ``probabilities`` are parallel tuples, highest first."""
    if before.ranking == after.ranking:
        return True
    if set(before.ranking) != set(after.ranking) or any(len(r.probabilities) != len(r.ranking) for r in (before, after)):
        return False  # other entities, or a result without its probabilities: any difference counts
    p_before = dict(zip(before.ranking, before.probabilities, strict=True))
    p_after = dict(zip(after.ranking, after.probabilities, strict=True))
    rank_after = {e: i for i, e in enumerate(after.ranking)}
    order = before.ranking
    for i, x in enumerate(order):
        for y in order[i + 1 :]:
            if rank_after[x] > rank_after[y] and max(abs(p_before[x] - p_before[y]), abs(p_after[x] - p_after[y])) >= TIE:
                return False
    return True


@dataclass(frozen=True)
class CaseChange:
    """A case whose ranking moved between two rule sets: both results, and what can explain the move (the changed
    scoring rules it matches under either set, the rules it matches under one set only, and the other changes)."""

    key: str
    case_id: str
    file: str | None
    expected: str | None
    before: CaseResult
    after: CaseResult
    responsible: tuple[str, ...]

    @property
    def top_changed(self) -> bool:
        return self.before.top != self.after.top

    @property
    def order_changed(self) -> bool:
        """The entities' order changed, ties aside (:func:`same_order`); else only the leader's probability moved,
        by :data:`LEADER_SHIFT` or more."""
        return not same_order(self.before, self.after)

    @property
    def moves(self) -> list[tuple[str, int, int]]:
        """(entity, rank before, rank after) for every entity whose rank changed."""
        out = []
        for slug in self.after.ranking:
            b, a = self.before.rank_of(slug), self.after.rank_of(slug)
            if b is not None and a is not None and a != b:
                out.append((slug, b, a))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case_id,
            "file": self.file,
            "expected": self.expected,
            "top_before": self.before.top,
            "top_after": self.after.top,
            "probability_before": round(self.before.top_probability or 0, 4),
            "probability_after": round(self.after.top_probability or 0, 4),
            "rank_of_expected_before": self.before.rank,
            "rank_of_expected_after": self.after.rank,
            "order_changed": self.order_changed,
            "moves": [{"entity": e, "before": b, "after": a} for e, b, a in self.moves],
            "responsible": list(self.responsible),
        }


@dataclass
class RuleSetDiff:
    """What ``ddx rules diff`` reports: the two rule sets (directory, version, hash), the rule and other
    changes, and the cases they moved."""

    old: dict[str, str]
    new: dict[str, str]
    rules: list[RuleChange]
    other: list[str]
    cases: list[CaseChange]  # cases whose order of entities changed, or whose leader moved by LEADER_SHIFT or more
    compared: int  # cases analysed under both rule sets
    unreadable: list[str] = field(default_factory=list)  # cases one of the rule sets could not read

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "compared": self.compared,
            "rule_changes": [
                {
                    "rule": c.rule,
                    "kind": c.kind,
                    "fields": list(c.fields),
                    "figures": {f: {"before": x, "after": y} for f, x, y in c.figures},
                    "file": c.file,
                    "line": c.line,
                }
                for c in self.rules
            ],
            "other_changes": self.other,
            "changed_cases": [c.to_dict() for c in self.cases],
            "unreadable": self.unreadable,
        }


def diff_runs(old_k: Knowledge, new_k: Knowledge, before: CaseRun, after: CaseRun) -> RuleSetDiff:
    """What changed between two rule sets and how it moved the cases of two runs over the same files
    (``before`` ranked with ``old_k``, ``after`` with ``new_k``): the rule and other changes, and each case
    whose order of entities changed or whose leader's probability moved by ``LEADER_SHIFT`` or more; a case
    one run could read and the other could not is listed as unreadable."""
    changes = rule_changes(old_k, new_k)
    scoring = {c.rule for c in changes if c.kind != "changed" or any(f.split(".")[0] in SCORING_FIELDS for f in c.fields)}
    other = other_changes(old_k, new_k)
    now = after.by_key
    cases, unreadable, compared = [], [], 0
    for b in before.results:
        a = now.get(b.key)
        if a is None or not a.ok or not b.ok:
            if (a is None or not a.ok) != (not b.ok):
                unreadable.append(b.key)
            continue
        compared += 1
        if same_order(b, a) and abs((a.top_probability or 0.0) - (b.top_probability or 0.0)) < LEADER_SHIFT:
            continue
        # changed rules that fired here, and rules that fire in one run only (a vocabulary change)
        responsible = sorted((scoring & (a.matched | b.matched)) | (a.matched ^ b.matched)) + other
        cases.append(CaseChange(b.key, b.case_id, b.file, b.expected, b, a, tuple(responsible)))
    return RuleSetDiff(before.rules, after.rules, changes, other, cases, compared, unreadable)


def diff_rule_sets(old_k: Knowledge, new_k: Knowledge, paths: Iterable[str | os.PathLike[str]]) -> RuleSetDiff:
    """:func:`diff_runs` for the cases under ``paths`` (files or folders), each rule set ranking them once
    (without next tests). Raises what :func:`ddx.authoring.regression.run_cases` raises for a path it cannot
    read."""
    paths = list(paths)
    return diff_runs(old_k, new_k, run_cases(old_k, paths), run_cases(new_k, paths))
