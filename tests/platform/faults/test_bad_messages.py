"""Malformed and oversized Kafka messages into every long-running worker's input and rebuild.

tests/platform/test_pipeline.py sends bad JSON, a wrong schema and an oversized post to the
text analyzer. Here every other worker role (aggregator, notifier, archiver), running as a
real process, gets a wider set on each topic it reads: bytes that are not UTF-8, JSON of
the wrong type, `null`, a tombstone, JSON nested past the parser's depth, a message over
the 512 KiB input limit (under the broker's 1 MiB `message.max.bytes`) and a key that is
not UTF-8 (under a bad and under a valid value).

The poison is in every topic before the workers start (the aggregator's first start
rebuilds from scored-posts, which holds it), again while they run, and then the workers
restart, so every start-up rebuild (the aggregator's inputs and scored posts, the
notifier's delivered alerts) reads it too. Each consumed bad message becomes one dead
letter naming the worker, with a reason; each rebuild skips and counts it in
`brandmon_skipped_on_rebuild`; and each worker goes on to process a good message.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from brandmon_workers.contract.messages import (
    DeadLetter,
    ImageScore,
    MessageModel,
    ScoredPost,
    TextScore,
)
from brandmon_workers.contract.settings import WorkerSettings
from brandmon_workers.contract.topics import TopicRole
from brandmon_workers.runtime import MAX_INPUT_BYTES
from tests.platform.conftest import eventually, free_port
from tests.platform.faults.support import alert, stop_processes
from tests.platform.test_pipeline import archived, read_all, settings, webhook, worker_process

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["settings", "webhook"]  # the pipeline's fixtures

BAD: list[tuple[bytes, bytes | None]] = [
    (b"not-json", b"{not json"),
    (b"binary", b"\xff\xfe\x00\x01garbage"),
    (b"wrong-type", b"[1, 2, 3]"),
    (b"string", b'"just a string"'),
    (b"null", b"null"),
    (b"tombstone", None),
    (b"deep", b"[" * 5000 + b"]" * 5000),
    (b"huge", b'{"post_id": "' + b"a" * MAX_INPUT_BYTES + b'"}'),
    (b"\xff\xfekey", b"{}"),
]
ODD_KEY = b"\xffodd"  # a valid message under this key: dead-lettered, not a crash
INPUTS = {
    "aggregator": [TopicRole.TEXT_SCORES, TopicRole.IMAGE_SCORES],
    "notifier": [TopicRole.ALERTS],
    "archiver": [TopicRole.SCORED_POSTS],
}
# What each worker reads again when it starts (the rest of its inputs it only consumes).
REBUILT = {
    "aggregator": [TopicRole.TEXT_SCORES, TopicRole.IMAGE_SCORES, TopicRole.SCORED_POSTS],
    "notifier": [TopicRole.ALERTS],
}
POISON_PER_ROUND = len(BAD) + 1  # and the valid message under ODD_KEY


def text_score(post_id: str) -> TextScore:
    """A text-only post's score that the aggregator scores (and alerts on) at once."""
    return TextScore(post_id=post_id, username="u", score=0.9, keyword_score=0.9, negativity=0.0,
                     toxicity=0.0, sentiment_compound=0.0, analyzer_version="test",
                     scored_at=datetime.now(UTC))  # fmt: skip


def scored_post(post_id: str) -> ScoredPost:
    return ScoredPost(post_id=post_id, username="u", text_score=0.1, final_score=0.1)


def valid_under_odd_key(role: TopicRole) -> MessageModel:
    if role is TopicRole.TEXT_SCORES:
        return text_score("odd-key")
    if role is TopicRole.ALERTS:
        return alert("odd-key", "v")
    if role is TopicRole.SCORED_POSTS:
        return scored_post("odd-key")
    return ImageScore(post_id="odd-key", username="u", s3_uri="s3://b/k.png", sha256="0" * 64,
                      score=0.1, provider="test", scored_at=datetime.now(UTC))  # fmt: skip


def poison(settings: WorkerSettings) -> None:
    """One round of bad messages into every topic a worker consumes or rebuilds from."""
    for role in (TopicRole.TEXT_SCORES, TopicRole.IMAGE_SCORES, TopicRole.ALERTS,
                 TopicRole.SCORED_POSTS):  # fmt: skip
        odd = (ODD_KEY, valid_under_odd_key(role).model_dump_json().encode())
        produce_raw(settings, role, [*BAD, odd])


def start_workers(
    settings: WorkerSettings, tmp_path: Path, run: int
) -> dict[str, tuple[subprocess.Popen[bytes], int]]:
    """Start each worker as a real process with its metrics on a port of its own."""
    started = {}
    for role in INPUTS:
        port = free_port()
        own = settings.model_copy(update={"metrics_port": port})
        started[role] = (worker_process(own, role, tmp_path / f"{role}-{run}.log"), port)
    return started


def skipped(port: int) -> dict[str, float]:
    """The worker's `brandmon_skipped_on_rebuild` counters by topic (empty before it is up)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "brandmon_skipped_on_rebuild":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["topic"]] = sample.value
    return counts


def alive(
    workers: dict[str, tuple[subprocess.Popen[bytes], int]], tmp_path: Path, run: int
) -> None:
    for worker, (process, _port) in workers.items():
        assert process.poll() is None, (
            f"{worker} died: {(tmp_path / f'{worker}-{run}.log').read_text()[-3000:]}"
        )


def test_bad_messages_are_dead_lettered_and_every_worker_keeps_going(
    settings: WorkerSettings, webhook: tuple[str, list[dict[str, Any]]], s3: S3Client, bucket: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    poison(settings)  # before any worker starts
    workers = start_workers(settings, tmp_path, 1)
    try:
        # The aggregator's first start read scored-posts, which held one round of poison.
        aggregator_port = workers["aggregator"][1]
        topic = settings.topics.of(TopicRole.SCORED_POSTS)

        def first_rebuild() -> bool:
            alive(workers, tmp_path, 1)  # a crash at start-up fails here, with its log
            return skipped(aggregator_port).get(topic) == POISON_PER_ROUND

        eventually(first_rebuild, timeout=90, what="the aggregator skipping poisoned scored posts")
        # Every worker is running once it has dead-lettered the first round...
        eventually(lambda: expected_letters(settings, rounds=1), timeout=90,
                   what="the first round's dead letters")  # fmt: skip
        poison(settings)  # ...and gets a second round while it runs.
        produce_good(settings, ("good-1", "good-2", "good-3"))
        await_good(settings, webhook, s3, bucket, ("good-1", "good-2", "good-3"))
        letters = eventually(lambda: expected_letters(settings, rounds=2), timeout=60,
                             what="the second round's dead letters")  # fmt: skip
        alive(workers, tmp_path, 1)
    finally:
        stop_processes(*(process for process, _ in workers.values()))

    # Restarted, each worker rebuilds over everything it handled, poison included.
    delivered = len(webhook[1])
    workers = start_workers(settings, tmp_path, 2)
    try:
        for worker, roles in REBUILT.items():
            port = workers[worker][1]
            for role in roles:
                topic = settings.topics.of(role)

                def rebuilt(port: int = port, topic: str = topic) -> bool:
                    # At least the first round: it was handled (and committed) long before.
                    return skipped(port).get(topic, 0) >= POISON_PER_ROUND

                eventually(rebuilt, timeout=90, what=f"the {worker} skipping poison in {topic}")
        produce_good(settings, ("good-4", "good-5", "good-6"))
        await_good(settings, webhook, s3, bucket, ("good-4", "good-5", "good-6"))
        alive(workers, tmp_path, 2)
    finally:
        stop_processes(*(process for process, _ in workers.values()))
    deliveries = [d["alert"]["post_id"] for d in webhook[1]]
    # The aggregator's good-1 and good-4 alert too; nothing is sent twice.
    assert sorted(deliveries[:delivered]) == ["good-1", "good-2"]
    assert sorted(deliveries[delivered:]) == ["good-4", "good-5"]
    assert len(expected_letters(settings, rounds=2) or []) == len(letters)  # no new letters

    for letter in letters:
        assert letter.error
        assert letter.payload_encoding == ("base64" if letter.key == "binary" else "utf-8")
    huge = [d for d in letters if d.key == "huge"]
    assert all(f"exceeds {MAX_INPUT_BYTES}" in d.error and "truncated" in d.error for d in huge)


def produce_good(settings: WorkerSettings, post_ids: tuple[str, str, str]) -> None:
    """A text-only post the aggregator scores, an alert to deliver, a post to archive."""
    scored, alerted, archived_id = post_ids
    produce_raw(settings, TopicRole.TEXT_SCORES,
                [(scored.encode(), text_score(scored).model_dump_json().encode())])  # fmt: skip
    produce_raw(settings, TopicRole.ALERTS,
                [(alerted.encode(), alert(alerted, alerted).model_dump_json().encode())])  # fmt: skip
    produce_raw(settings, TopicRole.SCORED_POSTS,
                [(archived_id.encode(), scored_post(archived_id).model_dump_json().encode())])  # fmt: skip


def await_good(
    settings: WorkerSettings, webhook: tuple[str, list[dict[str, Any]]], s3: S3Client,
    bucket: str, good: tuple[str, str, str],
) -> None:  # fmt: skip
    scored, alerted, archived_id = good
    eventually(lambda: alerted in [d["alert"]["post_id"] for d in webhook[1]],
               timeout=90, what=f"the notifier delivering {alerted}")  # fmt: skip
    eventually(lambda: archived_id in [r["post_id"] for r in archived(s3, bucket)],
               timeout=90, what=f"the archiver writing {archived_id}")  # fmt: skip
    eventually(lambda: scored in post_ids(read_all(settings, TopicRole.SCORED_POSTS)),
               timeout=90, what=f"the aggregator scoring {scored}")  # fmt: skip


def post_ids(values: list[bytes]) -> list[str]:
    """The post ids of the well-formed values among poison."""
    ids = []
    for value in values:
        with contextlib.suppress(ValueError, RecursionError):  # the poison among them
            document = json.loads(value)
            if isinstance(document, dict) and isinstance(document.get("post_id"), str):
                ids.append(document["post_id"])
    return ids


def produce_raw(
    settings: WorkerSettings, role: TopicRole, items: list[tuple[bytes, bytes | None]]
) -> None:
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True}
    )
    for key, value in items:
        producer.produce(settings.topics.of(role), key=key, value=value)
    assert producer.flush(30) == 0


def expected_letters(settings: WorkerSettings, rounds: int) -> list[DeadLetter] | None:
    """Every bad message's dead letters, `rounds` per input topic, each from the right worker."""
    letters = [
        DeadLetter.model_validate_json(v) for v in read_all(settings, TopicRole.DEAD_LETTERS)
    ]
    once = sorted(
        [(settings.topics.of(role), key.decode(errors="replace"), worker)
         for worker, roles in INPUTS.items() for role in roles for key, _ in BAD]
        + [(settings.topics.of(role), ODD_KEY.decode(errors="replace"), worker)
           for worker, roles in INPUTS.items() for role in roles]
    )  # fmt: skip
    have = sorted((d.source_topic, d.key or "", d.worker) for d in letters)
    return letters if have == sorted(once * rounds) else None
