"""Uploads the Northwind recording to the kind cluster's MinIO (a Job in the brandmon image).

The recording arrives as a ConfigMap volume at DATASET_DIR (posts.jsonl and the images,
flattened, since ConfigMap keys have no folders) and goes where `make demo` puts it:
s3://<BUCKET>/demo/northwind/posts.jsonl and s3://<BUCKET>/demo/northwind/images/<name>
(under the monitor's namespace, demo: a monitor reads only its own namespace's prefix).
Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (a Secret, by reference).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import boto3


def main() -> None:
    """Create the bucket if needed and upload every file of the dataset."""
    s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], region_name="us-east-1")
    bucket = os.environ["BUCKET"]
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    # ConfigMap volumes hold the keys as symlinks beside hidden ..data folders.
    files = [p for p in sorted(Path(os.environ["DATASET_DIR"]).iterdir()) if p.is_file()]
    for path in files:
        folder = "demo/northwind" if path.suffix == ".jsonl" else "demo/northwind/images"
        s3.put_object(Bucket=bucket, Key=f"{folder}/{path.name}", Body=path.read_bytes())
        print(f"uploaded s3://{bucket}/{folder}/{path.name}", flush=True)
    if not any(p.suffix == ".jsonl" for p in files):
        raise SystemExit("no posts.jsonl in the dataset")


if __name__ == "__main__":
    main()
