"""The chart's generated parts are fresh, and its values agree with their model and docs.

Rendering checks (helm lint, kube-score, the operator's environment against
OperatorSettings) need the helm binary and live in tests/platform/test_chart.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from brandmon_devtools import chart
from brandmon_devtools.platform import pins
from brandmon_operator.caps import Caps
from brandmon_operator.settings import OperatorSettings, Resources

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "brandmon"


def _values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def test_values_schema_is_fresh() -> None:
    committed = (CHART / "values.schema.json").read_text()
    assert committed == chart.render_schema(), "values.schema.json is stale: run `make crds`"


def test_crd_template_is_fresh() -> None:
    committed = (CHART / "templates" / "crd.yaml").read_text()
    assert committed == chart.render_crd_template(), "templates/crd.yaml is stale: `make crds`"


def test_admission_template_is_fresh() -> None:
    committed = (CHART / "templates" / "admission.yaml").read_text()
    assert committed == chart.render_admission_template(), (
        "templates/admission.yaml is stale: `make crds`"
    )


def test_every_cap_reaches_the_operator_even_when_set_to_null() -> None:
    # Helm drops a key set to null, so the helper lists every cap to pass null explicitly.
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    listed = re.search(r'define "brandmon.caps".*?range \$key := list ([^-]*?) -', helpers, re.S)
    assert listed is not None
    keys = re.findall(r'"(\w+)"', listed.group(1))
    assert keys == [field.alias for field in Caps.model_fields.values()]


def test_crd_template_is_the_generated_crd_behind_the_flags() -> None:
    text = chart.render_crd_template()
    assert text.index("{{- if .Values.crds.install }}") < text.index(
        "kind: CustomResourceDefinition"
    )
    assert "{{- if .Values.crds.keep }}\n  annotations:\n    helm.sh/resource-policy: keep" in text
    # Without the Helm directives, the spec is exactly what crds/ holds.
    spec = yaml.safe_load(text[text.index("spec:") : text.rindex("{{- end }}")])["spec"]
    committed = yaml.safe_load((ROOT / "crds" / "brandmon.io_brandmonitors.yaml").read_text())
    assert spec == committed["spec"]


def test_values_yaml_is_exactly_the_models_defaults() -> None:
    values = _values()
    chart.ChartValues.model_validate(values)
    # Unset optionals (None) are absent from values.yaml: Helm reads null as "delete".
    defaults = chart.ChartValues().model_dump(by_alias=True, exclude={"global_"}, exclude_none=True)
    assert values == json.loads(json.dumps(defaults))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["bogus"], 1),
        (["s3", "accessKey"], "AKIA"),
        (["image", "pullPolicy"], "Sometimes"),
        (["resyncSeconds"], 0),
        (["topicPrefix"], "has space"),
        (["s3", "credentialsSecret"], "Not_A_Name"),
        (["operator", "livenessPort"], 70000),
        (["workers", "resources", "limits", "gpu"], "1"),
        (["workers", "resources", "limits", "memory"], "lots"),
    ],
)
def test_model_refuses_unknown_keys_and_bad_values(path: list[str], value: object) -> None:
    values = _values()
    node = values
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ValidationError):
        chart.ChartValues.model_validate(values)


def _objects(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                found.append((where, node))
            for key, child in node.items():
                walk(child, f"{where}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{where}/{index}")

    walk(schema, "")
    return found


def test_schema_refuses_unknown_keys_in_every_object() -> None:
    objects = _objects(chart.values_schema())
    assert len(objects) > 20
    loose = [where for where, node in objects if node.get("additionalProperties") is not False]
    assert loose == []


def _documented_paths(text: str) -> tuple[list[str], set[str]]:
    """Return every key path of values.yaml and the paths its comments document."""
    keys: list[str] = []
    documented: set[str] = set()
    stack: list[tuple[int, str]] = []
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("# "))
            continue
        match = re.match(r"^( *)([A-Za-z][\w-]*):", line)
        if match is None:
            comment = []
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([name for _, name in stack] + [match.group(2)])
        stack.append((indent, match.group(2)))
        keys.append(path)
        if comment and re.match(rf"^{re.escape(path)}\b", comment[0]):
            documented.add(path)
        comment = []
    return keys, documented


def test_every_value_is_documented_by_a_comment_starting_with_its_name() -> None:
    keys, documented = _documented_paths((CHART / "values.yaml").read_text())
    assert "workers.resources.limits.memory" in keys
    assert [k for k in keys if k not in documented] == []


def test_an_undocumented_value_is_noticed() -> None:
    keys, documented = _documented_paths("a:\n  # a.b is b\n  b: 1\n  c: 2\n")
    assert keys == ["a", "a.b", "a.c"]
    assert documented == {"a.b"}


def test_chart_defaults_are_the_operators_defaults() -> None:
    values = chart.ChartValues()
    settings = OperatorSettings.model_construct()
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert f"{values.image.repository}:{app_version}" == settings.worker_image
    assert values.image.pull_policy == settings.worker_image_pull_policy
    assert values.kafka.bootstrap_servers == settings.kafka_bootstrap_servers
    assert (values.ksqldb.url or None) == settings.ksqldb_url
    assert (values.s3.endpoint_url or None) == settings.s3_endpoint_url
    assert (values.s3.credentials_secret or None) == settings.s3_credentials_secret
    assert values.s3.bucket == settings.s3_bucket
    assert values.s3.region == settings.s3_region
    assert values.s3.allowed_prefixes == settings.s3_allowed_prefixes
    assert values.topic_prefix == settings.topic_prefix
    assert values.resync_seconds == settings.resync_seconds
    assert values.operator.concurrent_reconciles == settings.concurrent_reconciles
    assert values.watch_namespaces == settings.namespaces
    worker = values.workers.resources
    assert Resources(
        cpu_request=str(worker.requests.cpu), memory_request=str(worker.requests.memory),
        cpu_limit=str(worker.limits.cpu), memory_limit=str(worker.limits.memory),
    ) == settings.worker_resources  # fmt: skip


def test_kube_score_exceptions_are_each_justified() -> None:
    lines = (CHART / ".kube-score-ignore").read_text().splitlines()
    for index, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[a-z0-9-]+", line), line
            assert lines[index - 1].startswith("#"), f"{line} has no comment saying why"


@pytest.mark.parametrize(
    ("tool", "render"),
    [("helm", pins.render_helm_gomod), ("kube-score", pins.render_kube_score_gomod)],
)
def test_tool_wrapper_gomod_matches_versions_env(tool: str, render: Any) -> None:
    committed = (ROOT / "platform" / "go" / tool / "go.mod").read_text()
    drift = pins.gomod_drift(committed, render(pins.load_pins()))
    assert drift == [], f"platform/go/{tool}/go.mod is stale: run `brandmon-platform gomod`"


def test_tool_drift_detects_a_bump() -> None:
    bumped = pins.Pins(**{**pins.load_pins().__dict__, "helm": "v3.99.0"})
    committed = (ROOT / "platform" / "go" / "helm" / "go.mod").read_text()
    assert pins.gomod_drift(committed, pins.render_helm_gomod(bumped)) == [
        "helm.sh/helm/v3 v3.99.0 // indirect"
    ]
