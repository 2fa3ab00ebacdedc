"""One model per rules file (ddx/knowledge/models.py), read by ddx.knowledge.load.load_model.

Each file model gets a minimal valid file (what it becomes) and a broken one: a wrong type at a nested
key is a problem naming the file, the line of that key and its path. The vocabulary's model replaced a
hand parser whose one message was "vocabulary is missing or malformed at ..."; its errors name file,
line and key, and the vocabulary it makes is held equal to the hand parser's (kept below as the
reference) on the packaged file.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from ddx.errors import KnowledgeError, Problem
from ddx.knowledge import load_knowledge_partial, packaged_rules_dir
from ddx.knowledge.load import Entry, load_model, load_vocabulary
from ddx.knowledge.models import (
    EntitiesFile,
    FileModel,
    Likelihood,
    OutsideFile,
    ReportTemplates,
    RulesFile,
    Settings,
    VocabularyFile,
)
from ddx.knowledge.vocabulary import MorphologyField, TermSet, Vocabulary, fold


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of the first line of ``path`` that holds ``needle``."""
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


def load(path: Path, model: type[FileModel]) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    return load_model(path, model, problems), problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# ------------------------------------------------------------------ settings.yaml


def test_settings_minimal(tmp_path):
    settings, problems = load(write(tmp_path, "settings.yaml", 'version: "9"\n'), Settings)
    assert problems == []
    assert settings == Settings(version="9") and settings.clamp == (0.01, 0.99)


def test_settings_wrong_type_at_a_nested_key(tmp_path):
    path = write(
        tmp_path,
        "settings.yaml",
        """\
        version: "9"
        evidence:
          shrinkage: 2
          cited_strength: [20]
        """,
    )
    settings, problems = load(path, Settings)
    p = only(problems)
    assert settings is None
    assert (p.file, p.line, p.path) == (str(path), line_of(path, "cited_strength"), "evidence.cited_strength")
    assert p.message == "expected a number, got a list"


# ------------------------------------------------------------------ entities.yaml

ENTITY = """\
  - slug: {slug}
    name: Entity {slug}
    prior: 0.5
    source: "Author A, et al. J Path 2020;1:1"
"""


def test_entities_minimal(tmp_path):
    path = write(tmp_path, "entities.yaml", "entities:\n" + ENTITY.format(slug="aa") + ENTITY.format(slug="bb"))
    found: list[Entry[Any]] = []
    problems: list[Problem] = []
    model = load_model(path, EntitiesFile, problems, entries=found)
    assert problems == [] and isinstance(model, EntitiesFile)
    assert [e.slug for e in model.entities] == ["aa", "bb"]
    assert [e.line for e in found] == [2, 6]
    assert model.entities[0].prior.p == 0.5


def test_entities_wrong_type_at_a_nested_key_refuses_that_entity_alone(tmp_path):
    broken = (
        ENTITY.format(slug="bb")
        + """\
    subtypes:
      - slug: bb_one
        name: [One]
        source: "Author A, et al. J Path 2020;1:1"
        share: 0.2
"""
    )
    path = write(tmp_path, "entities.yaml", "entities:\n" + ENTITY.format(slug="aa") + broken)
    model, problems = load(path, EntitiesFile)
    p = only(problems)
    # the path starts inside the refused entity (a subtype named by its slug), the line is its key's
    assert (p.file, p.line, p.path) == (str(path), line_of(path, "name: [One]"), "subtypes.bb_one.name")
    assert p.message.startswith("expected text")
    assert [e.slug for e in model.entities] == ["aa"]  # the valid entity is kept


# ------------------------------------------------------------------ rules/*.yaml

RULE = """\
rules:
  - id: test.rule
    title: Desmin positive
    status: active
    when: {stains.desmin: positive}
    likelihood:
      aa: "3/4"
      bb: {p: ~0.2, reason: "estimate: a guess"}
    rationale: A test rule.
    source: "Author A, et al. J Path 2020;1:1"
"""


def test_rules_minimal(tmp_path):
    path = write(tmp_path, "rules.yaml", RULE)
    model, problems = load(path, RulesFile)
    assert problems == []
    [rule] = model.rules
    assert rule.id == "test.rule" and rule.likelihood["aa"].k == 3 and rule.likelihood["bb"].estimate
    # a condition keeps its line (the rule's errors and its engine id name it); the rest is plain data
    assert rule.when == {"stains.desmin": "positive", "__line__": line_of(path, "when:")}
    assert "__line__" not in rule.likelihood["bb"].model_dump()


def test_rules_wrong_type_at_a_nested_key(tmp_path):
    path = write(tmp_path, "rules.yaml", RULE.replace('reason: "estimate: a guess"', "reason: [a, guess]"))
    found: list[Entry[Any]] = []
    problems: list[Problem] = []
    model = load_model(path, RulesFile, problems, entries=found)
    assert problems == [] and model is not None and model.rules == []  # the entry holds its own problems
    [entry] = found
    p = only(entry.problems)
    assert entry.value is None and entry.error is not None and entry.line == line_of(path, "- id:")
    assert (p.file, p.line, p.path) == (str(path), line_of(path, "bb:"), "likelihood.bb.reason")
    assert p.code == "weight" and p.message.startswith("expected text")


def test_a_rules_file_without_its_list_names_the_file(tmp_path):
    model, problems = load(write(tmp_path, "rules.yaml", "# a comment\n\nrule: []\n"), RulesFile)
    p = only(problems)
    assert model is None and p.message == "expected a top-level 'rules:' list" and p.line == 1


# ------------------------------------------------------------------ reports.yaml


def test_reports_minimal(tmp_path):
    reports, problems = load(write(tmp_path, "reports.yaml", 'heading: "DRAFT"\n'), ReportTemplates)
    assert problems == []
    assert reports.heading == "DRAFT" and reports.favoured == ReportTemplates().favoured


def test_reports_wrong_type_at_a_nested_key(tmp_path):
    path = write(
        tmp_path,
        "reports.yaml",
        """\
        heading: "DRAFT"
        clinical_prose:
          sentence: "Clinical history: $parts."
          age: [age, $value]
        """,
    )
    reports, problems = load(path, ReportTemplates)
    p = only(problems)
    assert reports is None
    assert (p.file, p.line, p.path) == (str(path), line_of(path, "age:"), "clinical_prose.age")
    assert p.message.startswith("expected text")


# ------------------------------------------------------------------ outside.yaml

OUTSIDE = """\
outside:
  - slug: pecoma
    name: PEComa
    when: {stains.hmb45: positive}
    findings: [stains.hmb45]
    rationale: HMB45 in a soft-tissue tumour.
    source: "Author A, et al. J Path 2020;1:1"
"""


def test_outside_minimal(tmp_path):
    model, problems = load(write(tmp_path, "outside.yaml", OUTSIDE), OutsideFile)
    assert problems == []
    [item] = model.outside
    assert item.slug == "pecoma" and item.findings == ["stains.hmb45"]


def test_outside_wrong_type_at_a_nested_key(tmp_path):
    path = write(tmp_path, "outside.yaml", OUTSIDE.replace("findings: [stains.hmb45]", "findings:\n      - [stains.hmb45]"))
    model, problems = load(path, OutsideFile)
    p = only(problems)
    assert model.outside == []
    assert (p.file, p.line, p.path) == (str(path), line_of(path, "findings:"), "findings.0")
    assert p.message.startswith("expected text")


# ------------------------------------------------------------------ vocabulary.yaml

VOCABULARY = """\
# a small vocabulary
patient:
  sex:
    terms: [{term: male, synonyms: [m]}, female]
clinical:
  depth: {terms: [superficial, deep]}
  symptoms: [fever]
site_groups:
  extremity:
    synonyms: [limb]
    terms: [thigh, {term: lower_leg, synonyms: [calf]}]
  trunk:
    terms: [back]
morphology:
  cell_types: {kind: list, terms: [spindle, epithelioid]}
  mitoses_per_10hpf: {kind: number, min: 0, max: 1000}
  necrosis: {kind: presence, label: Necrosis, help: "any"}
presence: [present, absent]
stain_results: [positive, negative]
stain_shorthand:
  focal: {result: positive, extent: focal}
stain_extents: [focal, diffuse]
stain_intensities: [weak, strong]
stain_patterns: [nuclear, cytoplasmic]
stains:
  - {term: desmin, label: Desmin, patterns: [cytoplasmic]}
  - {term: myod1, label: MyoD1, synonyms: [myod]}
molecular:
  - {term: alk_rearrangement, label: ALK rearrangement}
"""


def test_vocabulary_minimal(tmp_path):
    path = write(tmp_path, "vocabulary.yaml", VOCABULARY)
    vocab = load_vocabulary(path)
    assert vocab.sex.normalize("M") == "male" and vocab.sites.normalize("calf") == "lower_leg"
    assert vocab.site_group_of == {"thigh": "extremity", "lower_leg": "extremity", "back": "trunk"}
    assert vocab.site_groups.normalize("limb") == "extremity"
    assert vocab.morphology["mitoses_per_10hpf"] == MorphologyField("mitoses_per_10hpf", "number", None, 0, 1000)
    assert type(vocab.morphology["mitoses_per_10hpf"].max) is int  # as written (the case model's bounds)
    assert vocab.morphology_fields.label("necrosis") == "Necrosis"
    assert vocab.stain_shorthand == {"focal": {"result": "positive", "extent": "focal"}}
    assert vocab.stain_patterns_for("desmin") == ["cytoplasmic"] and vocab.stain_patterns_for("myod1") is None
    assert vocab == _vocabulary_before(yaml.safe_load(VOCABULARY), path)


def test_the_packaged_vocabulary_is_the_hand_parsers():
    path = packaged_rules_dir() / "vocabulary.yaml"
    assert load_vocabulary(path) == _vocabulary_before(yaml.safe_load(path.read_text(encoding="utf-8")), path)


def vocabulary_problems(tmp_path: Path, text: str) -> tuple[Path, list[Problem]]:
    path = write(tmp_path, "vocabulary.yaml", text)
    with pytest.raises(KnowledgeError) as caught:
        load_vocabulary(path)
    return path, caught.value.problems


def test_a_missing_stains_list_names_file_line_and_key(tmp_path):
    text = VOCABULARY[: VOCABULARY.index("stains:\n")] + VOCABULARY[VOCABULARY.index("molecular:\n") :]
    path, problems = vocabulary_problems(tmp_path, text)
    p = only(problems)
    assert (p.file, p.line, p.path) == (str(path), line_of(path, "patient:"), "stains")  # where the mapping starts
    assert p.message == "required key 'stains' is missing"
    assert str(p) == f"{path}:2: stains: required key 'stains' is missing"


def test_a_term_without_term_names_file_line_and_key(tmp_path):
    path, problems = vocabulary_problems(tmp_path, VOCABULARY.replace("{term: myod1, label: MyoD1,", "{label: MyoD1,"))
    p = only(problems)
    assert (p.file, p.line, p.path) == (str(path), line_of(path, "label: MyoD1"), "stains.1.term")
    assert p.message == "required key 'term' is missing"


def test_a_site_group_without_terms_names_file_line_and_key(tmp_path):
    path, problems = vocabulary_problems(
        tmp_path, VOCABULARY.replace("  trunk:\n    terms: [back]\n", "  trunk:\n    synonyms: [truncal]\n")
    )
    p = only(problems)
    assert (p.file, p.line, p.path) == (str(path), line_of(path, "truncal"), "site_groups.trunk.terms")
    assert p.message == "required key 'terms' is missing"


def test_either_form_of_a_list_of_terms_is_located_inside_it(tmp_path):
    """A list of terms is a list or ``{terms: [...]}``; an error in either names the key path of the file
    (not the form pydantic chose)."""
    path, problems = vocabulary_problems(
        tmp_path,
        VOCABULARY.replace("depth: {terms: [superficial, deep]}", "depth: {terms: [superficial, [deep]]}").replace(
            "stain_results: [positive, negative]", "stain_results: [positive, {term: negative, synonym: [neg]}]"
        ),
    )
    assert [(p.line, p.path) for p in problems] == [
        (line_of(path, "depth:"), "clinical.depth.terms.1.term"),
        (line_of(path, "stain_results:"), "stain_results.1.synonym"),
    ]
    assert [p.message for p in problems] == [
        "expected text (put a number in quotes to use it as text), got a list",
        "unknown key 'synonym'",
    ]


def test_problems_of_content_keep_their_words(tmp_path):
    """What the model cannot see (a term given twice, a pattern that is not a stain pattern) is worded as before,
    and a site in two groups, which raised a bare ValueError, is such a problem too."""
    text = (
        VOCABULARY.replace("stain_patterns: [nuclear, cytoplasmic]", "stain_patterns: [nuclear, granular]")
        .replace("molecular:\n", "  - {term: desmin}\nmolecular:\n")
        .replace("terms: [back]", "terms: [back, thigh]")
    )
    path, problems = vocabulary_problems(tmp_path, text)
    assert [(p.message, p.file, p.line) for p in problems] == [
        ("site: duplicate site term 'thigh'", str(path), None),
        ("stain: duplicate stain term 'desmin'", str(path), None),
        ("stain desmin: pattern 'cytoplasmic' is not in stain_patterns", str(path), None),
    ]


def test_the_vocabulary_from_the_cache_is_located_the_same(tmp_path, monkeypatch):
    """vocabulary.yaml is read without line markers (from the cache of parsed files); an error reads it
    again with them, so the line is the same whether the text was cached or not."""
    monkeypatch.setenv("DDX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DDX_NO_CACHE", raising=False)
    path = write(tmp_path, "vocabulary.yaml", VOCABULARY.replace("{term: myod1, label: MyoD1,", "{label: MyoD1,"))
    lines = []
    for _ in range(2):
        with pytest.raises(KnowledgeError) as caught:
            load_vocabulary(path)
        lines.append([(p.line, p.path) for p in caught.value.problems])
    assert list((tmp_path / "cache").glob("*.json"))
    assert lines[0] == lines[1] == [(line_of(path, "label: MyoD1"), "stains.1.term")]


def test_a_broken_vocabulary_is_reported_by_the_rules_loader(rules_copy, knowledge):
    vocab = rules_copy / "vocabulary.yaml"
    n = knowledge.vocab.stains.terms.index("cd163")
    vocab.write_text(
        vocab.read_text(encoding="utf-8").replace("  - {term: cd163, label: CD163}\n", "  - {label: CD163}\n"), encoding="utf-8"
    )
    knowledge, problems = load_knowledge_partial(rules_copy)
    p = only(problems)
    assert knowledge is None
    assert str(p) == f"{vocab}:{line_of(vocab, '{label: CD163}')}: stains.{n}.term: required key 'term' is missing"


def test_unread_top_level_keys_of_a_vocabulary_are_refused(tmp_path):
    path, problems = vocabulary_problems(tmp_path, VOCABULARY + "stain_colours: [brown]\n")
    p = only(problems)
    assert (p.line, p.path, p.message) == (line_of(path, "stain_colours"), "stain_colours", "unknown key 'stain_colours'")


def test_the_model_validates_a_mapping_without_a_file(tmp_path):
    """VocabularyFile validates a parsed mapping on its own too (no file needed)."""
    model = VocabularyFile.model_validate(yaml.safe_load(VOCABULARY))
    problems: list[Problem] = []
    vocab = model.vocabulary(tmp_path / "v.yaml", problems)
    assert problems == [] and vocab.source == tmp_path / "v.yaml" and vocab.stains.terms == ["desmin", "myod1"]


# ------------------------------------------------------------------ the hand parser the model replaced


def _termset_before(kind: str, spec: Any, problems: list[Problem], where: str, two_names: bool = False) -> TermSet:
    ts = TermSet(kind, two_names=two_names)
    items = spec.get("terms", []) if isinstance(spec, dict) else spec
    if not isinstance(items, list):
        problems.append(Problem(f"{kind}: expected a list of terms", file=where))
        return ts
    for item in items:
        try:
            if isinstance(item, dict):
                data = {k: v for k, v in item.items() if k != "__line__"}
                term = data.pop("term")
                ts.add(str(term), [str(s) for s in data.pop("synonyms", [])], data.pop("label", None), data.pop("help", None), **data)
            else:
                ts.add(str(item))
        except (KeyError, ValueError, TypeError) as exc:
            problems.append(Problem(f"{kind}: {exc}", file=where))
    return ts


def _vocabulary_before(data: dict[str, Any], path: Path) -> Vocabulary:
    """ddx.knowledge.vocabulary.load_vocabulary as it was before vocabulary.yaml had a model (the reference), for a
    valid file."""
    where = str(path)
    problems: list[Problem] = []
    sites = TermSet("site")
    site_groups = TermSet("site group")
    site_group_of: dict[str, str] = {}
    for group, spec in data["site_groups"].items():
        site_groups.add(group, [str(s) for s in spec.get("synonyms", [])])
        group_terms = _termset_before("site", spec, problems, where)
        for term in group_terms.terms:
            sites.add(term, [s for s, c in group_terms._lookup.items() if c == term and s != term])
            site_group_of[term] = fold(group)
    # words that may name several sites (added after this parser was the loader): each to the sites it may mean
    sites.ambiguous = {fold(w): [fold(m) for m in meant] for w, meant in (data.get("ambiguous_sites") or {}).items()}
    morphology: dict[str, MorphologyField] = {}
    fields = TermSet("morphology field")
    for name, spec in data["morphology"].items():
        kind = spec.get("kind", "term")
        mf = MorphologyField(fold(name), kind)
        if kind in ("list", "term"):
            mf.terms = _termset_before(f"morphology.{name} term", spec, problems, where)
            # compound words (added after this parser was the loader): each to the canonical terms it names
            mf.compounds = {fold(w): tuple(mf.terms.normalize(t) for t in ts) for w, ts in (spec.get("compounds") or {}).items()}
        elif kind == "number":
            mf.min, mf.max = spec.get("min"), spec.get("max")
        morphology[mf.name] = mf
        fields.add(mf.name, [], spec.get("label"), spec.get("help"))
    vocab = Vocabulary(
        sex=_termset_before("sex", data["patient"]["sex"], problems, where),
        depth=_termset_before("depth", data["clinical"]["depth"], problems, where),
        symptoms=_termset_before("symptom", data["clinical"]["symptoms"], problems, where),
        sites=sites,
        site_group_of=site_group_of,
        site_groups=site_groups,
        morphology=morphology,
        morphology_fields=fields,
        presence=_termset_before("result", data["presence"], problems, where),
        # the keys added since (2026-12-02): presence with the morphology's extra words; the words for not done
        morphology_presence=_termset_before(
            "result",
            [
                {**item, "synonyms": [*item.get("synonyms", []), *data.get("morphology_presence", {}).get(item["term"], [])]}
                if isinstance(item, dict)
                else {"term": item, "synonyms": data.get("morphology_presence", {}).get(item, [])}
                for item in data["presence"]
            ],
            problems,
            where,
        ),
        not_done=frozenset(fold(w) for w in data.get("not_done", [])),
        not_done_or_negative=frozenset(fold(w) for w in data.get("not_done_or_negative", [])),
        alteration_words={fold(w): tuple(fold(k) for k in kinds) for w, kinds in (data.get("alteration_words") or {}).items()},
        stain_results=_termset_before("stain result", data["stain_results"], problems, where),
        stain_shorthand={fold(k): v for k, v in data["stain_shorthand"].items()},
        site_sides=tuple(fold(w) for w in data.get("site_sides", [])),
        stain_extents=_termset_before("extent", data["stain_extents"], problems, where),
        stain_intensities=_termset_before("intensity", data["stain_intensities"], problems, where),
        stain_patterns=_termset_before("pattern", data["stain_patterns"], problems, where),
        stains=_termset_before("stain", data["stains"], problems, where, two_names=True),
        molecular=_termset_before("molecular test", data["molecular"], problems, where, two_names=True),
        source=path,
    )
    assert problems == []
    return vocab


@pytest.mark.parametrize(
    "cell, said",
    [
        ({"p": 0.8, "n": "4/5x"}, "looks like a count but is not written k/n"),
        ({"n": "4 / 5 cases"}, "looks like a count but is not written k/n"),
        ({"n": "by definition"}, "is not a count k/n, so the figure needs its p"),
        # an estimated count (rule-editing trial): the count or the estimate, not "p: 1.0, n: 'by definition'"
        ({"n": "~26/30"}, 'a count cannot be an estimate; write the count as k/n (n: "26/30") or the estimate as a share'),
        ({"n": "~26/30"}, "{p: ~0.87, reason:"),
    ],
)
def test_a_mistyped_count_or_a_figure_without_its_p_is_refused_in_ddx_words(cell, said):
    with pytest.raises(ValidationError) as exc:
        Likelihood.model_validate(cell)
    assert said in str(exc.value)
    assert Likelihood.model_validate({"p": 1.0, "n": "by definition"}).p == 1.0  # words beside a p stay allowed


def _with_alk_terms(added: str, *, alk: str = "") -> str:
    """The test vocabulary with ``added`` term lines after its ALK rearrangement (which gets ``alk`` appended)."""
    line = "  - {term: alk_rearrangement, label: ALK rearrangement}\n"
    assert line in VOCABULARY
    return VOCABULARY.replace(line, f"  - {{term: alk_rearrangement, label: ALK rearrangement{alk}}}\n{added}")


def test_a_molecular_test_may_imply_another_and_nothing_else_may(tmp_path):
    """``implies:`` names another molecular test, one step deep; on a stain, an unknown test, the test itself
    or a test that implies a third it is a problem that names the term (and the nearest tests)."""
    good = _with_alk_terms("  - {term: kif5b_alk_fusion, label: KIF5B-ALK fusion, implies: alk_rearrangement}\n")
    vocab = load_vocabulary(write(tmp_path, "vocabulary.yaml", good))
    assert vocab.molecular_implies == {"kif5b_alk_fusion": "alk_rearrangement"}
    bad = (
        good.replace("implies: alk_rearrangement}", "implies: alk_rearangement}")
        + "  - {term: ranbp2_alk_fusion, implies: ranbp2_alk_fusion}\n"
        + "  - {term: eml4_alk_fusion, implies: kif5b_alk_fusion}\n"
        + "  - {term: kif5b_x, implies: eml4_alk_fusion}\n"
    ).replace("  - {term: desmin", "  - {term: desmin, implies: alk_rearrangement")
    _, problems = vocabulary_problems(tmp_path, bad)
    assert [p.message for p in problems] == [
        "stain desmin: 'implies' is for molecular tests only",
        "molecular test kif5b_alk_fusion: implies 'alk_rearangement', which is not another molecular test; "
        "did you mean 'alk_rearrangement'?",
        "molecular test ranbp2_alk_fusion: implies itself; name the gene's rearrangement test",
        "molecular test eml4_alk_fusion: implies 'kif5b_alk_fusion', which implies another test in turn (one step only)",
        "molecular test kif5b_x: implies 'eml4_alk_fusion', which implies another test in turn (one step only)",
    ]


def test_implies_may_name_the_test_by_a_synonym(tmp_path):
    text = _with_alk_terms("  - {term: kif5b_alk_fusion, implies: ALK fusion}\n", alk=", synonyms: [alk_fusion]")
    vocab = load_vocabulary(write(tmp_path, "vocabulary.yaml", text))
    assert vocab.molecular_implies == {"kif5b_alk_fusion": "alk_rearrangement"}


def test_a_word_that_may_name_several_sites_must_name_site_terms_and_not_be_one(tmp_path):
    base = yaml.safe_load(VOCABULARY)
    for given, said in (
        ({"calf": ["thigh", "back"]}, "'calf' is a synonym of 'lower_leg'; remove it from one of the two"),
        ({"Thigh": ["lower_leg", "back"]}, "'Thigh' is a site term; remove it from one of the two"),
        ({"femoral": ["thigh", "bone"]}, "'bone' is not a site term"),
        ({"femoral": ["thigh", "calf"]}, "'calf' is a synonym: write its term 'lower_leg'"),
        ({"femoral": ["thigh", "Thigh"]}, "named twice: 'thigh'"),
        ({"femoral": ["thigh"]}, "a word with one meaning is a synonym of its site term"),
        ({"left": ["thigh", "back"]}, "'left' is a side word"),
        ({"femoral": ["thigh", "back"], "Femoral": ["thigh", "lower_leg"]}, "is given twice"),
    ):
        data = {**base, "site_sides": ["left", "right"], "ambiguous_sites": given}
        path = write(tmp_path, "vocabulary.yaml", yaml.safe_dump(data))
        with pytest.raises(KnowledgeError) as exc:
            load_vocabulary(path)
        assert said in str(exc.value), str(exc.value)
    path = write(tmp_path, "vocabulary.yaml", yaml.safe_dump({**base, "ambiguous_sites": {"Femoral": ["thigh", "back"]}}))
    vocab = load_vocabulary(path)
    assert vocab.sites.ambiguous == {"femoral": ["thigh", "back"]} and "femoral" not in vocab.sites
    assert vocab.sites.suggest("femoral") == ["thigh", "back"]
    # completion offers every site the word may mean, named by it, before a synonym that merely contains it
    assert vocab.sites.complete("femo")[:2] == [("thigh", "femoral"), ("back", "femoral")]


def test_nearest_terms_are_remembered_until_the_set_grows():
    """``TermSet.near`` remembers each word's answer (a misspelt sheet column asks it on every row); a term or
    synonym added later is offered all the same, and an answer's list is the caller's own."""
    stains = TermSet("stain")
    stains.add("desmin")
    assert stains.near("myogenn") == []
    stains.add("myogenin")
    assert stains.near("myogenn") == ["myogenin"]
    stains.add_synonym("myf4", "myogenin")
    assert stains.near("myf_44") == ["myogenin"]
    first = stains.near("desmn")
    first.append("mutated by the caller")
    assert stains.near("desmn") == ["desmin"]


def test_a_misspelt_key_is_placed_the_same_on_every_case(knowledge):
    """``CaseSchema.homes`` is remembered per key and part: the second case with the same misplaced key gets
    the same paths, and a caller's change to one answer is not the next."""
    schema = knowledge.case_schema
    first = schema.homes("age", here="clinical")
    assert first == ["patient.age"]
    first.append("clinical.age")
    assert schema.homes("age", here="clinical") == ["patient.age"]
    assert schema.homes("mitosis", here="") == schema.homes("mitosis", here="") != []
