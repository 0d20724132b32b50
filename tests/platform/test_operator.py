"""The operator reconciles BrandMonitors into workloads on a real control plane."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from brandmon_devtools.platform import runtime
from brandmon_operator import api, builders
from brandmon_operator.settings import OperatorSettings
from tests.platform.conftest import WRITE_VERBS, OperatorProcess, audit_events, eventually

SAMPLES = Path(__file__).resolve().parents[2] / "crds" / "samples"


def sample(name: str = "acme.yaml") -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text())
    # The local Kafka is a single broker.
    body["spec"]["topics"] = body["spec"].get("topics", {}) | {"replicationFactor": 1}
    return body


def objects(kube: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube)


def create_monitor(kube: client.ApiClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    created = objects(kube).create_namespaced_custom_object(
        api.GROUP, api.VERSION, namespace, api.PLURAL, body
    )
    assert isinstance(created, dict)
    return created


def get_monitor(kube: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    body = objects(kube).get_namespaced_custom_object(
        api.GROUP, api.VERSION, namespace, api.PLURAL, name
    )
    assert isinstance(body, dict)
    return body


def patch_spec(kube: client.ApiClient, namespace: str, name: str, spec: dict[str, Any]) -> None:
    objects(kube).patch_namespaced_custom_object(
        api.GROUP, api.VERSION, namespace, api.PLURAL, name, {"spec": spec}
    )


def children(kube: client.ApiClient, namespace: str, monitor: str) -> dict[str, dict[str, Any]]:
    """Every child of a monitor by name, as plain dicts."""
    selector = builders.children_selector(monitor)
    found: dict[str, dict[str, Any]] = {}
    for kind, items in (
        (
            "ConfigMap",
            client.CoreV1Api(kube)
            .list_namespaced_config_map(namespace, label_selector=selector)
            .items,
        ),
        (
            "CronJob",
            client.BatchV1Api(kube)
            .list_namespaced_cron_job(namespace, label_selector=selector)
            .items,
        ),
        (
            "Deployment",
            client.AppsV1Api(kube)
            .list_namespaced_deployment(namespace, label_selector=selector)
            .items,
        ),
    ):
        for item in items:
            plain = kube.sanitize_for_serialization(item)  # type: ignore[no-untyped-call]
            found[plain["metadata"]["name"]] = plain | {"kind": kind}
    return found


def expected_names(namespace: str, body: dict[str, Any]) -> dict[str, str]:
    spec = api.BrandMonitorSpec.model_validate(body["spec"])
    monitor = builders.Monitor(namespace, body["metadata"]["name"], "uid", 1, spec)
    return {
        m["metadata"]["name"]: m["kind"]
        for m in builders.desired_children(monitor, OperatorSettings())
    }


def condition(body: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for item in body.get("status", {}).get("conditions", []):
        if item["type"] == type_:
            assert isinstance(item, dict)
            return item
    return None


def is_ready(kube: client.ApiClient, namespace: str, name: str) -> bool:
    body = get_monitor(kube, namespace, name)
    ready = condition(body, "Ready")
    observed = body.get("status", {}).get("observedGeneration")
    return bool(ready and ready["status"] == "True" and observed == body["metadata"]["generation"])


def kubectl(
    platform: runtime.Platform, env: dict[str, str], *args: str, timeout: float = 90
) -> str:
    result = subprocess.run(
        [str(platform.bin / "kubectl"), *args],
        env={"KUBECONFIG": env["KUBECONFIG"], "HOME": str(platform.root)},
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_sample_gets_every_child_and_kubectl_wait_succeeds(
    kube: client.ApiClient,
    namespace: str,
    platform: runtime.Platform,
    platform_env: dict[str, str],
    run_operator: Callable[..., OperatorProcess],
) -> None:
    run_operator(namespace)
    body = sample()
    created = create_monitor(kube, namespace, body)
    kubectl(platform, platform_env, "wait", "--for=condition=Ready", f"bm/{body['metadata']['name']}",
            "-n", namespace, "--timeout=60s")  # fmt: skip

    live = children(kube, namespace, "acme")
    assert {n: c["kind"] for n, c in live.items()} == expected_names(namespace, body)
    for child in live.values():
        refs = child["metadata"]["ownerReferences"]
        assert [(r["kind"], r["uid"], r["controller"]) for r in refs] == [
            ("BrandMonitor", created["metadata"]["uid"], True)
        ]
        managers = {
            m["manager"] for m in child["metadata"]["managedFields"] if m["operation"] == "Apply"
        }
        assert managers == {"brandmon-operator"}
    cronjob = live["acme-src-instagram-main"]
    assert cronjob["spec"]["schedule"] == "*/30 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert live["acme-notifier"]["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "notifier"
    ]
    # The controller-manager really runs: Deployments got their ReplicaSets.
    eventually(lambda: len(client.AppsV1Api(kube).list_namespaced_replica_set(namespace).items) == 4,
               what="ReplicaSets of the 4 Deployments")  # fmt: skip

    status = get_monitor(kube, namespace, "acme")["status"]
    assert status["sourceCount"] == 2
    assert condition({"status": status}, "WorkloadsReady") is not None
    table = kubectl(platform, platform_env, "get", "bm", "-n", namespace)
    assert table.split("\n")[1].split()[:5] == ["acme", "True", "Reconciled", "2", "ksqldb"]

    def created_events() -> bool:
        events = client.CoreV1Api(kube).list_namespaced_event(
            namespace, field_selector="involvedObject.name=acme"
        )
        return "Created" in {e.reason for e in events.items}

    eventually(created_events, timeout=60, what="Created events (kopf posts them asynchronously)")


def test_spec_edits_reach_the_children(
    kube: client.ApiClient, namespace: str, run_operator: Callable[..., OperatorProcess]
) -> None:
    run_operator(namespace)
    create_monitor(kube, namespace, sample())
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready")
    hash_before = children(kube, namespace, "acme")["acme-text-analyzer"]["spec"]["template"][
        "metadata"
    ]["annotations"]

    patch_spec(kube, namespace, "acme", {
        "analysis": {"keywords": [{"term": "lawsuit", "weight": 0.9}], "image": {"provider": "none"}},
        "scoring": {"imageWeight": 0.0},
        "processing": {"engine": "builtin"},
    })  # fmt: skip

    def edited() -> dict[str, dict[str, Any]] | None:
        live = children(kube, namespace, "acme")
        if "acme-aggregator" in live and "acme-image-analyzer" not in live:
            return live
        return None

    live = eventually(edited, what="aggregator created and image analyzer removed")
    assert '"lawsuit"' in live["acme-settings"]["data"]["BRANDMON_ANALYSIS"]
    hash_after = live["acme-text-analyzer"]["spec"]["template"]["metadata"]["annotations"]
    assert hash_after != hash_before  # settings changed: the workers roll
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready at the new generation")

    patch_spec(kube, namespace, "acme", {"suspend": True})

    def suspended() -> bool:
        live = children(kube, namespace, "acme")
        return all(c["spec"]["suspend"] for c in live.values() if c["kind"] == "CronJob") and all(
            c["spec"]["replicas"] == 0 for c in live.values() if c["kind"] == "Deployment"
        )

    eventually(suspended, what="suspended CronJobs and Deployments at zero")
    patch_spec(kube, namespace, "acme", {"suspend": False})
    eventually(lambda: not suspended(), what="resumed")


def test_drift_is_repaired_within_a_timer_period(
    kube: client.ApiClient, namespace: str, run_operator: Callable[..., OperatorProcess]
) -> None:
    run_operator(namespace, resync_seconds=3)
    create_monitor(kube, namespace, sample("replay-builtin.yaml"))
    eventually(lambda: is_ready(kube, namespace, "northwind"), what="Ready")
    batch, apps = client.BatchV1Api(kube), client.AppsV1Api(kube)
    original_uid = children(kube, namespace, "northwind")["northwind-src-recorded"]["metadata"][
        "uid"
    ]
    batch.delete_namespaced_cron_job("northwind-src-recorded", namespace)
    apps.patch_namespaced_deployment(
        "northwind-archiver", namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "archiver", "image": "evil:latest"}]}}}},
    )  # fmt: skip

    def repaired() -> bool:
        live = children(kube, namespace, "northwind")
        cronjob = live.get("northwind-src-recorded")
        image = live["northwind-archiver"]["spec"]["template"]["spec"]["containers"][0]["image"]
        return bool(
            cronjob
            and cronjob["metadata"]["uid"] != original_uid
            and image == OperatorSettings().worker_image
        )

    started = time.monotonic()
    eventually(repaired, timeout=60, what="the timer to recreate the CronJob and restore the image")
    assert time.monotonic() - started < 3 + 5  # one period plus a reconcile's worth of slack


def test_deleting_the_monitor_garbage_collects_every_child(
    kube: client.ApiClient, namespace: str, run_operator: Callable[..., OperatorProcess]
) -> None:
    run_operator(namespace)
    create_monitor(kube, namespace, sample())
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready")
    assert children(kube, namespace, "acme")
    objects(kube).delete_namespaced_custom_object(
        api.GROUP, api.VERSION, namespace, api.PLURAL, "acme"
    )
    eventually(
        lambda: not children(kube, namespace, "acme"), what="garbage collection of the children"
    )
    eventually(lambda: not client.AppsV1Api(kube).list_namespaced_replica_set(namespace).items,
               what="garbage collection of the ReplicaSets")  # fmt: skip


def test_operator_killed_mid_reconcile_converges_without_duplicates(
    kube: client.ApiClient, namespace: str, run_operator: Callable[..., OperatorProcess]
) -> None:
    names = [f"brand{n}" for n in range(8)]
    for name in names:
        body = sample()
        body["metadata"]["name"] = name
        create_monitor(kube, namespace, body)
    operator = run_operator(namespace)
    # Wait until it is partway: some children exist, not all monitors are done.
    eventually(lambda: children(kube, namespace, "brand0"), what="the first children")
    operator.kill()
    operator.start()
    for name in names:
        eventually(lambda name=name: is_ready(kube, namespace, name), what=f"{name} Ready")  # type: ignore[misc]
    for name in names:
        body = sample()
        body["metadata"]["name"] = name
        assert {n: c["kind"] for n, c in children(kube, namespace, name).items()} == expected_names(
            namespace, body
        )
    # Every child is controlled by exactly one monitor, and no name appears twice.
    everything = client.AppsV1Api(kube).list_namespaced_deployment(namespace).items
    assert len(everything) == 4 * len(names)


def test_idle_operator_makes_no_writes_for_a_minute(
    kube: client.ApiClient,
    namespace: str,
    platform: runtime.Platform,
    run_operator: Callable[..., OperatorProcess],
) -> None:
    run_operator(namespace, resync_seconds=5)
    create_monitor(kube, namespace, sample())
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready")

    def settled() -> int | None:
        """The audit log's size once a whole resync (its 3 lists) passed with no write."""
        offset = platform.audit_log.stat().st_size
        eventually(lambda: len([e for e in audit_events(platform, offset, namespace)
                                if e["verb"] == "list"]) >= 3 * 2, timeout=60, what="resyncs")  # fmt: skip
        quiet = not [
            e for e in audit_events(platform, offset, namespace) if e["verb"] in WRITE_VERBS
        ]
        return platform.audit_log.stat().st_size if quiet else None

    # The last status write after Ready (e.g. a condition settling) is not idleness yet.
    offset = eventually(settled, timeout=120, what="a resync without writes")
    time.sleep(60)
    events = audit_events(platform, offset, namespace)
    writes = [f"{e['verb']} {e['objectRef'].get('resource')}/{e['objectRef'].get('name')}" for e in events
              if e["verb"] in WRITE_VERBS]  # fmt: skip
    assert writes == []
    # The timer did run (a resync is 3 list calls; 12 periods of 5 s fit in the minute, a
    # busy machine may fit fewer): the silence is not an idle operator.
    lists = [e for e in events if e["verb"] == "list"]
    assert len(lists) >= 3 * 6, len(lists)


def test_a_child_the_api_server_refuses_stalls_with_its_message(
    kube: client.ApiClient, namespace: str, run_operator: Callable[..., OperatorProcess]
) -> None:
    run_operator(namespace)
    body = sample("replay-builtin.yaml")
    # Five fields, so the CRD's pattern accepts it; the CronJob API knows minute 61 is no minute.
    body["spec"]["sources"][0]["schedule"] = "61 * * * *"
    create_monitor(kube, namespace, body)

    def stalled() -> dict[str, Any] | None:
        found = condition(get_monitor(kube, namespace, "northwind"), "Stalled")
        return found if found and found["status"] == "True" else None

    found = eventually(stalled, what="Stalled=True")
    assert found["reason"] == "WorkloadRejected"
    assert "CronJob/northwind-src-recorded" in found["message"]
    assert "spec.schedule" in found["message"]
    ready = condition(get_monitor(kube, namespace, "northwind"), "Ready")
    assert ready is not None
    assert ready["status"] == "False"

    patch_spec(kube, namespace, "northwind", {"sources": [{"name": "recorded", "schedule": "1 * * * *",
                                                           "replay": {"s3Uri": f"s3://brandmon/{namespace}/p.jsonl"}}]})  # fmt: skip
    eventually(
        lambda: is_ready(kube, namespace, "northwind"), what="Ready after fixing the schedule"
    )
