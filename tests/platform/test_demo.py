"""`make demo`'s flow as a test: exactly the posts that should alert, every post archived once."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from brandmon_devtools import demo
from brandmon_devtools.platform import runtime
from tests.platform.conftest import eventually

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


def test_demo_down_ends_a_running_demo(tmp_path: Path) -> None:
    """`make demo` in one terminal, `make demo-down` in another: both end, nothing is left.

    The demo runs as the user runs it (its own process, no platform marker, no
    --exit-when-done) on a platform of its own, so stopping it spares the suite's.
    """
    root = tmp_path / "platform"
    log = tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if k != runtime.MARKER}
    with log.open("wb") as sink:
        running = subprocess.Popen(
            [sys.executable, "-m", "brandmon_devtools.demo", "--dir", str(root)],
            env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:

        def summary_shown() -> bool:
            assert running.poll() is None, f"the demo ended early: {log.read_text()[-3000:]}"
            return "`make demo-down` stops it" in log.read_text()

        eventually(summary_shown, timeout=600, what="the demo's summary")
        down = subprocess.run(
            [str(Path(sys.executable).parent / "brandmon-platform"), "--dir", str(root), "down"],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert down.returncode == 0, down.stderr
        assert running.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if running.poll() is None:
            running.kill()
            running.wait(10)
        runtime.down(runtime.Platform(root), quiet=True)
    assert "the demo ends here" in log.read_text()
    assert runtime.processes(root) == []
    assert not (root / runtime.DEMO_PID_FILE).exists()
