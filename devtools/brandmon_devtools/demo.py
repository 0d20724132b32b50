"""`make demo`: the operator and a full pipeline on a kind cluster, then what it flagged.

On a fresh machine it first makes everything it needs (each step is skipped when its result
exists): a Docker daemon (docs/containers.md), the brandmon, Kafka and MinIO images, the
kind CLI and node image (docs/kind.md), the platform's kubectl and helm. Then it creates
(or reuses) the kind cluster `brandmon`, loads the images the node lacks and runs
`brandmon_devtools.kind.demo`: Kafka, MinIO and a webhook receiver in the cluster, the
chart's operator, the demo BrandMonitor on the bundled Northwind recording. Each flagged
post is shown as its alert arrives, then a summary.

The cluster keeps running after the summary (a collection every minute; `--exit-when-done`
stops there), so a second `make demo` reuses it and takes seconds instead of minutes.
Ctrl-C ends the demo and leaves the cluster; `make demo-down` deletes it and puts back the
host's sysctls.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from brandmon_devtools.containers import docker, images
from brandmon_devtools.kind import cluster, nodeimage
from brandmon_devtools.kind import demo as stack_demo
from brandmon_devtools.platform import build, pins, runtime
from brandmon_devtools.platform.pins import Pins
from brandmon_workers.contract.messages import Alert
from brandmon_workers.notifier import explain

STARTED = time.monotonic()


def say(message: str) -> None:
    """Print a progress line with the time since the demo started."""
    print(f"[demo {time.monotonic() - STARTED:5.1f}s] {message}", flush=True)


def row(delivery: stack_demo.Delivery) -> str:
    """One flagged post as the demo lists it: who, how urgent, the score and why."""
    alert = Alert.model_validate(delivery.body["alert"])
    why = "; ".join(explain(alert))
    return (
        f"{alert.post_id:8} {alert.username:16} {alert.severity:8} {alert.final_score:5.2f}  {why}"
    )


class Table:
    """The flagged posts as a table whose header comes with its first row."""

    def __init__(self) -> None:
        self.rows = 0

    def show(self, delivery: stack_demo.Delivery) -> None:
        """Print one flagged post (after the header, the first time)."""
        if not self.rows:
            print(f"\n{'post':8} {'account':16} {'severity':8} {'score':>5}  why", flush=True)
        self.rows += 1
        print(row(delivery), flush=True)


def prepare(name: str) -> stack_demo.Stack:
    """Build or find every tool and image, create or reuse the cluster; return its stack.

    On a cold machine the Go builds (CPU) run in a second thread while the images build
    (mostly downloads), which takes minutes off the first `make demo`. The Go builds come
    in the order they are needed: the node's binaries and kind first, so the node image and
    the cluster are made while MinIO compiles, and helm last, while Kafka and MinIO start.
    """
    logs = runtime.Platform(runtime.default_dir()).logs
    current = pins.load_pins()
    node_inputs: Future[object] = Future()
    kind: Future[Path] = Future()
    minio: Future[Path] = Future()
    helm: Future[Path] = Future()

    def go_builds() -> None:
        steps: list[tuple[Future[Any], Callable[[Pins, Path], Any]]] = [
            (node_inputs, nodeimage.ensure_inputs),
            (kind, build.ensure_kind),
            (minio, build.ensure_minio),
            (helm, build.ensure_helm),
        ]
        for future, step in steps:
            try:
                future.set_result(step(current, logs))
            except BaseException as error:  # noqa: BLE001 - handed to the thread that waits
                for waiting in (f for f, _ in steps if not f.done()):
                    waiting.set_exception(error)
                return

    # A daemon thread: a failed image step or Ctrl-C ends the demo without waiting for
    # compilers nobody will use.
    threading.Thread(target=go_builds, name="go-builds", daemon=True).start()
    say("Docker (first run on Debian as root: installs docker.io)")
    client = docker.ensure_docker()
    say("images: brandmon, Kafka, MinIO (first run builds them: minutes)")
    bases = images.ensure_base_images(client, logs)
    wheelhouse = images.ensure_wheelhouse(images.default_uv(), logs)
    brandmon = images.ensure_brandmon_image(client, bases, wheelhouse, logs)
    kafka = images.ensure_kafka_image(client, current, logs)
    say("kind and its node image (first run builds them: minutes)")
    node_inputs.result()
    node_image = nodeimage.ensure_node_image(client, current, logs)
    handle = cluster.Cluster(name, kind.result(), client)
    say(f"kind cluster {name}")
    handle.up(node_image, load=(brandmon, kafka))
    minio.result()
    built = stack_demo.Images(
        brandmon=brandmon, kafka=kafka, minio=images.ensure_minio_image(client, current, logs)
    )
    handle.load_missing(built.minio)
    # The kube binary came with the node's; helm may still be compiling.
    kube = build.ensure_kube(current, logs)
    return stack_demo.Stack(handle.kubeconfig, kube, helm, built, say)


def main(argv: list[str] | None = None) -> int:
    """Run the demo."""
    global STARTED  # noqa: PLW0603 - the progress clock starts with the demo, not the import
    STARTED = time.monotonic()
    parser = argparse.ArgumentParser(prog="brandmon-demo", description=__doc__)
    parser.add_argument(
        "--exit-when-done", action="store_true", help="stop after the summary (tests, bench)"
    )
    parser.add_argument("--cluster", default=cluster.DEFAULT_NAME, help="the kind cluster's name")
    args = parser.parse_args(argv)
    try:
        stack = prepare(args.cluster)
        prepared = time.monotonic() - STARTED
        result = stack_demo.run(stack, show=Table().show)
    except (
        docker.DockerError, images.ImageError, build.BuildError, nodeimage.NodeImageError,
        cluster.KindError, stack_demo.DemoError,
    ) as error:  # fmt: skip
        print(f"demo: {error}", file=sys.stderr)
        return 1
    print(
        f"\n{len(result.flagged)} of {result.posts} posts flagged; "
        f"{len(result.deliveries)} webhook deliveries (receiver: deploy/webhook in brandmon-infra)"
    )
    print(
        f"archive: s3://{stack_demo.BUCKET}/{stack_demo.ARCHIVE_PREFIX} "
        f"({len(result.archived)} posts archived)"
    )
    print(stack.kubectl("get", "bm", "-n", stack_demo.NAMESPACE, check=False))
    summary = {
        "flagged": result.flagged,
        "posts": result.posts,
        "deliveries": len(result.deliveries),
        "archived": len(result.archived),
        # From the start of `make demo`'s program, as a user waits for it.
        "first_flagged_post_s": round(prepared + (result.first_flagged_s or 0), 1),
        "seconds": round(time.monotonic() - STARTED, 1),
        "finished_at": datetime.now(UTC).isoformat(),
    }
    (stack.kubeconfig.parent / "demo-result.json").write_text(json.dumps(summary, indent=2))
    if args.exit_when_done:
        return 0
    print(f"The pipeline keeps running in kind cluster `{args.cluster}` (a collection a minute):")
    print(f"  kubectl --kubeconfig {stack.kubeconfig} get pods -A")
    print("Ctrl-C ends the demo and leaves the cluster; `make demo-down` deletes it.")
    shown = {d.delivery_id for d in result.deliveries}
    try:
        while True:
            time.sleep(2)
            for delivery in stack.deliveries(result.webhook_path):
                if delivery.delivery_id not in shown:
                    shown.add(delivery.delivery_id)
                    print(row(delivery), flush=True)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
