"""Text analyzer throughput: one worker through Kafka against the same analysis in memory.

Each round fills the posts topic of a fresh topic set with N posts, then runs the real
text analyzer (`roles.TextAnalyzer` in the runtime's `Worker`, the code of
`brandmon-worker text-analyzer`) in this process until every text score is in Kafka, and
times `TextAnalyzer.process` over the same posts, already decoded, in the worker's batch
size. Rounds alternate the two so that machine noise hits both alike; the ratio of each
round is reported and the median is the headline.

The Kafka rate is given twice: `steady` counts from the first text score in Kafka to the
last (a running analyzer's rate), `with_start` from the worker's start (consumer start-up
and group join included). `ratio_cpu` compares CPU time instead of wall time (the
analysis in memory against the worker thread's CPU time for all of its work): the cost
of the Kafka path on the Python side, which other load on the machine does not skew.

    .venv/bin/python -m bench.text_throughput [--posts 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime

from confluent_kafka import Consumer, Producer, TopicPartition

from bench import common
from brandmon_workers.contract.analysis import AnalysisSpec, Keyword
from brandmon_workers.contract.messages import Post, Provenance
from brandmon_workers.contract.settings import S3Settings, WorkerSettings
from brandmon_workers.contract.topics import TopicNames, TopicRole
from brandmon_workers.roles import TextAnalyzer
from brandmon_workers.runtime import Record, Worker

PARTITIONS = 3
_GIVE_UP_S = 600
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


def settings_for(bootstrap: str, names: TopicNames) -> WorkerSettings:
    """Return the text analyzer's settings: two keywords, sentiment and toxicity on."""
    analysis = AnalysisSpec(
        keywords=[Keyword(term="data breach", weight=1.0), Keyword(term="recall", weight=0.8)]
    )
    return WorkerSettings(
        namespace="bench", monitor=names.monitor, brand="ACME", kafka_bootstrap_servers=bootstrap,
        topics=names, s3=S3Settings(bucket="unused"), analysis=analysis,
        health_port=0, metrics_port=0,
    )  # fmt: skip


def in_memory(processor: TextAnalyzer, batch: list[Post], size: int) -> tuple[float, float]:
    """Run the analysis over already decoded posts in batches; return wall and CPU seconds."""
    records = [
        Record(TopicRole.POSTS, "posts", 0, i, post.post_id, post, 0)
        for i, post in enumerate(batch)
    ]
    started, cpu = time.perf_counter(), time.thread_time()
    for i in range(0, len(records), size):
        processor.process(records[i : i + size])
    return time.perf_counter() - started, time.thread_time() - cpu


def fill(bootstrap: str, topic: str, batch: list[Post]) -> None:
    """Produce the posts (not timed)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for post in batch:
        producer.produce(topic, key=post.post_id.encode(), value=post.model_dump_json().encode())
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError("posts not acknowledged")


def through_kafka(
    settings: WorkerSettings, processor: TextAnalyzer, total: int, size: int
) -> dict[str, float]:
    """Run the worker until every text score is in Kafka; return its timings in seconds."""
    out = settings.topics.of(TopicRole.TEXT_SCORES)
    probe = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "probe"})
    worker = Worker(
        "text-analyzer", settings, processor, batch_size=size, health_port=None, metrics_port=None
    )
    stop = threading.Event()
    cpu: list[float] = []

    def run() -> None:
        # The worker thread's own CPU time: what the Python side costs, whatever the load.
        started = time.thread_time()
        worker.run(stop)
        cpu.append(time.thread_time() - started)

    thread = threading.Thread(target=run)
    started = time.perf_counter()
    thread.start()
    first: tuple[float, int] | None = None
    try:
        while True:
            done = sum(
                probe.get_watermark_offsets(TopicPartition(out, p), timeout=10)[1]
                for p in range(PARTITIONS)
            )
            now = time.perf_counter()
            if done and first is None:
                first = (now, done)
            if done >= total:
                break
            if now - started > _GIVE_UP_S:
                raise RuntimeError(f"only {done} of {total} text scores after {_GIVE_UP_S} s")
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(60)
        probe.close()
    assert first is not None
    return {
        "with_start_s": now - started,
        "first_output_s": first[0] - started,
        "steady_s": now - first[0],
        "steady_posts": total - first[1],
        "worker_cpu_s": cpu[0] if cpu else float("nan"),
    }


def main() -> None:
    """Measure, print and record."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500, help="the worker's batch size")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    batch = posts(args.posts)
    rounds = []
    with common.platform() as handle:
        bootstrap = common.client_env(handle)["KAFKA_BOOTSTRAP_SERVERS"]
        processor: TextAnalyzer | None = None
        for round_ in range(1, args.rounds + 1):
            names = TopicNames(
                prefix=f"bench-{uuid.uuid4().hex[:8]}", namespace="bench", monitor="text"
            )
            common.create_topics(bootstrap, names, PARTITIONS)
            try:
                settings = settings_for(bootstrap, names)
                if processor is None:
                    processor = TextAnalyzer(settings)
                    in_memory(processor, batch[:50], args.batch)  # load the models untimed
                fill(bootstrap, names.of(TopicRole.POSTS), batch)
                memory_s, memory_cpu_s = in_memory(processor, batch, args.batch)
                kafka = through_kafka(settings, processor, len(batch), args.batch)
            finally:
                common.delete_topics(bootstrap, list(names.all().values()))
            memory_rate = len(batch) / memory_s
            steady_rate = kafka["steady_posts"] / kafka["steady_s"]
            rounds.append(
                {
                    "in_memory_posts_per_s": round(memory_rate),
                    "kafka_steady_posts_per_s": round(steady_rate),
                    "kafka_with_start_posts_per_s": round(len(batch) / kafka["with_start_s"]),
                    "kafka_first_output_s": round(kafka["first_output_s"], 3),
                    "ratio_steady": round(steady_rate / memory_rate, 3),
                    "ratio_with_start": round(memory_s / kafka["with_start_s"], 3),
                    "in_memory_cpu_s": round(memory_cpu_s, 3),
                    "worker_thread_cpu_s": round(kafka["worker_cpu_s"], 3),
                    "ratio_cpu": round(memory_cpu_s / kafka["worker_cpu_s"], 3),
                }
            )
            common.say(f"round {round_}: {rounds[-1]}")

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    results = {
        "in_memory_posts_per_s": median("in_memory_posts_per_s"),
        "kafka_steady_posts_per_s": median("kafka_steady_posts_per_s"),
        "kafka_with_start_posts_per_s": median("kafka_with_start_posts_per_s"),
        "ratio_steady": median("ratio_steady"),
        "ratio_with_start": median("ratio_with_start"),
        "ratio_cpu": median("ratio_cpu"),
        "goal_ratio": 0.8,
        "rounds": rounds,
    }
    common.say(
        f"in memory {results['in_memory_posts_per_s']:.0f} posts/s, through Kafka "
        f"{results['kafka_steady_posts_per_s']:.0f} posts/s steady "
        f"(ratio {results['ratio_steady']}; {results['ratio_with_start']} with start-up)"
    )
    parameters = {"posts": args.posts, "batch": args.batch, "rounds": args.rounds}
    parameters |= {"partitions": PARTITIONS, "worker": "text-analyzer, one process"}
    common.finish("text-throughput", parameters, results)


if __name__ == "__main__":
    main()
