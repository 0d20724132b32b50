"""Container and Pod status as a kubelet reports it, computed from what the agent knows.

Pure: the agent records what its processes did in `Container`s, and this module turns
them into the API's `status` (phase, conditions, containerStatuses), decides restarts
and their back-off, and tracks probe results. Times are RFC 3339 strings in UTC.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from brandmon_devtools.node.spec import LOCALHOST, Probe

Manifest = dict[str, Any]

# What a container runtime reports for a process killed by a signal: 128 + signal.
SIGNAL_EXIT_BASE = 128
_UNKNOWN_EXIT = 137


def rfc3339(when: float | None = None) -> str:
    """Return a wall-clock time (default: now) as the API's seconds-precision timestamp."""
    moment = datetime.fromtimestamp(time.time() if when is None else when, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def exit_code(returncode: int) -> int:
    """Return a process's exit code as a container runtime reports it (signals: 128+N)."""
    return SIGNAL_EXIT_BASE - returncode if returncode < 0 else returncode


@dataclass(frozen=True)
class Terminated:
    """One finished run of a container."""

    exit_code: int
    reason: str  # Completed, Error, StartError, ContainerStatusUnknown
    message: str = ""
    started_at: str = ""
    finished_at: str = ""
    container_id: str = ""

    @classmethod
    def ended(
        cls, code: int, message: str, started_at: str, finished_at: str, container_id: str
    ) -> Terminated:
        """Return the record of a process that exited with `code`."""
        reason = "Completed" if code == 0 else "Error"
        return cls(code, reason, message, started_at, finished_at, container_id)

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> Terminated:
        """Read a `state.terminated` the API server holds."""
        return cls(
            exit_code=int(manifest.get("exitCode") or 0),
            reason=str(manifest.get("reason") or ""),
            message=str(manifest.get("message") or ""),
            started_at=str(manifest.get("startedAt") or ""),
            finished_at=str(manifest.get("finishedAt") or ""),
            container_id=str(manifest.get("containerID") or ""),
        )

    def manifest(self) -> Manifest:
        """Return the API's `terminated` state."""
        state: Manifest = {"exitCode": self.exit_code, "reason": self.reason}
        if self.message:
            state["message"] = self.message
        if self.started_at:
            state["startedAt"] = self.started_at
        if self.finished_at:
            state["finishedAt"] = self.finished_at
        if self.container_id:
            state["containerID"] = self.container_id
        return state


@dataclass
class Container:
    """What the agent knows about one container of a Pod."""

    name: str
    image: str
    state: Literal["waiting", "running", "terminated"] = "waiting"
    reason: str = "ContainerCreating"  # while waiting
    message: str = ""  # while waiting
    started_at: str = ""  # while running
    container_id: str = ""  # while running
    image_id: str = ""
    terminated: Terminated | None = None  # the current state, when terminated
    last: Terminated | None = None  # the previous run, once restarted (or about to be)
    restart_count: int = 0
    ready: bool = False

    def wait(self, reason: str, message: str = "") -> None:
        """Enter the waiting state (not started yet, or between two runs)."""
        if self.terminated is not None:
            self.last = self.terminated
        self.state, self.reason, self.message = "waiting", reason, message
        self.terminated, self.ready = None, False

    def run(self, container_id: str, image_id: str, started_at: str | None = None) -> None:
        """Enter the running state; a run after an earlier one counts as a restart."""
        if self.terminated is not None:
            self.last = self.terminated
        if self.last is not None:
            self.restart_count += 1
        self.state, self.reason, self.message = "running", "", ""
        self.started_at = started_at or rfc3339()
        self.container_id, self.image_id = container_id, image_id
        self.terminated, self.ready = None, False

    def end(self, record: Terminated) -> None:
        """Enter the terminated state."""
        self.state, self.terminated, self.ready = "terminated", record, False
        self.reason = self.message = ""

    def manifest(self) -> Manifest:
        """Return the API's containerStatus."""
        state: Manifest
        if self.state == "running":
            state = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated" and self.terminated is not None:
            state = {"terminated": self.terminated.manifest()}
        else:
            waiting: Manifest = {"reason": self.reason}
            if self.message:
                waiting["message"] = self.message
            state = {"waiting": waiting}
        status: Manifest = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.state == "running",
            "state": state,
            "lastState": {"terminated": self.last.manifest()} if self.last else {},
        }
        container_id = self.container_id if self.state == "running" else ""
        if self.state == "terminated" and self.terminated is not None:
            container_id = self.terminated.container_id
        if container_id:
            status["containerID"] = container_id
        return status


def adopt(name: str, image: str, previous: Manifest | None, now: str | None = None) -> Container:
    """Return a container's record, continuing what the API says an earlier agent did.

    The agent stops its processes when it stops, so a container the API still shows as
    running lost its process: it counts as ended (ContainerStatusUnknown, exit 137), and
    the restart policy decides what happens next, as for any other exit.
    """
    container = Container(name, image)
    if not previous:
        return container
    container.restart_count = int(previous.get("restartCount") or 0)
    last = (previous.get("lastState") or {}).get("terminated")
    container.last = Terminated.from_manifest(last) if last else None
    state = previous.get("state") or {}
    if "terminated" in state:
        container.end(Terminated.from_manifest(state["terminated"]))
    elif "running" in state:
        running = state["running"] or {}
        container.end(
            Terminated(
                _UNKNOWN_EXIT,
                "ContainerStatusUnknown",
                "the node agent restarted and lost the process",
                started_at=str(running.get("startedAt") or ""),
                finished_at=now or rfc3339(),
                container_id=str(previous.get("containerID") or ""),
            )
        )
    return container


# --- restarts ---------------------------------------------------------------------------


def should_restart(policy: str, code: int) -> bool:
    """Return whether a container that exited with `code` runs again."""
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return code != 0
    return False


@dataclass
class Backoff:
    """The delay before a restart: `initial`, doubling up to `cap`.

    A run that lasted `reset_after` seconds starts the sequence over, like the kubelet.
    """

    initial: float = 1.0
    cap: float = 60.0
    reset_after: float = 600.0
    _next: float = 0.0

    def delay(self, ran_for: float) -> float:
        """Return the delay before the next start, after a run of `ran_for` seconds."""
        if self._next == 0.0 or ran_for >= self.reset_after:
            self._next = self.initial
        current = self._next
        self._next = min(self.cap, current * 2)
        return current


# --- probes -----------------------------------------------------------------------------


@dataclass
class ProbeTracker:
    """Consecutive results of one probe and what they add up to."""

    probe: Probe
    next_at: float
    result: bool | None = None  # None: not decided yet
    successes: int = 0
    failures: int = 0

    @classmethod
    def start(cls, probe: Probe, now: float) -> ProbeTracker:
        """Track a probe of a container that started at `now`."""
        return cls(probe, next_at=now + probe.initial_delay)

    def due(self, now: float) -> bool:
        """Return whether the probe should run now."""
        return now >= self.next_at

    def record(self, ok: bool, now: float) -> bool | None:
        """Add one result; return the (possibly unchanged) overall result."""
        self.next_at = now + self.probe.period
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.probe.success_threshold:
                self.result = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= self.probe.failure_threshold:
                self.result = False
        return self.result


# --- the Pod ----------------------------------------------------------------------------


def pod_phase(policy: str, containers: Sequence[Container], terminal: bool = False) -> str:
    """Return the Pod's phase from its containers, as the kubelet computes it.

    `terminal` means nothing will run again (the Pod is being deleted): stopped
    containers then make the Pod Succeeded or Failed whatever the restart policy.
    """
    waiting = running = stopped = succeeded = 0
    for container in containers:
        if container.state == "running":
            running += 1
        elif container.state == "terminated" and container.terminated is not None:
            stopped += 1
            succeeded += container.terminated.exit_code == 0
        elif container.last is not None:
            # Waiting to restart: it has run, so the Pod is past Pending.
            stopped += 1
        else:
            waiting += 1
    if waiting or not (running or stopped):
        return "Pending"
    if running:
        return "Running"
    if terminal or policy == "Never":
        return "Succeeded" if stopped == succeeded else "Failed"
    if policy == "OnFailure" and stopped == succeeded:
        return "Succeeded"
    return "Running"  # Always, or OnFailure restarting the failed ones


Condition = tuple[bool, str, str]  # status, reason, message


def pod_conditions(phase: str, containers: Sequence[Container]) -> dict[str, Condition]:
    """Return the conditions the kubelet owns, by type."""
    if phase == "Succeeded":
        not_ready: Condition = (False, "PodCompleted", "")
        ready = not_ready
    else:
        unready = [c.name for c in containers if not c.ready]
        message = f"containers with unready status: [{' '.join(unready)}]"
        ready = (True, "", "") if not unready else (False, "ContainersNotReady", message)
    return {
        "PodReadyToStartContainers": (True, "", ""),
        "Initialized": (True, "", ""),
        "ContainersReady": ready,
        "Ready": ready,
        "PodScheduled": (True, "", ""),
    }


def condition_manifests(
    current: Mapping[str, Condition], previous: Mapping[str, Manifest], now: str
) -> list[Manifest]:
    """Return conditions as the API's list; a transition time moves only on a change."""
    manifests = []
    for kind, (status, reason, message) in current.items():
        text = "True" if status else "False"
        before = previous.get(kind)
        since = before["lastTransitionTime"] if before and before["status"] == text else now
        condition: Manifest = {"type": kind, "status": text, "lastTransitionTime": since}
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        manifests.append(condition)
    return manifests


@dataclass
class PodStatus:
    """The status a Pod's worker builds and patches, remembering condition transitions."""

    start_time: str = field(default_factory=rfc3339)
    conditions: dict[str, Manifest] = field(default_factory=dict)

    def build(
        self,
        policy: str,
        containers: Sequence[Container],
        terminal: bool = False,
        now: str | None = None,
    ) -> Manifest:
        """Return the Pod's status."""
        phase = pod_phase(policy, containers, terminal)
        conditions = condition_manifests(
            pod_conditions(phase, containers), self.conditions, now or rfc3339()
        )
        self.conditions = {c["type"]: c for c in conditions}
        return {
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": [c.manifest() for c in containers],
            "hostIP": LOCALHOST,
            "hostIPs": [{"ip": LOCALHOST}],
            "podIP": LOCALHOST,
            "podIPs": [{"ip": LOCALHOST}],
            "startTime": self.start_time,
        }


def status_patch(sent: Manifest | None, current: Manifest) -> Manifest | None:
    """Return the status patch to send, or None when the API already has `current`."""
    if sent == current:
        return None
    return {"status": current}
