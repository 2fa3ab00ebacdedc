"""Loading the knowledge base: ``rules/`` holds the vocabulary, the entities,
the settings and the rule files. Everything is validated into pydantic models
(``extra="forbid"``); a broken file is an error naming the file and line.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from string import Template
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ddx.case import CaseSchema, build_case_schema
from ddx.conditions import ConditionError, Node, Predicate, atoms, branch_count, compile_predicate, parse_condition
from ddx.errors import KnowledgeError, Problem
from ddx.vocabulary import TermSet, Vocabulary, load_vocabulary
from ddx.yamlio import ReadError, key_line, load_data, strip_lines

RULE_ID = r"^[a-z0-9][a-z0-9_.\-]{0,120}$"
NEGATION_SUFFIX = ":not"

# Limits enforced so that the rule engine is never driven past its structural
# constants (../shared/knowledge/durable-rules.md, "Structural limits").
MAX_BRANCHES_PER_RULE = 24   # alternatives after expanding any/in (engine: 64 alpha tests true at once)
MAX_FACT_PROPERTIES = 240    # distinct finding keys rules may test (engine: 255 properties per message)
MAX_RULES = 4000             # engine: 4096 rules per ruleset (we also shard)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Likelihood(Model):
    """P(finding | entity): a cited figure or an estimate (written ``~0.3``)."""

    p: float = Field(ge=0, le=1)
    estimate: bool = False
    n: str | None = None        # denominator as reported, e.g. "44/73"
    source: str | None = None   # overrides the rule's source for this figure

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "__line__"}
            p = value.get("p")
            if isinstance(p, str):
                value["p"], est = _parse_p(p)
                value["estimate"] = value.get("estimate", False) or est
            return value
        if isinstance(value, str):
            p, est = _parse_p(value)
            return {"p": p, "estimate": est}
        if isinstance(value, bool):
            raise ValueError("a likelihood is a number between 0 and 1 (or ~0.3 for an estimate)")
        return {"p": value}

    def shown(self) -> str:
        text = f"{'~' if self.estimate else ''}{self.p:.2f}"
        return text + (f" ({self.n})" if self.n else "")


def _parse_p(text: str) -> tuple[float, bool]:
    t = text.strip()
    est = t.startswith("~")
    try:
        return float(t.lstrip("~").strip()), est
    except ValueError:
        raise ValueError(f"a likelihood is a number between 0 and 1 (or ~0.3 for an estimate), got {text!r}") from None


class Prior(Likelihood):
    p: float = Field(gt=0, le=1)


class Entity(Model):
    slug: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    who2020: str | None = None
    icd_o: str | None = None
    synonyms: list[str] = []
    variant_of: str | None = None
    group: Literal["main", "mimic"] = "mimic"
    prior: Prior
    source: str
    notes: str | None = None
    # Findings that confirm this entity when recorded (finding paths, e.g.
    # molecular.near_haploidization); used by the "confirmation advised" band.
    confirm_with: list[str] = []
    confirm_source: str | None = None


class Examples(Model):
    """Small cases a rule must match (``should_match``) or must not (``should_not_match``).

    Each is the findings part of a case, written as in a case file or with dotted
    keys (``{stains.desmin: positive}``); ``ddx rules check`` runs them.
    """

    should_match: list[dict[str, Any]] = []
    should_not_match: list[dict[str, Any]] = []

    @model_validator(mode="before")
    @classmethod
    def _drop_line(cls, value: Any) -> Any:
        # the examples themselves keep their line markers, for messages
        return {k: v for k, v in value.items() if k != "__line__"} if isinstance(value, dict) else value


class RuleSpec(Model):
    id: str = Field(pattern=RULE_ID)
    title: str                         # the finding, as shown in evidence ("Desmin positive")
    status: Literal["active", "draft", "retired"]
    when: dict[str, Any]
    negated_by: dict[str, Any] | None = None   # the tested-negative complement, scored 1 - p
    negated_title: str | None = None
    likelihood: dict[str, Likelihood] | None = None
    default: Likelihood | None = None  # for entities not listed in likelihood
    rationale: str
    source: str = Field(min_length=3)
    caveat: str | None = None
    author: str | None = None
    updated: str | None = None
    examples: Examples | None = None

    @field_validator("rationale", "title")
    @classmethod
    def _one_line(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _effect(self) -> RuleSpec:
        if self.likelihood is None and self.caveat is None:
            raise ValueError("a rule needs a likelihood (its effect on each entity) or a caveat")
        if self.negated_by is not None and self.likelihood is None:
            raise ValueError("negated_by needs a likelihood")
        return self


class BandWhen(Model):
    """When a confidence band applies; every given bound must hold."""

    leader_min: float | None = Field(None, ge=0, le=1)   # leader's probability ≥
    leader_max: float | None = Field(None, ge=0, le=1)   # leader's probability <
    margin_min: float | None = Field(None, ge=0, le=1)   # leader − runner-up ≥
    margin_max: float | None = Field(None, ge=0, le=1)   # leader − runner-up <
    confirm_tested: bool | None = None   # a confirming test of the leader is / is not recorded
    has_confirmatory_test: bool | None = None   # the leader has / has no confirming test listed


BAND_FIELDS = frozenset({"leader", "runner_up", "next_test", "next_why", "confirm_tests"})
REPORT_FIELDS = frozenset({"site", "diagnosis", "leader", "probability", "band"})


def _check_template(text: str, allowed: frozenset[str]) -> str:
    template = Template(text)
    if not template.is_valid():
        raise ValueError("malformed $placeholder (write $$ for a literal dollar sign)")
    unknown = set(template.get_identifiers()) - allowed
    if unknown:
        raise ValueError(f"unknown placeholder(s) {', '.join(sorted('$' + u for u in unknown))}; "
                         f"use {', '.join(sorted('$' + a for a in allowed))}")
    return text


class Band(Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    label: str
    when: BandWhen = BandWhen()
    action: str   # $leader, $runner_up, $next_test, $next_why, $confirm_tests are filled in
    rationale: str | None = None

    @field_validator("action")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        return _check_template(v, BAND_FIELDS)


class Settings(Model):
    version: str
    title: str = "ddx knowledge base"
    clamp: tuple[float, float] = (0.01, 0.99)
    suggestions: int = 3
    source: str | None = None
    bands: list[Band] = []


class EntityReport(Model):
    diagnosis: str                 # the diagnosis line as a pathologist writes it
    comment: str = ""              # entity-specific closing sentences, cited
    source: str | None = None


class ReportTemplates(Model):
    """rules/reports.yaml: the wording of ``ddx eval --format report``."""

    heading: str = "DRAFT COMMENT (ddx decision support; not a diagnosis)"
    specimen: str = "Soft tissue tumour, $site:"
    favoured: str = "$diagnosis (see comment)"
    overall: str = "Overall, these findings favour $diagnosis."
    disclaimer: str = ""
    entities: dict[str, EntityReport] = {}

    @field_validator("heading", "specimen", "favoured", "overall")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        return _check_template(v, REPORT_FIELDS)


@dataclass
class Rule:
    """A validated, compiled rule (one of the two halves of a rule spec)."""

    id: str                    # engine id: the spec id, or spec id + ":not"
    spec: RuleSpec
    negated: bool
    condition: Node
    predicate: Predicate
    file: str
    line: int | None           # the line of this half's condition
    spec_line: int | None = None   # the line where the rule starts (its "- id:")

    @property
    def title(self) -> str:
        if self.negated:
            return self.spec.negated_title or f"{self.spec.title}: negative"
        return self.spec.title

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(a.key for a in atoms(self.condition))

    def likelihood(self, entity: str) -> Likelihood | None:
        lk = self.spec.likelihood or {}
        return lk.get(entity, self.spec.default)


@dataclass
class Knowledge:
    directory: Path
    settings: Settings
    vocab: Vocabulary
    entities: list[Entity]
    rules: list[Rule]
    content_hash: str
    files: list[Path] = field(default_factory=list)
    reports: ReportTemplates = field(default_factory=ReportTemplates)
    entity_lines: dict[str, int] = field(default_factory=dict)   # slug -> line in entities.yaml

    @cached_property
    def entity_slugs(self) -> list[str]:
        return [e.slug for e in self.entities]

    @cached_property
    def entity_terms(self) -> TermSet:
        ts = TermSet("entity")
        for e in self.entities:
            ts.add(e.slug, e.synonyms, label=e.name)
        return ts

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
    def case_schema(self) -> CaseSchema:
        return build_case_schema(self.vocab, self.entity_terms)

    @cached_property
    def referenced_keys(self) -> frozenset[str]:
        keys: set[str] = set()
        for r in self.active_rules:
            keys |= r.keys
        return frozenset(keys)

    def parent(self, slug: str) -> str:
        e = self.entity.get(slug)
        return e.variant_of if e is not None and e.variant_of else slug

    @property
    def version_line(self) -> str:
        return f"rules {self.settings.version} ({self.content_hash[:12]}, {self.directory})"


# ------------------------------------------------------------------ loading


def packaged_rules_dir() -> Path:
    """The rules shipped with ddx: inside the wheel, or the checkout's rules/."""
    here = Path(__file__).resolve().parent
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


def _located(exc: ValidationError, file: str, data: Any, base_line: int | None,
             code: str = "schema") -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        line = base_line
        node = data
        for part in err["loc"]:  # walk to the deepest key or mapping that carries a line
            line = key_line(node, part) or line
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
            if isinstance(node, dict) and "__line__" in node:
                line = node["__line__"]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}"
        elif err["type"] == "missing":
            msg = f"required key {loc[-1]!r} is missing"
        if "likelihood" in loc or "default" in loc or loc[-1:] == ["prior"] or "prior" in loc:
            kind = "weight"
        else:
            kind = code
        problems.append(Problem(msg, file=file, line=line, path=".".join(loc) or None, code=kind))
    return problems


def _load_yaml(path: Path, problems: list[Problem], overrides: Mapping[Path, str]) -> Any:
    try:
        return load_data(path, with_lines=True, text=overrides.get(path))
    except ReadError as exc:
        problems.append(Problem(str(exc), file=str(path), line=exc.line, code="syntax"))
        return None


def load_knowledge(directory: str | os.PathLike[str] | None = None, *,
                   overrides: Mapping[Path, str] | None = None) -> Knowledge:
    """Load and validate a rules directory.

    ``overrides`` maps files of the directory to text that replaces their
    content on disk (an edit not yet saved); a new file among them is loaded too.
    """
    root = resolve_rules_dir(directory)
    over = {Path(k): v for k, v in (overrides or {}).items()}
    problems: list[Problem] = []
    vocab = load_vocabulary(root / "vocabulary.yaml", over.get(root / "vocabulary.yaml"))
    files = [root / "vocabulary.yaml", root / "settings.yaml", root / "entities.yaml"]

    settings_data = _load_yaml(root / "settings.yaml", problems, over)
    settings = Settings(version="unknown")
    if settings_data is not None:
        try:
            settings = Settings.model_validate(strip_lines(settings_data))
        except ValidationError as exc:
            problems += _located(exc, str(root / "settings.yaml"), settings_data, None)

    entities: list[Entity] = []
    entity_lines: dict[str, int] = {}
    ent_file = root / "entities.yaml"
    ent_data = _load_yaml(ent_file, problems, over)
    if ent_data is not None:
        if not isinstance(ent_data, dict) or not isinstance(ent_data.get("entities"), list):
            problems.append(Problem("expected a top-level 'entities:' list", file=str(ent_file)))
        else:
            for raw in ent_data["entities"]:
                line = raw.get("__line__") if isinstance(raw, dict) else None
                try:
                    entities.append(Entity.model_validate(strip_lines(raw)))
                    if line:
                        entity_lines[entities[-1].slug] = line
                except ValidationError as exc:
                    problems += _located(exc, str(ent_file), raw, line)
    slugs = [e.slug for e in entities]
    paths = vocab.finding_paths()
    for e in entities:
        if slugs.count(e.slug) > 1:
            problems.append(Problem(f"duplicate entity slug {e.slug!r}", file=str(ent_file)))
        if e.variant_of and e.variant_of not in slugs:
            problems.append(Problem(f"{e.slug}: variant_of {e.variant_of!r} is not an entity", file=str(ent_file)))
        for finding in e.confirm_with:
            if finding not in paths:
                near = TermSet("path", _lookup={p: p for p in paths}).suggest(finding)
                problems.append(Problem(f"{e.slug}: confirm_with {finding!r} is not a finding", file=str(ent_file),
                                        path=f"{e.slug}.confirm_with", suggestions=near))

    reports = ReportTemplates()
    rep_file = root / "reports.yaml"
    if rep_file.is_file():
        files.append(rep_file)
        rep_data = _load_yaml(rep_file, problems, over)
        if rep_data is not None:
            try:
                reports = ReportTemplates.model_validate(strip_lines(rep_data))
            except ValidationError as exc:
                problems += _located(exc, str(rep_file), rep_data, None)
            for slug in reports.entities:
                if slug not in slugs:
                    problems.append(Problem(f"report template for unknown entity {slug!r}", file=str(rep_file),
                                            path=f"entities.{slug}", suggestions=sorted(slugs)))

    rules: list[Rule] = []
    rule_dir = root / "rules"
    rule_files = sorted(set(rule_dir.glob("*.yaml")) | set(rule_dir.glob("*.yml"))
                        | {p for p in over if p.parent == rule_dir and p.suffix in (".yaml", ".yml")})
    if not rule_files:
        problems.append(Problem("no rule files (rules/*.yaml)", file=str(rule_dir)))
    seen: dict[str, str] = {}
    for path in rule_files:
        files.append(path)
        before = len(problems)
        data = _load_yaml(path, problems, over)
        if data is None:
            if len(problems) == before:
                problems.append(Problem("the file is empty; expected a top-level 'rules:' list", file=str(path),
                                        code="schema"))
            continue
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            problems.append(Problem("expected a top-level 'rules:' list", file=str(path),
                                    line=key_line(data, "rules") or 1, code="schema"))
            continue
        list_line = key_line(data, "rules")
        for raw in data["rules"]:
            if not isinstance(raw, dict):
                problems.append(Problem(f"each rule must be a mapping ('- id: ...'), got {raw!r:.60}", file=str(path),
                                        line=list_line, code="schema"))
                continue
            rules += _load_rule(raw, path, vocab, set(slugs), seen, problems)

    if len(rules) > MAX_RULES:
        problems.append(Problem(f"{len(rules)} rules; the limit is {MAX_RULES} (durable-rules: 4096 rules per ruleset)",
                                file=str(rule_dir), code="engine-limit"))
    keys = {k for r in rules if r.spec.status == "active" for k in r.keys}
    if len(keys) > MAX_FACT_PROPERTIES:
        problems.append(Problem(
            f"rules test {len(keys)} distinct findings; the limit is {MAX_FACT_PROPERTIES} "
            "(durable-rules: 255 properties per fact)", file=str(rule_dir), code="engine-limit"))
    if problems:
        raise KnowledgeError(problems)
    return Knowledge(root, settings, vocab, entities, rules, _hash_files(files, over), files, reports,
                     entity_lines)


def _load_rule(raw: Any, path: Path, vocab: Vocabulary, slugs: set[str], seen: dict[str, str],
               problems: list[Problem]) -> list[Rule]:
    file = str(path)
    line = raw.get("__line__") if isinstance(raw, dict) else None
    try:
        spec = RuleSpec.model_validate(_strip_top(raw))
    except ValidationError as exc:
        problems += _located(exc, file, raw, line)
        return []
    where = f"{file}:{line}" if line else file
    if spec.id in seen:
        problems.append(Problem(f"duplicate rule id {spec.id!r} (first defined at {seen[spec.id]})", file=file, line=line,
                                code="duplicate-id"))
        return []
    seen[spec.id] = where
    for slug in list((spec.likelihood or {}).keys()):
        if slug not in slugs:
            near = TermSet("entity", _lookup={s: s for s in slugs}).suggest(slug)
            lk_line = key_line(raw.get("likelihood"), slug) or line
            problems.append(Problem(f"rule {spec.id}: unknown entity {slug!r}", file=file, line=lk_line, suggestions=near,
                                    code="unknown-term"))
    if spec.likelihood is not None and spec.default is None:
        missing = sorted(slugs - set(spec.likelihood))
        if missing:
            problems.append(Problem(f"rule {spec.id}: no likelihood for {', '.join(missing)}; add them or a 'default'",
                                    file=file, line=line, code="weight"))
    out = []
    for negated, cond in ((False, spec.when), (True, spec.negated_by)):
        if cond is None:
            continue
        cond_line = cond.get("__line__", line) if isinstance(cond, dict) else line
        try:
            node = parse_condition(cond, vocab)
        except ConditionError as exc:
            problems.append(Problem(f"rule {spec.id}: {exc}", file=file, line=cond_line, suggestions=exc.suggestions,
                                    code="unknown-term" if exc.suggestions or "unknown" in str(exc) else "condition"))
            continue
        branches = branch_count(node)
        if branches > MAX_BRANCHES_PER_RULE:
            problems.append(Problem(
                f"rule {spec.id}: condition expands to {branches} alternatives; the limit is "
                f"{MAX_BRANCHES_PER_RULE} (durable-rules fails beyond 64 alpha tests true at once)",
                file=file, line=cond_line, code="engine-limit"))
            continue
        rid = spec.id + (NEGATION_SUFFIX if negated else "")
        out.append(Rule(rid, spec, negated, node, compile_predicate(node), file, cond_line, line))
    return out


def _strip_top(raw: Any) -> Any:
    """Strip line markers except inside conditions (kept for error lines)."""
    if not isinstance(raw, dict):
        return raw
    out = {}
    for k, v in raw.items():
        if k == "__line__":
            continue
        out[k] = v if k in ("when", "negated_by", "examples") else strip_lines(v)
    return out


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


