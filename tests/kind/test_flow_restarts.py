"""The operator and the Kafka broker crash while posts flow on kind: nothing lost, no duplicate alert.

Crashes are SIGKILLs of the containers' processes from the node (the kubelet restarts the
containers, as it would after a crash in production): the operator's pod restarts and
adopts what it made; the broker restarts in the same pod, with the same data directory.
"""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from tests.kind.flow import BENIGN, RECALL, Flow, monitor_manifest, post_line
from tests.platform.conftest import eventually

pytestmark = pytest.mark.fault


def _restarts(flow: Flow, namespace: str, selector: str) -> int:
    pods = client.CoreV1Api(flow.kube).list_namespaced_pod(namespace, label_selector=selector)
    return sum(
        s.restart_count
        for pod in pods.items
        for s in ((pod.status.container_statuses if pod.status else None) or [])
    )


def test_operator_and_broker_crashes_mid_flow_lose_nothing_and_alert_once(flow: Flow) -> None:
    captions = {f"r-{i:02}": RECALL if i % 3 == 0 else BENIGN for i in range(60)}
    flow.record(*(post_line(post_id, caption) for post_id, caption in captions.items()))
    flow.apply(monitor_manifest(flow.name, posts_per_second=4))
    flow.wait_ready()
    flow.wait_rolled_out()
    job = flow.start_collection()

    eventually(lambda: len(set(flow.scored())) >= 8, 90, "the first posts scored")
    operator = "app.kubernetes.io/component=operator"
    before = _restarts(flow, "brandmon-system", operator)
    flow.kill_in_node("brandmon-operator")  # SIGKILL: no chance to finish a reconcile
    eventually(
        lambda: _restarts(flow, "brandmon-system", operator) > before, 60, "the operator restarted"
    )
    eventually(lambda: len(set(flow.scored())) >= 20, 90, "more posts scored")
    kafka = "app.kubernetes.io/name=kafka"
    before = _restarts(flow, "brandmon-infra", kafka)
    flow.kill_in_node("kafka.Kafka")  # SIGKILL the broker under load
    eventually(lambda: _restarts(flow, "brandmon-infra", kafka) > before, 60, "Kafka restarted")

    # A collector run that failed during the outage is retried by its Job; the retry sends
    # only what the failed run had not sent.
    flow.wait_collected(job, retries_allowed=True, timeout=240)
    flow.wait_archived(set(captions), timeout=240)
    expected = {post_id for post_id, caption in captions.items() if caption == RECALL}
    eventually(lambda: set(flow.delivered()) >= expected, 120, "every alert delivered")
    flow.wait_ready()
    # Anything late (a duplicate from a redelivered batch) would arrive within this time.
    time.sleep(5)

    delivered = flow.delivered()
    assert sorted(delivered) == sorted(expected)  # every alert once, none for benign posts
    assert sorted(flow.archived()) == sorted(captions)  # every post archived exactly once
    assert set(flow.scored()) == set(captions)
    # The restarted operator adopted what the first one made: one of each child.
    deployments = client.AppsV1Api(flow.kube).list_namespaced_deployment(flow.namespace).items
    names = [d.metadata.name for d in deployments if d.metadata]
    assert len(names) == len(set(names)) == 4  # text-analyzer, aggregator, notifier, archiver
