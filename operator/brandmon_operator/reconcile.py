"""One level-based, idempotent reconcile of a BrandMonitor's Kubernetes workloads.

Handlers call `reconcile_workloads()`; it compares what the builders want with what the
cluster has, applies only the difference, and reports a `Concern` for the status. Safe to
run any number of times, from any state (including after the operator was killed halfway).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from http import HTTPStatus

import urllib3
from kubernetes.client.exceptions import ApiException

from brandmon_operator import builders, diff, status
from brandmon_operator.cluster import Cluster
from brandmon_operator.settings import OperatorSettings
from brandmon_operator.status import Concern

WORKLOADS_READY = "WorkloadsReady"


@dataclass
class Outcome:
    """What a reconcile did and how it went."""

    concern: Concern
    created: list[diff.Key] = field(default_factory=list)
    updated: list[diff.Key] = field(default_factory=list)
    deleted: list[diff.Key] = field(default_factory=list)
    workloads: dict[str, str] = field(default_factory=dict)
    # A transient failure: the handler should retry with backoff.
    retry: bool = False


def _api_message(error: ApiException) -> str:
    try:
        return str(json.loads(str(error.body))["message"])
    except (ValueError, KeyError, TypeError):
        return f"{error.status} {error.reason}"


def reconcile_workloads(
    cluster: Cluster, monitor: builders.Monitor, settings: OperatorSettings, logger: logging.Logger
) -> Outcome:
    """Bring the monitor's ConfigMap, CronJobs and Deployments to the desired state."""
    desired = builders.desired_children(monitor, settings)
    workloads = {m["metadata"]["name"]: m["kind"] for m in desired}
    outcome = Outcome(Concern(WORKLOADS_READY, True, "WorkloadsApplied"), workloads=workloads)
    current_key: diff.Key | None = None
    try:
        live = cluster.list_children(monitor.namespace, builders.children_selector(monitor.name))
        plan = diff.plan(desired, live, monitor.uid)
        for manifest in plan.create + plan.update:
            current_key = diff.key(manifest)
            cluster.apply(manifest)
            (outcome.created if manifest in plan.create else outcome.updated).append(current_key)
            logger.info(
                "%s %s", "Created" if manifest in plan.create else "Updated", "/".join(current_key)
            )
        for kind, name in plan.delete:
            current_key = (kind, name)
            cluster.delete(kind, monitor.namespace, name)
            outcome.deleted.append(current_key)
            logger.info("Deleted %s/%s", kind, name)
    except ApiException as error:
        what = "/".join(current_key) if current_key else "children"
        message = f"{what}: {_api_message(error)}"
        if error.status in (HTTPStatus.UNPROCESSABLE_ENTITY, HTTPStatus.BAD_REQUEST):
            # The API server refuses what the spec asks for: only a spec change helps.
            outcome.concern = Concern(
                WORKLOADS_READY, False, "WorkloadRejected", message, stalled=True
            )
        else:
            outcome.concern = Concern(WORKLOADS_READY, False, "ApiError", message)
            outcome.retry = True
    except (OSError, urllib3.exceptions.HTTPError) as error:  # refused, reset, timed out
        outcome.concern = Concern(WORKLOADS_READY, False, "ApiUnreachable", str(error))
        outcome.retry = True
    return outcome


def desired_status(
    monitor: builders.Monitor, outcome: Outcome, current: dict[str, object], timestamp: str
) -> dict[str, object]:
    """Return the status the monitor should have after this reconcile."""
    old_conditions = current.get("conditions")
    return {
        "observedGeneration": monitor.generation,
        "conditions": status.merge(
            old_conditions if isinstance(old_conditions, list) else [],
            status.conditions([outcome.concern]),
            monitor.generation,
            timestamp,
        ),
        "sourceCount": len(monitor.spec.sources),
        "workloads": outcome.workloads,
    }
