"""End-to-end flows: the operator's own CronJobs and Deployments running on a local node.

A `Flow` drives one BrandMonitor with a replay source through the whole system the way a
user would: a recording in S3, the monitor applied to the API server, the operator
reconciling it, the node agent running its pods as local processes, alerts arriving at a
local webhook receiver. It reads the results back from Kafka and S3 so tests can check
that nothing was lost or delivered twice.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, TopicPartition
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from brandmon_devtools.platform import runtime
from brandmon_workers.contract.analysis import RISK_CATEGORIES
from brandmon_workers.contract.topics import TopicNames, TopicRole
from tests.platform.conftest import OperatorProcess, eventually

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

GROUP, VERSION, PLURAL = "brandmon.io", "v1alpha1", "brandmonitors"
# Captions whose alerting follows from the keywords alone (sentiment and toxicity are off).
RECALL = "Is there a recall on the Northwind kettle? Mine sparks."
BENIGN = "Lovely afternoon tea with the Northwind teapot."
SOURCE = "recorded"
NODE = "brandmon-local"
RECORDING = "recordings/posts.jsonl"
"""The flow's recording, under its namespace's prefix (a monitor reads nothing else)."""


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


def recording_key(namespace: str) -> str:
    """Return the recording's key for monitors in `namespace`."""
    return f"{namespace}/{RECORDING}"


@dataclass
class LocalNode:
    """A node agent without taints: the operator's pods land on it and run."""

    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        """The agent log's last lines, for failure messages."""
        return "".join(self.log.read_text(errors="replace").splitlines(keepends=True)[-40:])


@contextlib.contextmanager
def local_node(
    platform: runtime.Platform, kube: client.ApiClient, root: Path
) -> Iterator[LocalNode]:
    """Run the node agent for one test; its Node is deleted afterwards.

    The Node takes the demo's name, so a demo run afterwards re-registers it. Deleting it
    at the end keeps later tests' pods from being scheduled onto a node nobody runs.
    """
    log = root / "node-agent.log"
    core = client.CoreV1Api(kube)
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "brandmon_devtools.node", "--kubeconfig",
             str(platform.kubeconfig), "--name", NODE, "--state-dir", str(root / "node")],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    node = LocalNode(process, log)
    try:

        def ready() -> bool:
            assert process.poll() is None, node.tail()
            with contextlib.suppress(ApiException):
                status = core.read_node(NODE).status
                conditions = (status.conditions if status else None) or []
                return any(c.type == "Ready" and c.status == "True" for c in conditions)
            return False

        eventually(ready, timeout=60, what="the local node to be Ready")
        yield node
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(ApiException):
            core.delete_node(NODE)


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


def monitor_manifest(
    name: str, bucket: str, namespace: str, posts_per_second: int = 0, **spec: Any
) -> dict[str, Any]:
    """A text-only monitor on the flow's recording; `spec` overrides top-level fields.

    `posts_per_second` throttles the replay, so that posts are still in flight while a
    test changes or breaks something.
    """
    body: dict[str, Any] = {
        "brand": "Northwind Traders",
        "sources": [
            {"name": SOURCE, "schedule": "0 0 1 1 *",  # collections are started by the test
             "replay": {"s3Uri": f"s3://{bucket}/{recording_key(namespace)}",
                        "postsPerSecond": posts_per_second}},
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

    kube: client.ApiClient
    s3: S3Client
    namespace: str
    name: str
    bucket: str
    bootstrap: str
    topics: TopicNames
    deliveries: list[dict[str, Any]]
    operator: OperatorProcess
    node: LocalNode
    lines: list[str] = field(default_factory=list)

    @property
    def objects(self) -> client.CustomObjectsApi:
        """The custom objects API."""
        return client.CustomObjectsApi(self.kube)

    def record(self, *lines: str) -> None:
        """Append posts to the recording; the next collection sends only the new ones."""
        self.lines += lines
        self.s3.put_object(
            Bucket=self.bucket,
            Key=recording_key(self.namespace),
            Body="\n".join(self.lines).encode() + b"\n",
        )

    def apply(self, manifest: dict[str, Any]) -> None:
        """Create the monitor, or replace its spec."""
        try:
            current: Any = self.objects.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, self.name
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
            GROUP, VERSION, self.namespace, PLURAL, self.name, current
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

    def delete_all(self, timeout: float = 60) -> None:
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

    def wait_ready(self, timeout: float = 90) -> None:
        """Wait until the operator reports the current generation Ready."""

        def ready() -> bool:
            body = self.monitor()
            observed = body.get("status", {}).get("observedGeneration")
            condition = self.condition("Ready")
            return observed == body["metadata"]["generation"] and bool(
                condition and condition["status"] == "True"
            )

        eventually(ready, timeout, f"{self.name} Ready\n{self.operator_log()}")

    def wait_rolled_out(self, timeout: float = 120) -> None:
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

        eventually(
            rolled_out, timeout, f"{self.name}'s Deployments to roll out\n{self.node.tail()}"
        )

    def start_collection(self) -> str:
        """Start a collection Job now (as `kubectl create job --from=cronjob/...`)."""
        return run_collection_now(self.kube, self.namespace, f"{self.name}-src-{SOURCE}")

    def collect_now(self) -> None:
        """Start a collection Job and wait until it succeeded."""
        self.wait_collected(self.start_collection())

    def wait_collected(self, job: str, retries_allowed: bool = False) -> None:
        """Wait until a collection Job succeeded (after retries, when they are allowed)."""
        batch = client.BatchV1Api(self.kube)

        def succeeded() -> bool:
            status = batch.read_namespaced_job(job, self.namespace).status
            assert status is not None
            if not retries_allowed:
                assert not status.failed, f"collection {job} failed\n{self.node.tail()}"
            return bool(status.succeeded)

        eventually(succeeded, 120, f"collection {job}\n{self.node.tail()}")

    def read(self, role: TopicRole) -> list[dict[str, Any]]:
        """Every message of one of the monitor's topics, from the beginning."""
        topic = self.topics.of(role)
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "flow-reader",
                             "enable.auto.commit": False})  # fmt: skip
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                for p in partitions
            }
            consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in ends.items()])
            wanted = sum(high - low for low, high in ends.values())
            values: list[dict[str, Any]] = []
            deadline = time.monotonic() + 30
            while len(values) < wanted and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is not None and message.error() is None and message.value():
                    values.append(json.loads(message.value() or b"{}"))
            return values
        finally:
            consumer.close()

    def scored(self) -> list[str]:
        """Post ids in the scored-posts topic (a post may appear more than once)."""
        return [v["post_id"] for v in self.read(TopicRole.SCORED_POSTS)]

    def delivered(self) -> list[str]:
        """Post ids of the webhook deliveries, in order."""
        return [d["alert"]["post_id"] for d in self.deliveries]

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

    def wait_archived(self, post_ids: set[str], timeout: float = 120) -> None:
        """Wait until every one of the posts is in the archive."""
        eventually(
            lambda: post_ids <= set(self.archived()),
            timeout,
            f"{len(post_ids)} posts archived\n{self.node.tail()}",
        )

    def operator_log(self) -> str:
        """The operator log's last lines, for failure messages."""
        text = self.operator.log.read_text(errors="replace")
        return "".join(text.splitlines(keepends=True)[-40:])
