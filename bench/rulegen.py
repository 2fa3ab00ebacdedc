"""Synthetic rule sets for benchmarking: today's rules plus generated scoring rules, N rules in all.

    python bench/rulegen.py 1000 /tmp/ddx-rules-1000      # then: ddx rules check /tmp/ddx-rules-1000

**For benchmarks only.** The generated rules are not medicine: every figure is a synthetic estimate
drawn at random, each cell says so in its ``reason:``, every title starts ``Synthetic:`` and every
rationale says the rule was generated for benchmarking. A generated set must never rank a real case;
write it to a temporary folder (:func:`generate` refuses a folder inside the repository).

What is written: a copy of a rules directory (by default ddx's own) with one more rule file,
``rules/synthetic.yaml``, holding ``n - (the rules already there)`` scoring rules over the existing
vocabulary (no new terms), in the shapes real rules take:

* single findings: a stain positive (half of them with ``negated_by`` the stain negative, as the real
  stain rules are written) or negative, a molecular result, a morphology term or presence, an item of
  a list finding (cell types, architecture, stroma, inflammation, symptoms), a site group, a site, a
  depth;
* pairs: two such findings of different keys, both required (a stain positive with its extent among
  them);
* numeric ranges: age, size, mitoses, a stain's percentage, between two bounds or above one.

Each condition is used once (never one already used by another rule, generated or not), so the set
passes ``ddx rules check`` without redundancy warnings. A rule's likelihood gives every entity a
figure (its subtypes take the entity's). The rules read at most ~110 distinct finding keys, far below
the engine's limit of 240. The same ``n`` and ``seed`` give the same files.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ddx.knowledge import Knowledge, load_knowledge, packaged_rules_dir  # noqa: E402
from ddx.knowledge.conditions import Node, parse_condition  # noqa: E402
from ddx.knowledge.vocabulary import Vocabulary  # noqa: E402

SYNTHETIC_FILE = "synthetic.yaml"
REASON = "synthetic estimate, drawn at random for benchmarking (bench/rulegen); not a clinical figure"
RATIONALE = "Synthetic rule generated for benchmarking only; its figures are random and it must never rank a real case."
# The rule's required citation: the match algorithm the benchmark exercises, not a source of the figures
# (those are random, and each cell says so).
SOURCE = (
    "Synthetic benchmark rule, not a clinical source; it exercises the Rete match: Forgy CL. Rete: a fast "
    "algorithm for the many pattern/many object pattern match problem. Artificial Intelligence 1982;19:17. "
    "doi:10.1016/0004-3702(82)90020-0"
)
PERCENT_STAINS = ("ki67", "desmin", "myogenin", "myod1", "sma", "s100", "cd34", "keratin")  # those a lab grades
EXTENT_STAINS = 12  # stains whose extent generated pairs may read
FIGURES = (0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97)


@dataclass(frozen=True)
class Finding:
    """One condition part: its YAML mapping (dotted paths as keys), a title, and the key it reads."""

    when: dict[str, Any]
    title: str
    key: str


def _findings(vocab: Vocabulary, rng: random.Random) -> list[Finding]:
    """Every single finding the generator may use, in a fixed order."""
    out: list[Finding] = []
    stains = list(vocab.stains.terms)
    for stain in stains:
        label = vocab.stains.label(stain)
        out.append(Finding({f"stains.{stain}": "positive"}, f"{label} positive", f"stains.{stain}"))
        out.append(Finding({f"stains.{stain}": "negative"}, f"{label} negative", f"stains.{stain}"))
    for stain in rng.sample(stains, min(EXTENT_STAINS, len(stains))):
        label = vocab.stains.label(stain)
        for extent in vocab.stain_extents.terms:
            out.append(
                Finding(
                    {f"stains.{stain}": "positive", f"stains.{stain}.extent": extent}, f"{label} positive, {extent}", f"stains.{stain}"
                )
            )
    for test in vocab.molecular.terms:
        label = vocab.molecular.label(test)
        for value in vocab.presence.terms:
            out.append(Finding({f"molecular.{test}": value}, f"{label} {value}", f"molecular.{test}"))
    for name, mf in vocab.morphology.items():
        path = f"morphology.{name}"
        words = name.replace("_", " ")
        if mf.kind == "list" and mf.terms:
            out += [Finding({path: {"contains": t}}, f"{words}: {t.replace('_', ' ')}", path) for t in mf.terms.terms]
        elif mf.kind == "term" and mf.terms:
            out += [Finding({path: t}, f"{words} {t.replace('_', ' ')}", path) for t in mf.terms.terms]
        elif mf.kind == "presence":
            out += [Finding({path: v}, f"{words} {v}", path) for v in vocab.presence.terms]
    out += [
        Finding({"clinical.symptoms": {"contains": s}}, f"symptom: {s.replace('_', ' ')}", "clinical.symptoms")
        for s in vocab.symptoms.terms
    ]
    out += [
        Finding({"clinical.site_group": g}, f"site group {g.replace('_', ' ')}", "clinical.site_group")
        for g in vocab.site_groups.terms
    ]
    # a site and a site group are one finding (a pair of a site and another group could never hold)
    out += [Finding({"clinical.site": s}, f"site {s.replace('_', ' ')}", "clinical.site_group") for s in vocab.sites.terms]
    out += [Finding({"clinical.depth": d}, f"depth {d}", "clinical.depth") for d in vocab.depth.terms]
    return out


def _number_paths(vocab: Vocabulary) -> list[tuple[str, str, float, float, str]]:
    """Numeric findings: (path, words, low, high, unit), the range bounds are drawn between low and high."""
    out: list[tuple[str, str, float, float, str]] = [
        ("patient.age", "age", 0, 90, " years"),
        ("clinical.size_cm", "size", 1, 20, " cm"),
    ]
    for name, mf in vocab.morphology.items():
        if mf.kind == "number":
            out.append((f"morphology.{name}", name.replace("_", " "), mf.min or 0, min(mf.max or 50, 50), ""))
    out += [
        (f"stains.{s}.percent", f"{vocab.stains.label(s)} positive cells", 0, 100, " %")
        for s in PERCENT_STAINS
        if s in vocab.stains.terms
    ]
    return out


def _range(rng: random.Random, numbers: list[tuple[str, str, float, float, str]]) -> Finding:
    path, words, low, high, unit = rng.choice(numbers)
    a, b = sorted(rng.sample(range(int(low), int(high) + 1), 2))
    if rng.random() < 0.3:
        return Finding({path: {"gte": a}}, f"{words} ≥ {a}{unit}", path)
    return Finding({path: {"gte": a, "lt": b}}, f"{words} {a}–{b}{unit}", path)


def _figure(rng: random.Random) -> dict[str, str]:
    return {"p": f"~{rng.choice(FIGURES)}", "reason": REASON}


def synthetic_rules(knowledge: Knowledge, count: int, *, seed: int = 19) -> list[dict[str, Any]]:
    """``count`` generated rule mappings (as a rule file holds them) over ``knowledge``'s vocabulary and
    entities, none with a condition another rule already has. Raises ValueError when the vocabulary cannot
    give that many distinct conditions."""
    vocab = knowledge.vocab
    rng = random.Random(seed)
    singles = _findings(vocab, rng)
    rng.shuffle(singles)
    numbers = _number_paths(vocab)
    used: set[Node] = {r.condition for r in knowledge.rules}
    slugs = [e.slug for e in knowledge.entities]

    def fresh(when: dict[str, Any]) -> bool:
        node = parse_condition(when, vocab)
        if node in used:
            return False
        used.add(node)
        return True

    def pair() -> Finding:
        a, b = rng.sample(singles, 2)
        while a.key == b.key:
            a, b = rng.sample(singles, 2)
        a, b = sorted((a, b), key=lambda f: sorted(f.when))  # one order for the same pair
        return Finding({**a.when, **b.when}, f"{a.title} and {b.title}", a.key)

    kinds: list[Callable[[], Finding]] = [pair, lambda: _range(rng, numbers)]
    out: list[dict[str, Any]] = []
    single = iter(singles)
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > 50 * count + 1000:
            raise ValueError(f"the vocabulary gives fewer than {count} distinct synthetic conditions")
        draw = rng.random()
        finding = next(single, None) if draw < 0.4 else None
        if finding is None:
            finding = kinds[0]() if draw < 0.8 else kinds[1]()
        if not fresh(finding.when):
            continue
        rule: dict[str, Any] = {
            "id": f"syn.{len(out) + 1:04d}",
            "title": f"Synthetic: {finding.title}",
            "status": "active",
            "when": finding.when,
        }
        only = list(finding.when.items())
        if len(only) == 1 and only[0][0].startswith("stains.") and only[0][1] == "positive" and rng.random() < 0.5:
            negation = {only[0][0]: "negative"}
            if fresh(negation):
                rule["negated_by"] = negation
                rule["negated_title"] = f"Synthetic: {finding.title.removesuffix(' positive')} negative"
        rule["likelihood"] = {slug: _figure(rng) for slug in slugs}
        rule["rationale"] = RATIONALE
        rule["source"] = SOURCE
        out.append(rule)
    return out


def _yaml(value: Any) -> str:
    """A value as YAML flow text (JSON is YAML)."""
    return json.dumps(value, ensure_ascii=False)


def rule_file_text(rules: list[dict[str, Any]]) -> str:
    """The rules as a rule file (block style per rule, flow style inside)."""
    lines = [
        "# SYNTHETIC rules generated by bench/rulegen for benchmarking ddx. Not medicine: every figure is",
        "# random. Never use this folder to rank a real case.",
        "",
        "rules:",
    ]
    for rule in rules:
        lines.append(f"  - id: {rule['id']}")
        for key in ("title", "status", "when", "negated_by", "negated_title", "rationale", "source"):
            if key in rule:
                lines.append(f"    {key}: {_yaml(rule[key])}")
        lines.append("    likelihood:")
        lines += [f"      {slug}: {_yaml(cell)}" for slug, cell in rule["likelihood"].items()]
    return "\n".join(lines) + "\n"


def generate(n: int, target: Path, *, source: Path | None = None, seed: int = 19) -> Path:
    """Write a rules directory with ``n`` rules in all to ``target`` (created; must not exist, and must be
    outside the repository): a copy of ``source`` (default: ddx's packaged rules) plus ``n - (its
    rules)`` generated ones in ``rules/synthetic.yaml`` (none when ``n`` is what ``source`` holds).
    Returns ``target``. Raises ValueError for ``n`` below the rules ``source`` already holds, or a target
    inside the repository; FileExistsError when ``target`` exists."""
    source = Path(source) if source is not None else packaged_rules_dir()
    target = Path(target).resolve()
    if target == ROOT or ROOT in target.parents:
        raise ValueError(f"{target} is inside the repository; write synthetic rules to a temporary folder")
    knowledge = load_knowledge(source)
    have = len({r.spec.id for r in knowledge.rules})
    if n < have:
        raise ValueError(f"{source} already holds {have} rules; ask for at least that many")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    if n > have:
        (target / "rules" / SYNTHETIC_FILE).write_text(
            rule_file_text(synthetic_rules(knowledge, n - have, seed=seed)), encoding="utf-8"
        )
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("rules", type=int, help="rules in all (at least the rules already in --source)")
    parser.add_argument("target", type=Path, help="the folder to write (must not exist; outside the repository)")
    parser.add_argument("--source", type=Path, help="the rules to start from (default: ddx's packaged rules)")
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    try:
        path = generate(args.rules, args.target, source=args.source, seed=args.seed)
    except (ValueError, FileExistsError) as exc:
        print(f"rulegen: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
