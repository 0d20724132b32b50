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
from brandmon_devtools.platform import build, pins, runtime
from brandmon_devtools.platform.pins import repo_root

# The Docker daemon and the brandmon image, as tests/containers builds them.
from tests.containers.conftest import base_images, brandmon_image, docker_cli  # noqa: F401

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
