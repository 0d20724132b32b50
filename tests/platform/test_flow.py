"""A monitor's life end to end: edited, suspended, resumed and deleted while its pods run.

Everything is real but Instagram (a replay recording in S3 stands in) and ksqlDB (its
contract double): the operator reconciles, the scheduler places the operator's pods on
the local node, the node agent runs them as processes, and the results are read back from
Kafka, S3 and the webhook receiver.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient
from kubernetes import client

from tests.ksqldb_double import KsqlDbDouble
from tests.platform.conftest import eventually
from tests.platform.flow import BENIGN, RECALL, Flow, monitor_manifest, post_line
from tests.platform.test_topics_queries import ksql_post

GADGET = "My frobnicator stopped working after a week."


def posts(prefix: str, count: int) -> dict[str, str]:
    """Post id → caption: recall, frobnicator and benign posts in turn."""
    captions = (RECALL, GADGET, BENIGN)
    return {f"{prefix}-{i:02}": captions[i % 3] for i in range(count)}


def lines(captions: dict[str, str]) -> list[str]:
    return [post_line(post_id, caption) for post_id, caption in captions.items()]


def with_caption(captions: dict[str, str], caption: str) -> set[str]:
    return {post_id for post_id, text in captions.items() if text == caption}


def processes_in(namespace: str, node_dir: Path) -> list[int]:
    """Pids of live processes started for the namespace's pods (their cwd is the pod dir)."""
    found = []
    pods = node_dir / "pods"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd.is_relative_to(pods) and cwd.relative_to(pods).parts[0].startswith(f"{namespace}_"):
            found.append(int(entry.name))
    return found


def test_edits_take_effect_without_losing_in_flight_posts(flow: Flow) -> None:
    first = posts("a", 30)
    flow.record(*lines(first))
    flow.apply(monitor_manifest(flow.name, flow.bucket, flow.namespace, posts_per_second=3))
    flow.wait_ready()
    flow.wait_rolled_out()
    job = flow.start_collection()
    # Edit while posts are in flight: workers roll while the collector is still sending.
    eventually(lambda: len(set(flow.scored())) >= 5, 60, "the first posts scored")
    edited = flow.monitor()["spec"]
    edited["analysis"]["keywords"].append({"term": "frobnicator", "weight": 0.9})
    edited["scoring"]["alertThreshold"] = 0.85  # recall (0.8) alone no longer alerts
    flow.patch_spec({"analysis": edited["analysis"], "scoring": edited["scoring"]})
    assert len(set(flow.scored())) < len(first), "the edit came too late to be mid-flow"
    flow.wait_ready()
    flow.wait_collected(job)
    flow.wait_rolled_out()

    second = posts("b", 9)
    flow.record(*lines(second))
    flow.collect_now()
    everything = first | second
    flow.wait_archived(set(everything))
    eventually(lambda: with_caption(second, GADGET) <= set(flow.delivered()), 60, "the new alerts")

    assert sorted(flow.archived()) == sorted(everything)  # every post, each exactly once
    assert set(flow.scored()) == set(everything)
    delivered = flow.delivered()
    assert len(delivered) == len(set(delivered))  # no duplicate alert
    # New behaviour after the edit: the new keyword alerts, the raised threshold holds.
    assert set(delivered) & set(second) == with_caption(second, GADGET)
    # Posts in flight during the edit were scored under one setting or the other, so only
    # the benign ones are certain not to alert; the recall posts before it did alert.
    assert not set(delivered) & with_caption(first, BENIGN)
    assert set(delivered) & with_caption(first, RECALL)


def test_suspend_stops_everything_and_resume_catches_up(flow: Flow, kube: Any) -> None:
    flow.apply(monitor_manifest(flow.name, flow.bucket, flow.namespace))
    flow.wait_ready()
    flow.wait_rolled_out()
    node_dir = flow.node.log.parent / "node"
    assert processes_in(flow.namespace, node_dir), "the workers should be running"

    flow.patch_spec({"suspend": True})
    flow.wait_ready()
    apps, batch, core = client.AppsV1Api(kube), client.BatchV1Api(kube), client.CoreV1Api(kube)
    eventually(
        lambda: (
            not core.list_namespaced_pod(flow.namespace).items
            and not processes_in(flow.namespace, node_dir)
        ),
        60,
        "every pod and process to stop",
    )
    assert all(d.spec.replicas == 0 for d in apps.list_namespaced_deployment(flow.namespace).items)
    cronjobs = batch.list_namespaced_cron_job(flow.namespace).items
    assert cronjobs
    assert all(c.spec.suspend for c in cronjobs)

    # Posts recorded while suspended are picked up after resuming.
    waiting = posts("s", 6)
    flow.record(*lines(waiting))
    flow.patch_spec({"suspend": False})
    flow.wait_ready()
    assert not any(c.spec.suspend for c in batch.list_namespaced_cron_job(flow.namespace).items)
    flow.wait_rolled_out()
    flow.collect_now()

    # The run's report reaches the monitor's status (the Last Collection column).
    def finished_run() -> dict[str, Any] | None:
        listed = flow.monitor()["status"].get("sources") or [{}]
        return listed[0] if "lastResult" in listed[0] else None

    # The operator reads finished runs at its next reconcile or resync.
    source = eventually(finished_run, 30, "the run's report in the status")
    assert source["healthy"]
    assert source["lastResult"]["postsNew"] == len(waiting)
    assert flow.monitor()["status"]["lastCollectionTime"] == source["lastSuccessfulTime"]
    assert flow.condition("SourcesHealthy")["status"] == "True"  # type: ignore[index]
    flow.wait_archived(set(waiting))
    expected = with_caption(waiting, RECALL)
    eventually(lambda: set(flow.delivered()) == expected, 60, "alerts after resuming")
    assert sorted(flow.archived()) == sorted(waiting)


def test_delete_removes_workloads_topics_and_queries_and_stops_every_process(
    flow: Flow, kube: Any, ksqldb: KsqlDbDouble, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    flow.record(*lines(posts("d", 6)))
    flow.apply(monitor_manifest(flow.name, flow.bucket, flow.namespace))
    # A second monitor on ksqlDB (queries) that keeps its topics when deleted.
    kept = monitor_manifest("eastwind", flow.bucket, flow.namespace, deletionPolicy="Retain",
                            processing={"engine": "ksqldb"})  # fmt: skip
    client.CustomObjectsApi(kube).create_namespaced_custom_object(
        "brandmon.io", "v1alpha1", flow.namespace, "brandmonitors", kept
    )
    flow.wait_ready()
    flow.wait_rolled_out()
    flow.collect_now()
    flow.wait_archived(set(posts("d", 6)))
    assert ksql_post(ksqldb, "SHOW QUERIES;")[0]["queries"]
    node_dir = flow.node.log.parent / "node"
    assert processes_in(flow.namespace, node_dir)

    flow.delete_all()

    apps, batch, core = client.AppsV1Api(kube), client.BatchV1Api(kube), client.CoreV1Api(kube)

    def nothing_left() -> bool:
        leftovers = [
            *apps.list_namespaced_deployment(flow.namespace).items,
            *apps.list_namespaced_replica_set(flow.namespace).items,
            *batch.list_namespaced_cron_job(flow.namespace).items,
            *batch.list_namespaced_job(flow.namespace).items,
            *core.list_namespaced_pod(flow.namespace).items,
            *[c for c in core.list_namespaced_config_map(flow.namespace).items
              if c.metadata and c.metadata.name != "kube-root-ca.crt"],
        ]  # fmt: skip
        return not leftovers and not processes_in(flow.namespace, node_dir)

    eventually(nothing_left, 90, "every workload, pod and process to go")
    topics = set(kafka_admin.list_topics(timeout=10).topics)
    mine = {t for t in topics if t.startswith(topic_prefix)}
    assert not {t for t in mine if f".{flow.name}." in t}  # deletionPolicy Delete
    retained = {t.replace(f".{flow.name}.", ".eastwind.") for t in flow.topics.all().values()}
    assert retained <= mine  # deletionPolicy Retain
    for kind in ("STREAMS", "TABLES", "QUERIES"):
        assert ksql_post(ksqldb, f"SHOW {kind};")[0][kind.lower()] == []
