"""Regression-testing a rule set on cases: ``ddx rules test``, its baselines and ``--fit-temperature``;
the runs that ``ddx rules diff`` and the rule editor's impact preview compare (:mod:`ddx.authoring.diff`).

A run analyses every case under some paths with one rule set and keeps, per
case, the ranking, the rules that fired and the rank of the expected
diagnosis. A run saved as JSON (``--save``) is the baseline a later run is
checked against for regressions.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ddx.analysis import Analysis, Analyzer, analyze_paths
from ddx.calibration import CalibrationReport, held_cases, leave_one_out
from ddx.errors import DdxError
from ddx.evaluate import Evaluation, score
from ddx.knowledge import NEGATION_SUFFIX, Knowledge
from ddx.ranking import Ranker, rate_text
from ddx.yamlio import ReadError, atomic_write_text, load_data, strip_lines

BASELINE_FORMAT = "ddx-rules-test/1"


def packaged_cases_dir() -> Path | None:
    """The sample cases shipped with ddx: inside the wheel, or the checkout's cases/."""
    package = Path(__file__).resolve().parent.parent  # ddx/ (this module is ddx/authoring/regression.py)
    for candidate in (package / "_cases", package.parent / "cases"):
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
    """``{directory, version, hash}`` of a rule set (the hash's first 12 hex digits), as a saved run records it."""
    return {"directory": str(knowledge.directory), "version": knowledge.settings.version, "hash": knowledge.content_hash[:12]}


@dataclass(frozen=True)
class CaseResult:
    """One case ranked by ``ddx rules test``: the entities in order with their probabilities, the matched rule
    ids and the rank of the expected diagnosis (a subtype counts as its entity); or the problems that kept it
    from being ranked."""

    key: str  # "<file name>#<case id>": stable across folders and runs
    case_id: str
    file: str | None
    expected: str | None = None
    ranking: tuple[str, ...] = ()
    probabilities: tuple[float, ...] = ()
    matched: frozenset[str] = frozenset()  # rule ids (spec ids; a negated half counts as its rule)
    rank: int | None = None  # rank of the expected entity (a variant counts as its parent)
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

    @property
    def expected_probability(self) -> float | None:
        """The probability of the expected diagnosis (its entity, for a subtype), or None without one."""
        return self.probabilities[self.rank - 1] if self.rank is not None and self.rank <= len(self.probabilities) else None

    def rank_of(self, slug: str) -> int | None:
        return self.ranking.index(slug) + 1 if slug in self.ranking else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "case": self.case_id,
            "file": self.file,
            "expected": self.expected,
            "top": self.top,
            "rank_of_expected": self.rank,
        }
        if self.ok:
            out["probability"] = round(self.top_probability or 0.0, 4)
            if self.expected_probability is not None:  # compared with a later run's (--baseline): weakened cases
                out["probability_of_expected"] = self.expected_probability  # unrounded: compared as it was computed
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
        rank = next(
            (
                i
                for i, slug in enumerate(ranking, start=1)
                if slug in (a.expected, knowledge.parent(a.expected)) or knowledge.parent(slug) == a.expected
            ),
            None,
        )
    return CaseResult(
        key,
        a.case_id,
        a.file,
        a.expected,
        ranking,
        tuple(r.probability for r in a.ranking),
        frozenset(m.removesuffix(NEGATION_SUFFIX) for m in a.matched),
        rank,
    )


_DOI = re.compile(r"\b10\.\d{4,9}/[^\s;,\"'()]+(?:\([^\s;,\"'()]*\)[^\s;,\"'()]*)*")
_PMID = re.compile(r"\bPMID:?\s*(\d{6,9})\b", re.IGNORECASE)
_DOI_TAIL = re.compile(r"(/(full|abstract|pdf|epdf))?[.:\]}>]*$", re.IGNORECASE)


def identifiers(citation: str) -> frozenset[str]:
    """The DOIs (lower case; closing punctuation and a publisher's ``/full``, ``/abstract`` or ``/pdf`` dropped)
    and PMIDs (``PMID:12345678``) named in a citation."""
    dois = {_DOI_TAIL.sub("", m.group(0)).lower() for m in _DOI.finditer(citation)}
    return frozenset(dois | {f"PMID:{m.group(1)}" for m in _PMID.finditer(citation)})


def _names(citation: str, case_id: str) -> bool:
    """The citation names ``case_id`` as a whole word (so 'case-1' is not read in 'case-10')."""
    return re.search(rf"(?<![\w-]){re.escape(case_id)}(?![\w-])", citation) is not None


@dataclass(frozen=True)
class SharedSource:
    """A cited figure whose citation names a test case's DOI or PMID: the case is not independent of it."""

    case: str  # the case id
    identifier: str  # the DOI or 'PMID:n' they share
    rule: str  # rule id
    profile: str  # the entity or subtype whose figure it is
    count: str  # the series' k/n, the cell's, or the figure (a cited figure without a denominator)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def shared_sources(knowledge: Knowledge, cases: Iterable[tuple[str, str | None]]) -> list[SharedSource]:
    """Cited figures — a cell's count ``n`` (its own source, else the rule's), one series of ``pooled``, or a
    figure without a denominator that gives its own ``source`` — whose citation names the DOI or PMID of a
    case's ``source``, for ``cases`` given as ``(case id, source)``; cases/README.md asks that a test case is
    never also counted in a figure. A citation that names the case id says the figure leaves the case out (for
    example "case 3 being the test case headneckpathol-2022-srms-face-43f") and is not reported. Estimates
    are not checked (a reason may cite a case's paper for what it says beyond the case), nor cases whose
    source has no DOI or PMID. Returns the pairs sorted by case, rule, profile and identifier.
    """
    wanted: dict[str, list[str]] = {}
    for case_id, source in cases:
        for ident in identifiers(source or ""):
            wanted.setdefault(ident, []).append(case_id)
    if not wanted:
        return []
    found: set[SharedSource] = set()
    for rule in knowledge.active_rules:
        if rule.negated:
            continue
        for profile, cell in (rule.spec.likelihood or {}).items():
            if cell.estimate or (cell.total is None and not cell.source):
                continue
            if cell.pooled:
                series = [(s.n, s.source) for s in cell.pooled]
            else:
                series = [(cell.n or f"{cell.p:g}", cell.source or rule.spec.source or "")]
            for count, citation in series:
                for ident in identifiers(citation):
                    for case_id in wanted.get(ident, ()):
                        if not _names(citation, case_id):
                            found.add(SharedSource(case_id, ident, rule.spec.id, profile, count))
    return sorted(found, key=lambda f: (f.case, f.rule, f.profile, f.identifier))


@dataclass
class CaseRun:
    """One rule set run over some cases."""

    rules: dict[str, str]
    results: list[CaseResult]
    evaluation: Evaluation
    never_matched: list[str] = field(default_factory=list)  # active rules that fired in no case
    calibration: CalibrationReport | None = None  # leave-one-out over the scored cases
    shared: list[SharedSource] = field(default_factory=list)  # cited figures naming a test case's source

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
        return {
            "format": BASELINE_FORMAT,
            # what each case keeps beyond the format's first keys (a baseline without it is compared by rank only)
            "keeps": ["probability_of_expected"],
            "rules": self.rules,
            "summary": {
                "cases": len(self.results),
                "scored": self.evaluation.n,
                "top1": self.evaluation.top1_hits,
                "top3": self.evaluation.top3_hits,
                "failed": len(self.failed),
            },
            "never_matched": self.never_matched,
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "shared_sources": [f.to_dict() for f in self.shared],
            "cases": {r.key: r.to_dict() for r in self.results},
        }


def run_cases(knowledge: Knowledge, paths: Iterable[str | os.PathLike[str]], *, analyzer: Analyzer | None = None) -> CaseRun:
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
    for i, r in enumerate(results):  # a repeated id is an error row (ddx.loader.read_cases): numbered, kept
        n = seen[r.key] = seen.get(r.key, 0) + 1
        if n > 1:
            results[i] = replace(r, key=f"{r.key}~{n}")
    fired = set().union(*(r.matched for r in results)) if results else set()
    active = dict.fromkeys(r.spec.id for r in knowledge.active_rules)
    held = held_cases(analyses, knowledge)
    ranker = analyzer.ranker if analyzer is not None else Ranker(knowledge)
    return CaseRun(
        rules_info(knowledge) | {"engine": analyzer.engine},
        results,
        score(analyses, knowledge),
        [rid for rid in active if rid not in fired],
        leave_one_out(ranker, held) if held else None,
        shared_sources(knowledge, ((a.case_id, a.case.source) for a in analyses if a.case is not None)),
    )


def write_temperature(knowledge: Knowledge, report: CalibrationReport) -> Path:
    """Set ``calibration.temperature`` and its derivation in the rules' settings.yaml (the previous
    version goes into the history, as for any rule edit). Raises DdxError when the file has no
    ``calibration:`` block with a ``temperature:`` line."""
    import re
    from datetime import date

    from ddx.authoring.edit import read_file, save_file

    path = knowledge.directory / "settings.yaml"
    text, digest = read_file(path)
    block = re.search(r"^calibration:\n((?:[ \t]+.*\n|[ \t]*\n)*)", text, re.M)
    if block is None or not re.search(r"^[ \t]+temperature:", block.group(1), re.M):
        raise DdxError(f"{path}: no 'calibration:' block with a 'temperature:' line to update")
    derivation = (
        f"Fitted by ddx rules test --fit-temperature on {date.today().isoformat()}: the grid value "
        f"(0.20-1.00, step 0.02) with the lowest log loss of the confirmed diagnosis over "
        f"{len(report.predictions)} scored cases; leave-one-out (T refitted without each case): "
        f"top-1 {rate_text(report.top1)}, ECE {report.ece:.3f}."
    )
    body = re.sub(
        r"^([ \t]+)temperature:.*$", lambda m: f"{m.group(1)}temperature: {report.temperature:g}", block.group(1), count=1, flags=re.M
    )
    if re.search(r"^[ \t]+derivation:", body, re.M):
        body = re.sub(
            r"^([ \t]+)derivation:.*$", lambda m: f"{m.group(1)}derivation: {json.dumps(derivation)}", body, count=1, flags=re.M
        )
    else:
        indent = re.search(r"^([ \t]+)temperature:", body, re.M)
        body += f"{indent.group(1) if indent else '  '}derivation: {json.dumps(derivation)}\n"
    new = text[: block.start(1)] + body + text[block.end(1) :]
    save_file(path, new, digest)
    return path


def save_run(run: CaseRun, path: str | os.PathLike[str]) -> None:
    """Write a run as JSON (:meth:`CaseRun.to_dict`) to ``path``, atomically: an interrupted save leaves the
    previous file whole. OSError when the file cannot be written."""
    atomic_write_text(Path(path), json.dumps(run.to_dict(), indent=1, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class BaselineCase:
    """One case of a saved baseline run (``ddx rules test --save``): its leader and the expected diagnosis's
    rank and probability."""

    key: str
    expected: str | None
    top: str | None
    rank: int | None
    expected_probability: float | None = None  # absent from baselines saved before 2026-12-02


def load_baseline(path: str | os.PathLike[str]) -> tuple[dict[str, str], dict[str, BaselineCase], bool]:
    """A run saved by ``ddx rules test --save``: its rules (directory, version, hash), its cases by key, and
    whether it keeps each case's probability of the expected diagnosis (saved since 2026-12-02).

    Raises DdxError (naming the file and the case) for a file that is not such a run."""
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
                raise DdxError(f"{p}: case {key!r}: {field_name} must be {'a number' if kind is int else 'text'}, got {value!r}")
        shown = c.get("probability_of_expected")
        if shown is not None and (isinstance(shown, bool) or not isinstance(shown, (int, float)) or not 0 <= shown <= 1):
            raise DdxError(f"{p}: case {key!r}: probability_of_expected must be a number from 0 to 1, got {shown!r}")
        cases[str(key)] = BaselineCase(
            str(key), c.get("expected"), c.get("top"), c.get("rank_of_expected"), None if shown is None else float(shown)
        )
    keeps = data.get("keeps") or []
    return {str(k): str(v) for k, v in rules.items()}, cases, isinstance(keeps, list) and "probability_of_expected" in keeps


@dataclass(frozen=True)
class Regression:
    """A case whose expected diagnosis moved between a baseline and this run: leaders, ranks and, where both
    runs saved it, the expected diagnosis's probability."""

    key: str
    expected: str | None
    before_top: str | None
    after_top: str | None
    before_rank: int | None
    after_rank: int | None
    before_probability: float | None = None  # of the expected diagnosis (None: the baseline did not save it)
    after_probability: float | None = None

    @property
    def worse(self) -> bool:
        if self.expected is None:
            return False
        before = self.before_rank if self.before_rank is not None else 10**6
        after = self.after_rank if self.after_rank is not None else 10**6
        return after > before

    @property
    def weakened(self) -> bool:
        """Its expected diagnosis's probability fell by :data:`WEAKENED_BY` or more, or to :data:`WEAKENED_TO` of
        what it was (from :data:`WEAKENED_FROM`); False where either run's probability is unknown."""
        if self.expected is None or self.before_probability is None or self.after_probability is None:
            return False
        before, after = self.before_probability, self.after_probability
        return before - after >= WEAKENED_BY or (before >= WEAKENED_FROM and after <= WEAKENED_TO * before)


# a case whose expected diagnosis keeps its rank but loses this much probability (absolute), or falls to this
# share of what it had (from at least WEAKENED_FROM: 0.09 -> 0.01 on a badly ranked case), is listed as weakened
WEAKENED_BY = 0.10
WEAKENED_TO = 0.5
WEAKENED_FROM = 0.02


@dataclass
class BaselineComparison:
    """This run against a saved baseline: cases ranked lower, weakened, improved or with a new leader, cases
    in one run only, and the log loss before and after."""

    regressions: list[Regression] = field(default_factory=list)  # expected diagnosis ranked lower
    # expected diagnosis not ranked lower, but its probability fell by WEAKENED_BY or more: an edit can cost
    # every case of an entity probability without moving a rank, and rank changes alone called it an improvement
    weakened: list[Regression] = field(default_factory=list)
    improvements: list[Regression] = field(default_factory=list)
    changed_top: list[Regression] = field(default_factory=list)  # leader changed (any case)
    missing: list[str] = field(default_factory=list)  # in the baseline, not in this run
    new: list[str] = field(default_factory=list)  # in this run, not in the baseline
    # mean -ln P(expected) over the cases with an expected diagnosis in both runs (the baseline saved it): before, after, n
    log_loss: tuple[float, float, int] | None = None
    # the cases whose expected diagnosis ranked first, over those with one in both runs: before, after, n
    top1: tuple[int, int, int] | None = None
    # whether the baseline kept each case's probability of the expected diagnosis (saved since 2026-12-02);
    # without it nothing can be weakened and no log loss compared
    probabilities_saved: bool = False
    changed_expected: list[str] = field(default_factory=list)  # cases whose expected diagnosis was edited: not compared


def compare_baseline(run: CaseRun, baseline: dict[str, BaselineCase], probabilities_saved: bool = False) -> BaselineComparison:
    """This run against a saved one, case by case (keys as :func:`case_key`): the expected diagnosis ranked lower
    (regressions), kept in rank but weakened (:data:`WEAKENED_BY`, :data:`WEAKENED_TO`), ranked higher, the
    leaders that changed, and the mean log loss of the expected diagnosis over the cases both runs scored. A case
    whose expected diagnosis differs between the runs is not compared (``changed_expected``); its leader change is
    still listed. ``probabilities_saved``: the baseline says it keeps each case's probability of the expected."""
    out = BaselineComparison(probabilities_saved=probabilities_saved)
    now = run.by_key
    pairs: list[tuple[float, float]] = []
    firsts = [0, 0, 0]  # expected ranked first before, after; cases with an expected diagnosis in both
    for key, old in baseline.items():
        cur = now.get(key)
        if cur is None or not cur.ok:
            out.missing.append(key)
            continue
        if old.expected != cur.expected:  # the case's expected diagnosis was edited: its ranks are of two diagnoses
            out.changed_expected.append(key)
            if old.top != cur.top:
                out.changed_top.append(Regression(key, cur.expected, old.top, cur.top, old.rank, cur.rank))
            continue
        change = Regression(
            key, cur.expected, old.top, cur.top, old.rank, cur.rank, old.expected_probability, cur.expected_probability
        )
        if change.worse:
            out.regressions.append(change)
        elif cur.expected and change.before_rank != change.after_rank:
            out.improvements.append(change)
        elif change.weakened:
            out.weakened.append(change)
        if cur.expected and old.expected_probability is not None and cur.expected_probability is not None:
            pairs.append((old.expected_probability, cur.expected_probability))
        if cur.expected:
            firsts[0] += old.rank == 1
            firsts[1] += cur.rank == 1
            firsts[2] += 1
        if old.top != cur.top:
            out.changed_top.append(change)
    out.new = [k for k in now if k not in baseline]
    if firsts[2]:
        out.top1 = (firsts[0], firsts[1], firsts[2])
    if pairs:
        floor = 1e-12  # a probability of 0 would be an infinite loss; ddx never gives one
        before = sum(-math.log(max(b, floor)) for b, _ in pairs) / len(pairs)
        after = sum(-math.log(max(a, floor)) for _, a in pairs) / len(pairs)
        out.log_loss = (before, after, len(pairs))
    return out
