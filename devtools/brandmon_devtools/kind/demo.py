"""The demo stack on a kind cluster: what `make demo` runs and what tests/kind checks.

One code path for both (tests/kind/test_demo.py calls `run` on its own cluster):

1. Kafka, MinIO and a webhook receiver standing in for the PR team's endpoint run in
   namespace `brandmon-infra` (platform/kind/demo/infra.yaml with the images the project
   builds), MinIO's root credentials random, in a Secret only; the demo's namespace gets a
   MinIO user of its own, allowed only its prefix (brandmon_devtools.s3_tenants);
2. the chart installs the operator from the brandmon image into `brandmon-system`
   (`helm upgrade --install --wait`), watching every namespace, configured in-cluster;
3. through a port-forward to MinIO on 127.0.0.1: an earlier run's monitor is deleted (its
   finalizer deletes its topics) and what it kept in S3 too (collector state, media,
   archive); the Northwind recording is uploaded;
4. the demo's BrandMonitor is applied with a webhook path of this run's own and becomes
   Ready; the first collection starts at once from the source's CronJob;
5. every delivery the receiver logs is shown as it arrives; the run is done when every
   post is scored, every alert delivered and every post archived.

Every step reuses what is already running, so a second `make demo` on the same cluster
starts at step 3 in effect (steps 1 and 2 find everything in place). Credentials travel through
the Kubernetes API, never through a command line or a log.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import re
import secrets
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from kubernetes import client, config

from brandmon_devtools import s3_tenants
from brandmon_devtools.platform.pins import repo_root

INFRA = "brandmon-infra"
SYSTEM = "brandmon-system"
NAMESPACE = "demo"
MONITOR = "northwind"
BUCKET = "brandmon-demo"
RELEASE = "brandmon"
MANIFESTS = repo_root() / "platform" / "kind" / "demo"
DATASET = repo_root() / "examples" / "demo" / "northwind"
MONITOR_MANIFEST = repo_root() / "examples" / "demo" / "northwind.yaml"
KAFKA = f"kafka.{INFRA}.svc.cluster.local:9092"
# The broker's SCRAM administrator (infra.yaml) and the Secret with its password.
KAFKA_ADMIN = "brandmon-admin"
KAFKA_ADMIN_SECRET = "kafka-admin"  # noqa: S105 - a Secret's name
S3_IN_CLUSTER = f"http://minio.{INFRA}.svc.cluster.local:9000"
WEBHOOK = f"http://webhook.{INFRA}.svc.cluster.local:8080"
# Where the archiver writes (under the monitor's namespace: s3 scoping, docs/security).
ARCHIVE_PREFIX = f"{NAMESPACE}/{MONITOR}/archive/"
RECORDING_PREFIX = f"{NAMESPACE}/{MONITOR}/"
# In each tenant namespace: its own MinIO user's keys, never MinIO's root keys.
S3_SECRET = "s3-credentials"  # noqa: S105 - a Secret's name

# Run inside the receiver's pod (the brandmon image has confluent-kafka): topic sizes, or
# delete the topics under a prefix. Kafka is reached by its in-cluster name only.
_TOPICS_SCRIPT = """
import sys
sys.path.insert(0, "/scripts")
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka_admin import config
command, bootstrap, prefix = sys.argv[1:4]
if command == "sizes":
    consumer = Consumer(config(bootstrap) | {"group.id": "brandmon-demo-probe"})
    for topic in consumer.list_topics(timeout=10).topics:
        if topic.startswith(prefix):
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in parts]
            print(topic, sum(ends))
    consumer.close()
else:
    admin = AdminClient(config(bootstrap))
    old = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    for future in (admin.delete_topics(old, operation_timeout=30).values() if old else []):
        future.result()
    print(len(old))
"""


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which, with what the cluster said."""


@dataclass(frozen=True)
class Images:
    """The images the stack runs, loaded into the cluster's node."""

    brandmon: str
    kafka: str
    minio: str


def render_infra(images: Images) -> str:
    """Return infra.yaml with the project's images in place of its placeholders."""
    return (
        (MANIFESTS / "infra.yaml")
        .read_text()
        .replace("BRANDMON_IMAGE", images.brandmon)
        .replace("KAFKA_IMAGE", images.kafka)
        .replace("MINIO_IMAGE", images.minio)
    )


def chart_values(image: str, *, resync_seconds: int = 10) -> dict[str, Any]:
    """Return the chart values the demo installs with: in-cluster Kafka and MinIO.

    The operator watches every namespace (the chart's default), so monitors applied in any
    namespace of the demo's cluster run too.
    """
    repository, tag = image.rsplit(":", 1)
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        # The broker takes only SASL/SCRAM from pods: the operator signs in as its
        # administrator and gives each monitor a principal of its own.
        "kafka": {
            "bootstrapServers": KAFKA,
            "sasl": {
                "securityProtocol": "SASL_PLAINTEXT",
                "saslMechanism": "SCRAM-SHA-512",
                "username": KAFKA_ADMIN,
                "passwordSecret": {"name": KAFKA_ADMIN_SECRET, "key": "password"},
            },
        },
        "s3": {
            "endpointUrl": S3_IN_CLUSTER,
            "bucket": BUCKET,
            "region": "us-east-1",
            "credentialsSecret": S3_SECRET,
        },
        # A demo shows changes quickly; the chart's default suits a real cluster.
        "resyncSeconds": resync_seconds,
        # The demo replays its recording every minute; a real cluster keeps the default cap.
        "caps": {"maxRunsPerHour": 60},
    }


def recording_posts() -> int:
    """Return how many posts the Northwind recording holds (its other lines are profiles)."""
    lines = (DATASET / "posts.jsonl").read_text().splitlines()
    return sum(1 for line in lines if line.strip() and "post" in json.loads(line))


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery the receiver logged: its path, id and generic JSON body."""

    path: str
    delivery_id: str
    body: dict[str, Any]

    @property
    def post_id(self) -> str:
        """The alerted post's id."""
        return str(self.body.get("alert", {}).get("post_id", "?"))


def parse_deliveries(log: str, path: str) -> list[Delivery]:
    """Return the deliveries to `path` in the receiver's log, in order."""
    found = []
    for line in log.splitlines():
        words = line.split(" ", 3)
        if len(words) == 4 and words[0] == "delivered" and words[1] == path:  # noqa: PLR2004
            found.append(Delivery(words[1], words[2], json.loads(words[3])))
    return found


@dataclass
class Result:
    """What a demo run saw; `make demo` prints it, tests/kind checks it."""

    posts: int
    webhook_path: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    scored: int = 0
    alerts: int = 0
    first_flagged_s: float | None = None
    seconds: float = 0.0

    @property
    def flagged(self) -> list[str]:
        """The posts delivered at least once, sorted."""
        return sorted({d.post_id for d in self.deliveries})

    def done(self) -> bool:
        """Every post scored, every alert delivered, every post archived."""
        return (
            self.scored >= self.posts
            and len(self.deliveries) >= self.alerts
            and len(self.archived) >= self.posts
        )


class Stack:
    """The demo's pieces on one kind cluster, driven through kubectl, helm and the API."""

    def __init__(
        self,
        kubeconfig: Path,
        kube: Path,
        helm: Path | Future[Path],
        images: Images,
        say: Callable[[str], None],
    ) -> None:
        """`helm` may still be building (a Future): it is first needed to install the chart."""
        self.kubeconfig = kubeconfig
        self.kube = kube
        self._helm = helm
        self.images = images
        self.say = say
        self.api = config.new_client_from_config(str(kubeconfig))  # type: ignore[no-untyped-call]
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.objects = client.CustomObjectsApi(self.api)

    # --- tools ---------------------------------------------------------------------------

    @property
    def helm(self) -> Path:
        """The helm binary (waiting for its build if it is still running)."""
        return self._helm.result() if isinstance(self._helm, Future) else self._helm

    def kubectl(
        self, *args: str, input: str | None = None, timeout: float = 60, check: bool = True
    ) -> str:
        """Run kubectl against the cluster; return stdout (raise DemoError if it fails)."""
        argv = [str(self.kube), "kubectl", "--kubeconfig", str(self.kubeconfig), *args]
        result = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            msg = f"kubectl {' '.join(args[:3])} failed:\n{result.stderr[-3000:]}"
            raise DemoError(msg)
        return result.stdout

    def wait(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        """Poll `check` until true; fail with the cluster's state after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(client.ApiException, DemoError, subprocess.TimeoutExpired):
                if check():
                    return
            if time.monotonic() > deadline:
                msg = f"{what}: not within {timeout:.0f}s\n{self.diagnose()[-6000:]}"
                raise DemoError(msg)
            time.sleep(1)

    def diagnose(self) -> str:
        """Return what a person debugging the demo looks at first."""
        said = []
        for args in (
            ("get", "pods,jobs", "-A", "-o", "wide"),
            ("get", "events", "-A", "--sort-by=.lastTimestamp"),
            ("logs", "-n", SYSTEM, "-l", "app.kubernetes.io/component=operator", "--tail=60"),
            ("get", "brandmonitor", "-n", NAMESPACE, "-o", "yaml"),
        ):
            with contextlib.suppress(subprocess.TimeoutExpired):
                said.append(self.kubectl(*args, check=False))
        return "\n".join(said)

    def _secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        """Create or replace a Secret through the API (values never on a command line)."""
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace), string_data=data
        )
        try:
            self.core.create_namespaced_secret(namespace, body)
        except client.ApiException as error:
            if error.status != 409:  # noqa: PLR2004 - exists: replace it
                raise
            self.core.replace_namespaced_secret(name, namespace, body)

    def _read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except client.ApiException as error:
            if error.status == 404:  # noqa: PLR2004
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def _namespace(self, name: str) -> None:
        with contextlib.suppress(client.ApiException):
            self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

    def _available(self, namespace: str, name: str) -> bool:
        status = self.apps.read_namespaced_deployment(name, namespace).status
        return bool(status and status.available_replicas)

    # --- the steps -----------------------------------------------------------------------

    def s3_credentials(self) -> dict[str, str]:
        """MinIO's root credentials: read from its Secret, created at random the first time."""
        current = self._read_secret(INFRA, "minio-root")
        if current is None:
            current = {
                "AWS_ACCESS_KEY_ID": "brandmon-demo",
                "AWS_SECRET_ACCESS_KEY": secrets.token_hex(16),
            }
            self._secret(INFRA, "minio-root", current)
        return current

    def kafka_admin_password(self) -> str:
        """Return the Kafka administrator's password (its Secret's, random the first time).

        The broker makes the user when it formats its log directory, and the chart's
        operator signs in with the same password (Secret kafka-admin in brandmon-system).
        """
        current = self._read_secret(INFRA, KAFKA_ADMIN_SECRET)
        if current is None:
            # Hex: the broker's --add-scram syntax has no quoting for , or ].
            current = {"password": secrets.token_hex(24)}
            self._secret(INFRA, KAFKA_ADMIN_SECRET, current)
        return current["password"]

    def install_infra(self) -> None:
        """Kafka, MinIO and the webhook receiver in brandmon-infra, each Available."""
        for namespace in (INFRA, SYSTEM, NAMESPACE):
            self._namespace(namespace)
        self.s3_credentials()
        self.kafka_admin_password()
        scripts = self.kubectl(
            "create", "configmap", "demo-scripts", "-n", INFRA, "--dry-run=client", "-o", "yaml",
            f"--from-file={MANIFESTS / 'receiver.py'}",
            f"--from-file={MANIFESTS / 'kafka_admin.py'}",
        )  # fmt: skip
        self.kubectl("apply", "-f", "-", input=scripts)
        self.kubectl("apply", "-f", "-", input=render_infra(self.images))
        for name in ("kafka", "minio", "webhook"):
            self.wait(f"deployment {name} Available", lambda n=name: self._available(INFRA, n), 300)  # type: ignore[misc]

    @contextlib.contextmanager
    def _minio(self) -> Iterator[str]:
        """Yield MinIO's URL through a port-forward on 127.0.0.1, closed afterwards."""
        argv = [
            str(self.kube), "kubectl", "--kubeconfig", str(self.kubeconfig), "port-forward",
            "-n", INFRA, "svc/minio", ":9000", "--address", "127.0.0.1",
        ]  # fmt: skip
        with tempfile.TemporaryFile("w+") as errors:
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True)
            try:
                assert process.stdout is not None
                line = process.stdout.readline()
                found = re.search(r"127\.0\.0\.1:(\d+) ->", line)
                if found is None:
                    process.wait(10)
                    errors.seek(0)
                    msg = f"kubectl port-forward to MinIO failed: {line}{errors.read()[-2000:]}"
                    raise DemoError(msg)
                # kubectl prints a line per connection: drain them, or it blocks on a full pipe.
                threading.Thread(target=process.stdout.read, daemon=True).start()
                yield f"http://127.0.0.1:{found.group(1)}"
            finally:
                process.terminate()
                process.wait(10)
                if process.stdout is not None:
                    process.stdout.close()

    @contextlib.contextmanager
    def s3(self) -> Iterator[Any]:
        """Yield an S3 client for the cluster's MinIO with its root keys (the bucket made)."""
        with self._minio() as endpoint:
            credentials = self.s3_credentials()
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id=credentials[s3_tenants.ACCESS_KEY_ENV],
                aws_secret_access_key=credentials[s3_tenants.SECRET_KEY_ENV],
                region_name="us-east-1",
            )
            with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
                s3.create_bucket(Bucket=BUCKET)
            yield s3

    def namespace_s3_credentials(self, namespace: str) -> dict[str, str]:
        """Give `namespace` a MinIO user of its own in its Secret S3_SECRET; return its keys.

        The user may read and write under s3://<bucket>/<namespace>/ only
        (brandmon_devtools.s3_tenants); the chart's operator hands that Secret to the
        namespace's workers. A later run keeps the key the Secret holds, so running pods
        keep working.
        """
        user = s3_tenants.access_key(namespace)
        current = self._read_secret(namespace, S3_SECRET) or {}
        secret_key = (
            current[s3_tenants.SECRET_KEY_ENV]
            if current.get(s3_tenants.ACCESS_KEY_ENV) == user
            else s3_tenants.new_secret_key()
        )
        with self._minio() as endpoint:
            keys = s3_tenants.provision(
                endpoint,
                self.s3_credentials(),
                bucket=BUCKET,
                namespace=namespace,
                secret_key=secret_key,
            )
        self._secret(namespace, S3_SECRET, keys)
        return keys

    def upload_recording(self, s3: Any) -> None:
        """Put the Northwind recording and its images where the demo monitor reads them."""
        for path in sorted(DATASET.rglob("*")):
            if path.is_file() and path.suffix in (".jsonl", ".png", ".jpg"):
                key = RECORDING_PREFIX + str(path.relative_to(DATASET))
                s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())

    def install_chart(self, values: dict[str, Any]) -> None:
        """`helm upgrade --install` the chart into brandmon-system and wait for it."""
        self.namespace_s3_credentials(NAMESPACE)
        self._secret(SYSTEM, KAFKA_ADMIN_SECRET, {"password": self.kafka_admin_password()})
        path = self.kubeconfig.parent / "demo-values.yaml"
        path.write_text(yaml.safe_dump(values))
        chart = repo_root() / "charts" / "brandmon"
        argv = [
            str(self.helm), "upgrade", "--install", RELEASE, str(chart),
            "--kubeconfig", str(self.kubeconfig), "--namespace", SYSTEM,
            "--values", str(path), "--wait", "--timeout", "300s",
        ]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, timeout=360, check=False)
        if result.returncode != 0:
            msg = f"helm install failed:\n{result.stderr[-3000:]}\n{self.diagnose()[-4000:]}"
            raise DemoError(msg)

    def _monitor(self) -> dict[str, Any] | None:
        try:
            body: Any = self.objects.get_namespaced_custom_object(
                "brandmon.io", "v1alpha1", NAMESPACE, "brandmonitors", MONITOR
            )
        except client.ApiException as error:
            if error.status == 404:  # noqa: PLR2004
                return None
            raise
        return dict(body)

    def topics(self, command: str, prefix: str = f"brandmon.{NAMESPACE}.{MONITOR}.") -> str:
        """Run the topics script in the receiver's pod (`sizes` or `delete` under `prefix`)."""
        return self.kubectl(
            "exec", "-n", INFRA, "deploy/webhook", "--", "python", "-c", _TOPICS_SCRIPT,
            command, KAFKA, prefix, timeout=90,
        )  # fmt: skip

    def forget_previous_run(self, s3: Any) -> None:
        """Delete an earlier run's monitor (and so its topics) and everything it kept in S3."""
        if self._monitor() is not None:
            self.say("removing the previous demo run")
            self.objects.delete_namespaced_custom_object(
                "brandmon.io", "v1alpha1", NAMESPACE, "brandmonitors", MONITOR
            )
            self.wait("the previous monitor deleted", lambda: self._monitor() is None, 180)
        # Whatever an edited monitor's deletionPolicy was, the run starts from empty topics.
        self.topics("delete")
        # The collector's saved state (what it already sent), media and archive go too, or
        # the new run would skip the recording's posts as seen.
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=RECORDING_PREFIX
        ):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=BUCKET, Key=item["Key"])

    def apply_monitor(self, run: str) -> None:
        """Apply the demo's monitor, alerts to this run's path of the receiver; wait Ready."""
        self._secret(NAMESPACE, "pr-webhook", {"url": f"{WEBHOOK}/pr-team/{run}"})
        self.kubectl("apply", "-n", NAMESPACE, "-f", str(MONITOR_MANIFEST))

        def ready() -> bool:
            body = self._monitor() or {}
            conditions = body.get("status", {}).get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        self.wait(f"BrandMonitor {NAMESPACE}/{MONITOR} Ready", ready, 300)
        self.kubectl(
            "wait", "deployment", "-n", NAMESPACE, "-l", f"app.kubernetes.io/instance={MONITOR}",
            "--for=condition=Available", "--timeout=300s", timeout=320,
        )  # fmt: skip

    def collect_now(self) -> str:
        """Start a collection Job from the source's CronJob; return its name."""
        name = f"{MONITOR}-now-{uuid.uuid4().hex[:6]}"
        source = f"cronjob/{MONITOR}-src-recorded"
        self.kubectl("create", "job", "-n", NAMESPACE, f"--from={source}", name)
        return name

    def deliveries(self, path: str) -> list[Delivery]:
        """Return the deliveries the receiver logged for `path`."""
        return parse_deliveries(self.kubectl("logs", "-n", INFRA, "deploy/webhook"), path)

    def topic_sizes(self) -> dict[str, int]:
        """Return the messages per topic of the demo monitor, by the topic's last name part."""
        sizes = {}
        for line in self.topics("sizes").splitlines():
            topic, size = line.split()
            sizes[topic.rsplit(".", 1)[1]] = int(size)
        return sizes

    @staticmethod
    def archived(s3: Any) -> list[str]:
        """Return the post ids in the demo's archive, once per archived record."""
        found: list[str] = []
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=ARCHIVE_PREFIX).get("Contents", [])
        for item in listed:
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            found += [json.loads(line)["post_id"] for line in gzip.decompress(body).splitlines()]
        return found


def run(
    stack: Stack,
    *,
    show: Callable[[Delivery], None],
    timeout: float = 600,
    after_collection: Callable[[], None] | None = None,
) -> Result:
    """Run the demo on `stack`'s cluster: steps 1-5 of the module docstring.

    `after_collection` runs once the first collection has started (tests roll the
    operator there, while the posts flow).
    """
    started = time.monotonic()
    stack.say("Kafka, MinIO and the webhook receiver (namespace brandmon-infra)")
    stack.install_infra()
    stack.say("the operator from the brandmon image (helm, namespace brandmon-system)")
    stack.install_chart(chart_values(stack.images.brandmon))
    result = Result(posts=recording_posts())
    with stack.s3() as s3:
        stack.forget_previous_run(s3)
        stack.say(f"uploading the Northwind recording to s3://{BUCKET}/{RECORDING_PREFIX}")
        stack.upload_recording(s3)
        run_id = uuid.uuid4().hex[:8]
        stack.say(f"applying BrandMonitor {NAMESPACE}/{MONITOR}")
        stack.apply_monitor(run_id)
        stack.say("monitor Ready; starting the first collection now")
        stack.collect_now()
        if after_collection is not None:
            after_collection()
        path = result.webhook_path = f"/pr-team/{run_id}"
        shown: set[str] = set()
        while True:
            result.deliveries = stack.deliveries(path)
            for delivery in result.deliveries:
                if delivery.post_id not in shown:
                    shown.add(delivery.post_id)
                    if result.first_flagged_s is None:
                        result.first_flagged_s = time.monotonic() - started
                    show(delivery)
            sizes = stack.topic_sizes()
            result.scored = sizes.get("scored-posts", 0)
            result.alerts = sizes.get("alerts", 0)
            result.archived = stack.archived(s3)
            if result.done():
                break
            if time.monotonic() - started > timeout:
                msg = (
                    f"only {result.scored}/{result.posts} posts scored, "
                    f"{len(result.deliveries)}/{result.alerts} alerts delivered and "
                    f"{len(result.archived)} archived after {timeout:.0f}s\n"
                    f"{stack.diagnose()[-6000:]}"
                )
                raise DemoError(msg)
            time.sleep(1)
    result.seconds = time.monotonic() - started
    return result
