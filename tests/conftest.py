"""Shared fixtures: the local platform and per-test isolation on it.

Tests under tests/unit are marked `unit` and need nothing; tests under tests/platform are
marked `platform` and get a real kube-apiserver, Kafka broker and S3 server; those under
tests/platform/faults are also marked `fault` (they stop and break components on purpose). The session reuses a platform that is already running (`make platform-up`) or
starts one and stops it at the end. Each test gets its own namespace, topic prefix and
bucket, so tests never see each other's state.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from confluent_kafka.admin import AdminClient
from kubernetes import client, config

from brandmon_devtools.platform import runtime

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_FOLDER_MARKERS = {
    "unit": "unit",
    "platform": "platform",
    "faults": "fault",
    "containers": "containers",
    "kind": "kind",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the folder it lives in, so `-m unit` needs no decorators."""
    for item in items:
        for folder in Path(item.path).relative_to(Path(__file__).parent).parts[:-1]:
            marker = _FOLDER_MARKERS.get(folder)
            if marker:
                item.add_marker(marker)


def unique(prefix: str) -> str:
    """Return a DNS-1123-safe name that no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def platform() -> Iterator[runtime.Platform]:
    """The local platform: reused when running, otherwise started for this session."""
    with runtime.running() as handle:
        yield handle


@pytest.fixture(scope="session")
def platform_env(platform: runtime.Platform) -> dict[str, str]:
    """The client environment of the platform (what .platform/env exports)."""
    state = platform.load_state()
    assert state is not None
    return platform.client_env(state)


@pytest.fixture(scope="session")
def kube(platform: runtime.Platform) -> Iterator[client.ApiClient]:
    """An admin API client for the platform's kube-apiserver."""
    api = config.new_client_from_config(config_file=str(platform.kubeconfig))  # type: ignore[no-untyped-call]
    yield api
    api.close()


def fresh_namespace(kube: client.ApiClient, prefix: str = "t") -> Iterator[str]:
    """Create a uniquely named namespace, yield its name, delete it afterwards."""
    name = unique(prefix)
    core = client.CoreV1Api(kube)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture
def namespace(kube: client.ApiClient) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    yield from fresh_namespace(kube)


@pytest.fixture(scope="session")
def kafka_admin(platform_env: dict[str, str]) -> AdminClient:
    """An AdminClient for the platform's broker."""
    return AdminClient({"bootstrap.servers": platform_env["KAFKA_BOOTSTRAP_SERVERS"]})


@pytest.fixture
def topic_prefix(kafka_admin: AdminClient) -> Iterator[str]:
    """A topic-name prefix owned by one test; its topics are deleted afterwards."""
    prefix = unique("t") + "."
    yield prefix
    mine = [t for t in kafka_admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if mine:
        for future in kafka_admin.delete_topics(mine, operation_timeout=30).values():
            future.result()


@pytest.fixture(scope="session")
def s3(platform_env: dict[str, str]) -> S3Client:
    """A boto3 S3 client for the platform's S3 server."""
    return boto3.client(
        "s3",
        endpoint_url=platform_env["S3_ENDPOINT_URL"],
        aws_access_key_id=platform_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=platform_env["AWS_SECRET_ACCESS_KEY"],
        region_name=platform_env["AWS_DEFAULT_REGION"],
    )


@pytest.fixture
def bucket(s3: S3Client) -> Iterator[str]:
    """A fresh bucket for one test, emptied and removed afterwards."""
    name = unique("t")
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture(scope="session")
def brandmonitor_crd(kube: client.ApiClient) -> str:
    """The generated BrandMonitor CRD, installed (server-side apply) and established."""
    from brandmon_operator import crd  # noqa: PLC0415 - only platform tests need it

    body = crd.build_crd()
    name: str = body["metadata"]["name"]
    extensions = client.ApiextensionsV1Api(kube)
    extensions.patch_custom_resource_definition(
        name, body, field_manager="brandmon-tests", force=True,
        _content_type="application/apply-patch+yaml",
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = extensions.read_custom_resource_definition(name).status
        conditions = (status.conditions if status else None) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            # Discovery in the API server lags "Established" by a moment.
            time.sleep(1)
            return name
        time.sleep(0.2)
    pytest.fail(f"CRD {name} not established after 30s")
