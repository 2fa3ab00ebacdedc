"""The one entry point the CLI and the TUI share: a case in, a cited ranking out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from ddx.bands import Confidence, assess
from ddx.engine import DurableMatcher, Matcher, OracleMatcher
from ddx.errors import Problem
from ddx.facts import case_facts
from ddx.knowledge import Knowledge
from ddx.ranking import Caveat, RankedEntity, Ranker
from ddx.suggest import Suggester, Suggestion


@dataclass
class Analysis:
    case_id: str
    case: BaseModel | None
    expected: str | None = None
    ranking: list[RankedEntity] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    caveats: list[Caveat] = field(default_factory=list)
    matched: frozenset[str] = frozenset()
    problems: list[Problem] = field(default_factory=list)
    file: str | None = None
    confidence: Confidence | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def top(self) -> RankedEntity | None:
        return self.ranking[0] if self.ranking else None


class Analyzer:
    """Matches a case against the rules, ranks the entities, suggests tests."""

    def __init__(self, knowledge: Knowledge, matcher: Literal["durable", "oracle"] = "durable"):
        self.knowledge = knowledge
        rules = knowledge.active_rules
        self.matcher: Matcher = DurableMatcher(rules) if matcher == "durable" else OracleMatcher(rules)
        self.ranker = Ranker(knowledge)
        self.suggester = Suggester(knowledge, self.ranker)
        confirm = {p.replace(".", "__") for e in knowledge.entities for p in e.confirm_with}
        self.keys = knowledge.referenced_keys | confirm

    def facts(self, case: BaseModel) -> dict[str, Any]:
        return case_facts(case, self.knowledge.vocab, self.keys)

    def analyze(self, case: BaseModel, *, suggest: bool = True, file: str | None = None) -> Analysis:
        facts = self.facts(case)
        matched = self.matcher.match(facts)
        posterior = self.ranker.posterior(matched)
        ranking = self.ranker.rank(matched, posterior)
        suggestions = self.suggester.suggest(facts, matched, posterior=posterior) if suggest else []
        return Analysis(
            case_id=case.id,  # type: ignore[attr-defined]
            case=case,
            expected=case.expected,  # type: ignore[attr-defined]
            ranking=ranking,
            suggestions=suggestions,
            caveats=self.ranker.caveats(matched),
            matched=matched,
            file=file,
            confidence=assess(self.knowledge, ranking, suggestions, facts),
        )

    def close(self) -> None:
        self.matcher.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def analyze_paths(paths: Iterable[str], analyzer: Analyzer, *, suggest: bool = True) -> Iterator[Analysis]:
    """Every case under ``paths`` (files or folders), analysed; unreadable cases carry their problems."""
    from ddx.loader import expand_paths, iter_cases

    for path in expand_paths(list(paths)):
        for loaded in iter_cases(path, analyzer.knowledge):
            if loaded.ok:
                assert loaded.case is not None
                yield analyzer.analyze(loaded.case, suggest=suggest, file=loaded.file)
            else:
                yield Analysis(case_id=loaded.id, case=None, problems=loaded.problems, file=loaded.file)
