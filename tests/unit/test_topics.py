"""Planning a monitor's Kafka topics without Kafka: Kubernetes says, Kafka follows."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from brandmon_operator import topics
from brandmon_operator.api import TopicsSpec
from brandmon_operator.topics import LiveTopic, TopicSpec
from brandmon_workers.contract.topics import TopicNames, TopicRole

NAMES = TopicNames(prefix="bm", namespace="brands", monitor="acme")
DAY_MS = 86_400_000


def desired(**spec: object) -> list[TopicSpec]:
    return topics.desired_topics(NAMES, TopicsSpec.model_validate(spec))


def live_of(wanted: list[TopicSpec]) -> dict[str, LiveTopic]:
    """Return Kafka as it is right after creating `wanted` (ids are "id-<role>")."""
    return {
        t.name: LiveTopic(
            name=t.name,
            topic_id=f"id-{t.role.value}",
            partitions=t.partitions,
            replication_factor=t.replication_factor,
            config=dict(t.config),
        )
        for t in wanted
    }


def ids(live: dict[str, LiveTopic]) -> dict[str, str]:
    return {name: t.topic_id for name, t in live.items()}


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("30s", 30_000),
        ("15m", 900_000),
        ("1h30m", 5_400_000),
        ("7d", 7 * DAY_MS),
        ("1d2h3m4s5ms", DAY_MS + 2 * 3_600_000 + 3 * 60_000 + 4_000 + 5),
        ("0s", 0),
    ],
)
def test_retention_ms_reads_kubernetes_style_durations(text: str, ms: int) -> None:
    assert topics.retention_ms(text) == ms


@pytest.mark.parametrize("text", ["", "7", "d", "7w", "1.5h", "-1d", "7d ", "1h 30m"])
def test_retention_ms_refuses_what_the_crd_pattern_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        topics.retention_ms(text)


def test_desired_topics_one_per_role_with_managed_config() -> None:
    wanted = desired(partitions=6, replicationFactor=1, retention="3d")
    by_role = {t.role: t for t in wanted}
    assert [t.role for t in wanted] == list(TopicRole)
    assert {t.name for t in wanted} == set(NAMES.all().values())
    assert all(t.partitions == 6 and t.replication_factor == 1 for t in wanted)
    assert by_role[TopicRole.PROFILES].config == {
        "retention.ms": str(3 * DAY_MS), "cleanup.policy": "compact,delete",
    }  # fmt: skip
    assert by_role[TopicRole.POSTS].config == {
        "retention.ms": str(3 * DAY_MS), "cleanup.policy": "delete",
    }  # fmt: skip
    assert all(set(t.config) == set(topics.MANAGED_CONFIG) for t in wanted)


@pytest.mark.parametrize(
    ("retention", "dead_letter_ms"),
    [("1h", 14 * DAY_MS), ("14d", 14 * DAY_MS), ("30d", 30 * DAY_MS)],
)
def test_dead_letters_keep_at_least_fourteen_days(retention: str, dead_letter_ms: int) -> None:
    by_role = {t.role: t for t in desired(retention=retention)}
    assert by_role[TopicRole.DEAD_LETTERS].config["retention.ms"] == str(dead_letter_ms)
    assert by_role[TopicRole.ALERTS].config["retention.ms"] == str(topics.retention_ms(retention))


def test_nothing_exists_creates_everything() -> None:
    wanted = desired()
    plan = topics.plan_topics(wanted, {}, {})
    assert plan.create == wanted
    assert plan.recreated == []
    assert (plan.grow, plan.alter, plan.refused, plan.in_sync) == ({}, {}, {}, [])
    assert plan.writes


def test_everything_in_sync_writes_nothing() -> None:
    wanted = desired()
    live = live_of(wanted)
    plan = topics.plan_topics(wanted, live, ids(live))
    assert plan.in_sync == [t.name for t in wanted]
    assert not plan.writes
    assert (plan.create, plan.grow, plan.alter, plan.refused, plan.recreated) == (
        [], {}, {}, {}, []
    )  # fmt: skip


def test_cleanup_policy_is_a_set_and_values_are_compared_as_kafka_returns_them() -> None:
    wanted = desired()
    live = live_of(wanted)
    profiles = NAMES.of(TopicRole.PROFILES)
    live[profiles] = replace(
        live[profiles], config={**live[profiles].config, "cleanup.policy": "delete, compact"}
    )
    assert not topics.plan_topics(wanted, live, {}).writes


def test_partitions_grow() -> None:
    wanted = desired(partitions=6)
    live = live_of(desired(partitions=3))
    plan = topics.plan_topics(wanted, live, ids(live))
    assert plan.grow == {t.name: 6 for t in wanted}
    assert plan.in_sync == []
    assert plan.writes


def test_config_drift_is_reverted_key_by_key() -> None:
    wanted = desired(retention="7d")
    live = live_of(wanted)
    posts, profiles = NAMES.of(TopicRole.POSTS), NAMES.of(TopicRole.PROFILES)
    live[posts] = replace(live[posts], config={"retention.ms": "1000", "cleanup.policy": "delete"})
    live[profiles] = replace(live[profiles], config={"retention.ms": str(7 * DAY_MS)})
    plan = topics.plan_topics(wanted, live, ids(live))
    assert plan.alter == {
        posts: {"retention.ms": str(7 * DAY_MS)},  # only the key that differs
        profiles: {"cleanup.policy": "compact,delete"},  # a missing key differs
    }
    assert posts not in plan.in_sync
    assert len(plan.in_sync) == len(wanted) - 2


def test_a_spec_change_grows_and_alters_the_same_topic() -> None:
    wanted = desired(partitions=4, retention="1d")
    live = live_of(desired(partitions=2, retention="7d"))
    plan = topics.plan_topics(wanted, live, ids(live))
    posts = NAMES.of(TopicRole.POSTS)
    assert plan.grow[posts] == 4
    assert plan.alter[posts] == {"retention.ms": str(DAY_MS)}
    # dead letters keep 14 days whatever the spec says, so they are not altered
    assert NAMES.of(TopicRole.DEAD_LETTERS) not in plan.alter


def test_decrease_is_refused_and_nothing_is_sent_for_that_topic() -> None:
    wanted = desired(partitions=3, retention="1d")
    live = live_of(desired(partitions=3, retention="7d"))
    posts, alerts = NAMES.of(TopicRole.POSTS), NAMES.of(TopicRole.ALERTS)
    live[posts] = replace(live[posts], partitions=6)  # and its retention drifted too
    plan = topics.plan_topics(wanted, live, ids(live))
    assert plan.refused == {posts: "partitions cannot decrease from 6 to 3"}
    assert posts not in plan.alter
    assert posts not in plan.grow
    assert posts not in plan.in_sync
    # other topics still proceed
    assert plan.alter[alerts] == {"retention.ms": str(DAY_MS)}
    assert plan.writes


def test_replication_factor_change_is_refused() -> None:
    wanted = desired(replicationFactor=1)
    live = live_of(desired(replicationFactor=3))
    plan = topics.plan_topics(wanted, live, ids(live))
    assert set(plan.refused) == {t.name for t in wanted}
    assert plan.refused[NAMES.of(TopicRole.POSTS)] == (
        "replication factor is 3, spec asks 1: changing it needs a partition "
        "reassignment brandmon does not do"
    )
    assert not plan.writes


def test_both_refusals_are_reported_together() -> None:
    wanted = desired(partitions=1, replicationFactor=1)
    live = live_of(desired(partitions=2, replicationFactor=2))
    message = topics.plan_topics(wanted, live, {}).refused[NAMES.of(TopicRole.MEDIA)]
    assert "partitions cannot decrease from 2 to 1" in message
    assert "replication factor is 2, spec asks 1" in message


def test_topic_deleted_outside_is_recreated_and_reported() -> None:
    wanted = desired()
    live = live_of(wanted)
    recorded = ids(live)
    media = NAMES.of(TopicRole.MEDIA)
    del live[media]
    plan = topics.plan_topics(wanted, live, recorded)
    assert [t.name for t in plan.create] == [media]
    assert plan.recreated == [media]
    assert media not in plan.in_sync


def test_topic_recreated_outside_with_a_new_id_is_reported() -> None:
    wanted = desired()
    live = live_of(wanted)
    recorded = ids(live)
    alerts = NAMES.of(TopicRole.ALERTS)
    live[alerts] = replace(live[alerts], topic_id="someone-elses", partitions=1)
    plan = topics.plan_topics(wanted, live, recorded)
    assert plan.recreated == [alerts]
    assert plan.create == []  # it exists; it only needs to be brought back to spec
    assert plan.grow == {alerts: 3}


def test_never_recorded_topics_are_not_recreated() -> None:
    # The first reconcile (or a status written before topics existed) records nothing.
    assert topics.plan_topics(desired(), {}, {}).recreated == []


def test_topic_status_sorted_by_role_and_only_for_existing_topics() -> None:
    wanted = desired(partitions=2, replicationFactor=1)
    live = live_of(wanted)
    del live[NAMES.of(TopicRole.MEDIA)]
    entries = topics.topic_status(wanted, live)
    roles = [e["role"] for e in entries]
    assert roles == sorted(r.value for r in TopicRole if r is not TopicRole.MEDIA)
    assert entries[0] == {
        "name": NAMES.of(TopicRole.ALERTS), "role": "alerts", "topicId": "id-alerts",
        "partitions": 2, "replicationFactor": 1,
    }  # fmt: skip


def test_recorded_topic_ids_round_trip_and_tolerate_junk() -> None:
    wanted = desired()
    live = live_of(wanted)
    assert topics.recorded_topic_ids(topics.topic_status(wanted, live)) == ids(live)
    assert topics.recorded_topic_ids(None) == {}
    assert topics.recorded_topic_ids({"name": "x"}) == {}
    assert topics.recorded_topic_ids(
        [
            {"name": "a", "topicId": "1"},
            {"name": "b"},
            {"topicId": "2"},
            "junk",
            {"name": "c", "topicId": ""},
        ]
    ) == {"a": "1"}


def test_topics_module_is_pure() -> None:
    source = Path(topics.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"kopf", "kubernetes", "confluent_kafka"}
