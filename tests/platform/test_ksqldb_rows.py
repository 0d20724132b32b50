"""The notifier and archiver read rows exactly as ksqlDB's JSON serializer writes them.

ksqlDB writes SQL NULL as `null` for every column (a post without an image row has no
image score and no categories; any aggregate over missing input is NULL). Such rows, in
the alerts and scored-posts topics, must be delivered and archived with neutral values,
not dead-lettered.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from brandmon_workers import roles
from brandmon_workers.contract.settings import WorkerSettings
from brandmon_workers.contract.topics import TopicRole
from tests.platform.conftest import eventually
from tests.platform.test_pipeline import archived, produce, read_all, settings, start, webhook

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["settings", "webhook"]  # the pipeline's fixtures

NULLABLE = ("image_score", "keywords", "negativity", "toxicity", "categories")


def ksqldb_row(post_id: str, **values: Any) -> bytes:
    """A SCORED_POSTS/ALERTS row as ksqlDB serializes it: every column, NULL as null."""
    row = {"schema_version": 1, "post_id": post_id, "username": "acct", "text_score": 0.9,
           "final_score": 0.9} | dict.fromkeys(NULLABLE) | values  # fmt: skip
    return json.dumps(row).encode()


def test_rows_with_ksqldb_nulls_are_delivered_and_archived(
    settings: WorkerSettings, webhook: tuple[str, list[dict[str, Any]]], s3: S3Client, bucket: str
) -> None:
    rows = [
        ("k-text-only", ksqldb_row("k-text-only")),
        ("k-with-image", ksqldb_row("k-with-image", image_score=0.8, categories=["Violence"],
                                    keywords=["recall"], negativity=0.4, toxicity=0.1)),
    ]  # fmt: skip
    stop = start([roles.build(r, settings, poll_timeout_s=0.5) for r in ("notifier", "archiver")])
    try:
        produce(settings, TopicRole.SCORED_POSTS, rows)
        produce(settings, TopicRole.ALERTS, rows)
        delivered = eventually(
            lambda: {d["alert"]["post_id"]: d["alert"] for d in webhook[1]}
            if len(webhook[1]) >= len(rows) else None,
            timeout=60, what="both alerts delivered",
        )  # fmt: skip
        kept = eventually(
            lambda: {r["post_id"]: r for r in archived(s3, bucket)}
            if len(archived(s3, bucket)) >= len(rows) else None,
            timeout=60, what="both rows archived",
        )  # fmt: skip
    finally:
        stop()
    for seen in (delivered, kept):
        assert seen["k-text-only"]["categories"] == []
        assert seen["k-text-only"]["keywords"] == []
        assert seen["k-text-only"]["image_score"] is None
        assert (seen["k-text-only"]["negativity"], seen["k-text-only"]["toxicity"]) == (0.0, 0.0)
        assert seen["k-with-image"]["categories"] == ["Violence"]
    assert len(webhook[1]) == len(rows)
    assert read_all(settings, TopicRole.DEAD_LETTERS) == []
