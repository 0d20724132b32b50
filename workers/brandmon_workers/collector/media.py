"""Images to S3, content-addressed: `<namespace>/<monitor>/media/<sha256>.<ext>`.

The key is the image's digest, so an image shared by posts (or re-read by a later run) is
stored once: an upload is skipped when the object exists. Only the s3:// URI travels in
Kafka. The store refuses to write outside the monitor's S3 home (defence in depth: the key
is built from the namespace the operator set, but a bug or a bad setting must not put one
tenant's images into another's prefix).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from brandmon_workers.collector.items import StoredImage, image_blob, media_key, s3_uri
from brandmon_workers.contract.storage import S3Scope

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = {"404", "NoSuchKey", "NotFound"}


class MediaStore:
    """Stores images in the monitor's bucket."""

    def __init__(
        self, s3: S3Client, bucket: str, namespace: str, monitor: str, *, scope: S3Scope
    ) -> None:
        self._s3 = s3
        self._scope = scope
        self._bucket = bucket
        self._namespace = namespace
        self._monitor = monitor
        self._known: set[str] = set()
        self.uploads = 0
        """Objects written by this store (skipped existing ones excluded)."""

    def store(self, data: bytes) -> StoredImage:
        """Upload an image unless stored already; return where it is."""
        blob = image_blob(data)
        key = media_key(self._namespace, self._monitor, blob)
        self._scope.check_write_key(self._bucket, key)
        if key not in self._known and not self._exists(key):
            self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=blob.data, ContentType=blob.content_type
            )
            self.uploads += 1
        self._known.add(key)
        return StoredImage(
            s3_uri=s3_uri(self._bucket, key),
            sha256=blob.sha256,
            content_type=blob.content_type,
            size_bytes=len(blob.data),
        )

    def _exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise
        return True
