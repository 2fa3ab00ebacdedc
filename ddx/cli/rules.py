"""``ddx rules ...``: initialise, check, list, show, test and diff rule sets.

A thin layer over :mod:`ddx.authoring` (check, regression, diff, edit) and
:mod:`ddx.knowledge`: options in, rich tables or JSON out. Every command
prints which rules it used (directory, version, content hash).

Exit codes: ``check`` 1 on any error (warnings alone: 0); ``test`` 1 when a
case cannot be read or a case regressed against ``--baseline``; 2 usage.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ddx.analysis import Analyzer
from ddx.authoring.check import entity_effect
from ddx.cli.batch import refuse_input_target
from ddx.cli.console import OutConsole
from ddx.cli.main import CHECK_HINT, engine_option, load_rules, rules_option
from ddx.engine import durable_problem, engine_label
from ddx.errors import DdxError, KnowledgeError, did_you_mean
from ddx.knowledge import Knowledge, Rule, packaged_rules_dir
from ddx.ranking import maybe_probability_text, probability_text, range_text, rate_text
from ddx.render import markup_text
from ddx.safetext import json_text

_out = OutConsole(highlight=False, soft_wrap=True)


escape = markup_text  # text from rule, case and baseline files is shown, never read as markup
_err = Console(stderr=True, highlight=False, soft_wrap=True)
FORMAT = click.Choice(["text", "json"])


def _fail(message: str, code: int = 1) -> None:
    _err.print(f"ddx: {message}", markup=False)
    sys.exit(code)


def _rules_line(k: Knowledge, engine: str | None = None) -> str:
    """The rules' provenance line, with the engine that ranked (``durable`` or ``python``) when cases were ranked."""
    ranked = f"; engine {engine_label(engine)}" if engine else ""
    return f"[dim]{escape(k.version_line + ranked)}[/dim]"


def _folder(directory: str | None, rules: str | None) -> str | None:
    """The rules folder given as DIR or as --rules DIR (the same meaning; both, naming two folders, is a usage
    error); None for neither ($DDX_RULES, else the packaged rules)."""
    if directory is not None and rules is not None and Path(directory).resolve() != Path(rules).resolve():
        raise click.UsageError(f"two rules folders given: {directory!r} and --rules {rules!r}; give one")
    return directory if directory is not None else rules


def _packaged_note(directory: str | None, doing: str) -> None:
    """On stderr, when no folder is given and ./rules differs from the packaged rules: which rules were used
    (for ``check``, which reads the rules itself rather than through :func:`ddx.cli.main.load_rules`)."""
    from ddx.cli.main import say_edited_rules

    if directory is not None:
        return
    packaged = packaged_rules_dir()
    files = [f for f in packaged.rglob("*.yaml") if not any(part.startswith(".") for part in f.relative_to(packaged).parts)]
    say_edited_rules(directory, packaged, files, doing)


def _emit_json(data: Any) -> None:
    click.echo(json_text(json.dumps(data, indent=2, ensure_ascii=False)))


@click.group("rules")
def rules_group() -> None:
    """Work on the knowledge base: copy it for editing, check it, list and show rules,
    test a rule set on cases, compare two rule sets.

    Rules are read from DIR or --rules DIR, else $DDX_RULES, else the packaged rules."""


# ------------------------------------------------------------------ init


@rules_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
def init_cmd(directory: str) -> None:
    """Copy the packaged rules into DIRECTORY for local editing."""
    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        _fail(f"{target} exists and is not empty; choose a new folder")
    source = packaged_rules_dir()
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", ".history", "*.tmp"))
    k = load_rules(str(target), hint=CHECK_HINT)
    _out.print(f"Copied the packaged rules ({k.settings.version}, {k.content_hash[:12]}) to {target}.")
    _out.print(
        f"Next: ddx rules test {target} --save baseline.json   (today's results, to compare with after editing)\n"
        f"edit {target}/rules/*.yaml, then\n  ddx rules check {target}\n  ddx rules test {target} --baseline baseline.json\n"
        f"  ddx rules diff {target}   (against the packaged rules)\nand use them with --rules {target} "
        f"(or: export DDX_RULES={target}; ddx tui --rules {target} edits them on screen).",
        markup=False,
    )


# ------------------------------------------------------------------ check


@rules_group.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@rules_option
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@click.option("--no-engine", is_flag=True, help="Skip compiling into durable-rules (the examples run on ddx's own matcher only).")
def check_cmd(directory: str | None, rules: str | None, fmt: str, no_engine: bool) -> None:
    """Check a rules directory (DIR or --rules DIR): schema, vocabulary terms, duplicate ids, sources, weight
    ranges, unsatisfiable and conflicting conditions, subsumed rules, unreachable entities, engine
    limits, and every rule's examples. Errors exit 1; warnings alone exit 0."""
    from ddx.authoring.check import check_rules

    directory = _folder(directory, rules)
    _packaged_note(directory, "checking")

    try:
        report = check_rules(directory, engine=not no_engine)
    except KnowledgeError as exc:  # no rules directory at all
        if fmt == "json":
            _emit_json({"errors": len(exc.problems), "messages": [p.to_dict() for p in exc.problems]})
        else:
            for p in exc.problems:
                _out.print(f"[bold red]error[/bold red] {escape(str(p))}")
        sys.exit(1)
    if fmt == "json":
        _emit_json(report.to_dict())
    else:
        for m in report.messages:
            colour = {"error": "red", "warning": "yellow"}.get(m.severity, "cyan")
            _out.print(f"[bold {colour}]{m.severity}[/bold {colour}] [{colour}]\\[{m.code}][/{colour}] {escape(str(m.problem))}")
        k = report.knowledge
        where = escape(k.version_line) if k else escape(str(report.directory))
        verdict = "[bold green]OK[/bold green]" if report.ok else "[bold red]FAILED[/bold red]"
        rules = f"{len({r.spec.id for r in k.rules})} rules, " if k else ""
        _out.print(
            f"{verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s), "
            f"{len(report.notes)} note(s); {rules}"
            f"{report.examples_run} example(s) run; {report.shards} engine ruleset(s)"
            f"{' planned (durable-rules is not available here)' if durable_problem() else ''}. [dim]{where}[/dim]"
        )
    sys.exit(0 if report.ok else 1)


# ------------------------------------------------------------------ list / show


MAX_FAVOURED = 3  # more profiles tied at the top than this: the finding singles out none of them


def _favours(rule: Rule, k: Knowledge) -> list[str]:
    """The profiles the finding is likeliest under, as the ranker uses it, by entity: 'xg', or 'srms
    (TFCP2-RMS)' when a subtype's own figure is the highest. Empty for a caveat-only rule, a finding every
    profile shows alike, or one that more than MAX_FAVOURED profiles share at the top (a neutral or capped
    figure singles out none of them)."""
    if rule.spec.likelihood is None:
        return []
    from ddx.ranking import ranker_for

    ranker = ranker_for(k)
    _, used = ranker.row(rule)
    top, bottom = max(used), min(used)
    if top - bottom < 1e-9:
        return []
    best = [prof for prof, p in zip(ranker.profiles, used) if top - p < 1e-9]
    if len(best) > MAX_FAVOURED:
        return []
    by_entity: dict[str, list[str]] = {}  # entity -> its subtypes at the top ([] when its rest profile is)
    for prof in best:
        subs = by_entity.setdefault(prof.entity, [])
        if prof.subtype is None:
            by_entity[prof.entity] = []  # the entity as such: no subtype to name
        elif prof.entity not in [q.entity for q in best if q.subtype is None]:
            subs.append(k.short_name(prof.subtype))
    return [f"{e} ({', '.join(subs)})" if subs else e for e, subs in by_entity.items()]


def _rule_row(rule: Rule, k: Knowledge, entity: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": rule.spec.id,
        "status": rule.spec.status,
        "title": rule.spec.title,
        "file": rule.file,
        "line": rule.spec_line,
        "favours": _favours(rule, k),
        "negated": rule.spec.negated_by is not None,
        "caveat_only": rule.spec.likelihood is None,
        "examples": (len(rule.spec.examples.should_match) + len(rule.spec.examples.should_not_match)) if rule.spec.examples else 0,
    }
    if entity:
        from ddx.ranking import ranker_for

        ranker = ranker_for(k)
        j = ranker.profile_of(entity)
        lk = k.profile_likelihood(rule, k.profiles[j])
        row["p"] = lk.shown() if lk else None
        # the probability the ranking uses (after shrinkage and the clamp): 0/6 is not 0
        row["p_used"] = round(ranker.p_used[rule.id][j], 4) if rule.id in ranker.p_used else None
        effect = entity_effect(rule, k, entity)
        row["effect"] = round(effect, 3) if effect is not None else None
    return row


@rules_group.command("list")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@rules_option
@click.option("--entity", "-e", metavar="SLUG", default=None, help="Only rules that weigh this entity, strongest effect first.")
@click.option("--status", type=click.Choice(["active", "draft", "retired", "all"]), default="all", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_cmd(directory: str | None, rules: str | None, entity: str | None, status: str, fmt: str) -> None:
    """List the rules of DIR or --rules DIR (one row per rule: id, status, title, where, which entity it favours)."""
    from ddx.knowledge.vocabulary import UnknownTerm

    rules = _folder(directory, rules)
    k = load_rules(rules, hint=CHECK_HINT, doing="listing")
    slug = None
    if entity:
        try:
            slug = k.entity_terms.normalize(entity)
        except UnknownTerm as exc:
            _fail(f"--entity: {exc}", 2)
    specs: dict[str, Rule] = {}
    for r in k.rules:
        specs.setdefault(r.spec.id, r)
    chosen = [r for r in specs.values() if status == "all" or r.spec.status == status]
    if slug:
        chosen = [r for r in chosen if r.spec.likelihood is not None]
        chosen.sort(key=lambda r: -abs(entity_effect(r, k, slug) or 0.0))
    rows = [_rule_row(r, k, slug) for r in chosen]
    if fmt == "json":
        _emit_json(
            {
                "rules": {"directory": str(k.directory), "version": k.settings.version, "hash": k.content_hash[:12]},
                "entity": slug,
                "items": rows,
            }
        )
        return
    table = Table(pad_edge=False, expand=False)
    # a rule's id, and under it its file:line, are never cut (they are copied into 'ddx rules show' and an
    # editor, also from 80 columns and from a pipe); the other columns wrap
    where = [f"{Path(row['file']).name}:{row['line']}" for row in rows]
    widest = max((len(str(text)) for row, w in zip(rows, where, strict=True) for text in (row["id"], w)), default=4)
    table.add_column("rule (file:line)", no_wrap=True, min_width=widest)
    statuses = sorted({str(row["status"]) for row in rows})
    one_status = len(statuses) == 1  # then said once, under the table, not in a column
    # below 120 columns "favours" goes under the finding, so neither is squeezed into a few letters a line, and
    # a mixed status is said in the finding cell of the rules that are not active (a column would squeeze it)
    stacked = _out.width < 120
    status_column = not one_status and not stacked
    if status_column:
        table.add_column("status", overflow="fold")
    table.add_column("finding / favours" if stacked else "finding", overflow="fold")  # folds a long word, never '…'
    if slug and stacked:
        table.add_column(f"effect\nP(finding\n| {slug})", justify="right", overflow="fold")  # one over the other
    elif slug:
        table.add_column(f"P(finding | {slug})", justify="right", overflow="fold")
        table.add_column("effect", justify="right", no_wrap=True)  # '+0.85' (for) or '-0.89' (against)
    if not stacked:
        table.add_column("favours", overflow="fold")
    for row, w in zip(rows, where, strict=True):
        rule = Text(str(row["id"]))
        rule.append(f"\n{w}", style="dim")
        favours = ", ".join(row["favours"]) or ("caveat" if row["caveat_only"] else "-")
        finding = Text(str(row["title"]))
        if not one_status and not status_column and row["status"] != "active":
            finding = Text.assemble((f"{row['status']}: ", "bold"), finding)
        if stacked:
            finding.append(f"\nfavours {favours}", style="dim")
        cells: list[str | Text] = [rule, *([escape(str(row["status"]))] if status_column else []), finding]
        if slug:
            effect = row["effect"]
            weight = "-" if effect is None else f"{effect:+.2f}"
            figure = escape(str(row["p"] or "-")) + (f" → {row['p_used']:.2f}" if row["p_used"] is not None else "")
            cells += [f"{weight}\n{figure}"] if stacked else [figure, weight]
        if not stacked:
            cells.append(Text(favours))
        table.add_row(*cells)
    _out.print(table)
    note = (
        (
            " P: the figure as written → the probability used (after shrinkage). Effect: the finding's weight for it "
            "(+ for, - against), log10 of the probability used over its rate across the differential (a negated "
            "rule: for the finding, not its negation)."
        )
        if slug
        else ""
    )
    every = f", all {statuses[0]}" if one_status else ("" if status_column else "; active unless marked")
    _out.print(f"{len(rows)} rule(s){every}.{note} " + _rules_line(k))


@rules_group.command("show")
@click.argument("rule_id")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@rules_option
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def show_cmd(rule_id: str, directory: str | None, rules: str | None, fmt: str) -> None:
    """Show one rule of DIR or --rules DIR: its text in the file (comments included), its conditions as read,
    and its weight for every entity with the source of each figure."""
    from rich.syntax import Syntax

    from ddx.authoring.edit import block_text, find_block
    from ddx.knowledge.conditions import describe
    from ddx.knowledge.vocabulary import TermSet
    from ddx.yamlio import read_text

    rules = _folder(directory, rules)
    k = load_rules(rules, hint=CHECK_HINT, doing="showing a rule of")
    halves = [r for r in k.rules if r.spec.id == rule_id]
    if not halves:
        ids = sorted({r.spec.id for r in k.rules})
        near = TermSet("rule", _lookup={i: i for i in ids}).suggest(rule_id)
        _fail(f"no rule {rule_id!r} in {k.directory}" + (f"; {did_you_mean(near)}" if near else ""))
    rule = halves[0]
    text = read_text(Path(rule.file))
    block = block_text(text, find_block(text, rule_id))
    from ddx.ranking import figure_text, ranker_for, strength_of

    ranker = ranker_for(k)
    positive = next((h for h in halves if not h.negated), halves[0])
    weights: dict[str, dict[str, Any]] = {}
    for j, prof in enumerate(ranker.profiles):
        lk = k.profile_likelihood(rule, prof)
        if lk is None or (prof.subtype is not None and lk is rule.likelihood(prof.entity)):
            continue  # a subtype without a figure of its own inherits its entity's
        active = positive.id in ranker.p_used
        weights[prof.slug] = {
            "p": lk.p,
            "estimate": lk.estimate,
            "n": lk.n,
            "k": lk.k,
            "total": lk.total,
            "strength": strength_of(lk, k.settings.evidence),
            "figure": figure_text(lk, strength_of(lk, k.settings.evidence)),
            "p_used": round(ranker.p_used[positive.id][j], 4) if active else None,
            "weight": round(ranker.weights[positive.id][j], 3) if active else None,
            "subtype_of": prof.entity if prof.subtype else None,
            # a ratio cell's source is its working ("derived: P(...)/P(...) = 0.55/0.82"), from the two rules named
            "source": lk.reason if lk.ratio is not None else lk.source or rule.spec.source,
            "own_source": lk.source is not None or lk.ratio is not None,
            "reason": lk.reason,  # an estimate's one line of reasoning (which names what it rests on)
            "derived": list(lk.ratio) if lk.ratio is not None else None,
            # a figure a likelihood_from rule takes from its base: that rule's id (None: written here)
            "inherited_from": rule.spec.likelihood_from if _read_cell(k, rule, prof.slug) in rule.inherited else None,
        }
    positive_half = next((h for h in halves if not h.negated), None)
    accounts = describe(positive_half.accounts) if positive_half is not None and positive_half.accounts is not None else None
    if fmt == "json":
        _emit_json(
            {
                "id": rule_id,
                "file": rule.file,
                "line": rule.spec_line,
                "status": rule.spec.status,
                "title": rule.spec.title,
                "conditions": {("negated_by" if h.negated else "when"): describe(h.condition) for h in halves},
                "accounts_for": accounts,
                "likelihood_from": rule.spec.likelihood_from,
                "weights": weights,
                "source": rule.spec.source,
                "text": block,
            }
        )
        return
    _out.print(f"[bold]{escape(rule_id)}[/bold]  {escape(rule.file)}:{rule.spec_line}")
    if rule.spec.status != "active":  # its cells show p used and weight "-": say why before the table does
        _out.print(
            f"[bold]status {escape(str(rule.spec.status))}[/bold]: the ranking does not read it, so its figures "
            "below have no p used or weight (set status: active to score it)"
        )
    if _out.is_terminal:
        _out.print(Syntax(block, "yaml", word_wrap=True, background_color="default"), soft_wrap=False)
    else:
        click.echo(block)
    for h in halves:
        _out.print(f"[bold]{'negated_by' if h.negated else 'when'}[/bold] (as read): {escape(describe(h.condition))}")
    if accounts:
        _out.print(f"[bold]accounts_for[/bold] (as read; not listed as unused when the rule scores): {escape(accounts)}")
    if rule.spec.likelihood_from:
        _out.print(f"[bold]likelihood_from[/bold]: the figures this rule does not give are {escape(rule.spec.likelihood_from)}'s")
    if weights and _out.width < NARROW_SHOW:
        # a narrow screen: one line per entity and its source or reasoning beneath it at full width (a fifth
        # column there would be ~20 characters wide and one rule would run to hundreds of lines)
        import textwrap

        from rich.text import Text

        _out.print("[bold]entity / subtype · figure · p used · weight[/bold], then the source or reasoning")
        for slug, w in weights.items():
            name = f"└ {slug}" if w["subtype_of"] else slug
            used = "-" if w["p_used"] is None else f"{w['p_used']:.2f}"
            weight = "-" if w["weight"] is None else f"{w['weight']:+.2f}"
            _out.print(f"[bold]{escape(name)}[/bold] · {escape(w['figure'])} · p used {used} · weight {weight}")
            said = Text.from_markup(_source_cell(w)).plain
            wrapped = textwrap.fill(said, max(_out.width, 40), initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False)
            _out.print(wrapped, markup=False, highlight=False, soft_wrap=True)
    elif weights:
        table = Table(pad_edge=False)
        for col in ("entity / subtype", "figure", "p used", "weight", "source / reasoning"):
            # a word longer than its cell (a rule id in the reasoning) breaks across lines, never cut short
            table.add_column(col, justify="right" if col in ("p used", "weight") else "left", overflow="fold")
        for slug, w in weights.items():
            name = f"└ {slug}" if w["subtype_of"] else slug
            table.add_row(
                escape(name),
                escape(w["figure"]),
                "-" if w["p_used"] is None else f"{w['p_used']:.2f}",
                "-" if w["weight"] is None else f"{w['weight']:+.2f}",
                _source_cell(w),
            )
        _out.print(table)
    if weights:
        _out.print(
            "[dim]~ marks an estimate; worth ≈N cases: a figure without a count is shrunk as if it rested on N cases "
            "(not a series of N); p used = after "
            "shrinkage towards the rate across the differential and the clamp; weight = log10 of p used over "
            "the differential-wide rate (for the finding, not its negation). A subtype without its own "
            "figure uses its entity's.[/dim]"
        )
    _out.print(_rules_line(k))


NARROW_SHOW = 110  # columns under which `ddx rules show` writes each entity's source beneath it, not in a column


def _read_cell(k: Knowledge, rule: Rule, slug: str) -> str:
    """Which of a rule's cells a profile reads: its own, its entity's (:meth:`Knowledge.figure_owner`), or "default"."""
    owner = k.figure_owner(rule, slug)
    return owner if owner in (rule.spec.likelihood or {}) else "default"


def _source_cell(w: dict[str, Any]) -> str:
    """The 'source / reasoning' cell of ``ddx rules show``: a figure taken from a likelihood_from base says so."""
    if w["inherited_from"] and w["estimate"] and w["reason"]:
        return escape(str(w["reason"]))  # the inherited reasoning ends by naming the rule it comes from
    text = escape(str(w["source"])) if w["own_source"] else escape(str(w["reason"])) if w["reason"] else "(rule source)"
    return f"[dim]from {escape(w['inherited_from'])}:[/dim] {text}" if w["inherited_from"] else text


# ------------------------------------------------------------------ test


def _case_label(key: str) -> str:
    """A compared case as a reader names it: 'file.yaml#id' is 'id' when the file is named after its one case
    ('batool-2021-eims-small-intestine-4mo', not that twice); a sheet's or a list's case keeps its file."""
    file, _, case_id = key.rpartition("#")
    return case_id if file and Path(file).stem == case_id else key


def _cases_label(path: str) -> str:
    """A cases path as provenance lines name it: the sample cases installed with ddx are "the packaged sample
    cases" (not a site-packages path), like the packaged rules; any other path as given."""
    from ddx.authoring.regression import packaged_cases_dir

    shipped = packaged_cases_dir()
    if shipped is not None and shipped.name == "_cases" and Path(path).resolve() == shipped:
        return "the packaged sample cases"
    return path


def _cases_paths(cases: tuple[str, ...]) -> list[str]:
    from ddx.authoring.regression import default_cases_path

    if cases:
        return list(cases)
    try:
        return [str(default_cases_path())]
    except DdxError as exc:
        _fail(str(exc), 2)
        raise


def cases_option(f: Any) -> Any:
    """``--cases PATH`` (repeatable): the published cases ``ddx rules test`` and ``ddx rules diff`` rank (empty:
    ./cases, else the packaged sample cases)."""
    return click.option(
        "--cases",
        "cases",
        multiple=True,
        type=click.Path(exists=True),
        help="Case files or folders (repeatable; default: ./cases, else the packaged sample cases).",
    )(f)


@rules_group.command("test")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@rules_option
@cases_option
@click.option(
    "--baseline",
    type=click.Path(exists=True, dir_okay=False),
    help="A run saved with --save: report every case whose expected diagnosis now ranks lower.",
)
@click.option("--save", type=click.Path(dir_okay=False, writable=True), help="Save this run (JSON) as a baseline for later runs.")
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@click.option(
    "--fit-temperature",
    is_flag=True,
    help="Write the temperature fitted on these cases (and its derivation) into DIRECTORY's settings.yaml; "
    "the previous version is kept in the rules' history.",
)
@engine_option
def test_cmd(
    directory: str | None,
    rules: str | None,
    cases: tuple[str, ...],
    baseline: str | None,
    save: str | None,
    fmt: str,
    fit_temperature: bool,
    engine: str | None = None,
) -> None:
    """Run the cases with the rules in DIRECTORY (or --rules DIRECTORY): accuracy, every case whose leader is not its
    expected diagnosis, leave-one-out calibration (reliability table, expected calibration error,
    the fitted temperature), rules that matched no case, and regressions against --baseline.

    Exit status: 0 done; 1 a case could not be read, or a case regressed against the baseline."""
    from ddx.authoring.regression import WEAKENED_BY, compare_baseline, load_baseline, run_cases, save_run, write_temperature
    from ddx.calibration import MIN_FIT_CASES

    directory = _folder(directory, rules)
    k = load_rules(directory, hint=CHECK_HINT, doing="testing")
    paths = _cases_paths(cases)
    refuse_input_target(save, "--save", list(paths))
    try:
        with Analyzer(k, engine) as analyzer:
            run = run_cases(k, paths, analyzer=analyzer)
        base = load_baseline(baseline) if baseline else None
    except DdxError as exc:
        _fail(str(exc))
        raise
    comparison = compare_baseline(run, base[1], base[2]) if base else None
    if save:
        save_run(run, save)
    if fit_temperature:
        scored = len(run.calibration.predictions) if run.calibration is not None else 0
        if scored < MIN_FIT_CASES:
            _fail(f"{scored} scored case(s) (with 'expected'); fitting the temperature needs at least {MIN_FIT_CASES}", 2)
        else:
            from ddx.authoring.edit import read_only_reason

            reason = read_only_reason(k.directory)
            if reason:
                _fail(reason, 2)
            assert run.calibration is not None
            try:
                written = write_temperature(k, run.calibration)
            except DdxError as exc:
                _fail(str(exc))
                raise
            print(f"temperature {run.calibration.temperature:g} written to {written}", file=sys.stderr)
    failed = bool(run.failed) or bool(comparison and comparison.regressions)
    if fmt == "json":
        out = run.to_dict()
        if comparison is not None and base is not None:
            out["baseline"] = {
                "rules": base[0],
                "regressions": [r.__dict__ for r in comparison.regressions],
                "weakened": [r.__dict__ for r in comparison.weakened] if comparison.probabilities_saved else None,
                "changed_expected": comparison.changed_expected,
                "improvements": [r.__dict__ for r in comparison.improvements],
                "log_loss": (
                    None
                    if comparison.log_loss is None
                    else {
                        "before": round(comparison.log_loss[0], 4),
                        "after": round(comparison.log_loss[1], 4),
                        "cases": comparison.log_loss[2],
                    }
                ),
                "top1": (
                    None
                    if comparison.top1 is None
                    else {"before": comparison.top1[0], "after": comparison.top1[1], "cases": comparison.top1[2]}
                ),
                "changed_top": [r.__dict__ for r in comparison.changed_top],
                "missing": comparison.missing,
                "new": comparison.new,
            }
        _emit_json(out)
        sys.exit(1 if failed else 0)
    ev = run.evaluation
    _out.print(
        f"[bold]{len(run.results)} case(s)[/bold] from {escape(', '.join(_cases_label(p) for p in paths))}"
        + (f" ({ev.n_unscored} without an expected diagnosis)" if ev.n_unscored else "")
        + f"; scored {ev.n}: "
        f"top-1 {ev.top1_hits}/{ev.n} ({rate_text(ev.top1)}), top-3 {ev.top3_hits}/{ev.n} ({rate_text(ev.top3)})."
    )
    if run.mismatches:
        table = Table(title="Cases whose leader is not the expected diagnosis", title_justify="left", pad_edge=False)
        # a case id is looked up, so it folds, never ends in '…'; the file only when it is not named after the case
        files = [Path(r.file).name if r.file else "" for r in run.mismatches]
        own = [Path(f).stem != r.case_id for f, r in zip(files, run.mismatches, strict=True)]
        columns = ["case", "expected", "leader\n(probability)", "rank of\nexpected", *(["file"] if any(own) else [])]
        for col in columns:
            table.add_column(col, overflow="fold")
        for r, f, shown in zip(run.mismatches, files, own, strict=True):
            cells: list[str | Text] = [
                Text(r.case_id),
                Text(r.expected or ""),
                Text(f"{r.top or ''} ({maybe_probability_text(r.top_probability)})"),
                str(r.rank or "-"),
            ]
            table.add_row(*cells, *([Text(f if shown else "")] if any(own) else []))
        _out.print(table)
    for r in run.failed:
        _out.print(f"[bold red]unreadable[/bold red] {escape(r.key)}: {escape('; '.join(r.problems))}")
    if ev.subtypes:
        _out.print(
            "Expected subtypes (scored above at entity level): "
            + "; ".join(
                f"{slug}: {n} case(s), entity first {t1}, subtype named {named}"
                for slug, (n, t1, named) in sorted(ev.subtypes.items())
            )
        )
    cal = run.calibration
    if cal is not None:
        t_now = k.settings.calibration.temperature
        _out.print(
            f"Leave-one-out calibration ({len(cal.predictions)} cases; temperature refitted without each case): "
            f"top-1 {rate_text(cal.top1)}, expected calibration error {cal.ece:.3f}, log loss {cal.log_loss:.3f}. "
            f"Temperature fitted on all: {cal.temperature:g} (settings: {t_now:g}"
            + (
                ""
                if abs(cal.temperature - t_now) < 1e-9 or fit_temperature or len(cal.predictions) < MIN_FIT_CASES
                else "; update with --fit-temperature"
            )
            + ")."
        )
        table = Table(title="Reliability (leave-one-out)", title_justify="left", pad_edge=False)
        for col in ("leader's probability", "cases", "mean probability", "leader right"):
            table.add_column(col)
        for lo, hi, n, mean, right in cal.bins:
            band = range_text(lo, hi)
            table.add_row(band, str(n), probability_text(mean) if n else "-", rate_text(right) if n else "-")
        _out.print(table)
    if run.never_matched:
        _out.print(f"Coverage: {len(run.never_matched)} active rule(s) matched no case: " + escape(", ".join(run.never_matched)))
    else:
        _out.print("Coverage: every active rule matched at least one case.")
    if run.shared:
        _out.print(
            f"Independence: {len(run.shared)} cited figure(s) name the source of a case tested here "
            "(a case is never also counted; a citation that names the case id says the figure leaves it out): "
            + escape("; ".join(f"{f.case} in {f.rule} {f.profile} {f.count} ({f.identifier})" for f in run.shared))
        )
    else:
        _out.print("Independence: no cited figure names the DOI or PMID of a case tested here.")
    if comparison is not None and base is not None:
        _out.print(
            f"Against baseline {escape(baseline or '')} (rules {escape(base[0].get('hash', '?'))}): "
            f"{len(comparison.regressions)} regression(s), "
            + (f"{len(comparison.weakened)} weakened, " if comparison.probabilities_saved else "weakened not compared, ")
            + f"{len(comparison.improvements)} improvement(s), {len(comparison.changed_top)} changed leader(s)."
        )
        if comparison.top1 is not None:
            before1, after1, n1 = comparison.top1
            _out.print(f"Expected diagnosis ranked first, over the {n1} case(s) scored in both runs: {before1} → {after1}.")
        if comparison.log_loss is not None:
            before, after, n = comparison.log_loss
            verdict = "worse" if after > before + 0.0005 else "better" if after < before - 0.0005 else "about the same"
            _out.print(
                f"Log loss of the expected diagnosis over the {n} case(s) in both runs: {before:.3f} → {after:.3f} "
                f"({after - before:+.4f}, {verdict})."
            )
        elif comparison.probabilities_saved:
            _out.print("Log loss: not compared (no case with an expected diagnosis was scored in both runs).")
        else:
            _out.print(
                "Weakened cases and log loss: not compared (the baseline was saved before it kept each expected "
                "diagnosis's probability; save a new one with --save)."
            )
        if comparison.changed_expected:
            edited = ", ".join(comparison.changed_expected)
            _out.print("Not compared, their expected diagnosis edited since the baseline: " + escape(edited))
        weakened_title = f"Weakened (rank kept, probability of the expected down {WEAKENED_BY * 100:.0f} points or more, or halved)"
        for title, items in (
            ("Regressions", comparison.regressions),
            (weakened_title, comparison.weakened),
            ("Improvements", comparison.improvements),
            ("Changed leaders (every case whose first entity changed, with or without an expected diagnosis)", comparison.changed_top),
        ):
            if items:
                table = Table(title=title, title_justify="left", pad_edge=False)
                # headers broken where their values are narrow, so the case id gets the width left; it folds, never
                # ends in '…'
                for col in ("case", "expected", "leader\nbefore → after", "rank of\nexpected", "probability of\nexpected"):
                    table.add_column(col, overflow="fold")
                for c in items:
                    moved = (
                        f"{probability_text(c.before_probability)} → {probability_text(c.after_probability)}"
                        if c.before_probability is not None and c.after_probability is not None
                        else "-"
                    )
                    table.add_row(
                        Text(_case_label(c.key)),
                        Text(c.expected or ""),
                        f"{escape(str(c.before_top))} → {escape(str(c.after_top))}",
                        f"{c.before_rank or '-'} → {c.after_rank or '-'}",
                        moved,
                    )
                _out.print(table)
        if comparison.missing:
            _out.print("Not in this run: " + escape(", ".join(comparison.missing)))
    if save:
        _out.print(f"Saved this run to {escape(save)}.")
    _out.print(_rules_line(k, run.rules.get("engine")))
    sys.exit(1 if failed else 0)


# ------------------------------------------------------------------ diff


@rules_group.command("diff")
@click.argument("old", type=click.Path(file_okay=False))
@click.argument("new", required=False, type=click.Path(file_okay=False))
@cases_option
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def diff_cmd(old: str, new: str | None, cases: tuple[str, ...], fmt: str) -> None:
    """The rules that differ between OLD and NEW, and every case whose ranking changes (the
    order of the entities, or the leader's probability by one percentage point or more), with
    the changed rules that fired in it.

    With one folder (``ddx rules diff my-rules``), it is compared with the packaged rules
    (the rules ddx uses when none are named)."""
    from ddx.authoring.diff import CHANGED_RANKING, diff_rule_sets

    if new is None:  # one folder: what it changes against the packaged rules
        old, new = str(packaged_rules_dir()), old
    old_k, new_k = load_rules(old, hint=CHECK_HINT), load_rules(new, hint=CHECK_HINT)
    paths = _cases_paths(cases)
    diff = diff_rule_sets(old_k, new_k, paths)
    if fmt == "json":
        _emit_json(diff.to_dict())
        return
    _out.print(f"[bold]old[/bold] {escape(old_k.version_line)}\n[bold]new[/bold] {escape(new_k.version_line)}")
    if diff.rules or diff.other:
        _out.print(f"{len(diff.rules)} rule(s) differ:")
        for rc in diff.rules:
            _out.print(f"  {rc.kind:8} {escape(str(rc))}  [dim]{escape(Path(rc.file or '').name)}:{rc.line}[/dim]")
        for o in diff.other:
            _out.print(f"  {escape(o)}")
    else:
        _out.print("The rules are the same.")
    changed = diff.cases
    _out.print(
        f"{len(changed)} of {diff.compared} case(s) change ranking ({CHANGED_RANKING}); "
        f"{sum(c.top_changed for c in changed)} change leader."
    )
    if changed:
        # below 120 columns the six columns go two to a cell, so no case id or rule id is cut to '…'
        stacked = _out.width < 120
        table = Table(pad_edge=False)
        columns = (
            ("case / expected", "leader before → after / rank of expected", "moved / rules responsible")
            if stacked
            else ("case", "expected", "leader before → after", "rank of expected", "moved", "rules responsible")
        )
        for col in columns:
            table.add_column(col, overflow="fold")  # a long id folds onto the next line, never ends in '…'
        for c in changed:
            before, after = maybe_probability_text(c.before.top_probability), maybe_probability_text(c.after.top_probability)
            lead = Text(f"{c.before.top} ({before}) → {c.after.top} ({after})", style="bold" if c.top_changed else "")
            moved = ", ".join(f"{e} {b}→{a}" for e, b, a in c.moves[:4]) + (" …" if len(c.moves) > 4 else "")
            rank = f"{c.before.rank or '-'} → {c.after.rank or '-'}"
            responsible = ", ".join(c.responsible) or "-"
            if stacked:
                case = Text(_case_label(c.key))
                case.append(f"\nexpected {c.expected or '-'}", style="dim")
                lead.append(f"\nexpected ranked {rank}", style="dim")
                table.add_row(case, lead, Text(f"{moved}\nrules: {responsible}"))
            else:
                table.add_row(Text(_case_label(c.key)), Text(c.expected or ""), lead, rank, Text(moved), Text(responsible))
        _out.print(table)
    if diff.unreadable:
        _out.print("Readable under only one rule set: " + escape(", ".join(diff.unreadable)))
