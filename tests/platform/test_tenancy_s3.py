"""Issue 16, attack 1 on the real platform: a monitor in namespace A replaying B's recording.

The operator refuses the monitor with a condition naming the field and builds nothing for
it; the collector, given the same URI anyway (defence in depth), refuses before reading.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka.admin import AdminClient
from kubernetes import client

from brandmon_workers.collector import run as collector
from brandmon_workers.contract.topics import TopicNames, TopicRole
from tests.conftest import fresh_namespace
from tests.platform.conftest import OperatorProcess, eventually
from tests.platform.test_collector import (  # noqa: F401 - fixtures
    aws_env,
    read_topic,
    settings_for,
    topics,
)
from tests.platform.test_operator import (
    children,
    condition,
    create_monitor,
    get_monitor,
    patch_spec,
    sample,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PRIVATE = {"post": {"post_id": "b-secret-1", "shortcode": "Cb1", "username": "victim",
                    "url": "https://www.instagram.com/p/Cb1/", "caption": "tenant B only",
                    "posted_at": "2026-11-20T09:00:00Z"}}  # fmt: skip


@pytest.fixture
def tenant_b(kube: client.ApiClient) -> Iterator[str]:
    """The victim's namespace."""
    yield from fresh_namespace(kube, "tb")


@pytest.fixture
def private_recording(s3: S3Client, bucket: str, tenant_b: str) -> str:
    """Tenant B's recording in B's own prefix; return its URI."""
    key = f"{tenant_b}/acme/recordings/private.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(PRIVATE).encode() + b"\n")
    return f"s3://{bucket}/{key}"


def test_a_monitor_replaying_another_namespaces_recording_is_refused(
    kube: client.ApiClient,
    namespace: str,
    bucket: str,
    private_recording: str,
    run_operator: Callable[..., OperatorProcess],
) -> None:
    run_operator(namespace, S3_BUCKET=bucket)
    body = sample("replay-builtin.yaml")
    body["spec"]["sources"][0]["replay"] = {"s3Uri": private_recording}
    create_monitor(kube, namespace, body)
    name = body["metadata"]["name"]

    def refused() -> dict[str, Any] | None:
        found = condition(get_monitor(kube, namespace, name), "S3Scoped")
        return found if found and found["status"] == "False" else None

    scoped = eventually(refused, what="S3Scoped=False")
    assert scoped["reason"] == "S3UriOutsideNamespace"
    assert scoped["message"].startswith(
        f"spec.sources[0].replay.s3Uri: {private_recording} is outside s3://{bucket}/{namespace}/"
    )
    monitor = get_monitor(kube, namespace, name)
    stalled, ready = condition(monitor, "Stalled"), condition(monitor, "Ready")
    assert stalled is not None
    assert (stalled["status"], stalled["reason"]) == ("True", "S3UriOutsideNamespace")
    assert ready is not None
    assert ready["status"] == "False"
    assert children(kube, namespace, name) == {}  # no CronJob: nothing will ever read it

    # The refusal lifts as soon as the spec stays in its own prefix.
    own = {"name": "recorded", "schedule": "0 0 1 1 *",
           "replay": {"s3Uri": f"s3://{bucket}/{namespace}/northwind/posts.jsonl"}}  # fmt: skip
    patch_spec(kube, namespace, name, {"sources": [own]})
    eventually(
        lambda: condition(get_monitor(kube, namespace, name), "S3Scoped") is None,
        what="the refusal gone from status once the URI is in scope",
    )
    assert f"{name}-src-recorded" in children(kube, namespace, name)


@pytest.mark.usefixtures("aws_env")
def test_the_collector_refuses_another_namespaces_recording_before_reading_it(
    platform_env: dict[str, str],
    s3: S3Client,
    bucket: str,
    topics: TopicNames,  # noqa: F811 - the fixture
    private_recording: str,
    kafka_admin: AdminClient,
    tmp_path: Path,
) -> None:
    # The broker may list new topics a moment after creating them (a busy machine).
    wanted = {topics.of(r) for r in (TopicRole.PROFILES, TopicRole.POSTS, TopicRole.MEDIA)}
    eventually(lambda: wanted <= set(kafka_admin.list_topics(timeout=10).topics), what="topics")
    # As if the operator had been bypassed: the worker still holds the line.
    settings = settings_for(platform_env, bucket, topics, private_recording)
    report = collector.run(settings, termination_log=tmp_path / "t")

    assert not report.succeeded
    assert f"{private_recording} is outside this monitor's S3 scope" in report.message
    bootstrap = platform_env["KAFKA_BOOTSTRAP_SERVERS"]
    assert read_topic(bootstrap, topics.of(TopicRole.POSTS)) == []
    # Nothing was written into B's prefix or the bucket's root either.
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [item["Key"] for item in listed] == [private_recording.removeprefix(f"s3://{bucket}/")]
