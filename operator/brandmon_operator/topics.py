"""Pure planning of a monitor's Kafka topics: what they should be and what to change.

Kubernetes is the source of truth, as in Strimzi's unidirectional Topic Operator: the
monitor's spec says what each topic must look like, Kafka is brought to match, and
changes made to Kafka by hand are undone (config drift reverted, deleted topics
recreated). brandmon only manages the topic properties it sets (partitions, replication
factor, `retention.ms`, `cleanup.policy`); any other topic config is left alone. What
Kafka cannot do is refused and reported instead of attempted: partitions never shrink,
and the replication factor needs a reassignment brandmon does not perform.

No I/O here: `kafka_admin` reads the live topics and applies a `TopicPlan`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from brandmon_operator.api import TopicsSpec
from brandmon_workers.contract.topics import TopicNames, TopicRole

RETENTION_MS = "retention.ms"
CLEANUP_POLICY = "cleanup.policy"
MANAGED_CONFIG = (RETENTION_MS, CLEANUP_POLICY)
"""Topic config keys brandmon sets; every other key is whatever Kafka or its admins say."""

# Someone has to look at dead letters before they go, and that can wait for a holiday.
DEAD_LETTER_MIN_RETENTION_MS = 14 * 24 * 3600 * 1000

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# "ms" before "m", so that "5ms" is five milliseconds and not five minutes plus an "s".
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d)")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d))+")


@dataclass(frozen=True)
class TopicSpec:
    """What one topic should be."""

    name: str
    role: TopicRole
    partitions: int
    replication_factor: int
    config: Mapping[str, str]


@dataclass(frozen=True)
class LiveTopic:
    """What Kafka has for one topic (config: only the keys in MANAGED_CONFIG)."""

    name: str
    topic_id: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]


@dataclass
class TopicPlan:
    """The changes that bring Kafka to the desired topics, and what cannot be changed."""

    create: list[TopicSpec] = field(default_factory=list)
    grow: dict[str, int] = field(default_factory=dict)
    """Topic -> new partition count."""
    alter: dict[str, dict[str, str]] = field(default_factory=dict)
    """Topic -> managed config keys to set (only those that differ)."""
    refused: dict[str, str] = field(default_factory=dict)
    """Topic -> why the spec cannot be applied; nothing is sent to Kafka for it."""
    recreated: list[str] = field(default_factory=list)
    """Topics deleted (or deleted and recreated) outside Kubernetes since their id was recorded."""
    in_sync: list[str] = field(default_factory=list)
    """Topics that exist and need no write (a recreated topic can be in sync)."""

    @property
    def writes(self) -> bool:
        """Return whether applying the plan sends anything to Kafka."""
        return bool(self.create or self.grow or self.alter)


def retention_ms(text: str) -> int:
    """Return a duration such as "7d" or "1h30m" in milliseconds."""
    if not _DURATION.fullmatch(text):
        raise ValueError(f"not a duration: {text!r} (expected e.g. 7d, 12h, 1h30m, 500ms)")
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _DURATION_PART.findall(text))


def desired_topics(names: TopicNames, spec: TopicsSpec) -> list[TopicSpec]:
    """Return every topic of a monitor as its spec asks for it, in role order."""
    retention = retention_ms(spec.retention)
    topics = []
    for role, name in names.all().items():
        keep = retention
        if role is TopicRole.DEAD_LETTERS:
            keep = max(retention, DEAD_LETTER_MIN_RETENTION_MS)
        # Profiles are keyed by account: compaction keeps the latest profile of each, and
        # "delete" still bounds how long an account that went quiet is remembered.
        policy = "compact,delete" if role is TopicRole.PROFILES else "delete"
        topics.append(
            TopicSpec(
                name=name,
                role=role,
                partitions=spec.partitions,
                replication_factor=spec.replication_factor,
                config={RETENTION_MS: str(keep), CLEANUP_POLICY: policy},
            )
        )
    return topics


def _same_value(key: str, want: str, have: str | None) -> bool:
    """Return whether a live config value already says what the desired one does."""
    if have is None:
        return False
    if key == CLEANUP_POLICY:
        # A list: "delete,compact" means the same as "compact,delete".
        return {p.strip() for p in want.split(",")} == {p.strip() for p in have.split(",")}
    return want.strip() == have.strip()


def config_changes(desired: Mapping[str, str], live: Mapping[str, str]) -> dict[str, str]:
    """Return the desired config entries whose live value differs."""
    return {k: v for k, v in desired.items() if not _same_value(k, v, live.get(k))}


def plan_topics(
    desired: list[TopicSpec], live: Mapping[str, LiveTopic], recorded_ids: Mapping[str, str]
) -> TopicPlan:
    """Return what to do so that Kafka has the desired topics.

    `live` maps topic name to what Kafka has (missing topics absent); `recorded_ids` maps
    topic name to the topic id recorded in the monitor's status by an earlier reconcile.
    """
    plan = TopicPlan()
    for topic in desired:
        current = live.get(topic.name)
        recorded = recorded_ids.get(topic.name)
        if current is None:
            plan.create.append(topic)
            if recorded:
                plan.recreated.append(topic.name)
            continue
        if recorded and recorded != current.topic_id:
            # Deleted and created again behind our back: its data is gone all the same.
            plan.recreated.append(topic.name)
        problems = []
        if current.partitions > topic.partitions:
            problems.append(
                f"partitions cannot decrease from {current.partitions} to {topic.partitions}"
            )
        if current.replication_factor != topic.replication_factor:
            problems.append(
                f"replication factor is {current.replication_factor}, spec asks "
                f"{topic.replication_factor}: changing it needs a partition reassignment "
                "brandmon does not do"
            )
        if problems:
            # Half-applying a spec Kafka cannot fully honour would hide the problem.
            plan.refused[topic.name] = "; ".join(problems)
            continue
        changes = config_changes(topic.config, current.config)
        if current.partitions < topic.partitions:
            plan.grow[topic.name] = topic.partitions
        if changes:
            plan.alter[topic.name] = changes
        if topic.name not in plan.grow and not changes:
            plan.in_sync.append(topic.name)
    return plan


def topic_status(
    desired: list[TopicSpec], live_after: Mapping[str, LiveTopic]
) -> list[dict[str, object]]:
    """Return the status entries of the desired topics that exist, sorted by role.

    Topic ids recorded here are what `recorded_topic_ids()` reads back next time, to tell
    a topic deleted outside Kubernetes from one never created.
    """
    entries: list[dict[str, object]] = []
    for topic in sorted(desired, key=lambda t: t.role.value):
        current = live_after.get(topic.name)
        if current is None:
            continue
        entries.append(
            {
                "name": topic.name,
                "role": topic.role.value,
                "topicId": current.topic_id,
                "partitions": current.partitions,
                "replicationFactor": current.replication_factor,
            }
        )
    return entries


def recorded_topic_ids(status_topics: object) -> dict[str, str]:
    """Return topic name -> topic id from a status written by `topic_status()`.

    Tolerates anything (a status edited by hand, an older operator): what cannot be read
    is not recorded.
    """
    if not isinstance(status_topics, list):
        return {}
    ids = {}
    for entry in status_topics:
        if isinstance(entry, Mapping):
            name, topic_id = entry.get("name"), entry.get("topicId")
            if isinstance(name, str) and isinstance(topic_id, str) and topic_id:
                ids[name] = topic_id
    return ids
