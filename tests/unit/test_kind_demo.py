"""The demo stack's pure parts: its manifests, chart values, delivery log and image names."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from brandmon_devtools.chart import ChartValues
from brandmon_devtools.kind import cluster
from brandmon_devtools.kind import demo as stack_demo
from brandmon_devtools.platform.pins import repo_root

IMAGES = stack_demo.Images("brandmon:1-abc", "brandmon-kafka:4-def", "brandmon-minio:v0-123")


def _documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(stack_demo.render_infra(IMAGES)) if d]


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    pod = document.get("spec", {}).get("template", {}).get("spec", {})
    return list(pod.get("containers", []))


def test_infra_names_its_kinds_and_uses_only_the_projects_images() -> None:
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in _documents())
    assert kinds == [
        "Deployment/kafka", "Deployment/minio", "Deployment/webhook",
        "Service/kafka", "Service/minio", "Service/webhook",
    ]  # fmt: skip
    images = {c["image"] for d in _documents() for c in _containers(d)}
    assert images == {IMAGES.brandmon, IMAGES.kafka, IMAGES.minio}
    for document in _documents():
        assert document["metadata"]["namespace"] == stack_demo.INFRA
        for container in _containers(document):
            # Loaded into the node with `kind load`; a pull would fail (no registry).
            assert container["imagePullPolicy"] == "Never", document["metadata"]["name"]
            assert container["resources"]["limits"]["memory"], document["metadata"]["name"]


def test_no_placeholder_is_left() -> None:
    assert not re.search(r"\b[A-Z]+_IMAGE\b", stack_demo.render_infra(IMAGES))


def test_the_chart_reaches_kafka_and_minio_by_their_service_names() -> None:
    services = {d["metadata"]["name"]: d for d in _documents() if d["kind"] == "Service"}
    values = stack_demo.chart_values(IMAGES.brandmon)
    host, port = values["kafka"]["bootstrapServers"].split(":")
    assert host == f"kafka.{stack_demo.INFRA}.svc.cluster.local"
    assert int(port) in [p["port"] for p in services["kafka"]["spec"]["ports"]]
    assert values["s3"]["endpointUrl"].startswith(f"http://minio.{stack_demo.INFRA}.svc")
    assert values["image"] == {"repository": "brandmon", "tag": "1-abc", "pullPolicy": "Never"}


def _keys(values: dict[str, Any], prefix: str = "") -> set[str]:
    found = set()
    for key, value in values.items():
        found.add(prefix + key)
        if isinstance(value, dict):
            found |= _keys(value, f"{prefix}{key}.")
    return found


def test_every_chart_value_the_demo_sets_exists_in_the_chart() -> None:
    chart = yaml.safe_load((repo_root() / "charts" / "brandmon" / "values.yaml").read_text())
    demo = stack_demo.chart_values(IMAGES.brandmon)
    # kafka.sasl is documented in values.yaml but unset there; the schema's model has it.
    assert _keys({k: v for k, v in demo.items() if k != "kafka"}) <= _keys(chart)
    ChartValues.model_validate(demo)


def test_the_receiver_script_is_mounted_where_the_webhook_runs_it() -> None:
    webhook = next(d for d in _documents() if d["metadata"]["name"] == "webhook")
    command = _containers(webhook)[0]["command"]
    assert command == ["python", "/scripts/receiver.py"]
    assert (stack_demo.MANIFESTS / "receiver.py").is_file()


def test_deliveries_are_read_for_one_run_only() -> None:
    body = {"alert": {"post_id": "n-020"}, "why": ["x"]}
    log = "\n".join([
        f"delivered /pr-team/run1 d-1 {json.dumps(body)}",
        f"delivered /pr-team/run2 d-2 {json.dumps(body | {'alert': {'post_id': 'n-9'}})}",
        "some other line",
        f"delivered /pr-team/run1 d-3 {json.dumps(body)}",
    ])  # fmt: skip
    found = stack_demo.parse_deliveries(log, "/pr-team/run1")
    assert [(d.delivery_id, d.post_id) for d in found] == [("d-1", "n-020"), ("d-3", "n-020")]
    assert stack_demo.parse_deliveries(log, "/pr-team/run3") == []


def test_a_result_is_done_only_when_everything_arrived() -> None:
    delivery = stack_demo.Delivery("/p", "d", {"alert": {"post_id": "a"}})
    result = stack_demo.Result(posts=2, deliveries=[delivery], scored=2, alerts=1)
    assert not result.done()  # nothing archived yet
    result.archived = ["a", "b"]
    assert result.done()
    result.alerts = 2  # an alert in Kafka not yet delivered
    assert not result.done()
    assert result.flagged == ["a"]


def test_the_recording_counts_posts_not_profiles() -> None:
    lines = (stack_demo.DATASET / "posts.jsonl").read_text().splitlines()
    assert 0 < stack_demo.recording_posts() < len(lines)


@pytest.mark.parametrize(
    ("tag", "reference"),
    [
        ("brandmon:1-abc", "docker.io/library/brandmon:1-abc"),
        ("kindest/node:v1.34.0", "docker.io/kindest/node:v1.34.0"),
        ("registry.example:5000/a/b:1", "registry.example:5000/a/b:1"),
        ("localhost/x:1", "localhost/x:1"),
    ],
)
def test_image_references_are_qualified_as_containerd_names_them(tag: str, reference: str) -> None:
    assert cluster.qualified(tag) == reference


def test_pods_reach_kafka_only_over_scram_as_the_administrator_the_chart_names() -> None:
    (kafka,) = (
        d for d in _documents() if d["metadata"]["name"] == "kafka" and d["kind"] == "Deployment"
    )
    env = {e["name"]: e for e in _containers(kafka)[0]["env"]}
    listeners = env["KAFKA_LISTENERS"]["value"].split(",")
    # Only the SASL listener binds beyond the pod's loopback.
    assert [item for item in listeners if "127.0.0.1" not in item] == ["SASL://:9092"]
    assert "SASL:SASL_PLAINTEXT" in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]["value"]
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"]["value"] == "false"
    admin = env["BRANDMON_SCRAM_USER"]["value"]
    assert admin == stack_demo.KAFKA_ADMIN
    assert f"User:{admin}" in env["KAFKA_SUPER_USERS"]["value"].split(";")
    password = env["BRANDMON_SCRAM_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password["name"] == stack_demo.KAFKA_ADMIN_SECRET
    sasl = stack_demo.chart_values(IMAGES.brandmon)["kafka"]["sasl"]
    assert sasl["username"] == admin
    assert sasl["passwordSecret"] == {"name": stack_demo.KAFKA_ADMIN_SECRET, "key": "password"}
