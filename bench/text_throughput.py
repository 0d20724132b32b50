"""Text analyzer throughput: through Kafka (one worker process) vs in memory, in one run.

Needs a running local platform (`make platform-up`). Produces N posts to a fresh topic
set, runs the text analyzer's Worker (the same code as `brandmon-worker text-analyzer`) in
this process until every post has its text score in Kafka, and times the same analysis
(`TextScorer.score_batch` over the same posts, in the worker's batch size) in memory. The
ratio is the Kafka overhead. Prints a table and a final JSON line; writes
bench/results/text-throughput.json.

    .venv/bin/python bench/text_throughput.py [--posts 20000]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brandmon_devtools.platform import runtime as platform_runtime
from brandmon_workers.contract.analysis import AnalysisSpec, Keyword
from brandmon_workers.contract.messages import Post, Provenance
from brandmon_workers.contract.settings import S3Settings, WorkerSettings
from brandmon_workers.contract.topics import TopicNames, TopicRole
from brandmon_workers.roles import TextAnalyzer
from brandmon_workers.runtime import Worker

CAPTIONS = [
    "Loving my new ACME blender, smoothies every morning!",
    "ACME support is useless, waited 3 hours and nobody answered. Never again",
    "Heard about the ACME data breach? Change your passwords now #databreach",
    "ACME announces a #recall of the X200 toaster after fire reports",
    "what a stupid idiotic product, total garbage, you people are clowns",
    "Unboxing the ACME kettle today #acme #kitchen #happy",
]


def posts(n: int) -> list[Post]:
    """Return n posts cycling through the sample captions."""
    now = datetime.now(UTC)
    provenance = Provenance(source="bench", collected_at=now, collector_version="bench")
    return [
        Post(
            post_id=f"p{i}",
            shortcode=f"s{i}",
            username=f"user{i % 97}",
            url=f"https://x.invalid/{i}",
            caption=f"{CAPTIONS[i % len(CAPTIONS)]} ({i})",
            posted_at=now,
            provenance=provenance,
        )
        for i in range(n)
    ]


def through_kafka(
    settings: WorkerSettings, processor: TextAnalyzer, batch: list[Post], size: int
) -> float:
    """Produce the posts, run the worker until every text score is in Kafka; return seconds."""
    bootstrap = settings.kafka_bootstrap_servers
    names = settings.topics
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4"}
    )
    for post in batch:
        producer.produce(
            names.of(TopicRole.POSTS),
            key=post.post_id.encode(),
            value=post.model_dump_json().encode(),
        )
        producer.poll(0)
    producer.flush(60)

    worker = Worker(
        "text-analyzer",
        settings,
        processor,
        batch_size=size,
        health_port=None,
        metrics_port=None,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    started = time.perf_counter()
    thread.start()
    out = names.of(TopicRole.TEXT_SCORES)
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-probe"})
    while True:
        done = sum(
            probe.get_watermark_offsets(TopicPartition(out, p), timeout=10)[1] for p in range(3)
        )
        if done >= len(batch):
            break
        time.sleep(0.05)
    kafka_s = time.perf_counter() - started
    stop.set()
    thread.join(30)
    probe.close()
    return kafka_s


def main() -> None:
    """Measure and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    platform = platform_runtime.Platform(platform_runtime.default_dir())
    state = platform.load_state()
    if state is None or not platform_runtime.is_running(platform):
        raise SystemExit("start the platform first: make platform-up")
    bootstrap = platform.client_env(state)["KAFKA_BOOTSTRAP_SERVERS"]
    names = TopicNames(prefix=f"bench-{uuid.uuid4().hex[:8]}", namespace="bench", monitor="text")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics(
        [NewTopic(t, num_partitions=3, replication_factor=1) for t in names.all().values()]
    ).values():
        future.result(timeout=30)
    analysis = AnalysisSpec(
        keywords=[Keyword(term="data breach", weight=1.0), Keyword(term="recall", weight=0.8)]
    )
    settings = WorkerSettings(
        namespace="bench",
        monitor="text",
        brand="ACME",
        kafka_bootstrap_servers=bootstrap,
        topics=names,
        s3=S3Settings(bucket="unused"),
        analysis=analysis,
    )
    batch = posts(args.posts)
    try:
        processor = TextAnalyzer(settings)
        processor.scorer.score_batch(
            batch[:10], datetime.now(UTC)
        )  # load the models outside the timing
        started = time.perf_counter()
        for i in range(0, len(batch), args.batch):
            processor.scorer.score_batch(batch[i : i + args.batch], datetime.now(UTC))
        memory_s = time.perf_counter() - started

        kafka_s = through_kafka(settings, processor, batch, args.batch)
    finally:
        for future in admin.delete_topics(list(names.all().values())).values():
            future.result(timeout=30)
    result = {
        "benchmark": "text-throughput",
        "posts": len(batch),
        "batch_size": args.batch,
        "in_memory_posts_per_s": round(len(batch) / memory_s),
        "through_kafka_posts_per_s": round(len(batch) / kafka_s),
        "kafka_over_memory_ratio": round(memory_s / kafka_s, 3),
        "note": "Kafka time includes consumer start-up, group join, produce, commit",
    }
    print(f"in memory      {result['in_memory_posts_per_s']:>8} posts/s")
    print(f"through Kafka  {result['through_kafka_posts_per_s']:>8} posts/s")
    print(f"ratio          {result['kafka_over_memory_ratio']:>8}")
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "text-throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
