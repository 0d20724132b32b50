"""The pipeline on real Kafka and S3: collector (replay) → analyzers → builtin engine → notifier → archiver.

Rekognition cannot be reached from here: the image analyzer talks to a contract double
that answers DetectModerationLabels with the documented response shape.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brandmon_workers import roles
from brandmon_workers.collector import run as collector
from brandmon_workers.contract.analysis import AnalysisSpec, ImageAnalysisSpec, Keyword, ScoringSpec
from brandmon_workers.contract.messages import DeadLetter
from brandmon_workers.contract.settings import (
    S3Settings,
    SourceSettings,
    WebhookTarget,
    WorkerSettings,
)
from brandmon_workers.contract.sources import ReplaySource
from brandmon_workers.contract.topics import TopicNames, TopicRole
from brandmon_workers.runtime import MAX_INPUT_BYTES, Worker
from tests.images import png
from tests.platform.conftest import eventually, webhook_receiver

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
ALERTING = {"p-breach", "p-recall", "p-breach-photo"}


class FakeRekognition:
    """DetectModerationLabels' documented response shape, keyed by the S3 object name."""

    def __init__(self, labels: dict[str, list[dict[str, Any]]]) -> None:
        self.labels = labels
        self.calls = 0

    def detect_moderation_labels(  # boto3's parameter names
        self,
        *,
        Image: dict[str, Any],  # noqa: N803
        MinConfidence: float,  # noqa: N803
    ) -> dict[str, Any]:
        self.calls += 1
        name = Image["S3Object"]["Name"]
        found = [
            label for label in self.labels.get(name, []) if label["Confidence"] >= MinConfidence
        ]
        return {"ModerationLabels": found, "ModerationModelVersion": "7.0", "ContentTypes": []}


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local webhook receiver recording every delivery."""
    with webhook_receiver() as receiver:
        yield receiver


CAPTIONS = {
    "p-benign-1": "Loving my new ACME blender, smoothies every morning!",
    "p-benign-2": "ACME support sorted my order in five minutes. Great team.",
    "p-benign-3": "Unboxing the ACME kettle today #acme #kitchen",
    "p-breach": "Heard about the ACME data breach? Change your passwords now",
    "p-recall": "ACME announces a #recall of the X200 toaster",
    "p-breach-photo": "Screenshot of the leaked ACME customer list. Data breach confirmed.",
    "p-benign-photo": "Our ACME picnic set at the lake",
}
IMAGES = {"p-breach-photo": png((200, 30, 30)), "p-benign-photo": png((30, 160, 60))}


def recording(post_ids: list[str]) -> bytes:
    """Return a replay recording (docs/replay-format.md) of the given posts, images inline."""
    # One author's reach is known: their alert says so and is the most urgent.
    lines = [json.dumps({"profile": {"username": "user-p-breach", "user_id": "9", "followers": 250_000,
                                     "following": 1, "post_count": 10}})]  # fmt: skip
    for post_id in post_ids:
        post = {"post_id": post_id, "shortcode": post_id, "username": f"user-{post_id}",
                "url": f"https://example.invalid/{post_id}", "caption": CAPTIONS[post_id],
                "posted_at": NOW.isoformat()}  # fmt: skip
        images = (
            [f"data:image/png;base64,{base64.b64encode(IMAGES[post_id]).decode()}"]
            if post_id in IMAGES
            else []
        )
        lines.append(json.dumps({"post": post, "images": images}))
    return ("\n".join(lines) + "\n").encode()


def media_key(post_id: str) -> str:
    """The content-addressed object name the collector gives an image."""
    return f"brands/acme/media/{hashlib.sha256(IMAGES[post_id]).hexdigest()}.png"


def collect(
    settings: WorkerSettings, s3: S3Client, bucket: str, post_ids: list[str], log: Path
) -> None:
    """Run the collector (replay source) once over a recording of these posts."""
    s3.put_object(Bucket=bucket, Key="brands/recordings/acme.jsonl", Body=recording(post_ids))
    source = SourceSettings(
        name="recorded", replay=ReplaySource(s3_uri=f"s3://{bucket}/brands/recordings/acme.jsonl")
    )
    report = collector.run(settings.model_copy(update={"source": source}), termination_log=log)
    assert report.errors == 0, report.message


@pytest.fixture
def settings(
    platform_env: dict[str, str], kafka_admin: AdminClient, topic_prefix: str, bucket: str,
    webhook: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch,
) -> WorkerSettings:  # fmt: skip
    names = TopicNames(prefix=topic_prefix.rstrip("."), namespace="brands", monitor="acme")
    futures = kafka_admin.create_topics(
        [NewTopic(t, num_partitions=3, replication_factor=1) for t in names.all().values()]
    )
    for future in futures.values():
        future.result(timeout=30)
    # What Kubernetes would inject from Secrets.
    monkeypatch.setenv("BRANDMON_WEBHOOK_URL_PR", webhook[0])
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, platform_env[name])
    return WorkerSettings(
        namespace="brands", monitor="acme", brand="ACME", kafka_bootstrap_servers=platform_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics=names, s3=S3Settings(endpoint_url=platform_env["S3_ENDPOINT_URL"], bucket=bucket),
        analysis=AnalysisSpec(keywords=[Keyword(term="data breach", weight=1.0), Keyword(term="recall", weight=1.0)],
                              image=ImageAnalysisSpec(provider="rekognition", min_confidence=50)),
        scoring=ScoringSpec(text_weight=0.6, image_weight=0.4, alert_threshold=0.7),
        alert_cooldown_seconds=0, webhooks=[WebhookTarget(name="pr", format="generic", url_env="BRANDMON_WEBHOOK_URL_PR")],
        health_port=0, metrics_port=0,
    )  # fmt: skip


def produce(settings: WorkerSettings, role: TopicRole, items: list[tuple[str, bytes]]) -> None:
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True}
    )
    for key, value in items:
        producer.produce(settings.topics.of(role), key=key.encode(), value=value)
    assert producer.flush(30) == 0


def read_all(settings: WorkerSettings, role: TopicRole) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": f"reader-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
    topic = settings.topics.of(role)
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(3)
    }
    consumer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
    values: list[bytes] = []
    deadline = time.monotonic() + 20
    while len(values) < sum(ends.values()) and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None and message.value() is not None:
            values.append(message.value() or b"")
    consumer.close()
    return values


def archived(s3: S3Client, bucket: str) -> list[dict[str, Any]]:
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="brands/acme/archive/"
    ):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            records += [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
    return records


def start(workers: list[Worker]) -> Callable[[], None]:
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()

    def stop_all() -> None:
        stop.set()
        for thread in threads:
            thread.join(30)

    return stop_all


def worker_process(settings: WorkerSettings, role: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ) | settings.to_env()
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "brandmon_workers", role], env=env, stdout=sink, stderr=sink
        )


def test_posts_flow_to_alerts_and_archive_exactly_once(
    settings: WorkerSettings, s3: S3Client, bucket: str, webhook: tuple[str, list[dict[str, Any]]], tmp_path: Path,
) -> None:  # fmt: skip
    rekognition = FakeRekognition({
        # Weights 0.6/0.4: a damaging caption with a violent photo alerts; a benign image
        # (its one label under MinConfidence) weighs the score down.
        media_key("p-breach-photo"): [
            {"Name": "Weapons", "ParentName": "Violence", "Confidence": 91.0, "TaxonomyLevel": 2},
            {"Name": "Violence", "ParentName": "", "Confidence": 91.0, "TaxonomyLevel": 1},
        ],
        media_key("p-benign-photo"): [{"Name": "Explicit", "ParentName": "", "Confidence": 20.0, "TaxonomyLevel": 1}],
    })  # fmt: skip
    image = Worker(
        "image-analyzer",
        settings,
        roles.ImageAnalyzer(settings, rekognition),
        health_port=None,
        metrics_port=None,
    )
    others = [
        roles.build(r, settings, poll_timeout_s=0.5) for r in ("aggregator", "notifier", "archiver")
    ]
    stop_threads = start([image, *others])
    # The text analyzer runs as a real process, so that it can be killed mid-stream.
    text = worker_process(settings, "text-analyzer", tmp_path / "text.log")
    try:
        ids = list(CAPTIONS)
        collect(settings, s3, bucket, ids[:4], tmp_path / "termination-1")
        # Malformed and oversized inputs go to the dead letters; the workers keep going.
        produce(settings, TopicRole.POSTS, [("bad-json", b"{not json"), ("bad-schema", b'{"post_id": 3}'),
                                            ("huge", b"x" * (MAX_INPUT_BYTES + 1))])  # fmt: skip
        eventually(
            lambda: len(read_all(settings, TopicRole.TEXT_SCORES)) >= 4,
            timeout=60,
            what="first text scores",
        )
        text.send_signal(signal.SIGKILL)  # no chance to flush or commit
        text.wait(10)
        # The next run replays the whole recording: only the posts not yet sent go out.
        collect(settings, s3, bucket, ids, tmp_path / "termination-2")
        assert json.loads((tmp_path / "termination-2").read_text())["postsSeen"] == 4
        text = worker_process(settings, "text-analyzer", tmp_path / "text.log")
        eventually(lambda: {r["post_id"] for r in archived(s3, bucket)} == set(ids), timeout=90,
                   what="every post archived")  # fmt: skip
        eventually(
            lambda: {b["alert"]["post_id"] for b in webhook[1]} == ALERTING,
            timeout=60,
            what="alerts",
        )
        time.sleep(3)  # anything late (a duplicate) would arrive now
    finally:
        text.send_signal(signal.SIGTERM)
        assert text.wait(30) == 0  # SIGTERM: finish, flush, commit, exit cleanly
        stop_threads()

    records = archived(s3, bucket)
    assert sorted(r["post_id"] for r in records) == sorted(ids)  # every post exactly once
    assert sorted(b["alert"]["post_id"] for b in webhook[1]) == sorted(
        ALERTING
    )  # no duplicate alert
    photo = next(r for r in records if r["post_id"] == "p-breach-photo")
    assert photo["image_score"] == pytest.approx(0.91)  # Violence once, not once per label
    assert photo["categories"] == ["Violence"]
    assert photo["final_score"] == pytest.approx(0.6 * photo["text_score"] + 0.4 * 0.91)
    benign = next(r for r in records if r["post_id"] == "p-benign-photo")
    assert benign["image_score"] == 0.0
    assert benign["categories"] == []
    breach = next(r for r in records if r["post_id"] == "p-breach")
    assert breach["keywords"] == ["data breach"]
    # What the PR team acts on travels with the alert and the archive.
    alerted = next(b for b in webhook[1] if b["alert"]["post_id"] == "p-breach")
    for shown in (alerted["alert"], breach):
        assert shown["severity"] == "critical"
        assert shown["post"]["author_followers"] == 250_000
        assert shown["post"]["url"] == "https://example.invalid/p-breach"
        assert shown["post"]["excerpt"] == CAPTIONS["p-breach"]
        assert shown["post"]["platform"] == "instagram"
    assert "mentions your keywords: data breach" in alerted["why"]
    dead = [DeadLetter.model_validate_json(v) for v in read_all(settings, TopicRole.DEAD_LETTERS)]
    assert sorted(d.key or "" for d in dead) == ["bad-json", "bad-schema", "huge"]
    assert all(d.worker == "text-analyzer" and d.error for d in dead)
    assert rekognition.calls == 2
