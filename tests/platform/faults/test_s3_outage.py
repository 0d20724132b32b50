"""S3 (MinIO) stopped for longer than a batch's retries: archiver and collector catch up.

While MinIO is down, the archiver (a real process) has scored posts to write and a
collector run (replay source: its recording, its state and the images all live in S3)
starts. When MinIO is back on the same port and data, every post must be archived
exactly once, nothing dead-lettered, and the next collector run must send every post.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from brandmon_devtools.platform import runtime
from brandmon_workers.collector import run as collector
from brandmon_workers.contract.messages import ScoredPost
from brandmon_workers.contract.settings import SourceSettings, WorkerSettings
from brandmon_workers.contract.sources import ReplaySource
from brandmon_workers.contract.topics import TopicRole
from tests.platform.conftest import eventually
from tests.platform.faults.support import stop_processes
from tests.platform.test_pipeline import (
    CAPTIONS,
    archived,
    collect,
    produce,
    read_all,
    recording,
    settings,
    webhook,
    worker_process,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["settings", "webhook"]  # the pipeline's fixtures

OUTAGE_S = 40  # longer than the runtime's five batch attempts (about 31 s of backoff)


def scored(post_id: str) -> bytes:
    return (
        ScoredPost(post_id=post_id, username="u", text_score=0.1, final_score=0.1)
        .model_dump_json()
        .encode()
    )


def test_archiver_and_collector_catch_up_after_an_s3_outage(
    platform: runtime.Platform,
    settings: WorkerSettings,
    s3: S3Client,
    bucket: str,
    outage: Callable[..., None],
    tmp_path: Path,
) -> None:
    ids = list(CAPTIONS)
    s3.put_object(Bucket=bucket, Key="brands/recordings/acme.jsonl", Body=recording(ids))
    archiver = worker_process(settings, "archiver", tmp_path / "archiver.log")
    try:
        produce(settings, TopicRole.SCORED_POSTS, [("s-0", scored("s-0"))])
        eventually(lambda: [r["post_id"] for r in archived(s3, bucket)] == ["s-0"], timeout=60,
                   what="the archiver running")  # fmt: skip

        outage("minio")
        started = time.monotonic()
        batches = [[(f"s-{n}", scored(f"s-{n}")) for n in range(b, b + 5)] for b in (1, 6, 11)]
        for batch in batches:  # several batches while S3 is down
            produce(settings, TopicRole.SCORED_POSTS, batch)
            time.sleep(3)
        source = SourceSettings(
            name="recorded",
            replay=ReplaySource(s3_uri=f"s3://{bucket}/brands/recordings/acme.jsonl"),
        )
        report = collector.run(settings.model_copy(update={"source": source}),
                               termination_log=tmp_path / "termination-down")  # fmt: skip
        assert not report.succeeded
        assert report.posts_new == 0
        assert "aborted" in report.message
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - started)))
        assert archiver.poll() is None, "the archiver gave up"
        runtime.start_component(platform, "minio")

        collect(settings, s3, bucket, ids, tmp_path / "termination-up")  # asserts no errors
        assert json.loads((tmp_path / "termination-up").read_text())["postsNew"] == len(ids)
        expected = sorted(["s-0"] + [key for batch in batches for key, _ in batch])
        eventually(lambda: sorted(r["post_id"] for r in archived(s3, bucket)) == expected,
                   timeout=90, what="every scored post archived")  # fmt: skip
    finally:
        stop_processes(archiver)
    assert sorted(r["post_id"] for r in archived(s3, bucket)) == expected  # exactly once
    assert read_all(settings, TopicRole.DEAD_LETTERS) == []
    posts = read_all(settings, TopicRole.POSTS)
    assert sorted(json.loads(p)["post_id"] for p in posts) == sorted(ids)  # sent once each
