"""The Bluesky collector against a local firehose: CPU, memory, lag, reconnects, post → alert.

A local Jetstream (`tests.doubles.jetstream`) streams `--rate` post events a second
(default 1,000, Jetstream's real post rate is a few hundred), of which `--match` (default
1 %) mention the brand in a caption that alerts; the rest are chatter. The collector runs
as the Deployment's process (`brandmon-worker collector --stream`, settings rendered as
the operator would), with the text analyzer and the builtin engine behind it
(`bench.latency`'s workers). A local AppView answers profile look-ups.

It measures, over the steady `--seconds` after a warm-up:
- the collector's CPU (share of one core, from /proc) and its peak resident memory;
- lag: event time (the `time_us` the firehose stamped) to the post being readable in
  Kafka, and to its alert being readable (p50 / p99 / max);
- reconnects: halfway through, every connection is cut; the time until the collector is
  subscribed again, and whether every matching post still arrived exactly once.

    .venv/bin/python -m bench.bluesky_stream [--rate 1000] [--match 0.01] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from tests.doubles.http import HttpDouble, Reply
from tests.doubles.jetstream import JetstreamDouble, commit, post_record

from bench import common
from bench.latency import ANALYSIS, start_workers, summary
from brandmon_workers.contract.settings import S3Settings, SourceSettings, WorkerSettings
from brandmon_workers.contract.sources import BlueskySource
from brandmon_workers.contract.topics import TopicNames, TopicRole

PARTITIONS = 3
MATCHING = "ACME Corp confirmed a data breach, my card details leaked. Useless support"
CHATTER = [
    "good morning everyone, coffee first",
    "just finished a 10k run, legs are jelly",
    "anyone else watching the match tonight?",
    "new blog post about rust lifetimes is up",
    "the sunset over the bay today was unreal",
]


class Seen:
    """When each post and alert became readable in Kafka (this process's clock)."""

    def __init__(self, bootstrap: str, names: TopicNames) -> None:
        self.topics = {names.of(TopicRole.POSTS): "post", names.of(TopicRole.ALERTS): "alert"}
        self.seen: dict[str, dict[str, float]] = {"post": {}, "alert": {}}
        self.duplicates = 0
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"bench-bsky-{uuid.uuid4().hex}",
             "enable.auto.commit": False, "fetch.wait.max.ms": 10}
        )  # fmt: skip
        self._consumer.assign(
            [TopicPartition(t, p, -2) for t in self.topics for p in range(PARTITIONS)]
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(1000, 0.05):
                now = time.time()
                if message.error() is not None or message.key() is None:
                    continue
                kind = self.topics[str(message.topic())]
                key = (message.key() or b"").decode()
                if key in self.seen[kind]:
                    self.duplicates += kind == "post"
                    continue
                self.seen[kind][key] = now

    def close(self) -> None:
        """Stop reading."""
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()


class Firehose:
    """Add events to the double at a steady rate; remember when each matching one was made."""

    def __init__(self, double: JetstreamDouble, rate: float, match: float) -> None:
        self._double = double
        self._rate = rate
        self._every = max(1, round(1 / match)) if match > 0 else 0
        self.made: dict[str, float] = {}
        """Post id of each matching event -> its time_us as seconds."""
        self.events = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start streaming."""
        self._thread.start()

    def stop(self) -> None:
        """Stop streaming."""
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        tick = 0.01
        started = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self._rate)
            batch = []
            while self.events < due:
                n = self.events
                now_us = int(time.time() * 1_000_000)
                did = f"did:plc:bench{n % 5000:019d}"
                matching = self._every and n % self._every == 0
                text = MATCHING if matching else CHATTER[n % len(CHATTER)]
                rkey = f"3lbench{n:09d}"
                batch.append(commit(did, now_us, rkey, post_record(text)))
                if matching:
                    self.made[f"bluesky:at://{did}/app.bsky.feed.post/{rkey}"] = now_us / 1e6
                self.events += 1
            if batch:
                self._double.add(*batch)
            time.sleep(tick)


def _proc(pid: int) -> tuple[float, int]:
    """Return (CPU seconds, resident KiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss


def arguments() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--match", type=float, default=0.01, help="share that mention the brand")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=45.0, help="seconds before measuring")
    parser.add_argument(
        "--no-cut", action="store_true", help="do not cut the connections halfway through"
    )
    return parser.parse_args()


def main() -> None:  # noqa: PLR0915 - one measured scenario, step by step
    """Measure, print and record."""
    args = arguments()
    results: dict[str, Any] = {}
    with common.platform() as handle, JetstreamDouble() as jetstream, HttpDouble() as app:
        env = common.client_env(handle)
        bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
        names = TopicNames(
            prefix=f"bench-{uuid.uuid4().hex[:8]}", namespace="bench", monitor="bsky"
        )
        common.create_topics(bootstrap, names, PARTITIONS)
        bucket = f"bench-bsky-{uuid.uuid4().hex[:8]}"
        import boto3  # noqa: PLC0415 - only here

        s3 = boto3.client(
            "s3",
            endpoint_url=env["S3_ENDPOINT_URL"],
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(Bucket=bucket)
        profile = {"handle": "someone.bsky.social", "followersCount": 250}
        app.route("/xrpc/app.bsky.actor.getProfile", Reply(200, json.dumps(profile).encode()))
        source = SourceSettings(
            name="bsky",
            bluesky=BlueskySource(jetstream_url=jetstream.url, app_view_url=app.url),
        )
        settings = WorkerSettings(
            namespace="bench", monitor="bsky", brand="ACME Corp", kafka_bootstrap_servers=bootstrap,
            topics=names, s3=S3Settings(endpoint_url=env["S3_ENDPOINT_URL"], bucket=bucket,
                                        region=env["AWS_DEFAULT_REGION"]),
            health_port=0, metrics_port=0, analysis=ANALYSIS, source=source,
        )  # fmt: skip
        logs = handle.logs / f"bench-bluesky-{names.prefix}"
        logs.mkdir(parents=True)
        workers = start_workers(settings.model_copy(update={"source": None}), logs)
        process_env = dict(os.environ) | env | settings.to_env()
        with (logs / "collector.log").open("ab") as sink:
            collector = subprocess.Popen(
                [sys.executable, "-m", "brandmon_workers", "collector", "--stream"],
                env=process_env, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
        seen = Seen(bootstrap, names)
        firehose = Firehose(jetstream, args.rate, args.match)
        try:
            jetstream.wait_for_subscriptions(1, timeout=60)
            firehose.start()
            common.say(f"streaming {args.rate:.0f} events/s; warming up {args.warmup:.0f}s")
            time.sleep(args.warmup)
            warm_ids = set(firehose.made)
            cpu0, _ = _proc(collector.pid)
            t0 = time.monotonic()
            peak_rss = 0
            cut_at: float | None = None
            subscriptions = 0
            events0 = firehose.events
            while time.monotonic() - t0 < args.seconds:
                time.sleep(1)
                peak_rss = max(peak_rss, _proc(collector.pid)[1])
                if not args.no_cut and cut_at is None and time.monotonic() - t0 >= args.seconds / 2:
                    subscriptions = len(jetstream.subscriptions)
                    cut_at = time.time()
                    jetstream.cut()
                    common.say("cut every connection")
            cpu1, _ = _proc(collector.pid)
            elapsed = time.monotonic() - t0
            events = firehose.events - events0
            firehose.stop()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (
                firehose.made.keys() <= seen.seen["post"].keys()
            ):
                time.sleep(0.2)
            time.sleep(3)  # let the last alerts and any duplicate arrive
        finally:
            seen.close()
            for process in [collector, *workers]:
                process.send_signal(signal.SIGTERM)
            for process in [collector, *workers]:
                process.wait(60)
            common.delete_topics(bootstrap, list(names.all().values()))
        measured = {k: v for k, v in firehose.made.items() if k not in warm_ids}
        posts = [seen.seen["post"][k] - v for k, v in measured.items() if k in seen.seen["post"]]
        alerts = [seen.seen["alert"][k] - v for k, v in measured.items() if k in seen.seen["alert"]]
        # Events made from just before the cut until the collector is back wait for it.
        calm = {
            k: v for k, v in measured.items() if cut_at is None or not cut_at - 1 <= v <= cut_at + 5
        }
        calm_posts = [seen.seen["post"][k] - v for k, v in calm.items() if k in seen.seen["post"]]
        calm_alerts = [
            seen.seen["alert"][k] - v for k, v in calm.items() if k in seen.seen["alert"]
        ]
        resubscribed = (
            jetstream.subscribed_at[subscriptions] - cut_at
            if cut_at is not None and len(jetstream.subscribed_at) > subscriptions
            else None
        )
        after_cut = sorted(
            seen.seen["post"][k] - cut_at
            for k, v in firehose.made.items()
            if cut_at is not None and v > cut_at and k in seen.seen["post"]
        )
        results = {
            "events_per_s_measured": round(events / elapsed, 1),
            "collector_cpu_share_of_one_core": round((cpu1 - cpu0) / elapsed, 3),
            "collector_peak_rss_mib": round(peak_rss / 1024, 1),
            "matching_posts": len(firehose.made),
            "posts_in_kafka": len(set(firehose.made) & set(seen.seen["post"])),
            "posts_sent_twice": seen.duplicates,
            "event_to_post_in_kafka": summary(posts),
            "event_to_alert": summary(alerts)
            | {"received": len(alerts), "expected": len(measured)},
            "event_to_post_outside_the_cut": summary(calm_posts),
            "event_to_alert_outside_the_cut": summary(calm_alerts),
            "reconnect_s": round(resubscribed, 3) if resubscribed is not None else None,
            "cut_to_first_new_post_in_kafka_s": round(after_cut[0], 3) if after_cut else None,
        }
        common.say(json.dumps(results))
    common.finish(
        "bluesky_stream",
        {
            "rate_per_s": args.rate,
            "match": args.match,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "cut_halfway": not args.no_cut,
            "pipeline": ["collector --stream", "text-analyzer", "aggregator"],
            "partitions": PARTITIONS,
        },
        results,
    )


if __name__ == "__main__":
    main()
