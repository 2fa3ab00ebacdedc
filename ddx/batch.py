"""Batch runs: many case files and sheets in, one result per case out, in input order.

The CLI's ``ddx batch`` is a thin layer over :func:`run_batch` and
:class:`BatchSummary`; the writers live in :mod:`ddx.cli.writers`.

* Inputs stream: folders are walked, spreadsheets are read row by row, and
  every result is handed on as soon as it is ready, so memory does not grow
  with the number of cases.
* A case id seen before is an error that names the first file.
* ``jobs > 1`` ranks in worker processes, each loading the same rules (checked
  by content hash) and compiling its own durable-rules rulesets. Each worker
  reads the inputs itself and ranks its own chunks of 64 cases (chunk ``c`` in
  worker ``c % jobs``), at most a few chunks ahead of the writing parent, which
  reads and sends no case; results come back in input order, so the output is
  the same for any number of jobs.
* A case that makes a worker die (a crash in the C engine) becomes an error
  row: the parent reads the rest itself and hands it to a pool that re-runs the
  chunk one case at a time.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import islice
from multiprocessing.connection import wait
from typing import Any

from ddx import __version__
from ddx.analysis import Analysis, Analyzer
from ddx.errors import DdxError, EngineError, Problem
from ddx.evaluate import Evaluation, ScoredCase, scored_case
from ddx.knowledge import Knowledge, load_knowledge
from ddx.loader import RawCase, read_cases, readable_expected, validate_raw
from ddx.ranking import ranker_for
from ddx.render import entity_label, to_json_line, to_lean_line
from ddx.safetext import json_text

CHUNK = 64  # cases per task sent to a worker
IN_FLIGHT_PER_JOB = 4  # chunks queued per worker: enough to keep it busy, bounded memory


@dataclass(frozen=True)
class BatchOptions:
    """What a batch run builds for each case (next tests, JSON lines lean or full, table rows) and with which
    engine."""

    suggest: bool = True
    top: int = 3  # leaders kept per case for tables and CSV
    evidence_for: int | None = None  # JSON: list evidence for the first K entities (None: all)
    want_json: bool = True  # build the per-case JSON line
    lean: bool = False  # the lean line (render.to_lean_line) instead of the full shape
    want_rows: bool = True  # fill the fields of table, CSV, workbook and markdown rows (leaders, labels ...)
    engine: str | None = None  # "durable" or "python" (ddx.engine.ENGINES); None: ddx.engine.default_engine()


@dataclass
class BatchRow:
    """One case of a batch run, as its writers and the summary need it (small and picklable): a row of the
    table, CSV, workbook and markdown outputs, with its JSON line (``ddx rules test`` keeps its cases as
    :class:`ddx.authoring.regression.CaseResult`)."""

    id: str
    file: str
    line: int | None = None  # the line of a CSV row, the row number of a workbook row
    expected: str | None = None
    leaders: list[tuple[str, float]] = field(default_factory=list)  # (slug, probability), best first
    labels: list[str] = field(default_factory=list)  # the leaders as shown, without their figures: "srms · TFCP2-RMS"
    leader_subtype: str = ""  # the first entity's leading profile, when it has subtypes: "TFCP2-RMS", "ALK-rearranged IMT"
    unused: list[str] = field(default_factory=list)  # recorded findings not used by the ranking ("path: value")
    outside: str | None = None  # what the findings point to outside the differential
    scored: ScoredCase | None = None
    band: str | None = None  # the confidence band's label
    next_test: str | None = None
    next_test_gain: float | None = None  # bits
    next_test_cost: str | None = None  # its cost class as a laboratory names it ("IHC", "FISH")
    next_test_turnaround: str | None = None
    no_separating_test: bool | None = None  # None: suggestions were not computed
    confirm_tests: str | None = None  # the defining tests the band asks for to confirm the leader ("near-haploidization")
    caveats: list[str] = field(default_factory=list)  # the rules of the caveats shown (pitfall ids)
    errors: list[Problem] = field(default_factory=list)
    json: str | None = None  # the JSON line, terminal-safe (ddx.safetext.json_text)
    sheet: str | None = None  # the workbook sheet the case is a row of
    # what the first entity's lead over the second rests on (log10; ddx.ranking.LeadBasis): cited figures, estimates
    lead_cited: float | None = None
    lead_estimated: float | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class _Where:
    """Which case a batch row is about: its id, file, line, sheet and ``expected`` diagnosis."""

    id: str
    file: str
    line: int | None
    sheet: str | None
    expected: str | None


class Processor:
    """Validates, ranks and serialises one raw case at a time (one per process)."""

    def __init__(self, knowledge: Knowledge, options: BatchOptions):
        self.knowledge = knowledge
        self.options = options
        self.analyzer = Analyzer(knowledge, options.engine)

    def process(self, raw: RawCase) -> BatchRow:
        suggest = self.options.suggest
        tried = False
        if not raw.problems and not raw.read_problems and raw.cells is not None and raw.columns is not None:
            # a plainly canonical sheet row: read straight to its facts (no case model; no batch output reads it)
            row = self.knowledge.case_schema.fast_row_facts(raw.columns, raw.cells, raw.decimal_comma)
            tried = True
            if row is not None:
                try:
                    analysis = self.analyzer.analyze_facts(row.facts, row.id, row.expected, suggest=suggest, file=raw.file)
                except Exception as exc:  # one case must never stop the batch; say what broke
                    return self._broke(_Where(row.id, raw.file, raw.line, raw.sheet, row.expected), exc)
                analysis.sheet = raw.sheet
                return self.result(analysis, raw.line)
        loaded = validate_raw(raw, self.knowledge, fast=not tried)  # declined there: not the fast path here either
        if loaded.case is None or not loaded.ok:
            where = _Where(loaded.id, loaded.file, loaded.line, loaded.sheet, self._expected_of(raw))
            return self._failed(where, loaded.problems)
        where = _Where(loaded.id, loaded.file, loaded.line, loaded.sheet, loaded.case.expected)
        try:
            analysis = self.analyzer.analyze(loaded.case, suggest=suggest, file=loaded.file)
        except Exception as exc:  # one case must never stop the batch; say what broke
            return self._broke(where, exc)
        analysis.sheet = where.sheet
        return self.result(analysis, where.line)

    def _broke(self, where: _Where, exc: Exception) -> BatchRow:
        """The error row of a case whose ranking raised: an internal error, named, to be reported."""
        message = f"internal error while ranking ({type(exc).__name__}: {exc}); please report it"
        return self._failed(where, [Problem(message, file=where.file, case=where.id, line=where.line, sheet=where.sheet)])

    def _failed(self, where: _Where, problems: list[Problem]) -> BatchRow:
        """The error row of a case that could not be ranked (its ``expected`` kept where readable)."""
        analysis = Analysis(case_id=where.id, case=None, expected=where.expected, problems=problems, file=where.file)
        analysis.sheet = where.sheet
        return self.result(analysis, where.line)

    def _expected_of(self, raw: RawCase) -> str | None:
        """The ``expected`` diagnosis of a case that failed validation (:func:`ddx.loader.readable_expected`)."""
        return readable_expected(raw, self.knowledge)

    def result(self, analysis: Analysis, line: int | None) -> BatchRow:
        if not self.options.want_rows:  # a JSON run: the line, and what the summary and progress read
            return BatchRow(
                id=analysis.case_id,
                file=analysis.file or "",
                line=line,
                expected=analysis.expected,
                scored=scored_case(analysis, self.knowledge),
                errors=list(analysis.problems),
                json=self.json_line(analysis) if self.options.want_json else None,
                sheet=analysis.sheet,
            )
        k = self.options.top
        return BatchRow(
            id=analysis.case_id,
            file=analysis.file or "",
            line=line,
            expected=analysis.expected,
            leaders=[(r.entity, r.probability) for r in analysis.ranking[:k]],
            labels=[entity_label(r, self.knowledge, share=False) for r in analysis.ranking[:k]],
            leader_subtype=self.knowledge.profile_short(analysis.ranking[0].subtype or "")
            if analysis.ranking and analysis.ranking[0].subtype
            else "",
            unused=[u.text for u in analysis.unused],
            outside="; ".join([p.slug for p in analysis.outside.pointers] + [u.rule for u in analysis.outside.unexplained]) or None,
            scored=scored_case(analysis, self.knowledge),
            band=analysis.confidence.label if analysis.confidence else None,
            next_test=analysis.suggestions[0].label if analysis.suggestions else None,
            next_test_gain=analysis.suggestions[0].gain if analysis.suggestions else None,
            next_test_cost=analysis.suggestions[0].cost.label if analysis.suggestions else None,
            next_test_turnaround=analysis.suggestions[0].cost.turnaround if analysis.suggestions else None,
            no_separating_test=analysis.no_separating_test,
            confirm_tests=analysis.confidence.confirm_tests if analysis.confidence else None,
            caveats=[c.rule for c in analysis.caveats],
            errors=list(analysis.problems),
            json=self.json_line(analysis) if self.options.want_json else None,
            sheet=analysis.sheet,
            lead_cited=analysis.lead_basis.cited if analysis.lead_basis else None,
            lead_estimated=analysis.lead_basis.estimated if analysis.lead_basis else None,
        )

    def json_line(self, analysis: Analysis) -> str:
        return json_line(analysis, self.knowledge, self.options)

    def close(self) -> None:
        self.analyzer.close()


def json_line(analysis: Analysis, knowledge: Knowledge, options: BatchOptions) -> str:
    """The case's JSON line in the shape ``options`` ask for (lean or full), with the characters a terminal
    may act on escaped (:func:`ddx.safetext.json_text`; done here, in the worker, not in the writing parent)."""
    if options.lean:
        return json_text(to_lean_line(analysis, knowledge, evidence_for=options.evidence_for))
    return json_text(to_json_line(analysis, knowledge, evidence_for=options.evidence_for))


# --- running ------------------------------------------------------------------------------------


def run_batch(
    paths: Iterable[str], knowledge: Knowledge, options: BatchOptions, *, jobs: int = 1, exclude: Iterable[str] = ()
) -> Iterator[BatchRow]:
    """One :class:`BatchRow` per case, in input order, for any ``jobs``. With ``jobs > 1`` every worker reads
    the inputs itself and ranks its own chunks (:class:`_Readers`)."""
    if jobs <= 1:
        raws = read_cases(paths, knowledge.vocab, exclude=exclude)
        processor = Processor(knowledge, options)
        try:
            for raw in raws:
                yield processor.process(raw)
        finally:
            processor.close()
    else:
        yield from _Readers(knowledge, options, jobs).run(list(paths), list(exclude))


_inherited: Knowledge | None = None  # the parent's rules, inherited by forked workers
_processor: Processor | None = None  # one per worker process


_init_error: str | None = None  # why this worker could not start (reported by _work)


def _init_worker(directory: str, content_hash: str, options: BatchOptions, prior_set: str | None = None) -> None:
    """Set up a worker. It never raises: an initializer that raises makes the pool print a traceback and
    break; the reason is kept instead and every task of this worker raises it as one clear error."""
    global _processor, _init_error
    _worker_signals()
    try:
        knowledge = _inherited if _inherited is not None else load_knowledge(directory).with_prior_set(prior_set)
        if knowledge.content_hash != content_hash:
            raise DdxError(f"the rules in {directory} changed while the batch was starting; run it again")
        _processor = Processor(knowledge, options)
    except Exception as exc:  # noqa: BLE001 - reported to the parent by _work, as one line
        _init_error = str(exc) if isinstance(exc, DdxError) else f"{type(exc).__name__}: {exc}"


def _worker_signals() -> None:
    """A worker ignores Ctrl-C (the parent handles it and stops the workers) and dies of SIGTERM as a process
    does by default: a handler inherited from the parent (``ddx batch`` turns SIGTERM into an exception, to
    leave its output file as it was) would run only when the worker's main thread returns to Python, never
    while it is blocked writing its results to a pool that is being torn down, which then waits for it forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _work(chunk: list[RawCase]) -> list[BatchRow]:
    if _processor is None:
        raise EngineError(f"a worker process could not start: {_init_error or 'not initialised'}")
    return [_processor.process(raw) for raw in chunk]


def _crashed(raw: RawCase, knowledge: Knowledge, options: BatchOptions) -> BatchRow:
    problem = Problem(
        "the worker process died while ranking this case (a crash in the rule engine); the case was not ranked",
        file=raw.file,
        case=raw.label,
        line=raw.line,
        sheet=raw.sheet,
    )
    analysis = Analysis(case_id=raw.label, case=None, problems=[problem], file=raw.file, sheet=raw.sheet)
    return BatchRow(
        raw.label,
        raw.file,
        raw.line,
        errors=[problem],
        json=json_line(analysis, knowledge, options) if options.want_json else None,
        sheet=raw.sheet,
    )


def _context() -> Any:
    """The way worker processes start: fork where the system has it (they inherit the loaded rules), else
    spawn (they load them)."""
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def _submit(executor: ProcessPoolExecutor, chunk: list[RawCase]) -> Future[list[BatchRow]]:
    """The chunk's future; when the pool broke before it could be sent (a worker died meanwhile), a future
    that raises as a sent chunk of a broken pool does, so the caller re-runs it with the others."""
    try:
        return executor.submit(_work, chunk)
    except BrokenProcessPool as exc:
        future: Future[list[BatchRow]] = Future()
        future.set_exception(exc)
        return future


class _Pool:
    def __init__(self, knowledge: Knowledge, options: BatchOptions, jobs: int):
        self.knowledge = knowledge
        self.options = options
        self.jobs = jobs
        self.context = _context()
        self.executor: ProcessPoolExecutor | None = None

    def _start(self) -> ProcessPoolExecutor:
        global _inherited
        _inherited = self.knowledge if self.context.get_start_method() == "fork" else None
        executor = ProcessPoolExecutor(
            self.jobs,
            mp_context=self.context,
            initializer=_init_worker,
            initargs=(str(self.knowledge.directory), self.knowledge.content_hash, self.options, self.knowledge.prior_set),
        )
        # start every worker now, before the caller starts threads (a progress bar)
        try:
            for future in [executor.submit(_work, []) for _ in range(self.jobs)]:
                future.result()
        except DdxError:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        except BrokenProcessPool:
            executor.shutdown(wait=False, cancel_futures=True)
            raise EngineError(f"the worker processes could not load the rules from {self.knowledge.directory}") from None
        finally:
            _inherited = None
        return executor

    def _restart(self) -> ProcessPoolExecutor:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = self._start()
        return self.executor

    def run(self, raws: Iterable[RawCase]) -> Iterator[BatchRow]:
        executor = self._restart()
        pending: deque[tuple[list[RawCase], Future[list[BatchRow]]]] = deque()
        source = iter(raws)
        limit = self.jobs * IN_FLIGHT_PER_JOB
        try:
            while True:
                while len(pending) < limit:
                    chunk = list(islice(source, CHUNK))
                    if not chunk:
                        break
                    pending.append((chunk, _submit(executor, chunk)))
                if not pending:
                    return
                chunk, future = pending.popleft()
                try:
                    results = future.result()
                except BrokenProcessPool:
                    retry = [chunk] + [c for c, _ in pending]
                    pending.clear()
                    yield from self._one_at_a_time(retry)
                    executor = self.executor  # type: ignore[assignment]
                    continue
                yield from results
        finally:
            if self.executor is not None:
                self.executor.shutdown(wait=True, cancel_futures=True)
                self.executor = None

    def _one_at_a_time(self, chunks: list[list[RawCase]]) -> Iterator[BatchRow]:
        executor = self._restart()
        for chunk in chunks:
            for raw in chunk:
                try:
                    yield executor.submit(_work, [raw]).result()[0]
                except BrokenProcessPool:
                    yield _crashed(raw, self.knowledge, self.options)
                    executor = self._restart()


CHANGED_INPUT = "an input file changed while the batch read it (the worker processes read different numbers of cases); run it again"


class _Readers:
    """``jobs`` worker processes that read the inputs themselves: each reads every case through
    :func:`ddx.loader.read_cases` (so ids are checked against every earlier case, exactly as in one process)
    and ranks only its own chunks, chunk ``c`` (cases ``c * CHUNK`` to ``(c + 1) * CHUNK - 1``) in worker
    ``c % jobs``. The parent reads and sends no case: it takes the chunks' rows from every worker's pipe as
    they come and hands them on in input order. A worker runs at most :data:`IN_FLIGHT_PER_JOB` chunks ahead
    of what the parent has handed on (a semaphore each), so memory stays bounded.

    * A worker that dies (a crash in the C engine) leaves the chunks not yet taken to :class:`_Pool`, which
      reads them in this process and re-runs the failed chunk one case at a time: the case that killed the
      worker becomes one error row, and the rest of the batch is ranked. A worker sends from the thread that
      ranks, so it never dies half-way through a message it was sending; each pipe has one writer, so the
      parent sees a dead worker's pipe end.
    * Every worker counts the cases it read; when the counts differ (an input file changed while the
      workers read it), the run stops with an error rather than write results of two versions of a file.
    * Workers ignore Ctrl-C (the parent stops them) and end themselves when the parent is gone.
    """

    POLL = 0.5  # seconds a wait for the workers' pipes lasts before it is renewed (a dead worker's pipe ends)

    def __init__(self, knowledge: Knowledge, options: BatchOptions, jobs: int):
        self.knowledge = knowledge
        self.options = options
        self.jobs = jobs
        self.context: Any = _context()

    def run(self, paths: list[str], exclude: list[str]) -> Iterator[BatchRow]:
        global _inherited
        k = self.knowledge
        pipes = [self.context.Pipe(duplex=False) for _ in range(self.jobs)]  # (read end, write end)
        slots = [self.context.Semaphore(IN_FLIGHT_PER_JOB) for _ in range(self.jobs)]
        workers = []
        _inherited = k if self.context.get_start_method() == "fork" else None
        try:
            for w in range(self.jobs):
                others = [end for o, pair in enumerate(pipes) for end in pair if o != w] + [pipes[w][0]]
                workers.append(
                    self.context.Process(
                        target=_read_and_rank,
                        args=(paths, exclude, w, self.jobs, pipes[w][1], slots[w], others, os.getpid()),
                        kwargs={
                            "directory": str(k.directory),
                            "content_hash": k.content_hash,
                            "options": self.options,
                            "prior_set": k.prior_set,
                        },
                        daemon=True,
                    )
                )
                workers[-1].start()
        finally:
            _inherited = None
            for _, write_end in pipes:
                write_end.close()  # the worker holds the only other copy: its end is seen here
        readers: dict[Any, int] = {pipes[w][0]: w for w in range(self.jobs)}
        waiting: dict[int, list[BatchRow]] = {}  # chunks received, not yet handed on
        ended: dict[int, int] = {}  # worker -> cases it read
        dead: set[int] = set()
        chunk = 0
        try:
            while True:
                w = chunk % self.jobs
                if chunk in waiting:
                    rows = waiting.pop(chunk)
                    slots[w].release()
                    yield from rows
                    chunk += 1
                    continue
                if w in ended and (waiting or len(ended) + len(dead) == self.jobs):  # no chunk `chunk`: the end
                    if waiting or len(set(ended.values())) != 1:  # another worker sent chunks past this end
                        raise DdxError(CHANGED_INPUT)
                    return
                if w in dead:  # it died before sending this chunk: the rest in this process's pool, from here
                    for worker in workers:
                        worker.kill()
                    rest = islice(read_cases(paths, k.vocab, exclude=exclude), chunk * CHUNK, None)
                    yield from _Pool(k, self.options, self.jobs).run(rest)
                    return
                ready: list[Any] = wait([r for r, o in readers.items() if o not in ended and o not in dead], timeout=self.POLL)
                for reader in ready:
                    o = readers[reader]
                    try:
                        message: tuple[Any, ...] = reader.recv()
                    except (EOFError, OSError):  # it ended, or was killed part-way through a message
                        dead.add(o)
                        continue
                    if message[0] == "rows":
                        waiting[message[1]] = message[2]
                    elif message[0] == "end":
                        ended[o] = message[1]
                        if len(set(ended.values())) != 1:
                            raise DdxError(CHANGED_INPUT)
                    else:
                        raise EngineError(f"a worker process could not start: {message[1]}")
        finally:
            for worker in workers:
                if worker.is_alive():
                    worker.kill()
                worker.join()
            for reader, _ in pipes:
                reader.close()


def _read_and_rank(
    paths: list[str],
    exclude: list[str],
    index: int,
    jobs: int,
    pipe: Any,
    slots: Any,
    others: list[Any],
    parent: int,
    *,
    directory: str,
    content_hash: str,
    options: BatchOptions,
    prior_set: str | None,
) -> None:
    """A :class:`_Readers` worker: read every case, rank chunk ``c`` when ``c % jobs == index``, send each
    such chunk as ``("rows", c, rows)`` once a slot is free; then ``("end", cases read)``, or
    ``("error", why)`` when it cannot start. ``others``: the pipe ends this process inherited and must not
    hold."""
    for end in others:
        end.close()
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    _init_worker(directory, content_hash, options, prior_set)
    if _processor is None:
        pipe.send(("error", _init_error or "not initialised"))
        return
    processor = _processor
    rows: list[BatchRow] = []
    count = 0
    try:
        for raw in read_cases(paths, processor.knowledge.vocab, exclude=exclude):
            chunk = count // CHUNK
            if chunk % jobs == index:
                rows.append(processor.process(raw))
            count += 1
            if count % CHUNK == 0 and rows:
                slots.acquire()
                pipe.send(("rows", chunk, rows))
                rows = []
        if rows:
            slots.acquire()
            pipe.send(("rows", count // CHUNK, rows))
        pipe.send(("end", count))
        pipe.close()
    except OSError:  # the parent is gone (its pipe end closed): nothing to say, nobody to say it to
        os._exit(1)


def _end_with(parent: int) -> None:
    """End this worker when the process that started it is gone (killed with no chance to stop it)."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


# --- summary ------------------------------------------------------------------------------------


@dataclass
class BatchSummary:
    """Counts and scores over a run; constant memory (no per-case lists)."""

    knowledge: Knowledge
    engine: str = ""  # the engine that ranked ("durable" or "python"); "" when not said
    sources: bool = False  # list every source key's citation (the lines were lean)
    cases: int = 0
    ranked: int = 0
    failed: int = 0
    # error rows whose expected diagnosis is readable: left out of the scores, and said so beside them (a trial:
    # "Top-1: 100.0 %" over 18 cases read as the whole evaluation where 21 more with a diagnosis were not read)
    failed_expected: int = 0
    evaluation: Evaluation = field(default_factory=lambda: Evaluation(keep_cases=False))

    def add(self, result: BatchRow) -> None:
        self.cases += 1
        if not result.ok:
            self.failed += 1
            self.failed_expected += result.expected is not None
            self.evaluation.add_failed(result.id)
            return
        self.ranked += 1
        if result.scored is not None:
            self.evaluation.add(result.scored)
        else:
            self.evaluation.add_unscored(result.id)

    def to_dict(self) -> dict[str, Any]:
        ev = self.evaluation
        out: dict[str, Any] = {
            "cases": self.cases,
            "ranked": self.ranked,
            "errors": self.failed,
            "with_expected": ev.n,
            "without_expected": ev.n_unscored,
            "expected_not_ranked": self.failed_expected,
        }
        if ev.n:
            out.update(ev.to_dict())
        out["rules_version"] = self.knowledge.settings.version
        out["rules_hash"] = self.knowledge.content_hash[:12]
        out["rules_dir"] = str(self.knowledge.directory)
        out["prior_set"] = self.knowledge.prior_set
        out["ddx_version"] = __version__
        out["engine"] = self.engine or None
        if self.sources:
            out["sources"] = source_table(self.knowledge)
        return out


def source_table(knowledge: Knowledge) -> dict[str, str]:
    """``{short key: citation}`` for every source of the rules, by key: what the ``source`` keys of lean
    batch lines stand for (``ddx batch --sources FILE``, the summary's ``sources``)."""
    return dict(ranker_for(knowledge).sources)
