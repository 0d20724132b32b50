"""The archiver: scored posts to S3 as gzip-compressed JSON Lines, by monitor and date.

`s3://<bucket>/<namespace>/<monitor>/archive/date=<YYYY-MM-DD>/partition=<p>/<offset>.jsonl.gz`
holds the records of one batch of one partition, starting at `<offset>`. The key depends
only on where the batch starts and the first record's Kafka timestamp, so a batch consumed
again after a crash (it was uploaded, but its offsets not committed) overwrites its own
object instead of adding a second copy: nothing is lost (offsets are committed only after
the upload) and nothing is archived twice. S3 unreachable or failing on its side (5xx)
pauses the worker and retries the batch for as long as the outage lasts, so nothing is
dead-lettered for it; other S3 errors raise, and the runtime retries the batch with
backoff, then dead-letters it. Every key is checked against the monitor's S3 home before
the upload (contract.storage), so the archive never lands in another tenant's prefix.
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from brandmon_workers.contract.messages import MessageModel, ScoredPost
from brandmon_workers.contract.settings import WorkerSettings
from brandmon_workers.contract.topics import TopicRole
from brandmon_workers.runtime import Context, Output, Pause, Record, json_line

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

PAUSE_S = 5.0
"""Wait before retrying a batch while S3 is unavailable."""
_SERVER_ERROR = 500


def archive_key(namespace: str, monitor: str, first: Record) -> str:
    """Return the object key of a batch that starts with `first`."""
    day = datetime.fromtimestamp(first.timestamp_ms / 1000, UTC).strftime("%Y-%m-%d")
    where = f"{namespace}/{monitor}/archive/date={day}/partition={first.partition}"
    return f"{where}/{first.offset:020d}.jsonl.gz"


def encode(records: Sequence[Record]) -> bytes:
    """Return the records as gzip-compressed JSON Lines (deterministic: mtime 0)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as archive:
        for record in records:
            archive.write(json_line(record.value).encode() + b"\n")
    return buffer.getvalue()


class Archiver:
    """The archiver role."""

    inputs: Mapping[TopicRole, type[MessageModel]] = {TopicRole.SCORED_POSTS: ScoredPost}

    def __init__(self, settings: WorkerSettings, s3: S3Client) -> None:
        self.settings = settings
        self.s3 = s3
        self._scope = settings.s3_scope()

    def start(self, context: Context) -> None:
        """Nothing to rebuild: the archive's keys carry their own position."""

    def process(self, records: Sequence[Record]) -> list[Output]:
        """Upload one object per partition of the batch."""
        by_partition: dict[tuple[str, int], list[Record]] = {}
        for record in records:
            by_partition.setdefault((record.topic, record.partition), []).append(record)
        for batch in by_partition.values():
            batch.sort(key=lambda r: r.offset)
            key = archive_key(self.settings.namespace, self.settings.monitor, batch[0])
            self._scope.check_write_key(self.settings.s3.bucket, key)
            try:
                self.s3.put_object(
                    Bucket=self.settings.s3.bucket,
                    Key=key,
                    Body=encode(batch),
                    ContentType="application/x-ndjson",
                    ContentEncoding="gzip",
                )
            except (BotoCoreError, ClientError) as error:
                if not _unavailable(error):
                    raise
                log.warning("S3 unavailable; pausing", extra={"fields": {"error": str(error)}})
                raise Pause(PAUSE_S) from None
        return []

    def delivered(self, outputs: Sequence[Output]) -> None:
        """Nothing to record: the upload happened in process()."""


def _unavailable(error: BotoCoreError | ClientError) -> bool:
    """Whether waiting may cure the failure: S3 unreachable, or failing on its side."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= _SERVER_ERROR
    return True
