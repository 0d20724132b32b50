"""The collector against the real Kafka and S3: a replay end to end, runs that repeat
nothing, and failures that record nothing as sent."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from brandmon_workers.collector.run import run
from brandmon_workers.collector.state import SentState, state_key
from brandmon_workers.contract.messages import Media, Post, Profile
from brandmon_workers.contract.settings import S3Settings, SourceSettings, WorkerSettings
from brandmon_workers.contract.sources import ReplaySource, SourceResult
from brandmon_workers.contract.topics import TopicNames, TopicRole
from tests.images import png

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ROLES = (TopicRole.PROFILES, TopicRole.POSTS, TopicRole.MEDIA)
RECORDING_KEY = "ns/recordings/demo/posts.jsonl"  # under the monitor's namespace "ns"
POST_IDS = ["3301000000000000001", "3301000000000000002", "3301000000000000003"]


RED, BLUE = png((220, 20, 20), size=4), png((20, 20, 220), size=4)


def recording(bucket: str) -> str:
    profile = {
        "username": "acme", "user_id": "1784140001", "full_name": "ACME Corp",
        "biography": "Official account", "external_url": "https://acme.example",
        "followers": 15230, "following": 120, "post_count": 342, "is_verified": True,
    }  # fmt: skip

    def post(n: int, caption: str) -> dict[str, object]:
        return {
            "post_id": POST_IDS[n], "shortcode": f"C7abc{n}", "username": "acme",
            "url": f"https://www.instagram.com/p/C7abc{n}/", "caption": caption,
            "hashtags": ["acme"], "mentions": [], "posted_at": f"2024-05-0{n + 1}T10:00:00Z",
            "likes": 10 * n, "comments": n,
        }  # fmt: skip

    blue = f"s3://{bucket}/ns/shared/blue.png"
    lines = [
        {"profile": profile},
        {"post": post(0, "Red is back #acme"), "images": ["images/red.png"]},
        {"post": post(1, "Blue mood #acme"), "images": [blue]},
        {"post": post(2, "Both #acme"), "images": ["images/red.png", blue]},
    ]
    return "\n".join(json.dumps(line) for line in lines) + "\n"


@pytest.fixture
def topics(kafka_admin: AdminClient, topic_prefix: str) -> TopicNames:
    names = TopicNames(prefix=topic_prefix.rstrip("."), namespace="ns", monitor="m")
    new = [NewTopic(names.of(role), num_partitions=2, replication_factor=1) for role in ROLES]
    for future in kafka_admin.create_topics(new).values():
        future.result(timeout=30)
    return names


@pytest.fixture
def aws_env(platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector reads its S3 credentials from the environment, as in its pod."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, platform_env[name])


@pytest.fixture
def recorded(s3: S3Client, bucket: str) -> str:
    """A recording with two images in S3; return its URI."""
    s3.put_object(Bucket=bucket, Key="ns/recordings/demo/images/red.png", Body=RED)
    s3.put_object(Bucket=bucket, Key="ns/shared/blue.png", Body=BLUE)
    s3.put_object(Bucket=bucket, Key=RECORDING_KEY, Body=recording(bucket).encode())
    return f"s3://{bucket}/{RECORDING_KEY}"


def settings_for(
    platform_env: dict[str, str], bucket: str, topics: TopicNames, replay_uri: str, **kafka: str
) -> WorkerSettings:
    return WorkerSettings(
        namespace="ns",
        monitor="m",
        brand="ACME",
        kafka_bootstrap_servers=kafka.get("bootstrap", platform_env["KAFKA_BOOTSTRAP_SERVERS"]),
        topics=topics,
        s3=S3Settings(
            endpoint_url=platform_env["S3_ENDPOINT_URL"],
            bucket=bucket,
            region=platform_env["AWS_DEFAULT_REGION"],
        ),
        source=SourceSettings(name="demo", replay=ReplaySource(s3_uri=replay_uri)),
    )


def read_topic(bootstrap: str, topic: str) -> list[tuple[str, bytes]]:
    """Return every message of a topic (key, value), reading up to the high watermarks."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"{topic}.reader", "enable.auto.commit": False}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        messages: list[tuple[str, bytes]] = []
        positions = dict.fromkeys(partitions, 0)
        while any(positions[p] < ends[p] for p in partitions):
            message = consumer.poll(10)
            assert message is not None, f"timed out reading {topic}"
            assert message.error() is None, message.error()
            key, value, partition, offset = (
                message.key(), message.value(), message.partition(), message.offset(),
            )  # fmt: skip
            assert key is not None
            assert value is not None
            assert partition is not None
            assert offset is not None
            positions[partition] = offset + 1
            messages.append((key.decode(), value))
        return messages
    finally:
        consumer.close()


def media_objects(s3: S3Client, bucket: str) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="ns/m/media/")
    keys = [item["Key"] for item in listing.get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def termination(path: Path) -> SourceResult:
    text = path.read_text()
    assert set(json.loads(text)) == {"postsNew", "postsSeen", "errors", "message"}
    return SourceResult.model_validate_json(text)


def stored_state(s3: S3Client, bucket: str) -> SentState | None:
    key = state_key("ns", "m", "demo")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=key)
    if not listing.get("Contents"):
        return None
    return SentState.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.fixture
def bootstrap(platform_env: dict[str, str]) -> str:
    return platform_env["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.mark.usefixtures("aws_env")
def test_replay_emits_everything_once_and_the_next_run_nothing(
    platform_env: dict[str, str],
    s3: S3Client,
    bucket: str,
    topics: TopicNames,
    recorded: str,
    bootstrap: str,
    tmp_path: Path,
) -> None:
    settings = settings_for(platform_env, bucket, topics, recorded)

    first = run(settings, termination_log=tmp_path / "first")

    assert (first.posts_new, first.posts_seen, first.errors) == (3, 0, 0), first.message
    assert first.succeeded
    assert termination(tmp_path / "first") == SourceResult(
        posts_new=3, posts_seen=0, errors=0, message=first.message
    )

    profiles = read_topic(bootstrap, topics.of(TopicRole.PROFILES))
    assert [key for key, _ in profiles] == ["acme"]
    profile = Profile.model_validate_json(profiles[0][1])
    assert (profile.followers, profile.provenance.source) == (15230, "demo")

    objects = media_objects(s3, bucket)
    by_digest = {hashlib.sha256(data).hexdigest(): key for key, data in objects.items()}
    assert set(by_digest) == {hashlib.sha256(RED).hexdigest(), hashlib.sha256(BLUE).hexdigest()}
    assert all(key.endswith(".png") for key in objects), "content-addressed, each image once"
    red_uri = f"s3://{bucket}/{by_digest[hashlib.sha256(RED).hexdigest()]}"
    blue_uri = f"s3://{bucket}/{by_digest[hashlib.sha256(BLUE).hexdigest()]}"
    head = s3.head_object(Bucket=bucket, Key=by_digest[hashlib.sha256(RED).hexdigest()])
    assert head["ContentType"] == "image/png"

    posts = {
        key: Post.model_validate_json(value)
        for key, value in read_topic(bootstrap, topics.of(TopicRole.POSTS))
    }
    assert sorted(posts) == POST_IDS
    assert posts[POST_IDS[0]].media_uris == [red_uri]
    assert posts[POST_IDS[1]].media_uris == [blue_uri]
    assert posts[POST_IDS[2]].media_uris == [red_uri, blue_uri]
    assert posts[POST_IDS[2]].caption == "Both #acme"

    media = [
        Media.model_validate_json(value)
        for _, value in read_topic(bootstrap, topics.of(TopicRole.MEDIA))
    ]
    assert sorted((m.post_id, m.index, m.s3_uri) for m in media) == [
        (POST_IDS[0], 0, red_uri), (POST_IDS[1], 0, blue_uri),
        (POST_IDS[2], 0, red_uri), (POST_IDS[2], 1, blue_uri),
    ]  # fmt: skip
    for m in media:
        data = objects[m.s3_uri.removeprefix(f"s3://{bucket}/")]
        assert (m.sha256, m.size_bytes, m.content_type) == (
            hashlib.sha256(data).hexdigest(), len(data), "image/png",
        )  # fmt: skip

    state = stored_state(s3, bucket)
    assert state is not None
    assert all(state.has_post(post_id) for post_id in POST_IDS)

    second = run(settings, termination_log=tmp_path / "second")

    assert (second.posts_new, second.posts_seen, second.errors) == (0, 3, 0), second.message
    assert second.succeeded
    assert termination(tmp_path / "second").posts_seen == 3
    for role, count in ((TopicRole.PROFILES, 1), (TopicRole.POSTS, 3), (TopicRole.MEDIA, 4)):
        assert len(read_topic(bootstrap, topics.of(role))) == count, f"{role} got duplicates"
    assert media_objects(s3, bucket) == objects


@pytest.mark.usefixtures("aws_env")
def test_unreachable_kafka_fails_the_run_and_records_nothing(
    platform_env: dict[str, str],
    s3: S3Client,
    bucket: str,
    topics: TopicNames,
    recorded: str,
    tmp_path: Path,
) -> None:
    settings = settings_for(platform_env, bucket, topics, recorded, bootstrap="127.0.0.1:1")

    report = run(settings, termination_log=tmp_path / "termination")

    assert (report.posts_new, report.posts_seen) == (0, 0)
    assert report.errors >= 1
    assert not report.succeeded
    assert "Kafka is unreachable" in report.message
    result = termination(tmp_path / "termination")
    assert result.errors == report.errors
    assert result.message == report.message
    assert stored_state(s3, bucket) is None
    assert media_objects(s3, bucket) == {}


@pytest.fixture
def refusing_posts_topic(kafka_admin: AdminClient, topics: TopicNames) -> Iterator[str]:
    """Make the posts topic refuse every message (too large), as a broker fault would."""
    name = topics.of(TopicRole.POSTS)

    def alter(operation: AlterConfigOpType, value: str | None) -> None:
        entry = ConfigEntry("max.message.bytes", value, incremental_operation=operation)
        resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[entry])
        for future in kafka_admin.incremental_alter_configs([resource]).values():
            future.result(timeout=30)

    alter(AlterConfigOpType.SET, "64")
    yield name
    alter(AlterConfigOpType.DELETE, None)


@pytest.mark.usefixtures("aws_env")
def test_a_post_kafka_refused_is_not_recorded_and_the_next_run_sends_it(
    platform_env: dict[str, str],
    s3: S3Client,
    bucket: str,
    topics: TopicNames,
    recorded: str,
    bootstrap: str,
    kafka_admin: AdminClient,
    refusing_posts_topic: str,
    tmp_path: Path,
) -> None:
    settings = settings_for(platform_env, bucket, topics, recorded)

    refused = run(settings, termination_log=tmp_path / "refused")

    assert (refused.posts_new, refused.posts_seen, refused.errors) == (0, 0, 3), refused.message
    assert not refused.succeeded
    assert "delivery of post" in refused.message
    state = stored_state(s3, bucket)
    assert state is not None, "the delivered profile is remembered"
    assert state.post_count == 0

    entry = ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE)
    resource = ConfigResource(ResourceType.TOPIC, refusing_posts_topic, incremental_configs=[entry])
    for future in kafka_admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)

    retried = run(settings, termination_log=tmp_path / "retried")

    assert (retried.posts_new, retried.posts_seen, retried.errors) == (3, 0, 0), retried.message
    posts = read_topic(bootstrap, refusing_posts_topic)
    assert sorted(key for key, _ in posts) == POST_IDS
    assert len(read_topic(bootstrap, topics.of(TopicRole.PROFILES))) == 1
