"""`make demo`'s flow as a test: exactly the posts that should alert, every post archived once."""

from __future__ import annotations

import gzip
import json
from typing import TYPE_CHECKING

from brandmon_devtools import demo
from brandmon_devtools.platform import runtime

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# What examples/demo/northwind/README.md says the demo monitor must flag.
SHOULD_ALERT = ["n-020", "n-021", "n-030", "n-031", "n-032", "n-040"]


def test_demo_flags_exactly_the_damaging_posts(platform: runtime.Platform, s3: S3Client) -> None:
    assert demo.main(["--exit-when-done"]) == 0
    result = json.loads((platform.root / "demo-result.json").read_text())
    assert result["flagged"] == SHOULD_ALERT  # and so none of the benign posts
    assert result["deliveries"] == len(SHOULD_ALERT)  # no duplicate alert
    archived: list[str] = []
    for item in s3.list_objects_v2(Bucket=demo.BUCKET, Prefix="demo/northwind/archive/").get(
        "Contents", []
    ):
        body = s3.get_object(Bucket=demo.BUCKET, Key=item["Key"])["Body"].read()
        archived += [
            json.loads(line)["post_id"] for line in gzip.decompress(body).decode().splitlines()
        ]
    assert len(archived) == result["posts"] == 18
    assert len(set(archived)) == len(archived)  # every post archived exactly once
