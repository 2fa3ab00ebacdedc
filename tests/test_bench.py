"""The benchmarks' own machinery (no timing here): the synthetic rule generator (bench/rulegen.py) writes
rule sets that pass ``ddx rules check`` and are marked synthetic throughout, and the floor's minimal
scorer (bench/floor_bench.py) writes exactly what ``ddx batch --format jsonl --no-suggest`` writes."""

from __future__ import annotations

import importlib.util
import io
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ddx.authoring.check import check_rules
from ddx.knowledge import load_knowledge, packaged_rules_dir
from ddx.loader import write_sheet
from ddx.synthetic import synthetic_case
from tests.conftest import REPO


def _bench(name: str) -> ModuleType:
    """A module of bench/ (not a package), imported once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rules_300(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = _bench("rulegen").generate(300, tmp_path_factory.mktemp("gen") / "rules-300")
    return path


def test_a_300_rule_set_passes_rules_check_without_warnings(rules_300: Path) -> None:
    report = check_rules(rules_300)
    assert report.ok, [str(m) for m in report.errors]
    assert not report.warnings, [str(m) for m in report.warnings]
    knowledge = report.knowledge
    assert knowledge is not None
    assert len({r.spec.id for r in knowledge.rules}) == 300


def test_generated_rules_are_marked_synthetic_and_todays_rules_are_kept(rules_300: Path) -> None:
    rulegen = _bench("rulegen")
    packaged = load_knowledge(packaged_rules_dir())
    generated = load_knowledge(rules_300)
    today = {r.id: r.condition for r in packaged.rules}
    assert {r.id: r.condition for r in generated.rules if r.id in today} == today
    synthetic = [r for r in generated.rules if r.id not in today]
    assert synthetic and all(r.spec.id.startswith("syn.") for r in synthetic)
    conditions = [r.condition for r in synthetic]
    # no generated condition is used twice, nor one of today's (a pitfall may share a scoring rule's)
    assert len(set(conditions)) == len(conditions) and not set(conditions) & set(today.values())
    for rule in synthetic:
        assert rule.title.startswith("Synthetic:") and "benchmarking" in rule.spec.rationale
        assert rule.spec.likelihood is not None and set(rule.spec.likelihood) == set(generated.entity_slugs)
        for cell in rule.spec.likelihood.values():
            assert cell.estimate and cell.reason == rulegen.REASON
    kinds = {type(r.condition).__name__ for r in synthetic}
    assert kinds == {"Atom", "All"}  # single findings, pairs and ranges both
    assert any(r.negated for r in synthetic)  # some with a tested-negative half


def test_the_generator_is_repeatable_and_refuses_bad_targets(tmp_path: Path, rules_300: Path) -> None:
    rulegen = _bench("rulegen")
    again = rulegen.generate(300, tmp_path / "again")
    other = rulegen.generate(300, tmp_path / "other", seed=20)
    text = (rules_300 / "rules" / rulegen.SYNTHETIC_FILE).read_bytes()
    assert (again / "rules" / rulegen.SYNTHETIC_FILE).read_bytes() == text
    assert (other / "rules" / rulegen.SYNTHETIC_FILE).read_bytes() != text
    with pytest.raises(ValueError, match="inside the repository"):
        rulegen.generate(300, REPO / "bench" / "generated-rules")
    with pytest.raises(ValueError, match="already holds"):
        rulegen.generate(10, tmp_path / "too-few")
    assert not (REPO / "bench" / "generated-rules").exists() and not (tmp_path / "too-few").exists()


@pytest.mark.durable
def test_the_floor_writes_exactly_what_ddx_batch_writes(tmp_path: Path) -> None:
    """The bench's ratio means something only while the minimal scorer's output equals ddx's."""
    floor_bench = _bench("floor_bench")
    knowledge = load_knowledge()
    rng = random.Random(19)
    sheet = tmp_path / "cases.csv"
    write_sheet((synthetic_case(knowledge.vocab, rng, f"f{i}", density=rng.choice([0.1, 0.35, 0.7])) for i in range(400)), sheet)
    out = tmp_path / "ddx.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "ddx", "batch", str(sheet), "--format", "jsonl", "--no-suggest", "-q", "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    scorer = floor_bench.MinimalScorer(knowledge)
    buffer = io.StringIO()
    try:
        assert scorer.run(str(sheet), buffer) == 400
    finally:
        scorer.close()
    expected = out.read_text(encoding="utf-8").splitlines()
    got = buffer.getvalue().splitlines()
    assert len(got) == len(expected) == 401
    for n, (a, b) in enumerate(zip(expected, got), start=1):
        assert a == b, f"line {n} differs"


def test_the_suggestion_bench_times_every_case_of_a_batch(tmp_path: Path) -> None:
    """bench/suggest_bench.py once broke silently: the batch called the reference suggester with arguments it
    lacks, every case became an error row, and no time was taken. Its batch pass must rank every case (a case
    that does not rank stops it) and return a time for each suggester."""
    suggest_bench = _bench("suggest_bench")
    knowledge = load_knowledge()
    rng = random.Random(23)
    sheet = tmp_path / "cases.csv"
    write_sheet((synthetic_case(knowledge.vocab, rng, f"s{i}") for i in range(120)), sheet)
    raws = list(suggest_bench.read_cases([str(sheet)], knowledge.vocab))
    per_case = suggest_bench.in_batch(knowledge, raws, rounds=1)
    assert set(per_case) == {"reference", "ddx"}
    assert all(us > 0 for us in per_case.values())
