"""The ``ddx`` command line: a thin layer over :mod:`ddx.analysis`.

Exit codes: 0 all cases ranked; 1 any file or case invalid (the valid ones are
still printed); 2 usage error (click's own). User errors never show a
traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from ddx.errors import DdxError, KnowledgeError, did_you_mean
from ddx.startup import resume_collector

if TYPE_CHECKING:
    from ddx.knowledge import Knowledge

# Each command imports what it uses (the rules, the ranking, rich) when it runs: `ddx --help` and
# `ddx eval --help` import none of it, and `ddx --version` not the ranking.


def _version_message() -> str:
    from ddx import __version__
    from ddx.engine import default_engine, durable_problem, engine_label
    from ddx.knowledge import load_knowledge

    py = f"Python {sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    try:
        name = default_engine()
        engine = f"engine {engine_label(name)}"
        if name == "python" and (problem := durable_problem()):
            engine += f": {problem}"
    except DdxError as exc:
        engine = f"engine unavailable ({exc})"
    try:
        knowledge = load_knowledge()
        rules = knowledge.version_line
        if knowledge.packaged:  # the path 'ddx rules diff' and 'ddx rules init' users need
            rules += f"; packaged rules in {knowledge.directory}"
    except DdxError as exc:
        rules = f"rules unavailable ({exc})"
    return f"ddx {__version__} on {py}, {engine}; {rules}"


class _Group(click.Group):
    """Errors of the file system (a full disk, a folder that vanished, no permission) and user errors
    end the command with one clear line and exit 1, never a traceback.

    The ``rules`` and ``serve`` commands are imported when used (or listed), not on every start
    (``ddx tui``'s first paint)."""

    LAZY = {"rules": ("ddx.cli.rules", "rules_group"), "serve": ("ddx.cli.serve", "serve_cmd")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            import importlib

            module, name = self.LAZY[cmd_name]
            self.add_command(getattr(importlib.import_module(module), name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # before click's own handler, which prints a blank line first
            sys.stderr.write("ddx: interrupted\n")
            sys.exit(130)
        except BrokenPipeError:  # `ddx ... | head`: the reader left; nothing to report
            # 141 (128 + SIGPIPE) is what a shell shows for any tool stopped this way; 1 would say a case
            # was invalid. stdout goes to /dev/null so the interpreter's final flush cannot fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.stderr.close()
            sys.exit(141)
        except OSError as exc:
            from rich.console import Console

            where = f" ({exc.filename})" if exc.filename else ""
            Console(stderr=True).print(
                f"ddx: cannot read or write a file{where}: {exc.strerror or exc}; files being replaced were left as they were",
                markup=False,
                highlight=False,
            )
            sys.exit(1)
        except DdxError as exc:
            from rich.console import Console

            Console(stderr=True, soft_wrap=True).print(f"ddx: {exc}", markup=False, highlight=False)
            sys.exit(1)


# The commands that end the start-up pause of the garbage collector themselves (ddx.startup): loading the rules
# does (load_rules), `ddx tui` at its first paint. Every other command ends it before it runs. `ddx` alone
# opens the TUI (which ends it), prints the version or prints the help and exits.
ENDS_ITS_OWN_START_UP = frozenset({"eval", "batch", "tui", "serve"})


@click.group(cls=_Group, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, help="Print the package and rules version and exit.")
@click.pass_context
def main(ctx: click.Context, version: bool) -> None:
    """ddx: differential-diagnosis support for inflammatory spindle/epithelioid
    soft-tissue tumours. Decision support only; it never makes a diagnosis.

    `ddx` alone, in a terminal, opens the case-entry TUI (as `ddx tui`)."""
    if ctx.invoked_subcommand is not None and ctx.invoked_subcommand not in ENDS_ITS_OWN_START_UP:
        resume_collector()  # every other command's start-up ends here (ddx.startup)
    if version:
        click.echo(_version_message())
        ctx.exit(0)
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            ctx.invoke(tui_cmd)  # `ddx` alone opens the TUI on a new case
        else:
            click.echo(ctx.get_help())


def rules_option(f: Any) -> Any:
    """``--rules DIR``: the rules directory (None when not given: $DDX_RULES, else the packaged rules; see
    :func:`load_rules`). Every command that reads rules from an option takes this one."""
    return click.option(
        "--rules",
        "rules",
        type=click.Path(file_okay=False),
        default=None,
        help="Rules directory (default: $DDX_RULES, else the packaged rules).",
    )(f)


def prior_set_option(f: Any) -> Any:
    """``--prior-set NAME``: a prior set of the rules' settings.yaml (None: the priors in entities.yaml)."""
    return click.option(
        "--prior-set",
        "prior_set",
        default=None,
        metavar="NAME",
        help="Rank with the named prior set of the rules' settings.yaml (prior_sets:) instead of the "
        "priors in entities.yaml. The packaged rules hold one, 'population'; a practice may add its own "
        "(a paediatric one, say) in an edited copy (ddx rules init).",
    )(f)


def _engine_checked(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    from ddx.engine import check_engine, default_engine

    try:
        return check_engine(value) if value is not None else default_engine()
    except DdxError as exc:
        if value is None:  # the default came from $DDX_ENGINE: say so, not "--engine"
            raise click.UsageError(str(exc), ctx=ctx) from None
        raise click.BadParameter(str(exc).removeprefix("--engine: "), ctx=ctx, param=param) from None


def engine_option(f: Any) -> Any:
    """``--engine durable|python``: the matcher that ranks (default: $DDX_ENGINE, else durable-rules where it
    imports, the python matcher on Python 3.13+). The callback resolves the default, so the command gets a name."""
    return click.option(
        "--engine",
        "engine",
        type=click.Choice(["durable", "python"], case_sensitive=False),
        default=None,
        callback=_engine_checked,
        help="The matcher that ranks: durable (durable-rules, Python 3.11-3.12) or python (ddx's own; the same rule "
        "ids). Default: $DDX_ENGINE, else durable where it imports.",
    )(f)


CHECK_HINT = " (run 'ddx rules check' for details)"  # what 'ddx rules ...' adds to the loader's first line


def edited_rules_note(packaged: Path, files: list[Path], local: Path, doing: str = "ranking with") -> str | None:
    """A note for a user who edited a checkout's ``rules/`` and ranks with (``doing``: or checks, tests) the
    packaged copy that ``pip install .`` made of them: ``local`` is a rules folder (it has vocabulary.yaml) that
    is not ``packaged`` and whose files differ from it. None otherwise (no such folder, the same folder, the
    same files)."""
    try:
        if not (local / "vocabulary.yaml").is_file() or local.resolve() == packaged.resolve():
            return None
        mine = {f.relative_to(packaged).as_posix() for f in files if f.is_relative_to(packaged)}
        theirs = {
            f.relative_to(local).as_posix()
            for f in local.rglob("*.yaml")
            if not any(part.startswith(".") for part in f.relative_to(local).parts)  # the editor's .history
        }
        differs = mine != theirs or any((packaged / name).read_bytes() != (local / name).read_bytes() for name in mine)
    except OSError:
        return None
    if not differs:
        return None
    return (
        f"note: {doing} the packaged rules ({packaged}); ./rules here differs from them. "
        "Pass --rules rules (or set DDX_RULES) to use the edited copy."
    )


def say_edited_rules(directory: str | None, packaged: Path, files: list[Path], doing: str) -> None:
    """On stderr, the :func:`edited_rules_note` for a command that was given no rules folder (nor $DDX_RULES)
    and so works with the rules in ``packaged`` (``files``: theirs), when ./rules differs from them."""
    if directory is not None or os.environ.get("DDX_RULES"):
        return
    note = edited_rules_note(packaged, files, Path("rules"), doing)
    if note:
        print(note, file=sys.stderr)


def report_width(output: str | None) -> int:
    """The width the draft report is wrapped at: $COLUMNS where set, else a terminal's, when narrower than the
    report's own 96 characters; 96 in a file (``-o``) and in a pipe without $COLUMNS (a text to paste)."""
    from ddx.report_comment import WIDTH

    if output is not None or not (sys.stdout.isatty() or os.environ.get("COLUMNS")):
        return WIDTH
    import shutil

    return max(40, min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns))


def load_rules(
    directory: str | None,
    prior_set: str | None = None,
    *,
    hint: str = "",
    starting_up: bool = False,
    doing: str | None = None,
) -> Knowledge:
    """The rules every command ranks or works with: those in ``directory`` (None: $DDX_RULES, else the
    packaged rules), with the priors of ``prior_set`` when one is named. Loading them ends the command's
    start-up (:func:`ddx.startup.resume_collector`) unless ``starting_up`` (the TUI ends it at its first paint).
    ``doing`` (what the command does with them: "ranking with", "listing", "testing"): a note on stderr when
    ./rules differs from the packaged rules used (None: no note).

    Rules that cannot be loaded end the command with exit status 1: a first line on stderr (``hint``
    added to it) and then each problem (file, line, what is wrong). A prior set the rules do not have is a
    :class:`click.UsageError` (exit 2) naming the nearest sets."""
    from ddx.knowledge import load_knowledge

    try:
        knowledge = load_knowledge(directory)
    except KnowledgeError as exc:
        from rich.console import Console

        err = Console(stderr=True, highlight=False, soft_wrap=True)
        lead = "ddx: the rules could not be loaded"
        err.print(f"[bold red]{lead}[/bold red]{hint}:" if hint else f"[bold red]{lead}:[/bold red]")
        for problem in exc.problems:
            err.print(f"  {problem}", markup=False)
        sys.exit(1)
    if doing is not None:
        say_edited_rules(directory, knowledge.directory, knowledge.files, doing)
    if not starting_up:
        resume_collector()
    if prior_set is None:
        return knowledge
    try:
        return knowledge.with_prior_set(prior_set)
    except KnowledgeError as exc:  # the rules are fine; the option names no set: a usage error
        [problem] = exc.problems
        hint = f" ({did_you_mean(problem.suggestions)})" if problem.suggestions else ""
        raise click.UsageError(f"--prior-set: {problem.message}{hint}") from None


@main.command("eval")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "report"]),
    default="text",
    show_default=True,
    help="Output format: text (the ranking with its evidence), json, markdown, or report (a draft report comment).",
)
@rules_option
@click.option(
    "--top",
    type=click.IntRange(1, 50),
    metavar="K",
    default=6,
    show_default=True,
    help="Entities shown in text and markdown output (JSON always has all).",
)
@click.option(
    "--lines",
    type=click.IntRange(1, 50),
    metavar="N",
    default=None,
    help="Pieces of evidence shown for and against each entity in text and markdown output: N each "
    "(default: the three for and two against that weigh most; JSON always has all).",
)
@click.option(
    "--chart",
    "chart",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="SVG",
    help="Also write the evidence chart (each recorded finding's log10 likelihood ratio, leader "
    "against runner-up) as an SVG file, written atomically; for several cases, one file each: "
    "<stem>-<case id>.svg.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    metavar="FILE",
    help="Write here instead of stdout (text at 100 columns, plain); replaced atomically when the run "
    "ends, so an interrupted run leaves the previous file intact. Invalid cases are written too.",
)
@prior_set_option
@engine_option
def eval_cmd(
    files: tuple[str, ...],
    fmt: str,
    rules: str | None,
    top: int,
    prior_set: str | None,
    lines: int | None = None,
    chart: str | None = None,
    output: str | None = None,
    engine: str | None = None,
) -> None:
    """Rank the differential for each case in FILE... (YAML or JSON, one case or a
    'cases:' list per file; CSV/TSV sheets and .xlsx/.xls/.ods workbooks, one case per row;
    folders are searched recursively)."""
    from rich.console import Console

    from ddx.analysis import Analyzer, analyze_paths
    from ddx.cli.console import OutConsole
    from ddx.render import render_markdown, render_text, to_json

    if chart is not None or output is not None:
        from ddx.cli.batch import check_target, refuse_input_target

        for target, option in ((chart, "--chart"), (output, "--output")):
            check_target(target, option)
            refuse_input_target(target, option, files)
    charted = []
    knowledge = load_rules(rules, prior_set, doing="ranking with")
    failed = False
    results = []
    count = 0
    with contextlib.ExitStack() as stack:
        if output is None:
            out: TextIO = sys.stdout
            console = OutConsole(highlight=False, soft_wrap=False)
        else:
            from ddx.cli.batch import FILE_WIDTH, output_stream, terminate_unwinds

            stack.enter_context(terminate_unwinds())
            out = stack.enter_context(output_stream(output))
            console = OutConsole(file=out, width=FILE_WIDTH, color_system=None, highlight=False, soft_wrap=False)
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        with Analyzer(knowledge, engine) as analyzer:
            for analysis in analyze_paths(files, analyzer):
                count += 1
                failed = failed or not analysis.ok
                if chart is not None and analysis.ok:
                    charted.append(analysis)
                if fmt == "json":
                    results.append(to_json(analysis, knowledge))
                elif fmt == "markdown":
                    click.echo(render_markdown(analysis, knowledge, top=top, evidence_lines=lines), file=out)
                elif fmt == "report":
                    from ddx.report_comment import render_report

                    click.echo(render_report(analysis, knowledge, analyzer.ranker, width=report_width(output)), file=out)
                else:
                    console.print(render_text(analysis, knowledge, top=top, evidence_lines=lines))
                # the text format shows a problem in its own panel; when that panel goes to a file or a pipe,
                # the terminal still hears of it on stderr, as with every other format (the stream is asked, not
                # rich, which takes FORCE_COLOR for a terminal)
                if not analysis.ok and (fmt != "text" or output is not None or not sys.stdout.isatty()):
                    for problem in analysis.problems:
                        err.print(f"ddx: {problem}", markup=False)
        if fmt == "json":
            import json

            from ddx.safetext import json_text

            payload = results[0] if len(results) == 1 else results
            text = json_text(json.dumps(payload, indent=2, ensure_ascii=False)) + "\n"
            # in pieces, each flushed: one write of megabytes into a pipe whose reader left (`| head`) can end
            # without an error, where a piece's flush raises BrokenPipeError (exit 141, as for the other formats)
            for start in range(0, len(text), 1 << 16):
                click.echo(text[start : start + (1 << 16)], nl=False, file=out)
                out.flush()
    if output is not None:
        err.print(f"ddx: {count:,} {'case' if count == 1 else 'cases'} written to {output}", markup=False)
    if chart is not None:
        from ddx.chart import write_charts

        for line in write_charts(chart, charted, knowledge):
            err.print(f"ddx: {line}", markup=False)
    sys.exit(1 if failed else 0)


# ``ddx batch -o FILE`` without --format writes the format its name says (a .txt or any other name: the table)
BATCH_FORMAT_BY_SUFFIX = {".xlsx": "xlsx", ".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".md": "markdown"}


@main.command("batch")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "jsonl", "json", "csv", "xlsx", "markdown"]),
    default="table",
    show_default=True,
    help="Per-case output: a table, JSON lines, one JSON document, CSV, an Excel workbook (the CSV's "
    "columns; to --output FILE or a redirected output, never a terminal), or markdown. With --output and no "
    "--format, the file's name decides "
    "(.csv, .jsonl, .json, .xlsx, .md; any other name: the table).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write here instead of stdout; replaced atomically when the run ends (an interrupted run leaves the previous file intact).",
)
@click.option(
    "--summary",
    "summary_file",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the summary (JSON, or markdown for *.md) to this file; jsonl then has no summary line.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 64),
    metavar="N",
    default=1,
    show_default=True,
    help="Worker processes (each compiles its own ruleset); results are the same for any number.",
)
@rules_option
@click.option(
    "--top",
    type=click.IntRange(1, 50),
    metavar="K",
    default=3,
    show_default=True,
    help="Leaders shown per case in table, csv and markdown.",
)
@click.option(
    "--evidence",
    type=click.Choice(["top", "full", "all", "none"]),
    default="top",
    show_default=True,
    help="JSON/jsonl: 'top' writes lean lines, the evidence of the --top leaders as rule, weight, "
    "figure and a short source key (every entity is still ranked; the summary lists each key's "
    "citation once); 'full' the full evidence objects of the --top leaders; 'all' those of "
    "every entity (exactly the 'ddx eval --format json' shape; about 10x larger than 'top'); "
    "'none' lean lines without evidence.",
)
@click.option(
    "--sources",
    "sources_file",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write the citation of every source key (JSON: {key: citation}) to this file.",
)
@click.option("--no-suggest", is_flag=True, help="Skip next-test suggestions (faster).")
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Nothing on stderr: no progress bar, no error lines, no closing line (the output's error rows keep every problem).",
)
@prior_set_option
@engine_option
def batch_cmd(
    paths: tuple[str, ...],
    fmt: str,
    output: str | None,
    summary_file: str | None,
    jobs: int,
    rules: str | None,
    top: int,
    evidence: str,
    sources_file: str | None,
    no_suggest: bool,
    quiet: bool,
    prior_set: str | None,
    engine: str | None = None,
) -> None:
    """Rank every case under PATH... (files or folders, searched recursively; YAML, JSON, CSV/TSV
    sheets and workbooks (.xlsx, .xls, .ods; every visible sheet) with one case per row and dotted
    column names such as stains.desmin).

    Exit status: 0 every case ranked, 1 some case or file could not be read
    (each is an error row; the others are all ranked), 2 usage error.
    """
    from ddx.cli.batch import run_batch_command

    ctx = click.get_current_context()
    if output is not None and ctx.get_parameter_source("fmt") == click.core.ParameterSource.DEFAULT:
        # -o results.csv: a CSV file, not a text table in a file named .csv (and so for each format's name)
        fmt = BATCH_FORMAT_BY_SUFFIX.get(Path(output).suffix.lower(), fmt)
    knowledge = load_rules(rules, prior_set, doing=None if quiet else "ranking with")
    top = min(top, len(knowledge.entities))  # no empty leader columns beyond the entities ranked
    sys.exit(
        run_batch_command(
            knowledge,
            paths,
            fmt=fmt,
            output=output,
            summary_file=summary_file,
            jobs=jobs,
            top=top,
            evidence=evidence,
            suggest=not no_suggest,
            quiet=quiet,
            engine=engine,
            sources_file=sources_file,
        )
    )


def tui_options(f: Any) -> Any:
    """The options of ``ddx tui``, which ``ddx serve`` takes too (it passes them on to each session's TUI)."""
    decorators: list[Callable[[Any], Any]] = [
        click.argument("case_file", required=False, type=click.Path(dir_okay=False), metavar="[CASE_FILE]"),
        click.option("--case", "case_id", metavar="ID", default=None, help="The case to open when CASE_FILE holds several."),
        rules_option,
        click.option(
            "--cases",
            "cases",
            multiple=True,
            type=click.Path(exists=True),
            help="Cases for the rule editor's impact preview (default: ./cases, else the sample cases).",
        ),
        prior_set_option,
        engine_option,
    ]
    for decorate in reversed(decorators):
        f = decorate(f)
    return f


@main.command("tui")
@tui_options
def tui_cmd(
    case_file: str | None = None,
    case_id: str | None = None,
    rules: str | None = None,
    cases: tuple[str, ...] = (),
    prior_set: str | None = None,
    engine: str | None = None,
) -> None:
    """Enter a case and watch the differential re-rank as you type (a new case, or CASE_FILE).
    F9 opens the rule editor. Drafts are autosaved to $DDX_DATA_DIR (else your user data folder).

    Laid out for a terminal of 80x24 or more; F1 lists the keys, Ctrl+Q quits."""
    from ddx.tui import run

    knowledge = load_rules(rules, prior_set, starting_up=True, doing="ranking with")
    run(knowledge, case_file, case_id=case_id, cases=list(cases) or None, engine=engine)


if __name__ == "__main__":  # pragma: no cover
    main()
