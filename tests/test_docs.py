"""docs/case-format.md: its generated reference is current, names every case key, term and synonym, and every
term of the contract it reproduces is one ddx accepts; no file of the project points outside it."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from ddx.casedoc import DOC_BEGIN, DOC_END, doc_block, reference_section
from ddx.knowledge import Knowledge, load_knowledge
from ddx.knowledge.vocabulary import TermSet

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "case-format.md"
STALE = "docs/case-format.md is stale: run python tools/docs.py --write"


@pytest.fixture(scope="module")
def rules() -> Knowledge:
    return load_knowledge(REPO / "rules")


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def block(text: str) -> str:
    found = doc_block(text)
    assert found is not None, f"docs/case-format.md has no {DOC_BEGIN!r} ... {DOC_END!r} markers"
    return found


@pytest.fixture(scope="module")
def contract(text: str) -> str:
    """The contract as reproduced: everything before ddx's extensions."""
    return text[: text.index("## Extensions (ddx)")]


def test_the_generated_reference_is_current(rules: Knowledge, block: str):
    assert reference_section(rules) == block, STALE


# ------------------------------------------------------------------ every key, every term


def _models(annotation: object) -> Iterator[type[BaseModel]]:
    """The pydantic models inside a field's annotation (through Optional, Annotated, dict, list)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def model_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every key path the model accepts, read from pydantic's fields (not from the generator's schema walk)."""
    for name, info in model.model_fields.items():
        path = prefix + name
        yield path
        if typing.get_origin(info.annotation) is dict:
            path += {"stains": ".STAIN", "molecular": ".TEST"}[name]
            yield path
        for sub in _models(info.annotation):
            yield from model_keys(sub, path + ".")


def test_every_key_of_the_case_model_is_documented(rules: Knowledge, block: str):
    keys = list(model_keys(rules.case_schema.model))
    assert "morphology.wdlps_component" in keys and "stains.STAIN.percent" in keys and "molecular.TEST" in keys
    missing = [k for k in keys if f"| `{k}` |" not in block]
    assert missing == [], f"case keys missing from docs/case-format.md: {missing}; {STALE}"
    documented = re.findall(r"^\| `([a-zA-Z0-9_.]+)` \| ", block.split("### Presence values")[0], re.M)
    assert sorted(documented) == sorted(keys), "the keys table lists a key the case model does not accept"


def _term_sets(k: Knowledge) -> dict[str, TermSet]:
    v = k.vocab
    sets = {
        "sex": v.sex,
        "depth": v.depth,
        "symptoms": v.symptoms,
        "sites": v.sites,
        "site groups": v.site_groups,
        "presence": v.presence,
        "stain results": v.stain_results,
        "extents": v.stain_extents,
        "intensities": v.stain_intensities,
        "patterns": v.stain_patterns,
        "stains": v.stains,
        "molecular": v.molecular,
        "entities": k.entity_terms,
    }
    for name, field in v.morphology.items():
        if field.terms is not None:
            sets[f"morphology.{name}"] = field.terms
    return sets


def test_every_term_and_synonym_of_the_vocabulary_is_documented(rules: Knowledge, block: str):
    missing = []
    for name, terms in _term_sets(rules).items():
        words = terms._lookup  # every canonical term and every synonym, folded as input is
        assert words, name
        missing += [f"{name}: {w}" for w in words if f"`{w}`" not in block]
    missing += [f"shorthand: {w}" for w in rules.vocab.stain_shorthand if f"`{w}` = " not in block]
    missing += [f"band: {b.id}" for b in rules.settings.bands if f"| `{b.id}` |" not in block]
    assert missing == [], f"vocabulary terms missing from docs/case-format.md: {missing}; {STALE}"


def test_a_stale_reference_is_caught(rules_copy: Path, block: str):
    """The checks above can fail: a molecular test added to a copy of the vocabulary is not in today's file."""
    vocab = rules_copy / "vocabulary.yaml"
    vocab.write_text(vocab.read_text() + "  - {term: zz_new_test, label: ZZ, synonyms: [zz_synonym]}\n")
    fresh = reference_section(load_knowledge(rules_copy))
    assert fresh != block and "`zz_synonym`" in fresh and "`zz_synonym`" not in block


# ------------------------------------------------------------------ the contract's terms are accepted


def _accepted(terms: TermSet, word: str) -> str | None:
    try:
        return terms.normalize(word)
    except ValueError:
        return None


def _example(contract: str) -> str:
    return re.search(r"## One case\n\n```yaml\n(.*?)```", contract, re.S).group(1)  # type: ignore[union-attr]


def _commented_lists(example: str) -> Iterator[tuple[str, list[str]]]:
    """``(key path, terms)`` for each line of the example whose comment lists terms as ``a | b | c``."""
    stack: list[tuple[int, str]] = []
    for line in example.splitlines():
        m = re.match(r"^( *)([a-z0-9_]+):(.*)$", line)
        if not m:
            continue
        indent, key, rest = len(m.group(1)), m.group(2), m.group(3)
        stack = [(i, k) for i, k in stack if i < indent] + [(indent, key)]
        if "#" not in rest or "|" not in rest:
            continue
        comment = re.sub(r"\(.*?\)", "", rest.split("#", 1)[1])
        comment = re.sub(r"^\s*[a-z-]+:", "", comment)  # "shorthand:", "stain-specific:"
        yield ".".join(k for _, k in stack), [w.strip() for w in comment.split("|") if w.strip()]


def test_every_key_and_term_of_the_contract_example_is_accepted(rules: Knowledge, contract: str):
    example = _example(contract)
    keys = set(model_keys(rules.case_schema.model))
    data = yaml.safe_load(example)

    def paths(node: object, prefix: str = "") -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if prefix == "stains.":
                    assert _accepted(rules.vocab.stains, key) == key, key
                    yield "stains.STAIN"
                    yield from paths(value, "stains.STAIN.")
                elif prefix == "molecular.":
                    assert _accepted(rules.vocab.molecular, key) == key, key
                    yield "molecular.TEST"
                else:
                    yield prefix + key
                    yield from paths(value, prefix + key + ".")

    seen = set(paths(data))
    assert len(seen) > 40 and seen <= keys, seen - keys
    lists = dict(_commented_lists(example))
    assert len(lists) >= 15, lists  # the parser found the contract's lists
    v = rules.vocab
    for path, words in lists.items():
        for word in words:
            if path == "stains.desmin":  # the shorthand
                ok = word in v.stain_results.terms or word in v.stain_shorthand
            elif path == "molecular":
                ok = _accepted(v.presence, word) == word
            elif path == "stains.alk.result":
                ok = _accepted(v.stain_results, word) == word
            else:
                terms = v.termset_for(path.replace("stains.alk.", "stains.x."))
                ok = terms is not None and _accepted(terms, word) == word
            assert ok, f"the contract's {path}: {word!r} is not a term ddx accepts"


def _items(section: str) -> list[str]:
    """The comma-separated terms of an "(at least)" paragraph, parenthetical notes removed."""
    return [w.strip() for w in re.sub(r"\(.*?\)", "", section).replace("\n", " ").strip().rstrip(".").split(",")]


def _section(contract: str, title: str) -> str:
    return contract.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_contract_lists_are_terms_ddx_accepts(rules: Knowledge, contract: str):
    v = rules.vocab
    rows = re.findall(r"^\| ([a-z_]+) \| ([a-z_, ]+) \|$", _section(contract, "Site terms (at least)"), re.M)
    assert rows[0] == ("group", "terms") and len(rows) == 8
    for group, terms in rows[1:]:
        for term in terms.split(", "):
            assert _accepted(v.sites, term) == term and v.site_group_of[term] == group, (group, term)
    stains = _items(_section(contract, "Stain terms (at least)"))
    molecular = _items(_section(contract, "Molecular terms (at least)"))
    assert len(stains) == 33 and len(molecular) == 16
    assert [s for s in stains if _accepted(v.stains, s) != s] == []
    assert [m for m in molecular if _accepted(v.molecular, m) != m] == []
    slugs = re.findall(r"^\| ([a-z]+) \| ", _section(contract, "Entity slugs (at least)"), re.M)
    assert len(slugs) == 11  # the header row, then ten entities
    assert [s for s in slugs[1:] if _accepted(rules.entity_terms, s) != s] == []
    assert rules.parent("eims") == "imt"


@pytest.mark.parametrize(
    "section, word, term",
    [
        ("stains", "pan-keratin", "keratin"),
        ("stains", "AE1/AE3", "keratin"),
        ("stains", "CAM5.2", "keratin"),
        ("stains", "MYOD1", "myod1"),
        ("stains", "MyoD1", "myod1"),
        ("molecular", "L122R", "myod1_mutation"),
        ("presence", "detected", "present"),
        ("presence", "not_detected", "absent"),
    ],
)
def test_the_synonyms_the_contract_names_are_accepted(rules: Knowledge, contract: str, section: str, word: str, term: str):
    assert word in contract
    assert getattr(rules.vocab, section).normalize(word) == term


def test_yes_is_a_presence_word():
    """Regression: ``yes`` unquoted in the vocabulary was read as a boolean, so the synonym was lost."""
    vocab = load_knowledge(REPO / "rules").vocab
    assert vocab.presence.normalize("yes") == "present" and vocab.presence.normalize("no") == "absent"


# ------------------------------------------------------------------ nothing points outside the project


def test_no_file_of_the_project_points_outside_it():
    """The issue: README and docstrings pointed at a spec in a sibling folder no clone has."""
    needles = ["../" + "shared", "shared/" + "spec"]
    skip = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}
    hits = []
    for path in REPO.rglob("*"):
        if skip & set(path.relative_to(REPO).parts) or not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        content = path.read_bytes().decode("utf-8", errors="replace")
        hits += [f"{path.relative_to(REPO)}: {n}" for n in needles if n in content]
    assert hits == []


def test_the_readme_links_the_case_format():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "](docs/case-format.md)" in readme and DOC.is_file()
