"""The generated part of the case-file reference (``docs/case-format.md``): every key and every term.

:func:`reference_section` writes, as markdown, every key the case model accepts
(:func:`ddx.knowledge.case.build_case_schema`, read through its JSON schema so that a key
added to the model appears here) with the terms and synonyms its values are
drawn from (``rules/vocabulary.yaml``), the entity and subtype slugs ``expected``
accepts (``rules/entities.yaml``) and the confidence bands a result may carry
(``rules/settings.yaml``). ``tools/docs.py --write`` puts it between
:data:`DOC_BEGIN` and :data:`DOC_END` in ``docs/case-format.md``;
``tests/test_docs.py`` fails when the file is stale or misses a key or a term.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ddx.knowledge import Knowledge
from ddx.knowledge.vocabulary import TermSet, Vocabulary
from ddx.yamlio import section_text

DOC_BEGIN = (
    "<!-- case-format:begin (generated from rules/ and ddx/knowledge/case.py by tools/docs.py --write; "
    "tests/test_docs.py checks it) -->"
)
DOC_END = "<!-- case-format:end -->"

# What the schema cannot say about a key: free-text keys and the few keys with a rule of their own.
_NOTES = {
    "id": "required; 1–200 plain letters (A–Z, a–z: no accents), digits, `-`, `_` or `.`; unique within a batch",
    "title": "free text",
    "expected": 'the confirmed diagnosis: an entity or subtype slug or synonym ("Entities and subtypes"); a '
    "diagnosis outside them is no `expected` (give it in `notes`)",
    "clinical.size_cm": "a number of centimetres, > 0 and ≤ 300 (the greatest dimension); `3.5 cm` and `35 mm` "
    "are read as 3.5; dimensions (`5 x 3 x 2 cm`), other units, ranges and bounds are refused",
    "source": "free text: the citation the case was taken from (ddx extension)",
    "clinical.presentation": "free text, kept for the report",
    "notes": "free text, kept verbatim",
}
# What a number key also reads, after its range (from the schema).
_READS = {
    "morphology.mitoses_per_10hpf": "`6/10 HPF` and `6 per 10 high-power fields` are read as 6; a count over "
    "another number of fields (`5/50 HPF`, `3 per HPF`) is refused with the count per 10 HPF to write, one per mm² "
    "pointed to `mitoses_per_mm2`; ranges and bounds are refused",
    "morphology.mitoses_per_mm2": "`2/mm2` and `2 per mm²` are read as 2; a count per HPF is pointed to "
    "`mitoses_per_10hpf` (the conversion depends on the microscope's field area)",
}
# Term sets too long to list inside the keys table: the section that lists them.
_TABLES = {"clinical.site": "Sites", "clinical.symptoms": "Symptoms", "stains.STAIN": "Stains", "molecular.TEST": "Molecular tests"}
_PLACEHOLDER = {"stains": "STAIN", "molecular": "TEST"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(words: Iterable[str]) -> str:
    return ", ".join(f"`{w}`" for w in words)


def inline_terms(terms: TermSet) -> str:
    """``a`` (``syn``, ``syn``), ``b``, …: every term of a set with its synonyms, for a table cell."""
    out = []
    for term in terms.terms:
        syn = terms.synonyms(term)
        out.append(f"`{term}`" + (f" ({_code(syn)})" if syn else ""))
    return ", ".join(out)


def _number(node: dict[str, Any]) -> str:
    low = f"≥ {node['ge']:g}" if "ge" in node else f"> {node['gt']:g}" if "gt" in node else None
    high = f"≤ {node['le']:g}" if "le" in node else f"< {node['lt']:g}" if "lt" in node else None
    if "ge" in node and "le" in node:
        return f"a number, {node['ge']:g}–{node['le']:g}"
    return "a number" + (", " + " and ".join(b for b in (low, high) if b) if low or high else "")


def _unwrap(node: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an ``anyOf: [X, null]`` (an optional key)."""
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    return options[0] if len(options) == 1 else node


def _ref(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any] | None:
    ref = node.get("$ref")
    return defs[ref.rsplit("/", 1)[-1]] if isinstance(ref, str) else None


def _terms_for(path: str, knowledge: Knowledge) -> TermSet | None:
    if path == "expected":
        return knowledge.entity_terms
    return knowledge.vocab.termset_for(path.replace(".STAIN", ".x").replace(".TEST", ""))


def _extra_words(wider: TermSet, base: TermSet) -> str:
    """The synonyms ``wider`` has beyond ``base``, each with its term: '`focal` (present), `rare` (present)'."""
    extra = [(word, term) for word, term in wider._lookup.items() if word not in base._lookup]
    return ", ".join(f"`{word}` ({term})" for word, term in extra) or "nothing more"


def _presence(vocab: Vocabulary) -> str:
    return " or ".join(f"`{t}`" for t in vocab.presence.terms) + ', or a synonym ("Presence values")'


def _value(path: str, node: dict[str, Any], knowledge: Knowledge) -> str:
    if path in _NOTES:
        return _NOTES[path]
    vocab = knowledge.vocab
    if path == "stains.STAIN":
        return (
            f'a stain term ("Stains"): its result or shorthand ({_code(vocab.stain_results.terms)}, '
            f"{_code(vocab.stain_shorthand)}), or a mapping of the keys below"
        )
    if path == "molecular.TEST":
        return f'a molecular test term ("Molecular tests"): {_presence(vocab)}'
    if path == "stains.STAIN.result":
        return f"required in this mapping; one of {inline_terms(vocab.stain_results)}"
    if path == "stains.STAIN.pattern":
        return "one of " + inline_terms(vocab.stain_patterns) + '; a stain that lists patterns ("Stains") takes only those'
    if node.get("type") == "number":
        return _number(node) + (f"; {_READS[path]}" if path in _READS else "")
    terms = _terms_for(path, knowledge)
    many = node.get("type") == "array"
    if terms is None:
        raise ValueError(f"docs/case-format.md: no description for the case key {path!r}; add it to ddx/casedoc.py _NOTES")
    what = "a list of terms (one term is read as a list of one)" if many else "one term"
    if path in _TABLES:
        return f'{what}: "{_TABLES[path]}"'
    if terms is vocab.presence or terms is vocab.morphology_presence:
        return _presence(vocab)
    field = vocab.morphology.get(path.removeprefix("morphology.")) if path.startswith("morphology.") else None
    if field is not None and field.compounds:
        stands = "; ".join(f"`{word}` for {' and '.join(f'`{t}`' for t in parts)}" for word, parts in field.compounds.items())
        return f"{what}: {inline_terms(terms)}; a word that stands for several terms records each: {stands}"
    return f"{what}: {inline_terms(terms)}"


def case_keys(knowledge: Knowledge) -> Iterator[tuple[str, str]]:
    """``(key path, what its value may be)`` for every key the case model accepts, in the model's order.

    Keys under ``stains`` and ``molecular`` are written ``stains.STAIN…`` and ``molecular.TEST``. Raises
    ValueError naming a key the model accepts and this module cannot describe.
    """
    schema = knowledge.case_schema.model.model_json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})

    def walk(prefix: str, obj: dict[str, Any]) -> Iterator[tuple[str, str]]:
        required = set(obj.get("required", []))
        for name, raw in obj["properties"].items():
            path = f"{prefix}{name}"
            node = _unwrap(raw)
            sub = _ref(node, defs)
            if sub is not None:
                yield path, "a mapping of the keys below"
                yield from walk(path + ".", sub)
                continue
            extra = node.get("additionalProperties")
            if node.get("type") == "object" and isinstance(extra, dict):
                key = f"{path}.{_PLACEHOLDER[name]}"
                yield path, f"a mapping of `{key}` keys"
                sub = _ref(extra, defs)
                yield key, _value(key, extra, knowledge)
                if sub is not None:
                    yield from walk(key + ".", sub)
                continue
            text = _value(path, node, knowledge)
            field = path.removeprefix("morphology.") if path.startswith("morphology.") else None
            if field is not None and field in knowledge.vocab.morphology_fields.help:
                text += f" — {knowledge.vocab.morphology_fields.help[field]}"
            if name in required and not text.startswith("required"):
                text = "required in this mapping; " + text
            yield path, text

    yield from walk("", schema)


def _term_table(terms: TermSet, *, label: bool = False, extra: Iterable[str] = ()) -> list[str]:
    extra = list(extra)
    head = ["term", *(["shown as"] if label else []), "synonyms", *extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for term in terms.terms:
        row = [f"`{term}`"]
        if label:
            row.append(_cell(terms.label(term)))
        row.append(_code(terms.synonyms(term)))
        for name in extra:
            value = terms.extra.get(term, {}).get(name) if name != "meaning" else terms.help.get(term)
            row.append(_code(value) if isinstance(value, list) else _cell(str(value or "")))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _sites(vocab: Vocabulary) -> list[str]:
    lines = ["| group | term | synonyms |", "|---|---|---|"]
    for term in vocab.sites.terms:
        lines.append(f"| `{vocab.site_group_of[term]}` | `{term}` | {_code(vocab.sites.synonyms(term))} |")
    lines += [
        "",
        "Site groups (what rules may test as `clinical.site_group`; a case gives the site, and its group "
        "follows): " + inline_terms(vocab.site_groups) + ".",
    ]
    if vocab.sites.ambiguous:
        words = "; ".join(f"`{w}` ({', '.join(f'`{m}`' for m in meant)})" for w, meant in vocab.sites.ambiguous.items())
        lines += [
            "",
            "Words that may name several sites (a region's soft tissue, its bone, its lymph node or an organ in it) "
            "are refused, with or without a side, the error naming each site the word may mean (and completion in "
            "the case editor offering them); write the one the source means: " + words + ".",
        ]
    lines += [
        "",
        "A site written with its depth (`deep thigh`, `subcutaneous left forearm`, `thigh, deep`) is refused, the "
        "error naming both keys to write: `clinical.site: thigh` and `clinical.depth: deep`.",
    ]
    return lines


def _entities(knowledge: Knowledge) -> list[str]:
    lines = ["| slug | name | synonyms | scored as |", "|---|---|---|---|"]
    for e in knowledge.entities:
        parent = f"`{e.variant_of}` (a variant)" if e.variant_of else "itself"
        lines.append(f"| `{e.slug}` | {_cell(e.name)} | {_code(knowledge.entity_terms.synonyms(e.slug))} | {parent} |")
        for s in e.subtypes:
            lines.append(
                f"| `{s.slug}` | {_cell(s.name)} | {_code(knowledge.entity_terms.synonyms(s.slug))} | `{e.slug}` (a subtype) |"
            )
    return lines


def reference_section(knowledge: Knowledge) -> str:
    """The generated markdown of docs/case-format.md: keys, then every term set with its synonyms.

    Raises ValueError when the case model has a key this module cannot describe (see :func:`case_keys`).
    """
    vocab = knowledge.vocab
    shorthand = ", ".join(
        f"`{k}` = " + " + ".join(f"{name} `{v}`" for name, v in spec.items()) for k, spec in vocab.stain_shorthand.items()
    )
    lines = [
        "Generated from `rules/vocabulary.yaml`, `rules/entities.yaml`, `rules/settings.yaml` and the case "
        "model (`ddx/knowledge/case.py`) of the packaged rules; a rules directory of your own (`--rules`) may add terms. "
        "Terms are matched case-insensitively after folding spaces, hyphens, slashes and colons to `_`, so `MyoD1`, "
        "`myod1` and `MYOD1` are one term; synonyms are written here folded (`-` as `_`). A key or term that is not "
        "listed is an error naming the file, the case, the key and the nearest listed ones (for a site word that "
        "may mean several sites, each of them: below).",
        "",
        "### Keys",
        "",
        "| key | value |",
        "|---|---|",
        *(f"| `{path}` | {_cell(text)} |" for path, text in case_keys(knowledge)),
        "",
        f"Stain shorthand: {shorthand}. A result written as reports write it is read when its words have one "
        "reading: `focally positive` is `{result: positive, extent: focal}`, `positive (nuclear membrane)` "
        "`{result: positive, pattern: nuclear_membrane}`, `strong` `{result: positive, intensity: strong}`, `40%` "
        "`{result: positive, percent: 40}` (`0%` negative); two results, a bare number, an extent, intensity or "
        "pattern beside a result that is not positive, or words that contradict a key given beside them are "
        "refused with the mapping to write. A clinical, morphology, stain or molecular finding written as one of "
        f"{', '.join(f'`{w}`' for w in sorted(vocab.not_done))} (vocabulary `not_done`; folded: `not done`, `N/A`) "
        "is not recorded (unknown, as if left out); so is a stain's extent, intensity or pattern, or an item of a "
        "list, so written. A stain or molecular result written as "
        f"{', '.join(f'`{w}`' for w in sorted(vocab.not_done_or_negative))} (vocabulary `not_done_or_negative`) "
        "is refused: it may mean not done (leave the key out) or not detected (negative, absent). "
        "In YAML, unquoted `yes`, `no`, `true` and `false` are booleans, not words: write "
        "`present` / `absent` (or quote them).",
        "",
        "### Presence values",
        "",
        f"Morphology fields of the presence kind and molecular results: {inline_terms(vocab.presence)}. "
        f"Morphology fields also take, for a finding seen in part: {_extra_words(vocab.morphology_presence, vocab.presence)}. "
        "A word that is said of one kind of alteration suits only a molecular test of that kind (the last word of "
        "its term) and is refused for the others: "
        + "; ".join(f"`{w}` ({', '.join(kinds)})" for w, kinds in vocab.alteration_words.items())
        + " (vocabulary `alteration_words`): an ALK rearrangement written `amplified` is refused, a copy gain not "
        "being the rearrangement. A test that gave no result (`failed`, `insufficient`) is not recorded, as above.",
        "",
        "### Sites",
        "",
        *_sites(vocab),
        "",
        "### Symptoms",
        "",
        *_term_table(vocab.symptoms, extra=["meaning"]),
        "",
        "### Stains",
        "",
        "`patterns`: the patterns the stain takes (none listed: any pattern term).",
        "",
        *_term_table(vocab.stains, label=True, extra=["patterns"]),
        "",
        "### Molecular tests",
        "",
        "`implies`: the test that this one's `present` result records as `present` too (a named fusion is its "
        "gene's rearrangement: `kif5b_alk_fusion: present` records an ALK rearrangement, also where the case "
        "gives `alk_rearrangement: absent`, as a break-apart FISH can miss a fusion that sequencing names).",
        "",
        *_term_table(vocab.molecular, label=True, extra=["implies"]),
        "",
        "### Entities and subtypes",
        "",
        "What `expected` accepts. A case is scored at entity level: a subtype or a variant counts as the entity it belongs to.",
        "",
        *_entities(knowledge),
        "",
        "### Confidence bands",
        "",
        "The values of `confidence.band` in the results, tried in this order (`rules/settings.yaml`):",
        "",
        "| band | label |",
        "|---|---|",
        *(f"| `{b.id}` | {_cell(b.label)} |" for b in knowledge.settings.bands),
    ]
    return "\n".join(lines) + "\n"


def doc_block(text: str) -> str | None:
    """The generated section inside docs/case-format.md's text, or None when the markers are missing."""
    return section_text(text, DOC_BEGIN, DOC_END)
