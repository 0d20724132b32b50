"""A monitor's life end to end on kind: edited, suspended, resumed and deleted while its pods run.

Everything is real but Instagram (a replay recording in S3 stands in): the chart's operator
reconciles, the scheduler places the operator's pods on the kind node, the kubelet runs
them as containers of the brandmon image, and the results are read back from Kafka, S3 and
the webhook receiver. (What deleting a monitor does to ksqlDB is
tests/platform/test_topics_queries.py's: ksqlDB does not run in the cluster.)
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.kind.flow import BENIGN, RECALL, Flow, monitor_manifest, post_line
from tests.platform.conftest import eventually

GADGET = "My frobnicator stopped working after a week."


def posts(prefix: str, count: int) -> dict[str, str]:
    """Post id → caption: recall, frobnicator and benign posts in turn."""
    captions = (RECALL, GADGET, BENIGN)
    return {f"{prefix}-{i:02}": captions[i % 3] for i in range(count)}


def lines(captions: dict[str, str]) -> list[str]:
    return [post_line(post_id, caption) for post_id, caption in captions.items()]


def with_caption(captions: dict[str, str], caption: str) -> set[str]:
    return {post_id for post_id, text in captions.items() if text == caption}


def test_edits_take_effect_without_losing_in_flight_posts(flow: Flow) -> None:
    first = posts("a", 30)
    flow.record(*lines(first))
    flow.apply(monitor_manifest(flow.name, posts_per_second=3))
    flow.wait_ready()
    flow.wait_rolled_out()
    job = flow.start_collection()
    # Edit while posts are in flight: workers roll while the collector is still sending.
    eventually(lambda: len(set(flow.scored())) >= 5, 90, "the first posts scored")
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
    eventually(lambda: with_caption(second, GADGET) <= set(flow.delivered()), 90, "new alerts")

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


def test_suspend_stops_everything_and_resume_catches_up(flow: Flow) -> None:
    flow.apply(monitor_manifest(flow.name))
    flow.wait_ready()
    flow.wait_rolled_out()
    assert flow.containers(), "the workers should be running"

    flow.patch_spec({"suspend": True})
    flow.wait_ready()
    kube = flow.kube
    apps, batch, core = client.AppsV1Api(kube), client.BatchV1Api(kube), client.CoreV1Api(kube)
    eventually(
        lambda: not core.list_namespaced_pod(flow.namespace).items and not flow.containers(),
        90,
        "every pod and container to stop",
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
    source = eventually(finished_run, 60, "the run's report in the status")
    assert source["healthy"]
    assert source["lastResult"]["postsNew"] == len(waiting)
    assert flow.monitor()["status"]["lastCollectionTime"] == source["lastSuccessfulTime"]
    assert flow.condition("SourcesHealthy")["status"] == "True"  # type: ignore[index]
    flow.wait_archived(set(waiting))
    expected = with_caption(waiting, RECALL)
    eventually(lambda: set(flow.delivered()) == expected, 90, "alerts after resuming")
    assert sorted(flow.archived()) == sorted(waiting)


def test_delete_removes_workloads_and_topics_and_stops_every_container(flow: Flow) -> None:
    flow.record(*lines(posts("d", 6)))
    flow.apply(monitor_manifest(flow.name))
    # A second monitor that keeps its topics when deleted.
    flow.apply(monitor_manifest("eastwind", deletionPolicy="Retain"))
    flow.wait_ready()
    flow.wait_rolled_out()
    flow.collect_now()
    flow.wait_archived(set(posts("d", 6)))
    assert flow.containers()

    flow.delete_all()

    kube = flow.kube
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
        return not leftovers and not flow.containers()

    eventually(nothing_left, 120, "every workload, pod and container to go")
    mine = {
        line.split()[0]
        for line in flow.stack.topics("sizes", f"brandmon.{flow.namespace}.").splitlines()
    }
    assert not {t for t in mine if f".{flow.name}." in t}  # deletionPolicy Delete
    retained = {t.replace(f".{flow.name}.", ".eastwind.") for t in flow.topics.all().values()}
    assert retained <= mine  # deletionPolicy Retain
