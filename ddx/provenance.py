"""Where the rules' figures come from: cited counts, cited figures, estimates, per entity.

The README's "Where the figures come from" table is :func:`evidence_section` of
the packaged rules (``tools/accuracy.py --write`` regenerates it and
``tests/test_provenance.py`` fails when it is stale).

Kinds of a likelihood cell (see :class:`ddx.knowledge.Likelihood`):

* **count** — ``k/n`` from one series or pooled from several, each cited;
* **cited** — a published figure without a denominator;
* **estimate** — ``~p``, an expert estimate (its reasoning in the rule or the cell).

The *core* cells are those of the main entities (``group: main`` in
entities.yaml: ILMS, IMT, PRMS, SRMS) in the rules that score on its own one
of the stains listed in settings ``core_stains`` (the myogenic and ALK stains)
or one defining molecular test of a main entity (a ``molecular.*`` finding in
its or its subtypes' ``confirm_with``): the figures that decide this
differential. Conditional rules (an extent or pattern given
the stain is positive, MyoD1 given desmin …) are not core: their cells are
derived from the unconditional figures (README, "Findings that are not
independent") and are estimates by construction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ddx.knowledge import Knowledge, Likelihood, Rule


def kind(cell: Likelihood) -> str:
    """``count``, ``cited`` or ``estimate``."""
    if cell.counted:
        return "count"
    return "estimate" if cell.estimate else "cited"


@dataclass
class Split:
    """How many cells of one profile are counts, cited figures and estimates."""

    profile: str
    count: int = 0
    cited: int = 0
    estimate: int = 0

    @property
    def total(self) -> int:
        return self.count + self.cited + self.estimate

    @property
    def counted_share(self) -> float:
        """Share of the cells that are cited counts (0 when there are none)."""
        return self.count / self.total if self.total else 0.0

    def add(self, cell: Likelihood) -> None:
        setattr(self, kind(cell), getattr(self, kind(cell)) + 1)


def required_findings(when: dict[str, object]) -> int:
    """How many findings a rule's ``when`` requires to hold together (``not`` excluded; ``any`` counts as one)."""
    n = 0
    for key, value in when.items():
        if key == "not" or key.startswith("__"):  # "__line__": where the loader found it
            continue
        if key == "all" and isinstance(value, list):
            n += sum(required_findings(v) if isinstance(v, dict) else 1 for v in value)
        else:
            n += 1
    return n


def _required_paths(when: Any) -> Iterable[str]:
    """The finding paths a ``when`` mapping requires (``not`` branches excluded)."""
    if isinstance(when, list):
        for item in when:
            yield from _required_paths(item)
        return
    if not isinstance(when, dict):
        return
    for key, value in when.items():
        if key == "not" or key.startswith("__"):
            continue
        if key in ("all", "any"):
            yield from _required_paths(value)
        else:
            yield key


def main_entities(knowledge: Knowledge) -> list[str]:
    """Slugs of the entities marked ``group: main`` in entities.yaml, in file order."""
    return [e.slug for e in knowledge.entities if e.group == "main"]


def core_findings(knowledge: Knowledge) -> frozenset[str]:
    """The finding paths whose rules are core: settings ``core_stains`` and the main entities' defining tests."""
    stains = {f"stains.{s}" for s in knowledge.settings.core_stains}
    tests = {
        path
        for e in knowledge.entities
        if e.group == "main"
        for path in (*e.confirm_with, *(p for s in e.subtypes for p in s.confirm_with or ()))
        if path.startswith("molecular.")
    }
    return frozenset(stains | tests)


def is_core(rule: Rule, core: frozenset[str]) -> bool:
    """True when the rule scores, unconditionally, one finding of ``core`` (see :func:`core_findings`)."""
    return required_findings(rule.spec.when) == 1 and any(p in core for p in _required_paths(rule.spec.when))


def _scoring(knowledge: Knowledge) -> Iterable[Rule]:
    return (r for r in knowledge.active_rules if not r.negated and r.spec.likelihood)


def evidence_split(knowledge: Knowledge, *, core: bool = False) -> list[Split]:
    """One :class:`Split` per profile (entities, then their subtypes) over the active rules' own cells.

    ``core`` keeps the core rules only (:func:`is_core`). A subtype counts only the cells it gives itself
    (the rest it inherits from its entity), and a rule narrowed with ``likelihood_from`` only those it writes.
    """
    order = [p for e in knowledge.entities for p in (e.slug, *(s.slug for s in e.subtypes))]
    splits = {p: Split(p) for p in order}
    paths = core_findings(knowledge)
    for rule in _scoring(knowledge):
        if core and not is_core(rule, paths):
            continue
        for slug, cell in rule.written():  # a figure taken from a likelihood_from base counts once, where written
            if slug in splits:
                splits[slug].add(cell)
    return [splits[p] for p in order if splits[p].total]


def core_counted_share(knowledge: Knowledge) -> tuple[int, int]:
    """(cited counts, cells) over the main entities in the core rules: the issue-15 measure."""
    splits = {s.profile: s for s in evidence_split(knowledge, core=True)}
    main = main_entities(knowledge)
    count = sum(splits[m].count for m in main if m in splits)
    total = sum(splits[m].total for m in main if m in splits)
    return count, total


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.0f} %" if b else "–"


def evidence_section(knowledge: Knowledge) -> str:
    """The README table (markdown) of counts / cited figures / estimates per profile, all rules and core rules."""
    all_rules = {s.profile: s for s in evidence_split(knowledge)}
    core = {s.profile: s for s in evidence_split(knowledge, core=True)}
    n_rules = sum(1 for _ in _scoring(knowledge))
    paths = core_findings(knowledge)
    n_core = sum(1 for r in _scoring(knowledge) if is_core(r, paths))
    main = main_entities(knowledge)
    lines = [
        f"Likelihood cells of the {n_rules} active scoring rules by kind: a cited count (k/n, one series or pooled), "
        f"a cited figure without a denominator, or a marked estimate. *Core*: the {n_core} rules that score one "
        "myogenic or ALK stain or one defining molecular test of a main entity on its own (conditional rules, "
        "whose cells are derived, are not core). A subtype counts the cells it gives itself.",
        "",
        "| profile | counts | cited | estimates | counted | core counts | core cells | core counted |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for slug, s in all_rules.items():
        c = core.get(slug, Split(slug))
        name = f"**{slug}**" if slug in main else slug
        lines.append(
            f"| {name} | {s.count} | {s.cited} | {s.estimate} | {_pct(s.count, s.total)} | "
            f"{c.count} | {c.total} | {_pct(c.count, c.total)} |"
        )
    k, n = core_counted_share(knowledge)
    tot = [sum(getattr(s, f) for s in all_rules.values()) for f in ("count", "cited", "estimate")]
    lines += [
        f"| all | {tot[0]} | {tot[1]} | {tot[2]} | {_pct(tot[0], sum(tot))} | | | |",
        "",
        f"Core cells of the main entities ({', '.join(main)}) that are cited counts: {k} of {n} ({_pct(k, n)}).",
    ]
    return "\n".join(lines) + "\n"
