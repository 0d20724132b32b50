"""Malformed and oversized Kafka messages into every long-running worker's input.

tests/platform/test_pipeline.py sends bad JSON, a wrong schema and an oversized post to the
text analyzer. Here every other worker role (aggregator, notifier, archiver), running as a
real process, gets a wider set on each of its inputs: bytes that are not UTF-8, JSON of
the wrong type, `null`, a tombstone, JSON nested past the parser's depth, a message over
the 512 KiB input limit (under the broker's 1 MiB `message.max.bytes`) and a key that is
not UTF-8 (under a bad and under a valid value). Each must become a dead letter naming the worker, with a reason, and each
worker must go on to process a good message sent after them.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Producer

from brandmon_workers.contract.messages import DeadLetter, ScoredPost, TextScore
from brandmon_workers.contract.settings import WorkerSettings
from brandmon_workers.contract.topics import TopicRole
from brandmon_workers.runtime import MAX_INPUT_BYTES
from tests.platform.conftest import eventually
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


def produce_raw(
    settings: WorkerSettings, role: TopicRole, items: list[tuple[bytes, bytes | None]]
) -> None:
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True}
    )
    for key, value in items:
        producer.produce(settings.topics.of(role), key=key, value=value)
    assert producer.flush(30) == 0


def test_bad_messages_are_dead_lettered_and_every_worker_keeps_going(
    settings: WorkerSettings, webhook: tuple[str, list[dict[str, Any]]], s3: S3Client, bucket: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    workers = {role: worker_process(settings, role, tmp_path / f"{role}.log") for role in INPUTS}
    try:
        for roles in INPUTS.values():
            for role in roles:
                produce_raw(settings, role, BAD)
        # Valid messages under keys that are not UTF-8, then good messages: a text-only
        # post the aggregator scores, an alert the notifier delivers, a post to archive.
        text = TextScore(post_id="good-1", username="u", score=0.9, keyword_score=0.9, negativity=0.0,
                         toxicity=0.0, sentiment_compound=0.0, analyzer_version="test",
                         scored_at=datetime.now(UTC))  # fmt: skip
        post = ScoredPost(post_id="good-3", username="u", text_score=0.1, final_score=0.1)
        for role, message in ((TopicRole.TEXT_SCORES, text.model_copy(update={"post_id": "odd-key"})),
                              (TopicRole.ALERTS, alert("odd-key", "v")),
                              (TopicRole.SCORED_POSTS, post.model_copy(update={"post_id": "odd-key"}))):  # fmt: skip
            produce_raw(settings, role, [(ODD_KEY, message.model_dump_json().encode())])
        produce_raw(settings, TopicRole.TEXT_SCORES, [(b"good-1", text.model_dump_json().encode())])
        produce_raw(
            settings,
            TopicRole.ALERTS,
            [(b"good-2", alert("good-2", "u").model_dump_json().encode())],
        )
        produce_raw(
            settings, TopicRole.SCORED_POSTS, [(b"good-3", post.model_dump_json().encode())]
        )

        eventually(lambda: "good-2" in [d["alert"]["post_id"] for d in webhook[1]],
                   timeout=90, what="the notifier delivering the good alert")  # fmt: skip
        eventually(lambda: "good-3" in [r["post_id"] for r in archived(s3, bucket)],
                   timeout=90, what="the archiver writing the good post")  # fmt: skip
        scored = eventually(lambda: [json.loads(v) for v in read_all(settings, TopicRole.SCORED_POSTS)
                                     if b"good-1" in v], timeout=90, what="the aggregator scoring the good post")  # fmt: skip
        assert [s["post_id"] for s in scored] == ["good-1"]
        letters = eventually(
            lambda: expected_letters(settings), timeout=60, what="every dead letter"
        )
        for worker, process in workers.items():
            assert process.poll() is None, (
                f"{worker} died: {(tmp_path / f'{worker}.log').read_text()[-3000:]}"
            )
    finally:
        stop_processes(*workers.values())
    # A restarted notifier rebuilds its dedupe from the alerts topic, bad messages and all.
    delivered = len(webhook[1])
    again = worker_process(settings, "notifier", tmp_path / "notifier-2.log")
    try:
        time.sleep(8)
        assert again.poll() is None, (tmp_path / "notifier-2.log").read_text()[-3000:]
    finally:
        stop_processes(again)
    assert len(webhook[1]) == delivered  # nothing sent twice

    for letter in letters:
        assert letter.error
        assert letter.payload_encoding == ("base64" if letter.key == "binary" else "utf-8")
    huge = [d for d in letters if d.key == "huge"]
    assert all(f"exceeds {MAX_INPUT_BYTES}" in d.error and "truncated" in d.error for d in huge)


def expected_letters(settings: WorkerSettings) -> list[DeadLetter] | None:
    """Every bad message's dead letter, once per input topic, each from the right worker."""
    letters = [
        DeadLetter.model_validate_json(v) for v in read_all(settings, TopicRole.DEAD_LETTERS)
    ]
    want = sorted(
        [(settings.topics.of(role), key.decode(errors="replace"), worker)
         for worker, roles in INPUTS.items() for role in roles for key, _ in BAD]
        + [(settings.topics.of(role), ODD_KEY.decode(errors="replace"), worker)
           for worker, role in (("aggregator", TopicRole.TEXT_SCORES), ("notifier", TopicRole.ALERTS),
                                ("archiver", TopicRole.SCORED_POSTS))]
    )  # fmt: skip
    have = sorted((d.source_topic, d.key or "", d.worker) for d in letters)
    return letters if have == want else None
