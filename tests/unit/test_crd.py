"""The CRD is generated from the pydantic models, documented, and committed fresh."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from brandmon_operator import api, crd

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "crds" / "samples").glob("*.yaml"))


def test_committed_crd_is_fresh() -> None:
    committed = (ROOT / "crds" / "brandmon.io_brandmonitors.yaml").read_text()
    assert committed == crd.render(), "crds/ is stale: run `make crds`"


def _walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)]
    for name, child in schema.get("properties", {}).items():
        found += _walk(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += _walk(schema[key], f"{path}[]")
    return found


def test_every_spec_and_status_field_is_documented() -> None:
    root = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    undocumented = [
        path
        for path, node in _walk(root)
        if path.startswith((".spec.", ".status.")) and not path.endswith("[]")
        and not node.get("description")
    ]  # fmt: skip
    assert undocumented == []


def test_schema_is_structural() -> None:
    root = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(root):
        assert "$ref" not in node, path
        assert "anyOf" not in node, path
        assert node.get("additionalProperties") is not False, path
        if path and not path.endswith("metadata"):
            assert "type" in node, path


def test_optional_collapses_and_exclusive_bounds_convert() -> None:
    schema = {
        "$defs": {"Inner": {"type": "object", "properties": {"x": {"type": "integer"}}}},
        "type": "object",
        "properties": {
            "maybe": {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}], "default": None},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "title": "Ratio"},
            "fixed": {"const": "only"},
            "inner": {"$ref": "#/$defs/Inner", "default": {"x": None}, "description": "mine"},
        },
    }
    out = crd.structural(schema)["properties"]
    assert out["maybe"] == {"type": "object", "properties": {"x": {"type": "integer"}}}
    assert out["ratio"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
    assert out["fixed"] == {"enum": ["only"]}
    assert out["inner"]["description"] == "mine"
    assert out["inner"]["default"] == {}


def test_unions_other_than_optional_are_refused() -> None:
    with pytest.raises(ValueError, match="unions other than Optional"):
        crd.structural({"anyOf": [{"type": "string"}, {"type": "integer"}]})


def test_printer_columns_cover_what_an_admin_needs() -> None:
    names = [c["name"] for c in crd.PRINTER_COLUMNS if c.get("priority", 0) == 0]
    assert names == ["Ready", "Reason", "Sources", "Engine", "Last Collection", "Age"]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_samples_parse_into_the_model(sample: Path) -> None:
    body = yaml.safe_load(sample.read_text())
    assert body["apiVersion"] == api.API_VERSION
    assert body["kind"] == api.KIND
    assert len(body["metadata"]["name"]) <= api.MAX_MONITOR_NAME
    api.BrandMonitorSpec.model_validate(body["spec"])


def test_operator_settings_doc_is_fresh() -> None:
    from brandmon_operator import settings  # noqa: PLC0415

    committed = (ROOT / "docs" / "operator-settings.md").read_text()
    assert committed == settings.render_docs(), (
        "docs/operator-settings.md is stale: run `make docs`"
    )
