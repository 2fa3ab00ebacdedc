"""The wheel ships the rules inside the package (checked when ddx is installed
from a wheel, as .ci/run does; skipped for editable installs)."""

from __future__ import annotations

import json
from importlib.metadata import distribution

import pytest


def test_rules_are_inside_the_installed_package():
    dist = distribution("ddx")
    direct = dist.read_text("direct_url.json")
    if direct and json.loads(direct).get("dir_info", {}).get("editable"):
        pytest.skip("editable install: rules are read from the checkout")
    files = {str(f) for f in dist.files or []}
    assert "ddx/_rules/vocabulary.yaml" in files
    assert "ddx/_rules/entities.yaml" in files
    assert any(f.startswith("ddx/_rules/rules/") and f.endswith(".yaml") for f in files)
    assert any(f.startswith("ddx/_cases/") and f.endswith(".yaml") for f in files)
    assert not any("/.history/" in f for f in files)
