"""End-to-end flows on kind: the operator's own CronJobs and Deployments as real containers.

A `Flow` drives one BrandMonitor with a replay source through the whole system the way a
user would: a recording in S3, the monitor applied to the API server, the chart's operator
(from the brandmon image, watching every namespace) reconciling it, the kubelet running its
pods, alerts arriving at the in-cluster webhook receiver. It reads the results back from
Kafka (with the image's confluent-kafka, inside the receiver's pod), S3 (through a
port-forward) and the receiver's log, so tests can check that nothing was lost or delivered
twice. The infrastructure is the demo's (brandmon_devtools.kind.demo), shared by the
package; each flow has a namespace, webhook path and S3 prefix of its own.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import subprocess
import uuid
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from brandmon_devtools.kind import demo as stack_demo
from brandmon_workers.contract.analysis import RISK_CATEGORIES
from brandmon_workers.contract.topics import TopicNames, TopicRole
from tests.platform.conftest import eventually

GROUP, VERSION, PLURAL = "brandmon.io", "v1alpha1", "brandmonitors"
# Captions whose alerting follows from the keywords alone (sentiment and toxicity are off).
RECALL = "Is there a recall on the Northwind kettle? Mine sparks."
BENIGN = "Lovely afternoon tea with the Northwind teapot."
SOURCE = "recorded"
RECORDING = "recordings/posts.jsonl"
OPERATOR = "app.kubernetes.io/component=operator"

# Run in the receiver's pod: every message of one topic from the beginning, one post id a
# line (the topic's end offsets are read first, so the read is complete, not a guess).
_READ_SCRIPT = """
import json, sys
sys.path.insert(0, "/scripts")
from confluent_kafka import Consumer, TopicPartition
from kafka_admin import config
bootstrap, topic = sys.argv[1:3]
consumer = Consumer(config(bootstrap) | {"group.id": "flow-reader", "enable.auto.commit": False})
parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in parts}
consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in ends.items()])
wanted = sum(high - low for low, high in ends.values())
seen = 0
while seen < wanted:
    message = consumer.poll(10)
    if message is None:
        sys.exit("timed out reading " + topic)
    if message.error() is None:
        seen += 1
        if message.value():
            print(json.loads(message.value())["post_id"])
consumer.close()
"""


def recording_key(namespace: str) -> str:
    """Return the recording's key for monitors in `namespace` (a monitor reads nothing else)."""
    return f"{namespace}/{RECORDING}"


def post_line(post_id: str, caption: str, username: str = "northwind") -> str:
    """One post line of a replay recording (docs/replay-format.md)."""
    post = {
        "post_id": post_id,
        "shortcode": post_id.upper(),
        "username": username,
        "url": f"https://www.instagram.com/p/{post_id.upper()}/",
        "caption": caption,
        "posted_at": "2026-11-20T09:00:00Z",
    }
    return json.dumps({"post": post})


def monitor_manifest(name: str, posts_per_second: int = 0, **spec: Any) -> dict[str, Any]:
    """A text-only monitor on the flow's recording; `spec` overrides top-level fields.

    The recording's URI is relative to the namespace the monitor is created in (see
    `Flow.apply`). `posts_per_second` throttles the replay, so that posts are still in
    flight while a test changes or breaks something.
    """
    body: dict[str, Any] = {
        "brand": "Northwind Traders",
        "sources": [
            {"name": SOURCE, "schedule": "0 0 1 1 *",  # collections are started by the test
             "replay": {"s3Uri": "", "postsPerSecond": posts_per_second}},
        ],
        "analysis": {
            "keywords": [{"term": "recall", "weight": 0.8}],
            # Only keywords score: every expected alert follows from the captions alone.
            "sentiment": {"enabled": False},
            "toxicity": {"enabled": False},
            "riskCategories": dict.fromkeys(RISK_CATEGORIES, 0.0),
        },
        "scoring": {"alertThreshold": 0.7},
        "processing": {"engine": "builtin"},
        "alerts": {
            "cooldown": "0s",
            "webhooks": [{"name": "pr-team", "urlSecretRef": {"name": "pr-webhook", "key": "url"},
                          "format": "generic"}],
        },
        "topics": {"partitions": 2, "replicationFactor": 1, "retention": "1d"},
        "deletionPolicy": "Delete",
    } | spec  # fmt: skip
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "BrandMonitor",
        "metadata": {"name": name},
        "spec": body,
    }


@dataclass
class Flow:
    """One monitor's flow, from its recording in S3 to its alerts and archive."""

    stack: stack_demo.Stack
    s3: Any
    namespace: str
    name: str
    node: str
    docker: str
    topic_prefix: str = "brandmon"

    def __post_init__(self) -> None:
        self.lines: list[str] = []
        self.topics = TopicNames(
            prefix=self.topic_prefix, namespace=self.namespace, monitor=self.name
        )

    @property
    def kube(self) -> client.ApiClient:
        """The cluster's API client."""
        api: client.ApiClient = self.stack.api
        return api

    @property
    def objects(self) -> client.CustomObjectsApi:
        """The custom objects API."""
        return self.stack.objects

    @property
    def bucket(self) -> str:
        """The bucket the chart's operator gives monitors."""
        return stack_demo.BUCKET

    @property
    def webhook_path(self) -> str:
        """This flow's path on the receiver: its deliveries are told apart by it."""
        return f"/pr-team/{self.namespace}"

    def setup_secrets(self) -> None:
        """The Secrets the monitor refers to: the namespace's own S3 user and the webhook URL."""
        self.stack.namespace_s3_credentials(self.namespace)
        client.CoreV1Api(self.kube).create_namespaced_secret(
            self.namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="pr-webhook"),
                string_data={"url": stack_demo.WEBHOOK + self.webhook_path},
            ),
        )

    def record(self, *lines: str) -> None:
        """Append posts to the recording; the next collection sends only the new ones."""
        self.lines += lines
        self.s3.put_object(
            Bucket=self.bucket,
            Key=recording_key(self.namespace),
            Body="\n".join(self.lines).encode() + b"\n",
        )

    def _placed(self, manifest: dict[str, Any]) -> dict[str, Any]:
        for source in manifest["spec"]["sources"]:
            if "replay" in source and not source["replay"]["s3Uri"]:
                source["replay"]["s3Uri"] = f"s3://{self.bucket}/{recording_key(self.namespace)}"
        return manifest

    def apply(self, manifest: dict[str, Any]) -> None:
        """Create the monitor, or replace its spec."""
        manifest = self._placed(manifest)
        name = manifest["metadata"]["name"]
        try:
            current: Any = self.objects.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as error:
            if error.status != 404:
                raise
            self.objects.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, manifest
            )
            return
        current["spec"] = manifest["spec"]
        self.objects.replace_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, current
        )

    def patch_spec(self, spec: dict[str, Any]) -> None:
        """Merge-patch the monitor's spec."""
        self.objects.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, self.name, {"spec": spec}
        )

    def monitor(self) -> dict[str, Any]:
        """The monitor as the API server has it."""
        body: Any = self.objects.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, self.name
        )
        return dict(body)

    def monitor_names(self) -> list[str]:
        """Names of every monitor in the namespace."""
        listed: Any = self.objects.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL
        )
        return [m["metadata"]["name"] for m in listed["items"]]

    def delete_all(self, timeout: float = 90) -> None:
        """Delete every monitor of the namespace and wait until their finalizers ran."""
        for name in self.monitor_names():
            with contextlib.suppress(ApiException):
                self.objects.delete_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, name
                )
        eventually(lambda: not self.monitor_names(), timeout, "monitors to be deleted")

    def condition(self, kind: str) -> dict[str, Any] | None:
        """One status condition of the monitor."""
        for condition in self.monitor().get("status", {}).get("conditions", []):
            if condition["type"] == kind:
                return dict(condition)
        return None

    def wait_ready(self, timeout: float = 120) -> None:
        """Wait until the operator reports the current generation Ready."""

        def ready() -> bool:
            body = self.monitor()
            observed = body.get("status", {}).get("observedGeneration")
            condition = self.condition("Ready")
            return observed == body["metadata"]["generation"] and bool(
                condition and condition["status"] == "True"
            )

        eventually(ready, timeout, f"{self.name} Ready\n{self.operator_log()}")

    def wait_rolled_out(self, timeout: float = 180) -> None:
        """Wait until every Deployment runs only pods of its current template, all ready.

        WorkloadsReady does not wait for pods (the operator must work without nodes), so
        tests that need the new configuration live wait for the rollout themselves, as
        `kubectl rollout status` does.
        """
        apps = client.AppsV1Api(self.kube)
        core = client.CoreV1Api(self.kube)

        def rolled_out() -> bool:
            deployments = apps.list_namespaced_deployment(self.namespace).items
            if not deployments:
                return False
            for deployment in deployments:
                status, wanted = deployment.status, deployment.spec.replicas
                if status is None or (status.observed_generation or 0) < (
                    deployment.metadata.generation or 0  # type: ignore[union-attr]
                ):
                    return False
                counts = (status.updated_replicas, status.replicas, status.available_replicas)
                if any((count or 0) != wanted for count in counts):
                    return False
            # Old pods may still be finishing: the new configuration owns the input only
            # once they are gone.
            pods = core.list_namespaced_pod(self.namespace).items
            return not any(
                pod.metadata.deletion_timestamp  # type: ignore[union-attr]
                for pod in pods
            )

        eventually(rolled_out, timeout, f"{self.name}'s Deployments to roll out\n{self.tail()}")

    def start_collection(self, source: str = SOURCE) -> str:
        """Start a collection Job now (as `kubectl create job --from=cronjob/...`)."""
        job = f"{self.name}-now-{uuid.uuid4().hex[:6]}"
        self.stack.kubectl(
            "create", "job", "-n", self.namespace, f"--from=cronjob/{self.name}-src-{source}", job
        )
        return job

    def collect_now(self) -> None:
        """Start a collection Job and wait until it succeeded."""
        self.wait_collected(self.start_collection())

    def wait_collected(self, job: str, retries_allowed: bool = False, timeout: float = 180) -> None:
        """Wait until a collection Job succeeded (after retries, when they are allowed)."""
        batch = client.BatchV1Api(self.kube)

        def succeeded() -> bool:
            status = batch.read_namespaced_job(job, self.namespace).status
            assert status is not None
            if not retries_allowed:
                assert not status.failed, f"collection {job} failed\n{self.tail()}"
            return bool(status.succeeded)

        eventually(succeeded, timeout, f"collection {job}\n{self.tail()}")

    def read(self, role: TopicRole) -> list[str]:
        """The post ids of every message of one of the monitor's topics, in order."""
        out = self.stack.kubectl(
            "exec", "-n", stack_demo.INFRA, "deploy/webhook", "--", "python", "-c",
            _READ_SCRIPT, stack_demo.KAFKA, self.topics.of(role), timeout=90,
        )  # fmt: skip
        return out.split()

    def scored(self) -> list[str]:
        """Post ids in the scored-posts topic (a post may appear more than once)."""
        return self.read(TopicRole.SCORED_POSTS)

    def deliveries(self) -> list[stack_demo.Delivery]:
        """This flow's webhook deliveries, in order."""
        return self.stack.deliveries(self.webhook_path)

    def delivered(self) -> list[str]:
        """Post ids of this flow's webhook deliveries, in order."""
        return [d.post_id for d in self.deliveries()]

    def archived(self) -> list[str]:
        """Post ids in the monitor's S3 archive (a post archived twice appears twice)."""
        ids: list[str] = []
        prefix = f"{self.namespace}/{self.name}/archive/"
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                body = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                ids += [json.loads(line)["post_id"] for line in gzip.decompress(body).splitlines()]
        return ids

    def wait_archived(self, post_ids: set[str], timeout: float = 180) -> None:
        """Wait until every one of the posts is in the archive."""
        eventually(
            lambda: post_ids <= set(self.archived()),
            timeout,
            f"{len(post_ids)} posts archived\n{self.tail()}",
        )

    def containers(self) -> list[str]:
        """The ids of the node's running containers of this namespace's pods (sandboxes too).

        Read from the node's containerd (its `ctr`), not from the API: a deleted pod's
        processes really stopped only when its tasks are gone.
        """

        def ctr(*args: str) -> str:
            done = subprocess.run(
                [self.docker, "exec", self.node, "ctr", "-n", "k8s.io", *args],
                capture_output=True, text=True, timeout=60, check=True,
            )  # fmt: skip
            return done.stdout

        mine = ctr(
            "containers", "ls", "-q", f'labels."io.kubernetes.pod.namespace"=={self.namespace}'
        ).split()
        running = {
            words[0]
            for words in (line.split() for line in ctr("tasks", "ls").splitlines()[1:])
            if len(words) >= 3 and words[2] == "RUNNING"  # columns: TASK PID STATUS
        }
        return [container for container in mine if container in running]

    def kill_in_node(self, pattern: str) -> None:
        """SIGKILL the node's processes matching `pattern`: a crash, not a stop."""
        subprocess.run(
            [self.docker, "exec", self.node, "pkill", "-KILL", "-f", pattern],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip

    def operator_log(self) -> str:
        """The operator log's last lines, for failure messages."""
        return self.stack.kubectl(
            "logs", "-n", stack_demo.SYSTEM, "-l", OPERATOR, "--tail=40", check=False
        )

    def tail(self) -> str:
        """The namespace's pods and events and the operator's last lines, for failures."""
        said = self.stack.kubectl(
            "get", "pods,jobs,events", "-n", self.namespace, "-o", "wide", check=False
        )
        return said + "\n" + self.operator_log()
