"""A worker serves its probes and Prometheus metrics, and stops cleanly."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from brandmon_workers import roles
from brandmon_workers.contract.messages import Post, Provenance
from brandmon_workers.contract.settings import S3Settings, WorkerSettings
from brandmon_workers.contract.topics import TopicNames, TopicRole
from tests.platform.conftest import eventually, free_port


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local worker
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except urllib.error.URLError:
        return 0, ""  # not listening yet


def test_probes_and_metrics(
    platform_env: dict[str, str], kafka_admin: AdminClient, topic_prefix: str
) -> None:
    names = TopicNames(prefix=topic_prefix.rstrip("."), namespace="brands", monitor="acme")
    for future in kafka_admin.create_topics(
        [NewTopic(t, num_partitions=1, replication_factor=1) for t in names.all().values()]
    ).values():
        future.result(timeout=30)
    health, metrics = free_port(), free_port()
    settings = WorkerSettings(
        namespace="brands", monitor="acme", brand="ACME",
        kafka_bootstrap_servers=platform_env["KAFKA_BOOTSTRAP_SERVERS"], topics=names,
        s3=S3Settings(bucket="unused"), health_port=health, metrics_port=metrics,
    )  # fmt: skip
    worker = roles.build("text-analyzer", settings)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        eventually(
            lambda: get(f"http://127.0.0.1:{health}/readyz")[0] == 200, timeout=60, what="ready"
        )
        assert get(f"http://127.0.0.1:{health}/healthz")[0] == 200
        now = datetime.now(UTC)
        post = Post(post_id="p1", shortcode="s", username="u", url="https://x.invalid/p1", caption="hello",
                    posted_at=now, provenance=Provenance(source="t", collected_at=now, collector_version="t"))  # fmt: skip
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
        producer.produce(
            names.of(TopicRole.POSTS), key=b"p1", value=post.model_dump_json().encode()
        )
        producer.produce(names.of(TopicRole.POSTS), key=b"bad", value=b"not json")
        assert producer.flush(30) == 0

        expected = [
            'brandmon_consumed_total{worker="text-analyzer"} 2.0',
            'brandmon_produced_total{worker="text-analyzer"} 1.0',
            'brandmon_dead_lettered_total{worker="text-analyzer"} 1.0',
        ]

        def counted() -> str | None:
            text = get(f"http://127.0.0.1:{metrics}/metrics")[1]
            return text if all(line in text for line in expected) else None

        text = eventually(counted, timeout=60, what="consumed 2, produced 1, dead-lettered 1")
        assert "brandmon_consumer_lag" in text
        assert "brandmon_batch_seconds_count" in text
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
