"""The validation fast path (ddx/fastcase.py) against the pydantic model it stands in for.

Every input goes through ``validate_raw`` twice: as ddx reads it (the fast path where it applies,
else the model) and with the fast path switched off (the model alone). The two must give the same
case — the same classes, field values and their types, fields set, dict order, ``model_dump`` and
facts — or the same problems, word for word. The inputs: every case file in cases/, every row of
the sheets and workbooks in tests/data, byte-mutated case files (tests/test_fuzz.py's mutator),
synthetic cases as mappings and as sheet rows, synthetic cases with one value made odd, and sheets
with odd cells and columns. A sheet row read straight from its cells (``fast_row``) must give the
case its mapping gives. The fast path must actually be taken for canonical synthetic rows (else the
comparison is empty), and must decline the hand-made unusual inputs below. The sheet row -> mapping
step and ``case_facts`` are held equal to their plain versions from before they were made faster.
"""

from __future__ import annotations

import copy
import csv
import random
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from ddx.facts import case_facts
from ddx.knowledge import Knowledge
from ddx.loader import (
    _DECIMAL_COMMA,
    LIST_SEPARATORS,
    _put,
    _row_to_case,
    iter_raw,
    row_to_case,
    validate_case,
    validate_raw,
    write_sheet,
)
from ddx.synthetic import synthetic_case
from tests.conftest import CASES, REPO
from tests.test_fuzz import mutate

DATA = REPO / "tests" / "data"


@pytest.fixture(scope="module")
def model_only(knowledge: Knowledge) -> Knowledge:
    """The same knowledge base with the fast path switched off: every case is validated by the model."""
    other = copy.copy(knowledge)
    schema = copy.copy(knowledge.case_schema)  # the same model classes
    schema._fast = False
    other.__dict__["case_schema"] = schema
    return other


def state(value: Any) -> Any:
    """Everything a consumer could see of a case: each model's class, fields in order with their values
    and types, fields set, extra and private; dicts with their key order; lists item by item."""
    if isinstance(value, BaseModel):
        return (
            type(value),
            [(k, state(v)) for k, v in value.__dict__.items()],
            value.model_fields_set,
            value.__pydantic_extra__,
            value.__pydantic_private__,
        )
    if isinstance(value, dict):
        return dict, [(k, state(v)) for k, v in value.items()]
    if isinstance(value, list):
        return list, [state(v) for v in value]
    return type(value), value


def _containers(value: Any) -> list[Any]:
    """Every list and dict in a mapping or a case (which must not share one with its input)."""
    if isinstance(value, BaseModel):
        return [c for v in value.__dict__.values() for c in _containers(v)]
    if isinstance(value, dict):
        return [value] + [c for v in value.values() for c in _containers(v)]
    if isinstance(value, list):
        return [value] + [c for v in value for c in _containers(v)]
    return []


class Tally:
    def __init__(self) -> None:
        self.fast = self.model = self.failed = self.rows = 0


def same(knowledge: Knowledge, model_only: Knowledge, raw: Any, tally: Tally, *, validate: Any = validate_raw) -> None:
    """``raw`` (a RawCase, or a mapping with validate=validate_case) validated both ways gives the same."""
    where = f"{getattr(raw, 'label', raw)!r}"
    try:
        want = validate(raw, model_only)
    except Exception as exc:  # noqa: BLE001 - the model's own failure (a lone surrogate in a number): the same one
        with pytest.raises(type(exc)) as raised:
            validate(raw, knowledge)
        assert str(raised.value) == str(exc), where
        tally.failed += 1
        return
    got = validate(raw, knowledge)
    assert (got.file, got.index, got.id, got.line, got.sheet) == (want.file, want.index, want.id, want.line, want.sheet), where
    assert got.problems == want.problems, where
    assert [str(p) for p in got.problems] == [str(p) for p in want.problems], where
    if want.case is None:
        assert got.case is None, where
        tally.failed += 1
        return
    assert got.case is not None, where
    assert state(got.case) == state(want.case), where
    assert got.case == want.case, where
    assert got.case.model_dump() == want.case.model_dump(), where
    assert got.case.model_dump_json() == want.case.model_dump_json(), where
    facts, expected = case_facts(got.case, knowledge.vocab), case_facts(want.case, knowledge.vocab)
    assert list(facts.items()) == list(expected.items()), where
    assert [type(v) for v in facts.values()] == [type(v) for v in expected.values()], where
    before = _case_facts_before(want.case, knowledge.vocab)
    assert list(facts.items()) == list(before.items()), where
    assert [type(v) for v in facts.values()] == [type(v) for v in before.values()], where
    keys = sorted(before)[::3]
    assert list(case_facts(got.case, knowledge.vocab, keys).items()) == list(
        _case_facts_before(want.case, knowledge.vocab, iter(keys)).items()
    ), where
    data = raw.mapping() if hasattr(raw, "mapping") else raw
    given = {id(v) for v in _containers(data)}
    assert not any(id(v) in given for v in _containers(got.case)), f"{where}: the case shares a list or dict with its input"
    fast = knowledge.case_schema.fast(data)
    if getattr(raw, "cells", None) is not None:  # a sheet row: read from its cells, the same case as its mapping's
        from_row = knowledge.case_schema.fast_row(raw.columns, raw.cells, raw.decimal_comma)
        row_facts = knowledge.case_schema.fast_row_facts(raw.columns, raw.cells, raw.decimal_comma)
        assert (row_facts is None) == (from_row is None), where  # read straight to facts exactly where the row is fast
        if from_row is not None:
            assert fast is not None and state(from_row) == state(fast), where
            # what the batch ranks: the row's facts, read without making the case, are the case's facts
            assert (row_facts.id, row_facts.expected) == (want.case.id, want.case.expected), where
            assert list(row_facts.facts.items()) == list(expected.items()), where
            assert [type(v) for v in row_facts.facts.values()] == [type(v) for v in expected.values()], where
            tally.rows += 1
    if fast is not None:
        tally.fast += 1
    else:
        tally.model += 1


def test_case_files_and_sheets(knowledge, model_only):
    tally = Tally()
    files = sorted(CASES.rglob("*.yaml")) + sorted(DATA.iterdir())
    for path in files:
        for raw in iter_raw(path, knowledge.vocab):
            same(knowledge, model_only, raw, tally)
    assert tally.fast and tally.model and tally.failed  # each way was taken


def _synthetic(knowledge: Knowledge, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [synthetic_case(knowledge.vocab, rng, f"fp-{seed}-{i}", density=rng.choice([0.1, 0.35, 0.7])) for i in range(count)]


def _synthetic_rows(knowledge: Knowledge, model_only: Knowledge, tmp_path: Path, count: int, seed: int) -> None:
    cases = _synthetic(knowledge, count, seed)
    sheet = tmp_path / "synthetic.csv"
    write_sheet(cases, sheet)
    rows = Tally()
    for raw in iter_raw(sheet, knowledge.vocab):
        assert knowledge.case_schema.fast(raw.mapping()) is not None, raw.label  # canonical: the fast path
        same(knowledge, model_only, raw, rows)
    assert rows.fast == rows.rows == count and not rows.failed  # every row read from its cells
    mappings = Tally()
    for case in cases:
        assert knowledge.case_schema.fast(case) is not None, case["id"]
        same(knowledge, model_only, case, mappings, validate=validate_case)
    assert mappings.fast == count


def test_synthetic_cases_take_the_fast_path_and_equal_the_model(knowledge, model_only, tmp_path):
    _synthetic_rows(knowledge, model_only, tmp_path, 1500, 19)


@pytest.mark.slow
def test_synthetic_cases_take_the_fast_path_and_equal_the_model_20000(knowledge, model_only, tmp_path):
    _synthetic_rows(knowledge, model_only, tmp_path, 20_000, 1919)


def _odd_values(knowledge: Knowledge, rng: random.Random, value: Any) -> list[Any]:
    """Values near a canonical one that the fast path must either take exactly as the model does or leave
    to the model: other spellings, whitespace, types, numbers out of range or written oddly."""
    vocab = knowledge.vocab
    odd: list[Any] = [
        None,
        True,
        False,
        0,
        -1,
        0.5,
        121,
        301,
        1001,
        1e9,
        2**60,
        float("nan"),
        float("inf"),
        "",
        " ",
        "35",
        "35.0",
        ".5",
        "5.",
        "-0",
        "1e2",
        "0x10",
        "1_0",
        "35 ",
        " 35",
        "6 cm",
        "6,5",
        "40%",
        "40 %",
        "nan",
        "inf",
        "\u0663\u0665",
        "1\u00b2",
        [],
        {},
        ["x"],
        {"result": "positive"},
        "yes",
        "no",
        "positive",
        "Positive",
        "focal",
        "diffuse strong",
        "strong",
        "nuclear",
        "nuclear membrane",
        "present",
        "absent",
        "x\ud800",
        "2020-01-01",
        "a\x1c",
    ]
    if isinstance(value, str):
        odd += [
            value.upper(),
            value.title(),
            f" {value}",
            f"{value} ",
            value.replace("_", " "),
            value + "\x1c",
            value.replace("_", "-"),
        ]
    if isinstance(value, list) and value:
        odd += [value[0], ", ".join(value), [*value, value[0]], [v.upper() for v in value], [*value, None]]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        odd += [str(value), f"{value}%", -value, value * 1000, int(value), float(value)]
    synonyms = [
        w
        for ts in (
            vocab.sex,
            vocab.sites,
            vocab.depth,
            vocab.symptoms,
            vocab.presence,
            vocab.stain_results,
            vocab.stain_patterns,
            vocab.stain_extents,
        )
        for w, c in ts._lookup.items()
        if w != c
    ]
    odd += rng.sample(synonyms, 3)
    return odd


def _leaves(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(data, dict):
        out = [path + (k,) for k in data] if path else []
        for key, value in data.items():
            out += _leaves(value, path + (key,)) if isinstance(value, dict) else []
        return out or [path]
    return [path]


def _replaced(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


TEXTS = [
    " x",
    "x ",
    "x\x1c",
    "\x1fx",
    "x\ud800",
    "\u2003x",
    "x\u00a0",
    "x\u3000",
    "plain text",
    "",
    "\u00fcn\u00efcode",
    "two\nlines",
    "x\n",
    5,
    5.5,
    None,
    True,
    ["x"],
    "srms",
    "SRMS",
    " srms",
    "srms ",
]


def _perturbed(knowledge: Knowledge, model_only: Knowledge, count: int, seed: int) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    for case in _synthetic(knowledge, count, seed):
        paths = [p for p in _leaves(case) if p]
        path = rng.choice(paths)
        node: Any = case
        for key in path:
            node = node[key]
        for value in rng.sample(_odd_values(knowledge, rng, node), 4):
            same(knowledge, model_only, _replaced(case, path, value), tally, validate=validate_case)
        # free text: kept as written, stripped by the model, or refused (a lone surrogate)
        where = rng.choice([("title",), ("notes",), ("source",), ("expected",), ("clinical", "presentation")])
        text = rng.choice(TEXTS + [rng.choice(knowledge.entity_terms.terms)])
        same(
            knowledge,
            model_only,
            _replaced({**case, "clinical": dict(case.get("clinical", {}))}, where, text),
            tally,
            validate=validate_case,
        )
        # a key renamed: a synonym of a stain, a capital letter, a key of another part, a key unknown
        renamed = dict(case)
        renamed[rng.choice(["Id", "age", "patient ", "stain", "morphology.cell_types", "alk", "notes"])] = case.get("notes", "x")
        same(knowledge, model_only, renamed, tally, validate=validate_case)
    return tally


ODD_CELLS = [
    "Positive",
    " thigh",
    "thigh ",
    "6 cm",
    "12,5",
    "12.5",
    "40%",
    "a; B",
    "nuclear membrane",
    "nuclear_rim",
    "focal",
    "strong",
    "diffuse strong",
    "yes",
    "present",
    "absent",
    "1e2",
    "-1",
    "999",
    "male",
    "m",
    "x",
    "pain; painful",
    "pain,pain",
    "|",
    "0",
    "0,5",
    "srms",
    "SRMS",
    "\u00fc",
    "two\nlines",
]
ODD_COLUMNS = [
    "stains.alk.result",
    "patient",
    "Stains.alk",
    "stains.ALK",
    "stains.alk.pattern",
    "stains.cd68.percent",
    "morphology.cell_types",
    "morphology.cell_types.x",
    "molecular.ALK",
    "molecular.alk_fish",
    "expected",
    "notes",
    "title",
    "age",
    "",
    "clinical.presentation",
    "clinical.symptoms",
    "stains.desmin.extent",
]


def _odd_sheets(knowledge: Knowledge, model_only: Knowledge, tmp_path: Path, count: int, seed: int) -> Tally:
    """Synthetic rows with odd cells, in sheets with an odd column or none, separated by ',' or ';' (where a
    decimal comma in a number column is a decimal point): read from the cells, from the mapping, by the model."""
    rng = random.Random(seed)
    tally = Tally()
    for n in range(count // 20):
        cases = _synthetic(knowledge, 20, seed * 1000 + n)
        extra = rng.sample(ODD_COLUMNS, rng.randint(0, 2))
        for case in cases:
            for column in extra:
                if rng.random() < 0.7:
                    case[column] = rng.choice(ODD_CELLS)  # flatten_case writes a dotted key as its column
        delimiter = rng.choice([",", ";"])
        sheet = tmp_path / f"odd-{n}.csv"
        write_sheet(cases, sheet, delimiter=delimiter)
        with sheet.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter=delimiter))
        for cells in rows[1:]:  # some cells made odd
            if rng.random() < 0.6:
                cells[rng.randrange(1, len(cells))] = rng.choice(ODD_CELLS)
        if rng.random() < 0.5:  # the columns in another order (write_sheet sorts them)
            order = list(range(len(rows[0])))
            rng.shuffle(order)
            rows = [[cells[i] for i in order] for cells in rows]
        with sheet.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, delimiter=delimiter, lineterminator="\n").writerows(rows)
        for raw in iter_raw(sheet, knowledge.vocab):
            same(knowledge, model_only, raw, tally)
    return tally


def test_odd_sheet_rows_give_what_the_model_gives(knowledge, model_only, tmp_path):
    tally = _odd_sheets(knowledge, model_only, tmp_path, 1000, 5)
    assert tally.rows and tally.fast > tally.rows and tally.model and tally.failed


@pytest.mark.slow
def test_odd_sheet_rows_give_what_the_model_gives_many(knowledge, model_only, tmp_path):
    _odd_sheets(knowledge, model_only, tmp_path, 6000, 55)


def test_stain_columns_in_any_order_and_combination(knowledge, model_only, tmp_path):
    """stains.X, stains.X.result and stains.X.pattern in every order, each empty or holding a result, a
    shorthand, a pattern or an odd word; the id given or not: read from the cells as the mapping reads them."""
    from itertools import permutations, product

    words = ["", "positive", "focal", "nuclear_membrane", "Positive"]
    tally = Tally()
    for n, order in enumerate(permutations(["stains.alk", "stains.alk.result", "stains.alk.pattern"])):
        sheet = tmp_path / f"order-{n}.csv"
        with sheet.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["id", *order, "molecular.alk_rearrangement"])
            for m, cells in enumerate(product(words, repeat=3)):
                writer.writerow(["" if m % 17 == 0 else f"r{m}", *cells, ["", "present", "Present"][m % 3]])
        for raw in iter_raw(sheet, knowledge.vocab):
            same(knowledge, model_only, raw, tally)
    # every row the mapping's fast path takes is read from its cells (the columns are all plain)
    assert tally.rows == tally.fast and tally.failed and tally.model


def test_near_canonical_values_give_what_the_model_gives(knowledge, model_only):
    tally = _perturbed(knowledge, model_only, 400, 7)
    assert tally.fast and tally.model and tally.failed


@pytest.mark.slow
def test_near_canonical_values_give_what_the_model_gives_many(knowledge, model_only):
    _perturbed(knowledge, model_only, 5000, 77)


@pytest.mark.parametrize("budget", [2000, pytest.param(20_000, marks=pytest.mark.slow)])
def test_mutated_case_files(knowledge, model_only, tmp_path, budget):
    sources = [p.read_bytes() for p in sorted(CASES.rglob("*.yaml"))]
    master = random.Random(20261130)
    tally = Tally()
    for _ in range(budget):
        rng = random.Random(master.randrange(2**32))
        target = tmp_path / rng.choice(["case.yaml", "case.json", "case.yml"])
        target.write_bytes(mutate(rng.choice(sources), rng))
        for raw in iter_raw(target, knowledge.vocab):
            same(knowledge, model_only, raw, tally)
    assert tally.fast and tally.failed


BASE = {
    "id": "u1",
    "patient": {"age": 35, "sex": "male"},
    "clinical": {"site": "thigh", "symptoms": ["pain"]},
    "stains": {"alk": "positive", "desmin": {"result": "positive", "extent": "focal", "percent": 40}},
    "molecular": {"alk_rearrangement": "present"},
}

UNUSUAL = {  # (where, value): normalised by the model, or refused by it with its own message
    "a synonym": (("patient", "sex"), "man"),
    "a synonym of a stain pattern": (("stains", "alk"), {"result": "positive", "pattern": "nuclear_rim"}),
    "a capital letter": (("stains", "alk"), "Positive"),
    "a capital letter in a key": (("stains", "ALK"), "positive"),
    "a space for an underscore": (("clinical", "site"), "lower leg"),
    "extra whitespace": (("clinical", "site"), " thigh"),
    "out of range": (("patient", "age"), 130),
    "out of range, as text": (("patient", "age"), "-1"),
    "a number as text with its unit": (("morphology", "mitoses_per_10hpf"), "6 mitoses"),
    "a size in millimetres": (("clinical", "size_cm"), "60 mm"),
    "a number in exponent form": (("patient", "age"), "1e1"),
    "a decimal comma": (("patient", "age"), "35,5"),
    "a percentage with its sign": (("stains", "desmin"), {"result": "positive", "percent": "40%"}),
    "a YAML boolean": (("molecular", "alk_rearrangement"), True),
    "an empty value": (("patient", "sex"), None),
    "an unknown key": (("patient", "weight"), 70),
    "a key of another part": (("age",), 35),
    "a stain result given as an intensity": (("stains", "alk"), "strong"),
    "a pattern the stain does not take": (("stains", "desmin"), {"result": "positive", "pattern": "nuclear_membrane"}),
    "an id that is a number": (("id",), 1001),
    "an id with a space": (("id",), "u 1"),
    "a single symptom, not a list": (("clinical", "symptoms"), "Pain"),
}


@pytest.mark.parametrize("name", list(UNUSUAL))
def test_unusual_inputs_are_left_to_the_model(knowledge, model_only, name):
    path, value = UNUSUAL[name]
    data = copy.deepcopy(BASE)
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    assert knowledge.case_schema.fast(BASE) is not None  # the case it is made from takes the fast path
    assert knowledge.case_schema.fast(data) is None
    tally = Tally()
    same(knowledge, model_only, data, tally, validate=validate_case)
    assert tally.failed or tally.model


def test_unusual_inputs_keep_the_models_normalisations_and_messages(knowledge):
    """Spot checks that the comparison above compares something: what the model makes of a few of them."""

    def loaded(path: tuple[str, ...], value: Any) -> Any:
        data = copy.deepcopy(BASE)
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        return validate_case(data, knowledge)

    assert loaded(*UNUSUAL["a synonym"]).case.patient.sex == "male"
    assert loaded(*UNUSUAL["a capital letter"]).case.stains["alk"].result == "positive"
    assert loaded(*UNUSUAL["a space for an underscore"]).case.clinical.site == "lower_leg"
    assert [str(p) for p in loaded(*UNUSUAL["out of range"]).problems] == [
        "<input>: case 'u1': patient.age: must be 120 or less (got 130)"
    ]
    assert "write the number alone (6)" in str(loaded(*UNUSUAL["a number as text with its unit"]).problems[0])
    assert loaded(*UNUSUAL["a size in millimetres"]).case.clinical.size_cm == 6.0
    assert "write 'present'" in str(loaded(*UNUSUAL["a YAML boolean"]).problems[0])
    assert "patient.age" in loaded(*UNUSUAL["a key of another part"]).problems[0].suggestions


def test_shorthand_and_canonical_forms_are_built_as_the_model_builds_them(knowledge, model_only):
    """Stain findings in every canonical form: a result alone, a shorthand alone, a mapping with a
    shorthand result and its own extent, every field given."""
    vocab = knowledge.vocab
    stains = vocab.stains.terms
    forms: list[Any] = list(vocab.stain_results.terms) + list(vocab.stain_shorthand)
    forms += [{"result": w, "extent": e} for w in vocab.stain_shorthand for e in vocab.stain_extents.terms]
    forms += [
        {"result": r, "extent": e, "intensity": i, "percent": p}
        for r in vocab.stain_results.terms
        for e in vocab.stain_extents.terms
        for i in vocab.stain_intensities.terms
        for p in (0, 0.5, "12.5", 100)
    ]
    tally = Tally()
    for n, form in enumerate(forms):
        for stain in stains[n % 7 :: 7]:
            same(knowledge, model_only, {"id": f"s{n}", "stains": {stain: form}}, tally, validate=validate_case)
    for stain in stains:
        for pattern in vocab.stain_patterns.terms:
            same(
                knowledge,
                model_only,
                {"id": "p", "stains": {stain: {"result": "positive", "pattern": pattern}}},
                tally,
                validate=validate_case,
            )
    assert tally.fast > len(forms) and tally.failed  # patterns a stain does not take are refused


# --- the sheet row -> mapping step ---------------------------------------------------------------


def _row_to_case_before(specs: list[Any], row: list[str], decimal_comma: bool = False) -> dict[str, Any]:
    """ddx.loader._row_to_case as it was before it was made faster (the reference)."""
    case: dict[str, Any] = {}
    for (name, parts, is_list, is_number), cell in zip(specs, row):
        if not cell or not name:
            continue
        value = cell.strip()
        if not value:
            continue
        if is_list:
            _put(case, parts, [v for v in LIST_SEPARATORS.split(value) if v], name)
        else:
            if is_number and decimal_comma:
                value = _DECIMAL_COMMA.sub(r"\1.\2\3", value)
            _put(case, parts, value, name)
    return case


def _outcome(make: Any, *args: Any) -> Any:
    try:
        return "ok", make(*args)
    except ValueError as exc:
        return "error", str(exc)


def test_row_to_case_equals_the_plain_loop(knowledge, tmp_path):
    rng = random.Random(3)
    write_sheet(_synthetic(knowledge, 300, 3), tmp_path / "s.csv")
    raws = [
        r for path in [tmp_path / "s.csv", *sorted(DATA.iterdir())] for r in iter_raw(path, knowledge.vocab) if r.cells is not None
    ]
    assert len(raws) > 300
    for raw in raws:
        for comma in (False, True):
            assert _outcome(_row_to_case, raw.columns, raw.cells, comma) == _outcome(
                _row_to_case_before, raw.columns, raw.cells, comma
            ), raw.label
    lists = {"clinical.symptoms", "morphology.cell_types"}
    numbers = {"patient.age"}
    odd_columns = [
        ["id", "stains.alk", "stains.alk.pattern"],
        ["id", "stains.alk.pattern", "stains.alk"],
        ["id", "patient", "patient.age"],
        ["id", "patient.age", "patient"],
        ["id", "", "notes"],
        ["id", "stains.alk.pattern.x", "stains.alk"],
        ["id", "a.b.c", "a.b"],
        ["id", "a.b", "a.b.c"],
        ["id", "clinical.symptoms", "morphology.cell_types", "patient.age"],
    ]
    cells = ["", " ", "x", " 35 ", "70,5", "12,5 %", "a; b", "a,,b", "|", " ; ", "nuclear membrane"]
    for columns in odd_columns:
        for _ in range(60):
            row = [rng.choice(cells) for _ in columns]
            row[0] = "r1"
            for comma in (False, True):
                got = _outcome(row_to_case, columns, row, lists, numbers, comma)
                specs = [
                    (c, c.split("."), c in lists, c in numbers or bool(re.fullmatch(r"stains\.[^.]+\.percent", c))) for c in columns
                ]
                assert got == _outcome(_row_to_case_before, specs, row, comma), (columns, row)


# --- facts --------------------------------------------------------------------------------------


def _case_facts_before(case: Any, vocab: Any, keys: Any = None) -> dict[str, Any]:
    """ddx.facts.case_facts as it was before it was made faster (the reference)."""
    facts: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value is None or value == []:
            return
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
        facts[key] = value

    patient = getattr(case, "patient", None)
    if patient is not None:
        put("patient__age", patient.age)
        put("patient__sex", patient.sex)
    clinical = getattr(case, "clinical", None)
    if clinical is not None:
        put("clinical__site", clinical.site)
        if clinical.site:
            put("clinical__site_group", vocab.site_group_of.get(clinical.site))
        put("clinical__depth", clinical.depth)
        put("clinical__size_cm", clinical.size_cm)
        put("clinical__symptoms", sorted(set(clinical.symptoms)))
    morphology = getattr(case, "morphology", None)
    if morphology is not None:
        for name in vocab.morphology:
            value = getattr(morphology, name, None)
            if isinstance(value, list):
                value = sorted(set(value))
            put(f"morphology__{name}", value)
    for stain, finding in (getattr(case, "stains", None) or {}).items():
        base = f"stains__{stain}"
        put(base, finding.result)
        put(base + "__extent", finding.extent)
        put(base + "__intensity", finding.intensity)
        put(base + "__pattern", finding.pattern)
        put(base + "__percent", finding.percent)
    for test, result in (getattr(case, "molecular", None) or {}).items():
        put(f"molecular__{test}", result)
    for test, implied in vocab.molecular_implies.items():  # a named fusion is its gene's rearrangement
        if facts.get(f"molecular__{test}") == "present":
            put(f"molecular__{implied}", "present")
    if keys is not None:
        wanted = set(keys)
        facts = {k: v for k, v in facts.items() if k in wanted}
    return facts


# --- the fast path stands down where it does not mirror the model ---------------------------------


def test_a_model_the_fast_path_does_not_mirror_turns_it_off(knowledge):
    """A validator added to the case model, by decorator or in a field's annotation, that the fast path
    does not know: the schema's own check finds it, and every case takes the model."""
    from typing import Annotated

    from pydantic import AfterValidator, create_model, field_validator

    from ddx.knowledge.case import build_case_schema

    base = build_case_schema(knowledge.vocab, knowledge.entity_terms)
    assert base.fast({"id": "a", "title": "t"}) is not None

    shouted = create_model("Case", __base__=base.model, title=(Annotated[str | None, AfterValidator(lambda v: v and v.upper())], None))
    decorated = create_model("Case", __base__=base.model, __validators__={"upper": field_validator("notes")(lambda cls, v: v)})
    for model in (shouted, decorated):
        schema = build_case_schema(knowledge.vocab, knowledge.entity_terms)
        schema.model = model
        schema.models["case"] = model
        assert schema.fast({"id": "a", "title": "t"}) is None
        assert schema.validate({"id": "a", "title": "t"}).title == ("T" if model is shouted else "t")


@pytest.mark.parametrize(
    "options",
    [
        {"suggest": False, "lean": True, "want_json": True, "want_rows": False, "evidence_for": 3},
        {"suggest": True, "lean": True, "want_json": True, "want_rows": False, "evidence_for": 3},
        {"suggest": True, "lean": False, "want_json": True, "want_rows": True, "evidence_for": None},
    ],
    ids=["lean-no-suggest", "lean", "full-rows"],
)
def test_a_batch_ranks_a_canonical_row_from_its_facts_as_from_its_case(knowledge, model_only, tmp_path, options, monkeypatch):
    """``ddx batch`` reads a plainly canonical sheet row straight to its facts (no case model): every row it
    gives (JSON line, leaders, band, next test, unused findings ...) is the one the validated case gives."""
    from dataclasses import asdict

    from ddx.batch import BatchOptions, run_batch

    sheet = tmp_path / "rows.csv"
    cases = _synthetic(knowledge, 300, 23)
    cases[5]["expected"] = "imt"
    write_sheet(cases, sheet)
    opts = BatchOptions(top=3, **options)
    model = [asdict(r) for r in run_batch([str(sheet)], model_only, opts)]
    from ddx.analysis import Analyzer

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a canonical row went through the case model")

    monkeypatch.setattr(Analyzer, "analyze", refused)  # every row must take the facts path
    fast = [asdict(r) for r in run_batch([str(sheet)], knowledge, opts)]
    assert len(fast) == len(model) == 300 and fast[5]["expected"] == "imt"
    assert fast == model


# --- the start-up self-check ----------------------------------------------------------------------


def test_self_check_refuses_a_facts_path_that_differs_from_case_facts(knowledge, monkeypatch):
    """facts_row writes the facts case_facts writes, from the row's checked values: the start-up self-check
    reads the probe cases as sheet rows too, so a change to one writer alone turns the fast path off (every
    row then takes the model) instead of ranking different facts."""
    import ddx.fastcase as fastcase

    schema = knowledge.case_schema
    fastcase.FastCase(schema)  # as it stands: accepted

    def one_key_more(case: Any, vocab: Any, *args: Any) -> dict[str, Any]:
        return {**case_facts(case, vocab, *args), "patient__age_band": "adult"}

    monkeypatch.setattr(fastcase, "case_facts", one_key_more)
    with pytest.raises(ValueError, match="facts path and the model differ"):
        fastcase.FastCase(schema)
    monkeypatch.undo()

    real = fastcase.FastCase.facts_row

    def age_as_int(self: Any, *args: Any) -> Any:  # an equal value of another type: only the type check sees it
        got = real(self, *args)
        if got is not None and isinstance(got.facts.get("patient__age"), float) and got.facts["patient__age"].is_integer():
            got.facts["patient__age"] = int(got.facts["patient__age"])
        return got

    monkeypatch.setattr(fastcase.FastCase, "facts_row", age_as_int)
    with pytest.raises(ValueError, match="facts path and the model differ"):
        fastcase.FastCase(schema)
    monkeypatch.undo()

    def declined(self: Any, *args: Any) -> Any:  # the facts reader declines a row the case reader takes
        return None

    monkeypatch.setattr(fastcase.FastCase, "facts_row", declined)
    with pytest.raises(ValueError, match="readers disagree"):
        fastcase.FastCase(schema)


def test_the_fast_path_is_on_for_the_packaged_rules(knowledge):
    """The start-up self-check turns the fast path off silently (every case then takes the model, ~3x slower):
    for the packaged rules it must be on, and take every probe row."""
    from ddx.fastcase import FastCase

    schema = knowledge.case_schema
    assert schema.fast({"id": "x", "patient": {"age": 35}}) is not None
    assert isinstance(schema._fast, FastCase)


def test_a_vocabulary_whose_numbers_a_sheet_cell_cannot_hold_keeps_the_fast_path(tmp_path):
    """A --rules vocabulary allowing a negative number or a minimum written 1e-05: its probe row is declined
    by both row readers (such cells take the model), which is no mismatch, so the fast path stays on."""
    import shutil

    from ddx.fastcase import FastCase
    from ddx.knowledge import load_knowledge

    for minimum in ("-5", "0.00001"):
        rules = tmp_path / f"rules{minimum}"
        shutil.copytree(REPO / "rules", rules)
        vocab = rules / "vocabulary.yaml"
        text = vocab.read_text(encoding="utf-8")
        assert "  mitoses_per_10hpf:\n    kind: number\n    min: 0\n" in text
        vocab.write_text(
            text.replace(
                "  mitoses_per_10hpf:\n    kind: number\n    min: 0\n", f"  mitoses_per_10hpf:\n    kind: number\n    min: {minimum}\n"
            ),
            encoding="utf-8",
        )
        schema = load_knowledge(rules).case_schema
        assert schema.fast({"id": "x", "patient": {"age": 35}}) is not None, minimum
        assert isinstance(schema._fast, FastCase), minimum


def test_probe_rows_cover_every_column_the_facts_path_reads(knowledge):
    """The probe rows the self-check reads give every stain, molecular test and morphology field a column."""
    from ddx.fastcase import _probe_row, _probes

    vocab = knowledge.vocab
    columns = {c for probe in _probes(vocab, knowledge.case_schema.entities) for c in _probe_row(probe)[0]}
    assert {f"stains.{s}" for s in vocab.stains.terms} <= columns
    assert {f"molecular.{t}" for t in vocab.molecular.terms} <= columns
    assert {f"morphology.{m}" for m in vocab.morphology} <= columns
    assert {"patient.age", "patient.sex", "clinical.site", "clinical.symptoms", "id"} <= columns
    from ddx.fastcase import FastCase
    from ddx.loader import column_specs, list_columns, number_columns

    fast = FastCase(knowledge.case_schema)
    for probe in _probes(vocab, knowledge.case_schema.entities):  # each taken by the row readers, so each is compared
        columns_, cells = _probe_row(probe)
        specs = column_specs(columns_, list_columns(vocab), number_columns(vocab))
        assert fast.build_row(specs, cells) is not None and fast.facts_row(specs, cells) is not None, probe["id"]
