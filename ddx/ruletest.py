"""Regression-testing a rule set on cases: ``ddx rules test`` and ``ddx rules diff``,
and the TUI rule editor's impact preview.

A run analyses every case under some paths with one rule set and keeps, per
case, the ranking, the rules that fired and the rank of the expected
diagnosis. Two runs compare case by case: the cases whose ranking or leader
changes, with the changed rules that fired in them (the rules responsible).
A run saved as JSON (``--save``) is the baseline a later run is checked
against for regressions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ddx.analysis import Analysis, Analyzer, analyze_paths
from ddx.calibration import CalibrationReport, held_cases, leave_one_out
from ddx.errors import DdxError
from ddx.evaluate import Evaluation, score
from ddx.knowledge import NEGATION_SUFFIX, Knowledge
from ddx.ranking import Ranker
from ddx.yamlio import ReadError, atomic_write_text, load_data, strip_lines

BASELINE_FORMAT = "ddx-rules-test/1"


def packaged_cases_dir() -> Path | None:
    """The sample cases shipped with ddx: inside the wheel, or the checkout's cases/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_cases", here.parent / "cases"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    return None


def default_cases_path() -> Path:
    """``cases/`` in the working folder, else the sample cases shipped with ddx."""
    local = Path("cases")
    if local.is_dir():
        return local
    packaged = packaged_cases_dir()
    if packaged is None:
        raise DdxError("no cases/ folder here and no packaged sample cases; give --cases PATH")
    return packaged


def rules_info(knowledge: Knowledge) -> dict[str, str]:
    return {"directory": str(knowledge.directory), "version": knowledge.settings.version,
            "hash": knowledge.content_hash[:12]}


@dataclass(frozen=True)
class CaseResult:
    key: str                         # "<file name>#<case id>": stable across folders and runs
    case_id: str
    file: str | None
    expected: str | None = None
    ranking: tuple[str, ...] = ()
    probabilities: tuple[float, ...] = ()
    matched: frozenset[str] = frozenset()   # rule ids (spec ids; a negated half counts as its rule)
    rank: int | None = None          # rank of the expected entity (a variant counts as its parent)
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def top(self) -> str | None:
        return self.ranking[0] if self.ranking else None

    @property
    def top_probability(self) -> float | None:
        return self.probabilities[0] if self.probabilities else None

    def rank_of(self, slug: str) -> int | None:
        return self.ranking.index(slug) + 1 if slug in self.ranking else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"case": self.case_id, "file": self.file, "expected": self.expected,
                               "top": self.top, "rank_of_expected": self.rank}
        if self.ok:
            out["probability"] = round(self.top_probability or 0.0, 4)
            out["ranking"] = list(self.ranking)
            out["matched"] = sorted(self.matched)
        else:
            out["problems"] = list(self.problems)
        return out


def case_key(file: str | None, case_id: str, roots: Iterable[Path] = ()) -> str:
    """``<file>#<case id>``, the file relative to the folder given on the command line (so that two
    runs from different working folders, and cases in different subfolders, keep distinct keys)."""
    if not file:
        return f"<input>#{case_id}"
    path = Path(os.path.realpath(file))
    for root in roots:
        root = Path(os.path.realpath(root))
        base = root if root.is_dir() else root.parent
        if path == root or base in path.parents:
            return f"{path.relative_to(base).as_posix()}#{case_id}"
    return f"{path.as_posix()}#{case_id}"


def _result(a: Analysis, knowledge: Knowledge, roots: list[Path]) -> CaseResult:
    key = case_key(a.file, a.case_id, roots)
    if not a.ok:
        return CaseResult(key, a.case_id, a.file, problems=tuple(str(p) for p in a.problems))
    ranking = tuple(r.entity for r in a.ranking)
    rank = None
    if a.expected:
        rank = next((i for i, slug in enumerate(ranking, start=1)
                     if slug in (a.expected, knowledge.parent(a.expected)) or knowledge.parent(slug) == a.expected), None)
    return CaseResult(key, a.case_id, a.file, a.expected, ranking, tuple(r.probability for r in a.ranking),
                      frozenset(m.removesuffix(NEGATION_SUFFIX) for m in a.matched), rank)


@dataclass
class CaseRun:
    """One rule set run over some cases."""

    rules: dict[str, str]
    results: list[CaseResult]
    evaluation: Evaluation
    never_matched: list[str] = field(default_factory=list)   # active rules that fired in no case
    calibration: CalibrationReport | None = None              # leave-one-out over the scored cases

    @property
    def by_key(self) -> dict[str, CaseResult]:
        return {r.key: r for r in self.results}

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.ok]

    @property
    def mismatches(self) -> list[CaseResult]:
        """Scored cases whose leader is not the expected diagnosis."""
        return [r for r in self.results if r.ok and r.expected and r.rank != 1]

    def to_dict(self) -> dict[str, Any]:
        return {"format": BASELINE_FORMAT, "rules": self.rules,
                "summary": {"cases": len(self.results), "scored": self.evaluation.n,
                            "top1": self.evaluation.top1_hits, "top3": self.evaluation.top3_hits,
                            "failed": len(self.failed)},
                "never_matched": self.never_matched,
                "calibration": self.calibration.to_dict() if self.calibration else None,
                "cases": {r.key: r.to_dict() for r in self.results}}


def run_cases(knowledge: Knowledge, paths: Iterable[str | os.PathLike[str]], *,
              analyzer: Analyzer | None = None) -> CaseRun:
    """Analyse every case under ``paths`` with these rules (no next-test suggestions)."""
    paths = list(paths)
    own = analyzer is None
    analyzer = analyzer or Analyzer(knowledge)
    try:
        analyses = list(analyze_paths([str(p) for p in paths], analyzer, suggest=False))
    finally:
        if own:
            analyzer.close()
    roots = [Path(p) for p in paths]
    results = [_result(a, knowledge, roots) for a in analyses]
    seen: dict[str, int] = {}
    for i, r in enumerate(results):     # one file with two cases of one id: keep both, numbered
        n = seen[r.key] = seen.get(r.key, 0) + 1
        if n > 1:
            results[i] = replace(r, key=f"{r.key}~{n}")
    fired = set().union(*(r.matched for r in results)) if results else set()
    active = dict.fromkeys(r.spec.id for r in knowledge.active_rules)
    held = held_cases(analyses, knowledge)
    ranker = analyzer.ranker if analyzer is not None else Ranker(knowledge)
    return CaseRun(rules_info(knowledge) | {"engine": analyzer.engine}, results, score(analyses, knowledge),
                   [rid for rid in active if rid not in fired],
                   leave_one_out(ranker, held) if held else None)


def write_temperature(knowledge: Knowledge, report: CalibrationReport) -> Path:
    """Set ``calibration.temperature`` and its derivation in the rules' settings.yaml (the previous
    version goes into the history, as for any rule edit). Raises DdxError when the file has no
    ``calibration:`` block with a ``temperature:`` line."""
    import re
    from datetime import date

    from ddx.ruleedit import read_file, save_file

    path = knowledge.directory / "settings.yaml"
    text, digest = read_file(path)
    block = re.search(r"^calibration:\n((?:[ \t]+.*\n|[ \t]*\n)*)", text, re.M)
    if block is None or not re.search(r"^[ \t]+temperature:", block.group(1), re.M):
        raise DdxError(f"{path}: no 'calibration:' block with a 'temperature:' line to update")
    derivation = (f"Fitted by ddx rules test --fit-temperature on {date.today().isoformat()}: the grid value "
                  f"(0.20-1.00, step 0.02) with the lowest log loss of the confirmed diagnosis over "
                  f"{len(report.predictions)} scored cases; leave-one-out (T refitted without each case): "
                  f"top-1 {report.top1:.1%}, ECE {report.ece:.3f}.")
    body = re.sub(r"^([ \t]+)temperature:.*$", lambda m: f"{m.group(1)}temperature: {report.temperature:g}",
                  block.group(1), count=1, flags=re.M)
    if re.search(r"^[ \t]+derivation:", body, re.M):
        body = re.sub(r"^([ \t]+)derivation:.*$", lambda m: f"{m.group(1)}derivation: {json.dumps(derivation)}",
                      body, count=1, flags=re.M)
    else:
        indent = re.search(r"^([ \t]+)temperature:", body, re.M)
        body += f"{indent.group(1) if indent else '  '}derivation: {json.dumps(derivation)}\n"
    new = text[:block.start(1)] + body + text[block.end(1):]
    save_file(path, new, digest)
    return path


def save_run(run: CaseRun, path: str | os.PathLike[str]) -> None:
    atomic_write_text(Path(path), json.dumps(run.to_dict(), indent=1, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class BaselineCase:
    key: str
    expected: str | None
    top: str | None
    rank: int | None


def load_baseline(path: str | os.PathLike[str]) -> tuple[dict[str, str], dict[str, BaselineCase]]:
    p = Path(path)
    try:
        data = strip_lines(load_data(p)) if p.suffix.lower() in (".yaml", ".yml") else load_data(p)
    except ReadError as exc:
        raise DdxError(f"{p}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT or not isinstance(data.get("cases"), dict):
        raise DdxError(f"{p}: not a saved 'ddx rules test' run (make one with: ddx rules test --save {p.name})")
    rules = data.get("rules") or {}
    if not isinstance(rules, dict) or not all(isinstance(v, (str, type(None))) for v in rules.values()):
        raise DdxError(f"{p}: 'rules' must map directory, version and hash to text")
    cases = {}
    for key, c in data["cases"].items():
        if not isinstance(c, dict):
            raise DdxError(f"{p}: case {key!r}: expected a mapping")
        for field_name, kind in (("expected", str), ("top", str), ("rank_of_expected", int)):
            value = c.get(field_name)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                raise DdxError(f"{p}: case {key!r}: {field_name} must be {'a number' if kind is int else 'text'}, "
                               f"got {value!r}")
        cases[str(key)] = BaselineCase(str(key), c.get("expected"), c.get("top"), c.get("rank_of_expected"))
    return {str(k): str(v) for k, v in rules.items()}, cases


@dataclass(frozen=True)
class Regression:
    key: str
    expected: str | None
    before_top: str | None
    after_top: str | None
    before_rank: int | None
    after_rank: int | None

    @property
    def worse(self) -> bool:
        if self.expected is None:
            return False
        before = self.before_rank if self.before_rank is not None else 10 ** 6
        after = self.after_rank if self.after_rank is not None else 10 ** 6
        return after > before


@dataclass
class BaselineComparison:
    regressions: list[Regression] = field(default_factory=list)   # expected diagnosis ranked lower
    improvements: list[Regression] = field(default_factory=list)
    changed_top: list[Regression] = field(default_factory=list)    # leader changed (any case)
    missing: list[str] = field(default_factory=list)               # in the baseline, not in this run
    new: list[str] = field(default_factory=list)                   # in this run, not in the baseline


def compare_baseline(run: CaseRun, baseline: dict[str, BaselineCase]) -> BaselineComparison:
    out = BaselineComparison()
    now = run.by_key
    for key, old in baseline.items():
        cur = now.get(key)
        if cur is None or not cur.ok:
            out.missing.append(key)
            continue
        change = Regression(key, cur.expected, old.top, cur.top, old.rank, cur.rank)
        if change.worse:
            out.regressions.append(change)
        elif cur.expected and change.before_rank != change.after_rank:
            out.improvements.append(change)
        if old.top != cur.top:
            out.changed_top.append(change)
    out.new = [k for k in now if k not in baseline]
    return out


# ------------------------------------------------------------------ diff


@dataclass(frozen=True)
class RuleChange:
    rule: str
    kind: str                 # added | removed | changed
    fields: tuple[str, ...] = ()   # for "changed": which keys differ (likelihood.imt, when, status, ...)
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.kind == "changed":
            return f"{self.rule} ({', '.join(self.fields)})"
        return f"{self.rule} ({self.kind})"


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
            fields += [f"likelihood.{slug}" for slug in dict.fromkeys([*a[key], *b[key]])
                       if a[key].get(slug) != b[key].get(slug)]
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
            out.append(RuleChange(rid, "changed", tuple(_differing(a[rid][0], spec)), file, line))
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
        if before_sub is not None and (before_sub.confirm_with != sub.confirm_with
                                       or old.parent(slug) != new.parent(slug)):
            out.append(f"subtype {slug}: confirming tests or entity changed")
    if _file_bytes(old.directory / "outside.yaml") != _file_bytes(new.directory / "outside.yaml"):
        out.append("outside.yaml changed")
    if _file_bytes(old.directory / "vocabulary.yaml") != _file_bytes(new.directory / "vocabulary.yaml"):
        out.append("vocabulary.yaml changed")     # terms, synonyms or site groups: what a case's findings mean
    return out


def _file_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


# a change in a rule's scoring (not its wording or examples) can move a ranking
SCORING_FIELDS = ("when", "negated_by", "likelihood", "default", "status")


@dataclass(frozen=True)
class CaseChange:
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
    def moves(self) -> list[tuple[str, int, int]]:
        """(entity, rank before, rank after) for every entity whose rank changed."""
        out = []
        for slug in self.after.ranking:
            b, a = self.before.rank_of(slug), self.after.rank_of(slug)
            if b is not None and a is not None and a != b:
                out.append((slug, b, a))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case_id, "file": self.file, "expected": self.expected,
                "top_before": self.before.top, "top_after": self.after.top,
                "probability_before": round(self.before.top_probability or 0, 4),
                "probability_after": round(self.after.top_probability or 0, 4),
                "rank_of_expected_before": self.before.rank, "rank_of_expected_after": self.after.rank,
                "moves": [{"entity": e, "before": b, "after": a} for e, b, a in self.moves],
                "responsible": list(self.responsible)}


@dataclass
class RuleSetDiff:
    old: dict[str, str]
    new: dict[str, str]
    rules: list[RuleChange]
    other: list[str]
    cases: list[CaseChange]           # cases whose ranking (order of entities) changed
    compared: int                     # cases analysed under both rule sets
    unreadable: list[str] = field(default_factory=list)   # cases one of the rule sets could not read

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "compared": self.compared,
                "rule_changes": [{"rule": c.rule, "kind": c.kind, "fields": list(c.fields), "file": c.file,
                                  "line": c.line} for c in self.rules],
                "other_changes": self.other, "changed_cases": [c.to_dict() for c in self.cases],
                "unreadable": self.unreadable}


def diff_runs(old_k: Knowledge, new_k: Knowledge, before: CaseRun, after: CaseRun) -> RuleSetDiff:
    changes = rule_changes(old_k, new_k)
    scoring = {c.rule for c in changes if c.kind != "changed" or any(f.split(".")[0] in SCORING_FIELDS
                                                                       for f in c.fields)}
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
        if a.ranking == b.ranking:
            continue
        # changed rules that fired here, and rules that fire in one run only (a vocabulary change)
        responsible = sorted((scoring & (a.matched | b.matched)) | (a.matched ^ b.matched)) + other
        cases.append(CaseChange(b.key, b.case_id, b.file, b.expected, b, a, tuple(responsible)))
    return RuleSetDiff(before.rules, after.rules, changes, other, cases, compared, unreadable)


def diff_rule_sets(old_k: Knowledge, new_k: Knowledge, paths: Iterable[str | os.PathLike[str]]) -> RuleSetDiff:
    paths = list(paths)
    return diff_runs(old_k, new_k, run_cases(old_k, paths), run_cases(new_k, paths))
