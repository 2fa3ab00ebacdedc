"""``ddx batch`` on the terminal: output files, progress bar, signals.

The work itself is :func:`ddx.batch.run_batch`; the formats are
:mod:`ddx.cli.writers`. This module only connects them to files and to the
terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ddx.batch import BatchOptions, BatchSummary, run_batch, source_table
from ddx.cli.console import OutConsole
from ddx.cli.writers import (
    CSV_HEADER_START,
    CsvWriter,
    JsonlWriter,
    JsonWriter,
    MarkdownWriter,
    TableWriter,
    Writer,
    XlsxWriter,
    summary_markdown,
)
from ddx.engine import default_engine
from ddx.errors import DdxError
from ddx.knowledge import Knowledge
from ddx.loader import INPUT_SUFFIXES
from ddx.safetext import json_text
from ddx.yamlio import atomic_output, atomic_write_text, open_regular

PROGRESS_AFTER_S = 1.0  # a run shorter than this never shows a bar
ERRORS_SHOWN = 20  # error rows repeated on stderr at the end of a run


def check_target(path: str | None, option: str) -> None:
    """A usage error (:class:`click.BadParameter` naming ``option``) when the folder ``path`` would be
    written into does not exist; None passes."""
    if path is None:
        return
    parent = Path(os.path.realpath(path)).parent
    if not parent.is_dir():
        raise click.BadParameter(f"folder {str(parent)!r} does not exist", param_hint=option)


def input_named_by(target: str | None, paths: tuple[str, ...] | list[str]) -> str | None:
    """The input (as given) that ``target`` would overwrite, or None.

    ``target`` is an input when it is the same file as one given (also through
    a link), or an existing case file or sheet inside a given folder -- unless
    that file is an earlier ``ddx batch`` result (this run writes over it and
    does not read it: outputs are excluded from the inputs).
    """
    if target is None or not os.path.lexists(target):
        return None
    real = Path(os.path.realpath(target))
    for given in paths:
        if os.path.isdir(given):
            try:
                inside = real.relative_to(os.path.realpath(given))
            except ValueError:
                continue
            if (
                real.suffix.lower() in INPUT_SUFFIXES
                and not any(p.startswith(".") for p in inside.parts)
                and not _earlier_result(real)
            ):
                return given
        else:
            try:
                if os.path.samefile(target, given):
                    return given
            except OSError:
                if real == Path(os.path.realpath(given)):
                    return given
    return None


_RESULT_START = re.compile(
    r'\{"cases":\[\n(?:\]|\{"id":.{0,1200}?"file":)'  # ddx batch --format json (a case file has no "file")
    r'|\{\s*"cases":\s*\d+,\s*"ranked":',
    re.S,
)  # ddx batch --summary FILE.json


def _earlier_result(path: Path) -> bool:
    """Whether ``path`` holds a result ``ddx batch`` wrote: a CSV with its header, its JSON or its JSON
    summary (recognised by their first bytes), or its xlsx workbook (its first sheet and header); a pipe
    or a device is not a result."""
    if path.suffix.lower() == ".xlsx":
        from ddx.workbook import is_batch_result

        return is_batch_result(path, CSV_HEADER_START)
    try:
        with os.fdopen(open_regular(path), "rb") as handle:
            start = handle.read(2048).decode("utf-8", "replace")
    except (OSError, DdxError):
        return False
    if path.suffix.lower() in (".csv", ".tsv"):
        return start.startswith(",".join(CSV_HEADER_START))
    return path.suffix.lower() == ".json" and _RESULT_START.match(start) is not None


def refuse_input_target(target: str | None, option: str, paths: tuple[str, ...] | list[str]) -> None:
    """A usage error (nothing written) when ``target`` would overwrite one of the inputs."""
    given = input_named_by(target, paths)
    if given is not None:
        where = (
            "is"
            if os.path.realpath(given) == os.path.realpath(str(target)) or not os.path.isdir(given)
            else f"is a case file in the input folder {given!r}, so it is"
        )
        raise click.BadParameter(
            f"{target!r} {where} one of the inputs; nothing was written (name a file that is not read in this run)", param_hint=option
        )


@contextlib.contextmanager
def output_stream(output: str | None) -> Iterator[TextIO]:
    """stdout, or ``output`` written atomically: it replaces the file only when the block ends normally."""
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
    else:
        with atomic_output(output) as handle:
            yield handle


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: the previous output file stays


@contextlib.contextmanager
def terminate_unwinds() -> Iterator[None]:
    """Within the block a kill (SIGTERM) unwinds like Ctrl-C (exit 143), so an atomic output's temporary
    file goes and the previous file stays."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


FILE_WIDTH = 100  # columns of a table or text written to a file (-o)


def _writer(fmt: str, out: TextIO, top: int, to_terminal: bool) -> Writer:
    if fmt == "xlsx":
        out.flush()
        return XlsxWriter(out.buffer, top)  # a workbook is bytes: written under the text stream
    if fmt == "jsonl":
        return JsonlWriter(out)
    if fmt == "json":
        return JsonWriter(out)
    if fmt == "csv":
        return CsvWriter(out, top)
    if fmt == "markdown":
        return MarkdownWriter(out, top)
    if to_terminal:
        return TableWriter(OutConsole(highlight=False), top)
    # a file reads as a terminal of 100 columns would show it (as `ddx eval -o` writes): one line a case where
    # that fits, else a few lines a case, ids never cut
    return TableWriter(OutConsole(file=out, width=FILE_WIDTH, color_system=None, highlight=False), top)


class _Progress:
    """A rich progress line on stderr, shown only on a terminal and only once a run is long."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.start = time.monotonic()
        self.next_check = self.start + PROGRESS_AFTER_S
        self.bar: Progress | None = None
        self.task: Any = None

    def update(self, summary: BatchSummary, file: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self.next_check:
            return
        self.next_check = now + 0.1
        if self.bar is None:
            self.bar = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=Console(stderr=True), transient=True
            )
            self.bar.start()
            self.task = self.bar.add_task("")
        rate = summary.cases / max(now - self.start, 1e-9)
        self.bar.update(
            self.task, description=(f"{summary.cases:,} cases, {summary.failed:,} errors, {rate:,.0f} cases/s  {Path(file).name}")
        )

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


SUMMARY_SUFFIXES = (".json", ".md", ".markdown")  # what --summary writes: JSON (also for a name without a suffix), or markdown


def run_batch_command(
    knowledge: Knowledge,
    paths: tuple[str, ...],
    *,
    fmt: str,
    output: str | None,
    summary_file: str | None,
    jobs: int,
    top: int,
    evidence: str,
    suggest: bool,
    quiet: bool,
    engine: str | None = None,
    sources_file: str | None = None,
) -> int:
    """``ddx batch``: rank every case under ``paths`` and write the results in ``fmt`` (table, csv, xlsx,
    markdown, json, jsonl) to ``output`` (stdout when None; a file is replaced atomically when the run ends),
    with the summary (and ``summary_file``, ``sources_file`` when given). Returns the exit status: 0, 1 when
    any case could not be ranked, 130 after an interrupt. click.BadParameter / click.UsageError for options
    that cannot go together (an output that is also an input, evidence asked of a tabular format ...)."""
    check_target(output, "--output")
    check_target(summary_file, "--summary")
    check_target(sources_file, "--sources")
    refuse_input_target(output, "--output", paths)
    refuse_input_target(summary_file, "--summary", paths)
    refuse_input_target(sources_file, "--sources", paths)
    named = [(o, n) for o, n in ((output, "--output"), (summary_file, "--summary"), (sources_file, "--sources")) if o]
    for i, (a, a_name) in enumerate(named):
        for b, b_name in named[i + 1 :]:
            if os.path.realpath(a) == os.path.realpath(b):
                raise click.BadParameter(f"{a_name} and {b_name} name the same file", param_hint=b_name)
    if summary_file is not None and Path(summary_file).suffix and Path(summary_file).suffix.lower() not in SUMMARY_SUFFIXES:
        raise click.BadParameter(
            f"{summary_file!r}: the summary is written as JSON (.json) or markdown (.md); name the file so (a "
            "workbook's summary is its own 'summary' sheet, with --format xlsx)",
            param_hint="--summary",
        )
    if evidence != "top" and fmt not in ("json", "jsonl"):
        raise click.BadParameter(f"the evidence is written in json and jsonl output only, not {fmt}", param_hint="--evidence")
    if output is not None and fmt != "xlsx" and output.lower().endswith((".xlsx", ".xls", ".ods")):
        raise click.UsageError(
            f"--format {fmt} writes text, but {output!r} is named as a workbook: use --format "
            "xlsx (the default for a .xlsx name), or give the file a name for its format"
        )
    if fmt == "xlsx" and output is None and sys.stdout.isatty():
        raise click.UsageError(
            "--format xlsx writes a workbook (binary), not text for the terminal: "
            "name a file with --output FILE.xlsx (or redirect the output to a file)"
        )
    options = BatchOptions(
        suggest=suggest,
        top=top,
        evidence_for={"all": None, "top": top, "full": top, "none": 0}[evidence],
        want_json=fmt in ("jsonl", "json"),
        want_rows=fmt not in ("jsonl", "json"),
        engine=engine,
        lean=evidence in ("top", "none"),
    )
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    previous = signal.signal(signal.SIGTERM, _terminate)
    progress = _Progress(enabled=not quiet and sys.stderr.isatty())
    summary = BatchSummary(knowledge, engine=options.engine or default_engine(), sources=options.want_json and options.lean)
    started = time.monotonic()
    exclude = [p for p in (output, summary_file, sources_file) if p]
    errors: list[str] = []
    writer: Writer | None = None
    try:
        with output_stream(output) as out:
            writer = _writer(fmt, out, top, to_terminal=output is None)
            for result in run_batch(paths, knowledge, options, jobs=jobs, exclude=exclude):
                writer.case(result)
                summary.add(result)
                if result.errors and len(errors) < ERRORS_SHOWN:
                    errors.extend(str(p) for p in result.errors[: ERRORS_SHOWN - len(errors)])
                progress.update(summary, result.file)
            progress.stop()
            data = summary.to_dict()
            writer.end(None if summary_file else data)
        if summary_file:
            if summary_file.lower().endswith((".md", ".markdown")):
                atomic_write_text(Path(summary_file), summary_markdown(data))
            else:
                atomic_write_text(Path(summary_file), json_text(json.dumps(data, ensure_ascii=False, indent=2)) + "\n")
        if sources_file:
            atomic_write_text(Path(sources_file), json_text(json.dumps(source_table(knowledge), ensure_ascii=False, indent=2)) + "\n")
    except KeyboardInterrupt:
        progress.stop()
        err.print("ddx: interrupted" + (f"; {output} was left as it was" if output else ""))
        return 130
    except SystemExit:
        progress.stop()
        if not quiet:
            err.print("ddx: terminated" + (f"; {output} was left as it was" if output else ""))
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        if isinstance(writer, XlsxWriter):
            writer.discard()  # an interrupted workbook leaves no rows behind in the temporary folder
    if not quiet:
        for message in errors:
            err.print(f"ddx: {message}", markup=False)
        if summary.failed > len(errors):
            # the table shows each error row's first problem only: point to a format that lists every one
            where = (
                "--format csv, xlsx, markdown, jsonl or json lists every problem"
                if fmt == "table"
                else "the error rows of the output list every problem"
            )
            err.print(f"ddx: ... {where} ({summary.failed:,} cases)")
        elapsed = time.monotonic() - started
        line = (
            f"ddx: {summary.cases:,} {'case' if summary.cases == 1 else 'cases'}, {summary.ranked:,} ranked, {summary.failed:,} "
            f"{'error' if summary.failed == 1 else 'errors'} in {elapsed:.1f} s"
        )
        scored = summary.evaluation
        if scored.n:  # the cases with an expected diagnosis: the scores the summary holds, in short
            line += (
                f"; top-1 {scored.top1_hits:,}/{scored.n:,} ({scored.top1 * 100:.1f} %),"
                f" top-3 {scored.top3_hits:,}/{scored.n:,} ({scored.top3 * 100:.1f} %)"
            )
        if summary.failed_expected:  # left out of those scores: said beside them
            n = summary.failed_expected
            line += f"; {n:,} {'error row' if n == 1 else 'error rows'} with an expected diagnosis not scored"
        if output:
            line += f"; written to {output}"
        if summary_file:
            line += f"; summary in {summary_file}"
        err.print(line)
    return 1 if summary.failed else 0
