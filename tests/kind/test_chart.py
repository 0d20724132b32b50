"""The Helm chart on the kind cluster: the operator from the real image, Kafka and MinIO in pods.

The infrastructure is tests/e2e/kind/infra.yaml (the end-to-end run's own manifests) with
the images this project builds in place of the public ones; the chart is installed with the
platform's helm, watching one namespace, and the demo's BrandMonitor has to become Ready:
the operator, configured in-cluster with the chart's RBAC, created its topics in Kafka and
its worker Deployments. What the full demo flow adds (the recording collected and alerted)
is still tests/e2e/kind/run.sh's (docs/kind.md).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from brandmon_devtools.kind import cluster
from brandmon_devtools.platform import build, pins, runtime
from brandmon_devtools.platform.pins import repo_root
from tests.containers.conftest import kafka_image, minio_image  # noqa: F401

E2E = repo_root() / "tests" / "e2e" / "kind"
INFRA = "brandmon-infra"
SYSTEM = "brandmon-system"
DEMO = "demo"
# The public images infra.yaml names, and the fixture building each one's local equivalent.
PUBLIC_KAFKA = "apache/kafka:4.1.0"
PUBLIC_MINIO = "minio/minio:RELEASE.2025-09-07T16-13-09Z"
S3_USER = "brandmon-kind"
S3_PASSWORD = secrets.token_hex(16)

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def _wait(
    check: Callable[[], bool], timeout: float, what: str, diagnose: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {timeout:.0f}s:\n{diagnose()[-6000:]}")
        time.sleep(1)


def _available(apps: client.AppsV1Api, namespace: str, name: str) -> bool:
    status = apps.read_namespaced_deployment(name, namespace).status
    return bool(status and status.available_replicas)


@pytest.fixture(scope="module")
def infra(
    kind_cluster: cluster.Cluster,
    kubectl: Kubectl,
    brandmon_image: str,
    kafka_image: str,  # noqa: F811
    minio_image: str,  # noqa: F811
) -> Iterator[None]:
    """Kafka, MinIO and the webhook receiver in brandmon-infra, Available."""
    kind_cluster.load(kafka_image, minio_image)
    for namespace in (INFRA, SYSTEM, DEMO):
        _ok(kubectl("create", "namespace", namespace))
    for namespace, name in ((INFRA, "minio-root"), (DEMO, "s3-credentials")):
        _ok(
            kubectl(
                "create", "secret", "generic", name, "-n", namespace,
                f"--from-literal=AWS_ACCESS_KEY_ID={S3_USER}",
                f"--from-literal=AWS_SECRET_ACCESS_KEY={S3_PASSWORD}",
            )
        )  # fmt: skip
    _ok(
        kubectl(
            "create", "configmap", "e2e-scripts", "-n", INFRA,
            f"--from-file={E2E / 'receiver.py'}", f"--from-file={E2E / 'upload.py'}",
        )
    )  # fmt: skip
    manifest = (
        (E2E / "infra.yaml")
        .read_text()
        .replace("BRANDMON_IMAGE", brandmon_image)
        .replace(PUBLIC_KAFKA, kafka_image)
        .replace(PUBLIC_MINIO, minio_image)
    )
    applied = E2E.parent.parent.parent / ".pytest-kind-infra.yaml"
    applied.write_text(manifest)
    try:
        _ok(kubectl("apply", "-f", str(applied)))
    finally:
        applied.unlink()
    apps = client.AppsV1Api(config.new_client_from_config(str(kind_cluster.kubeconfig)))  # type: ignore[no-untyped-call]
    for name in ("kafka", "minio", "webhook"):
        _wait(
            lambda name=name: _available(apps, INFRA, name),  # type: ignore[misc]
            300,
            f"deployment {name} Available",
            lambda: kubectl("get", "pods,events", "-n", INFRA).stdout,
        )
    yield
    for namespace in (DEMO, SYSTEM, INFRA):
        kubectl("delete", "namespace", namespace, "--wait=false")


def _helm_install(kind_cluster: cluster.Cluster, image: str) -> subprocess.CompletedProcess[str]:
    helm = build.ensure_helm(pins.load_pins(), runtime.Platform(runtime.default_dir()).logs)
    repository, tag = image.rsplit(":", 1)
    values = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "watchNamespaces": [DEMO],
        "kafka": {"bootstrapServers": f"kafka.{INFRA}.svc.cluster.local:9092"},
        "s3": {
            "endpointUrl": f"http://minio.{INFRA}.svc.cluster.local:9000",
            "bucket": "brandmon-demo",
            "region": "us-east-1",
            "credentialsSecret": "s3-credentials",
        },
        "resyncSeconds": 10,
    }
    path = kind_cluster.directory / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    argv = [
        str(helm), "install", "brandmon", str(repo_root() / "charts" / "brandmon"),
        "--kubeconfig", str(kind_cluster.kubeconfig), "--namespace", SYSTEM,
        "--values", str(path), "--wait", "--timeout", "300s",
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=360, check=False)


def _condition(body: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in body.get("status", {}).get("conditions", []):
        if condition.get("type") == kind:
            return dict(condition)
    return None


@pytest.mark.usefixtures("infra")
def test_the_chart_runs_the_operator_and_the_demo_monitor_gets_ready(
    kind_cluster: cluster.Cluster, kubectl: Kubectl, brandmon_image: str
) -> None:
    installed = _helm_install(kind_cluster, brandmon_image)

    def diagnose() -> str:
        said = []
        for args in (
            ("get", "pods,events", "-A"),
            ("logs", "-n", SYSTEM, "-l", "app.kubernetes.io/component=operator", "--tail=60"),
            ("get", "brandmonitor", "-n", DEMO, "-o", "yaml"),
        ):
            result = kubectl(*args)
            said.append(result.stdout + result.stderr)
        return "\n".join(said)

    assert installed.returncode == 0, installed.stderr + diagnose()
    _ok(
        kubectl(
            "create", "secret", "generic", "pr-webhook", "-n", DEMO,
            f"--from-literal=url=http://webhook.{INFRA}.svc.cluster.local:8080/pr-team",
        )
    )  # fmt: skip
    _ok(
        kubectl(
            "apply", "-n", DEMO, "-f", str(repo_root() / "examples" / "demo" / "northwind.yaml")
        )
    )
    custom = client.CustomObjectsApi(config.new_client_from_config(str(kind_cluster.kubeconfig)))  # type: ignore[no-untyped-call]

    def ready() -> bool:
        body = custom.get_namespaced_custom_object(
            "brandmon.io", "v1alpha1", DEMO, "brandmonitors", "northwind"
        )
        condition = _condition(body if isinstance(body, dict) else {}, "Ready")
        return condition is not None and condition.get("status") == "True"

    _wait(ready, 300, "BrandMonitor northwind Ready", diagnose)
    # The operator pod ran the whole time: no restart, not OOMKilled.
    pods = _ok(
        kubectl(
            "get", "pods", "-n", SYSTEM, "-l", "app.kubernetes.io/component=operator",
            "-o", "jsonpath={.items[*].status.containerStatuses[*].restartCount}",
        )
    )  # fmt: skip
    assert pods.split() == ["0"], diagnose()
