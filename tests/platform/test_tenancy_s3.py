"""Issue 16, attack 1 on the real platform: a monitor in namespace A replaying B's recording.

The operator refuses the monitor with a condition naming the field and builds nothing for
it; the collector, given the same URI anyway (defence in depth), refuses before reading;
and with the namespace's own MinIO user (brandmon_devtools.s3_tenants), MinIO refuses too,
whatever a worker or a tenant's own Pod asks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from confluent_kafka.admin import AdminClient
from kubernetes import client

from brandmon_devtools import s3_tenants
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


def _client(platform_env: dict[str, str], keys: dict[str, str]) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=platform_env["S3_ENDPOINT_URL"],
        region_name=platform_env["AWS_DEFAULT_REGION"],
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
    )


def _denied(call: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    code: str = refused.value.response["Error"]["Code"]
    return code


@pytest.fixture
def namespace_keys(platform_env: dict[str, str], bucket: str) -> Callable[..., dict[str, str]]:
    """Make a namespace's MinIO user on the platform's MinIO, as its administrator would."""
    root = {name: platform_env[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}

    def make(namespace: str, read_prefixes: tuple[str, ...] = ()) -> dict[str, str]:
        return s3_tenants.provision(
            platform_env["S3_ENDPOINT_URL"], root, bucket=bucket, namespace=namespace,
            secret_key=s3_tenants.new_secret_key(), read_prefixes=read_prefixes,
        )  # fmt: skip

    return make


def test_a_namespaces_own_minio_user_reaches_only_its_prefix(
    platform_env: dict[str, str],
    s3: S3Client,
    bucket: str,
    tenant_b: str,
    private_recording: str,
    namespace_keys: Callable[..., dict[str, str]],
) -> None:
    mine = f"{tenant_b}-a"  # shares B's name as a prefix: "tb-x-a/" is not under "tb-x/"
    shared = f"s3://{bucket}/shared-{tenant_b}/"
    s3.put_object(Bucket=bucket, Key=f"shared-{tenant_b}/logo.png", Body=b"shared")
    a = _client(platform_env, namespace_keys(mine, (shared,)))
    victim = private_recording.removeprefix(f"s3://{bucket}/")

    a.put_object(Bucket=bucket, Key=f"{mine}/acme/media/1.jpg", Body=b"mine")
    assert a.get_object(Bucket=bucket, Key=f"{mine}/acme/media/1.jpg")["Body"].read() == b"mine"
    assert a.get_object(Bucket=bucket, Key=f"shared-{tenant_b}/logo.png")["Body"].read()

    assert _denied(lambda: a.get_object(Bucket=bucket, Key=victim)) == "AccessDenied"
    assert _denied(lambda: a.head_object(Bucket=bucket, Key=victim)) == "403"
    assert _denied(lambda: a.put_object(Bucket=bucket, Key=victim, Body=b"x")) == "AccessDenied"
    assert (
        _denied(lambda: a.put_object(Bucket=bucket, Key=f"shared-{tenant_b}/logo.png", Body=b"x"))
        == "AccessDenied"
    )  # shared is read-only
    assert _denied(lambda: a.list_objects_v2(Bucket=bucket, Prefix=f"{tenant_b}/")) == (
        "AccessDenied"
    )
    assert _denied(lambda: a.delete_object(Bucket=bucket, Key=victim)) == "AccessDenied"
    assert s3.get_object(Bucket=bucket, Key=victim)["Body"].read().startswith(b"{")
    # Made again (the platform's next run), the user keeps its key: running pods keep working.
    again = namespace_keys(mine, (shared,))
    assert _denied(lambda: _client(platform_env, again).get_object(Bucket=bucket, Key=victim))


def test_the_collector_with_its_namespaces_key_is_refused_by_minio_too(
    platform_env: dict[str, str],
    s3: S3Client,
    bucket: str,
    topics: TopicNames,  # noqa: F811 - the fixture
    private_recording: str,
    namespace_keys: Callable[..., dict[str, str]],
    kafka_admin: AdminClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    wanted = {topics.of(r) for r in (TopicRole.PROFILES, TopicRole.POSTS, TopicRole.MEDIA)}
    eventually(lambda: wanted <= set(kafka_admin.list_topics(timeout=10).topics), what="topics")
    for name, value in namespace_keys("ns").items():  # settings_for's namespace
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", platform_env["AWS_DEFAULT_REGION"])
    # boto3's default session keeps the first keys it read (an earlier test's); a worker's
    # process reads its environment once, as this fresh session does.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    # A worker whose own scope check let B's recording through (a bug, a changed setting):
    # the key it holds cannot read it.
    settings = settings_for(platform_env, bucket, topics, private_recording)
    widened = settings.model_copy(
        update={
            "s3": settings.s3.model_copy(
                update={"read_prefixes": [private_recording.rsplit("/", 1)[0] + "/"]}
            )
        }
    )
    report = collector.run(widened, termination_log=tmp_path / "t")

    assert not report.succeeded
    assert "AccessDenied" in report.message or "Access Denied" in report.message, report.message
    assert read_topic(platform_env["KAFKA_BOOTSTRAP_SERVERS"], topics.of(TopicRole.POSTS)) == []
