"""Loading the knowledge base: ``rules/`` holds the vocabulary, the entities,
the settings and the rule files. Each file is validated into its pydantic model
(:mod:`ddx.knowledge.models`, ``extra="forbid"``) by :func:`ddx.knowledge.load.load_model`;
a broken file is an error naming the file and line. This module checks what needs
more than one file (the entities rules name, the terms of conditions) and compiles
the rules.
"""

from __future__ import annotations

import copy
import difflib
import gc
import hashlib
import math
import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ddx.engine_limits import (
    ENGINE_FACT_PROPERTIES,
    ENGINE_RULES,
    ENGINE_TRUE_PATHS,
    MAX_BRANCHES_PER_RULE,
    MAX_FACT_PROPERTIES,
    MAX_RULES,
)
from ddx.errors import KnowledgeError, Problem
from ddx.knowledge.ancillary import Ancillary, canonical_test, check_classes, load_ancillary, test_paths
from ddx.knowledge.case import CaseSchema, build_case_schema
from ddx.knowledge.conditions import (
    LIST_READS,
    ConditionError,
    Node,
    Predicate,
    Reads,
    atoms,
    branch_count,
    compile_predicate,
    condition_reads,
    parse_condition,
)
from ddx.knowledge.load import Entry, as_meant, load_model, load_vocabulary, read_data, stripped
from ddx.knowledge.models import (
    BAND_FIELDS,
    COUNT,
    PROSE_FIELDS,
    REPORT_FIELDS,
    REPORT_FRAMES,
    RULE_ID,
    Band,
    BandWhen,
    Calibration,
    ClinicalProse,
    EntitiesFile,
    Entity,
    EntityReport,
    EvidenceSettings,
    Examples,
    Likelihood,
    Model,
    MolecularProse,
    NextTests,
    OutsideEntity,
    OutsideFile,
    Prior,
    PriorSet,
    ProseSentence,
    ReportTemplates,
    RulesFile,
    RuleSpec,
    Series,
    Settings,
    StainProse,
    Subtype,
)
from ddx.knowledge.vocabulary import TermSet, Vocabulary
from ddx.yamlio import key_line

# the models of the rules files live in ddx.knowledge.models; they are named here too, where they were first
__all__ = [
    "BAND_FIELDS",
    "COUNT",
    "MAX_BRANCHES_PER_RULE",
    "MAX_FACT_PROPERTIES",
    "MAX_RULES",
    "NEGATION_SUFFIX",
    "PROSE_FIELDS",
    "REPORT_FIELDS",
    "REPORT_FRAMES",
    "RULE_ID",
    "Band",
    "BandWhen",
    "Calibration",
    "ClinicalProse",
    "Entity",
    "EntityReport",
    "EvidenceSettings",
    "Examples",
    "Knowledge",
    "Likelihood",
    "Model",
    "MolecularProse",
    "NextTests",
    "Outside",
    "OutsideEntity",
    "Prior",
    "PriorSet",
    "Profile",
    "ProseSentence",
    "ReportTemplates",
    "Rule",
    "RuleSpec",
    "Series",
    "Settings",
    "StainProse",
    "Subtype",
    "load_knowledge",
    "load_knowledge_partial",
    "packaged_rules_dir",
    "resolve_rules_dir",
]

NEGATION_SUFFIX = ":not"


@dataclass(frozen=True)
class Profile:
    """One likelihood profile the ranker scores: an entity, or one of its subtypes.

    ``subtype`` is None for an entity without subtypes and for the rest of an
    entity with subtypes (named by ``Entity.other_name``).
    """

    entity: str
    subtype: str | None
    name: str
    share: float  # of the entity's prior (1 for an entity without subtypes)

    @property
    def slug(self) -> str:
        return self.subtype or self.entity


@dataclass
class Outside:
    """A compiled outside-the-differential pattern."""

    spec: OutsideEntity
    predicate: Predicate


@dataclass
class Rule:
    """A validated, compiled rule (one of the two halves of a rule spec)."""

    id: str  # engine id: the spec id, or spec id + ":not"
    spec: RuleSpec
    negated: bool
    condition: Node
    predicate: Predicate
    file: str
    line: int | None  # the line of this half's condition
    spec_line: int | None = None  # the line where the rule starts (its "- id:")
    # the positive half's ``accounts_for``, parsed (list items its figures already stand for); None otherwise
    accounts: Node | None = None
    # the profiles (and "default") whose figures a ``likelihood_from`` rule took from its base rather than
    # writing them: counted and checked once, where they are written (:func:`inherit_figures`)
    inherited: frozenset[str] = frozenset()

    def written(self) -> Iterator[tuple[str, Likelihood]]:
        """The figures this rule's file writes, as (profile slug or "default", cell): a ``likelihood_from`` rule's
        own, without those it takes from its base (counted and checked where they are written)."""
        for slug, cell in (self.spec.likelihood or {}).items():
            if slug not in self.inherited:
                yield slug, cell
        if self.spec.default is not None and "default" not in self.inherited:
            yield "default", self.spec.default

    @property
    def title(self) -> str:
        if self.negated:
            return self.spec.negated_title or f"{self.spec.title}: negative"
        return self.spec.title

    @cached_property
    def keys(self) -> frozenset[str]:
        """The fact keys the condition reads (computed once: the matcher, the ranker and the suggester ask often)."""
        return frozenset(a.key for a in atoms(self.condition))

    def likelihood(self, entity: str) -> Likelihood | None:
        lk = self.spec.likelihood or {}
        return lk.get(entity, self.spec.default)


def _prose_problems(reports: ReportTemplates, vocab: Vocabulary, file: str) -> list[Problem]:
    """Morphology prose and term words that name no vocabulary field or term (a typo would leave a
    recorded finding out of the report)."""
    problems = []
    fields = vocab.morphology
    for i, sentence in enumerate(reports.morphology_prose):
        for name in (*sentence.fields, *sentence.requires):
            if name != "*" and name not in fields:
                problems.append(
                    Problem(
                        f"morphology_prose[{i}]: {name!r} is not a morphology field",
                        file=file,
                        path=f"morphology_prose.{i}",
                        suggestions=vocab.morphology_fields.suggest(name),
                    )
                )
        for name, spec in sentence.fields.items():
            mf = fields.get(name)
            if isinstance(spec, str) or mf is None or mf.kind == "number":
                continue
            terms = vocab.presence if mf.kind == "presence" else mf.terms
            for value in spec:
                if value != "*" and terms is not None and value not in terms.terms:
                    problems.append(
                        Problem(
                            f"morphology_prose[{i}].fields.{name}: {value!r} is not a term of {name}",
                            file=file,
                            path=f"morphology_prose.{i}.fields.{name}",
                            suggestions=terms.suggest(value),
                        )
                    )
    for path, words in reports.term_words.items():
        terms = vocab.termset_for(path)
        if terms is None:
            problems.append(Problem(f"term_words: {path!r} is not a field with terms", file=file, path=f"term_words.{path}"))
            continue
        for term in words:
            if term not in terms.terms:
                problems.append(
                    Problem(
                        f"term_words.{path}: {term!r} is not a term of {path}",
                        file=file,
                        path=f"term_words.{path}",
                        suggestions=terms.suggest(term),
                    )
                )
    return problems


@dataclass
class Knowledge:
    """A loaded, validated rule set: settings, vocabulary, entities and their subtypes, rules, report
    templates and the outside-the-differential entries, with a hash of its files' content."""

    directory: Path
    settings: Settings
    vocab: Vocabulary
    entities: list[Entity]
    rules: list[Rule]
    content_hash: str
    files: list[Path] = field(default_factory=list)
    reports: ReportTemplates = field(default_factory=ReportTemplates)
    entity_lines: dict[str, int] = field(default_factory=dict)  # slug -> line in entities.yaml
    outside: list[Outside] = field(default_factory=list)  # rules/outside.yaml
    prior_set: str | None = None  # the settings prior set applied to the entities' priors, if any
    file_priors: dict[str, Prior] = field(default_factory=dict)  # entities.yaml's priors, by slug
    ancillary: Ancillary = field(default_factory=Ancillary)  # rules/ancillary.yaml: test costs, exclusive findings

    @cached_property
    def entity_slugs(self) -> list[str]:
        return [e.slug for e in self.entities]

    @cached_property
    def entity_terms(self) -> TermSet:
        """Entity and subtype slugs with their synonyms (what ``expected`` accepts)."""
        ts = TermSet("entity")
        for e in self.entities:
            ts.add(e.slug, e.synonyms, label=e.name)
            for s in e.subtypes:
                ts.add(s.slug, s.synonyms, label=s.name, parent=e.slug)
        return ts

    @cached_property
    def subtype(self) -> dict[str, Subtype]:
        """subtype slug -> its definition."""
        return {s.slug: s for e in self.entities for s in e.subtypes}

    @cached_property
    def profiles(self) -> list[Profile]:
        """Every likelihood profile, entity by entity: an entity without subtypes is one
        profile; an entity with subtypes is its rest (share 1 - the subtypes' shares)
        followed by each subtype."""
        out = []
        for e in self.entities:
            if not e.subtypes:
                out.append(Profile(e.slug, None, e.name, 1.0))
                continue
            rest = 1.0 - math.fsum(s.share.p for s in e.subtypes)
            out.append(Profile(e.slug, None, e.other_name or f"{e.name}, other", rest))
            out += [Profile(e.slug, s.slug, s.name, s.share.p) for s in e.subtypes]
        return out

    @cached_property
    def entity(self) -> dict[str, Entity]:
        return {e.slug: e for e in self.entities}

    @cached_property
    def rule(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    @cached_property
    def active_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.spec.status == "active"]

    @cached_property
    def scoring_reads(self) -> dict[str, tuple[Reads, Reads | None]]:
        """Per active scoring rule (one with likelihoods), by id: what its condition reads of a case and what
        its ``accounts_for`` names (None without one), each as :func:`condition_reads` gives it (the fact keys
        read whole; for list findings, the items named; ``accounts_for`` by value). The one reading of which
        findings the ranking uses, for "recorded, not used by the ranking" (:meth:`ddx.analysis.Analyzer.unused`)
        and for ``ddx rules check``'s unused terms."""
        lists = frozenset(p for p, kind in self.vocab.finding_paths().items() if kind == "list")
        return {
            r.id: (
                condition_reads(r.condition, lists),
                condition_reads(r.accounts, lists, by_value=True) if r.accounts is not None else None,
            )
            for r in self.active_rules
            if r.spec.likelihood is not None
        }

    @cached_property
    def case_schema(self) -> CaseSchema:
        return build_case_schema(self.vocab, self.entity_terms)

    @cached_property
    def referenced_keys(self) -> frozenset[str]:
        keys: set[str] = set()
        for r in self.active_rules:
            keys |= r.keys
        return frozenset(keys)

    @cached_property
    def caveat_tests(self) -> dict[str, tuple[str, ...]]:
        """Rule spec id -> the tests its caveat asks for, as canonical finding paths (``molecular.x``)."""
        out = {}
        for r in self.rules:
            if r.spec.caveat_tests and not r.negated:
                out[r.spec.id] = tuple(c for t in r.spec.caveat_tests if (c := canonical_test(t, self.vocab)))
        return out

    @cached_property
    def test_rule(self) -> dict[str, Rule]:
        """Test path (``molecular.alk_rearrangement``) -> the active scoring rule that scores exactly that test
        present or positive (its ``when`` is that one finding)."""
        out: dict[str, Rule] = {}
        for r in self.active_rules:
            when = {k: v for k, v in r.spec.when.items() if k != "__line__"}
            if not r.negated and r.spec.likelihood and len(when) == 1:
                [(path, value)] = when.items()
                if value in ("present", "positive"):
                    out.setdefault(path, r)
        return out

    def parent(self, slug: str) -> str:
        """The entity a slug is scored as: a subtype's entity, a variant's parent, else the slug."""
        found = self._parents.get(slug)
        return found if found is not None else self._parent(slug)

    @cached_property
    def _parents(self) -> dict[str, str]:
        """:meth:`parent` of every entity and subtype slug, worked out once (as :attr:`subtype` is)."""
        return {slug: self._parent(slug) for slug in [*self.entity, *self.subtype]}

    def _parent(self, slug: str) -> str:
        for entity in self.entities:
            if any(s.slug == slug for s in entity.subtypes):
                return entity.slug
        found = self.entity.get(slug)
        return found.variant_of if found is not None and found.variant_of else slug

    def short_name(self, slug: str) -> str:
        """'IMT', 'EIMS', 'TFCP2-RMS': a subtype's short name, else the slug (entity or subtype) in capitals."""
        sub = self.subtype.get(slug)
        return sub.short if sub is not None and sub.short else slug.upper()

    def profile_short(self, slug: str) -> str:
        """A likelihood profile's short name: 'EIMS' (a subtype); for the rest profile of an entity with
        subtypes, its ``other_short`` before the entity ('ALK-rearranged IMT') or, an abbreviation, after it
        ('SRMS NOS'), so a figure of that profile is not read as the whole entity's; else 'PRMS'."""
        entity = self.entity.get(slug)
        if entity is not None and entity.subtypes and entity.other_short:
            rest = entity.other_short
            return f"{slug.upper()} {rest}" if rest.isupper() else f"{rest} {slug.upper()}"
        return self.short_name(slug)

    def figure_owner(self, rule: Rule, slug: str) -> str:
        """Whose cell a profile's figure for ``rule`` is: a subtype's own, else its entity's (the rest
        profile's, which the subtype inherits); an entity's is its own."""
        if slug in self.subtype and not (rule.spec.likelihood and slug in rule.spec.likelihood):
            return self.parent(slug)
        return slug

    def figure_name(self, rule: Rule, slug: str) -> str:
        """The short name of whose figure profile ``slug`` quotes for ``rule``: a subtype's own cell names the
        subtype ('TFCP2-RMS'); the entity's cell names the entity ('IMT') when it stands for all of it, and its
        rest profile ('ALK-rearranged IMT') when a subtype gives the rule a cell of its own, so that the entity's
        is the rest's figure (ALK 8/8 in IMT beside ALK-negative IMT's own)."""
        owner = self.figure_owner(rule, slug)
        entity = self.entity.get(owner)
        if entity is None:
            return self.profile_short(owner)
        cells = rule.spec.likelihood or {}
        return self.profile_short(owner) if any(sub.slug in cells for sub in entity.subtypes) else self.short_name(owner)

    def profile_likelihood(self, rule: Rule, profile: Profile) -> Likelihood | None:
        """The figure a rule gives a profile: the subtype's own, else its entity's."""
        if profile.subtype is not None and rule.spec.likelihood and profile.subtype in rule.spec.likelihood:
            return rule.spec.likelihood[profile.subtype]
        return rule.likelihood(profile.entity)

    @property
    def packaged(self) -> bool:
        """True when these are the rules shipped with ddx (:func:`packaged_rules_dir`), however they were named."""
        try:
            return self.directory.resolve() == packaged_rules_dir().resolve()
        except (KnowledgeError, OSError):
            return False

    @property
    def location(self) -> str:
        """Where the rules came from, as provenance lines print it: ``packaged`` for the rules shipped with
        ddx (never the install's path, which differs from machine to machine), else the directory as it
        was given (``--rules DIR``, ``$DDX_RULES``)."""
        return "packaged" if self.packaged else str(self.directory)

    @property
    def version_line(self) -> str:
        """``rules VERSION (HASH12, LOCATION[, prior set NAME])``, e.g. ``rules 2026.11.29 (bb12ba9f1a39,
        packaged)``: the provenance line of every text output (see :attr:`location`)."""
        priors = f", prior set {self.prior_set}" if self.prior_set else ""
        return f"rules {self.settings.version} ({self.content_hash[:12]}, {self.location}{priors})"

    def with_prior_set(self, name: str | None) -> Knowledge:
        """This knowledge with the priors of settings ``prior_sets[name]`` (``None``: entities.yaml's own,
        whatever the settings' default ``prior_set``; :func:`load_knowledge` applies that default).

        Raises :class:`KnowledgeError` naming the known sets when ``name`` is not one of them.
        """
        if name == self.prior_set:
            return self
        own = self.file_priors or {e.slug: e.prior for e in self.entities}
        chosen = self.settings.prior_sets.get(name) if name is not None else None
        if name is not None and chosen is None:
            known = sorted(self.settings.prior_sets)
            raise KnowledgeError(
                [
                    Problem(
                        f"no prior set {name!r} in the settings; "
                        + (f"known: {', '.join(known)}" if known else "settings.yaml defines none (prior_sets:)"),
                        file=str(self.directory / "settings.yaml"),
                        suggestions=difflib.get_close_matches(name, known),
                    )
                ]
            )
        priors = chosen.priors if chosen is not None else own
        entities = [e.model_copy(update={"prior": priors[e.slug]}) for e in self.entities]
        return replace(self, entities=entities, prior_set=name, file_priors=own)


# ------------------------------------------------------------------ loading


def packaged_rules_dir() -> Path:
    """The rules shipped with ddx: inside the wheel, or the checkout's rules/."""
    here = Path(__file__).resolve().parent.parent  # ddx/
    for candidate in (here / "_rules", here.parent / "rules"):
        if (candidate / "vocabulary.yaml").is_file():
            return candidate
    raise KnowledgeError([Problem("no packaged rules found (expected ddx/_rules or rules/)")])


def resolve_rules_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--rules DIR``, else ``$DDX_RULES``, else the packaged rules."""
    chosen = explicit or os.environ.get("DDX_RULES")
    if chosen:
        path = Path(chosen).expanduser()
        if not (path / "vocabulary.yaml").is_file():
            raise KnowledgeError([Problem("not a ddx rules directory (no vocabulary.yaml)", file=str(path))])
        return path
    return packaged_rules_dir()


def load_knowledge(directory: str | os.PathLike[str] | None = None, *, overrides: Mapping[Path, str] | None = None) -> Knowledge:
    """Load and validate a rules directory.

    ``overrides`` maps files of the directory to text that replaces their
    content on disk (an edit not yet saved); a new file among them is loaded too.
    The settings' default ``prior_set``, if any, is applied (another: :meth:`Knowledge.with_prior_set`).
    Raises :class:`KnowledgeError` listing every problem found.
    """
    knowledge, problems = load_knowledge_partial(directory, overrides=overrides)
    if problems or knowledge is None:
        raise KnowledgeError(problems)
    return knowledge


def load_knowledge_partial(
    directory: str | os.PathLike[str] | None = None, *, overrides: Mapping[Path, str] | None = None
) -> tuple[Knowledge | None, list[Problem]]:
    """Load a rules directory as far as it goes: ``(knowledge, problems)``.

    With no problems this is :func:`load_knowledge`. With problems, ``knowledge``
    holds what could be read (the rules, entities and settings that are valid) so
    that ``ddx rules check`` can run its checks of single rules on them in the
    same pass; it is None when the vocabulary cannot be read. Such a partial
    knowledge base is for checking only, never for ranking.
    Raises :class:`KnowledgeError` only for a folder that is not a rules directory.
    """
    root = resolve_rules_dir(directory)
    collecting = gc.isenabled()
    # loading makes tens of thousands of objects that live on: the collector's passes (68 in a load without the
    # rules cache, 131 objects found in all) cost about 7 ms and free next to nothing
    gc.disable()
    try:
        return _load_parts(root, overrides)
    except KnowledgeError as exc:  # the vocabulary: nothing else can be read without it
        return None, exc.problems
    finally:
        if collecting:
            gc.enable()


def _renamed_entities(
    read_rules: list[tuple[Path, list[Entry[RuleSpec]]]],
    slugs: list[str],
    sub_slugs: list[str],
    entity_lines: Mapping[str, int],
    ent_file: str,
    unchecked: _Unchecked,
    problems: list[Problem],
) -> None:
    """An entity whose slug no rule's likelihood names, while a near slug that is no entity is named by at least
    half as many rules as a main entity typically is (and by two or more): most likely the entity's slug was
    mistyped (or the rules' was), so one problem says so at the entity, and neither slug is reported again at
    every rule (no likelihood for one, an unknown entity in the other)."""
    named: dict[str, int] = {}
    for _, entries in read_rules:
        for entry in entries:
            cells = entry.raw.get("likelihood") if isinstance(entry.raw, dict) else None
            for slug in cells if isinstance(cells, dict) else ():
                if isinstance(slug, str) and slug != "__line__":
                    named[slug] = named.get(slug, 0) + 1
    defined = set(slugs) | set(sub_slugs)
    # a slug mistyped in entities.yaml leaves its old name in about as many rules as name any main entity; a
    # stray named by a few rules is a typo there (reported at each rule), not a renamed entity
    counts = sorted(named.get(slug, 0) for slug in slugs if named.get(slug))
    typical = counts[len(counts) // 2] if counts else 0
    strays = {slug: n for slug, n in named.items() if slug not in defined and slug not in unchecked and n >= max(2, typical // 2)}
    for slug in slugs:
        if named.get(slug) or not strays:
            continue
        near = difflib.get_close_matches(slug, sorted(strays), n=1, cutoff=0.75)
        if not near:
            continue
        written = near[0]
        unchecked.slugs.add(written)
        unchecked.renamed[slug] = written
        problems.append(
            Problem(
                f"no rule gives a likelihood for {slug!r}, and {strays[written]} give one for {written!r}, which is not"
                f" an entity: is one of the two names mistyped? (the rules' likelihoods for either were not checked)",
                file=ent_file,
                line=entity_lines.get(slug),
                item=f"entity {slug}",
                suggestions=[written],
                code="unknown-term",
            )
        )


class _Unchecked:
    """Entity slugs whose references are not checked against entities.yaml: entities (and their subtypes)
    written but refused, whose own errors are reported, or every slug when the file could not be read."""

    def __init__(self) -> None:
        self.slugs: set[str] = set()
        self.every = False
        self.renamed: dict[str, str] = {}  # an entity's slug -> the near slug the rules name instead (mistyped)

    def __contains__(self, slug: object) -> bool:
        return self.every or slug in self.slugs


def _load_parts(root: Path, overrides: Mapping[Path, str] | None) -> tuple[Knowledge, list[Problem]]:
    over = {Path(k): v for k, v in (overrides or {}).items()}
    problems: list[Problem] = []
    vocab = load_vocabulary(root / "vocabulary.yaml", over.get(root / "vocabulary.yaml"))
    files = [root / "vocabulary.yaml", root / "settings.yaml", root / "entities.yaml"]

    settings = load_model(root / "settings.yaml", Settings, problems, over) or Settings(version="unknown")

    entities: list[Entity] = []
    entity_lines: dict[str, int] = {}
    ent_file = root / "entities.yaml"
    found: list[Entry[Entity]] = []
    before = len(problems)
    read = load_model(ent_file, EntitiesFile, problems, over, entries=found)
    # entities written but refused (their own errors said), with their subtypes: the references to them
    # elsewhere are not reported again as unknown entities, one note says they were not checked
    refused = _Unchecked()
    if read is None and len(problems) > before:  # the file could not be read (a YAML error): no slug is known
        refused.every = True
        problems.append(
            Problem(
                "not read (see its error), so the rules', priors' and reports' references to entities were not checked",
                file=str(ent_file),
                code="not-checked",
            )
        )
    for entry in found:
        problems += entry.problems
        if entry.value is not None:
            entities.append(entry.value)
            if entry.line:
                entity_lines[entry.value.slug] = entry.line
        elif entry.error is not None and isinstance(entry.raw, dict) and isinstance(entry.raw.get("slug"), str):
            written = [entry.raw["slug"]] + [
                sub["slug"] for sub in entry.raw.get("subtypes") or [] if isinstance(sub, dict) and isinstance(sub.get("slug"), str)
            ]
            refused.slugs.update(written)
            subtypes = f" and to its subtypes {', '.join(written[1:])}" if written[1:] else ""
            problems.append(
                Problem(
                    f"not loaded (see its own errors), so the references to it{subtypes} in the rules, priors and"
                    " reports were not checked",
                    file=str(ent_file),
                    line=entry.line,
                    code="not-checked",
                    item=EntitiesFile.item_name(entry.raw),
                )
            )
    slugs = [e.slug for e in entities]
    sub_slugs = [s.slug for e in entities for s in e.subtypes]
    paths = vocab.finding_paths()
    for slug in sorted(set(sub_slugs)):
        if sub_slugs.count(slug) > 1 or slug in slugs:
            problems.append(
                Problem(
                    f"subtype slug {slug!r} is used twice (entity and subtype slugs are one namespace)",
                    file=str(ent_file),
                    line=entity_lines.get(slug),
                )
            )
    for e in entities:
        if slugs.count(e.slug) > 1:
            problems.append(Problem(f"duplicate entity slug {e.slug!r}", file=str(ent_file)))
        for sub in e.subtypes:
            for finding in sub.confirm_with or []:
                if finding not in paths:
                    problems.append(
                        Problem(
                            f"{sub.slug}: confirm_with {finding!r} is not a finding",
                            file=str(ent_file),
                            path=f"{e.slug}.subtypes.{sub.slug}.confirm_with",
                        )
                    )
        if e.variant_of and e.variant_of not in slugs:
            problems.append(Problem(f"{e.slug}: variant_of {e.variant_of!r} is not an entity", file=str(ent_file)))
        for finding in e.confirm_with:
            if finding not in paths:
                near = TermSet("path", _lookup={p: p for p in paths}).suggest(finding)
                problems.append(
                    Problem(
                        f"{e.slug}: confirm_with {finding!r} is not a finding",
                        file=str(ent_file),
                        path=f"{e.slug}.confirm_with",
                        suggestions=near,
                    )
                )

    reports = ReportTemplates()
    rep_file = root / "reports.yaml"
    if rep_file.is_file():
        files.append(rep_file)
        loaded = load_model(rep_file, ReportTemplates, problems, over)
        if loaded is not None:
            reports = loaded
            problems += _prose_problems(reports, vocab, str(rep_file))
            for group in reports.organ_site_groups:
                if group not in vocab.site_groups:
                    problems.append(
                        Problem(
                            f"organ_site_groups: {group!r} is not a site group of the vocabulary",
                            file=str(rep_file),
                            path="organ_site_groups",
                            suggestions=vocab.site_groups.suggest(group),
                        )
                    )
            band_ids = {b.id for b in settings.bands}
            for band_id in reports.descriptive_bands:
                if band_ids and band_id not in band_ids:
                    problems.append(
                        Problem(
                            f"descriptive_bands: {band_id!r} is not a band of settings.yaml",
                            file=str(rep_file),
                            path="descriptive_bands",
                            suggestions=sorted(band_ids),
                        )
                    )

    outside: list[Outside] = []
    out_file = root / "outside.yaml"
    if out_file.is_file() or out_file in over:
        files.append(out_file)
        found_outside: list[Entry[OutsideEntity]] = []
        load_model(out_file, OutsideFile, problems, over, entries=found_outside)
        outside = _load_outside(found_outside, out_file, vocab, problems)

    # ancillary.yaml: a rules folder made before it existed reads the packaged one (its own tests, if any,
    # are then reported as having no cost class, at that file)
    anc_file = root / "ancillary.yaml"
    if not (anc_file.is_file() or anc_file in over):
        anc_file = packaged_rules_dir() / "ancillary.yaml"
    anc_data = None
    ancillary = Ancillary(file=str(anc_file))
    if anc_file.is_file() or anc_file in over:
        files.append(anc_file)
        anc_data = read_data(anc_file, problems, over)
        if anc_data is not None:
            ancillary = load_ancillary(anc_data, anc_file, vocab, problems)

    rules: list[Rule] = []
    rule_dir = root / "rules"
    rule_files = sorted(
        set(rule_dir.glob("*.yaml"))
        | set(rule_dir.glob("*.yml"))
        | {p for p in over if p.parent == rule_dir and p.suffix in (".yaml", ".yml")}
    )
    if not rule_files:
        problems.append(Problem("no rule files (rules/*.yaml)", file=str(rule_dir)))
    seen: dict[str, str] = {}
    unloaded: set[str] = set()  # rules written but refused (their own errors said): not "not a rule" again
    read_rules: list[tuple[Path, list[Entry[RuleSpec]]]] = []
    for path in rule_files:
        files.append(path)
        found_rules: list[Entry[RuleSpec]] = []
        load_model(path, RulesFile, problems, over, entries=found_rules)
        read_rules.append((path, found_rules))
    _renamed_entities(read_rules, slugs, sub_slugs, entity_lines, str(ent_file), refused, problems)
    rep_lines = read_data(rep_file, [], over) if reports.entities else None  # the lines of its entity keys
    rep_entities = rep_lines.get("entities") if isinstance(rep_lines, dict) else None
    for slug in reports.entities:
        if slug not in slugs and slug not in sub_slugs and slug not in refused:
            problems.append(
                Problem(
                    f"report template for unknown entity {slug!r}",
                    file=str(rep_file),
                    line=key_line(rep_entities, slug),
                    path=f"entities.{slug}",
                    suggestions=TermSet("entity", _lookup={s: s for s in [*slugs, *sub_slugs]}).suggest(slug),
                )
            )
    for path, found_rules in read_rules:
        for rule in found_rules:
            problems += _without_misplaced_keys(rule.raw, rule.problems)
            if rule.value is not None:
                rules += _load_rule(rule.value, rule.raw, path, vocab, set(slugs), seen, problems, set(sub_slugs), refused)
            elif rule.error is not None and (salvaged := _salvaged_rule(rule.raw, rule.error)) is not None:
                # refused for a misspelt or unknown key only: read without it, it gets every check of a single
                # rule in this pass (the knowledge is partial, so it ranks nothing)
                rules += _load_rule(salvaged[0], salvaged[1], path, vocab, set(slugs), seen, problems, set(sub_slugs), refused)
            elif rule.error is not None:  # its entities and condition terms are still checked
                if isinstance(rule.raw, dict) and isinstance(rule.raw.get("id"), str):
                    unloaded.add(rule.raw["id"])
                known = set(slugs) | set(sub_slugs)
                _check_unparsed_rule(rule.raw, rule.error, str(path), rule.line, vocab, known, problems, refused)

    rules = inherit_figures(rules, entities, problems)
    rules = derive_ratios(rules, entities, problems, unloaded=unloaded)

    if anc_data is not None:
        offered = [
            (f"{k.split('__')[0]}.{k.split('__')[1]}", f"rule {r.id}", r.file, r.line or r.spec_line)
            for r in rules
            if r.spec.status == "active" and r.spec.likelihood is not None
            for k in sorted(r.keys)
            if k.startswith(("stains__", "molecular__"))
        ]
        offered += [
            (c, f"the caveat of rule {r.spec.id}", r.file, r.spec_line)
            for r in rules
            if not r.negated
            for t in r.spec.caveat_tests
            if (c := canonical_test(t, vocab))
        ]
        check_classes(ancillary, offered, anc_data, problems)
    if len(rules) > MAX_RULES:
        problems.append(
            Problem(
                f"{len(rules)} rules; the limit is {MAX_RULES} (durable-rules: {ENGINE_RULES} rules per ruleset)",
                file=str(rule_dir),
                code="engine-limit",
            )
        )
    keys = {k for r in rules if r.spec.status == "active" for k in r.keys}
    if len(keys) > MAX_FACT_PROPERTIES:
        problems.append(
            Problem(
                f"rules test {len(keys)} distinct findings; the limit is {MAX_FACT_PROPERTIES} "
                f"(durable-rules: {ENGINE_FACT_PROPERTIES} properties per fact)",
                file=str(rule_dir),
                code="engine-limit",
            )
        )
    # a conditional rule (given) scores its finding only beside another, so it cannot stand for it in a what-if
    scoring = {r.spec.id for r in rules if r.spec.likelihood is not None and r.spec.status == "active" and r.spec.given is None}
    for band in settings.bands:
        for rid in band.when.unrecorded_could_overturn or []:
            if rid not in scoring:
                problems.append(
                    Problem(
                        f"band {band.id!r}: unrecorded_could_overturn names {rid!r}, which is not an active, "
                        "unconditional scoring rule",
                        file=str(root / "settings.yaml"),
                        path=f"bands.{band.id}.when.unrecorded_could_overturn",
                        suggestions=TermSet("rule", _lookup={r: r for r in scoring}).suggest(rid),
                    )
                )
    for stain in settings.core_stains:
        if stain not in vocab.stains.terms:
            problems.append(
                Problem(
                    f"core_stains: {stain!r} is not a stain of the vocabulary",
                    file=str(root / "settings.yaml"),
                    suggestions=vocab.stains.suggest(stain),
                )
            )
    for name, chosen in settings.prior_sets.items():
        missing = sorted(set(slugs) - set(chosen.priors) - set(refused.renamed))
        unknown = sorted(slug for slug in set(chosen.priors) - set(slugs) if slug not in refused)
        if missing:
            problems.append(Problem(f"prior set {name!r}: no prior for {', '.join(missing)}", file=str(root / "settings.yaml")))
        if unknown:
            problems.append(
                Problem(
                    f"prior set {name!r}: unknown entities {', '.join(unknown)}",
                    file=str(root / "settings.yaml"),
                    suggestions=missing[:5],
                )
            )
    if settings.prior_set is not None and settings.prior_set not in settings.prior_sets:
        problems.append(
            Problem(
                f"prior_set {settings.prior_set!r} is not one of prior_sets "
                f"({', '.join(sorted(settings.prior_sets)) or 'none defined'})",
                file=str(root / "settings.yaml"),
            )
        )
    synonyms = TermSet("entity")
    for e in entities:
        for slug, names in ((e.slug, e.synonyms), *((sub.slug, sub.synonyms) for sub in e.subtypes)):
            try:
                synonyms.add(slug, names)
            except ValueError as exc:  # a synonym (or slug) given to two entities
                problems.append(Problem(str(exc), file=str(root / "entities.yaml"), code="schema"))
    knowledge = Knowledge(
        root,
        settings,
        vocab,
        entities,
        rules,
        _hash_files(files, over),
        files,
        reports,
        entity_lines,
        outside,
        file_priors={e.slug: e.prior for e in entities},
        ancillary=ancillary,
    )
    if problems:
        return knowledge, problems
    return knowledge.with_prior_set(settings.prior_set), problems


def _load_outside(entries: list[Entry[OutsideEntity]], path: Path, vocab: Vocabulary, problems: list[Problem]) -> list[Outside]:
    """The outside entities read from ``path``, compiled; each entry's problems (in file order) and those
    of its findings and condition are appended to ``problems``."""
    out = []
    paths = vocab.finding_paths()
    tests = [p for p in paths if p.startswith(("stains.", "molecular.")) and p.count(".") == 1]  # a test, not its extent
    seen: set[str] = set()
    for entry in entries:
        problems += entry.problems
        spec, line = entry.value, entry.line
        if spec is None:
            continue
        if spec.slug in seen:
            problems.append(Problem(f"duplicate outside entity {spec.slug!r}", file=str(path), line=line))
        seen.add(spec.slug)
        checks: list[tuple[str, Collection[str], str]]
        checks = [(f, paths, "is not a finding") for f in (*spec.findings, *spec.answered_by, *spec.supporting)]
        checks += [(t, tests, "is not a stain or molecular test (stains.x or molecular.x)") for t in spec.tests]
        for word, among, what in checks:
            if word not in among:
                near = TermSet("path", _lookup={p: p for p in among}).suggest(word)
                problems.append(
                    Problem(f"{spec.slug}: {word!r} {what}", file=str(path), line=line, suggestions=near, code="unknown-term")
                )
        try:
            node = parse_condition(spec.when, vocab)
        except ConditionError as exc:
            problems.append(Problem(f"{spec.slug}: {exc}", file=str(path), line=line, suggestions=exc.suggestions, code="condition"))
            continue
        out.append(Outside(spec, compile_predicate(node)))
    return out


def _load_rule(
    spec: RuleSpec,
    raw: dict[str, Any],
    path: Path,
    vocab: Vocabulary,
    slugs: set[str],
    seen: dict[str, str],
    problems: list[Problem],
    subtypes: set[str] | None = None,
    refused: _Unchecked | None = None,
) -> list[Rule]:
    """The compiled halves of a valid rule (``raw``: as read, with its line markers); its checks against the
    other files (entities, vocabulary, ids seen before) append to ``problems`` (``refused``: entities and
    subtypes written but refused, which are not reported as unknown again)."""
    file = str(path)
    line = raw.get("__line__")
    where = f"{file}:{line}" if line else file
    if spec.id in seen:
        problems.append(
            Problem(f"duplicate rule id {spec.id!r} (first defined at {seen[spec.id]})", file=file, line=line, code="duplicate-id")
        )
        return []
    seen[spec.id] = where
    known = slugs | (subtypes or set())
    unchecked = refused if refused is not None else _Unchecked()
    misspelt: dict[str, str] = {}  # an entity without a likelihood -> the unknown key that is likely it ('lsm' for lms)
    absent = slugs - set(spec.likelihood or {})
    for slug in list((spec.likelihood or {}).keys()):
        if slug not in known and (slug not in unchecked or slug in RuleSpec.model_fields):
            near = TermSet("entity", _lookup={s: s for s in known}).suggest(slug)
            lk_line = key_line(raw.get("likelihood"), slug) or line
            likely = next((n for n in near if n in absent), None)  # the nearest entity the rule does not give
            if likely is not None:
                misspelt.setdefault(likely, f"{slug!r} at line {lk_line}" if lk_line else repr(slug))
            problems.append(
                Problem(
                    f"rule {spec.id}: unknown entity {slug!r}{_misplaced(slug)}",
                    file=file,
                    line=lk_line,
                    suggestions=near,
                    code="unknown-term",
                )
            )
    if spec.likelihood is not None and spec.default is None and spec.likelihood_from is None:  # else: the base's figures fill it
        missing = sorted(slugs - set(spec.likelihood) - set(unchecked.renamed))
        if missing:
            problems.append(
                Problem(
                    f"rule {spec.id}: no likelihood for "
                    + ", ".join(f"{m} ({misspelt[m]} may be it)" if m in misspelt else m for m in missing)
                    + f"; add {'it' if len(missing) == 1 else 'them'} or a 'default'",
                    file=file,
                    line=line,
                    code="weight",
                )
            )
    for slug in spec.consider:
        if slug not in known and slug not in unchecked:
            near = TermSet("entity", _lookup={s: s for s in known}).suggest(slug)
            problems.append(
                Problem(
                    f"rule {spec.id}: consider: unknown entity {slug!r}",
                    file=file,
                    line=key_line(raw, "consider") or line,
                    suggestions=near,
                    code="unknown-term",
                )
            )
    if spec.consider and not spec.caveat:
        problems.append(
            Problem(f"rule {spec.id}: consider: names what a caveat warns of; add the caveat", file=file, line=line, code="condition")
        )
    if spec.consider and not spec.caveat_tests:
        problems.append(
            Problem(
                f"rule {spec.id}: consider: needs caveat_tests, the tests that settle the pitfall (until they are recorded "
                "the pitfall holds the leader back; without them it never would stop)",
                file=file,
                line=key_line(raw, "consider") or line,
                code="condition",
            )
        )
    for test in spec.caveat_tests:
        if canonical_test(test, vocab) is None:
            paths = test_paths(vocab)
            problems.append(
                Problem(
                    f"rule {spec.id}: caveat_tests: {test!r} is not a stain or molecular test "
                    "(write stains.<stain> or molecular.<test>)",
                    file=file,
                    line=key_line(raw, "caveat_tests") or line,
                    suggestions=paths.suggest(test),
                    code="unknown-term",
                )
            )
    accounted: Node | None = None
    if spec.accounts_for is not None:
        acc_line = spec.accounts_for.get("__line__", line) if isinstance(spec.accounts_for, dict) else line
        try:
            accounted = parse_condition(spec.accounts_for, vocab)
        except ConditionError as exc:
            problems.append(_condition_problem(f"rule {spec.id}: accounts_for: ", exc, file, acc_line))
        else:
            # items of list findings, or a finding with one value: a finding named without its value would be
            # hidden whatever its recorded value
            lists = {path for path, kind in vocab.finding_paths().items() if kind == "list"}
            wrong = sorted(
                {f"{a.path} {a.op}" for a in atoms(accounted) if a.op not in LIST_READS and (a.op != "eq" or a.path in lists)}
            )
            if wrong:
                accounted = None
                problems.append(
                    Problem(
                        f"rule {spec.id}: accounts_for names items of list findings "
                        f"({{morphology.stroma: {{contains: hyalinized}}}}) or findings with one value "
                        f"({{molecular.ranbp2_alk_fusion: present}}), not {', '.join(wrong)}",
                        file=file,
                        line=acc_line,
                        code="condition",
                    )
                )
    out = []
    for negated, cond in ((False, spec.when), (True, spec.negated_by)):
        if cond is None:
            continue
        cond_line = cond.get("__line__", line) if isinstance(cond, dict) else line
        try:
            node = parse_condition(cond, vocab)
        except ConditionError as exc:
            problems.append(_condition_problem(f"rule {spec.id}: ", exc, file, cond_line))
            continue
        branches = branch_count(node)
        if branches > MAX_BRANCHES_PER_RULE:
            problems.append(
                Problem(
                    f"rule {spec.id}: condition expands to {branches} alternatives; the limit is "
                    f"{MAX_BRANCHES_PER_RULE} (durable-rules fails beyond {ENGINE_TRUE_PATHS} alpha tests true at once)",
                    file=file,
                    line=cond_line,
                    code="engine-limit",
                )
            )
            continue
        rid = spec.id + (NEGATION_SUFFIX if negated else "")
        out.append(Rule(rid, spec, negated, node, compile_predicate(node), file, cond_line, line, None if negated else accounted))
    return out


def _condition_problem(prefix: str, exc: ConditionError, file: str, line: int | None) -> Problem:
    """A condition that does not parse, as a problem: an unknown term (with the nearest ones) or a malformed condition."""
    return Problem(
        f"{prefix}{exc}",
        file=file,
        line=line,
        suggestions=exc.suggestions,
        code="unknown-term" if exc.suggestions or "unknown" in str(exc) else "condition",
    )


def inherit_figures(rules: list[Rule], entities: Sequence[Entity], problems: list[Problem]) -> list[Rule]:
    """Fill in each ``likelihood_from`` rule's figures from the rule it names (its base): a profile (an entity or
    a subtype) the rule gives no figure for takes the base's, and so does its default; a subtype the base gives
    no figure of its own then reads its entity's, as in any rule (so an entity's figure given here stands for
    its subtypes unless the base knows better). An inherited estimate's reason says whose figure it is. The
    base must exist, have figures and not be filled from another rule itself; otherwise a problem is reported
    and the rule keeps only its own figures.
    Returns the rules, those filled in given new specs (the specs read from the files are not changed)."""
    specs: dict[str, RuleSpec] = {}
    for r in rules:
        specs.setdefault(r.spec.id, r.spec)
    resolved: dict[str, RuleSpec] = {}
    taken: dict[str, frozenset[str]] = {}
    for spec_id, spec in specs.items():
        if spec.likelihood_from is None:
            continue
        base = specs.get(spec.likelihood_from)
        why = (
            "is not a rule (or one that did not load: see its own error)"
            if base is None
            else "gives no figures"
            if not base.likelihood
            else f"is itself filled from {base.likelihood_from!r} (name that rule instead)"
            if base.likelihood_from is not None
            else None
        )
        if why is not None:
            where = next(r for r in rules if r.spec is spec)
            problems.append(
                Problem(
                    f"rule {spec_id}: likelihood_from names {spec.likelihood_from!r}, which {why}",
                    file=where.file,
                    line=where.spec_line,
                    path=f"{spec_id}.likelihood_from",
                    suggestions=[]
                    if base is not None
                    else difflib.get_close_matches(spec.likelihood_from, [i for i in specs if i != spec_id], n=3),
                )
            )
            continue
        assert base is not None and base.likelihood is not None
        own = spec.likelihood or {}
        cells = dict(own)
        for slug, cell in base.likelihood.items():
            if slug in own:
                continue
            if cell.estimate and cell.reason and cell.ratio is None:
                note = f"(the figure of rule {base.id}, used here for want of one for this narrower group)"
                cell = cell.model_copy(update={"reason": f"{cell.reason} {note}"})
            cells[slug] = _cited(cell, base.source)
        default = _cited(base.default, base.source) if base.default is not None else None
        resolved[spec_id] = spec.model_copy(update={"likelihood": cells, "default": default})
        taken[spec_id] = frozenset(set(cells) - set(own)) | (frozenset({"default"}) if default is not None else frozenset())
    if not resolved:
        return rules
    return [replace(r, spec=resolved[r.spec.id], inherited=taken[r.spec.id]) if r.spec.id in resolved else r for r in rules]


def _cited(cell: Likelihood, source: str) -> Likelihood:
    """A figure taken from another rule keeps its citation: the rule's source where the cell names none."""
    return cell.model_copy(update={"source": source}) if cell.source is None and cell.pooled is None else cell


def _misplaced(slug: str) -> str:
    """What to say of a rule's own key written inside its ``likelihood:`` (``default:`` there), else ""."""
    if slug in RuleSpec.model_fields:
        return f" ({slug!r} is a key of the rule itself: write it beside 'likelihood:', at the rule's indentation, not inside it)"
    return ""


def derive_ratios(
    rules: list[Rule], entities: Sequence[Entity], problems: list[Problem], *, unloaded: Collection[str] = ()
) -> list[Rule]:
    """Work out every ``ratio`` cell: P(finding | condition, profile) = P(finding)/P(condition), each read from
    its rule's figure for the same profile (a subtype without its own figure reads its entity's, then the
    rule's default), on the assumption that the finding implies the condition. Where the finding's figure
    exceeds the condition's the assumption fails, and the unconditional figure is kept (README, "Findings that
    are not independent"). A subtype the conditional rule does not name, but either of the two rules gives its
    own figure, gets its own derived cell, so its figures are not replaced by its entity's ratio.

    The derived cell is an estimate whose reason shows the working. A ratio naming a rule that does not exist,
    one that reads none of the findings the conditional rule reads, or one without a figure for the profile, or that is
    itself a ratio, is a problem; a ratio naming one of ``unloaded`` (rule ids written but refused, whose own
    errors are reported) is left as it is, unsaid. Returns the rules, those with ratio cells given new specs
    (the specs read from the files are not changed)."""
    specs: dict[str, RuleSpec] = {}
    keys: dict[str, frozenset[str]] = {}
    for r in rules:
        specs.setdefault(r.spec.id, r.spec)
        if not r.negated:
            keys[r.spec.id] = r.keys
    parent = {s.slug: e.slug for e in entities for s in e.subtypes}
    children = {e.slug: [s.slug for s in e.subtypes] for e in entities}

    def figure(spec: RuleSpec, slug: str) -> Likelihood | None:
        lk = spec.likelihood or {}
        return lk.get(slug) or lk.get(parent.get(slug, "")) or spec.default

    resolved: dict[str, RuleSpec] = {}
    for spec_id, spec in specs.items():
        cells = spec.likelihood or {}
        if not any(c.ratio for c in cells.values()):
            continue
        where = next(r for r in rules if r.spec is spec)
        new = dict(cells)
        todo = [(slug, cell) for slug, cell in cells.items() if cell.ratio is not None]
        # a subtype not named here whose own figures the two rules give: derived from those, not inherited
        todo += [
            (sub, cell)
            for slug, cell in list(todo)
            for sub in children.get(slug, [])
            if sub not in cells and any(sub in ((specs[rid].likelihood or {}) if rid in specs else {}) for rid in (cell.ratio or ()))
        ]
        for slug, cell in todo:
            assert cell.ratio is not None
            figures: list[tuple[RuleSpec, Likelihood]] = []
            refused = [rid for rid in cell.ratio if (rid not in specs and rid in unloaded) or (rid in specs and rid not in keys)]
            if spec_id not in keys or refused:
                # this rule's condition was refused, or a rule it names was, or that rule's condition was (a
                # half-loaded rule keeps only its negation): their own errors say why, this one would only echo them
                continue
            for rid in cell.ratio:
                other = specs.get(rid)
                fig = figure(other, slug) if other is not None else None
                why = (
                    "is not a rule"
                    if other is None
                    else "reads no finding this rule reads"
                    if not keys.get(rid, frozenset()) & keys.get(spec_id, frozenset())
                    else f"gives no figure for {slug}"
                    if fig is None
                    else "is itself a ratio (derive from figures, not from ratios)"
                    if fig.ratio is not None
                    else None
                )
                if why is not None:
                    problems.append(
                        Problem(
                            f"rule {spec_id}: the ratio of {slug} names {rid!r}, which {why}",
                            file=where.file,
                            line=where.spec_line,
                            path=f"{spec_id}.likelihood.{slug}",
                            suggestions=[] if other is not None else difflib.get_close_matches(rid, list(specs), n=3),
                        )
                    )
                    break
                assert fig is not None and other is not None
                figures.append((other, fig))
            else:
                (num_rule, num), (den_rule, den) = figures
                kept = num.p > den.p or den.p == 0
                p = num.p if kept else num.p / den.p
                working = (
                    f"derived: P({num_rule.title})/P({den_rule.title}) = {num.p:.3g}/{den.p:.3g}"
                    if not kept
                    else f"derived: P({num_rule.title}) = {num.p:.3g} kept, as P({den_rule.title}) is 0"
                    if den.p == 0
                    else f"derived: P({num_rule.title}) = {num.p:.3g} kept, as it exceeds P({den_rule.title}) = {den.p:.3g}"
                )
                reason = working + (f"; {cell.reason}" if cell.reason else "")
                new[slug] = cell.model_copy(update={"p": round(p, 4), "reason": reason})
        resolved[spec_id] = spec.model_copy(update={"likelihood": new})
    if not resolved:
        return rules
    return [replace(r, spec=resolved[r.spec.id]) if r.spec.id in resolved else r for r in rules]


def _without_misplaced_keys(raw: Any, found: list[Problem]) -> list[Problem]:
    """A rule's problems without those a key of the rule written inside its likelihoods causes (``rationale:``
    indented under ``likelihood:``): the key missing, and the key as a cell that is no figure; the check of its
    entities says what happened ("'rationale' is a key of the rule itself")."""
    cells = raw.get("likelihood") if isinstance(raw, dict) else None
    misplaced = {k for k in cells if isinstance(k, str) and k in RuleSpec.model_fields} if isinstance(cells, dict) else set()
    if not misplaced:
        return found
    inside = {f"likelihood.{k}" for k in misplaced}
    return [
        p for p in found if not (p.path in misplaced or p.path in inside or (p.path or "").startswith(tuple(f"{i}." for i in inside)))
    ]


def _salvaged_rule(raw: Any, exc: ValidationError) -> tuple[RuleSpec, dict[str, Any]] | None:
    """A rule refused only for unknown keys at its top level, read again without them: the spec and the
    mapping read (with its key lines), or None when another error remains.

    An unknown key near a key of a rule that the rule does not write is read as that key (``rationle`` as
    ``rationale``, ``defualt`` as ``default``: :func:`~ddx.knowledge.load.as_meant`); one near a key it writes
    already (``sources`` beside ``source``) leaves the rule refused, since what it meant is unclear; any other
    is left out. Its own errors are reported already; this lets the other checks of the rule (sources, cells,
    examples, a duplicate id) run in the same pass."""
    errors = exc.errors()
    if not isinstance(raw, dict) or any(len(e["loc"]) != 1 or e["type"] not in ("missing", "extra_forbidden") for e in errors):
        return None
    if not any(e["type"] == "extra_forbidden" for e in errors):
        return None
    fixed, left = as_meant(raw, errors, RuleSpec)
    if any(near for _, _, near in left):
        return None
    fixed = copy.copy(fixed)
    for _, key, _ in left:  # like no key of a rule: left out
        del fixed[key]
    try:
        return RuleSpec.model_validate(stripped(fixed, RuleSpec)), fixed
    except ValidationError:
        return None


def _check_unparsed_rule(
    raw: dict[str, Any],
    exc: ValidationError,
    file: str,
    line: int | None,
    vocab: Vocabulary,
    known: set[str],
    problems: list[Problem],
    unchecked: _Unchecked,
) -> None:
    """The checks of a rule that does not validate (a weight out of range, a key missing) which do not
    need it to: its entities and its conditions' terms, so one pass reports all its problems."""
    rule_id = raw.get("id") if isinstance(raw.get("id"), str) else "?"
    failed = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    likelihood = raw.get("likelihood")
    if isinstance(likelihood, dict):
        for slug in likelihood:
            if (
                slug != "__line__"
                and isinstance(slug, str)
                and slug not in known
                and (slug not in unchecked or slug in RuleSpec.model_fields)
            ):
                near = TermSet("entity", _lookup={s: s for s in known}).suggest(slug)
                problems.append(
                    Problem(
                        f"rule {rule_id}: unknown entity {slug!r}{_misplaced(slug)}",
                        file=file,
                        line=key_line(likelihood, slug) or line,
                        suggestions=near,
                        code="unknown-term",
                    )
                )
    for key in ("when", "negated_by"):
        cond = raw.get(key)
        if not isinstance(cond, dict) or key in failed:
            continue
        try:
            parse_condition(cond, vocab)
        except ConditionError as err:
            problems.append(
                Problem(
                    f"rule {rule_id}: {err}",
                    file=file,
                    line=cond.get("__line__", line),
                    suggestions=err.suggestions,
                    code="unknown-term" if err.suggestions or "unknown" in str(err) else "condition",
                )
            )


def _hash_files(files: list[Path], overrides: Mapping[Path, str]) -> str:
    h = hashlib.sha256()
    for f in files:
        if f in overrides:
            h.update(f.name.encode())
            h.update(overrides[f].encode("utf-8"))
        elif f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()
