"""The kind end-to-end path (tests/e2e/kind), checked without Docker.

run.sh needs Docker, kind and helm, which the project's machines do not have, so it is
never run here. What can be checked is: the script parses (`bash -n`), the manifests are
valid YAML with pinned images, the chart values the script sets exist in the chart, the
placeholders the manifests use are the ones the script substitutes, and the script expects
the same flagged posts as the demo test.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KIND = ROOT / "tests" / "e2e" / "kind"
SCRIPT = KIND / "run.sh"
MANIFESTS = sorted(KIND.glob("*.yaml"))
PLACEHOLDER = "BRANDMON_IMAGE"


def _bash_n(path: Path) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run([bash, "-n", str(path)], capture_output=True, text=True, check=False)


def test_script_parses_and_is_strict(tmp_path: Path) -> None:
    assert _bash_n(SCRIPT).returncode == 0, _bash_n(SCRIPT).stderr
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert SCRIPT.stat().st_mode & 0o111, "run.sh is not executable"
    # The check itself can fail: a script with an unclosed block does not parse.
    broken = tmp_path / "broken.sh"
    broken.write_text(text.replace("\ndone\n", "\n", 1))
    assert _bash_n(broken).returncode != 0


def test_script_checks_its_tools_and_always_tears_down() -> None:
    text = SCRIPT.read_text()
    assert "for tool in docker kind kubectl helm; do" in text
    assert "trap cleanup EXIT" in text
    assert 'kind delete cluster --name "$CLUSTER"' in text


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            assert isinstance(document, dict), path.name
            found.append((path.name, document))
    return found


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    pod = document.get("spec", {}).get("template", {}).get("spec", {})
    containers: list[dict[str, Any]] = pod.get("containers", []) + pod.get("initContainers", [])
    return containers


def test_manifests_parse_and_name_their_kinds() -> None:
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for _, d in _documents())
    assert kinds == [
        "Deployment/kafka", "Deployment/minio", "Deployment/webhook", "Job/upload-dataset",
        "Service/kafka", "Service/minio", "Service/webhook",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "image"),
    # The image run.sh builds is a placeholder, checked in the next test.
    [
        (f"{f}:{c['name']}", c["image"])
        for f, d in _documents()
        for c in _containers(d)
        if c["image"] != PLACEHOLDER
    ],
)
def test_every_image_is_pinned(name: str, image: str) -> None:
    assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: {image} has no tag"
    assert not image.endswith(":latest"), name


def test_placeholders_are_substituted_and_never_pulled() -> None:
    text = SCRIPT.read_text()
    for path in MANIFESTS:
        uses = PLACEHOLDER in path.read_text()
        substituted = f's|{PLACEHOLDER}|$IMAGE|g" "$HERE/{path.name}"' in text
        assert uses == substituted, path.name
    for file, document in _documents():
        for container in _containers(document):
            if container["image"] == PLACEHOLDER:
                # Loaded into the cluster with `kind load`; pulling would fail.
                assert container.get("imagePullPolicy") == "Never", file


def test_kind_node_image_is_pinned() -> None:
    found = re.search(r"KIND_NODE_IMAGE=\$\{KIND_NODE_IMAGE:-(\S+)\}", SCRIPT.read_text())
    assert found is not None
    assert re.fullmatch(r"kindest/node:v1\.\d+\.\d+", found.group(1))


def _values_keys(values: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in values.items():
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= _values_keys(value, prefix + key + ".")
    return keys


def test_chart_values_the_script_sets_exist() -> None:
    values = yaml.safe_load((ROOT / "charts" / "brandmon" / "values.yaml").read_text())
    used = set(re.findall(r'--set "?([\w.]+)=', SCRIPT.read_text()))
    assert {"image.repository", "image.tag", "watchNamespaces", "s3.credentialsSecret"} <= used
    assert used <= _values_keys(values), used - _values_keys(values)


def test_scripts_mounted_from_the_configmap_exist() -> None:
    text = SCRIPT.read_text()
    for file, document in _documents():
        for container in _containers(document):
            command = container.get("command", [])
            if len(command) == 2 and command[0] == "python":
                script = Path(command[1])
                assert script.parent == Path("/scripts"), file
                assert (KIND / script.name).is_file(), script.name
                assert f'--from-file="$HERE/{script.name}"' in text


def test_kafka_is_reachable_under_the_name_the_chart_is_given() -> None:
    documents = dict((f"{d['kind']}/{d['metadata']['name']}", d) for _, d in _documents())
    kafka = documents["Deployment/kafka"]
    env = {e["name"]: e.get("value") for e in _containers(kafka)[0]["env"]}
    namespace = kafka["metadata"]["namespace"]
    assert (
        env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://kafka.{namespace}.svc.cluster.local:9092"
    )
    assert kafka["spec"]["template"]["spec"]["enableServiceLinks"] is False
    text = SCRIPT.read_text()
    assert f"INFRA={namespace}\n" in text
    assert '--set kafka.bootstrapServers="kafka.$INFRA.svc.cluster.local:9092"' in text


def test_expected_alerts_are_the_demo_tests() -> None:
    tree = ast.parse((ROOT / "tests" / "platform" / "test_demo.py").read_text())
    should_alert = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "SHOULD_ALERT" for t in node.targets)
    )
    found = re.search(r'^EXPECTED="([^"]*)"$', SCRIPT.read_text(), re.MULTILINE)
    assert found is not None
    assert found.group(1).split() == sorted(should_alert)
