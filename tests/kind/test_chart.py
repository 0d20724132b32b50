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

# The posts the demo must flag, no more and no fewer.
from tests.platform.test_demo import SHOULD_ALERT

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
    _ok(kubectl("apply", "-f", "-", input=manifest))
    apps = client.AppsV1Api(config.new_client_from_config(str(kind_cluster.kubeconfig)))  # type: ignore[no-untyped-call]
    for name in ("kafka", "minio", "webhook"):
        _wait(
            lambda name=name: _available(apps, INFRA, name),  # type: ignore[misc]
            300,
            f"deployment {name} Available",
            lambda: kubectl("get", "pods,events", "-n", INFRA).stdout,
        )
    # The Northwind recording into MinIO, where `make demo` puts it (upload.py in a Job).
    dataset = repo_root() / "examples" / "demo" / "northwind"
    _ok(
        kubectl(
            "create", "configmap", "northwind-dataset", "-n", INFRA,
            f"--from-file={dataset / 'posts.jsonl'}", f"--from-file={dataset / 'images'}",
        )
    )  # fmt: skip
    job = (E2E / "upload-job.yaml").read_text().replace("BRANDMON_IMAGE", brandmon_image)
    _ok(kubectl("apply", "-f", "-", input=job))
    batch = client.BatchV1Api(config.new_client_from_config(str(kind_cluster.kubeconfig)))  # type: ignore[no-untyped-call]
    _wait(
        lambda: bool(batch.read_namespaced_job("upload-dataset", INFRA).status.succeeded),  # type: ignore[union-attr]
        180,
        "the recording uploaded",
        lambda: kubectl("logs", "-n", INFRA, "job/upload-dataset").stdout,
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


def _diagnose(kubectl: Kubectl) -> str:
    said = []
    for args in (
        ("get", "pods,jobs,events", "-A"),
        ("logs", "-n", SYSTEM, "-l", "app.kubernetes.io/component=operator", "--tail=60"),
        ("get", "brandmonitor", "-n", DEMO, "-o", "yaml"),
    ):
        result = kubectl(*args)
        said.append(result.stdout + result.stderr)
    return "\n".join(said)


@pytest.fixture(scope="module")
def demo_monitor(
    infra: None, kind_cluster: cluster.Cluster, kubectl: Kubectl, brandmon_image: str
) -> str:
    """The chart installed (helm --wait) and the demo's BrandMonitor Ready; its name."""
    installed = _helm_install(kind_cluster, brandmon_image)
    assert installed.returncode == 0, installed.stderr + _diagnose(kubectl)
    _ok(
        kubectl(
            "create", "secret", "generic", "pr-webhook", "-n", DEMO,
            f"--from-literal=url=http://webhook.{INFRA}.svc.cluster.local:8080/pr-team",
        )
    )  # fmt: skip
    monitor = repo_root() / "examples" / "demo" / "northwind.yaml"
    _ok(kubectl("apply", "-n", DEMO, "-f", str(monitor)))
    custom = client.CustomObjectsApi(config.new_client_from_config(str(kind_cluster.kubeconfig)))  # type: ignore[no-untyped-call]

    def ready() -> bool:
        body = custom.get_namespaced_custom_object(
            "brandmon.io", "v1alpha1", DEMO, "brandmonitors", "northwind"
        )
        condition = _condition(body if isinstance(body, dict) else {}, "Ready")
        return condition is not None and condition.get("status") == "True"

    _wait(ready, 300, "BrandMonitor northwind Ready", lambda: _diagnose(kubectl))
    return "northwind"


def test_the_chart_runs_the_operator_and_the_demo_monitor_gets_ready(
    demo_monitor: str, kubectl: Kubectl
) -> None:
    # The operator pod ran the whole time: no restart, not OOMKilled.
    restarts = _ok(
        kubectl(
            "get", "pods", "-n", SYSTEM, "-l", "app.kubernetes.io/component=operator",
            "-o", "jsonpath={.items[*].status.containerStatuses[*].restartCount}",
        )
    )  # fmt: skip
    assert restarts.split() == ["0"], _diagnose(kubectl)


# End offsets of topics, read with the image's confluent-kafka from inside the cluster.
TOPIC_SIZES = """
import sys
from confluent_kafka import Consumer, TopicPartition
consumer = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "kind-test-probe"})
for topic in sys.argv[2:]:
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions]
    print(topic, sum(ends))
consumer.close()
"""


def test_the_demo_recording_alerts_exactly_the_damaging_posts(
    demo_monitor: str, kubectl: Kubectl
) -> None:
    """run.sh's flow on the cluster: one collection, every post scored, each alert delivered once."""
    apps = [
        "wait", "deployment", "-n", DEMO, "-l", f"app.kubernetes.io/instance={demo_monitor}",
        "--for=condition=Available", "--timeout=300s",
    ]  # fmt: skip
    _ok(kubectl(*apps, timeout=320))
    source = f"cronjob/{demo_monitor}-src-recorded"
    _ok(kubectl("create", "job", "-n", DEMO, f"--from={source}", f"{demo_monitor}-now"))
    posts = (repo_root() / "examples/demo/northwind/posts.jsonl").read_text().count('"post"')
    prefix = f"brandmon.{DEMO}.{demo_monitor}"
    bootstrap = f"kafka.{INFRA}.svc.cluster.local:9092"

    def sizes() -> dict[str, int]:
        result = kubectl(
            "exec", "-n", INFRA, "deploy/webhook", "--", "python", "-c", TOPIC_SIZES,
            bootstrap, f"{prefix}.scored-posts", f"{prefix}.alerts", timeout=60,
        )  # fmt: skip
        pairs = (line.split() for line in result.stdout.splitlines() if line.strip())
        return {topic.rsplit(".", 1)[1]: int(size) for topic, size in pairs}

    def delivered() -> list[str]:
        log = kubectl("logs", "-n", INFRA, "deploy/webhook").stdout
        return [line.split()[1] for line in log.splitlines() if line.startswith("delivered ")]

    def done() -> bool:
        counts = sizes()
        alerts = counts.get("alerts", 0)
        scored = counts.get("scored-posts", 0) >= posts
        return scored and alerts > 0 and len(set(delivered())) >= alerts

    _wait(done, 420, f"{posts} posts scored and every alert delivered", lambda: _diagnose(kubectl))
    assert sorted(set(delivered())) == SHOULD_ALERT
    assert len(delivered()) == len(SHOULD_ALERT), delivered()  # one delivery per post
    # Under the demo load every worker stayed within its limits: no restart, no OOMKill.
    statuses = _ok(
        kubectl(
            "get", "pods", "-n", DEMO, "-l", f"app.kubernetes.io/instance={demo_monitor}",
            "-o", "jsonpath={range .items[*].status.containerStatuses[*]}"
            "{.name} {.restartCount} {.lastState.terminated.reason}{'\\n'}{end}",
        )
    )  # fmt: skip
    restarted = [line for line in statuses.splitlines() if line.split()[1:2] != ["0"]]
    assert statuses.strip(), _diagnose(kubectl)
    assert restarted == [], statuses
