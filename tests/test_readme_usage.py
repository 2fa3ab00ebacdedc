"""The README's usage block is what ``ddx ... --help`` prints now (tools/readme_usage.py), one synopsis a command."""

from __future__ import annotations

import difflib

import click

from ddx.cli import main
from tests.conftest import REPO
from tools.readme import readme_block
from tools.readme_usage import BEGIN, END, commands, help_text, options, synopsis, usage_block


def test_the_readme_usage_block_is_what_ddx_help_prints_now():
    block = readme_block((REPO / "README.md").read_text(encoding="utf-8"), BEGIN, END)
    assert block is not None, f"README.md has lost its {BEGIN!r} ... {END!r} markers"
    now = usage_block()
    diff = "".join(difflib.unified_diff(block.splitlines(True), now.splitlines(True), "README.md", "ddx --help now"))
    assert block == now, f"the README's usage block is stale: run python tools/readme_usage.py --write\n{diff}"


def _click_commands(command: click.Command, ctx: click.Context, path: list[str]) -> dict[str, click.Command]:
    if not isinstance(command, click.Group):
        return {" ".join(path): command}
    found: dict[str, click.Command] = {"": command} if not path else {}
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        assert sub is not None
        found |= _click_commands(sub, click.Context(sub, parent=ctx, info_name=name), [*path, name])
    return found


def test_every_command_has_a_line_and_every_option_its_place():
    """What --help was read as, against click's own tree: a command or an option added to ddx appears in the
    block (the lazily loaded 'rules' and 'serve' too), --help and short aliases do not."""
    tree = _click_commands(main, click.Context(main, info_name="ddx"), [])
    assert [" ".join(path) for path in commands([])] == list(tree) and "rules check" in tree and "serve" in tree
    for name, command in tree.items():
        words = synopsis(help_text(name.split() if name else []))
        assert words[: len(name.split()) + 1] == ["ddx", *name.split()]
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                longest = max(param.opts, key=len)
                assert any(w.startswith(f"[{longest}") for w in words), (name, longest)
            elif isinstance(param, click.Argument):
                assert any(w.strip("[].") == param.make_metavar(click.Context(command)).strip("[].") for w in words)
        assert not any(w.startswith(("[-h", "[--help")) or w.startswith("[-") and not w.startswith("[--") for w in words)
    assert options(help_text(["batch"]))[:2] == ["--format table|jsonl|json|csv|xlsx|markdown", "--output FILE"]
