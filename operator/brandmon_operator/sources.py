"""Pure logic: each source's health from its collector pods, for the monitor's status.

Every collection run is a Job's pod (scheduled by the source's CronJob or started by
hand, as `kubectl create job --from=cronjob/...` does). A finished pod says whether the
run succeeded (its exit code) and what it did (its termination message, the collector's
`SourceResult`). A source is healthy when its last finished run succeeded; a source
without a finished run yet is not counted against the monitor.

A streaming source (Bluesky) has one long-running pod instead of runs: while it runs, its
readiness (connected to the stream, events arriving) is its health, and the time its
readiness last changed stands for the run's end; once it has stopped, its termination
message (what that process sent) is read like a run's.

`SourcesHealthy` is informational: a failing source (Instagram throttling, say) does not
make the monitor un-Ready, since nothing in the spec is wrong and the next run may
succeed; it is what the PR team and alerting on conditions look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from brandmon_operator.api import SourceStatus
from brandmon_workers.contract.sources import SourceResult

SOURCES_HEALTHY = "SourcesHealthy"
SOURCE_ANNOTATION = "brandmon.io/source"
SOURCE_MODE_ANNOTATION = "brandmon.io/source-mode"
STREAMING = "streaming: connected to the stream, events arriving"
NOT_STREAMING = "streaming: not connected or no events for a minute (readiness failing)"
_EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class Run:
    """One collection pod, as far as status needs it."""

    source: str
    started: datetime | None
    finished: datetime | None
    succeeded: bool | None
    """None while running."""
    result: SourceResult | None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None


def run_of(pod: dict[str, Any]) -> Run | None:
    """Read one collector pod (a plain manifest); None when it is not a source's run."""
    annotations = pod.get("metadata", {}).get("annotations") or {}
    source = annotations.get(SOURCE_ANNOTATION)
    if not source:
        return None
    pod_status = pod.get("status") or {}
    phase = pod_status.get("phase")
    if annotations.get(SOURCE_MODE_ANNOTATION) == "stream" and phase in ("Running", "Pending"):
        return _stream_run(source, pod_status)
    terminated: dict[str, Any] = {}
    for container in pod_status.get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
    result = None
    if terminated.get("message"):
        try:
            result = SourceResult.model_validate_json(terminated["message"])
        except ValidationError:
            result = SourceResult(message=terminated["message"][:200])
    succeeded = {"Succeeded": True, "Failed": False}.get(str(phase))
    return Run(
        source=source,
        started=_time(pod_status.get("startTime")),
        finished=_time(terminated.get("finishedAt")) if succeeded is not None else None,
        succeeded=succeeded,
        result=result,
    )


def _stream_run(source: str, pod_status: dict[str, Any]) -> Run:
    ready: dict[str, Any] = next(
        (c for c in pod_status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    healthy = ready.get("status") == "True"
    started = _time(pod_status.get("startTime"))
    return Run(
        source=source,
        started=started,
        finished=_time(ready.get("lastTransitionTime")) or started,
        succeeded=healthy,
        result=SourceResult(message=STREAMING if healthy else NOT_STREAMING),
    )


def source_statuses(names: list[str], runs: list[Run]) -> list[SourceStatus]:
    """Return one status per source that has run at least once, in spec order."""
    statuses = []
    for name in names:
        mine = [r for r in runs if r.source == name]
        if not mine:
            continue
        finished = sorted((r for r in mine if r.finished), key=lambda r: r.finished or _EPOCH)
        started = [r.started for r in mine if r.started is not None]
        successes = [r.finished for r in finished if r.succeeded and r.finished]
        last = finished[-1] if finished else None
        statuses.append(
            SourceStatus(
                name=name,
                healthy=last.succeeded is True if last else True,
                last_schedule_time=max(started) if started else None,
                last_successful_time=max(successes) if successes else None,
                last_result=last.result if last else None,
            )
        )
    return statuses


def sources_condition(statuses: list[SourceStatus]) -> dict[str, str]:
    """Return the SourcesHealthy condition (without timestamps)."""
    failing = [s.name for s in statuses if not s.healthy]
    if failing:
        details = []
        for status in statuses:
            if status.name in failing:
                said = status.last_result.message if status.last_result else ""
                details.append(f"{status.name}: {said}" if said else status.name)
        return {
            "type": SOURCES_HEALTHY,
            "status": "False",
            "reason": "CollectionFailed",
            "message": "last run failed: " + "; ".join(details),
        }
    if not statuses:
        return {
            "type": SOURCES_HEALTHY,
            "status": "Unknown",
            "reason": "NoRunYet",
            "message": "no collection has run yet",
        }
    return {
        "type": SOURCES_HEALTHY,
        "status": "True",
        "reason": "LastRunsSucceeded",
        "message": "",
    }


def last_collection_time(statuses: list[SourceStatus]) -> datetime | None:
    """Return when any source last collected successfully."""
    times = [s.last_successful_time for s in statuses if s.last_successful_time]
    return max(times) if times else None
