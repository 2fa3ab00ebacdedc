"""Ancillary tests (``rules/ancillary.yaml``): what each stain and molecular test
costs and how long it takes, and which findings exclude one another.

* ``turnaround:`` — turnaround classes (``same_day``: "same or next working day" ...);
* ``classes:`` — cost classes as a laboratory names them (IHC, FISH, targeted RNA
  sequencing ...): a label, a relative cost (one routine immunostain = 1), a
  turnaround class and the one-line reason for the estimate;
  ``panel: true`` marks a class one order of which reads every test in it (a fusion
  panel, a genome-wide array): its tests are suggested as one, the best named first;
* ``tests:`` — the class of each stain (``stains:``) and molecular test
  (``molecular:``). Every test the next-test suggestions can offer (read by an
  active scoring rule, or asked for by a caveat) needs one;
* ``exclusive:`` — groups of mutually exclusive findings (the kinase fusions of
  inflammatory myofibroblastic tumour). When one member is shown by the recorded
  findings (``shown_by``, a rule condition), the tests looking for the other
  members (``tests``) are answered already: they are not suggested and not named
  as confirming tests.
* ``surrogates:`` — a test whose result, once recorded, answers others (MDM2
  amplification answers the MDM2 and CDK4 immunostains that stand in for it):
  the tests in ``answers`` are then not suggested.

Everything here is data; :func:`load_ancillary` validates it and every problem
names the file and line (:class:`ddx.errors.Problem`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ddx.errors import Problem
from ddx.knowledge.conditions import ConditionError, Predicate, atoms, compile_predicate, parse_condition
from ddx.knowledge.vocabulary import TermSet, Vocabulary
from ddx.yamlio import key_line, strip_lines

SECTIONS = ("stains", "molecular")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_line(v: str) -> str:
    v = " ".join(v.split())
    if not v:
        raise ValueError("must not be empty")
    return v


class Turnaround(_Model):
    """A turnaround class: from the order to the result, as a laboratory quotes it."""

    label: str  # "same or next working day"
    reason: str  # one line: why (an operational estimate, not a literature figure)

    @field_validator("label", "reason")
    @classmethod
    def _lines(cls, v: str) -> str:
        return _one_line(v)


class CostClass(_Model):
    """A cost class: a kind of test as a laboratory names it, its relative cost and turnaround."""

    label: str  # short, as shown beside a suggestion: "IHC", "FISH"
    name: str  # in full: "Immunohistochemistry, routine antibody"
    cost: float = Field(gt=0, le=1000)  # relative cost per test ordered; a routine immunostain = 1
    turnaround: str  # a turnaround class id
    reason: str  # one line: why this estimate
    panel: bool = False  # one order reads every test of the class (a sequencing panel, a genome-wide array)

    @field_validator("label", "name", "reason")
    @classmethod
    def _lines(cls, v: str) -> str:
        return _one_line(v)


class Member(_Model):
    """One finding of an exclusive group: when it is shown, the other members are not there."""

    finding: str  # molecular.alk_rearrangement
    shown_by: dict[str, Any] | None = None  # a rule condition; default {finding: present}
    tests: list[str] | None = None  # the tests that look for it; default [finding]


class ExclusiveGroup(_Model):
    """Findings that exclude each other (the kinase fusions of IMT): one shown answers the tests that look for
    the others."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    name: str  # "kinase fusions of inflammatory myofibroblastic tumour"
    members: list[Member] = Field(min_length=2)
    rationale: str
    source: str = Field(min_length=3)

    @field_validator("name", "rationale")
    @classmethod
    def _lines(cls, v: str) -> str:
        return _one_line(v)


class SurrogateSpec(_Model):
    """A molecular test answered by stains that stand for it (MDM2 amplification by MDM2 and CDK4
    immunostaining), with the reason and its source."""

    test: str  # molecular.mdm2_amplification
    answers: list[str] = Field(min_length=1)  # [stains.mdm2, stains.cdk4]
    rationale: str
    source: str = Field(min_length=3)

    @field_validator("rationale")
    @classmethod
    def _lines(cls, v: str) -> str:
        return _one_line(v)


@dataclass(frozen=True)
class Surrogate:
    """A compiled ``surrogates:`` entry: once ``test`` is recorded, the ``answers`` tests are answered."""

    test: str
    answers: tuple[str, ...]
    spec: SurrogateSpec


@dataclass(frozen=True)
class TestCost:
    """What ordering one test costs: its class, relative cost and turnaround (as shown)."""

    test: str  # the finding path: "stains.desmin", "molecular.alk_rearrangement"
    cls: str  # the class id: "ihc"
    label: str  # "IHC"
    name: str  # "Immunohistochemistry, routine antibody"
    cost: float  # relative cost (a routine immunostain = 1)
    turnaround: str  # "same or next working day"
    panel: bool = False  # one order of the class reads all its tests: they are suggested as one

    @property
    def assay(self) -> str | None:
        """The class id when one order reads every test of the class (``panel: true``), else None."""
        return self.cls if self.panel else None

    @property
    def text(self) -> str:
        """'IHC, same or next working day'."""
        return f"{self.label}, {self.turnaround}"


ANSWER_LIMIT = 4096  # answers kept by Ancillary.answered (one per set of members shown; a rule set has a few dozen)

# When a Knowledge is built without load_knowledge (tests that assemble one by hand), a test has no class:
# it is treated as one routine stain's worth, so that ranking still works.
UNCLASSED = TestCost("", "unclassed", "unclassed", "no cost class in ancillary.yaml", 1.0, "turnaround unknown")


@dataclass(frozen=True)
class _Member:
    finding: str
    shown: Predicate
    keys: frozenset[str]
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Exclusive:
    """A compiled exclusive group."""

    spec: ExclusiveGroup
    members: tuple[_Member, ...]


@dataclass
class Ancillary:
    """rules/ancillary.yaml, validated: the classes of the tests and the exclusive groups."""

    classes: dict[str, CostClass] = field(default_factory=dict)
    turnarounds: dict[str, Turnaround] = field(default_factory=dict)
    tests: dict[str, str] = field(default_factory=dict)  # finding path -> class id
    exclusive: list[Exclusive] = field(default_factory=list)
    surrogates: list[Surrogate] = field(default_factory=list)
    file: str | None = None
    rejected: set[str] = field(default_factory=set)  # tests whose class entry was refused (reported)
    # answered()'s results by which members are shown and which surrogates recorded (a bit each), and the
    # members' predicates and the surrogates' fact keys in that order (made on the first call, after loading)
    _answers: dict[int, dict[str, str]] = field(default_factory=dict, repr=False, compare=False)
    _answer_reads: tuple[int, int, tuple[Predicate, ...], tuple[str, ...]] | None = field(default=None, repr=False, compare=False)

    def cost(self, test: str) -> TestCost:
        """The cost of ``test`` (a finding path, ``stains.alk``); :data:`UNCLASSED` when it has no class."""
        cls = self.tests.get(test)
        if cls is None or cls not in self.classes:
            return UNCLASSED
        c = self.classes[cls]
        turnaround = self.turnarounds[c.turnaround].label if c.turnaround in self.turnarounds else c.turnaround
        return TestCost(test, cls, c.label, c.name, c.cost, turnaround, c.panel)

    @property
    def keys(self) -> frozenset[str]:
        """The fact keys the exclusive groups' ``shown_by`` conditions and the surrogates read."""
        return frozenset(k for g in self.exclusive for m in g.members for k in m.keys) | frozenset(
            s.test.replace(".", "__") for s in self.surrogates
        )

    @property
    def relations(self) -> bool:
        """Whether any recorded finding can answer a test (exclusive groups or surrogates)."""
        return bool(self.exclusive or self.surrogates)

    def answered(self, facts: dict[str, Any]) -> dict[str, str]:
        """Tests whose answer the recorded findings imply, each with the reason (one line).

        ``facts``: the case's flat facts (``stains__alk`` keys). A member of an
        exclusive group shown by the facts answers the tests of every other member:
        ``{"molecular.ntrk_rearrangement": "ALK rearrangement shown (ALK positive); kinase fusions of
        inflammatory myofibroblastic tumour exclude one another"}``.

        The result depends only on which members are shown and which surrogate tests are recorded, and is
        kept per such set (at most ``ANSWER_LIMIT``), so callers share it: read it, never change it.
        """
        reads = self._answer_reads
        if reads is None or reads[:2] != (len(self.exclusive), len(self.surrogates)):  # made anew if groups were added
            shown_by = tuple(m.shown for g in self.exclusive for m in g.members)
            keys = tuple(s.test.replace(".", "__") for s in self.surrogates)
            reads = self._answer_reads = (len(self.exclusive), len(self.surrogates), shown_by, keys)
            self._answers.clear()
        state, bit = 0, 1
        for shown in reads[2]:
            if shown(facts):
                state |= bit
            bit <<= 1
        for key in reads[3]:
            if facts.get(key) is not None:
                state |= bit
            bit <<= 1
        out = self._answers.get(state)
        if out is None:
            out = self._answer(facts)
            if len(self._answers) < ANSWER_LIMIT:
                self._answers[state] = out
        return out

    def _answer(self, facts: dict[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for group in self.exclusive:
            shown = [m for m in group.members if m.shown(facts)]
            if not shown:
                continue
            names = ", ".join(m.finding for m in shown)
            for m in group.members:
                if m in shown:
                    continue
                for test in m.tests:
                    out.setdefault(test, f"{names} shown; the {group.spec.name} exclude one another")
        for sur in self.surrogates:
            if facts.get(sur.test.replace(".", "__")) is not None:
                for test in sur.answers:
                    out.setdefault(test, f"{sur.test} recorded: {sur.spec.rationale}")
        return out


def load_ancillary(data: Any, path: Path, vocab: Vocabulary, problems: list[Problem]) -> Ancillary:
    """Validate ``ancillary.yaml`` (read with line markers) into :class:`Ancillary`.

    Appends to ``problems`` (each with file and line): a malformed entry, an
    unknown turnaround or cost class (with the nearest ids), an unknown stain or
    molecular test (with the nearest terms), a member condition the vocabulary
    does not allow. A test without a class is checked later, once the rules are
    known: :func:`check_classes`.
    """
    file = str(path)
    out = Ancillary(file=file)
    if not isinstance(data, dict):
        problems.append(Problem("expected a mapping with 'turnaround:', 'classes:' and 'tests:'", file=file, line=1, code="schema"))
        return out
    unknown_keys = sorted(set(data) - {"__line__", "turnaround", "classes", "tests", "exclusive", "surrogates"})
    for key in unknown_keys:
        problems.append(
            Problem(
                f"unknown key {key!r}; the keys are turnaround, classes, tests, exclusive and surrogates",
                file=file,
                line=key_line(data, key),
                code="schema",
            )
        )

    out.turnarounds.update(_entries(data, "turnaround", Turnaround, file, problems))
    out.classes.update(_entries(data, "classes", CostClass, file, problems))
    ids = TermSet("turnaround class", _lookup={t: t for t in out.turnarounds})
    for cid, c in out.classes.items():
        if c.turnaround not in out.turnarounds:
            problems.append(
                Problem(
                    f"classes.{cid}: unknown turnaround class {c.turnaround!r}",
                    file=file,
                    line=key_line(data.get("classes"), cid),
                    suggestions=ids.suggest(c.turnaround),
                    code="cost-class",
                )
            )

    tests = data.get("tests")
    class_ids = TermSet("cost class", _lookup={c: c for c in out.classes})
    if not isinstance(tests, dict):
        problems.append(
            Problem(
                "'tests:' must be a mapping with 'stains:' and 'molecular:', each naming the class of every test",
                file=file,
                line=key_line(data, "tests") or 1,
                code="schema",
            )
        )
    else:
        for section in tests:
            if section != "__line__" and section not in SECTIONS:
                problems.append(
                    Problem(
                        f"tests.{section}: unknown section; use stains or molecular",
                        file=file,
                        line=key_line(tests, section),
                        code="schema",
                    )
                )
        for section in SECTIONS:
            entries = tests.get(section)
            if entries is None:
                continue
            termset = vocab.stains if section == "stains" else vocab.molecular
            if not isinstance(entries, dict):
                problems.append(
                    Problem(
                        f"tests.{section} must map each {section[:-1] if section == 'stains' else 'test'} to its class",
                        file=file,
                        line=key_line(tests, section),
                        code="schema",
                    )
                )
                continue
            for term, cls in entries.items():
                if term == "__line__":
                    continue
                line = key_line(entries, term)
                if term not in termset:
                    problems.append(
                        Problem(
                            f"tests.{section}.{term}: not a {section[:-1] if section == 'stains' else 'molecular'}"
                            " term of the vocabulary",
                            file=file,
                            line=line,
                            suggestions=termset.suggest(str(term)),
                            code="unknown-term",
                        )
                    )
                    continue
                canonical = termset.normalize(term)
                if not isinstance(cls, str) or cls not in out.classes:
                    out.rejected.add(f"{section}.{canonical}")
                    problems.append(
                        Problem(
                            f"tests.{section}.{term}: unknown cost class {cls!r}",
                            file=file,
                            line=line,
                            suggestions=class_ids.suggest(str(cls)) or sorted(out.classes),
                            code="cost-class",
                        )
                    )
                    continue
                test = f"{section}.{canonical}"
                if test in out.tests:
                    problems.append(
                        Problem(f"tests.{section}.{term}: {test} is given a class twice", file=file, line=line, code="cost-class")
                    )
                out.tests[test] = cls

    groups = data.get("exclusive", [])
    if not isinstance(groups, list):
        problems.append(Problem("'exclusive:' must be a list of groups", file=file, line=key_line(data, "exclusive"), code="schema"))
        groups = []
    for raw in groups:
        group = _load_group(raw, file, vocab, problems)
        if group is not None:
            out.exclusive.append(group)
    surrogates = data.get("surrogates", [])
    if not isinstance(surrogates, list):
        problems.append(Problem("'surrogates:' must be a list", file=file, line=key_line(data, "surrogates"), code="schema"))
        surrogates = []
    known = test_paths(vocab)
    for raw in surrogates:
        line = raw.get("__line__") if isinstance(raw, dict) else key_line(data, "surrogates")
        try:
            spec = SurrogateSpec.model_validate(strip_lines(raw))
        except ValidationError as exc:
            problems += _schema_problems(exc, "surrogates", file, raw, line)
            continue
        paths = [canonical_test(t, vocab) for t in (spec.test, *spec.answers)]
        bad = [t for t, c in zip((spec.test, *spec.answers), paths) if c is None]
        for t in bad:
            problems.append(
                Problem(
                    f"surrogates: {t!r} is not a stain or molecular test",
                    file=file,
                    line=line,
                    suggestions=known.suggest(t),
                    code="unknown-term",
                )
            )
        if not bad:
            out.surrogates.append(Surrogate(str(paths[0]), tuple(str(c) for c in paths[1:]), spec))
    return out


M = TypeVar("M", bound=_Model)


def _entries(data: dict[str, Any], key: str, model: type[M], file: str, problems: list[Problem]) -> dict[str, M]:
    """The ``key:`` mapping of ids to entries, each validated into ``model`` (problems located by line)."""
    section = data.get(key)
    out: dict[str, M] = {}
    if not isinstance(section, dict) or not [k for k in section if k != "__line__"]:
        problems.append(
            Problem(f"'{key}:' must be a mapping of ids to entries", file=file, line=key_line(data, key) or 1, code="schema")
        )
        return out
    for cid, raw in section.items():
        if cid == "__line__":
            continue
        line = key_line(section, cid)
        try:
            out[str(cid)] = model.model_validate(strip_lines(raw))
        except ValidationError as exc:
            problems += _schema_problems(exc, f"{key}.{cid}", file, raw, line)
    return out


def _schema_problems(exc: ValidationError, where: str, file: str, raw: Any, line: int | None) -> list[Problem]:
    """One located problem per error of an entry: 'where.key: message', at the key's line when it has one."""
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = {"extra_forbidden": "unknown key", "missing": "required key is missing"}.get(
            err["type"], err["msg"].removeprefix("Value error, ")
        )
        sub = key_line(raw, err["loc"][0]) if err["loc"] and isinstance(raw, dict) else None
        out.append(Problem(f"{where}{'.' + loc if loc else ''}: {msg}", file=file, line=sub or line, code="schema"))
    return out


def canonical_test(text: str, vocab: Vocabulary) -> str | None:
    """``stains.alk`` / ``molecular.alk_rearrangement`` (synonyms allowed) as canonical, or None."""
    section, _, term = text.partition(".")
    termset = {"stains": vocab.stains, "molecular": vocab.molecular}.get(section)
    if termset is None or "." in term or term not in termset:
        return None
    return f"{section}.{termset.normalize(term)}"


def test_paths(vocab: Vocabulary) -> TermSet:
    """Every test a suggestion or a caveat can name, as finding paths (for suggestions in messages)."""
    paths = [f"stains.{t}" for t in vocab.stains.terms] + [f"molecular.{t}" for t in vocab.molecular.terms]
    return TermSet("test", _lookup={p: p for p in paths})


def _load_group(raw: Any, file: str, vocab: Vocabulary, problems: list[Problem]) -> Exclusive | None:
    line = raw.get("__line__") if isinstance(raw, dict) else None
    try:
        spec = ExclusiveGroup.model_validate(_strip_keep_conditions(raw))
    except ValidationError as exc:
        problems += _schema_problems(exc, "exclusive", file, raw, line)
        return None
    members = []
    known = test_paths(vocab)
    for i, m in enumerate(spec.members):
        raw_member = raw["members"][i] if isinstance(raw.get("members"), list) else None
        m_line = raw_member.get("__line__", line) if isinstance(raw_member, dict) else line
        finding = canonical_test(m.finding, vocab)
        if finding is None:
            problems.append(
                Problem(
                    f"exclusive {spec.id}: {m.finding!r} is not a stain or molecular finding",
                    file=file,
                    line=m_line,
                    suggestions=known.suggest(m.finding),
                    code="unknown-term",
                )
            )
            continue
        tests = []
        for t in m.tests if m.tests is not None else [finding]:
            canonical = canonical_test(t, vocab)
            if canonical is None:
                problems.append(
                    Problem(
                        f"exclusive {spec.id}: test {t!r} is not a stain or molecular test",
                        file=file,
                        line=m_line,
                        suggestions=known.suggest(t),
                        code="unknown-term",
                    )
                )
                continue
            tests.append(canonical)
        condition = m.shown_by if m.shown_by is not None else {finding: "present"}
        try:
            node = parse_condition(condition, vocab)
        except ConditionError as exc:
            given = condition.get("__line__") if isinstance(condition, dict) else None
            cond_line = given if isinstance(given, int) else m_line
            problems.append(
                Problem(
                    f"exclusive {spec.id}, {finding}: shown_by: {exc}",
                    file=file,
                    line=cond_line,
                    suggestions=exc.suggestions,
                    code="condition",
                )
            )
            continue
        members.append(_Member(finding, compile_predicate(node), frozenset(a.key for a in atoms(node)), tuple(tests)))
    if len(members) != len(spec.members):
        return None
    return Exclusive(spec, tuple(members))


def _strip_keep_conditions(raw: Any) -> Any:
    """Strip line markers except inside ``shown_by`` conditions (kept for error lines)."""
    if not isinstance(raw, dict):
        return raw
    out = {k: strip_lines(v) for k, v in raw.items() if k not in ("__line__", "members")}
    if "members" in raw:
        members = raw["members"]
        out["members"] = (
            [
                {k: (v if k == "shown_by" else strip_lines(v)) for k, v in m.items() if k != "__line__"} if isinstance(m, dict) else m
                for m in members
            ]
            if isinstance(members, list)
            else members
        )
    return out


def check_classes(
    ancillary: Ancillary, offered: Iterable[tuple[str, str, str, int | None]], data: Any, problems: list[Problem]
) -> None:
    """Every test the suggestions can offer has a class.

    ``offered``: (test path, who offers it, their file, their line) — a rule that
    reads the test, or a caveat that asks for it. A missing class is reported at
    the ``tests.<section>:`` line of ancillary.yaml, naming who offers the test.
    """
    file = ancillary.file or "ancillary.yaml"
    tests = data.get("tests") if isinstance(data, dict) else None
    seen: set[str] = set()
    for test, who, where, where_line in offered:
        if test in ancillary.tests or test in ancillary.rejected or test in seen:
            continue
        seen.add(test)
        section, _, term = test.partition(".")
        line = key_line(tests, section) or key_line(data, "tests") or 1 if isinstance(data, dict) else 1
        at = f"{where}:{where_line}" if where_line else where
        problems.append(
            Problem(
                f"{test} has no cost class: add '{term}: <class>' under tests.{section} "
                f"({who}, {at}, offers it as a next test); classes: {', '.join(ancillary.classes)}",
                file=file,
                line=line,
                code="cost-class",
            )
        )
