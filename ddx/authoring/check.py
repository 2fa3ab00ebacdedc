"""``ddx rules check``: everything that can be wrong with a rules directory.

Errors (the rules cannot be used, or a rule cannot do what it says):
schema and syntax, unknown vocabulary terms, duplicate ids, missing sources,
a source that is not a citation of the literature (a file path, no year, no
journal, book, website or identifier: :mod:`ddx.citations`),
weights out of range, conditions no case can satisfy, a finding and its
negation that can hold at once, failing per-rule examples, durable-rules
structural limits.

Warnings (the rules work, but probably not as meant): two rules that fire on
exactly the same findings (counted twice, or scored two different ways), a
rule subsumed by a broader one with the same weights, one alternative of a
condition that can never hold, an entity that can never lead (another is
weighed at least as high by every rule and has at least its prior), limits
being approached, two rules with the same entity profile that fire together
on at least 80 % of the generated cases where either fires (a cheap proxy for
one finding counted twice), a figure (a count or a cited value, not an
estimate) whose only citation is a summary page such as PathologyOutlines
(:func:`ddx.citations.summary_only`): the primary paper it reports is to be
named, or the value marked an estimate.

Notes (no effect on the exit code): vocabulary terms that no active rule
reads; a case that records them lists them as "recorded, not used by the
ranking".

Every message names its file and line. The condition logic
(:mod:`ddx.authoring.satisfiability`) is exact for term findings (their values
come from the vocabulary), for number ranges and for list membership; it does
not know relations between different findings (a site and its site group), so
it may miss a contradiction of that kind, never report a false one.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from ddx.authoring.satisfiability import Logic
from ddx.citations import citation_problem, split_citations, summary_only
from ddx.engine import DurableMatcher, PythonMatcher, durable_problem, plan_shards
from ddx.engine_limits import (
    APPROACH,
    ENGINE_FACT_PROPERTIES,
    ENGINE_RULES,
    ENGINE_RULES_PER_PATH,
    ENGINE_TRUE_PATHS,
    MAX_BRANCHES_PER_RULE,
    MAX_FACT_PROPERTIES,
    MAX_RULES,
    MAX_RULES_PER_PATH,
)
from ddx.errors import DdxError, Problem
from ddx.facts import case_facts
from ddx.knowledge import Knowledge, Rule, load_knowledge_partial, resolve_rules_dir
from ddx.knowledge.case import problems_from_validation
from ddx.knowledge.conditions import (
    ConditionError,
    branch_count,
    branches,
    describe,
    parse_condition,
    reads_nothing,
)
from ddx.ranking import ranker_for
from ddx.yamlio import strip_lines

Severity = Literal["error", "warning", "note"]


@dataclass
class Message:
    """One finding of ``ddx rules check``: its severity (error, warning, note) and the problem (file, line, code)."""

    severity: Severity
    problem: Problem

    @property
    def code(self) -> str:
        return self.problem.code or "schema"

    def __str__(self) -> str:
        return f"{self.severity} [{self.code}] {self.problem}"

    def to_dict(self) -> dict[str, object]:
        return {"severity": self.severity, "check": self.code, **self.problem.to_dict()}


@dataclass
class CheckReport:
    """What ``ddx rules check`` found in a rules directory: its messages, how many rule examples ran, and the
    knowledge loaded (None when the rules could not be loaded)."""

    directory: Path
    knowledge: Knowledge | None
    messages: list[Message] = field(default_factory=list)
    examples_run: int = 0
    shards: int = 0  # durable-rules rulesets the active rules are split into
    texts: Mapping[str, str] = field(default_factory=dict)  # unsaved file texts checked (for line numbers)
    # what a rule set that failed still says of itself: its settings' version (None when settings.yaml was not
    # read) and the hash of its files as read, so a failed check's report names the rules it checked
    read_version: str | None = None
    read_hash: str | None = None

    @property
    def errors(self) -> list[Message]:
        return [m for m in self.messages if m.severity == "error"]

    @property
    def warnings(self) -> list[Message]:
        return [m for m in self.messages if m.severity == "warning"]

    @property
    def notes(self) -> list[Message]:
        return [m for m in self.messages if m.severity == "note"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(
        self,
        severity: Severity,
        code: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        suggestions: list[str] | None = None,
    ) -> None:
        self.messages.append(Message(severity, Problem(message, file=file, line=line, suggestions=suggestions or [], code=code)))

    def to_dict(self) -> dict[str, object]:
        k = self.knowledge
        return {
            "rules": {
                "directory": str(self.directory),
                "version": k.settings.version if k else self.read_version,
                "hash": k.content_hash[:12] if k else self.read_hash,
            },
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "notes": len(self.notes),
            "examples_run": self.examples_run,
            "messages": [m.to_dict() for m in self.messages],
        }


def check_rules(
    directory: str | os.PathLike[str] | None = None, *, overrides: Mapping[Path, str] | None = None, engine: bool = True
) -> CheckReport:
    """Check a rules directory (``overrides``: unsaved file texts, as for :func:`load_knowledge`).

    ``engine`` also compiles the rules into durable-rules and runs the examples
    through it (not only through the plain-Python oracle).
    """
    root = resolve_rules_dir(directory)
    report = CheckReport(root, None, texts={str(Path(f)): t for f, t in (overrides or {}).items()})
    knowledge, problems = load_knowledge_partial(root, overrides=overrides)
    # a part not read or refused says once what it leaves unchecked (a note: its own error is the error)
    report.messages += [Message("note" if p.code == "not-checked" else "error", p) for p in problems]
    if knowledge is None:
        return report
    settings_file = str(root / "settings.yaml")
    if not any(p.file == settings_file for p in problems):
        report.read_version = knowledge.settings.version
    report.read_hash = knowledge.content_hash[:12]
    if problems:
        # the rules that loaded still get the checks of single rules, so one pass reports every problem;
        # the checks of the set as a whole wait for a set that loads (report.knowledge stays None)
        checks = [_check_sources, _check_summary_sources, _check_reason_figures, _check_cell_sources, _check_conditions]
        report.add(
            "note",
            "partial",
            "the checks of the rule set as a whole (overlaps, entities that cannot "
            "lead, limits, co-firing, unused terms) run once the errors above are fixed",
            file=str(root),
        )
    else:
        report.knowledge = knowledge
        checks = [
            _check_sources,
            _check_conditions,
            _check_overlaps,
            _check_narrowed,
            _check_reach,
            _check_limits,
            _check_cofiring,
            _check_unused_terms,
            _check_estimate_reasons,
            _check_summary_sources,
            _check_reason_figures,
            _check_cell_sources,
        ]
    for check in checks:
        _guarded(check.__name__, report, lambda c=check: c(knowledge, report))
    if not problems or _schema_ready(knowledge):
        _guarded("examples", report, lambda: _check_examples(knowledge, report, engine=engine and not problems))
    order = {"error": 0, "warning": 1, "note": 2}
    report.messages.sort(key=lambda m: (order[m.severity], m.problem.file or "", m.problem.line or 0))
    return report


def _schema_ready(k: Knowledge) -> bool:
    """Whether cases can be validated with a partly loaded knowledge base (its entity names are consistent)."""
    try:
        return k.case_schema is not None
    except ValueError:
        return False


def _guarded(name: str, report: CheckReport, run: Any) -> None:
    """A check that fails unexpectedly is reported as an error, never a crash (of the CLI or the editor)."""
    try:
        run()
    except DdxError as exc:
        report.add("error", "engine", str(exc), file=str(report.directory))
    except Exception as exc:  # pragma: no cover - a defect in a check; reported, not raised
        report.add(
            "error",
            "internal",
            f"the {name.strip('_')} check failed ({type(exc).__name__}: {exc}); please report this with the rule files",
            file=str(report.directory),
        )


# ------------------------------------------------------------ the checks


def _where(rule: Rule) -> tuple[str, int | None]:
    return rule.file, rule.line or rule.spec_line


def _check_conditions(k: Knowledge, report: CheckReport) -> None:
    logic = Logic(k.vocab)
    halves: dict[str, list[Rule]] = {}
    for rule in k.rules:
        if rule.spec.status == "retired":  # kept for the record, never used
            continue
        halves.setdefault(rule.spec.id, []).append(rule)
        file, line = _where(rule)
        part = "negated_by" if rule.negated else "when"
        if not logic.satisfiable(rule.condition):
            report.add(
                "error",
                "unsatisfiable",
                f"rule {rule.spec.id}: its '{part}' condition can never hold ({describe(rule.condition)})",
                file=file,
                line=line,
            )
            continue
        raw = rule.spec.negated_by if rule.negated else rule.spec.when
        for item, item_line in _any_items(raw):
            try:
                node = parse_condition(item, k.vocab)
            except ConditionError:
                continue
            if not logic.satisfiable(node):
                report.add(
                    "warning",
                    "unsatisfiable",
                    f"rule {rule.spec.id}: in its '{part}' condition, the alternative {describe(node)} can never hold",
                    file=file,
                    line=item_line or line,
                )
    for spec_id, pair in halves.items():
        if len(pair) == 2 and logic.jointly(pair[0].condition, pair[1].condition):
            file, line = _where(pair[1])
            report.add(
                "error",
                "conflict",
                f"rule {spec_id}: a case can satisfy both 'when' and 'negated_by', so "
                "the finding and its negation would both be scored",
                file=file,
                line=line,
            )


def _any_items(raw: Any) -> Iterable[tuple[Any, int | None]]:
    """Every item of every ``any:`` list the author wrote in a condition, with its line."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            if key == "any" and isinstance(value, list):
                for item in value:
                    yield item, item.get("__line__") if isinstance(item, dict) else None
            if key in ("any", "all") and isinstance(value, list):
                for item in value:
                    yield from _any_items(item)
            elif key == "not":
                yield from _any_items(value)


def _weights(rule: Rule, k: Knowledge) -> tuple[float, ...] | None:
    """The probabilities the ranker uses for the rule, per profile (after shrinkage, clamp, negation)."""
    if rule.spec.likelihood is None:
        return None
    ranker = ranker_for(k)
    used = ranker.p_used.get(rule.id)
    return tuple(round(p, 6) for p in used) if used is not None else None


FOLD_NAMES = 5  # rules named in one folded warning; the rest are counted


def _named(items: Sequence[Rule | str]) -> str:
    """Rules (or entity slugs) named in a folded warning: the first FOLD_NAMES, then a count."""
    ids = [i if isinstance(i, str) else i.id for i in items]
    if len(ids) > FOLD_NAMES:
        return ", ".join(ids[:FOLD_NAMES]) + f" and {len(ids) - FOLD_NAMES} more"
    return ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + " and " + ids[-1]


def _times(n: int) -> str:
    return {2: "twice", 3: "three times"}.get(n, f"{n} times")


def _ways(n: int) -> str:
    return {2: "two ways", 3: "three ways"}.get(n, f"{n} ways")


def _check_overlaps(k: Knowledge, report: CheckReport) -> None:
    """Rules that fire together on the same findings: redundant, subsumed or conflicting.

    Rules with the same condition are grouped first (one warning per group,
    however many rules it holds); implication is then tested only between
    groups that read a common finding, so the check grows with the number of
    distinct conditions that share findings, not with the square of the rules.
    """
    logic = Logic(k.vocab)
    groups: dict[frozenset[Any], list[Rule]] = {}
    for r in k.active_rules:
        sig = logic.signature(r.condition)
        if sig:  # a condition that can never hold is reported elsewhere
            groups.setdefault(sig, []).append(r)
    weights = {r.id: _weights(r, k) for members in groups.values() for r in members}
    for members in groups.values():
        _same_condition(members, weights, report)
    reps = [members[0] for members in groups.values()]
    members_of = {members[0].id: members for members in groups.values()}
    by_key: dict[str, list[int]] = {}
    for i, r in enumerate(reps):
        for key in {key for alt in logic.alternatives(r.condition) if alt for key in alt}:
            by_key.setdefault(key, []).append(i)
    subsumed: dict[str, list[Rule]] = {}
    for i, a in enumerate(reps):
        partners = {j for key in {key for alt in logic.alternatives(a.condition) if alt for key in alt} for j in by_key[key] if j > i}
        for j in sorted(partners):
            b = reps[j]
            a_in_b, b_in_a = logic.implies(a.condition, b.condition), logic.implies(b.condition, a.condition)
            if a_in_b == b_in_a:  # neither, or equal in effect though written differently
                if a_in_b:
                    _same_condition([*members_of[a.id], *members_of[b.id]], weights, report)
                continue
            narrow, broad = (a, b) if a_in_b else (b, a)
            for n in members_of[narrow.id]:
                same = [m for m in members_of[broad.id] if weights[m.id] is not None and weights[m.id] == weights[n.id]]
                subsumed.setdefault(n.id, []).extend(same)
    by_id = {r.id: r for members in groups.values() for r in members}
    for narrow_id, broader in subsumed.items():
        if not broader:
            continue
        file, line = _where(by_id[narrow_id])
        report.add(
            "warning",
            "subsumed",
            f"rule {narrow_id} is subsumed by {_named(broader)}: whenever it fires, "
            f"{'that rule fires' if len(broader) == 1 else 'they fire'} too with the same weights "
            f"({_at(broader[0])})",
            file=file,
            line=line,
        )


def _check_narrowed(k: Knowledge, report: CheckReport) -> None:
    """Rules filled in from another (``likelihood_from``) score the base's finding in narrower groups of cases,
    so no two of the family (the base and every rule narrowed from it) may fire on one case, neither their
    findings nor their negations (``negated_by``): some case meeting two of them is an error (the finding, or
    its negation, would count twice, or both would). A base that is not active while a rule narrowed from it is
    is an error (write the figures out, or make the base active); a narrowed rule that is not active while its
    base is, a warning (the cases of its group may go unscored)."""
    logic = Logic(k.vocab)
    halves: dict[str, list[Rule]] = {}
    for r in k.rules:
        halves.setdefault(r.spec.id, []).append(r)
    families: dict[str, list[str]] = {}
    for spec_id, rs in halves.items():
        base_id = rs[0].spec.likelihood_from
        if base_id is not None and base_id in halves:  # a base that is not a rule is a load problem, reported there
            families.setdefault(base_id, []).append(spec_id)
    for base_id, narrowed in families.items():
        base = halves[base_id][0]
        for spec_id in narrowed:
            r = halves[spec_id][0]
            file, line = _where(r)
            if r.spec.status == "active" and base.spec.status != "active":
                report.add(
                    "error",
                    "narrowed",
                    f"rule {spec_id} takes its other figures from {base_id}, which is {base.spec.status}: write the "
                    f"figures out in {spec_id} (and drop likelihood_from), or make {base_id} active",
                    file=file,
                    line=line,
                )
            elif r.spec.status != "active" and base.spec.status == "active":
                report.add(
                    "warning",
                    "narrowed",
                    f"rule {spec_id} is {r.spec.status} while {base_id}, whose figures it takes, is active: the "
                    f"cases of its narrower group are scored by neither if {base_id}'s condition leaves them out",
                    file=file,
                    line=line,
                )
        members = [halves[i] for i in (base_id, *narrowed) if halves[i][0].spec.status == "active"]
        for i, a_halves in enumerate(members):
            for b_halves in members[i + 1 :]:
                if logic.signature(a_halves[0].condition) == logic.signature(b_halves[0].condition):
                    continue  # two copies of one rule: the redundancy checks report them (redundant, conflict)
                clash = next(((a, b) for a in a_halves for b in b_halves if logic.jointly(a.condition, b.condition)), None)
                if clash is None:
                    continue
                first, second = clash  # the members are in order, the base first
                file, line = _where(second)
                what = (
                    "the finding"
                    if not first.negated and not second.negated
                    else "its negation"
                    if first.negated and second.negated
                    else "the finding and its negation"
                )
                report.add(
                    "error",
                    "narrowed",
                    f"rules {first.id} and {second.id} (one narrowed from the other's family, likelihood_from "
                    f"{base_id}) can fire on the same case, so {what} would count twice: narrow their conditions so "
                    "that no case meets both — each narrowed rule's extra condition, and its opposite in the base "
                    "(the packaged site rules read the age three ways: patient.age {gte: 18}, {lt: 18}, and "
                    f"{{known: false}} in the base), in negated_by as in when ({_at(first)})",
                    file=file,
                    line=line,
                )


def _same_condition(members: Sequence[Rule], weights: Mapping[str, Any], report: CheckReport) -> None:
    """One warning per kind for rules that fire on exactly the same findings (two rules of one spec are one rule)."""
    if len({r.spec.id for r in members}) < 2:
        return
    by_weights: dict[Any, list[Rule]] = {}
    for r in members:
        by_weights.setdefault(weights[r.id], []).append(r)
    caveats = by_weights.pop(None, [])
    if len({r.spec.id for r in caveats}) > 1:
        file, line = _where(caveats[-1])
        report.add(
            "warning",
            "redundant",
            f"rules {_named(caveats)} fire on exactly the same findings and all only show a caveat",
            file=file,
            line=line,
        )
    for same in by_weights.values():
        if len({r.spec.id for r in same}) > 1:
            file, line = _where(same[-1])
            report.add(
                "warning",
                "redundant",
                f"rules {_named(same)} fire on exactly the same findings with the "
                f"same weights: the finding is counted {_times(len(same))} ({_at(same[0])})",
                file=file,
                line=line,
            )
    if len(by_weights) > 1:
        scoring = [group[0] for group in by_weights.values()]
        file, line = _where(scoring[-1])
        report.add(
            "warning",
            "conflict",
            f"rules {_named(scoring)} fire on exactly the same findings with different "
            f"weights: the finding is scored {_times(len(scoring))}, {_ways(len(scoring))} ({_at(scoring[0])})",
            file=file,
            line=line,
        )


def _at(rule: Rule) -> str:
    file, line = _where(rule)
    return f"{Path(file).name}:{line}" if line else Path(file).name


RELEVANT_EFFECT = 0.3  # |log10 ratio| at which a rule counts as speaking to an entity (a factor of 2)


def entity_effect(rule: Rule, k: Knowledge, slug: str) -> float | None:
    """The weight of the rule's finding for ``slug`` as the ranker uses it: log10 of the probability
    used (after shrinkage and clamp) over the finding's rate across the differential. ``slug`` is an
    entity (its own profile: the rest, when it has subtypes) or a subtype. None for a caveat-only
    rule; a draft or retired rule gets the weight it would have if it were active."""
    if rule.spec.likelihood is None:
        return None
    ranker = ranker_for(k)
    try:
        j = ranker.profile_of(slug)
    except KeyError:
        return None
    return ranker.weights_of(rule)[j]


def _check_reach(k: Knowledge, report: CheckReport) -> None:
    """A profile (entity or subtype) no case can rank first: another is weighed at least as high
    by every rule (both halves, as the ranker uses them) and has at least its prior, so it always
    ranks above."""
    logic = Logic(k.vocab)
    columns = [w for r in k.active_rules if (w := _weights(r, k)) is not None and logic.satisfiable(r.condition)]
    ranker = ranker_for(k)
    slugs = [p.slug for p in ranker.profiles]
    priors = ranker.profile_prior
    ent_file = str(k.directory / "entities.yaml")
    # profiles with the same prior and the same weight in every rule: one warning per such group
    groups: dict[tuple[float, ...], list[int]] = {}
    for i in range(len(slugs)):
        groups.setdefault((priors[i], *(w[i] for w in columns)), []).append(i)
    for members in groups.values():
        if len(members) > 1:
            names = [slugs[i] for i in members]
            report.add(
                "warning",
                "unreachable",
                f"entities {_named(names)} have the same prior and every rule weighs them the same: no finding can tell them apart",
                file=ent_file,
                line=k.entity_lines.get(slugs[members[1]]),
            )
    # a profile that another (not its twin) weighs at least as high everywhere, with at least its prior
    vectors = list(groups)
    for vi in vectors:
        for vj in vectors:
            if vj is not vi and all(b >= a for a, b in zip(vi, vj, strict=True)):
                other = slugs[groups[vj][0]]
                for i in groups[vi]:
                    report.add(
                        "warning",
                        "unreachable",
                        f"entity {slugs[i]} can never lead: every rule weighs {other} "
                        f"at least as high and {other}'s prior is no lower, so {other} always ranks above it",
                        file=ent_file,
                        line=k.entity_lines.get(slugs[i]),
                    )
                break


def _check_limits(k: Knowledge, report: CheckReport) -> None:
    """durable-rules' structural limits: errors past our margins (set at load time), warnings when near."""
    rule_dir = str(k.directory / "rules")
    active = k.active_rules

    def near(used: int, limit: int, what: str, engine: str, file: str, line: int | None = None) -> None:
        if used >= APPROACH * limit:
            report.add("warning", "engine-limit", f"{what}: {used} of at most {limit} ({engine})", file=file, line=line)

    near(len(active), MAX_RULES, "active rule conditions", f"durable-rules: {ENGINE_RULES} rules per ruleset", rule_dir)
    near(
        len(k.referenced_keys),
        MAX_FACT_PROPERTIES,
        "distinct findings tested",
        f"durable-rules: {ENGINE_FACT_PROPERTIES} properties per fact",
        rule_dir,
    )
    for rule in active:
        n = branch_count(rule.condition)
        file, line = _where(rule)
        if n < MAX_BRANCHES_PER_RULE:
            near(
                n,
                MAX_BRANCHES_PER_RULE,
                f"rule {rule.id}: condition alternatives",
                f"durable-rules: {ENGINE_TRUE_PATHS} alpha tests true at once",
                file,
                line,
            )
    # Rules sharing one identical path count per ruleset; the shard planner keeps every ruleset under
    # 200 paths, so this holds by construction, and is checked here so that it stays so.
    shards = plan_shards(active)
    for shard in shards:
        paths: Counter[tuple[str, ...]] = Counter()
        first: dict[tuple[str, ...], Rule] = {}
        for rule in shard:
            for alt in branches(rule.condition):
                sig = tuple(sorted(f"{a.key} {a.op} {a.value!r}" for a in alt))
                paths[sig] += 1
                first.setdefault(sig, rule)
        for sig, count in paths.items():
            if count > MAX_RULES_PER_PATH:
                file, line = _where(first[sig])
                report.add(
                    "error",
                    "engine-limit",
                    f"{count} rules share the condition path ({'; '.join(sig)}) "
                    f"in one ruleset; the limit is {MAX_RULES_PER_PATH} (durable-rules: {ENGINE_RULES_PER_PATH} rules per "
                    "identical path, error 108)",
                    file=file,
                    line=line,
                )
    report.shards = len(shards)


# ------------------------------------------------------------ examples


def example_case(example: Mapping[str, Any], case_id: str) -> dict[str, Any]:
    """An example (findings, possibly with dotted keys) as case data."""
    data: dict[str, Any] = {"id": case_id}
    for key, value in strip_lines(dict(example)).items():
        parts = str(key).split(".")
        node = data
        if parts[0] == "stains" and len(parts) > 2:  # stains.desmin.extent: diffuse
            parts = parts[:2] + [".".join(parts[2:])]
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # stains.desmin: positive, then stains.desmin.extent
                child = node[part] = {"result": child}
            node = child
        last = parts[-1]
        if isinstance(node.get(last), dict) and not isinstance(value, dict):
            node[last].setdefault("result", value)
        elif isinstance(node.get(last), dict) and isinstance(value, dict):
            node[last].update(value)
        else:
            node[last] = value
    return data


def _check_examples(k: Knowledge, report: CheckReport, *, engine: bool) -> None:
    with_examples = [r for r in k.rules if not r.negated and r.spec.examples is not None and r.spec.status != "retired"]
    if not with_examples:
        return
    usable = [r for r in k.rules if r.spec.status != "retired"]
    keys = {key for r in usable for key in r.keys}
    oracle = PythonMatcher(usable)
    durable = None
    if engine and (problem := durable_problem()) is not None:
        report.add(
            "note",
            "engine",
            f"{problem}: the examples ran on the python matcher only, and the rules were not compiled into durable-rules",
            file=str(k.directory / "rules"),
        )
    elif engine:
        try:
            durable = DurableMatcher(usable)
        except DdxError as exc:
            report.add("error", "engine", f"durable-rules could not compile the rules: {exc}", file=str(k.directory / "rules"))
    try:
        for rule in with_examples:
            examples = rule.spec.examples
            assert examples is not None
            for want, items in ((True, examples.should_match), (False, examples.should_not_match)):
                for n, example in enumerate(items, start=1):
                    _run_example(k, report, rule, want, n, example, keys, oracle, durable)
    finally:
        if durable is not None:
            durable.close()


def _run_example(
    k: Knowledge,
    report: CheckReport,
    rule: Rule,
    want: bool,
    n: int,
    example: Mapping[str, Any],
    keys: set[str],
    oracle: PythonMatcher,
    durable: DurableMatcher | None,
) -> None:
    kind = "should_match" if want else "should_not_match"
    line = example.get("__line__") if isinstance(example, dict) else None
    line = line or rule.spec_line
    label = f"rule {rule.spec.id}: {kind} example {n}"
    report.examples_run += 1
    try:
        case = k.case_schema.validate(example_case(example, f"{rule.spec.id}.{kind}.{n}"))
    except ValidationError as exc:
        for p in problems_from_validation(exc, k.case_schema, file=rule.file, case=None):
            report.add(
                "error", "example", f"{label} is not a valid case: {p.message}", file=rule.file, line=line, suggestions=p.suggestions
            )
        return
    facts = case_facts(case, k.vocab, keys)
    by_oracle = rule.id in oracle.match(facts)
    if durable is not None:
        by_engine = rule.id in durable.match(facts)
        if by_engine != by_oracle:
            report.add(
                "error",
                "engine",
                f"{label}: durable-rules and the plain-Python oracle disagree "
                f"(engine {'matches' if by_engine else 'does not match'}); please report this",
                file=rule.file,
                line=line,
            )
    if by_oracle != want:
        verb = "should match but does not" if want else "should not match but does"
        report.add("error", "example", f"{label} {verb} (condition: {describe(rule.condition)})", file=rule.file, line=line)


COFIRE_CASES = 3000  # generated cases for the co-firing check (fixed seed: the check is repeatable)
COFIRE_SHARE = 0.8  # fire together in at least this share of the cases where either fires
COFIRE_MIN = 20  # ... over at least this many such cases
SAME_PROFILE = 0.8  # Pearson correlation of the two rules' ln likelihood across profiles


_GENERATED: dict[str, list[tuple[int, Any]]] = {}  # vocabulary and entities -> the validated generated cases


def _generated_cases(k: Knowledge) -> list[tuple[int, Any]]:
    """The co-firing check's generated cases, validated: ``(n, case)`` for n < COFIRE_CASES (a case the
    schema refuses is left out). They depend only on the vocabulary and the entity names (fixed seed), so
    they are made once per vocabulary and reused by every later check in the process (the rule editor
    checks after every pause in typing; a rule edit leaves them as they were)."""
    import hashlib
    import random

    from ddx.synthetic import synthetic_case

    key = hashlib.sha256(repr((k.vocab, sorted(e.slug for e in k.entities))).encode()).hexdigest()
    if key not in _GENERATED:
        rng = random.Random(20261129)
        cases = []
        for n in range(COFIRE_CASES):
            try:
                cases.append((n, k.case_schema.validate(synthetic_case(k.vocab, rng, f"g{n}"))))
            except ValidationError:
                continue
        if len(_GENERATED) >= 4:  # a few vocabularies at most (the packaged one and one being edited)
            _GENERATED.pop(next(iter(_GENERATED)))
        _GENERATED[key] = cases
    return _GENERATED[key]


def _check_cofiring(k: Knowledge, report: CheckReport) -> None:
    """Two active scoring rules with the same entity profile (their ln likelihoods correlate
    ≥ 0.8 across the profiles) that fire together in ≥ 80 % of the generated cases where either
    fires: probably one finding counted twice. Pairs where one condition implies the other are
    left to the redundancy checks (a conditional rule such as ``ihc.myod1.with-desmin`` is
    written as P(MyoD1 | desmin) on purpose)."""
    ranker = ranker_for(k)
    logic = Logic(k.vocab)
    # one rule per condition and weights: such twins always fire together and count the same (the
    # redundancy checks report them); a twin with other weights is compared on its own
    distinct: dict[tuple[frozenset[Any], tuple[float, ...]], Rule] = {}
    for r in k.active_rules:
        if r.id in ranker.log_lik:
            distinct.setdefault((logic.signature(r.condition), tuple(ranker.log_lik[r.id])), r)
    rules = list(distinct.values())
    if len(rules) < 2:
        return
    oracle = PythonMatcher(rules)
    keys = {key for r in rules for key in r.keys}
    fired_in: dict[str, bytearray] = {r.id: bytearray(b"0" * COFIRE_CASES) for r in rules}
    for n, case in _generated_cases(k):
        for rid in oracle.match(case_facts(case, k.vocab, keys)):
            fired_in[rid][n] = ord("1")
    masks = {rid: int(bits, 2) for rid, bits in fired_in.items()}  # bit n: fired in generated case n
    counts = {rid: mask.bit_count() for rid, mask in masks.items()}
    # Both fire in at least COFIRE_SHARE of the cases where either fires only if their counts are within that
    # ratio: compare each rule with the rules whose counts are close (sorted), not with every rule.
    ordered = sorted((r for r in rules if counts[r.id] >= COFIRE_SHARE * COFIRE_MIN), key=lambda r: counts[r.id])
    profiles = {r.id: _centred(ranker.log_lik[r.id]) for r in ordered}
    for i, ra in enumerate(ordered):
        for rb in ordered[i + 1 :]:
            if counts[ra.id] < COFIRE_SHARE * counts[rb.id]:
                break
            a, b = sorted((ra.id, rb.id))
            both = (masks[a] & masks[b]).bit_count()
            either = counts[a] + counts[b] - both
            if either < COFIRE_MIN or both < COFIRE_SHARE * either:
                continue
            corr = _dot(profiles[a], profiles[b])
            if corr < SAME_PROFILE:
                continue
            first, second = (ra, rb) if ra.id == a else (rb, ra)
            if (
                first.spec.id == second.spec.id
                or logic.implies(first.condition, second.condition)
                or logic.implies(second.condition, first.condition)
            ):
                continue
            file, line = _where(second)
            report.add(
                "warning",
                "double-count",
                f"rules {a} and {b} fire together in {both} of the {either} "
                f"generated cases where either fires and favour the same entities (correlation {corr:.2f}): one "
                f"finding may be counted twice ({_at(first)}); write one of them conditional on the other",
                file=file,
                line=line,
            )


def _centred(values: Sequence[float]) -> tuple[float, ...]:
    """``values`` centred and scaled to length 1 (all zeros when constant): a dot product of two is their
    Pearson correlation."""
    mean = math.fsum(values) / len(values)  # fsum: the same bits on every Python (3.12 changed sum() of floats)
    centred = [v - mean for v in values]
    norm = math.sqrt(math.fsum(c * c for c in centred))
    return tuple(c / norm for c in centred) if norm > 0 else tuple(0.0 for _ in centred)


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class _Cell:
    """One figure of the rules: a prior, a share, a rule's cell or ``default``, a prior set's prior."""

    what: str  # "rule ihc.desmin, imt", "entity imt: prior", "prior set population, ilms"
    cell: Any  # the Likelihood (or Prior)
    fallback: str | None  # the source it rests on when it gives none of its own (the rule's, the entity's)
    file: str
    line: int | None
    rule: str | None = None  # a rule's cell: the rule's id and the profile (or "default") it is written for
    slug: str | None = None


_RULE_START = re.compile(r"^\s*- id\s*:")


class _Lines:
    """The lines of rule files, read once per check (unsaved texts first: the editor checks those)."""

    def __init__(self, texts: Mapping[str, str] | None = None):
        self.texts = texts or {}
        self.read: dict[str, list[str]] = {}

    def of(self, path: str) -> list[str]:
        if path not in self.read:
            text = self.texts.get(path)
            if text is None:
                try:
                    text = Path(path).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    text = ""
            self.read[path] = text.splitlines()
        return self.read[path]

    def key_line(self, path: str, start: int | None, key: str, *, own: bool = False) -> int | None:
        """The line of ``key:`` inside the rule that starts at line ``start`` (else ``start``); ``own``: the
        rule's own key, at the indent of its ``id:`` (its ``source:``, not a cell's)."""
        if start is None:
            return None
        lines = self.of(path)
        pattern = re.compile(rf"(^\s+|[{{,]\s*){re.escape(key)}\s*:")  # block or flow style
        if own:
            head = re.match(r"^(\s*)-(\s*)id\s*:", lines[start - 1]) if 0 < start <= len(lines) else None
            if head is None:
                return start
            pattern = re.compile(rf"^ {{{len(head.group(1)) + 1 + len(head.group(2))}}}{re.escape(key)}\s*:")
        for index in range(start, len(lines)):  # lines[start - 1] is the rule's "- id:" line
            if _RULE_START.match(lines[index]):
                break  # the next rule
            if pattern.search(lines[index]):
                return index + 1
        return start


def _cells(k: Knowledge, texts: Mapping[str, str] | None = None) -> Iterable[_Cell]:
    """Every figure cell of the rules, once (a negated rule shares its cells with the rule it negates), each
    with the line of its own key."""
    lines = _Lines(texts)
    ent_file = str(k.directory / "entities.yaml")
    for e in k.entities:
        line = k.entity_lines.get(e.slug)
        # entities.yaml's own prior, whatever prior set is applied
        yield _Cell(f"entity {e.slug}: prior", k.file_priors.get(e.slug, e.prior), e.source, ent_file, line)
        for s in e.subtypes:
            yield _Cell(f"subtype {s.slug}: share", s.share, s.source, ent_file, line)
    for r in k.rules:
        if r.negated:
            continue
        start = r.spec_line or r.line
        for slug, cell in r.written():  # a figure taken from a likelihood_from base is checked where it is written
            yield _Cell(f"rule {r.spec.id}, {slug}", cell, r.spec.source, r.file, lines.key_line(r.file, start, slug), r.spec.id, slug)
    settings_file = str(k.directory / "settings.yaml")
    for name, chosen in k.settings.prior_sets.items():
        for slug, prior in chosen.priors.items():
            yield _Cell(f"prior set {name}, {slug}", prior, chosen.source, settings_file, None)


def _sources(k: Knowledge, texts: Mapping[str, str] | None = None) -> Iterable[tuple[str, str | None, str, int | None]]:
    """Every citation in the rules: (what cites it, its text, file, line)."""
    ent_file = str(k.directory / "entities.yaml")
    for e in k.entities:
        line = k.entity_lines.get(e.slug)
        yield f"entity {e.slug}: source", e.source, ent_file, line
        yield f"entity {e.slug}: confirm_source", e.confirm_source, ent_file, line
        for s in e.subtypes:
            yield f"subtype {s.slug}: source", s.source, ent_file, line
            yield f"subtype {s.slug}: confirm_source", s.confirm_source, ent_file, line
    lines = _Lines(texts)
    for r in k.rules:
        if not r.negated:
            yield f"rule {r.spec.id}: source", r.spec.source, r.file, lines.key_line(r.file, r.spec_line or r.line, "source", own=True)
    settings_file = str(k.directory / "settings.yaml")
    for name, chosen in k.settings.prior_sets.items():
        yield f"prior set {name}: source", chosen.source, settings_file, None
    for c in _cells(k, texts):
        if c.cell.pooled:
            for series in c.cell.pooled:
                yield f"{c.what} series {series.n}", series.source, c.file, c.line
        else:
            yield c.what, c.cell.source, c.file, c.line
    for o in k.outside:
        yield f"outside entity {o.spec.slug}: source", o.spec.source, str(k.directory / "outside.yaml"), None
    for slug, rep in k.reports.entities.items():
        yield f"report text for {slug}: source", rep.source, str(k.directory / "reports.yaml"), None
    for group in k.ancillary.exclusive:
        yield f"exclusive group {group.spec.id}: source", group.spec.source, str(k.directory / "ancillary.yaml"), None
    for sur in k.ancillary.surrogates:
        yield f"surrogate {sur.test}: source", sur.spec.source, str(k.directory / "ancillary.yaml"), None


def _check_sources(k: Knowledge, report: CheckReport) -> None:
    """Every source names the literature (error): see :func:`ddx.citations.citation_problem`."""
    for what, text, file, line in _sources(k, report.texts):
        if text is None:
            continue
        why = citation_problem(text)
        if why:
            report.add("error", "source", f"{what} {why}: {text[:120]!r}", file=file, line=line)


# a count written inside a citation ("e-immunohistochemistry 0/7"): a series of a hand-pooled source
_COUNT_IN = re.compile(r"(?<![\d/.])\d+\s*/\s*\d+(?![\d/])")


def _check_summary_sources(k: Knowledge, report: CheckReport) -> None:
    """A figure that rests on a summary page alone (warning): the standard is the primary literature.

    Warned: a count or cited value (a prior, share, rule cell or ``default``; not an estimate) whose every
    citation is a summary page (:func:`ddx.citations.summary_only`) — its own ``source:`` or, without one,
    the rule's or entity's it falls back on — and a series of a pool, or a count written inside a
    citation list ("…; e-immunohistochemistry 0/7"), cited to a summary page alone."""
    for c in _cells(k, report.texts):
        if c.cell.estimate:
            continue
        if c.cell.pooled:
            for series in c.cell.pooled:
                site = summary_only(series.source)
                if site:
                    _summary_warning(report, f"{c.what} series {series.n}", site, c, series=True)
            continue
        text = c.cell.source or c.fallback
        if not text:
            continue
        items = split_citations(text)
        sites = [summary_only(item) for item in items]
        inherited = c.cell.source is None
        if all(sites):
            _summary_warning(report, c.what, str(sites[0]), c, inherited=inherited)
            continue
        for item, site in zip(items, sites, strict=True):
            if site and _COUNT_IN.search(item):
                _summary_warning(report, f"{c.what}, its count in {item[:60]!r},", site, c, series=True, inherited=inherited)


def _summary_warning(report: CheckReport, what: str, site: str, c: _Cell, *, series: bool = False, inherited: bool = False) -> None:
    where = " (in the source it falls back on, the rule's or entity's own)" if inherited else ""
    fix = "name the primary paper it reports (authors, journal, year, volume:page, PMID or doi)"
    if not series:
        fix += ", or mark the value an estimate (~) with its reason"
    report.add("warning", "summary-source", f"{what} cites only a summary page ({site}){where}: {fix}", file=c.file, line=c.line)


# "... 11/32 ≈ 0.34 suggests ~0.35": the value an estimate's own reasoning arrives at (not a range, "suggests
# ~0.3-0.4", nor a judgement, "suggests ~0.8 is a little high")
_SUGGESTS = re.compile(r"\bsuggests?\s+(?:about\s+)?~?\s*(0?\.\d+|1(?:\.0+)?)(?![\d.]|\s*[-–]\s*\d|\s+is\b)", re.IGNORECASE)
# how far an estimate may sit from the value its reason suggests before the check says so (estimates are
# written to one or two digits: ~0.45 beside "suggests ~0.4" is the same estimate)
REASON_FIGURE_SLACK = 0.04


def _check_reason_figures(k: Knowledge, report: CheckReport) -> None:
    """An estimate whose reason says what the figure should be ("11/32 ≈ 0.34 suggests ~0.35") and a value
    that is something else (warning): either the reasoning or the figure is wrong. Five such SRMS cells were
    found by hand on 2026-12-01; this keeps the kind from coming back. A reason that explains a departure from
    its pool ("the pool ... gives 0.4-0.55, hence ~0.45") does not use the word and is not flagged."""
    for c in _cells(k, report.texts):
        cell = c.cell
        if not cell.estimate or cell.p is None:
            continue
        for found in _SUGGESTS.finditer(cell.reason or ""):
            said = float(found.group(1))
            if round(abs(said - cell.p), 9) > REASON_FIGURE_SLACK:
                report.add(
                    "warning",
                    "reason-figure",
                    f"{c.what}: the figure is ~{cell.p:g} but its reason says {found.group(0)!r}: set the figure "
                    "to what the reasoning gives, or write why it departs in place of 'suggests' (e.g. '... gives "
                    "0.4-0.55, hence ~0.45')",
                    file=c.file,
                    line=c.line,
                )
                break


def _check_cell_sources(k: Knowledge, report: CheckReport) -> None:
    """A rule's count or cited figure written without a citation of its own (warning): it is shown, and weighs,
    as cited to the rule's ``source``, which may be about another entity (``ilms: 0.3`` meant as "about 30 %"
    is a cited figure worth ``cited_strength`` cases). Every such cell of the packaged rules gives its own."""
    for c in _cells(k, report.texts):
        cell = c.cell
        if not c.what.startswith("rule ") or cell.estimate or cell.ratio is not None or cell.pooled or cell.source:
            continue
        report.add(
            "warning",
            "cell-source",
            f"{c.what}: the figure {cell.n or f'{cell.p:g}'} is cited but gives no source of its own, so it is shown "
            "under the rule's source; give the cell its citation ({n: ..., source: ...}), or mark it an estimate "
            "with its reason ({p: ~0.3, reason: ...}) if it is your own judgement or unpublished data",
            file=c.file,
            line=c.line,
        )


def _check_estimate_reasons(k: Knowledge, report: CheckReport) -> None:
    """Estimates written without their one line of reasoning (``srms: ~0.5`` rather than ``{p: ~0.5, reason:
    ...}``), a rule's ``default`` included: one warning per profile, naming its rules (every estimate of the
    packaged rules gives its reason since 2026-12-01)."""
    missing: dict[str, list[str]] = {}
    where: dict[str, tuple[str | None, int | None]] = {}
    active = {r.spec.id for r in k.active_rules}
    for c in _cells(k, report.texts):  # each cell with the line of its own key (the first one's is named)
        if c.rule in active and c.cell.estimate and not (c.cell.reason or "").strip():
            name = "(default)" if c.slug == "default" else str(c.slug)
            missing.setdefault(name, []).append(c.rule)
            where.setdefault(name, (c.file, c.line))
    main = {e.slug for e in k.entities if e.group == "main"}
    for slug in sorted(missing, key=lambda s: (s not in main, s)):
        ids = missing[slug]
        file, line = where[slug]
        whose = f"main entity {slug}" if slug in main else ("a rule's default" if slug == "(default)" else f"profile {slug}")
        report.add(
            "warning",
            "estimate-reason",
            f"{len(ids)} estimate(s) of {whose} give no reason: {', '.join(ids)} (an estimate is marked with one line of "
            "reasoning: {p: ~0.3, reason: ...})",
            file=file,
            line=line,
        )


def _check_unused_terms(k: Knowledge, report: CheckReport) -> None:
    """Vocabulary findings no active scoring rule reads (notes): a case that records them gets
    them listed as "recorded, not used by the ranking"."""
    read: set[str] = set()
    groups: set[str] = set()
    lists = frozenset(p for p, kind in k.vocab.finding_paths().items() if kind == "list")
    for r in k.active_rules:
        if r.spec.likelihood is None:
            continue
        for branch in branches(r.condition):
            for atom in branch:
                if reads_nothing(atom, lists):  # holds on what is absent, or reads no item: scores none of them
                    continue
                read.add(atom.path)
                if atom.path == "clinical.site_group" and atom.op in ("eq", "in"):
                    values = atom.value if isinstance(atom.value, tuple) else (atom.value,)
                    groups.update(str(v) for v in values)
    if read & {"clinical.site_group"}:
        read.add("clinical.site")
    vocab_file = str(k.directory / "vocabulary.yaml")
    unread = [p for p in k.vocab.finding_paths() if p not in read and p != "clinical.site_group"]
    stains_read = {p.split(".")[1] for p in read if p.startswith("stains.")}
    stains = sorted(
        p.split(".")[1] for p in unread if p.startswith("stains.") and p.count(".") == 1 and p.split(".")[1] not in stains_read
    )
    molecular = sorted(p.split(".")[1] for p in unread if p.startswith("molecular."))
    other = sorted(p for p in unread if not p.startswith(("stains.", "molecular.")))
    missing_groups = sorted(set(k.vocab.site_groups.terms) - groups)
    if stains:
        report.add("note", "unused-term", f"{len(stains)} stain(s) no active scoring rule reads: {', '.join(stains)}", file=vocab_file)
    if molecular:
        report.add(
            "note",
            "unused-term",
            f"{len(molecular)} molecular test(s) no active scoring rule reads: {', '.join(molecular)}",
            file=vocab_file,
        )
    if other:
        report.add("note", "unused-term", f"findings no active scoring rule reads: {', '.join(other)}", file=vocab_file)
    if missing_groups:
        report.add("note", "unused-term", f"site group(s) no active scoring rule reads: {', '.join(missing_groups)}", file=vocab_file)
    items = _unread_items(k, lists)
    if items:
        listed = "; ".join(f"{path}: {', '.join(terms)}" for path, terms in items.items())
        report.add("note", "unused-term", f"items of list findings no active scoring rule reads: {listed}", file=vocab_file)


def _unread_items(k: Knowledge, lists: frozenset[str]) -> dict[str, list[str]]:
    """Per list finding that some scoring rule reads (cell types, stroma, inflammation ...), the vocabulary's items
    that none reads or names in its ``accounts_for``: a case recording one gets it listed as "recorded, not used
    by the ranking", item by item, as :meth:`ddx.analysis.Analyzer.unused` judges them (``collagenous`` stroma
    beside a scored ``myxoid``). Lists that no rule reads at all are in the findings note instead."""
    read: dict[str, set[str]] = {}
    for reads, accounts in k.scoring_reads.values():
        for _, items in filter(None, (reads, accounts)):
            for key, values in items.items():
                read.setdefault(key.replace("__", "."), set()).update(values)
    out: dict[str, list[str]] = {}
    for path in sorted(lists):
        terms = k.vocab.termset_for(path)
        if path in read and terms is not None:
            unread = [t for t in terms.terms if t not in read[path]]
            if unread:
                out[path] = unread
    return out
