"""The operator and the Kafka broker crash while posts flow: nothing lost, no duplicate alert."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import client

from brandmon_devtools.platform import runtime
from tests.platform.conftest import eventually
from tests.platform.flow import BENIGN, RECALL, Flow, monitor_manifest, post_line


def test_operator_and_broker_crashes_mid_flow_lose_nothing_and_alert_once(
    flow: Flow, platform: runtime.Platform, outage: Callable[..., None], kube: Any
) -> None:
    captions = {f"r-{i:02}": RECALL if i % 3 == 0 else BENIGN for i in range(60)}
    flow.record(*(post_line(post_id, caption) for post_id, caption in captions.items()))
    flow.apply(monitor_manifest(flow.name, flow.bucket, flow.namespace, posts_per_second=4))
    flow.wait_ready()
    flow.wait_rolled_out()
    job = flow.start_collection()

    eventually(lambda: len(set(flow.scored())) >= 8, 60, "the first posts scored")
    flow.operator.kill()  # SIGKILL: no chance to finish a reconcile
    flow.operator.start()
    eventually(lambda: len(set(flow.scored())) >= 20, 60, "more posts scored")
    outage("kafka", kill=True)  # SIGKILL the broker under load
    assert not runtime.status(platform)["kafka"]
    time.sleep(5)  # an outage the workers notice, not a blip
    runtime.start_component(platform, "kafka")

    # A collector run that failed during the outage is retried by its Job; the retry sends
    # only what the failed run had not sent.
    flow.wait_collected(job, retries_allowed=True)
    flow.wait_archived(set(captions), timeout=180)
    expected = {post_id for post_id, caption in captions.items() if caption == RECALL}
    eventually(lambda: set(flow.delivered()) >= expected, 90, "every alert delivered")
    flow.wait_ready()
    # Anything late (a duplicate from a redelivered batch) would arrive within this time.
    time.sleep(5)

    delivered = flow.delivered()
    assert sorted(delivered) == sorted(expected)  # every alert once, none for benign posts
    assert sorted(flow.archived()) == sorted(captions)  # every post archived exactly once
    assert set(flow.scored()) == set(captions)
    # The restarted operator adopted what the first one made: one of each child.
    deployments = client.AppsV1Api(kube).list_namespaced_deployment(flow.namespace).items
    names = [d.metadata.name for d in deployments if d.metadata]
    assert len(names) == len(set(names)) == 4  # text-analyzer, aggregator, notifier, archiver
