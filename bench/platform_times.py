"""Local platform and demo: warm start, `make demo` time to the first flagged post, cold build.

Each measurement uses a fresh temporary platform directory, so a running platform (yours,
or the one `make bench` shares) is left alone:
- warm start: `runtime.up()` with the build cache warm, until all six components are
  healthy, then `down` (repeated `--starts` times);
- demo: `python -m brandmon_devtools.demo --exit-when-done` as `make demo` runs it, twice
  on a kind cluster of its own: first with no cluster (cluster creation and image loads
  included; the images and the node image come from Docker's build cache), then again on
  the cluster the first run left (the warm path); every stdout line is time-stamped, and
  the first row of the flagged-posts table is the first flagged post; the cluster is
  deleted afterwards;
- cold build (only with `--cold`, about 7 minutes of both CPUs): `brandmon-platform build`
  with an empty HOME and BRANDMON_CACHE (no Go module, Go build, Maven or brandmon cache).
  Without `--cold` the result says the cold build was not measured.

    .venv/bin/python -m bench.platform_times [--cold] [--starts 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from brandmon_devtools.platform import runtime

_REPO = Path(__file__).resolve().parent.parent


def warm_start(root: Path) -> float:
    """Start a platform in `root` with the build cache warm; return seconds until healthy."""
    platform = runtime.Platform(root)
    started = time.monotonic()
    runtime.up(platform)
    elapsed = time.monotonic() - started
    runtime.down(platform)
    return elapsed


DEMO_CLUSTER = "brandmon-bench"


def demo() -> dict[str, Any]:
    """Run the demo twice on a cluster of its own (new, then reused); delete the cluster."""
    try:
        return {"new_cluster": demo_once(), "same_cluster_again": demo_once()}
    finally:
        subprocess.run(
            [sys.executable, "-m", "brandmon_devtools.kind", "--name", DEMO_CLUSTER, "down"],
            check=False, cwd=_REPO,
        )  # fmt: skip


def demo_once() -> dict[str, Any]:
    """Run `make demo`'s program once; return when its first flagged post showed."""
    env = dict(os.environ) | {"PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "brandmon_devtools.demo", "--exit-when-done",
         "--cluster", DEMO_CLUSTER],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=_REPO,
    )  # fmt: skip
    assert process.stdout is not None
    first_row: float | None = None
    in_table = False
    rows = 0
    try:
        for line in process.stdout:
            now = time.monotonic() - started
            if line.startswith("post ") and "account" in line:
                in_table = True
            elif in_table and line.strip() and not line.startswith("[demo"):
                if line[0].isspace() or " of " in line:  # the summary after the table
                    in_table = False
                else:
                    rows += 1
                    first_row = first_row if first_row is not None else now
            common.say(f"demo {now:5.1f}s | {line.rstrip()}")
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    total = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"the demo failed (exit {code})")
    return {
        "first_flagged_post_s": round(first_row, 1) if first_row is not None else None,
        "summary_s": round(total, 1),
        "flagged_posts": rows,
    }


def cold_build() -> dict[str, Any]:
    """Build every platform binary with empty caches; return seconds."""
    home = Path(tempfile.mkdtemp(prefix="brandmon-cold-"))
    env = dict(os.environ) | {"HOME": str(home), "BRANDMON_CACHE": str(home / "cache")}
    started = time.monotonic()
    try:
        subprocess.run(
            [sys.executable, "-m", "brandmon_devtools.platform.cli", "build"],
            env=env, check=True, cwd=_REPO,
        )  # fmt: skip
    finally:
        # Go makes its module cache read-only; make it deletable first.
        subprocess.run(["chmod", "-R", "u+w", str(home)], check=False)
        shutil.rmtree(home, ignore_errors=True)
    return {"builds_s": round(time.monotonic() - started), "source": "this run"}


def main() -> None:
    """Measure, print and record."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="also time a cold build (~7 min)")
    parser.add_argument("--starts", type=int, default=2, help="warm starts to time")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    # Not measured is recorded as such: a number from elsewhere would pass for this run's.
    results["cold_build"] = cold_build() if args.cold else {"measured": False, "how": "--cold"}
    with tempfile.TemporaryDirectory(prefix="brandmon-bench-") as scratch:
        starts = []
        for i in range(args.starts):
            starts.append(round(warm_start(Path(scratch) / f"warm-{i}"), 1))
            common.say(f"warm start {i + 1}: {starts[-1]}s")
        results["warm_start_s"] = starts
    results["demo"] = demo()
    common.say(f"demo: {results['demo']}")
    common.finish("platform", {"cold": args.cold, "starts": args.starts}, results)


if __name__ == "__main__":
    main()
