"""`make demo`: the operator and a full pipeline on the local platform, then what it flagged.

Steps: start (or reuse) the local platform; install the CRD; start the local node agent
(pods run as local processes) and the operator; upload the bundled Northwind recording to
S3; start a local webhook receiver; apply the demo BrandMonitor (replay source, builtin
engine); start the first collection at once instead of waiting for the schedule; then
show each flagged post as its alert arrives, and a summary: flagged posts with score and
why, webhook deliveries, where the archive is, and `kubectl get bm`. The pipeline keeps
running until Ctrl-C (or `make demo-down`), which stops everything.

Every process started here carries the platform's marker, so `brandmon-platform down`
(`make demo-down`) stops them with the platform. The demo itself does not carry it (it is
the user's foreground command), so it leaves its pid in the platform directory: `down`
sends it SIGTERM first, and the demo reaps its children and exits with a line saying why.
If its operator or node agent stops under it some other way, it says so and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import yaml
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from kubernetes import client, config

from brandmon_devtools.platform import runtime
from brandmon_devtools.platform.pins import repo_root
from brandmon_workers.contract.messages import Alert
from brandmon_workers.notifier import explain

NAMESPACE = "demo"
BUCKET = "brandmon-demo"
MONITOR = "northwind"
DATASET = repo_root() / "examples" / "demo" / "northwind"
MANIFEST = repo_root() / "examples" / "demo" / "northwind.yaml"
NODE = "brandmon-local"


def say(message: str) -> None:
    """Print a progress line with the time since the demo started."""
    print(f"[demo {time.monotonic() - STARTED:5.1f}s] {message}", flush=True)


STARTED = time.monotonic()


class _Receiver(BaseHTTPRequestHandler):
    deliveries: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.deliveries.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Run a local webhook receiver standing in for the PR team's Slack."""
    deliveries: list[dict[str, Any]] = []
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), type("R", (_Receiver,), {"deliveries": deliveries})
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pr-team", deliveries
    finally:
        server.shutdown()
        server.server_close()


def _spawn(
    platform: runtime.Platform, name: str, argv: list[str], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    log = platform.logs / f"{name}.log"
    with log.open("ab") as sink:
        return subprocess.Popen(
            argv,
            env=os.environ | env | {runtime.MARKER: str(platform.root)},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _apply(api: client.ApiClient, body: dict[str, Any]) -> None:
    """Server-side apply any object through the dynamic REST path."""
    from kubernetes.dynamic import DynamicClient  # noqa: PLC0415 - demo only

    dynamic = DynamicClient(api)  # type: ignore[no-untyped-call]
    resource = dynamic.resources.get(api_version=body["apiVersion"], kind=body["kind"])
    namespace = body["metadata"].get("namespace")
    resource.server_side_apply(
        body=body,
        name=body["metadata"]["name"],
        namespace=namespace,
        field_manager="brandmon-demo",
        force_conflicts=True,
    )


def _wait(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            result = check()
            if result:
                return result
        time.sleep(0.5)
    msg = f"timed out after {timeout:.0f}s waiting for {what}"
    raise SystemExit(msg)


def _upload_dataset(env: dict[str, str]) -> None:
    s3 = _s3(env)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    for path in DATASET.rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".png", ".jpg"):
            s3.put_object(
                Bucket=BUCKET,
                Key=f"{NAMESPACE}/{MONITOR}/{path.relative_to(DATASET)}",
                Body=path.read_bytes(),
            )


def _forget_previous_run(api: client.ApiClient, env: dict[str, str]) -> None:
    """Delete an earlier demo's monitor (its finalizer deletes its topics) and S3 state."""
    objects = client.CustomObjectsApi(api)
    try:
        objects.delete_namespaced_custom_object(
            "brandmon.io", "v1alpha1", NAMESPACE, "brandmonitors", MONITOR
        )
    except client.exceptions.ApiException as error:
        if error.status != 404:  # noqa: PLR2004 - nothing to forget
            raise
    else:
        say("removing the previous demo run")

        def gone() -> bool:
            listed: Any = objects.list_namespaced_custom_object(
                "brandmon.io", "v1alpha1", NAMESPACE, "brandmonitors"
            )
            return not listed["items"]

        _wait("the previous monitor to be deleted", gone, 120)
    # Whatever the old monitor's deletionPolicy was, the demo starts from empty topics.
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"]})
    old = [
        t
        for t in admin.list_topics(timeout=10).topics
        if t.startswith(f"brandmon.{NAMESPACE}.{MONITOR}.")
    ]
    if old:
        for future in admin.delete_topics(old, operation_timeout=30).values():
            future.result()
        _wait(
            "old topics to go", lambda: not set(old) & set(admin.list_topics(timeout=10).topics), 60
        )
    s3 = _s3(env)
    with contextlib.suppress(s3.exceptions.NoSuchBucket):
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"{NAMESPACE}/"
        ):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=BUCKET, Key=item["Key"])


def _secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "stringData": data,
    }


def run_collection_now(api: client.ApiClient, namespace: str, cronjob_name: str) -> str:
    """Start a Job from a source's CronJob, as `kubectl create job --from=cronjob/...` does.

    Returns the Job's name.
    """
    batch = client.BatchV1Api(api)
    cronjob = batch.read_namespaced_cron_job(cronjob_name, namespace)
    assert cronjob.spec is not None
    assert cronjob.metadata is not None
    template = cronjob.spec.job_template
    owner = client.V1OwnerReference(
        api_version="batch/v1",
        kind="CronJob",
        name=str(cronjob.metadata.name),
        uid=str(cronjob.metadata.uid),
    )
    name = f"{cronjob_name}-now-{time.time_ns() % 10**9}"
    job = client.V1Job(
        metadata=client.V1ObjectMeta(
            name=name,
            labels=template.metadata.labels if template.metadata else None,
            annotations={"cronjob.kubernetes.io/instantiate": "manual"},
            owner_references=[owner],
        ),
        spec=template.spec,
    )
    batch.create_namespaced_job(namespace, job)
    return name


def _node_ready(api: client.ApiClient) -> bool:
    status = client.CoreV1Api(api).read_node(NODE).status
    conditions = (status.conditions if status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def _s3(env: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )


def _row(delivery: dict[str, Any]) -> str:
    """One flagged post as the demo lists it: who, how urgent, the score and why."""
    alert = Alert.model_validate(delivery["alert"])
    why = "; ".join(explain(alert))
    return (
        f"{alert.post_id:8} {alert.username:16} {alert.severity:8} {alert.final_score:5.2f}  {why}"
    )


def _count(consumer: Consumer, topic: str) -> int:
    """Return how many messages a one-partition topic holds (0 before it exists)."""
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)[1])
    except KafkaException:
        return 0


def _archived(s3: Any) -> int:
    """Return how many records the demo's archive holds."""
    count = 0
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{NAMESPACE}/{MONITOR}/archive/")
    for item in listed.get("Contents", []):
        body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        count += len(gzip.decompress(body).splitlines())
    return count


class _Stopped(BaseException):
    """SIGTERM: `make demo-down` (or `make platform-down`) is stopping the platform.

    A BaseException, so that no `except Exception` on the way (retries, waits) swallows it.
    """


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise _Stopped


def main(argv: list[str] | None = None) -> int:
    """Run the demo."""
    global STARTED  # noqa: PLW0603 - the progress clock starts with the demo, not the import
    STARTED = time.monotonic()
    parser = argparse.ArgumentParser(prog="brandmon-demo", description=__doc__)
    parser.add_argument(
        "--exit-when-done", action="store_true", help="stop after the summary (tests)"
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="platform directory (default: <checkout>/.platform)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    platform = runtime.Platform(args.dir.resolve() if args.dir else runtime.default_dir())
    platform.root.mkdir(parents=True, exist_ok=True)
    pid_file = platform.root / runtime.DEMO_PID_FILE
    pid_file.write_text(f"{os.getpid()}\n")
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    children: list[subprocess.Popen[bytes]] = []
    try:
        return _run(platform, children, exit_when_done=args.exit_when_done)
    except _Stopped:
        say("stopped: `make demo-down` is taking the platform down; the demo ends here")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        runtime.stop_processes(*children)
        if pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()


def _keep_running(operator: subprocess.Popen[bytes], agent: subprocess.Popen[bytes]) -> int:
    """Wait for Ctrl-C or SIGTERM; return 1 if the operator or node agent stops first."""
    while True:
        for name, process in (("operator", operator), ("node agent", agent)):
            code = process.poll()
            if code is not None:
                say(f"the {name} stopped (exit {code}): the platform is gone; the demo ends here")
                return 1
        time.sleep(1)


def _run(  # noqa: PLR0915 - a script, step by step
    platform: runtime.Platform, children: list[subprocess.Popen[bytes]], *, exit_when_done: bool
) -> int:
    say("starting the local platform (first run builds it: minutes)")
    runtime.up(platform)
    state = platform.load_state()
    assert state is not None
    env = platform.client_env(state)
    api = config.new_client_from_config(config_file=str(platform.kubeconfig))  # type: ignore[no-untyped-call]

    from brandmon_operator import crd  # noqa: PLC0415

    say("installing the BrandMonitor CRD")
    _apply(api, crd.build_crd())
    say("starting the local node agent (pods run as local processes)")
    agent = _spawn(
        platform,
        "node-agent",
        [sys.executable, "-m", "brandmon_devtools.node", "--name", NODE],
        env,
    )
    children.append(agent)
    _wait("the node to be Ready", lambda: _node_ready(api), 60)
    say("starting the operator")
    operator_env = env | {
        "BRANDMON_OPERATOR_KAFKA_BOOTSTRAP_SERVERS": env["KAFKA_BOOTSTRAP_SERVERS"],
        "BRANDMON_OPERATOR_S3_ENDPOINT_URL": env["S3_ENDPOINT_URL"],
        "BRANDMON_OPERATOR_S3_BUCKET": BUCKET,
        "BRANDMON_OPERATOR_S3_CREDENTIALS_SECRET": "s3-credentials",
        "BRANDMON_OPERATOR_RESYNC_SECONDS": "10",
        "BRANDMON_OPERATOR_NAMESPACES": json.dumps([NAMESPACE]),
    }
    operator = _spawn(
        platform,
        "operator",
        [sys.executable, "-m", "brandmon_operator", "--liveness", "http://127.0.0.1:0/healthz"],
        operator_env,
    )
    children.append(operator)
    with webhook_receiver() as (url, deliveries):
        _forget_previous_run(api, env)
        say(f"uploading the Northwind recording to s3://{BUCKET}/{NAMESPACE}/{MONITOR}/")
        _upload_dataset(env)
        _apply(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        _apply(
            api,
            _secret(
                "s3-credentials",
                {k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
            ),
        )
        _apply(api, _secret("pr-webhook", {"url": url}))
        monitor = yaml.safe_load(MANIFEST.read_text())
        monitor["metadata"]["namespace"] = NAMESPACE
        say("applying BrandMonitor demo/northwind")
        _apply(api, monitor)
        objects = client.CustomObjectsApi(api)

        def ready() -> bool:
            body: Any = objects.get_namespaced_custom_object(
                "brandmon.io", "v1alpha1", NAMESPACE, "brandmonitors", MONITOR
            )
            conditions = body.get("status", {}).get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        _wait("the monitor to be Ready", ready, 120)
        say("monitor Ready; starting the first collection now")
        run_collection_now(api, NAMESPACE, f"{MONITOR}-src-recorded")

        topic_prefix = f"brandmon.{NAMESPACE}.{MONITOR}."
        consumer = Consumer(
            {"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"], "group.id": "brandmon-demo"}
        )
        posts = sum(
            1 for line in (DATASET / "posts.jsonl").read_text().splitlines() if '"post"' in line
        )
        shown: set[str] = set()
        s3 = _s3(env)
        print(f"\n{'post':8} {'account':16} {'severity':8} {'score':>5}  why")
        while True:
            for delivery in list(deliveries):
                post_id = delivery["alert"]["post_id"]
                if post_id not in shown:
                    shown.add(post_id)
                    print(_row(delivery), flush=True)
            # Done when every post is scored, every alert in Kafka delivered, every post archived.
            scored = _count(consumer, topic_prefix + "scored-posts")
            alerts = _count(consumer, topic_prefix + "alerts")
            if scored >= posts and len(deliveries) >= alerts and _archived(s3) >= posts:
                break
            if time.monotonic() - STARTED > 600:  # noqa: PLR2004
                raise SystemExit(
                    f"only {scored}/{posts} posts scored after 10 minutes; see {platform.logs}"
                )
            time.sleep(0.5)
        consumer.close()
        archive = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{NAMESPACE}/{MONITOR}/archive/").get(
            "Contents", []
        )
        flagged = f"{len(shown)} of {posts} posts flagged"
        print(f"\n{flagged}; {len(deliveries)} webhook deliveries to {url}")
        print(f"archive: s3://{BUCKET}/{NAMESPACE}/{MONITOR}/archive/ ({len(archive)} objects)")
        kubectl = platform.bin / "kubectl"
        print(
            subprocess.run(
                [str(kubectl), "get", "bm", "-n", NAMESPACE],
                env=os.environ | env,
                capture_output=True,
                text=True,
                check=False,
            ).stdout
        )
        result = {
            "flagged": sorted(shown),
            "posts": posts,
            "deliveries": len(deliveries),
            "archive_objects": len(archive),
            "seconds": round(time.monotonic() - STARTED, 1),
            "finished_at": datetime.now(UTC).isoformat(),
        }
        (platform.root / "demo-result.json").write_text(json.dumps(result, indent=2))
        if exit_when_done:
            return 0
        print("The pipeline keeps running (a collection every minute).")
        print("Ctrl-C or `make demo-down` stops it.")
        try:
            code = _keep_running(operator, agent)
        except KeyboardInterrupt:
            code = 0
    runtime.stop_processes(*children)
    runtime.down(platform)
    return code


if __name__ == "__main__":
    sys.exit(main())
