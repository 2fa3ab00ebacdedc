"""The side-by-side floor: ``ddx batch`` against a minimal scorer with the same engine and the same output.

    python bench/floor_bench.py                  # 20,000 synthetic cases, 5 paired runs
    python bench/floor_bench.py --cases 5000 --pairs 3     # quicker
    python bench/floor_bench.py --write          # also replace the floor table in README.md

Not a test: it prints figures. It does fail (exit 1, the first differing line shown) when the minimal
scorer's output is not byte-identical to ddx's, which it checks after every run.

**The two sides.** Both read the same CSV sheet of synthetic cases and write jsonl to a file:

* ddx: ``ddx batch SHEET --format jsonl --no-suggest -q -o FILE`` (lean lines, one job; with
  ``--engine durable``, so that ``$DDX_ENGINE`` cannot give it another engine than the floor's);
* the floor: :class:`MinimalScorer`, the throwaway scorer a performance engineer would write.

**What the floor does itself (the minimal path):** ``csv.reader`` over the sheet; each row straight to the
flat facts dict (column names mapped to fact keys once, from the header, the way
:func:`ddx.facts.case_facts` names them; cells taken as canonical terms and numbers, with no validation
model); the posterior, scores, ranking order, evidence order, caveats, findings not used, findings no
profile explains, pointers outside the differential, the informative-finding and ancillary counts, and
the lean line's text (written the way :func:`ddx.render.to_lean_line` writes it).

**What the floor takes from ddx** (so the ratio compares per-case work, not reimplementations):

* the engine: :class:`ddx.engine.DurableMatcher` over ``knowledge.active_rules`` (its Python glue
  counts as engine);
* the tables ddx builds once at load: :class:`ddx.ranking.Ranker`'s ``log_lik``, ``log_prior``,
  ``temperature``, ``profile_entity``, ``weights``, ``place``, ``p_used``, ``lean_rows`` (each piece of
  evidence's lean JSON, or None where it is not listed, built once) and ``source_key``; the compiled
  ``predicate`` of each outside pattern;
* per case, one ddx function: :func:`ddx.bands.assess` for the confidence band (given
  :class:`ddx.ranking.RankedEntity` objects built for the leader and the runner-up, which is what it reads,
  and the floor's own copy of :meth:`ddx.analysis.Analyzer.overturned`, the what-if ranking a band may ask for);
* once per run: :class:`ddx.batch.BatchSummary` for the summary line.

Left out, because the cases it takes do not need them: validation (the pydantic model and its error
messages), the sheet-row mapping, duplicate-id checks, error rows, ``expected`` and scoring, the
full evidence objects. So the floor is "same engine, same output, no validation model, no per-case
overhead beyond the data"; ddx cases/s over floor cases/s says how close ddx is to it.

**The cases** are :func:`ddx.synthetic.synthetic_case` draws written with :func:`ddx.loader.write_sheet`:
canonical terms, valid values, no ``expected`` column, unique ids, which is what the floor takes (it
refuses a column it does not know).

**Timing.** Each pair runs ddx on a one-case sheet and on the full sheet, then the floor on the same two
sheets (the next pair starts with the floor), each in its own process. A side's rate is (N - 1) cases over
its full run's CPU time (user + system of the child) less the median CPU time of its one-case runs, so
start-up (imports, loading and compiling the rules) is excluded; the two sides of a pair run within
seconds of each other, so the load of a shared machine hits both alike. Reported: the medians over the
pairs, and the median of the per-pair ratios.

**Size.** 20,000 cases by default, the size issue 19 measured at. A smaller run weighs a one-time cost that
only ddx pays more heavily: its duplicate-id register imports numpy at its first merge, after 4,096 ids
(130-170 ms of CPU here; the floor checks no ids), about 5 % of ddx's time at 5,000 cases and 1 % at 20,000.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ddx import __version__  # noqa: E402
from ddx.bands import WhatIf, assess  # noqa: E402
from ddx.batch import BatchSummary  # noqa: E402
from ddx.engine import DurableMatcher  # noqa: E402
from ddx.knowledge import Knowledge, load_knowledge  # noqa: E402
from ddx.knowledge.conditions import condition_reads, requires_unrecorded, supposed_keys  # noqa: E402
from ddx.loader import LIST_SEPARATORS, write_sheet  # noqa: E402
from ddx.ranking import LN10, RankedEntity, lower_first, ranker_for, short_name  # noqa: E402
from ddx.synthetic import synthetic_case  # noqa: E402
from tools.readme import write_readme_section  # noqa: E402

BEGIN = "<!-- floor:begin (generated by bench/floor_bench.py --write) -->"
END = "<!-- floor:end -->"
TARGET = 0.85  # issue 19: ddx at >= 0.85 x the minimal same-engine scorer

_ANCILLARY = ("stains__", "molecular__")
_STAIN_PARTS = ("extent", "intensity", "pattern", "percent")
_IGNORED = frozenset({"title", "notes", "source", "clinical.presentation"})  # free text: never a fact


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # json.dumps's text, one encoder


# a column's reader: (fact key, kind), kind one of "text", "number", "list", "site", "stain"
Column = tuple[str, str] | None


class MinimalScorer:
    """Sheet rows to lean jsonl lines with ddx's engine and ranking tables, and nothing else per case.

    ``knowledge``: loaded rules; the durable-rules rulesets are compiled here (start-up). Refuses
    (``ValueError``) a sheet column it does not map (it takes canonical, valid rows only).
    """

    def __init__(self, knowledge: Knowledge):
        self.knowledge = knowledge
        vocab = knowledge.vocab
        self.vocab = vocab
        self.matcher = DurableMatcher(knowledge.active_rules)
        ranker = ranker_for(knowledge)
        self.ranker = ranker
        self.log_lik = ranker.log_lik
        self.log_prior = ranker.log_prior
        self.temperature = ranker.temperature
        self.profile_entity = ranker.profile_entity
        self.weights = ranker.weights
        self.place = ranker.place
        self.lean_rows = ranker.lean_rows  # each piece of evidence's lean JSON (None: not listed), built once
        self.estimated = {r: tuple(e.estimate for e in row) for r, row in ranker.evidence.items()}  # per rule, per profile
        self.n_profiles = len(ranker.profiles)
        self.match_keys = knowledge.referenced_keys
        self.entities = [(e.slug, e.name, bool(e.subtypes)) for e in knowledge.entities]
        self.profiles = [(p.slug, p.name) for p in ranker.profiles]
        self.shares = [p.share for p in ranker.profiles]
        self.spread = knowledge.settings.evidence.informative_spread
        self.implies = [(f"molecular__{t}", f"molecular__{x}") for t, x in knowledge.vocab.molecular_implies.items()]
        # a rule that reads only recorded numbers (an age band): one finding per set of numbers, however many bands
        numbers = {p.replace(".", "__") for p, kind in knowledge.vocab.finding_paths().items() if kind == "number"}
        self.number_keys = {r: knowledge.rule[r].keys for r in self.log_lik if knowledge.rule[r].keys <= numbers}
        self.site_group = vocab.site_group_of
        self.shorthand = vocab.stain_shorthand
        # what a matched rule adds to the line, fixed per rule
        keys = ranker.source_key
        self.caveat: dict[str, dict[str, str]] = {
            r.id: {"rule": r.spec.id, "source": keys.get(r.spec.source, r.spec.source)}
            for r in knowledge.active_rules
            if r.spec.caveat and not r.negated
        }
        self.reads: dict[str, tuple[frozenset[str], dict[str, frozenset[str]]]] = {}
        list_paths = frozenset(p for p, kind in vocab.finding_paths().items() if kind == "list")
        self.accounts: dict[str, tuple[frozenset[str], dict[str, frozenset[str]]]] = {}  # read for "unused" only
        for rule in knowledge.active_rules:
            if rule.id not in self.log_lik:
                continue
            self.reads[rule.id] = condition_reads(rule.condition, list_paths)
            if rule.accounts is not None:
                self.accounts[rule.id] = condition_reads(rule.accounts, list_paths, by_value=True)
        self.needs_unrecorded = {r: needs for r in self.reads if (needs := requires_unrecorded(knowledge.rule[r].condition))}
        self.supposes = {r: supposed_keys(knowledge.rule[r].condition) for r in self.reads}
        limit = knowledge.settings.evidence.unexplained_below
        self.unexplained: dict[str, dict[str, Any]] = {}
        self.unexplained_name: dict[str, str] = {}
        for rid, ps in ranker.p_used.items():
            best = max(range(len(ps)), key=lambda j: (ps[j], -j))
            if ps[best] < limit:
                title = knowledge.rule[rid].title
                self.unexplained[rid] = {"rule": rid, "finding": title, "best": ranker.profiles[best].slug, "p": round(ps[best], 4)}
                lowered = title.lower() if title[:1].isupper() and title[1:2].islower() else title
                self.unexplained_name[rid] = f"{lowered} (explained by no modelled entity)"
        self.outside = [
            (
                o.predicate,
                o.spec.slug,
                lower_first(short_name(o.spec.name)),
                [(f, f.replace(".", "__")) for f in o.spec.findings],
                [(f, f.replace(".", "__")) for f in o.spec.supporting],
                keys.get(o.spec.source, o.spec.source),
            )
            for o in knowledge.outside
        ]
        # the part of every line after the case's own keys
        self.constant_tail = _dumps(
            {
                "errors": [],
                "rules_version": knowledge.settings.version,
                "rules_hash": knowledge.content_hash[:12],
                "rules_dir": str(knowledge.directory),
                "prior_set": knowledge.prior_set,
                "ddx_version": __version__,
                "engine": self.matcher.name,
                "detail": "lean",
            }
        )[1:]

    # --- sheet to facts ---------------------------------------------------------------------------

    def columns(self, header: list[str]) -> tuple[list[Column], int, dict[str, int]]:
        """Each column's reader, the id column, and the order of fact keys (case_facts' order)."""
        vocab = self.vocab
        readers: list[Column] = []
        order: dict[str, int] = {
            "patient__age": 0,
            "patient__sex": 1,
            "clinical__site": 2,
            "clinical__site_group": 3,
            "clinical__depth": 4,
            "clinical__size_cm": 5,
            "clinical__symptoms": 6,
        }
        for name in vocab.morphology:
            order[f"morphology__{name}"] = len(order)
        stains: list[str] = []
        molecular: list[str] = []
        id_column = -1
        for i, column in enumerate(c.strip() for c in header):
            parts = column.split(".")
            key = "__".join(parts)
            if column == "id":
                id_column = i
                readers.append(None)
            elif column in _IGNORED:
                readers.append(None)
            elif column in ("patient.age", "clinical.size_cm"):
                readers.append((key, "number"))
            elif column in ("patient.sex", "clinical.depth"):
                readers.append((key, "text"))
            elif column == "clinical.site":
                readers.append((key, "site"))
            elif column == "clinical.symptoms":
                readers.append((key, "list"))
            elif parts[0] == "morphology" and len(parts) == 2 and parts[1] in vocab.morphology:
                kind = vocab.morphology[parts[1]].kind
                readers.append((key, {"list": "list", "number": "number"}.get(kind, "text")))
            elif parts[0] == "stains" and len(parts) in (2, 3) and parts[1] in vocab.stains.terms:
                if parts[1] not in stains:
                    stains.append(parts[1])
                if len(parts) == 2 or parts[2] == "result":
                    readers.append((f"stains__{parts[1]}", "stain"))
                elif parts[2] in _STAIN_PARTS:
                    readers.append((key, "number" if parts[2] == "percent" else "text"))
                else:
                    raise ValueError(f"the minimal scorer does not take the column {column!r}")
            elif parts[0] == "molecular" and len(parts) == 2 and parts[1] in vocab.molecular.terms:
                molecular.append(parts[1])
                readers.append((key, "text"))
            else:
                raise ValueError(f"the minimal scorer does not take the column {column!r}")
        for stain in stains:  # a stain's result, then its parts (case_facts' order)
            for key in (f"stains__{stain}", *(f"stains__{stain}__{p}" for p in _STAIN_PARTS)):
                order[key] = len(order)
        for test in molecular:
            order[f"molecular__{test}"] = len(order)
        if id_column < 0:
            raise ValueError("the sheet has no 'id' column")
        return readers, id_column, order

    def facts(self, row: list[str], readers: list[Column], order: dict[str, int]) -> dict[str, Any]:
        """Every recorded finding of one row as flat facts, in case_facts' order."""
        found: dict[str, Any] = {}
        implied: list[tuple[str, str]] = []
        for reader, cell in zip(readers, row):
            if reader is None or not cell:
                continue
            value = cell.strip()
            if not value:
                continue
            key, kind = reader
            if kind == "text":
                found[key] = value
            elif kind == "number":
                found[key] = float(value)
            elif kind == "list":
                found[key] = sorted({v for v in LIST_SEPARATORS.split(value) if v})
            elif kind == "site":
                found[key] = value
                group = self.site_group.get(value)
                if group is not None:
                    found["clinical__site_group"] = group
            else:  # a stain's result, or a shorthand that also gives its extent or intensity
                expanded = self.shorthand.get(value)
                if expanded is None:
                    found[key] = value
                else:
                    found[key] = expanded["result"]
                    for part in ("extent", "intensity"):
                        if part in expanded:
                            implied.append((f"{key}__{part}", expanded[part]))
        for key, value in implied:
            found.setdefault(key, value)
        facts = {key: found[key] for key in sorted(found, key=order.__getitem__)}
        for test, target in self.implies:  # a named fusion is its gene's rearrangement (ddx.facts)
            if facts.get(test) == "present":
                facts[target] = "present"
        return facts

    # --- one case ---------------------------------------------------------------------------------

    def _profile_probs(self, ids: list[str]) -> list[float]:
        """The posterior per profile for the matched scoring rules ``ids`` (sorted), as ddx.ranking.Ranker
        computes it: the same sums in the same order."""
        t = self.temperature
        if ids:
            log_post = [lp + t * math.fsum(col) for lp, col in zip(self.log_prior, zip(*(self.log_lik[r] for r in ids)))]
        else:
            log_post = list(self.log_prior)
        top = max(log_post)
        exps = [math.exp(v - top) for v in log_post]
        total = math.fsum(exps)
        return [v / total for v in exps]

    def line(self, case_id: str, file: str, every: dict[str, Any]) -> str:
        """The lean jsonl line of one case (``evidence_for`` 3, no suggestions)."""
        keys = self.match_keys
        matched = self.matcher.match({k: v for k, v in every.items() if k in keys})
        ids = sorted(r for r in matched if r in self.log_lik)
        # posterior per profile, summed per entity (ddx.ranking.Ranker: the same sums in the same order)
        n = self.n_profiles
        scores = [math.fsum(col) for col in zip(*(self.weights[r] for r in ids))] if ids else [0.0] * n
        pp = self._profile_probs(ids)
        probs = [0.0] * len(self.entities)
        best: dict[int, int] = {}
        for j, i in enumerate(self.profile_entity):
            probs[i] += pp[j]
            if i not in best or pp[j] > pp[best[i]]:
                best[i] = j
        order = sorted(range(len(self.entities)), key=lambda i: (-probs[i], self.entities[i][0]))
        # the ranking, evidence for the first three
        entries = []
        ranked = []
        for place, i in enumerate(order):
            slug, name, has_subtypes = self.entities[i]
            j = best[i]
            p = probs[i]
            text = f'{{"entity":"{slug}","probability":{round(p, 6)!r},"score":{round(scores[j], 4)!r}'
            share = None
            if has_subtypes:
                share = pp[j] / p if p > 0 else self.shares[j]
                text += f',"subtype":{{"slug":"{self.profiles[j][0]}","share":{round(share, 4)!r}}}'
            if place < 3:
                rows = self.lean_rows
                listed = [t for r in sorted(ids, key=self.place[j].__getitem__) if (t := rows[r][j]) is not None]
                text += f',"evidence":[{",".join(listed)}]'
            entries.append(text + "}")
            # the band reads the leader, the runner-up and a pitfall's look-alike wherever it ranks
            ranked.append(
                RankedEntity(
                    slug,
                    name,
                    p,
                    scores[j],
                    subtype=self.profiles[j][0] if has_subtypes else None,
                    subtype_name=self.profiles[j][1] if has_subtypes else None,
                    subtype_share=share,
                )
            )
        # findings that separate the two leaders; stains and molecular tests read by matched scoring rules
        a, b = best[order[0]], best[order[1]]
        # what the lead rests on (ddx.ranking.Ranker.lead_basis): each finding's log10 ratio, cited when both figures are
        cited: list[float] = []
        estimated: list[float] = []
        for r in ids:
            est, lik = self.estimated[r], self.log_lik[r]
            (estimated if est[a] or est[b] else cited).append((lik[a] - lik[b]) / LN10)
        basis = {
            "leader": self.entities[order[0]][0],
            "runner_up": self.entities[order[1]][0],
            "cited": round(math.fsum(cited), 3),
            "estimated": round(math.fsum(estimated), 3),
        }
        informative = 0
        counted: set[frozenset[str]] = set()
        for r in ids:
            if abs(self.log_lik[r][a] - self.log_lik[r][b]) / LN10 >= self.spread:
                keys = self.number_keys.get(r)
                if keys is not None:
                    if keys in counted:
                        continue
                    counted.add(keys)
                informative += 1
        read_keys: set[str] = set()
        read_items: dict[str, set[str]] = {}
        for r in ids:
            plain, items = self.reads[r]
            read_keys |= plain
            for key, values in items.items():
                read_items.setdefault(key, set()).update(values)
        ancillary = len({"__".join(k.split("__")[:2]) for k in read_keys if k.startswith(_ANCILLARY)})
        for r in ids:
            if r in self.accounts:
                plain, items = self.accounts[r]
                read_keys |= plain
                for key, values in items.items():
                    read_items.setdefault(key, set()).update(values)
        # recorded findings no matched scoring rule reads
        if "clinical__site_group" in read_keys:
            read_keys.add("clinical__site")
        read_keys |= {"__".join(k.split("__")[:2]) for k in list(read_keys) if k.startswith("stains__") and k.count("__") >= 2}
        unused: list[dict[str, Any]] = []
        for key, value in every.items():
            if key == "clinical__site_group" or key in read_keys:
                continue
            path = key.replace("__", ".")
            if isinstance(value, list):
                wanted = read_items.get(key, ())
                unused += [{"finding": path, "value": v} for v in value if v not in wanted]
            elif str(value) not in read_items.get(key, ()):  # a result an accounts_for stands for is used
                unused.append({"finding": path, "value": int(value) if isinstance(value, float) and value.is_integer() else value})
        # outside the differential
        unexplained = [self.unexplained[r] for r in sorted(matched) if r in self.unexplained]
        pointers = []
        names = []
        for predicate, slug, name, findings, supporting, source in self.outside:
            if predicate(every):
                found = [f for f, k in findings if k in every] + [f for f, k in supporting if every.get(k) in ("positive", "present")]
                pointers.append({"entity": slug, "findings": found, "source": source})
                names.append(name)
        names += [self.unexplained_name[u["rule"]] for u in unexplained]
        leader = order[0]

        def overturned(rule_ids: Sequence[str]) -> WhatIf | None:
            # ddx.analysis.Analyzer.overturned: the unrecorded findings all present, then all absent
            pending = [
                r
                for r in rule_ids
                if r not in matched
                and r + ":not" not in matched
                and not any(k in every for h in (r, r + ":not") if h in self.reads for k in self.reads[h][0])
            ]
            for present, extra in (
                (True, [r for r in pending if r in self.log_lik]),
                (False, [r + ":not" for r in pending if r + ":not" in self.log_lik]),
            ):
                if extra:
                    # a matched rule that holds only while a finding of ``extra`` is unrecorded drops out
                    recorded = {k for r in extra for k in self.supposes[r]}
                    kept = [r for r in ids if not (self.needs_unrecorded.get(r, frozenset()) & recorded)]
                    per = [0.0] * len(self.entities)
                    for j, p in zip(self.profile_entity, self._profile_probs(sorted(set(kept) | set(extra)))):
                        per[j] += p
                    top = min(range(len(per)), key=lambda i: (-per[i], self.entities[i][0]))
                    if top != leader:
                        return WhatIf(self.entities[top][0], present, tuple(r.removesuffix(":not") for r in extra))
            return None

        confidence = assess(
            self.knowledge,
            ranked,
            [],
            every,
            informative=informative,
            ancillary=ancillary,
            outside=names,
            overturned=overturned,
            caveats=[self.caveat[r]["rule"] for r in sorted(matched) if r in self.caveat],
        )
        head = _dumps({"id": case_id, "file": file, "expected": None})[:-1]
        tail = _dumps(
            {
                "confidence": {
                    "band": confidence.band,
                    "label": confidence.label,
                    "confirm_tests": confidence.confirm_tests,
                    "confirm_with": list(confidence.confirm_with),
                }
                if confidence
                else None,
                "suggested_tests": [],
                "no_separating_test": None,
                "caveats": [self.caveat[r] for r in sorted(matched) if r in self.caveat],
                "unused_findings": unused,
                "outside_differential": {"unexplained": unexplained, "pointers": pointers} if unexplained or pointers else None,
                "informative_findings": informative,
                "lead_basis": basis,
            }
        )[1:-1]
        return f'{head},"ranking":[{",".join(entries)}],{tail},{self.constant_tail}'

    def run(self, sheet: str, out: TextIO) -> int:
        """Score every row of ``sheet`` (CSV, as given on the command line) into ``out``; the summary line
        last. Returns the number of cases."""
        summary = BatchSummary(self.knowledge, engine=self.matcher.name, sources=True)
        with open(sheet, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            readers, id_column, order = self.columns(next(reader))
            write = out.write
            for row in reader:
                case_id = row[id_column].strip()
                write(self.line(case_id, sheet, self.facts(row, readers, order)))
                write("\n")
                summary.cases += 1
                summary.ranked += 1
                summary.evaluation.add_unscored(case_id)
        write(_dumps({"summary": summary.to_dict()}) + "\n")
        return summary.cases

    def close(self) -> None:
        self.matcher.close()


# --- the bench ------------------------------------------------------------------------------------


def floor_main(sheet: str, output: str) -> int:
    """The floor as its own process (what the bench times): rules loaded as ``ddx batch`` loads them."""
    scorer = MinimalScorer(load_knowledge())
    with open(output, "w", encoding="utf-8", newline="\n") as out:
        scorer.run(sheet, out)
    scorer.close()
    return 0


def cpu_run(args: list[str]) -> tuple[float, float]:
    """Run a command to the end; (CPU seconds of the child, wall seconds). Exits on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def same_output(ddx_file: Path, floor_file: Path) -> None:
    """Exit with the first differing line unless the two files are byte-identical."""
    a, b = ddx_file.read_bytes(), floor_file.read_bytes()
    if a == b:
        return
    lines_a, lines_b = a.split(b"\n"), b.split(b"\n")
    for n, (x, y) in enumerate(zip(lines_a, lines_b), start=1):
        if x != y:
            at = next((i for i, (c, d) in enumerate(zip(x, y)) if c != d), min(len(x), len(y)))
            raise SystemExit(
                f"FLOOR OUTPUT DIFFERS from ddx at line {n}, byte {at}:\n"
                f"  ddx:   ...{x[max(0, at - 120) : at + 200].decode(errors='replace')}\n"
                f"  floor: ...{y[max(0, at - 120) : at + 200].decode(errors='replace')}\n"
                "The minimal scorer must write exactly what ddx writes; fix bench/floor_bench.py "
                "(or ddx, if its output changed by mistake)."
            )
    raise SystemExit(f"FLOOR OUTPUT DIFFERS from ddx: {len(lines_a) - 1} lines against {len(lines_b) - 1}")


def write_cases(knowledge: Knowledge, n: int, path: Path, seed: int) -> None:
    rng = random.Random(seed)
    write_sheet((synthetic_case(knowledge.vocab, rng, f"syn-{i}") for i in range(n)), path)


def bench(cases: int, pairs: int, tmp: Path) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
    knowledge = load_knowledge()
    big, one = tmp / f"cases-{cases}.csv", tmp / "cases-1.csv"
    write_cases(knowledge, cases, big, 2026)
    write_cases(knowledge, 1, one, 2027)
    print(f"sheets written: {cases:,} and 1 case(s) in {tmp}", file=sys.stderr)
    ddx_cmd = [sys.executable, "-m", "ddx", "batch", "--engine", "durable", "--format", "jsonl", "--no-suggest", "-q", "-o"]
    floor_cmd = [sys.executable, str(Path(__file__).resolve()), "--floor", "-o"]
    cpu_n: dict[str, list[float]] = {"ddx": [], "floor": []}
    wall_n: dict[str, list[float]] = {"ddx": [], "floor": []}
    cpu_1: dict[str, list[float]] = {"ddx": [], "floor": []}
    wall_1: dict[str, list[float]] = {"ddx": [], "floor": []}
    for pair in range(pairs):
        sides = ("ddx", "floor") if pair % 2 == 0 else ("floor", "ddx")  # who goes first alternates too
        for side in sides:
            base = ddx_cmd if side == "ddx" else floor_cmd
            cpu, wall = cpu_run(base + [str(tmp / f"{side}-1.jsonl"), str(one)])
            cpu_1[side].append(cpu)
            wall_1[side].append(wall)
            cpu, wall = cpu_run(base + [str(tmp / f"{side}-n.jsonl"), str(big)])
            cpu_n[side].append(cpu)
            wall_n[side].append(wall)
        for size in ("1", "n"):
            same_output(tmp / f"ddx-{size}.jsonl", tmp / f"floor-{size}.jsonl")
        print(
            f"pair {pair + 1}: ddx {cpu_n['ddx'][-1]:.2f} s, floor {cpu_n['floor'][-1]:.2f} s of CPU for {cases:,} "
            f"cases; outputs byte-identical",
            file=sys.stderr,
        )
    # start-up: the median one-case run of each side (one run's start-up varies more than the median)
    startup = {side: statistics.median(v) for side, v in cpu_1.items()}
    rates = {side: [(cases - 1) / max(c - startup[side], 1e-9) for c in v] for side, v in cpu_n.items()}
    walls = {side: [(cases - 1) / max(w - statistics.median(wall_1[side]), 1e-9) for w in v] for side, v in wall_n.items()}
    ratios = [d / f for d, f in zip(rates["ddx"], rates["floor"])]
    size_kb = (tmp / "ddx-n.jsonl").stat().st_size / cases / 1024
    med = {side: statistics.median(v) for side, v in rates.items()}
    ratio = statistics.median(ratios)
    rows = [
        (
            "`ddx batch --format jsonl --no-suggest` (1 job)",
            f"{med['ddx']:,.0f} cases/s",
            f"median of {pairs}; range {min(rates['ddx']):,.0f}–{max(rates['ddx']):,.0f}",
        ),
        (
            "minimal same-engine scorer (the floor)",
            f"{med['floor']:,.0f} cases/s",
            f"median of {pairs}; range {min(rates['floor']):,.0f}–{max(rates['floor']):,.0f}",
        ),
        (
            "**ddx ÷ floor**",
            f"**{ratio:.2f}**",
            f"median of the per-pair ratios ({min(ratios):.2f}–{max(ratios):.2f}); target ≥ {TARGET}: "
            f"{'met' if ratio >= TARGET else 'not met'}",
        ),
        ("output", "byte-identical", f"checked on every run; {cases:,} cases, {size_kb:.1f} KB a line"),
        (
            "start-up (CPU, one-case sheet)",
            f"ddx {startup['ddx']:.2f} s",
            f"floor {startup['floor']:.2f} s; medians of {pairs}, subtracted above",
        ),
    ]
    data = {
        "cases": cases,
        "pairs": pairs,
        "cpu_rates": rates,
        "wall_rates": walls,
        "ratios": ratios,
        "startup_cpu_s": cpu_1,
        "median_ratio": ratio,
    }
    return rows, data


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000, help="cases in the sheet (default 20,000, as issue 19 measured)")
    parser.add_argument("--pairs", type=int, default=5, help="paired runs (default 5; at least 3 advised)")
    parser.add_argument("--write", action="store_true", help="replace the floor table in README.md")
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)  # one floor run: -o OUT SHEET
    parser.add_argument("-o", dest="output", help=argparse.SUPPRESS)
    parser.add_argument("sheet", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        return floor_main(args.sheet, args.output)
    if args.cases < 2 or args.pairs < 1:
        parser.error("--cases must be at least 2 and --pairs at least 1")
    with tempfile.TemporaryDirectory(prefix="ddx-floor-") as tmp:
        rows, data = bench(args.cases, args.pairs, Path(tmp))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        f"Measured on {machine}, {time.strftime('%Y-%m-%d')}; {args.cases:,} synthetic cases, CPU time, "
        f"start-up excluded; reproduce with `python bench/floor_bench.py`.",
        "",
        "| measure | result | notes |",
        "|---|---:|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    table = "\n".join(lines) + "\n"
    print(table)
    print(json.dumps(data), file=sys.stderr)
    if args.write:
        return write_readme_section(ROOT / "README.md", BEGIN, END, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
