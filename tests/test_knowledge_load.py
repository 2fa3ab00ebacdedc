"""Loading rule files fast changes nothing: the direct tree constructor, the skipped text search and the
cache of parsed rule files give exactly what PyYAML's own constructor and a fresh parse give, errors
included (ddx/yamlio.py; the timings are in bench/startup_bench.py)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from ddx import yamlio
from ddx.errors import KnowledgeError
from ddx.knowledge import load_knowledge, load_knowledge_partial
from ddx.yamlio import DataLoader, LineDict, LineLoader, ReadError, load_data
from tests.conftest import REPO
from tests.test_hostile import billion_laughs


class _PyYamlLine(LineLoader):
    """LineLoader with PyYAML's construction only (the path every document took before)."""

    def _construct_tree(self, root: Any) -> Any:
        raise yamlio._NotATree


class _PyYamlData(DataLoader):
    def _construct_tree(self, root: Any) -> Any:
        raise yamlio._NotATree


LOADERS = [(LineLoader, _PyYamlLine), (DataLoader, _PyYamlData)]


def same(a: Any, b: Any, where: str = "$", pairs: dict[int, int] | None = None) -> None:
    """Equal, of the same types all the way down, with the same key order and key lines, and the same
    objects shared (an alias) or contained in themselves (a recursive alias)."""
    assert type(a) is type(b), (where, type(a), type(b))
    pairs = {} if pairs is None else pairs
    if isinstance(a, (dict, list)):
        if id(a) in pairs:
            assert pairs[id(a)] == id(b), where
            return
        assert id(b) not in pairs.values(), where
        pairs[id(a)] = id(b)
    if isinstance(a, dict):
        assert list(a) == list(b), where
        assert [type(k) for k in a] == [type(k) for k in b], where
        assert getattr(a, "key_lines", None) == getattr(b, "key_lines", None), where
        for key in a:
            same(a[key], b[key], f"{where}.{key}", pairs)
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]", pairs)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, (where, a, b)


def outcome(text: str, loader: type) -> Any:
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - safe loader subclasses
    except Exception as exc:  # noqa: BLE001 - PyYAML itself raises KeyError for !!bool maybe
        return ("error", type(exc).__name__, str(exc))


REPO_YAML = sorted(
    p
    for d in ("rules", "cases", "tests", "docs")
    for p in (REPO / d).rglob("*.y*ml")
    if p.suffix in (".yaml", ".yml") and p.is_file() and not any(part.startswith(".") for part in p.relative_to(REPO).parts)
)  # no edit history


@pytest.mark.parametrize("path", REPO_YAML, ids=lambda p: str(p.relative_to(REPO)))
def test_every_yaml_file_of_the_repository_loads_as_pyyaml_builds_it(path):
    text = path.read_text(encoding="utf-8")
    for fast, pyyaml in LOADERS:
        same(outcome(text, fast), outcome(text, pyyaml))


DOCUMENTS = {
    "scalars": "a: 1\nb: 1.5\nc: true\nd: null\ne: ~\nf: '1'\ng: 0x1F\nh: 0o17\ni: 017\nj: .nan\nk: -.inf\nl: 1_000\n"
    "m: 1:05\nn: yes\no: 2024-05-06\np: 2024-05-06 10:00:00\nq: !!str 12\nr: !!float 3\ns: ''\n",
    "keys": "1: a\ntrue: b\nnull: c\n1.5: d\n'x': e\n2024-01-01: f\n",
    "nested": "rules:\n  - id: a\n    when: {stains.desmin: positive}\n    list: [1, [2, [3, {x: y}]]]\n  - [a, b]\n",
    "shared alias": "a: &x [1, {b: 2}]\nb: *x\nc: &s text\nd: *s\n",
    "merge": "base: &b {x: 1, y: 2}\nfull:\n  <<: *b\n  y: 3\n",
    "merge list": "a: &a {x: 1}\nb: &b {y: 2}\nc: {<<: [*a, *b], z: 3}\n",
    "repeated key": "a: 1\nb: 2\na: 3\n",
    "repeated nested": "x:\n  a: 1\n  a: 2\n",
    "repeated 1 and true": "1: a\ntrue: b\n",
    "long int": "a: " + "9" * 5000 + "\n",
    "long int key": "? " + "9" * 5000 + "\n: x\n",
    "complex key": "? [a, b]\n: c\n",
    "mapping key": "? {a: b}\n: c\n",
    "binary": "a: !!binary aGVsbG8=\n",
    "set": "a: !!set {x, y}\n",
    "omap": "a: !!omap [x: 1, y: 2]\n",
    "unknown tag": "a: !!python/object:os.system x\n",
    "value key": "=: a\n",
    "recursive": "a: &a [*a]\n",
    "empty": "",
    "scalar document": "just text\n",
    "explicit tags": "a: !!map {b: !!seq [!!int '3']}\n",
    "line key": "__line__: 5\nb: 1\n",
    "bad bool tag": "a: !!bool maybe\n",
}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_unusual_documents_load_or_fail_as_pyyaml_has_them(name):
    for fast, pyyaml in LOADERS:
        same(outcome(DOCUMENTS[name], fast), outcome(DOCUMENTS[name], pyyaml))


def test_an_alias_still_shares_one_object_as_pyyaml_does():
    data = yaml.load(DOCUMENTS["shared alias"], Loader=LineLoader)  # noqa: S506
    assert data["a"] is data["b"]


def test_the_alias_guard_still_refuses_a_billion_laughs_and_so_many_values_without_an_alias(monkeypatch):
    with pytest.raises(ReadError, match="aliases in this file expand to more than"):
        load_data(Path("bomb.yaml"), text=billion_laughs())
    monkeypatch.setattr(yamlio, "MAX_EXPANDED_NODES", 50)
    plain = "a: [" + ", ".join(["x"] * 60) + "]\n"  # no alias, but more values than the limit
    with pytest.raises(ReadError, match="expand to more than 50 values"):
        load_data(Path("many.yaml"), text=plain)
    load_data(Path("few.yaml"), text="a: [" + ", ".join(["x"] * 40) + "]\n")


@pytest.mark.parametrize(
    "value, shown",
    [('"\\e[2J"', "\\x1b"), ('"a\\x07"', "\\x07"), ("\u202etxt", "\\u202e"), ('"\\u2028"', "\\u2028"), ("a\u2066b", "\\u2066")],
)
def test_control_characters_in_rule_files_are_still_found_with_or_without_an_escape(value, shown):
    text = f"rules:\n  - id: a\n    title: {value}\n"
    with pytest.raises(ReadError, match="control character") as caught:
        load_data(Path("r.yaml"), with_lines=True, text=text, plain=True)
    assert shown in str(caught.value) and caught.value.line == 3


# ------------------------------------------------------------------ the cache of parsed rule files


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("DDX_CACHE_DIR", str(folder))
    monkeypatch.delenv("DDX_NO_CACHE", raising=False)
    return folder


def rule_files(rules: Path) -> list[Path]:
    """The files load_knowledge reads (not the rule editor's .history)."""
    return sorted([*rules.glob("*.yaml"), *(rules / "rules").glob("*.yaml")])


def parses(monkeypatch) -> list[Path]:
    """The files parsed from now on (a cache hit is not parsed)."""
    seen: list[Path] = []
    real = yamlio._parse

    def spy(path: Path, with_lines: bool, text: str) -> Any:
        seen.append(path)
        return real(path, with_lines, text)

    monkeypatch.setattr(yamlio, "_parse", spy)
    return seen


def test_rules_come_from_the_cache_the_second_time_and_equal_a_fresh_parse(cache, monkeypatch):
    rules = REPO / "rules"
    files = rule_files(rules)
    parsed = parses(monkeypatch)
    first = load_knowledge(rules)
    assert sorted(parsed) == files and len(list(cache.glob("*.json"))) == len(files)
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in cache.glob("*.json"))
    assert cache.stat().st_mode & 0o077 == 0
    parsed.clear()
    second = load_knowledge(rules)
    assert parsed == []
    assert second.content_hash == first.content_hash
    assert [r.spec for r in second.rules] == [r.spec for r in first.rules]
    assert [(r.id, r.line, r.spec_line) for r in second.rules] == [(r.id, r.line, r.spec_line) for r in first.rules]
    for path in files:
        fresh = yaml.load(
            path.read_text(encoding="utf-8"),  # noqa: S506
            Loader=DataLoader if path.name == "vocabulary.yaml" else LineLoader,
        )
        same(load_data(path, with_lines=path.name != "vocabulary.yaml", plain=True, cache=True), fresh)
    assert parsed == []


def test_an_edited_file_is_parsed_again(cache, rules_copy, monkeypatch):
    load_knowledge(rules_copy)
    parsed = parses(monkeypatch)
    path = rules_copy / "rules" / "inflammation.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("title:", "title: ", 1), encoding="utf-8")
    load_knowledge(rules_copy)
    assert parsed == [path]


def test_errors_of_a_broken_rule_file_are_the_same_from_the_cache(cache, rules_copy):
    path = rules_copy / "rules" / "clinical.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("status: active", "status: actve", 1).replace("likelihood:", "likelihod:", 1), encoding="utf-8")
    cold = load_knowledge_partial(rules_copy)[1]
    assert cold and any("actve" in p.message or "status" in str(p.path) for p in cold)
    warm = load_knowledge_partial(rules_copy)[1]
    assert [str(p) for p in warm] == [str(p) for p in cold]
    assert [(p.file, p.line, p.path, p.code, p.suggestions) for p in warm] == [
        (p.file, p.line, p.path, p.code, p.suggestions) for p in cold
    ]


def test_a_damaged_foreign_or_shared_entry_is_ignored(cache, monkeypatch):
    rules = REPO / "rules"
    expected = load_knowledge(rules)
    entries = sorted(cache.glob("*.json"))
    damaged = {entries[0]: "not json at all", entries[1]: entries[1].read_text()[:-40]}
    head, _, body = entries[2].read_text().partition("\n")
    damaged[entries[2]] = "ddx-parsed-rules 0 " + head.split()[-1] + "\n" + body  # another format
    for path, text in damaged.items():
        path.write_text(text)
    entries[3].chmod(0o666)  # writable by others
    foreign = 0
    if os.getuid() == 0:  # another user's
        os.chown(entries[4], 4321, 4321)
        foreign = 1
    parsed = parses(monkeypatch)
    again = load_knowledge(rules)
    assert [r.spec for r in again.rules] == [r.spec for r in expected.rules]
    assert len(parsed) == 4 + foreign
    assert all(path.read_text() != text for path, text in damaged.items())  # written again
    assert entries[3].stat().st_mode & 0o777 == 0o600 and entries[4].stat().st_uid == os.getuid()


def test_the_cache_can_be_turned_off_and_skips_files_with_escapes(cache, rules_copy, monkeypatch):
    monkeypatch.setenv("DDX_NO_CACHE", "1")
    load_knowledge(rules_copy)
    assert not cache.exists()
    monkeypatch.setenv("DDX_NO_CACHE", "0")
    path = rules_copy / "rules" / "pitfalls.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "# a backslash \\ in a comment\n", encoding="utf-8")
    load_knowledge(rules_copy)
    assert len(list(cache.glob("*.json"))) == len(rule_files(rules_copy)) - 1


def test_an_unwritable_cache_folder_changes_nothing(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DDX_CACHE_DIR", str(blocker / "cache"))
    knowledge = load_knowledge(REPO / "rules")
    assert knowledge.rules


def test_the_cache_keeps_at_most_its_limit_of_entries(cache, monkeypatch):
    monkeypatch.setattr(yamlio, "MAX_CACHE_ENTRIES", 3)
    for i in range(6):
        path = cache.parent / f"f{i}.yaml"
        path.write_text(f"a: {i}\n")
        os.utime(path)
        assert load_data(path, with_lines=True, plain=True, cache=True) == {"a": i, "__line__": 1}
    assert len(list(cache.glob("*.json"))) == 3


def test_json_cannot_hold_it_so_it_is_not_cached(cache, tmp_path):
    path = tmp_path / "dates.yaml"
    path.write_text("updated: 2024-05-06\n1: one\n")
    first = load_data(path, with_lines=True, plain=True, cache=True)
    assert not cache.exists() or not list(cache.glob("*.json"))
    same(load_data(path, with_lines=True, plain=True, cache=True), first)
    assert isinstance(first, LineDict)


def test_a_missing_vocabulary_is_still_one_clear_error(cache, rules_copy):
    (rules_copy / "vocabulary.yaml").write_text("patient: [\n")
    problems = load_knowledge_partial(rules_copy)[1]
    assert problems and "YAML syntax error" in problems[0].message
    with pytest.raises(KnowledgeError):
        load_knowledge(rules_copy)
