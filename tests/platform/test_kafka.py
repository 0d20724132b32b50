"""The local Kafka broker is real: topics via the AdminClient, no loss end to end."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

MESSAGES = 10_000


def test_create_topic_with_the_admin_client(kafka_admin: AdminClient, topic_prefix: str) -> None:
    topic = topic_prefix + "created"
    futures = kafka_admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    futures[topic].result(timeout=30)
    metadata = kafka_admin.list_topics(topic, timeout=10)
    assert len(metadata.topics[topic].partitions) == 3


def test_broker_refuses_to_auto_create_topics(
    platform_env: dict[str, str], topic_prefix: str
) -> None:
    producer = Producer({"bootstrap.servers": platform_env["KAFKA_BOOTSTRAP_SERVERS"]})
    metadata = producer.list_topics(topic_prefix + "never-created", timeout=10)
    error = metadata.topics[topic_prefix + "never-created"].error
    assert error is not None
    assert error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_produce_and_consume_ten_thousand_without_loss(
    kafka_admin: AdminClient, platform_env: dict[str, str], topic_prefix: str
) -> None:
    topic = topic_prefix + "volume"
    kafka_admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[
        topic
    ].result(timeout=30)
    bootstrap = platform_env["KAFKA_BOOTSTRAP_SERVERS"]
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    failures: list[str] = []

    def delivered(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    for n in range(MESSAGES):
        producer.produce(
            topic, key=str(n).encode(), value=f"post-{n}".encode(), on_delivery=delivered
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": topic_prefix + "reader",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen: dict[int, str] = {}
    deadline = time.monotonic() + 60
    try:
        while len(seen) < MESSAGES and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=1):
                assert message.error() is None, message.error()
                key, value = message.key(), message.value()
                assert key is not None
                assert value is not None
                seen[int(key)] = value.decode()
    finally:
        consumer.close()
    assert len(seen) == MESSAGES
    assert all(seen[n] == f"post-{n}" for n in range(MESSAGES))
