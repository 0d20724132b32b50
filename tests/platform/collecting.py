"""Helpers for the collector tests of the new source kinds: topics, settings, reading Kafka."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from brandmon_workers.contract.messages import Post
from brandmon_workers.contract.settings import S3Settings, SourceSettings, WorkerSettings
from brandmon_workers.contract.topics import TopicNames, TopicRole
from tests.doubles.http import HttpDouble
from tests.platform.test_collector import read_topic

ROLES = (TopicRole.PROFILES, TopicRole.POSTS, TopicRole.MEDIA)


def make_topics(kafka_admin: AdminClient, topic_prefix: str) -> TopicNames:
    """Create the collector's topics under the test's prefix."""
    names = TopicNames(prefix=topic_prefix.rstrip("."), namespace="ns", monitor="m")
    new = [NewTopic(names.of(role), num_partitions=2, replication_factor=1) for role in ROLES]
    for future in kafka_admin.create_topics(new).values():
        future.result(timeout=30)
    return names


def worker_settings(
    platform_env: dict[str, str], bucket: str, topics: TopicNames, source: SourceSettings
) -> WorkerSettings:
    """Settings of a collector of `source` on the test platform."""
    return WorkerSettings(
        namespace="ns",
        monitor="m",
        brand="ACME",
        kafka_bootstrap_servers=platform_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics=topics,
        s3=S3Settings(
            endpoint_url=platform_env["S3_ENDPOINT_URL"],
            bucket=bucket,
            region=platform_env["AWS_DEFAULT_REGION"],
        ),
        source=source,
    )


def posts_in(platform_env: dict[str, str], topics: TopicNames) -> list[Post]:
    """Return every Post on the posts topic."""
    messages = read_topic(platform_env["KAFKA_BOOTSTRAP_SERVERS"], topics.of(TopicRole.POSTS))
    posts = [Post.model_validate_json(value) for _, value in messages]
    assert [key for key, _ in messages] == [p.post_id for p in posts], "keyed by post id"
    return posts


@pytest.fixture
def http_double() -> Iterator[HttpDouble]:
    """A local HTTP server playing the platform."""
    with HttpDouble() as double:
        yield double
