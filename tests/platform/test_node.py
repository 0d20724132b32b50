"""The node agent runs Pods as local processes against the real control plane.

One agent (a subprocess, as developers run it) serves the whole module under a unique
Node name. Its Node is tainted, so the scheduler sends it only this module's Deployments
and Jobs (which tolerate the taint and select the Node); bare Pods name it directly.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from brandmon_devtools.platform import runtime
from tests.conftest import unique

APPLY = "application/apply-patch+yaml"
TAINT = "brandmon.io/node-test"
Manifest = dict[str, Any]


@dataclass
class NodeAgent:
    """A running node agent and where it keeps things."""

    name: str
    state_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    def pod_dir(self, pod: Manifest) -> Path:
        meta = pod["metadata"]
        return self.state_dir / "pods" / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"

    def tail(self) -> str:
        return "".join(self.log.read_text(errors="replace").splitlines(keepends=True)[-30:])

    def placement(self) -> Manifest:
        """Pod spec fields that put a controller's Pods on this node (and only there)."""
        return {
            "nodeSelector": {"kubernetes.io/hostname": self.name},
            "tolerations": [{"key": TAINT, "operator": "Equal", "value": self.name,
                             "effect": "NoSchedule"}],
        }  # fmt: skip


def wait_for(agent: NodeAgent, check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Poll until check() returns something truthy; on timeout show the agent's log."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout}s waiting for {what}\n--- agent ---\n{agent.tail()}"
            )
        time.sleep(0.2)


def _node_ready(core: client.CoreV1Api, name: str) -> bool:
    try:
        node = core.read_node(name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    conditions = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def start_agent(
    platform: runtime.Platform, kube: client.ApiClient, name: str, root: Path
) -> NodeAgent:
    """Start `python -m brandmon_devtools.node` and wait for its Node to be Ready."""
    log = root / f"agent-{name}.log"
    echo = "example.com/echo=python -c 'import sys; print(\"echo\", *sys.argv[1:])'"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "brandmon_devtools.node", "--kubeconfig", str(platform.kubeconfig),
             "--name", name, "--state-dir", str(root / "state"), "--taint", f"{TAINT}={name}:NoSchedule",
             "--entrypoint", echo],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    agent = NodeAgent(name, root / "state", log, process)
    core = client.CoreV1Api(kube)
    try:
        wait_for(agent, lambda: process.poll() is not None or _node_ready(core, name), "the node")
    except BaseException:
        stop_agent(agent)
        raise
    assert process.poll() is None, agent.tail()
    return agent


def stop_agent(agent: NodeAgent) -> None:
    """SIGTERM the agent and wait for it (it stops its processes first)."""
    agent.process.send_signal(signal.SIGTERM)
    try:
        agent.process.wait(40)
    except subprocess.TimeoutExpired:
        agent.process.kill()
        agent.process.wait()
    assert agent.process.returncode == 0, agent.tail()


@pytest.fixture(scope="module")
def node(
    platform: runtime.Platform, kube: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NodeAgent]:
    """A node agent for this module, stopped (and its Node deleted) afterwards."""
    name = unique("node")
    agent = start_agent(platform, kube, name, tmp_path_factory.mktemp("node"))
    try:
        yield agent
    finally:
        try:
            stop_agent(agent)
        finally:
            with contextlib.suppress(ApiException):
                client.CoreV1Api(kube).delete_node(name)


# --- helpers ----------------------------------------------------------------------------


def _apply(kube: client.ApiClient, manifest: Manifest) -> None:
    core, apps, batch = client.CoreV1Api(kube), client.AppsV1Api(kube), client.BatchV1Api(kube)
    patch = {
        "ConfigMap": core.patch_namespaced_config_map,
        "Secret": core.patch_namespaced_secret,
        "Pod": core.patch_namespaced_pod,
        "Deployment": apps.patch_namespaced_deployment,
        "Job": batch.patch_namespaced_job,
    }[manifest["kind"]]
    meta = manifest["metadata"]
    patch(
        meta["name"], meta["namespace"], manifest, field_manager="node-tests", _content_type=APPLY
    )


def _raw(response: Any) -> Manifest:
    try:
        data: Manifest = json.loads(response.data)
    finally:
        response.release_conn()
    return data


def get_pod(kube: client.ApiClient, namespace: str, name: str) -> Manifest | None:
    try:
        return _raw(
            client.CoreV1Api(kube).read_namespaced_pod(name, namespace, _preload_content=False)
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def _service_account(kube: client.ApiClient, namespace: str) -> bool:
    # Pods are rejected until the controller manager has made the namespace's default account.
    try:
        client.CoreV1Api(kube).read_namespaced_service_account("default", namespace)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def run_pod(
    kube: client.ApiClient, node: NodeAgent, namespace: str, name: str,
    containers: list[Manifest], **spec: Any,
) -> None:  # fmt: skip
    wait_for(node, lambda: _service_account(kube, namespace), "the default service account")
    _apply(kube, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": node.name, "containers": containers} | spec,
    })  # fmt: skip


def python(code: str) -> list[str]:
    return ["python", "-c", code]


def pod_in_phase(
    kube: client.ApiClient, namespace: str, name: str, *phases: str
) -> Manifest | None:
    pod = get_pod(kube, namespace, name)
    if pod is not None and pod.get("status", {}).get("phase") in phases:
        return pod
    return None


def statuses(pod: Manifest) -> dict[str, Manifest]:
    return {s["name"]: s for s in pod["status"]["containerStatuses"]}


def _alive(pid: int) -> bool:
    # The agent reaps its children, so a gone process leaves no /proc entry behind.
    return Path(f"/proc/{pid}").exists()


# --- tests ------------------------------------------------------------------------------


def test_node_is_ready_with_the_api_servers_version(
    kube: client.ApiClient, node: NodeAgent
) -> None:
    core = client.CoreV1Api(kube)
    found = core.read_node(node.name)
    version = client.VersionApi(kube).get_code().git_version
    assert found.status is not None
    assert found.status.node_info is not None
    assert found.status.node_info.kubelet_version == version
    assert found.status.capacity == {
        "cpu": "2", "memory": "8Gi", "ephemeral-storage": "20Gi", "pods": "110"
    }  # fmt: skip
    lease = client.CoordinationV1Api(kube).read_namespaced_lease(node.name, "kube-node-lease")
    assert lease.spec is not None
    assert lease.spec.holder_identity == node.name


def test_pod_sees_configmap_and_secret_values_and_succeeds(
    kube: client.ApiClient, node: NodeAgent, namespace: str
) -> None:
    _apply(kube, {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "settings", "namespace": namespace},
                  "data": {"GREETING": "hello"}})  # fmt: skip
    _apply(kube, {"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": "creds", "namespace": namespace},
                  "data": {"TOKEN": base64.b64encode(b"s3cret").decode()}})  # fmt: skip
    code = (
        "import os\n"
        "for k in ('GREETING', 'S_TOKEN', 'LEVEL', 'MISSING', 'POD'):\n"
        "    print(f'{k}={os.environ.get(k)}')\n"
    )
    run_pod(kube, node, namespace, "env", [{
        "name": "main", "image": "python:3.11", "command": python(code),
        "env": [
            {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "GREETING"}}},
            {"name": "LEVEL", "value": "$(GREETING)-debug"},
            {"name": "MISSING", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "envFrom": [{"secretRef": {"name": "creds"}, "prefix": "S_"}],
    }], restartPolicy="Never")  # fmt: skip

    pod = wait_for(
        node,
        lambda: pod_in_phase(kube, namespace, "env", "Succeeded", "Failed"),
        "the pod to finish",
    )
    assert pod["status"]["phase"] == "Succeeded"
    terminated = statuses(pod)["main"]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    expected = "GREETING=hello\nS_TOKEN=s3cret\nLEVEL=hello-debug\nMISSING=None\nPOD=env\n"
    assert expected in (node.pod_dir(pod) / "main.log").read_text()
    # kubectl logs: the API server proxies to the agent's log endpoint.
    assert client.CoreV1Api(kube).read_namespaced_pod_log("env", namespace) == expected


def test_failed_containers_report_exit_codes_and_termination_messages(
    kube: client.ApiClient, node: NodeAgent, namespace: str
) -> None:
    reporter = (
        "import os, sys\n"
        "open(os.environ['BRANDMON_TERMINATION_LOG'], 'w').write('login required')\n"
        "sys.exit(3)\n"
    )
    crasher = "import sys\nprint('starting', flush=True)\nprint('boom: no route', file=sys.stderr)\nsys.exit(4)\n"
    run_pod(kube, node, namespace, "fails", [
        {"name": "reporter", "image": "python:3.11", "command": python(reporter)},
        {"name": "crasher", "image": "python:3.11", "command": python(crasher),
         "terminationMessagePolicy": "FallbackToLogsOnError"},
        {"name": "fine", "image": "python:3.11", "command": python("pass")},
    ], restartPolicy="Never")  # fmt: skip

    pod = wait_for(
        node,
        lambda: pod_in_phase(kube, namespace, "fails", "Failed", "Succeeded"),
        "the pod to fail",
    )
    assert pod["status"]["phase"] == "Failed"
    found = {n: s["state"]["terminated"] for n, s in statuses(pod).items()}
    assert found["reporter"] | {"startedAt": "", "finishedAt": "", "containerID": ""} == {
        "exitCode": 3, "reason": "Error", "message": "login required",
        "startedAt": "", "finishedAt": "", "containerID": "",
    }  # fmt: skip
    assert (found["crasher"]["exitCode"], found["crasher"]["reason"]) == (4, "Error")
    assert found["crasher"]["message"] == "starting\nboom: no route\n"
    assert (found["fine"]["exitCode"], found["fine"]["reason"]) == (0, "Completed")
    assert "message" not in found["fine"]


def test_restart_policy_always_restarts_with_back_off(
    kube: client.ApiClient, node: NodeAgent, namespace: str
) -> None:
    run_pod(kube, node, namespace, "crashy", [
        {"name": "main", "image": "python:3.11", "command": python("print('run'); raise SystemExit(1)")},
    ])  # fmt: skip

    def restarted_twice() -> Manifest | None:
        pod = get_pod(kube, namespace, "crashy")
        status = (
            statuses(pod)["main"] if pod and pod.get("status", {}).get("containerStatuses") else {}
        )
        return pod if status.get("restartCount", 0) >= 2 else None

    pod = wait_for(node, restarted_twice, "two restarts", timeout=60)
    assert pod["status"]["phase"] == "Running"
    status = statuses(pod)["main"]
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert "CrashLoopBackOff" in str(status["state"]) or "running" in status["state"]
    log = (node.pod_dir(pod) / "main.log").read_text()
    assert log.count("--- main run ") >= 3
    assert log.count("run\n") >= 2
    core = client.CoreV1Api(kube)
    assert core.read_namespaced_pod_log("crashy", namespace, previous=True) == "run\n"


def test_images_map_to_local_commands_or_wait(
    kube: client.ApiClient, node: NodeAgent, namespace: str
) -> None:
    run_pod(kube, node, namespace, "images", [
        {"name": "echo", "image": "example.com/echo:1.0", "args": ["hi", "$(WHO)"],
         "env": [{"name": "WHO", "value": "there"}]},
        {"name": "nginx", "image": "docker.io/library/nginx:1.27"},
    ], restartPolicy="Never")  # fmt: skip

    def echoed() -> Manifest | None:
        pod = get_pod(kube, namespace, "images")
        found = statuses(pod) if pod and pod.get("status", {}).get("containerStatuses") else {}
        return pod if "terminated" in found.get("echo", {}).get("state", {}) else None

    pod = wait_for(node, echoed, "the echo container to finish")
    assert pod["status"]["phase"] == "Pending"
    waiting = statuses(pod)["nginx"]["state"]["waiting"]
    assert waiting["reason"] == "ImageNotMapped"
    assert "--entrypoint docker.io/library/nginx=COMMAND" in waiting["message"]
    assert (node.pod_dir(pod) / "echo.log").read_text().endswith("echo hi there\n")


def test_deployment_becomes_available_through_its_readiness_probe(
    kube: client.ApiClient, node: NodeAgent, namespace: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    labels = {"app": "web"}
    wait_for(node, lambda: _service_account(kube, namespace), "the default service account")
    _apply(kube, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": node.placement() | {"containers": [{
                    "name": "web", "image": "python:3.11",
                    "command": ["python", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                    "ports": [{"name": "http", "containerPort": port}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                }]},
            },
        },
    })  # fmt: skip
    apps = client.AppsV1Api(kube)

    def available() -> bool:
        found = apps.read_namespaced_deployment_status("web", namespace).status
        return found is not None and found.available_replicas == 1

    wait_for(node, available, "the deployment to be available")
    pods = client.CoreV1Api(kube).list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 1
    assert pods[0].spec is not None
    assert pods[0].spec.node_name == node.name
    assert pods[0].status is not None
    conditions = {c.type: c.status for c in pods[0].status.conditions or []}
    assert conditions["Ready"] == "True"


def test_a_steady_pod_gets_no_status_writes(
    platform: runtime.Platform, kube: client.ApiClient, node: NodeAgent, namespace: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run_pod(kube, node, namespace, "steady", [{
        "name": "web", "image": "python:3.11",
        "command": ["python", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1},
    }])  # fmt: skip

    def ready() -> Manifest | None:
        pod = get_pod(kube, namespace, "steady")
        conditions = {
            c["type"]: c["status"] for c in (pod or {}).get("status", {}).get("conditions", [])
        }
        return pod if conditions.get("Ready") == "True" else None

    wait_for(node, ready, "the pod to be ready")
    offset = platform.audit_log.stat().st_size
    time.sleep(2.5)  # two more probe rounds, all passing
    writes = []
    with platform.audit_log.open() as log:
        log.seek(offset)
        for line in log:
            event = json.loads(line)
            ref = event.get("objectRef", {})
            if ref.get("namespace") == namespace and event["verb"] not in ("get", "list", "watch"):
                writes.append((event["userAgent"], event["verb"], ref.get("subresource")))
    assert writes == []


def test_job_completes(kube: client.ApiClient, node: NodeAgent, namespace: str) -> None:
    wait_for(node, lambda: _service_account(kube, namespace), "the default service account")
    _apply(kube, {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "once", "namespace": namespace},
        "spec": {"backoffLimit": 0, "template": {"spec": node.placement() | {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "python:3.11", "command": python("print('done')")}],
        }}},
    })  # fmt: skip
    batch = client.BatchV1Api(kube)

    def complete() -> bool:
        found = batch.read_namespaced_job_status("once", namespace).status
        conditions = (found.conditions if found else None) or []
        return any(c.type == "Complete" and c.status == "True" for c in conditions)

    wait_for(node, complete, "the job to complete")
    found = batch.read_namespaced_job_status("once", namespace).status
    assert found is not None
    assert (found.succeeded, found.failed) == (1, None)


def test_deleting_a_pod_stops_its_processes(
    kube: client.ApiClient, node: NodeAgent, namespace: str
) -> None:
    stubborn = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: time.sleep(1)\n"
    run_pod(kube, node, namespace, "sleepy", [
        {"name": "polite", "image": "python:3.11", "command": python("import time\nwhile True: time.sleep(1)")},
        {"name": "stubborn", "image": "python:3.11", "command": python(stubborn)},
    ], terminationGracePeriodSeconds=2)  # fmt: skip

    def ready() -> Manifest | None:
        pod = pod_in_phase(kube, namespace, "sleepy", "Running")
        conditions = {
            c["type"]: c["status"] for c in (pod or {}).get("status", {}).get("conditions", [])
        }
        return pod if conditions.get("Ready") == "True" else None

    pod = wait_for(node, ready, "the pod to be ready")
    pids = [int(s["containerID"].removeprefix("local://")) for s in statuses(pod).values()]
    assert all(_alive(pid) for pid in pids)
    started = time.monotonic()
    client.CoreV1Api(kube).delete_namespaced_pod("sleepy", namespace)
    wait_for(node, lambda: get_pod(kube, namespace, "sleepy") is None, "the pod to be gone")
    # The stubborn process ignored SIGTERM: it lived out the grace period, then SIGKILL.
    assert time.monotonic() - started >= 2
    wait_for(
        node, lambda: not any(_alive(pid) for pid in pids), "the processes to be gone", timeout=5
    )


def test_a_restarted_agent_restarts_its_pods(
    platform: runtime.Platform, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    name = unique("node")
    first = start_agent(platform, kube, name, tmp_path)
    try:
        agent = first
        forever = python("import time\nwhile True: time.sleep(1)")
        for pod, policy in (("always", "Always"), ("never", "Never")):
            run_pod(kube, agent, namespace, pod,
                    [{"name": "main", "image": "python:3.11", "command": forever}], restartPolicy=policy)  # fmt: skip
        for pod in ("always", "never"):
            running = functools.partial(pod_in_phase, kube, namespace, pod, "Running")
            wait_for(agent, running, f"{pod} to run")
        stop_agent(first)

        # The agent stopped its processes and said so: SIGTERM is exit code 143.
        never = pod_in_phase(kube, namespace, "never", "Failed")
        assert never is not None
        assert statuses(never)["main"]["state"]["terminated"]["exitCode"] == 143
        always = pod_in_phase(kube, namespace, "always", "Running")
        assert always is not None
        assert "terminated" in statuses(always)["main"]["state"]

        agent = start_agent(platform, kube, name, tmp_path)

        def restarted() -> Manifest | None:
            pod = pod_in_phase(kube, namespace, "always", "Running")
            status = statuses(pod)["main"] if pod else {}
            return pod if "running" in status.get("state", {}) else None

        status = statuses(wait_for(agent, restarted, "the Always pod to run again"))["main"]
        assert status["restartCount"] == 1
        assert status["lastState"]["terminated"]["exitCode"] == 143
        assert (agent.state_dir / "pods").is_dir()
        never = pod_in_phase(kube, namespace, "never", "Failed")
        assert never is not None, "a finished pod is not run again"
        # Deleting the namespace's pods while the agent runs leaves no pod behind.
        client.CoreV1Api(kube).delete_collection_namespaced_pod(namespace)
        wait_for(
            agent,
            lambda: not client.CoreV1Api(kube).list_namespaced_pod(namespace).items,
            "the pods to go",
        )
    finally:
        if agent.process.poll() is None:
            stop_agent(agent)
        with contextlib.suppress(ApiException):
            client.CoreV1Api(kube).delete_node(name)
