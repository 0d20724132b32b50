"""End-to-end latency at a steady post rate: posts → text analyzer → builtin engine → alerts.

Creates a monitor's topic set (the topic naming of `contract.topics`, 3 partitions as a
BrandMonitor's default), starts the text analyzer and the aggregator as `brandmon-worker`
processes with the settings the operator would render (`WorkerSettings.to_env()`), warms
them up, then produces posts at a steady rate (default 500/s for 60 s) the way the
collector does: six ACME captions in turn, or one caption per line of `--captions FILE`
(e.g. TweetEval's tweets, for a stream like a real one). The captions that alert are
found first by scoring them offline with the same code, and the run waits for those.

For every post it measures, from the post's production (the Kafka timestamp librdkafka
gives it when it is produced) to
- `produced`: the engine producing the scored post / the alert (their Kafka timestamps), and
- `seen`: a consumer receiving them (this process's clock, the same clock as the first),
and reports p50 / p99 / max of each, and how many results arrived.

    .venv/bin/python -m bench.latency [--rate 500] [--seconds 60] [--captions FILE]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from bench import common
from brandmon_workers.contract.analysis import AnalysisSpec, Keyword, ScoringSpec
from brandmon_workers.contract.messages import Post, Provenance
from brandmon_workers.contract.settings import S3Settings, WorkerSettings
from brandmon_workers.contract.topics import TopicNames, TopicRole
from brandmon_workers.text import TextScorer

PARTITIONS = 3
CAPTIONS = [
    "Loving my new ACME blender, smoothies every morning!",
    "ACME support is useless, waited 3 hours and nobody answered. Never again",
    "Heard about the ACME data breach? Change your passwords now",
    "The ACME X200 toaster works fine after the update",
    "Unboxing the ACME kettle today #acme #kitchen #happy",
    "Great service at the ACME store downtown, thanks Sam",
]
ROLES = ("text-analyzer", "aggregator")
_TICK_S = 0.01


ANALYSIS = AnalysisSpec(keywords=[Keyword(term="data breach", weight=1.0)])


def post(post_id: str, i: int, caption: str, now: datetime) -> bytes:
    """Return one post's JSON, as the collector would produce it."""
    return Post(
        post_id=post_id, shortcode=post_id, username=f"user{i % 97}",
        url=f"https://x.invalid/{post_id}", caption=caption, posted_at=now,
        provenance=Provenance(source="bench", collected_at=now, collector_version="bench"),
    ).model_dump_json().encode()  # fmt: skip


class Results:
    """Reads scored posts and alerts as they arrive, noting when each was produced and seen."""

    def __init__(self, bootstrap: str, names: TopicNames) -> None:
        self.topics = {
            names.of(TopicRole.SCORED_POSTS): "scored",
            names.of(TopicRole.ALERTS): "alert",
        }
        self.seen: dict[str, dict[str, tuple[float, float]]] = {"scored": {}, "alert": {}}
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"bench-latency-{uuid.uuid4().hex}",
             "enable.auto.commit": False, "fetch.wait.max.ms": 10}
        )  # fmt: skip
        # Start at the topics' current ends: only what the measured run produces counts.
        self._consumer.assign(
            [TopicPartition(t, p, -1) for t in self.topics for p in range(PARTITIONS)]
        )  # fmt: skip
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(1000, 0.05):
                seen = time.time()
                if message.error() is not None or message.key() is None:
                    continue
                kind = self.topics[str(message.topic())]
                produced = message.timestamp()[1] / 1000
                self.seen[kind].setdefault((message.key() or b"").decode(), (produced, seen))

    def close(self) -> None:
        """Stop reading."""
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()


def start_workers(settings: WorkerSettings, logs: Path) -> list[subprocess.Popen[bytes]]:
    """Start the text analyzer and the aggregator as `brandmon-worker` processes."""
    env = dict(os.environ) | settings.to_env()
    processes = []
    for role in ROLES:
        with (logs / f"{role}.log").open("ab") as sink:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "brandmon_workers", role],
                    env=env,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            )
    return processes


def produce_steady(
    producer: Producer, topic: str, prefix: str, captions: list[str], *, rate: float, seconds: float
) -> dict[str, float]:
    """Produce `rate` posts a second for `seconds`, captions in turn; return production times."""
    produced: dict[str, float] = {}

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is None and message.key() is not None:
            produced[(message.key() or b"").decode()] = message.timestamp()[1] / 1000

    total = int(rate * seconds)
    started = time.monotonic()
    now = datetime.now(UTC)
    for i in range(total):
        due = started + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            producer.poll(min(delay, _TICK_S))
            time.sleep(max(0.0, due - time.monotonic()))
        post_id = f"{prefix}{i}"
        producer.produce(
            topic,
            key=post_id.encode(),
            value=post(post_id, i, captions[i % len(captions)], now),
            on_delivery=delivered,
        )
        producer.poll(0)
    producer.flush(30)
    common.say(f"produced {total} posts in {time.monotonic() - started:.1f}s")
    return produced


def read_captions(path: Path) -> list[str]:
    """Read one caption per newline-terminated line (not splitlines: tweets hold U+2028)."""
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def alerting_captions(captions: list[str]) -> set[int]:
    """Return the indexes of the captions that alert: scored offline by the same code."""
    now = datetime.now(UTC)
    posts = [
        Post.model_validate_json(post(str(i), i, caption, now))
        for i, caption in enumerate(captions)
    ]
    threshold = ScoringSpec().alert_threshold  # the builtin engine's, text-only
    scores = TextScorer(ANALYSIS).score_batch(posts, now)
    return {i for i, score in enumerate(scores) if score.score >= threshold}


def summary(latencies: list[float]) -> dict[str, Any]:
    """Return p50, p99 and max in milliseconds."""
    return {
        "count": len(latencies),
        "p50_ms": round(common.percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(common.percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies, default=float("nan")) * 1000, 1),
    }


def arguments() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=500.0, help="posts per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured duration")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured lead-in seconds")
    parser.add_argument(
        "--captions",
        type=Path,
        help="one caption per line, used in turn (default: six ACME posts)",
    )
    return parser.parse_args()


def main() -> None:
    """Measure, print and record."""
    args = arguments()
    captions = read_captions(args.captions) if args.captions else CAPTIONS
    alerting = alerting_captions(captions)
    common.say(f"{len(captions)} captions, {len(alerting)} of which alert")
    results: dict[str, Any] = {}
    with common.platform() as handle:
        env = common.client_env(handle)
        bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
        names = TopicNames(
            prefix=f"bench-{uuid.uuid4().hex[:8]}", namespace="bench", monitor="latency"
        )
        common.create_topics(bootstrap, names, PARTITIONS)
        settings = WorkerSettings(
            namespace="bench", monitor="latency", brand="ACME", kafka_bootstrap_servers=bootstrap,
            topics=names, s3=S3Settings(bucket="unused"), health_port=0, metrics_port=0,
            analysis=ANALYSIS,
        )  # fmt: skip
        logs = handle.logs / f"bench-latency-{names.prefix}"
        logs.mkdir(parents=True)
        workers = start_workers(settings, logs)
        reader = Results(bootstrap, names)
        producer = Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True}
        )
        topic = names.of(TopicRole.POSTS)
        try:
            common.say(f"workers started (logs in {logs}); warming up for {args.warmup:.0f}s")
            warm = produce_steady(
                producer, topic, "warm-", captions, rate=args.rate, seconds=args.warmup
            )
            deadline = time.monotonic() + 120
            while len(reader.seen["scored"]) < len(warm) and time.monotonic() < deadline:
                time.sleep(0.2)
            if len(reader.seen["scored"]) < len(warm):
                raise SystemExit(
                    f"warm-up: only {len(reader.seen['scored'])} of {len(warm)} scored"
                )
            common.say(f"measuring {args.rate:.0f} posts/s for {args.seconds:.0f}s")
            measured = produce_steady(
                producer, topic, "m-", captions, rate=args.rate, seconds=args.seconds
            )
            expected_alerts = {k for k in measured if int(k[2:]) % len(captions) in alerting}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (
                measured.keys() <= reader.seen["scored"].keys()
                and expected_alerts <= reader.seen["alert"].keys()
            ):
                time.sleep(0.2)
        finally:
            reader.close()
            for process in workers:
                process.send_signal(signal.SIGTERM)
            for process in workers:
                process.wait(60)
            common.delete_topics(bootstrap, list(names.all().values()))
    for kind, keys in (("scored", set(measured)), ("alert", expected_alerts)):
        got = {k: v for k, v in reader.seen[kind].items() if k in keys}
        produced = [got[k][0] - measured[k] for k in got]
        seen = [got[k][1] - measured[k] for k in got]
        results[kind] = {
            "expected": len(keys),
            "received": len(got),
            "produced": summary(produced),
            "seen": summary(seen),
        }
        common.say(f"{kind}: {results[kind]}")
    results["goal_p99_ms"] = 1000
    parameters = {"rate_per_s": args.rate, "seconds": args.seconds, "warmup_s": args.warmup}
    parameters |= {
        "partitions": PARTITIONS,
        "workers": list(ROLES),
        "captions": str(args.captions) if args.captions else "ACME",
        "alerting_share": len(alerting) / len(captions),
    }
    common.finish("latency", parameters, results)


if __name__ == "__main__":
    main()
