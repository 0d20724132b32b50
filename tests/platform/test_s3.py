"""The local S3 server is real: buckets and objects through boto3."""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def test_put_and_get_an_object(s3: S3Client, bucket: str) -> None:
    body = os.urandom(256 * 1024)
    s3.put_object(Bucket=bucket, Key="media/post-1.jpg", Body=body, ContentType="image/jpeg")
    fetched = s3.get_object(Bucket=bucket, Key="media/post-1.jpg")
    assert fetched["ContentType"] == "image/jpeg"
    assert hashlib.sha256(fetched["Body"].read()).digest() == hashlib.sha256(body).digest()
    listed = s3.list_objects_v2(Bucket=bucket)
    assert [item["Key"] for item in listed.get("Contents", [])] == ["media/post-1.jpg"]


def test_missing_object_is_an_error(s3: S3Client, bucket: str) -> None:
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key="nothing-here")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
