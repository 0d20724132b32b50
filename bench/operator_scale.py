"""Operator at scale: N BrandMonitors applied at once, then a minute of idling.

Runs one operator process (`bench.operator_probe`, i.e. `brandmon-operator` with its Kafka
admin counters exported) for one namespace, with the production resync period (60 s) and
no node agent, so no pod runs. Applies N monitors (builtin engine, so no ksqlDB; topics
with 1 partition, replication 1: 8 topics each) concurrently, and measures
- the time until every monitor is Ready=True for its generation (goal: under 120 s),
- the operator's API requests (the API server's audit log: user agents `kopf/` and
  `brandmon-operator/`, objects in the namespace) and Kafka admin calls,
- the operator's peak memory (VmHWM; goal: under 300 MB),
then, idle for `--idle` seconds (a resync of every monitor falls in it), its writes
(create/update/patch/delete; goal: zero), reads, admin calls and CPU seconds.
Afterwards the monitors, the namespace and the topics are deleted.

    .venv/bin/python -m bench.operator_scale [--monitors 500] [--idle 60]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient
from kubernetes import client, config

from bench import common
from brandmon_operator import api, crd

AGENTS = ("kopf/", "brandmon-operator/")
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
_REPO = Path(__file__).resolve().parent.parent
_APPLY_THREADS = 16
_DELETE_CHUNK = 500


def monitor(name: str) -> dict[str, Any]:
    """Return a small builtin-engine monitor (8 topics of 1 partition)."""
    return {
        "apiVersion": f"{api.GROUP}/{api.VERSION}",
        "kind": "BrandMonitor",
        "metadata": {"name": name},
        "spec": {
            "brand": f"Brand {name}",
            "sources": [
                {"name": "recorded", "schedule": "*/5 * * * *",
                 "replay": {"s3Uri": f"s3://bench/{name}/posts.jsonl"}},
            ],
            "analysis": {"keywords": [{"term": "data breach", "weight": 1.0}]},
            "processing": {"engine": "builtin"},
            "topics": {"partitions": 1, "replicationFactor": 1},
        },
    }  # fmt: skip


def install_crd(kube: client.ApiClient) -> None:
    """Server-side apply the generated CRD and wait until it is established."""
    body = crd.build_crd()
    extensions = client.ApiextensionsV1Api(kube)
    extensions.patch_custom_resource_definition(
        body["metadata"]["name"], body, field_manager="brandmon-bench", force=True,
        _content_type="application/apply-patch+yaml",
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = extensions.read_custom_resource_definition(body["metadata"]["name"]).status
        conditions = (status.conditions if status else None) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise RuntimeError("CRD not established")


def ready(item: dict[str, Any]) -> bool:
    """Return whether a monitor is Ready=True for its current generation."""
    status = item.get("status") or {}
    if status.get("observedGeneration") != item["metadata"].get("generation"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def audit(log: Path, offset: int, namespace: str) -> Counter[str]:
    """Count the operator's requests about the namespace after `offset`, by verb."""
    verbs: Counter[str] = Counter()
    with log.open() as lines:
        lines.seek(offset)
        for line in lines:
            event = json.loads(line)
            if not str(event.get("userAgent", "")).startswith(AGENTS):
                continue
            if event.get("objectRef", {}).get("namespace") == namespace:
                verbs[event.get("verb", "?")] += 1
    return verbs


def writes(verbs: Counter[str]) -> int:
    """Return how many of the counted requests changed something."""
    return sum(n for verb, n in verbs.items() if verb in WRITES)


def proc_status(pid: int, field: str) -> int:
    """Return a /proc/<pid>/status field in bytes (VmHWM, VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds a process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def admin_calls(counters: Path) -> Counter[str]:
    """Return the operator's Kafka admin calls so far."""
    try:
        return Counter(json.loads(counters.read_text()))
    except (FileNotFoundError, ValueError):
        return Counter()


def free_port() -> int:
    """Return a free local port (for kopf's liveness endpoint)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_operator(
    namespace: str, env: dict[str, str], prefix: str, counters: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Start the operator for one namespace with production settings but its own topic prefix."""
    operator_env = dict(os.environ) | env | {
        # As the image runs it (Dockerfile); without it the peak RSS is about 10 % higher.
        "MALLOC_ARENA_MAX": "2",
        "BRANDMON_OPERATOR_KAFKA_BOOTSTRAP_SERVERS": env["KAFKA_BOOTSTRAP_SERVERS"],
        "BRANDMON_OPERATOR_S3_ENDPOINT_URL": env["S3_ENDPOINT_URL"],
        "BRANDMON_OPERATOR_TOPIC_PREFIX": prefix,
        # Hundreds of monitors in one namespace: the default cap would refuse all but 20.
        "BRANDMON_OPERATOR_CAPS": '{"maxMonitorsPerNamespace": null}',
        # Its workers would take MinIO's keys from the environment (no Secret per namespace).
        "BRANDMON_OPERATOR_S3_AMBIENT_IDENTITY": "true",
    }  # fmt: skip
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "bench.operator_probe", "--counters", str(counters), "--",
             "--namespace", namespace, "--liveness", f"http://127.0.0.1:{free_port()}/healthz"],
            env=operator_env, stdout=sink, stderr=subprocess.STDOUT, cwd=_REPO,
        )  # fmt: skip


def delete_topics(bootstrap: str, prefix: str) -> int:
    """Delete every topic under the prefix, in chunks; return how many."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = sorted(t for t in admin.list_topics(timeout=30).topics if t.startswith(prefix + "."))
    for i in range(0, len(names), _DELETE_CHUNK):
        common.delete_topics(bootstrap, names[i : i + _DELETE_CHUNK])
    return len(names)


def list_monitors(objects: client.CustomObjectsApi, namespace: str) -> list[dict[str, Any]]:
    """Return every BrandMonitor of the namespace."""
    listed: Any = objects.list_namespaced_custom_object(
        api.GROUP, api.VERSION, namespace, api.PLURAL
    )
    items: list[dict[str, Any]] = listed["items"]
    return items


def cleanup(
    objects: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, timeout: float
) -> None:
    """Delete the monitors (the operator runs their finalizers), then the namespace."""
    group, version, plural = api.GROUP, api.VERSION, api.PLURAL
    objects.delete_collection_namespaced_custom_object(group, version, namespace, plural)
    deadline = time.monotonic() + timeout
    left: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        left = list_monitors(objects, namespace)
        if not left:
            break
        time.sleep(1)
    for item in left:  # the operator did not get to them: let them go without it
        objects.patch_namespaced_custom_object(
            group, version, namespace, plural, item["metadata"]["name"],
            [{"op": "remove", "path": "/metadata/finalizers"}],
        )  # fmt: skip
    core.delete_namespace(namespace)


def main() -> None:  # noqa: PLR0915 - one measured sequence, read top to bottom
    """Measure, print and record."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--monitors", type=int, default=500)
    parser.add_argument("--idle", type=float, default=60.0, help="idle seconds measured")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up on Ready after")
    args = parser.parse_args()
    group, version, plural = api.GROUP, api.VERSION, api.PLURAL
    results: dict[str, Any] = {}
    with common.platform() as handle:
        env = common.client_env(handle)
        configuration = client.Configuration()
        config.load_kube_config(str(handle.kubeconfig), client_configuration=configuration)  # type: ignore[no-untyped-call]
        configuration.connection_pool_maxsize = _APPLY_THREADS
        kube = client.ApiClient(configuration)
        objects = client.CustomObjectsApi(kube)
        core = client.CoreV1Api(kube)
        install_crd(kube)
        suffix = uuid.uuid4().hex[:8]
        namespace, prefix = f"bench-scale-{suffix}", f"bench-scale-{suffix}"
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        counters = handle.logs / f"{namespace}-admin-calls.json"
        log = handle.logs / f"{namespace}-operator.log"
        operator = start_operator(namespace, env, prefix, counters, log)
        try:
            time.sleep(3)  # let the operator start watching: its start-up is not measured
            if operator.poll() is not None:
                raise SystemExit(f"operator exited; see {log}")
            audit_start = handle.audit_log.stat().st_size
            calls_start = admin_calls(counters)
            cpu_start = cpu_seconds(operator.pid)
            common.say(f"applying {args.monitors} monitors in {namespace} (operator log: {log})")
            started = time.monotonic()
            with ThreadPoolExecutor(_APPLY_THREADS) as pool:
                list(pool.map(
                    lambda i: objects.create_namespaced_custom_object(
                        group, version, namespace, plural, monitor(f"m{i:04d}")
                    ),
                    range(args.monitors),
                ))  # fmt: skip
            applied_s = time.monotonic() - started
            common.say(f"applied in {applied_s:.1f}s; waiting for Ready")
            milestones: dict[str, float] = {}
            count = 0
            while time.monotonic() - started < args.timeout:
                count = sum(ready(item) for item in list_monitors(objects, namespace))
                elapsed = time.monotonic() - started
                for share in (0.5, 0.9, 1.0):
                    if count >= share * args.monitors:
                        milestones.setdefault(f"{int(share * 100)}%", round(elapsed, 1))
                if count >= args.monitors:
                    break
                if operator.poll() is not None:
                    raise SystemExit(f"operator exited; see {log}")
                common.say(f"{count} of {args.monitors} Ready after {elapsed:.0f}s")
                time.sleep(2)
            all_ready_s = milestones.get("100%")
            apply_verbs = audit(handle.audit_log, audit_start, namespace)
            apply_calls = admin_calls(counters) - calls_start
            peak = proc_status(operator.pid, "VmHWM")
            common.say(f"{count} Ready; all after {all_ready_s}s; idling {args.idle:.0f}s")
            results["apply"] = {
                "monitors_ready": count,
                "all_ready_s": all_ready_s,
                "ready_milestones_s": milestones,
                "create_requests_s": round(applied_s, 1),
                "api_requests": sum(apply_verbs.values()),
                "api_requests_by_verb": dict(apply_verbs),
                "kafka_admin_calls": sum(apply_calls.values()),
                "kafka_admin_calls_by_kind": dict(apply_calls),
                "operator_peak_rss_mb": round(peak / 2**20, 1),
                "operator_cpu_seconds": round(cpu_seconds(operator.pid) - cpu_start, 1),
            }
            audit_start = handle.audit_log.stat().st_size
            calls_start = admin_calls(counters)
            cpu_start = cpu_seconds(operator.pid)
            time.sleep(args.idle)
            idle_verbs = audit(handle.audit_log, audit_start, namespace)
            idle_calls = admin_calls(counters) - calls_start
            results["idle"] = {
                "seconds": args.idle,
                "writes": writes(idle_verbs),
                "api_requests_by_verb": dict(idle_verbs),
                "kafka_admin_calls": sum(idle_calls.values()),
                "kafka_admin_calls_by_kind": dict(idle_calls),
                "cpu_seconds": round(cpu_seconds(operator.pid) - cpu_start, 2),
                "operator_rss_mb": round(proc_status(operator.pid, "VmRSS") / 2**20, 1),
                "operator_peak_rss_mb": round(proc_status(operator.pid, "VmHWM") / 2**20, 1),
            }
            common.say(f"idle: {results['idle']}")
        finally:
            common.say("cleaning up: monitors, namespace, topics")
            try:
                cleanup(objects, core, namespace, timeout=300)
            finally:
                operator.send_signal(signal.SIGTERM)
                try:
                    operator.wait(30)
                except subprocess.TimeoutExpired:
                    operator.kill()
                deleted = delete_topics(env["KAFKA_BOOTSTRAP_SERVERS"], prefix)
                common.say(f"deleted {deleted} topics")
    results["goals"] = {"all_ready_s": 120, "operator_peak_rss_mb": 300, "idle_writes": 0}
    parameters = {"monitors": args.monitors, "idle_s": args.idle, "resync_s": 60}
    parameters |= {"topics_per_monitor": 8, "partitions": 1, "engine": "builtin"}
    common.finish("operator-scale", parameters, results)


if __name__ == "__main__":
    main()
