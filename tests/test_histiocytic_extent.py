"""The extent of CD163 (ihc.cd163.diffuse): diffuse staining places the macrophage marker in the lesional
cells (ALK-positive histiocytosis, xanthogranuloma), focal or patchy staining in background histiocytes (IMT,
ILMS). The extent is conditional on CD163 positive, so the positivity is counted once (by ihc.cd163), and
CD68's extent is not read (KP1 is lysosomal and marks many sarcomas' tumour cells)."""

from __future__ import annotations

from tests.conftest import validate

# an ALK-positive spindle cell lesion with a macrophage marker: IMT and ALK-positive histiocytosis both fit
BASE = {
    "id": "cd163-extent",
    "patient": {"age": 30, "sex": "female"},
    "clinical": {"site": "breast"},
    "morphology": {"cell_types": ["spindle"], "inflammation": ["lymphocytes"]},
    "molecular": {"alk_rearrangement": "present"},
}


def _analysis(knowledge, analyzer, **stains):
    return analyzer.analyze(validate(knowledge, {**BASE, "stains": {"alk": "positive", **stains}}))


def _odds(analysis, a="alkh", b="imt"):
    p = {r.entity: r.probability for r in analysis.ranking}
    return p[a] / p[b]


def test_diffuse_cd163_favours_the_histiocytic_neoplasm_and_focal_the_myofibroblastic(knowledge, analyzer):
    positive = _analysis(knowledge, analyzer, cd163="positive")
    diffuse = _analysis(knowledge, analyzer, cd163="diffuse")
    focal = _analysis(knowledge, analyzer, cd163={"result": "positive", "extent": "focal"})
    assert not {"ihc.cd163.diffuse", "ihc.cd163.diffuse:not"} & positive.matched
    assert "ihc.cd163.diffuse" in diffuse.matched and "ihc.cd163" in diffuse.matched
    assert "ihc.cd163.diffuse:not" in focal.matched
    assert _odds(diffuse) > 5 * _odds(positive)
    assert _odds(focal) < _odds(positive) / 2
    # the extent is read, so it is not listed as a finding the ranking did not use
    assert not any(u.path == "stains.cd163.extent" for u in diffuse.unused)


def test_the_extent_of_cd68_is_not_read(knowledge, analyzer):
    positive = _analysis(knowledge, analyzer, cd68="positive")
    diffuse = _analysis(knowledge, analyzer, cd68="diffuse")
    assert [(r.entity, r.probability) for r in diffuse.ranking] == [(r.entity, r.probability) for r in positive.ranking]
    assert any(u.path == "stains.cd68.extent" for u in diffuse.unused)
