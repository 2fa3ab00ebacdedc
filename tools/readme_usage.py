"""Regenerate (or check) the README's usage block from what ``ddx ... --help`` prints.

    python tools/readme_usage.py            # check: exit 1 (and show the block) when README.md's is stale
    python tools/readme_usage.py --write    # rewrite the block in README.md (atomically)

``ddx --help`` is run, then ``--help`` of every command its "Commands:" list names (and of every command in a
group's list: ``ddx rules check`` ...), in-process, wide enough that each option is one row. Each command
becomes one synopsis: its name and arguments from the "Usage:" line, then every option of the "Options:"
column (``--help`` left out, a short alias dropped for its long name, a choice without its brackets):

    ddx eval FILE... [--format text|json|markdown|report] [--rules DIRECTORY] [--top INTEGER RANGE] ...

wrapped at WIDTH columns. The block sits between BEGIN and END in README.md; tests/test_readme_usage.py
fails when it is not what ddx prints now.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from click.testing import CliRunner  # noqa: E402

from ddx.cli import main as ddx_main  # noqa: E402
from tools.readme import readme_block, replace_section  # noqa: E402

README = ROOT / "README.md"
BEGIN = "<!-- usage:begin (generated from ddx's --help by tools/readme_usage.py; tests/test_readme_usage.py checks it) -->"
END = "<!-- usage:end -->"
WIDTH = 112  # as wide as the README's other code blocks
UNWRAPPED = 10_000  # --help as wide as its longest line: one row per option


def help_text(command: list[str]) -> str:
    """What ``ddx COMMAND --help`` prints, unwrapped."""
    result = CliRunner().invoke(ddx_main, [*command, "--help"], prog_name="ddx", terminal_width=UNWRAPPED, max_content_width=UNWRAPPED)
    if result.exit_code != 0:
        raise RuntimeError(f"ddx {' '.join(command)} --help exited {result.exit_code}: {result.output}")
    return result.output


def sections(text: str) -> dict[str, list[str]]:
    """The rows of each titled section of a help text ("Options", "Commands"), indentation kept."""
    found: dict[str, list[str]] = {}
    rows: list[str] | None = None
    for line in text.splitlines():
        if re.fullmatch(r"[A-Z][A-Za-z ]*:", line):
            rows = found.setdefault(line[:-1], [])
        elif rows is not None and line.strip():
            rows.append(line)
    return found


def options(text: str) -> list[str]:
    """The options a help text lists, as a synopsis writes them: ``--format text|json``, ``--output FILE``."""
    shown = []
    for row in sections(text).get("Options", []):
        if not row.startswith("  -"):
            continue  # the help of an option whose name column was too wide
        names = re.split(r"\s{2,}", row.strip())[0]
        name = names.split(", ")[-1]  # "-o, --output FILE": "--output FILE"
        if name != "--help":
            shown.append(re.sub(r" \[([^\[\]]*)\]$", r" \1", name))  # "--format [text|json]": "--format text|json"
    return shown


def synopsis(text: str) -> list[str]:
    """One command's synopsis, as the words of its line: name, arguments, then each option in brackets (a
    group's command and its arguments are left out: each command has a line of its own)."""
    usage = text.splitlines()[0].removeprefix("Usage: ").split(" ")
    placeholders = {"[OPTIONS]", "COMMAND", "[COMMAND]", "[ARGS]..."}
    return [*(w for w in usage if w not in placeholders), *(f"[{o}]" for o in options(text))]


def commands(path: list[str]) -> list[list[str]]:
    """The command ``path`` (``[]``: ddx itself) and every command under it, in the order --help lists them;
    a group's own line is left out (its commands have theirs), except ddx's."""
    text = help_text(path)
    names = [row.split()[0] for row in sections(text).get("Commands", [])]
    found = [path] if not names or not path else []
    for name in names:
        found += commands([*path, name])
    return found


def wrapped(words: list[str], path: list[str], width: int = WIDTH) -> list[str]:
    """The words of the synopsis of the command ``path`` in lines of at most ``width`` columns (a longer word
    alone), each line after the first indented to start under the first word after the command's name."""
    indent = " " * len(" ".join(["ddx", *path, ""]))
    lines: list[str] = []
    line = ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = indent + word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line]


def usage_block() -> str:
    """The README's usage block, as a fenced text block."""
    lines = [line for path in commands([]) for line in wrapped(synopsis(help_text(path)), path)]
    return "```text\n" + "\n".join(lines) + "\n```\n"


def main() -> int:
    block = usage_block()
    if "--write" in sys.argv:
        if not replace_section(README, BEGIN, END, block):
            print(f"{README}: no {BEGIN!r} ... {END!r} markers", file=sys.stderr)
            return 1
        print(f"updated {README}")
        return 0
    if readme_block(README.read_text(encoding="utf-8"), BEGIN, END) != block:
        print(f"{README}: the usage block is stale; run python tools/readme_usage.py --write\n{block}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
