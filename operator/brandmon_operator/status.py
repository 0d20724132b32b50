"""Pure status logic: kstatus conditions from the outcome of each reconcile concern.

`Ready`, `Reconciling` and `Stalled` summarise the per-concern conditions (WorkloadsReady,
later TopicsReady and QueriesReady). `lastTransitionTime` moves only when a condition's
status flips, and `status_patch()` returns nothing when the status would not change, so
an idle operator never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"


@dataclass(frozen=True)
class Concern:
    """The outcome of one part of a reconcile."""

    type: str
    ok: bool
    reason: str
    message: str = ""
    # Terminal: retrying cannot help until the spec changes.
    stalled: bool = False


def _condition(type_: str, ok: bool, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
    }


def conditions(concerns: list[Concern]) -> list[dict[str, Any]]:
    """Return the summary conditions followed by one per concern (no timestamps yet)."""
    failing = [c for c in concerns if not c.ok]
    stalled = [c for c in failing if c.stalled]
    if not failing:
        summary = [
            _condition(READY, True, "Reconciled", "All concerns are ready."),
            _condition(RECONCILING, False, "Reconciled", ""),
            _condition(STALLED, False, "Reconciled", ""),
        ]
    elif stalled:
        first = stalled[0]
        text = f"{first.type}: {first.message}"
        summary = [
            _condition(READY, False, first.reason, text),
            _condition(RECONCILING, False, first.reason, ""),
            _condition(STALLED, True, first.reason, text),
        ]
    else:
        first = failing[0]
        text = f"{first.type}: {first.message}"
        summary = [
            _condition(READY, False, first.reason, text),
            _condition(RECONCILING, True, first.reason, text),
            _condition(STALLED, False, first.reason, ""),
        ]
    return summary + [_condition(c.type, c.ok, c.reason, c.message) for c in concerns]


def now() -> str:
    """Return the current time as Kubernetes writes it (RFC 3339, seconds, Z)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(
    old: list[dict[str, Any]], new: list[dict[str, Any]], generation: int, timestamp: str
) -> list[dict[str, Any]]:
    """Stamp new conditions, keeping the old transition time where the status did not flip."""
    previous = {c.get("type"): c for c in old}
    merged = []
    for condition in new:
        before = previous.get(condition["type"]) or {}
        kept = (
            before.get("lastTransitionTime")
            if before.get("status") == condition["status"]
            else None
        )
        merged.append(
            condition | {"observedGeneration": generation, "lastTransitionTime": kept or timestamp}
        )
    return merged


def status_patch(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Return the top-level status fields that differ (empty: write nothing)."""
    return {k: v for k, v in desired.items() if current.get(k) != v}


def grouped_events(events: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Merge Normal events of one reason into one event; Warnings stay one each.

    A new monitor creates about fifteen children and topics; one event per reason keeps
    `kubectl describe` readable and saves the API server a request per child.
    """
    merged: dict[str, list[str]] = {}
    grouped: list[tuple[str, str, str] | str] = []
    for type_, reason, message in events:
        if type_ != "Normal":
            grouped.append((type_, reason, message))
        elif reason in merged:
            merged[reason].append(message)
        else:
            merged[reason] = [message]
            grouped.append(reason)
    return [
        ("Normal", item, "; ".join(merged[item])) if isinstance(item, str) else item
        for item in grouped
    ]
