"""Pure comparison of desired and live objects: what a reconcile must change.

A child is in sync when every field we set has the value we want; fields the API server or
controllers add (defaults, status, managedFields) do not matter. Comparing before applying
is what keeps an idle operator from writing to the API server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]
Key = tuple[str, str]  # (kind, name)


def contains(live: Any, desired: Any) -> bool:
    """Return whether `live` holds every value of `desired` (lists compared element-wise)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            contains(live[k], v) if k in live else _empty(v) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(a, b) for a, b in zip(live, desired, strict=True))
        )
    return bool(live == desired)


def _empty(value: Any) -> bool:
    # The API server omits empty lists and maps (omitempty): absent equals empty.
    return value in ([], {})


def key(manifest: Manifest) -> Key:
    """Return the (kind, name) identity of a manifest."""
    return manifest["kind"], manifest["metadata"]["name"]


def owned_by(live: Manifest, uid: str) -> bool:
    """Return whether the monitor with `uid` is the live object's controller."""
    refs = live.get("metadata", {}).get("ownerReferences") or []
    return any(r.get("uid") == uid and r.get("controller") for r in refs)


@dataclass
class Plan:
    """What to change: objects to create or update, and objects to delete."""

    create: list[Manifest] = field(default_factory=list)
    update: list[Manifest] = field(default_factory=list)
    delete: list[Key] = field(default_factory=list)
    in_sync: list[Key] = field(default_factory=list)
    foreign: list[Key] = field(default_factory=list)
    """Wanted names held by objects this monitor does not control: never taken over."""

    @property
    def empty(self) -> bool:
        """Whether nothing needs to change."""
        return not (self.create or self.update or self.delete)


def plan(desired: list[Manifest], live: dict[Key, Manifest], owner_uid: str) -> Plan:
    """Compare desired children with the live ones carrying the monitor's labels."""
    result = Plan()
    wanted = {key(m) for m in desired}
    for manifest in desired:
        current = live.get(key(manifest))
        if current is None:
            result.create.append(manifest)
        elif not owned_by(current, owner_uid):
            # It carries the monitor's labels but not its controller reference: labels
            # are anyone's to set, so that proves nothing.
            result.foreign.append(key(manifest))
        elif contains(current, manifest):
            result.in_sync.append(key(manifest))
        else:
            result.update.append(manifest)
    for identity, current in sorted(live.items()):
        # Only delete what this monitor controls; a same-labelled stranger stays.
        if identity not in wanted and owned_by(current, owner_uid):
            result.delete.append(identity)
    return result
