"""Fixtures for tests on a real kind cluster: created once for tests/kind, deleted after.

The cluster comes from the project's node image (brandmon_devtools.kind), with the brandmon
image loaded. After the last test of this package (not at the end of the whole session, so
it holds no memory while the other suites run) it is deleted, the host's sysctls are put
back and no container of it may be left. Each test gets its own namespace.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config

from brandmon_devtools.kind import cluster, nodeimage
from brandmon_devtools.kind import demo as stack_demo
from brandmon_devtools.platform import build, pins, runtime
from brandmon_devtools.platform.pins import repo_root

# The Docker daemon and the images, as tests/containers builds them.
from tests.containers.conftest import (  # noqa: F401
    base_images,
    brandmon_image,
    docker_cli,
    kafka_image,
    minio_image,
)
from tests.kind.flow import Flow

# One cluster per checkout: test sessions of two checkouts on one machine never share one.
CLUSTER_NAME = "brandmon-test-" + hashlib.sha256(str(repo_root()).encode()).hexdigest()[:6]


@pytest.fixture(scope="package")
def kind_cluster(docker_cli: str, brandmon_image: str) -> Iterator[cluster.Cluster]:  # noqa: F811
    """A one-node kind cluster with the brandmon image loaded."""
    logs = runtime.Platform(runtime.default_dir()).logs
    current = pins.load_pins()
    node_image = nodeimage.ensure_node_image(docker_cli, current, logs)
    handle = cluster.Cluster(CLUSTER_NAME, build.ensure_kind(current, logs), docker_cli)
    try:
        handle.up(node_image, load=(brandmon_image,))
    except cluster.KindError as error:
        handle.down()
        pytest.fail(str(error))
    yield handle
    handle.down()


@pytest.fixture(scope="package")
def stack(
    kind_cluster: cluster.Cluster,
    brandmon_image: str,  # noqa: F811
    kafka_image: str,  # noqa: F811
    minio_image: str,  # noqa: F811
) -> stack_demo.Stack:
    """The demo's stack (brandmon_devtools.kind.demo) on the test cluster, images loaded."""
    kind_cluster.load_missing(kafka_image, minio_image)
    current = pins.load_pins()
    logs = runtime.Platform(runtime.default_dir()).logs
    return stack_demo.Stack(
        kind_cluster.kubeconfig,
        build.ensure_kube(current, logs),
        build.ensure_helm(current, logs),
        stack_demo.Images(brandmon_image, kafka_image, minio_image),
        lambda message: print(f"[demo] {message}", flush=True),
    )


@pytest.fixture(scope="package")
def installed(stack: stack_demo.Stack) -> stack_demo.Stack:
    """The stack with Kafka, MinIO, the receiver and the chart's operator running."""
    try:
        stack.install_infra()
        stack.install_chart(stack_demo.chart_values(stack.images.brandmon))
    except stack_demo.DemoError as error:
        pytest.fail(str(error))
    return stack


@pytest.fixture(scope="package")
def s3(installed: stack_demo.Stack) -> Iterator[Any]:
    """An S3 client for the cluster's MinIO (a port-forward for the package's tests)."""
    with installed.s3() as client_:
        yield client_


@pytest.fixture
def flow(
    installed: stack_demo.Stack, s3: Any, namespace: str, kind_cluster: cluster.Cluster
) -> Iterator[Flow]:
    """A `tests.kind.flow.Flow` for monitor `northwind` in this test's namespace.

    Its monitors are deleted (their finalizers run by the operator) before the namespace.
    """
    handle = Flow(installed, s3, namespace, "northwind", kind_cluster.node, kind_cluster.docker)
    handle.setup_secrets()
    yield handle
    handle.delete_all()


@pytest.fixture(scope="package")
def core_api(kind_cluster: cluster.Cluster) -> client.CoreV1Api:
    """The cluster's core API, reached on 127.0.0.1 with the admin kubeconfig."""
    api = config.new_client_from_config(config_file=str(kind_cluster.kubeconfig))  # type: ignore[no-untyped-call]
    return client.CoreV1Api(api)


@pytest.fixture(scope="package")
def rbac_api(kind_cluster: cluster.Cluster) -> client.RbacAuthorizationV1Api:
    """The cluster's RBAC API."""
    api = config.new_client_from_config(config_file=str(kind_cluster.kubeconfig))  # type: ignore[no-untyped-call]
    return client.RbacAuthorizationV1Api(api)


@pytest.fixture
def namespace(core_api: client.CoreV1Api) -> Iterator[str]:
    """A namespace of this test's own, deleted afterwards (without waiting)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core_api.delete_namespace(name)


@pytest.fixture(scope="package")
def kubectl(kind_cluster: cluster.Cluster) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run kubectl (the platform's multi-call binary) against the cluster."""
    kube = build.ensure_kube(pins.load_pins(), runtime.Platform(runtime.default_dir()).logs)

    def run(
        *args: str, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(kube), "kubectl", "--kubeconfig", str(kind_cluster.kubeconfig), *args]
        return subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )

    return run


def wait_for_pod(
    api: client.CoreV1Api, namespace: str, name: str, phases: set[str], timeout: float = 120
) -> Any:
    """Poll the pod until its phase is one of `phases`; fail with its events otherwise."""
    deadline = time.monotonic() + timeout
    phase = None
    while time.monotonic() < deadline:
        pod = api.read_namespaced_pod(name, namespace)
        phase = pod.status.phase if pod.status else None
        if phase in phases:
            return pod
        time.sleep(0.5)
    events = api.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    said = "\n".join(f"{e.reason}: {e.message}" for e in events.items)
    pytest.fail(f"pod {name} not {phases} within {timeout:.0f}s (phase {phase}):\n{said}")
