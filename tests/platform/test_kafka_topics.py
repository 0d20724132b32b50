"""Topic reconciliation against the real broker: Kubernetes says, Kafka follows.

Everything is read back with a separate AdminClient (the `kafka_admin` fixture), never
through the code under test. The broker is a single node, so real topics have one replica.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    ResourceType,
)

from brandmon_operator import topics
from brandmon_operator.api import TopicsSpec
from brandmon_operator.kafka_admin import KafkaTopics, KafkaUnavailable, TopicRejected
from brandmon_operator.topics import TopicPlan, TopicSpec
from brandmon_workers.contract.topics import TopicNames, TopicRole

DAY_MS = 86_400_000
WRITES = ("create_topics", "create_partitions", "incremental_alter_configs", "delete_topics")
READS = ("list_topics", "describe_topics", "describe_configs")


@pytest.fixture
def kafka(platform_env: dict[str, str], topic_prefix: str) -> Iterator[KafkaTopics]:
    """KafkaTopics over this test's prefix, with a snapshot that outlives the test."""
    with KafkaTopics(
        platform_env["KAFKA_BOOTSTRAP_SERVERS"], max_age_s=60, prefix=topic_prefix
    ) as client:
        yield client


def names(topic_prefix: str, monitor: str = "m") -> TopicNames:
    # "<prefix>.ns.<monitor>.<role>" starts with topic_prefix, which ends with the dot.
    return TopicNames(prefix=topic_prefix.rstrip("."), namespace="ns", monitor=monitor)


def wanted(topic_prefix: str, monitor: str = "m", **spec: object) -> list[TopicSpec]:
    return topics.desired_topics(
        names(topic_prefix, monitor), TopicsSpec.model_validate({"replicationFactor": 1} | spec)
    )


def reconcile(
    kafka: KafkaTopics, desired: list[TopicSpec], recorded: dict[str, str] | None = None
) -> TopicPlan:
    """Run one plan-and-apply as the operator does, and return the plan."""
    live = kafka.describe([t.name for t in desired])
    plan = topics.plan_topics(desired, live, recorded or {})
    kafka.apply(plan)
    return plan


def writes(kafka: KafkaTopics) -> dict[str, int]:
    return {kind: kafka.calls[kind] for kind in WRITES}


def partitions(admin: AdminClient, topic_names: list[str]) -> dict[str, int]:
    listed = admin.list_topics(timeout=10).topics
    return {n: len(listed[n].partitions) for n in topic_names if n in listed}


def configs(admin: AdminClient, topic_names: list[str]) -> dict[str, dict[str, str | None]]:
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in topic_names])
    result = {}
    for resource, future in futures.items():
        entries = future.result(timeout=10)
        result[resource.name] = {k: entries[k].value for k in topics.MANAGED_CONFIG}
    return result


def eventually(check: Callable[[], bool], what: str) -> None:
    """Wait for a change made outside to reach the broker's metadata (it lags the write)."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def wait_gone(admin: AdminClient, topic: str) -> None:
    eventually(lambda: topic not in admin.list_topics(timeout=10).topics, f"{topic} to go")


def test_creates_every_topic_of_a_monitor_as_the_spec_says(
    kafka: KafkaTopics, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    desired = wanted(topic_prefix, partitions=2, retention="2d")
    plan = reconcile(kafka, desired)
    assert [t.name for t in plan.create] == [t.name for t in desired]
    # all 8 in one request; the snapshot before it was one list_topics (nothing to describe)
    assert writes(kafka) == {
        "create_topics": 1, "create_partitions": 0, "incremental_alter_configs": 0, "delete_topics": 0,
    }  # fmt: skip

    all_names = [t.name for t in desired]
    assert partitions(kafka_admin, all_names) == dict.fromkeys(all_names, 2)
    read_back = configs(kafka_admin, all_names)
    for topic in desired:
        assert read_back[topic.name] == dict(topic.config)
    assert read_back[names(topic_prefix).of(TopicRole.PROFILES)] == {
        "retention.ms": str(2 * DAY_MS), "cleanup.policy": "compact,delete",
    }  # fmt: skip
    assert read_back[names(topic_prefix).of(TopicRole.DEAD_LETTERS)]["retention.ms"] == str(
        14 * DAY_MS
    )

    # apply() returned with a snapshot showing its writes: reading it costs nothing.
    reads = Counter({k: kafka.calls[k] for k in READS})
    live = kafka.describe(all_names)
    assert Counter({k: kafka.calls[k] for k in READS}) == reads
    assert set(live) == set(all_names)
    # A second reconcile finds everything in sync and writes nothing.
    again = topics.plan_topics(desired, live, {})
    assert again.in_sync == all_names
    assert not again.writes
    status = topics.topic_status(desired, live)
    assert [e["role"] for e in status] == sorted(r.value for r in TopicRole)
    assert all(e["topicId"] and e["partitions"] == 2 for e in status)
    assert writes(kafka)["create_topics"] == 1


def test_grows_partitions(kafka: KafkaTopics, kafka_admin: AdminClient, topic_prefix: str) -> None:
    reconcile(kafka, wanted(topic_prefix, partitions=1))
    desired = wanted(topic_prefix, partitions=4)
    plan = reconcile(kafka, desired)
    all_names = [t.name for t in desired]
    assert plan.grow == dict.fromkeys(all_names, 4)
    assert writes(kafka) == {
        "create_topics": 1, "create_partitions": 1, "incremental_alter_configs": 0, "delete_topics": 0,
    }  # fmt: skip
    assert partitions(kafka_admin, all_names) == dict.fromkeys(all_names, 4)


def test_reverts_config_drift_made_outside(
    kafka: KafkaTopics, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    desired = wanted(topic_prefix, retention="3d")
    reconcile(kafka, desired)
    posts = names(topic_prefix).of(TopicRole.POSTS)
    drift = ConfigResource(
        ResourceType.TOPIC,
        posts,
        incremental_configs=[
            ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in kafka_admin.incremental_alter_configs([drift]).values():
        future.result(timeout=10)
    eventually(lambda: configs(kafka_admin, [posts])[posts]["retention.ms"] == "60000", "the drift")

    kafka.invalidate()  # the periodic resync would see it once the snapshot ages out
    plan = reconcile(kafka, desired)
    assert plan.alter == {posts: {"retention.ms": str(3 * DAY_MS)}}
    assert kafka.calls["incremental_alter_configs"] == 1
    assert configs(kafka_admin, [posts])[posts] == {
        "retention.ms": str(3 * DAY_MS), "cleanup.policy": "delete",
    }  # fmt: skip


def test_recreates_a_topic_deleted_outside_and_reports_it(
    kafka: KafkaTopics, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    desired = wanted(topic_prefix, partitions=2)
    all_names = [t.name for t in desired]
    reconcile(kafka, desired)
    recorded = topics.recorded_topic_ids(topics.topic_status(desired, kafka.describe(all_names)))
    assert set(recorded) == set(all_names)

    media = names(topic_prefix).of(TopicRole.MEDIA)
    for future in kafka_admin.delete_topics([media], operation_timeout=10).values():
        future.result(timeout=15)
    wait_gone(kafka_admin, media)

    kafka.invalidate()
    plan = reconcile(kafka, desired, recorded)
    assert plan.recreated == [media]
    assert [t.name for t in plan.create] == [media]
    after = kafka.describe(all_names)
    assert set(after) == set(all_names)
    assert after[media].topic_id != recorded[media]
    assert after[media].partitions == 2
    assert after[media].config == dict(next(t for t in desired if t.name == media).config)
    assert all(after[n].topic_id == recorded[n] for n in all_names if n != media)


def test_refuses_a_decrease_and_sends_nothing_for_that_topic(
    kafka: KafkaTopics, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    reconcile(kafka, wanted(topic_prefix, partitions=3, retention="7d"))
    all_names = [t.name for t in wanted(topic_prefix)]
    before = writes(kafka)

    # Every topic would shrink: the plan is all refusals and apply sends nothing at all.
    plan = reconcile(kafka, wanted(topic_prefix, partitions=2, retention="7d"))
    assert plan.refused == dict.fromkeys(all_names, "partitions cannot decrease from 3 to 2")
    assert writes(kafka) == before
    assert partitions(kafka_admin, all_names) == dict.fromkeys(all_names, 3)

    # One topic grown by hand would shrink; the others still get the new retention.
    posts = names(topic_prefix).of(TopicRole.POSTS)
    for future in kafka_admin.create_partitions([NewPartitions(posts, 5)]).values():
        future.result(timeout=10)
    eventually(lambda: partitions(kafka_admin, [posts]) == {posts: 5}, "5 partitions")
    kafka.invalidate()
    plan = reconcile(kafka, wanted(topic_prefix, partitions=3, retention="1d"))
    assert plan.refused == {posts: "partitions cannot decrease from 5 to 3"}
    dead_letters = names(topic_prefix).of(TopicRole.DEAD_LETTERS)  # keeps 14 days anyway
    assert set(plan.alter) == set(all_names) - {posts, dead_letters}
    assert writes(kafka) == before | {"incremental_alter_configs": 1}
    assert partitions(kafka_admin, [posts]) == {posts: 5}
    assert configs(kafka_admin, [posts])[posts]["retention.ms"] == str(7 * DAY_MS)
    alerts = names(topic_prefix).of(TopicRole.ALERTS)
    assert configs(kafka_admin, [alerts])[alerts]["retention.ms"] == str(DAY_MS)


def test_a_plan_made_from_a_stale_read_is_harmless(
    kafka: KafkaTopics, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    # What a reconcile racing another one (or reading lagging metadata) would send.
    desired = wanted(topic_prefix, partitions=2)
    reconcile(kafka, desired)
    all_names = [t.name for t in desired]
    stale = TopicPlan(
        create=desired[:2],
        grow={t.name: 2 for t in desired[2:]},
        alter={all_names[0]: dict(desired[0].config)},
    )
    kafka.apply(stale)  # exists / "would not be an increase" count as done
    assert writes(kafka) == {
        "create_topics": 2, "create_partitions": 1, "incremental_alter_configs": 1, "delete_topics": 0,
    }  # fmt: skip
    assert partitions(kafka_admin, all_names) == dict.fromkeys(all_names, 2)


def test_a_replication_factor_the_cluster_cannot_have_is_rejected_with_kafkas_reason(
    kafka: KafkaTopics, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    desired = wanted(topic_prefix, replicationFactor=3)
    with pytest.raises(TopicRejected) as caught:
        reconcile(kafka, desired)
    all_names = [t.name for t in desired]
    assert set(caught.value.rejected) == set(all_names)
    assert caught.value.topic in all_names
    assert "replication factor of 3" in caught.value.reason
    assert caught.value.topic in str(caught.value)
    assert caught.value.reason in str(caught.value)
    assert kafka.calls["create_topics"] == 1
    assert partitions(kafka_admin, all_names) == {}


def test_delete_counts_unknown_topics_as_done(
    kafka: KafkaTopics, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    desired = wanted(topic_prefix)
    reconcile(kafka, desired)
    all_names = [t.name for t in desired]
    assert len(kafka.describe(all_names)) == 8

    never = [topic_prefix + "never-existed", topic_prefix + "nor-this"]
    kafka.delete([*all_names, *never])
    assert kafka.calls["delete_topics"] == 1
    for name in all_names:
        wait_gone(kafka_admin, name)
    assert kafka.describe(all_names) == {}  # delete invalidated the snapshot

    kafka.delete(all_names)  # all unknown now
    assert kafka.calls["delete_topics"] == 2


def test_a_hundred_monitors_cost_the_admin_calls_of_one(
    kafka: KafkaTopics, topic_prefix: str
) -> None:
    existing = [t for m in range(3) for t in wanted(topic_prefix, f"m{m}")]
    kafka.apply(topics.plan_topics(existing, {}, {}))
    assert kafka.calls["create_topics"] == 1

    # One monitor reading a snapshot that has aged out:
    kafka.invalidate()
    kafka.calls.clear()
    one = kafka.describe([t.name for t in wanted(topic_prefix, "m0")])
    assert len(one) == 8
    single = Counter(kafka.calls)
    assert single == Counter(list_topics=1, describe_topics=1, describe_configs=1)

    # 100 monitors reconciling at once, as kopf's thread pool runs them.
    kafka.invalidate()
    kafka.calls.clear()
    monitors = [[t.name for t in wanted(topic_prefix, f"m{m}")] for m in range(100)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        seen = list(pool.map(kafka.describe, monitors))
    assert [len(s) for s in seen] == [8] * 3 + [0] * 97
    assert kafka.calls == single  # exactly 3, not 300

    kafka.calls.clear()
    for monitor in monitors:  # and sequentially, within max_age: served from the snapshot
        kafka.describe(monitor)
    assert sum(kafka.calls.values()) == 0


def test_names_outside_the_prefix_are_refused(kafka: KafkaTopics) -> None:
    with pytest.raises(ValueError, match="outside prefix"):
        kafka.describe(["somebody-elses.topic"])
    assert sum(kafka.calls.values()) == 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port  # closed again when the socket is: nothing listens there


def test_unreachable_kafka_is_unavailable_quickly_and_without_credentials() -> None:
    servers = f"127.0.0.1:{_closed_port()}"
    secret = "hunter2-do-not-leak"
    credentials = {
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
        "sasl.username": "brandmon", "sasl.password": secret,
    }  # fmt: skip
    with KafkaTopics(servers, credentials, request_timeout_s=1.5, prefix="p.") as kafka:
        started = time.monotonic()
        with pytest.raises(KafkaUnavailable) as caught:
            kafka.describe(["p.ns.m.posts"])
        assert time.monotonic() - started < 5
        message = str(caught.value)
        assert servers in message
        assert "list_topics" in message
        assert secret not in message
        assert secret not in repr(caught.value.__cause__)

        # Callers queued behind that refresh get its answer at once, not another timeout.
        started = time.monotonic()
        with pytest.raises(KafkaUnavailable):
            kafka.describe(["p.ns.m.posts"])
        assert time.monotonic() - started < 0.5
        assert kafka.calls["list_topics"] == 1

        started = time.monotonic()
        plan = topics.plan_topics(
            topics.desired_topics(
                TopicNames(prefix="p", namespace="ns", monitor="m"), TopicsSpec()
            ),
            {},
            {},
        )
        with pytest.raises(KafkaUnavailable) as caught:
            kafka.apply(plan)
        assert time.monotonic() - started < 5
        assert "create_topics" in str(caught.value)
        assert secret not in str(caught.value)
