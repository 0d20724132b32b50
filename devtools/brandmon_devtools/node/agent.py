"""The node agent: a Node in the API, and a local process for every container bound to it.

`Agent.run()` registers the Node (Ready, with capacity and the API server's version as its
kubelet version), keeps it alive with a Lease in kube-node-lease, watches the Pods bound to
it and gives each one a `PodWorker` thread. A worker runs the Pod's containers as local
processes (see `spec` for how images, environment and volumes are translated), restarts
them by the Pod's policy, probes them, and patches the Pod's status whenever it changes.
A Pod being deleted has its processes stopped (SIGTERM, the grace period, SIGKILL); then
the worker deletes it with grace 0, as a kubelet does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shlex
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from base64 import b64decode, b64encode
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from brandmon_devtools.node import spec as specs
from brandmon_devtools.node.process import ContainerProcess, stop_leftovers
from brandmon_devtools.node.spec import (
    LOCALHOST,
    TERMINATION_LOG_ENV,
    ConfigError,
    Entrypoint,
    ImageNotMappedError,
    Manifest,
    Objects,
    Probe,
)
from brandmon_devtools.node.status import (
    Backoff,
    Container,
    PodStatus,
    ProbeTracker,
    Terminated,
    adopt,
    rfc3339,
    should_restart,
    status_patch,
)

log = logging.getLogger("brandmon.node")

FIELD_MANAGER = "brandmon-node"
APPLY = "application/apply-patch+yaml"
LEASE_NAMESPACE = "kube-node-lease"
DEFAULT_NAME = "brandmon-local"
# ephemeral-storage too: the scheduler refuses Pods that request it (the chart's operator
# does) from a node that does not report it.
DEFAULT_CAPACITY = {"cpu": "2", "memory": "8Gi", "ephemeral-storage": "20Gi", "pods": "110"}
TERMINAL_PHASES = ("Succeeded", "Failed")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_TICK = 0.25  # how often a worker looks at its processes
_IDLE_TICK = 5.0  # a finished Pod only waits for its deletion
_RETRY = 2.0  # before retrying a container whose configuration is missing
_API_TIMEOUT = 10.0
_WATCH_SECONDS = 60
_STOP_GRACE = 30


# --- the Node and its Lease -------------------------------------------------------------


def micro_time(when: float | None = None) -> str:
    """Return a wall-clock time as the API's MicroTime (a Lease's renewTime)."""
    moment = datetime.fromtimestamp(time.time() if when is None else when, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _architecture() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def parse_taint(text: str) -> Manifest:
    """Parse `KEY[=VALUE]:EFFECT` (as `kubectl taint` writes it) into a Node taint."""
    head, sep, effect = text.rpartition(":")
    key, _, value = head.partition("=")
    if not sep or not key or effect not in TAINT_EFFECTS:
        msg = f"expected KEY[=VALUE]:EFFECT with EFFECT one of {', '.join(TAINT_EFFECTS)}"
        raise ValueError(msg)
    taint = {"key": key, "effect": effect}
    return taint | {"value": value} if value else taint


def node_manifest(
    name: str, labels: Mapping[str, str], taints: Sequence[Manifest] = ()
) -> Manifest:
    """Return the Node's metadata and spec (applied by the agent, which owns them)."""
    spec: Manifest = {"unschedulable": False}
    if taints:
        spec["taints"] = list(taints)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": _architecture(),
                "node.brandmon.io/agent": "process",
            }
            | dict(labels),
        },
        "spec": spec,
    }


def node_status(
    name: str,
    *,
    capacity: Mapping[str, str],
    kubelet_version: str,
    kubelet_port: int,
    ready_since: str,
    now: str | None = None,
) -> Manifest:
    """Return the Node's status: Ready, its capacity, addresses and versions."""
    heartbeat = now or rfc3339()

    def condition(kind: str, status: str, reason: str, message: str) -> Manifest:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": ready_since,
        }

    uname = os.uname()
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {
            "capacity": dict(capacity),
            "allocatable": dict(capacity),
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
                condition("Ready", "True", "KubeletReady", "brandmon node agent is ready"),
            ],
            # Only an IP: the API server would try to resolve a Hostname address first.
            "addresses": [{"type": "InternalIP", "address": LOCALHOST}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": {
                "machineID": name,
                "systemUUID": name,
                "bootID": name,
                "kernelVersion": uname.release,
                "osImage": f"{uname.sysname} (brandmon process node agent)",
                "containerRuntimeVersion": f"local://python-{platform.python_version()}",
                "kubeletVersion": kubelet_version,
                "operatingSystem": "linux",
                "architecture": _architecture(),
            },
        },
    }


def lease_manifest(name: str, node_uid: str, duration: int, now: str | None = None) -> Manifest:
    """Return the Node's Lease; renewing it is the heartbeat the node controller checks."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": LEASE_NAMESPACE,
            # Deleting the Node deletes its Lease (garbage collection).
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}
            ],
        },
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": duration,
            "renewTime": now or micro_time(),
        },
    }


# --- settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What one agent is: its Node's name and shape, where it keeps state, what it runs."""

    state_dir: Path
    name: str = DEFAULT_NAME
    labels: Mapping[str, str] = field(default_factory=dict)
    # A tainted node runs only Pods that tolerate it (or name it in spec.nodeName).
    taints: tuple[Manifest, ...] = ()
    capacity: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    entrypoints: tuple[Entrypoint, ...] = ()
    lease_seconds: float = 10.0
    lease_duration: int = 40
    status_seconds: float = 60.0
    serve_logs: bool = True

    @property
    def pods_dir(self) -> Path:
        """Every Pod's directory lives here."""
        return self.state_dir / "pods"

    def pod_dir(self, namespace: str, name: str, uid: str) -> Path:
        """Return a Pod's directory: its logs, termination messages and volumes."""
        return self.pods_dir / f"{namespace}_{name}_{uid}"


def bin_dir() -> Path:
    """Return where the installed console scripts are (next to the interpreter)."""
    return Path(sys.executable).parent


def search_path() -> str:
    """Return the PATH that commands are looked up in: the console scripts first."""
    return os.pathsep.join([str(bin_dir()), os.environ.get("PATH", os.defpath)])


def free_port() -> int:
    """Return a TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        port: int = probe.getsockname()[1]
        return port


# --- talking to the API -----------------------------------------------------------------


def _json(response: Any) -> Manifest:
    """Read a raw (`_preload_content=False`) response as JSON."""
    raw = cast("urllib3.BaseHTTPResponse", response)
    try:
        data: Manifest = json.loads(raw.data)
    finally:
        raw.release_conn()
    return data


def _missing(error: ApiException) -> bool:
    return bool(error.status == HTTPStatus.NOT_FOUND)


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """Yield a watch stream's lines (one JSON event each) as they arrive."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        yield from (line for line in complete if line.strip())


class _ExpiredError(Exception):
    """The watch's resourceVersion is too old: list again."""


# --- probes -----------------------------------------------------------------------------


def _http_probe(probe: Probe) -> bool:
    context = ssl.create_default_context()
    # The kubelet does not verify an HTTPS probe's certificate either.
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(probe.target, headers={"User-Agent": "kube-probe"})  # noqa: S310 - a loopback URL built from the spec
    try:
        with urllib.request.urlopen(request, timeout=probe.timeout, context=context) as reply:  # noqa: S310
            return bool(HTTPStatus.OK <= reply.status < HTTPStatus.BAD_REQUEST)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _tcp_probe(probe: Probe) -> bool:
    host, _, port = probe.target.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=probe.timeout).close()
    except OSError:
        return False
    return True


def _exec_probe(probe: Probe, env: Mapping[str, str], cwd: Path) -> bool:
    executable = specs.resolve_executable(probe.argv[0], search_path()) if probe.argv else None
    if executable is None:
        return False
    try:
        done = subprocess.run(
            [executable, *probe.argv[1:]], env=dict(env), cwd=cwd, timeout=probe.timeout,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            check=False,
        )  # fmt: skip
    except (subprocess.TimeoutExpired, OSError):
        return False
    return done.returncode == 0


def run_probe(probe: Probe, env: Mapping[str, str], cwd: Path) -> bool:
    """Run one probe against a local process; return whether it passed."""
    if probe.kind == "http":
        return _http_probe(probe)
    if probe.kind == "tcp":
        return _tcp_probe(probe)
    if probe.kind == "exec":
        return _exec_probe(probe, env, cwd)
    return False  # an invalid probe (an unknown named port) always fails


# --- one Pod ----------------------------------------------------------------------------


def _one_line(argv: Sequence[str], limit: int = 200) -> str:
    """Return a command as one log line (the log's run separators are single lines)."""
    text = shlex.join(argv).replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _write_volume(volume: specs.Volume, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for relative, (content, mode) in volume.files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(content)
        partial.chmod(mode | 0o600)  # the agent's own user must be able to rewrite it
        partial.replace(path)


@dataclass
class _Slot:
    """One container of a Pod: its record, its process and everything about restarts."""

    spec: Manifest
    record: Container
    process: ContainerProcess | None = None
    env: dict[str, str] = field(default_factory=dict)
    next_start: float = 0.0
    backoff: Backoff = field(default_factory=Backoff)
    ports: tuple[dict[str, str], dict[int, int]] | None = None
    readiness: ProbeTracker | None = None
    liveness: ProbeTracker | None = None
    runs: int = 0


class PodWorker:
    """Runs one Pod's containers and reports its status, on a thread of its own."""

    def __init__(self, agent: Agent, pod: Manifest) -> None:
        self.agent = agent
        self.pod = pod
        metadata = pod["metadata"]
        self.namespace: str = metadata["namespace"]
        self.name: str = metadata["name"]
        self.uid: str = metadata["uid"]
        self.dir = agent.settings.pod_dir(self.namespace, self.name, self.uid)
        self.removed = False  # the Pod is gone from the API
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.core = client.CoreV1Api(agent.api)
        status = pod.get("status") or {}
        previous = {s["name"]: s for s in status.get("containerStatuses") or []}
        now = rfc3339()
        self.slots = {
            c["name"]: _Slot(c, adopt(c["name"], c.get("image", ""), previous.get(c["name"]), now))
            for c in pod["spec"]["containers"]
        }
        self.status = PodStatus(
            start_time=status.get("startTime") or now,
            conditions={c["type"]: c for c in status.get("conditions") or []},
        )
        self.sent: Manifest | None = None
        self.patch_after = 0.0
        self.token: str | None = None
        self.thread = threading.Thread(target=self._main, name=f"pod-{self.name}", daemon=True)

    # -- called by the agent --

    def update(self, pod: Manifest) -> None:
        """Hand the worker the newest version of its Pod."""
        with self.lock:
            self.pod = pod
        self.wake.set()

    def remove(self) -> None:
        """Stop the processes of a Pod that is gone from the API (nothing to report)."""
        self.removed = True
        self.wake.set()

    def container_running(self, container: str) -> bool:
        """Return whether a container's process runs (the log server follows it)."""
        slot = self.slots.get(container)
        return slot is not None and slot.process is not None

    # -- the loop --

    def _main(self) -> None:
        try:
            self._loop()
        except Exception:
            log.exception("pod %s/%s: worker failed", self.namespace, self.name)
        finally:
            self._stop_all(0)
            self.agent.finished(self)

    def _loop(self) -> None:
        spec = self.pod["spec"]
        policy = str(spec.get("restartPolicy") or "Always")
        finished = (self.pod.get("status") or {}).get("phase") in TERMINAL_PHASES
        if not finished:
            self.dir.mkdir(parents=True, exist_ok=True)
            for slot in self.slots.values():
                if slot.record.state == "terminated":
                    self._decide(slot, policy, ran_for=0.0)
        while True:
            with self.lock:
                pod = self.pod
            if self.removed:
                self._stop_all(grace_seconds(pod))
                return
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                self._terminate(pod)
                return
            if self.agent.stopping.is_set():
                self._stop_all(grace_seconds(pod))
                if not finished:
                    self._report(policy)
                return
            if not finished:
                self._sync(pod, policy)
                # Finished only once the API has the final status (a failed patch retries).
                finished = self._report(policy) in TERMINAL_PHASES
            self.wake.wait(_IDLE_TICK if finished else _TICK)
            self.wake.clear()

    def _sync(self, pod: Manifest, policy: str) -> None:
        now = time.monotonic()
        for slot in self.slots.values():
            if slot.process is not None:
                code = slot.process.poll()
                if code is None:
                    self._probe(pod, slot, policy, now)
                    continue
                self._ended(slot, code, policy)
            if slot.record.state == "waiting" and now >= slot.next_start:
                self._start(pod, slot, policy)

    # -- containers --

    def _prepare(self, pod: Manifest, slot: _Slot) -> list[str] | None:
        """Return the command with the environment set in the slot; None to wait instead."""
        container, record = slot.spec, slot.record
        if pod["spec"].get("initContainers"):
            record.wait("InitContainersNotSupported", "the node agent runs no init containers")
            slot.next_start = float("inf")
            return None
        try:
            argv = specs.container_argv(container, self.agent.entrypoints)
        except ImageNotMappedError as error:
            record.wait("ImageNotMapped", str(error))
            slot.next_start = time.monotonic() + _RETRY * 5
            return None
        try:
            objects = self._objects(pod)
            env = specs.resolve_env(pod, container, objects, self.agent.settings.capacity)
            directories = self._volumes(pod, objects)
        except ConfigError as error:
            record.wait("CreateContainerConfigError", str(error))
            slot.next_start = time.monotonic() + _RETRY
            return None
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            log.warning(
                "pod %s/%s: cannot read its configuration: %s", self.namespace, self.name, error
            )
            slot.next_start = time.monotonic() + _RETRY
            return None
        argv = specs.expand_argv(argv, env)
        termination_log = self.dir / f"{container['name']}.termination-log"
        termination_log.unlink(missing_ok=True)
        base = {
            "PATH": search_path(),
            "HOME": str(self.dir),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOSTNAME": str(pod["spec"].get("hostname") or self.name),
        }
        agent_env = specs.mount_env(container, directories)
        agent_env[TERMINATION_LOG_ENV] = str(termination_log)
        token_file = specs.service_account_token_file(pod, container, directories)
        if token_file is not None and self.token is not None and "KUBECONFIG" not in env:
            agent_env["KUBECONFIG"] = str(self._write_kubeconfig(pod, token_file, self.token))
        if specs.runs_worker(argv):
            if slot.ports is None:
                # Chosen once per container: its restarts keep their ports.
                slot.ports = specs.worker_ports(env, free_port)
            agent_env |= slot.ports[0]
        slot.env = base | env | agent_env
        return argv

    def _start(self, pod: Manifest, slot: _Slot, policy: str) -> None:
        argv = self._prepare(pod, slot)
        if argv is None:
            return
        container, record = slot.spec, slot.record
        name = container["name"]
        # The container's own PATH first (as in its image), then the installation's.
        executable = specs.resolve_executable(
            argv[0], os.pathsep.join([slot.env.get("PATH", ""), search_path()])
        )
        slot.runs += 1
        if executable is None:
            self._start_failed(slot, f'exec: "{argv[0]}": not found in $PATH', policy)
            return
        try:
            process = ContainerProcess(
                argv=[executable, *argv[1:]], env=slot.env, cwd=self.dir,
                log=self.dir / f"{name}.log", pid_file=self.dir / f"{name}.pid",
                banner=f"{name} run {slot.runs}: {_one_line(argv)}",
            )  # fmt: skip
        except OSError as error:
            self._start_failed(slot, f'exec: "{executable}": {error}', policy)
            return
        slot.process = process
        record.run(f"local://{process.pid}", f"local://{executable}")
        log.info("pod %s/%s: started %s as pid %d", self.namespace, self.name, name, process.pid)
        remap = slot.ports[1] if slot.ports else {}
        if remap:
            ports = json.dumps({str(k): v for k, v in remap.items()})
            (self.dir / f"{name}.ports.json").write_text(ports + "\n")
        started = time.monotonic()
        readiness = specs.probe(container.get("readinessProbe"), container, remap)
        liveness = specs.probe(container.get("livenessProbe"), container, remap)
        slot.readiness = ProbeTracker.start(readiness, started) if readiness else None
        slot.liveness = ProbeTracker.start(liveness, started) if liveness else None
        # Without a readiness probe a running container is ready.
        record.ready = slot.readiness is None

    def _start_failed(self, slot: _Slot, message: str, policy: str) -> None:
        """Record a run that never started (exit code 128, reason StartError)."""
        now = rfc3339()
        slot.record.run("", "", now)
        self._end(slot, Terminated(128, "StartError", message, now, now), policy, 0.0)

    def _probe(self, pod: Manifest, slot: _Slot, policy: str, now: float) -> None:
        if slot.readiness is not None and slot.readiness.due(now):
            ok = run_probe(slot.readiness.probe, slot.env, self.dir)
            slot.record.ready = slot.readiness.record(ok, time.monotonic()) is True
        if slot.liveness is not None and slot.liveness.due(now):
            ok = run_probe(slot.liveness.probe, slot.env, self.dir)
            if slot.liveness.record(ok, time.monotonic()) is False and slot.process:
                log.info("pod %s/%s: %s failed its liveness probe; restarting it",
                         self.namespace, self.name, slot.spec["name"])  # fmt: skip
                code = slot.process.stop(grace_seconds(pod))
                self._ended(slot, code, policy)

    def _exit_record(self, slot: _Slot, process: ContainerProcess, code: int) -> Terminated:
        """Return the record of a finished run, with its termination message."""
        try:
            written = (self.dir / f"{slot.spec['name']}.termination-log").read_bytes()
        except OSError:
            written = b""
        message = specs.termination_message(
            written, process.output(), slot.spec.get("terminationMessagePolicy"), code
        )
        record = slot.record
        return Terminated.ended(code, message, record.started_at, rfc3339(), record.container_id)

    def _ended(self, slot: _Slot, code: int, policy: str) -> None:
        process = slot.process
        assert process is not None
        slot.process = None
        log.info("pod %s/%s: %s exited with %d", self.namespace, self.name, slot.spec["name"], code)
        self._end(slot, self._exit_record(slot, process, code), policy, process.ran_for())

    def _end(self, slot: _Slot, record: Terminated, policy: str, ran_for: float) -> None:
        slot.record.end(record)
        self._decide(slot, policy, ran_for)

    def _decide(self, slot: _Slot, policy: str, ran_for: float) -> None:
        """Schedule a restart of a terminated container if its Pod's policy wants one."""
        record = slot.record.terminated
        if record is None or not should_restart(policy, record.exit_code):
            return
        delay = slot.backoff.delay(ran_for)
        slot.next_start = time.monotonic() + delay
        slot.record.wait(
            "CrashLoopBackOff",
            f"back-off {delay:g}s restarting failed container={slot.spec['name']} "
            f"pod={self.name}_{self.namespace}({self.uid})",
        )

    def _stop_all(self, grace: float) -> None:
        """Stop every process together: SIGTERM all, wait out the grace period, SIGKILL."""
        running = [s for s in self.slots.values() if s.process is not None]
        for slot in running:
            assert slot.process is not None
            slot.process.terminate()
        deadline = time.monotonic() + grace
        for slot in running:
            process = slot.process
            assert process is not None
            code = process.stop(max(0.0, deadline - time.monotonic()))
            slot.process = None
            slot.record.end(self._exit_record(slot, process, code))

    def _terminate(self, pod: Manifest) -> None:
        """Stop a Pod being deleted, report its final status, and let the API drop it."""
        self._stop_all(grace_seconds(pod))
        for slot in self.slots.values():
            record = slot.record
            if record.state != "waiting":
                continue
            if record.last is not None:
                record.end(record.last)
            else:
                record.end(
                    Terminated(137, "ContainerStatusUnknown", "the Pod was deleted before it ran")
                )
        policy = str(pod["spec"].get("restartPolicy") or "Always")
        self._report(policy, terminal=True)
        try:
            self.core.delete_namespaced_pod(
                self.name, self.namespace, grace_period_seconds=0,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=self.uid)
                ),
                _request_timeout=_API_TIMEOUT,
            )  # fmt: skip
        except ApiException as error:
            if error.status not in (HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT):
                log.warning("pod %s/%s: delete failed: %s", self.namespace, self.name, error)
        log.info("pod %s/%s: terminated", self.namespace, self.name)

    def _report(self, policy: str, terminal: bool = False) -> str | None:
        """Patch the Pod's status if it changed; return its phase once the API has it."""
        records = [s.record for s in self.slots.values()]
        current = self.status.build(policy, records, terminal)
        patch = status_patch(self.sent, current)
        if patch is not None and (terminal or time.monotonic() >= self.patch_after):
            try:
                self.core.patch_namespaced_pod_status(
                    self.name, self.namespace, patch, _request_timeout=_API_TIMEOUT
                )
                self.sent = current
            except ApiException as error:
                if _missing(error):
                    self.removed = True
                else:
                    log.warning(
                        "pod %s/%s: status patch failed: %s", self.namespace, self.name, error
                    )
                    self.patch_after = time.monotonic() + _RETRY
            except (urllib3.exceptions.HTTPError, OSError) as error:
                log.warning("pod %s/%s: status patch failed: %s", self.namespace, self.name, error)
                self.patch_after = time.monotonic() + _RETRY
        return str(current["phase"]) if self.sent == current else None

    # -- configuration --

    def _read(self, reader: Callable[..., Any], name: str) -> Manifest | None:
        try:
            return _json(
                reader(name, self.namespace, _preload_content=False, _request_timeout=_API_TIMEOUT)
            )
        except ApiException as error:
            if _missing(error):
                return None
            raise

    def _objects(self, pod: Manifest) -> Objects:
        """Fetch the ConfigMaps and Secrets the Pod references (absent when not found)."""
        config_map_names, secret_names = specs.referenced_objects(pod)
        config_maps: dict[str, dict[str, bytes]] = {}
        for name in config_map_names:
            found = self._read(self.core.read_namespaced_config_map, name)
            if found is not None:
                data = {k: v.encode() for k, v in (found.get("data") or {}).items()}
                binary = {k: b64decode(v) for k, v in (found.get("binaryData") or {}).items()}
                config_maps[name] = data | binary
        secrets: dict[str, dict[str, bytes]] = {}
        for name in secret_names:
            found = self._read(self.core.read_namespaced_secret, name)
            if found is not None:
                secrets[name] = {k: b64decode(v) for k, v in (found.get("data") or {}).items()}
        return Objects(config_maps, secrets)

    def _volumes(self, pod: Manifest, objects: Objects) -> dict[str, str]:
        """Write the Pod's volumes under its directory; return each one's directory."""
        if self.token is None and _wants_token(pod):
            self.token = self._request_token(pod)
        directories: dict[str, str] = {}
        for volume in specs.plan_volumes(pod, objects, self.agent.settings.capacity, self.token):
            if volume.host_path is not None:
                directories[volume.name] = volume.host_path
                continue
            directory = self.dir / "volumes" / volume.name
            _write_volume(volume, directory)
            directories[volume.name] = str(directory)
        return directories

    def _write_kubeconfig(self, pod: Manifest, token_file: str, token: str) -> Path:
        """Write the kubeconfig standing in for the in-cluster service-account mount."""
        server, ca_data = self.agent.endpoint()
        kubeconfig = specs.service_account_kubeconfig(
            server=server, ca_data=ca_data, namespace=self.namespace,
            account=str(pod["spec"].get("serviceAccountName") or "default"),
            token_file=token_file, token=token,
        )  # fmt: skip
        path = self.dir / "kubeconfig"
        partial = path.with_name("kubeconfig.partial")
        # It holds the Pod's token: readable by the agent's user only, like the token file.
        partial.touch(mode=0o600)
        partial.write_text(json.dumps(kubeconfig, indent=2) + "\n")
        partial.replace(path)
        return path

    def _request_token(self, pod: Manifest) -> str | None:
        account = str(pod["spec"].get("serviceAccountName") or "default")
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=[],
                expiration_seconds=3600,
                bound_object_ref=client.V1BoundObjectReference(
                    api_version="v1", kind="Pod", name=self.name, uid=self.uid
                ),
            )
        )
        try:
            reply = self.core.create_namespaced_service_account_token(
                account, self.namespace, request, _request_timeout=_API_TIMEOUT
            )
        except ApiException as error:
            log.warning("pod %s/%s: no service account token: %s", self.namespace, self.name, error)
            return None
        return reply.status.token if reply.status else None


def grace_seconds(pod: Manifest) -> float:
    """Return how long a Pod's processes get between SIGTERM and SIGKILL."""
    metadata, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    for value in (
        metadata.get("deletionGracePeriodSeconds"),
        spec.get("terminationGracePeriodSeconds"),
    ):
        if value is not None:
            return float(value)
    return float(_STOP_GRACE)


def _wants_token(pod: Manifest) -> bool:
    for volume in pod["spec"].get("volumes") or []:
        sources = (volume.get("projected") or {}).get("sources") or []
        if any("serviceAccountToken" in source for source in sources):
            return True
    return False


# --- the agent --------------------------------------------------------------------------


class Agent:
    """One Node and the Pods bound to it."""

    def __init__(self, api: client.ApiClient, settings: Settings) -> None:
        self.api = api
        self.settings = settings
        self.entrypoints = specs.entrypoints(settings.entrypoints)
        self.stopping = threading.Event()
        self.workers: dict[str, PodWorker] = {}
        self.done: set[str] = set()  # Pods whose worker finished; the API still lists them
        self.lock = threading.Lock()
        self.core = client.CoreV1Api(api)
        self.node_uid = ""
        self.kubelet_port = 0
        self.ready_since = rfc3339()
        self._watch_response: urllib3.BaseHTTPResponse | None = None

    def endpoint(self) -> tuple[str, str]:
        """Return the API server address and its CA (base64 PEM), as this agent uses them."""
        configuration = self.api.configuration
        ca_file = configuration.ssl_ca_cert
        ca_data = b64encode(Path(ca_file).read_bytes()).decode() if ca_file else ""
        return str(configuration.host), ca_data

    # -- the Node --

    def register(self) -> None:
        """Create or update the Node and its status, and renew its Lease."""
        settings = self.settings
        version = client.VersionApi(self.api).get_code(_request_timeout=_API_TIMEOUT).git_version
        self.kubelet_version = version
        node = _json(
            self.core.patch_node(
                settings.name, node_manifest(settings.name, settings.labels, settings.taints),
                field_manager=FIELD_MANAGER, force=True, _content_type=APPLY,
                _preload_content=False, _request_timeout=_API_TIMEOUT,
            )
        )  # fmt: skip
        self.node_uid = node["metadata"]["uid"]
        self.heartbeat_status()
        self.renew_lease()
        log.info("node %s registered (kubelet version %s)", settings.name, version)

    def heartbeat_status(self) -> None:
        """Post the Node's status: Ready, with a fresh heartbeat."""
        settings = self.settings
        body = node_status(
            settings.name, capacity=settings.capacity, kubelet_version=self.kubelet_version,
            kubelet_port=self.kubelet_port, ready_since=self.ready_since,
        )  # fmt: skip
        self.core.patch_node_status(
            settings.name, body, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY,
            _request_timeout=_API_TIMEOUT,
        )  # fmt: skip

    def renew_lease(self) -> None:
        """Renew the Node's Lease (creating it the first time)."""
        settings = self.settings
        body = lease_manifest(settings.name, self.node_uid, settings.lease_duration)
        client.CoordinationV1Api(self.api).patch_namespaced_lease(
            settings.name, LEASE_NAMESPACE, body, field_manager=FIELD_MANAGER, force=True,
            _content_type=APPLY, _request_timeout=_API_TIMEOUT,
        )  # fmt: skip

    def _heartbeats(self) -> None:
        next_status = time.monotonic() + self.settings.status_seconds
        while not self.stopping.wait(self.settings.lease_seconds):
            try:
                self.renew_lease()
                if time.monotonic() >= next_status:
                    self.heartbeat_status()
                    next_status = time.monotonic() + self.settings.status_seconds
            except ApiException as error:
                if _missing(error):
                    log.warning("node %s is gone; registering it again", self.settings.name)
                    with contextlib.suppress(ApiException, urllib3.exceptions.HTTPError, OSError):
                        self.register()
                else:
                    log.warning("heartbeat failed: %s", error)
            except (urllib3.exceptions.HTTPError, OSError) as error:
                log.warning("heartbeat failed: %s", error)

    # -- Pods --

    def _dispatch(self, kind: str, pod: Manifest) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            worker = self.workers.get(uid)
            if kind == "DELETED":
                self.done.discard(uid)
                if worker is not None:
                    worker.remove()
                return
            if worker is not None:
                worker.update(pod)
                return
            if uid in self.done or self.stopping.is_set():
                return
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
        log.info("pod %s/%s: bound here", worker.namespace, worker.name)
        worker.thread.start()

    def _resync(self, pods: list[Manifest]) -> None:
        """Reconcile the workers with a fresh list: Pods not listed are gone."""
        listed = {p["metadata"]["uid"] for p in pods}
        with self.lock:
            gone = [w for uid, w in self.workers.items() if uid not in listed]
            self.done &= listed
        for worker in gone:
            worker.remove()
        for pod in pods:
            self._dispatch("MODIFIED", pod)

    def finished(self, worker: PodWorker) -> None:
        """Forget a worker whose Pod is stopped (remember it until the API drops it)."""
        with self.lock:
            self.workers.pop(worker.uid, None)
            if not worker.removed:
                self.done.add(worker.uid)

    def worker_for(self, namespace: str, name: str) -> PodWorker | None:
        """Return the worker of a Pod, by namespace and name."""
        with self.lock:
            for worker in self.workers.values():
                if worker.namespace == namespace and worker.name == name:
                    return worker
        return None

    def _watch(self) -> None:
        selector = f"spec.nodeName={self.settings.name}"
        while not self.stopping.is_set():
            try:
                listing = _json(
                    self.core.list_pod_for_all_namespaces(
                        field_selector=selector, _preload_content=False,
                        _request_timeout=_API_TIMEOUT,
                    )
                )  # fmt: skip
                version = listing["metadata"]["resourceVersion"]
                self._resync(listing.get("items") or [])
                while not self.stopping.is_set():
                    version = self._stream(selector, version)
            except _ExpiredError:
                continue
            except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                if not self.stopping.is_set():
                    log.warning("watching pods failed: %s", error)
                    self.stopping.wait(1)

    def _stream(self, selector: str, version: str) -> str:
        response = cast(
            "urllib3.BaseHTTPResponse",
            self.core.list_pod_for_all_namespaces(
                field_selector=selector, watch=True, resource_version=version,
                allow_watch_bookmarks=True, timeout_seconds=_WATCH_SECONDS,
                _preload_content=False, _request_timeout=(_API_TIMEOUT, _WATCH_SECONDS + 10),
            ),
        )  # fmt: skip
        self._watch_response = response
        try:
            for line in _lines(response):
                event = json.loads(line)
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    if obj.get("code") == HTTPStatus.GONE:
                        raise _ExpiredError
                    raise ValueError(f"watch error: {obj.get('message')}")
                version = obj["metadata"]["resourceVersion"]
                if kind != "BOOKMARK":
                    self._dispatch(kind, obj)
        finally:
            self._watch_response = None
            response.release_conn()
        return version

    # -- running --

    def run(self, stop: threading.Event) -> None:
        """Register the Node and run its Pods until `stop` is set; then stop them all."""
        settings = self.settings
        settings.pods_dir.mkdir(parents=True, exist_ok=True)
        leftovers = stop_leftovers(settings.state_dir)
        if leftovers:
            log.warning(
                "stopped %d process(es) an earlier agent left: %s", len(leftovers), leftovers
            )
        server = None
        if settings.serve_logs:
            from brandmon_devtools.node.logserver import LogServer  # noqa: PLC0415

            server = LogServer(self)
            self.kubelet_port = server.port
            server.start()
        threads = [
            threading.Thread(target=self._heartbeats, name="heartbeats", daemon=True),
            threading.Thread(target=self._watch, name="watch", daemon=True),
        ]
        try:
            # The agent may start before the API server answers (a platform coming up).
            while not self._try_register():
                if stop.wait(_RETRY):
                    return
            for thread in threads:
                thread.start()
            stop.wait()
        finally:
            self.shutdown([t for t in threads if t.is_alive()])
            if server is not None:
                server.stop()

    def _try_register(self) -> bool:
        try:
            self.register()
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            log.warning("cannot register node %s yet: %s", self.settings.name, error)
            return False
        return True

    def shutdown(self, threads: list[threading.Thread]) -> None:
        """Stop every Pod's processes (reporting their exits) and the agent's threads."""
        self.stopping.set()
        with self.lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.wake.set()
        for worker in workers:
            worker.thread.join(grace_seconds(worker.pod) + _API_TIMEOUT)
        response = self._watch_response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()
        for thread in threads:
            thread.join(_API_TIMEOUT)
        log.info("node %s stopped", self.settings.name)
