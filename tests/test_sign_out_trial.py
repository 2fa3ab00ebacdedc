"""What a pathologist writes at sign-out, read as written or refused with what to write (a new user's trial,
2026-12-02): a mitotic count over another number of fields is not copied as if it were per 10 HPF, a count per
mm² is pointed to its own key, and "ND" (not done, or not detected?) is read as neither."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ddx.errors import KnowledgeError
from ddx.knowledge import packaged_rules_dir
from ddx.knowledge.case import problems_from_validation
from ddx.knowledge.load import load_vocabulary
from tests.conftest import validate


def refused(knowledge, raw):
    with pytest.raises(ValidationError) as info:
        validate(knowledge, {"id": "t", **raw})
    found = problems_from_validation(info.value, knowledge.case_schema, file="t.yaml", case="t")
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    "written", ["6/10 HPF", "6 per 10 HPF", "6 mitoses per 10 high-power fields", "6 mitoses/10 HPFs", "6/10hpf", 6, "6"]
)
def test_a_count_per_10_hpf_is_read_with_its_unit(knowledge, written):
    assert validate(knowledge, {"id": "t", "morphology": {"mitoses_per_10hpf": written}}).morphology.mitoses_per_10hpf == 6


@pytest.mark.parametrize(
    ("written", "per_10"), [("5/50 HPF", "1"), ("3 per HPF", "30"), ("12 per 20 HPF", "6"), ("7 mitoses in 50 HPF", "1.4")]
)
def test_a_count_over_other_fields_is_refused_with_the_count_per_10_to_write(knowledge, written, per_10):
    problem = refused(knowledge, {"morphology": {"mitoses_per_10hpf": written}})
    assert problem.path == "morphology.mitoses_per_10hpf"
    assert problem.message.endswith(f"per 10 HPF: write {per_10}"), problem.message


def test_a_count_per_mm2_is_pointed_to_its_own_key_and_back(knowledge):
    problem = refused(knowledge, {"morphology": {"mitoses_per_10hpf": "2/mm2"}})
    assert "morphology.mitoses_per_mm2" in problem.message and "write 2" not in problem.message
    problem = refused(knowledge, {"morphology": {"mitoses_per_mm2": "4 per 10 HPF"}})
    assert "morphology.mitoses_per_10hpf" in problem.message
    assert validate(knowledge, {"id": "t", "morphology": {"mitoses_per_mm2": "2/mm²"}}).morphology.mitoses_per_mm2 == 2


@pytest.mark.parametrize("written", ["1_0", "inf", "nan", "0x10"])
def test_a_number_only_python_reads_is_refused(knowledge, written):
    problem = refused(knowledge, {"morphology": {"mitoses_per_10hpf": written}})
    assert problem.path == "morphology.mitoses_per_10hpf"


@pytest.mark.parametrize(
    ("raw", "path", "negative"),
    [
        ({"stains": {"desmin": "ND"}}, "stains.desmin", "negative"),
        ({"stains": {"desmin": {"result": "n.d.", "extent": "focal"}}}, "stains.desmin", "negative"),
        ({"molecular": {"alk_rearrangement": "N/D"}}, "molecular.alk_rearrangement", "absent"),
    ],
)
def test_nd_is_refused_with_both_readings(knowledge, raw, path, negative):
    problem = refused(knowledge, raw)
    assert problem.path == path
    assert "not done or not detected" in problem.message and f"write {negative}" in problem.message
    assert not problem.suggestions  # neither reading offered as the fix


def test_a_word_read_already_cannot_be_listed_as_either_reading(tmp_path):
    text = (packaged_rules_dir() / "vocabulary.yaml").read_text(encoding="utf-8")
    assert "not_done_or_negative: [nd," in text
    path = tmp_path / "vocabulary.yaml"
    path.write_text(text.replace("not_done_or_negative: [nd,", "not_done_or_negative: [na, neg, nd,"), encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_vocabulary(path)
    said = [str(p) for p in caught.value.problems]
    assert any("'na'" in s and "not done" in s for s in said) and any("'neg'" in s for s in said), said
