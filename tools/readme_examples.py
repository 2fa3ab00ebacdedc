"""Regenerate (or check) the README's example outputs from real runs of the installed ddx.

    python tools/readme_examples.py            # check: list the stale examples, exit 1 if any
    python tools/readme_examples.py --write    # re-run every example and rewrite README.md (atomically)

An example is a block between two markers; the begin marker holds the command, run from the repository's
root at a fixed terminal width (COLUMNS=100), without $DDX_RULES, stdout and stderr together:

    <!-- example:begin ddx eval cases/seed-board-q1-thigh-35m.yaml --top 3 -->
    ```text
    $ ddx eval cases/seed-board-q1-thigh-35m.yaml --top 3
    ...the output...
    ```
    <!-- example:end -->

A command ending in ``(abridged)`` must print one JSON object; the example keeps its first two ranked entities
with their first two pieces of evidence and its first three suggested tests. Paths of this checkout are shown
relative to it, and the packaged rules' directory as a wheel installs it (``/…/site-packages/ddx/_rules``).
tests/test_readme_examples.py fails when an example is stale.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ddx.knowledge import packaged_rules_dir
from ddx.yamlio import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
COLUMNS = 100
ABRIDGED = " (abridged)"
INSTALLED_RULES = "/…/site-packages/ddx/_rules"
INSTALLED_PATH = re.compile(r"[^\s\"']*[/\\]site-packages[/\\]ddx[/\\]_rules")
EXAMPLE = re.compile(r"<!-- example:begin (?P<command>.+?) -->\n(?P<body>.*?)<!-- example:end -->", re.S)
# Settings of the caller's shell that would change what ddx prints.
_UNSET = (
    "DDX_RULES",
    "FORCE_COLOR",
    "NO_COLOR",
    "CLICOLOR_FORCE",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "PYTHONPATH",
    "COLUMNS",
    "LINES",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
)


@dataclass(frozen=True)
class Example:
    """One marked example: its command as written in the marker, the block the README holds now, and where."""

    command: str
    body: str
    start: int
    end: int

    @property
    def abridged(self) -> bool:
        return self.command.endswith(ABRIDGED)

    @property
    def argv(self) -> list[str]:
        """The command's arguments after ``ddx``. Raises ValueError for a command that is not ``ddx ...``."""
        words = shlex.split(self.command.removesuffix(ABRIDGED))
        if not words or words[0] != "ddx":
            raise ValueError(f"README example {self.command!r}: the command must start with 'ddx'")
        return words[1:]


def examples(text: str) -> list[Example]:
    """Every marked example of a README's text, in order."""
    return [Example(m["command"], m["body"], m.start("body"), m.end("body")) for m in EXAMPLE.finditer(text)]


def _ddx() -> list[str]:
    """The installed ddx command of this interpreter's environment."""
    script = Path(sys.executable).parent / "ddx"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ddx"]


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    env.update(COLUMNS=str(COLUMNS), LINES="40", PYTHONIOENCODING="utf-8", PYTHONUTF8="1")
    return env


def _normalise(output: str) -> str:
    """Paths of this machine written as any reader's: the packaged rules as installed, the checkout relative."""
    output = output.replace(str(packaged_rules_dir()), INSTALLED_RULES)
    # the installed package's rules wherever the venv is (inside the checkout in CI, where this module may
    # import the checkout's ddx rather than the installed one)
    output = INSTALLED_PATH.sub(INSTALLED_RULES, output)
    return output.replace(f"{ROOT}{os.sep}", "")


def _abridge(output: str, command: str) -> str:
    data = json.loads(output)
    if not isinstance(data, dict):
        raise ValueError(f"README example {command!r}: '(abridged)' needs one JSON object")
    data["ranking"] = [{**r, "evidence": r.get("evidence", [])[:2]} if "evidence" in r else r for r in data["ranking"][:2]]
    data["suggested_tests"] = data["suggested_tests"][:3]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render(example: Example) -> str:
    """Run the example's command and return the block the README should hold (a fenced code block).

    Raises subprocess.TimeoutExpired after 120 s and ValueError for a marker it cannot run.
    """
    argv = example.argv
    proc = subprocess.run(
        [*_ddx(), *argv],
        cwd=ROOT,
        env=_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
    )
    output = _normalise(proc.stdout.decode("utf-8"))
    if example.abridged:
        return "```json\n" + _abridge(output, example.command) + "```\n"
    lines = [f"$ {example.command}", *(line.rstrip() for line in output.rstrip("\n").split("\n"))]
    if proc.returncode:
        lines.append(f"(exit status {proc.returncode})")
    return "```text\n" + "\n".join(lines) + "\n```\n"


def render_all(found: Sequence[Example], jobs: int = 2) -> list[str]:
    """:func:`render` for every example, ``jobs`` at a time, in order."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(render, found))


def updated(text: str, found: Sequence[Example], blocks: Sequence[str]) -> str:
    """The README's text with each example's block replaced by its fresh one."""
    out, last = [], 0
    for example, block in zip(found, blocks, strict=True):
        out += [text[last : example.start], block]
        last = example.end
    return "".join(out) + text[last:]


def main(argv: Sequence[str]) -> int:
    text = README.read_text(encoding="utf-8")
    found = examples(text)
    if not found:
        print(f"{README}: no '<!-- example:begin COMMAND -->' markers", file=sys.stderr)
        return 1
    blocks = render_all(found)
    if "--write" in argv:
        atomic_write_text(README, updated(text, found, blocks))
        print(f"updated {len(found)} example(s) in {README}")
        return 0
    stale = [e.command for e, b in zip(found, blocks, strict=True) if e.body != b]
    for command in stale:
        print(f"stale: {command}")
    if stale:
        print("run: python tools/readme_examples.py --write", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
