"""Kafka topic names: one rule, used by the operator (to create them) and the workers.

`<prefix>.<namespace>.<monitor>.<role>`, e.g. `brandmon.brands.acme.posts`. Namespace and
monitor names are DNS labels, so the name is unique per monitor and always a legal topic
name (Kafka allows [a-zA-Z0-9._-], at most 249 characters).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from brandmon_workers.contract.base import ApiModel

DEFAULT_PREFIX = "brandmon"
TOPIC_PREFIX = r"^[a-zA-Z0-9._-]{1,100}$"


class TopicRole(StrEnum):
    """What a topic carries."""

    PROFILES = "profiles"
    POSTS = "posts"
    MEDIA = "media"
    TEXT_SCORES = "text-scores"
    IMAGE_SCORES = "image-scores"
    SCORED_POSTS = "scored-posts"
    ALERTS = "alerts"
    DEAD_LETTERS = "dead-letters"


def consumer_group(namespace: str, monitor: str, role: str) -> str:
    """Return the consumer group of one role of one monitor: `brandmon.<ns>.<monitor>.<role>`.

    With an empty role it is the prefix every group of the monitor starts with, which is
    what the monitor's Kafka principal may use.
    """
    return f"{DEFAULT_PREFIX}.{namespace}.{monitor}.{role}"


def topic_name(prefix: str, namespace: str, monitor: str, role: TopicRole) -> str:
    """Return the topic of one role of one monitor."""
    return f"{prefix}.{namespace}.{monitor}.{role.value}"


class TopicNames(ApiModel):
    """Every topic of one monitor, by role."""

    prefix: str = Field(default=DEFAULT_PREFIX, pattern=TOPIC_PREFIX)
    """Prefix shared by all brandmon topics of a cluster."""

    namespace: str
    """Namespace of the monitor."""

    monitor: str
    """Name of the monitor."""

    def of(self, role: TopicRole) -> str:
        """Return the topic for a role."""
        return topic_name(self.prefix, self.namespace, self.monitor, role)

    def monitor_prefix(self) -> str:
        """Return what every topic of this monitor (and nothing else) starts with."""
        return topic_name(self.prefix, self.namespace, self.monitor, TopicRole.POSTS).removesuffix(
            TopicRole.POSTS.value
        )

    def all(self) -> dict[TopicRole, str]:
        """Return every topic, by role."""
        return {role: self.of(role) for role in TopicRole}
