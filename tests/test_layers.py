"""The layers of ddx, stated once and checked on the source of every module under ddx/ (its syntax tree, so a
module is held to them whether or not a test imports it; the core is also imported whole, once, for what a
library it uses might import):

* the **core** (every module not under ``ddx/cli/`` or ``ddx/tui/``) never imports ``ddx.cli``, ``ddx.tui``,
  click or Textual (``textual``, ``textual_autocomplete``, ``textual_serve``), not even inside a function,
  and imports no module by a name it computes;
* the **CLI** (``ddx/cli/``) may import the core, and ``ddx.tui`` only inside the function that opens it
  (``ddx --help``, ``ddx eval`` and ``ddx batch`` never load Textual); Textual itself only through ``ddx.tui``;
* the **TUI** (``ddx/tui/``) may import the core, never ``ddx.cli``, and no module by a computed name;
* the **entry point** (``ddx/_entry.py``, ``ddx/__main__.py``: the ``ddx`` command) is above them all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ddx"
ENTRY = {"ddx._entry", "ddx.__main__"}
TEXTUAL = ("textual", "textual_autocomplete", "textual_serve")
COMPUTED = "<a computed name>"  # importlib.import_module(name) / __import__(name) with a name not written out


@dataclass(frozen=True)
class Import:
    """One import statement (or call)."""

    names: tuple[str, ...]  # absolute; ``from x import y, z``: x, x.y and x.z (each may be a module)
    line: int
    lazy: bool  # inside a function: runs when it is called, not when the module is imported


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(name: str) -> str:
    if name in ENTRY:
        return "entry"
    for top in ("cli", "tui"):
        if within(name, f"ddx.{top}"):
            return top
    return "core"


def within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def imports(name: str, source: str, *, is_package: bool = False) -> list[Import]:
    """Every import in a module's source: ``import x``, ``from x import y``, relative imports made absolute,
    and ``importlib.import_module``/``__import__`` calls."""
    package = name if is_package else name.rpartition(".")[0]
    found: list[Import] = []

    def absolute(module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        base = package.split(".")
        base = base[: len(base) - (level - 1)]
        return ".".join([*base, module] if module else base)

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(Import((alias.name,), child.lineno, lazy) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = absolute(child.module, child.level)
                found.append(Import((base, *(f"{base}.{alias.name}" for alias in child.names)), child.lineno, lazy))
            elif isinstance(child, ast.Call) and _is_dynamic_import(child.func):
                arg = child.args[0] if child.args else None
                named = isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                found.append(Import((arg.value if named else COMPUTED,), child.lineno, lazy))
            visit(child, lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(source), False)
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id in ("__import__", "import_module")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )


def violations(name: str, source: str, *, is_package: bool = False) -> list[str]:
    """What a module's imports break of the layers, one line each ("line N: imports X: why"); [] when none."""
    found = []
    for imp in imports(name, source, is_package=is_package):
        for module in imp.names:
            why = _broken(layer(name), module, imp.lazy)
            if why:
                found.append(f"line {imp.line}: imports {module}: {why}")
                break
    return found


def _broken(where: str, module: str, lazy: bool) -> str | None:
    if where == "core" and within(module, "ddx.cli", "ddx.tui", "click", *TEXTUAL):
        return "the core knows nothing of the CLI or the TUI"
    if where in ("core", "tui") and module == COMPUTED:
        return "an import this contract cannot read"
    if where == "tui" and within(module, "ddx.cli"):
        return "the TUI never imports the CLI"
    if where == "cli" and within(module, *TEXTUAL):
        return "the CLI reaches Textual only through ddx.tui"
    if where == "cli" and within(module, "ddx.tui") and not lazy:
        return "the CLI imports ddx.tui only inside the command that opens it"
    return None


def test_every_module_keeps_to_its_layer():
    found = modules()
    assert {"ddx.ranking", "ddx.cli", "ddx.cli.main", "ddx.tui", "ddx.tui.app", "ddx._entry"} <= set(found)
    assert {layer(n) for n in found} == {"core", "cli", "tui", "entry"}
    broken = [
        f"{path.relative_to(PACKAGE.parent)}: {v}"
        for name, path in found.items()
        for v in violations(name, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py")
    ]
    assert broken == [], "\n".join(broken)


def test_importing_the_whole_core_loads_neither_click_nor_textual():
    """What the source cannot show: a library the core uses that would import click or Textual itself."""
    core = sorted(n for n in modules() if layer(n) == "core")
    code = (
        f"import sys\nfor name in {core!r}:\n    __import__(name)\n"
        f"print(sorted({{m for m in sys.modules if m.split('.')[0] in {('click', *TEXTUAL)!r}}}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]" and len(core) > 20


def test_the_cli_does_open_the_tui_lazily_and_the_tui_uses_the_core():
    """The contract is about imports that exist: were these gone, it would be checking nothing."""
    found = modules()
    cli = [
        (m, i.lazy) for n, p in found.items() if layer(n) == "cli" for i in imports(n, p.read_text(encoding="utf-8")) for m in i.names
    ]
    assert any(within(m, "ddx.tui") and lazy for m, lazy in cli)
    assert any(within(m, "click") and not lazy for m, lazy in cli)
    tui = [m for i in imports("ddx.tui.app", found["ddx.tui.app"].read_text(encoding="utf-8")) for m in i.names]
    assert any(within(m, "textual") for m in tui) and any(within(m, "ddx.analysis") for m in tui)


@pytest.mark.parametrize(
    ("name", "source", "broken"),
    [
        ("ddx.ranking", "import click\n", "imports click: the core"),
        ("ddx.ranking", "def f():\n    from textual.widgets import Static\n", "imports textual.widgets: the core"),
        ("ddx.ranking", "from ddx import tui\n", "imports ddx.tui: the core"),
        ("ddx.ranking", "from .cli.main import main\n", "imports ddx.cli.main: the core"),
        ("ddx.ranking", "import importlib\nimportlib.import_module('textual_serve.server')\n", "imports textual_serve.server"),
        ("ddx.ranking", "import importlib\nname = 'click'\nimportlib.import_module(name)\n", "cannot read"),
        ("ddx.tui.app", "from ddx.cli import main\n", "the TUI never imports the CLI"),
        ("ddx.tui.app", "from ..cli import main\n", "the TUI never imports the CLI"),
        ("ddx.cli.main", "from ddx.tui import run\n", "only inside the command"),
        ("ddx.cli.main", "def f():\n    import textual\n", "only through ddx.tui"),
    ],
    ids=[
        "core-click",
        "core-textual-lazily",
        "core-from-ddx-import-tui",
        "core-relative-cli",
        "core-import-module",
        "core-computed-name",
        "tui-cli",
        "tui-relative-cli",
        "cli-tui-at-import",
        "cli-textual",
    ],
)
def test_the_contract_refuses_what_breaks_a_layer(name, source, broken):
    found = violations(name, source)
    assert len(found) == 1 and broken in found[0], found


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("ddx.ranking", "import rich.text\nfrom ddx.knowledge import Knowledge\nfrom . import engine\n"),
        ("ddx.cli.main", "import click\nfrom ddx.analysis import Analyzer\ndef tui():\n    from ddx.tui import run\n"),
        ("ddx.tui.app", "from textual.app import App\nfrom ddx.analysis import Analyzer\n"),
        ("ddx._entry", "def run():\n    import click\n    from ddx.cli import main\n"),
    ],
    ids=["core", "cli", "tui", "entry"],
)
def test_the_contract_lets_each_layer_use_the_ones_below(name, source):
    assert violations(name, source) == []
