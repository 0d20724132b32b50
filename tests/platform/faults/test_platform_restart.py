"""The platform can crash and restart one component in place, which the fault tests rely on."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka.admin import AdminClient, NewTopic

from brandmon_devtools.platform import runtime


def test_killed_kafka_restarts_on_its_port_with_its_topics(
    platform: runtime.Platform,
    kafka_admin: AdminClient,
    topic_prefix: str,
    outage: Callable[..., None],
) -> None:
    topic = f"{topic_prefix}survivor"
    kafka_admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    before = platform.load_state()
    assert before is not None
    outage("kafka", kill=True)
    assert not runtime.status(platform)["kafka"]
    runtime.start_component(platform, "kafka")
    after = platform.load_state()
    assert after is not None
    assert after.ports["kafka"] == before.ports["kafka"]
    assert after.pids["kafka"] != before.pids["kafka"]
    assert all(runtime.status(platform).values())
    assert topic in kafka_admin.list_topics(timeout=30).topics
