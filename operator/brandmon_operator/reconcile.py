"""The level-based, idempotent reconcile of one BrandMonitor, concern by concern.

Each concern (Kafka topics, Kubernetes workloads, ksqlDB queries) compares what the spec
wants with what exists, changes only the difference, and returns an `Outcome`: its
condition, the events to post, the status fields it owns, and whether to retry. Safe to
run any number of times, from any state, including after the operator died halfway.
`cleanup()` is the deletion path behind the finalizer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from brandmon_operator import builders, diff, ksql, principals, queries, sources, status, topics
from brandmon_operator.cluster import Cluster
from brandmon_operator.kafka_admin import KafkaTopics, KafkaUnavailable, TopicRejected
from brandmon_operator.ksqldb import KsqlDbClient, KsqlDbRejected, KsqlDbUnavailable
from brandmon_operator.settings import OperatorSettings
from brandmon_workers.contract.topics import TopicNames

WORKLOADS_READY = "WorkloadsReady"
TOPICS_READY = "TopicsReady"
QUERIES_READY = "QueriesReady"
TOPICS_RECREATED = "TopicsRecreated"
# Set to "false" to stop managing the monitor's topics and queries (reconcile and delete
# then leave Kafka and ksqlDB alone, e.g. to let a monitor go while Kafka is gone for good).
MANAGED_ANNOTATION = "brandmon.io/manage-kafka"

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one concern did and how it went."""

    concern: status.Concern
    events: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, reason, message) events to post."""
    status: dict[str, Any] = field(default_factory=dict)
    """The status fields this concern owns."""
    retry: bool = False
    """A transient failure: retry with backoff."""
    extra: list[dict[str, Any]] = field(default_factory=list)
    """Informational conditions beyond the concern's own."""


# --- workloads ------------------------------------------------------------------------


def _api_message(error: ApiException) -> str:
    try:
        return str(json.loads(str(error.body))["message"])
    except (ValueError, KeyError, TypeError):
        return f"{error.status} {error.reason}"


def reconcile_workloads(
    cluster: Cluster, monitor: builders.Monitor, settings: OperatorSettings
) -> Outcome:
    """Bring the monitor's ConfigMap, CronJobs and Deployments to the desired state."""
    desired = builders.desired_children(monitor, settings)
    outcome = Outcome(
        status.Concern(WORKLOADS_READY, True, "WorkloadsApplied"),
        status={"workloads": {m["metadata"]["name"]: m["kind"] for m in desired}},
    )
    current: diff.Key | None = None
    try:
        live = cluster.list_children(monitor.namespace, builders.children_selector(monitor.name))
        plan = diff.plan(desired, live, monitor.uid)
        if plan.foreign:
            outcome.concern = _child_not_owned(plan.foreign)
            return outcome
        for manifest in plan.create:
            current = diff.key(manifest)
            # Not labelled as the monitor's, but the name may be taken: apply would merge
            # into that object and put this monitor's owner reference on it.
            existing = cluster.read(current[0], monitor.namespace, current[1])
            if existing is not None and not diff.owned_by(existing, monitor.uid):
                outcome.concern = _child_not_owned([current])
                return outcome
            cluster.apply(manifest)
            outcome.events.append(("Normal", "Created", f"Created {current[0]} {current[1]}"))
        for manifest in plan.update:
            current = diff.key(manifest)
            cluster.apply(manifest)
            outcome.events.append(("Normal", "Updated", f"Updated {current[0]} {current[1]}"))
        for kind, name in plan.delete:
            current = (kind, name)
            cluster.delete(kind, monitor.namespace, name)
            outcome.events.append(("Normal", "Deleted", f"Deleted {kind} {name}"))
        current = ("Pod", "collector runs")
        _observe_sources(cluster, monitor, outcome)
    except ApiException as error:
        message = f"{'/'.join(current) if current else 'children'}: {_api_message(error)}"
        if error.status in (HTTPStatus.UNPROCESSABLE_ENTITY, HTTPStatus.BAD_REQUEST):
            # The API server refuses what the spec asks for: only a spec change helps.
            outcome.concern = status.Concern(
                WORKLOADS_READY, False, "WorkloadRejected", message, stalled=True
            )
        else:
            outcome.concern = status.Concern(WORKLOADS_READY, False, "ApiError", message)
            outcome.retry = True
    except (OSError, urllib3.exceptions.HTTPError) as error:  # refused, reset, timed out
        outcome.concern = status.Concern(WORKLOADS_READY, False, "ApiUnreachable", str(error))
        outcome.retry = True
    return outcome


def _child_not_owned(keys: list[diff.Key]) -> status.Concern:
    """Return the concern of child names held by objects this monitor does not control."""
    named = ", ".join(f"{kind} {name}" for kind, name in keys)
    message = (
        f"{named} already exists and is not controlled by this monitor; it was left "
        "alone. Rename the monitor or remove that object, and the monitor continues."
    )
    return status.Concern(WORKLOADS_READY, False, "ChildNotOwned", message, stalled=True)


def _observe_sources(cluster: Cluster, monitor: builders.Monitor, outcome: Outcome) -> None:
    selector = builders.children_selector(monitor.name)
    pods = cluster.list_pods(
        monitor.namespace, f"{selector},app.kubernetes.io/component={builders.COLLECTOR}"
    )
    runs = [run for run in map(sources.run_of, pods) if run is not None]
    statuses = sources.source_statuses([s.name for s in monitor.spec.sources], runs)
    outcome.status["sources"] = [
        s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in statuses
    ]
    last = sources.last_collection_time(statuses)
    if last is not None:
        outcome.status["lastCollectionTime"] = last.isoformat().replace("+00:00", "Z")
    outcome.extra.append(sources.sources_condition(statuses))


# --- topics ---------------------------------------------------------------------------


def reconcile_topics(
    kafka: KafkaTopics, monitor: builders.Monitor, names: TopicNames, current: dict[str, Any]
) -> Outcome:
    """Create, grow and correct the monitor's topics; recreate those deleted outside."""
    desired = topics.desired_topics(names, monitor.spec.topics)
    recorded = topics.recorded_topic_ids(current.get("topics"))
    try:
        live = kafka.describe([t.name for t in desired])
        plan = topics.plan_topics(desired, live, recorded)
        if plan.writes:
            kafka.apply(plan)
            live = kafka.describe([t.name for t in desired])
    except KafkaUnavailable as error:
        return Outcome(
            status.Concern(TOPICS_READY, False, "KafkaUnavailable", str(error)), retry=True
        )
    except TopicRejected as error:
        return Outcome(
            status.Concern(TOPICS_READY, False, "TopicRejected", str(error), stalled=True)
        )
    outcome = Outcome(
        status.Concern(TOPICS_READY, True, "TopicsInSync"),
        status={"topics": topics.topic_status(desired, live)},
    )
    for spec in plan.create:
        if spec.name not in plan.recreated:  # recreations get the Warning below instead
            outcome.events.append(("Normal", "TopicCreated", f"Created Kafka topic {spec.name}"))
    for name, count in plan.grow.items():
        outcome.events.append(
            ("Normal", "TopicGrown", f"Grew Kafka topic {name} to {count} partitions")
        )
    for name, changes in plan.alter.items():
        outcome.events.append(
            ("Normal", "TopicConfigured", f"Set {', '.join(sorted(changes))} on {name}")
        )
    if plan.recreated:
        message = "deleted outside Kubernetes and recreated: " + ", ".join(plan.recreated)
        outcome.events.append(("Warning", "TopicRecreated", message))
        outcome.extra.append(
            {
                "type": TOPICS_RECREATED,
                "status": "True",
                "reason": "DeletedOutsideKubernetes",
                "message": message,
            }
        )
    if plan.refused:
        message = "; ".join(f"{name}: {why}" for name, why in sorted(plan.refused.items()))
        outcome.concern = status.Concern(
            TOPICS_READY, False, "TopicChangeRefused", message, stalled=True
        )
    return outcome


def grant_access(kafka: KafkaTopics, found: principals.Principal, password: str) -> Outcome | None:
    """Give the monitor's principal its credential and ACLs; None when that is done."""
    try:
        kafka.grant(found, password)
    except KafkaUnavailable as error:
        return Outcome(
            status.Concern(TOPICS_READY, False, "KafkaUnavailable", str(error)), retry=True
        )
    except TopicRejected as error:
        # E.g. a broker without an authorizer, or an operator principal that is no admin.
        message = f"Kafka refused the access of principal {found.user}: {error}"
        return Outcome(
            status.Concern(TOPICS_READY, False, "KafkaAccessRefused", message, stalled=True)
        )
    return None


def secret_not_owned(name: str) -> status.Concern:
    """Return the refusal of a monitor whose Kafka Secret's name is another object's."""
    return _child_not_owned([("Secret", name)])


# --- ksqlDB ---------------------------------------------------------------------------


def _recorded_queries(current: dict[str, Any]) -> dict[str, queries.Recorded]:
    recorded = {}
    for entry in current.get("queries") or []:
        if isinstance(entry, dict) and {"name", "kind", "digest", "shape"} <= entry.keys():
            recorded[entry["name"]] = queries.Recorded(
                entry["name"], entry["kind"], entry["digest"], entry["shape"],
                tuple(entry.get("sources") or ()), entry.get("queryId"),
            )  # fmt: skip
    return recorded


def _query_status(
    desired: list[ksql.Statement], live: dict[str, queries.LiveObject]
) -> list[dict[str, Any]]:
    entries = []
    for statement in desired:
        found = live.get(statement.name)
        entry: dict[str, Any] = {
            "name": statement.name,
            "kind": statement.kind,
            "digest": statement.digest,
            "shape": statement.shape_digest,
            "sources": list(statement.sources),
        }
        if found is not None and found.query_ids:
            entry["queryId"] = found.query_ids[0]
        entries.append(entry)
    return entries


def _drop_all(
    client: KsqlDbClient, names: list[str], kinds: dict[str, str], delete_topics: set[str]
) -> None:
    """Drop in the given order; retry what ksqlDB refuses because a reader still exists."""
    pending = list(names)
    while pending:
        refused: list[str] = []
        last: KsqlDbRejected | None = None
        for name in pending:
            suffix = " DELETE TOPIC" if name in delete_topics else ""
            try:
                client.execute(f"DROP {kinds.get(name, 'STREAM')} IF EXISTS {name}{suffix};")
            except KsqlDbRejected as error:
                refused.append(name)
                last = error
        if len(refused) == len(pending):
            assert last is not None
            raise last
        pending = refused


def reconcile_queries(
    client: KsqlDbClient | None,
    monitor: builders.Monitor,
    names: TopicNames,
    current: dict[str, Any],
) -> Outcome:
    """Create, upgrade, replace and drop the monitor's ksqlDB objects."""
    recorded = _recorded_queries(current)
    builtin = monitor.spec.processing.engine == "builtin"
    if builtin and not recorded:
        return Outcome(
            status.Concern(
                QUERIES_READY, True, "BuiltinEngine", "engine builtin: no ksqlDB statements"
            )
        )
    if client is None:
        message = (
            "engine ksqldb needs spec.connections.ksqldb.url or the operator's "
            "BRANDMON_OPERATOR_KSQLDB_URL"
        )
        return Outcome(
            status.Concern(QUERIES_READY, False, "NoKsqlDbServer", message, stalled=True)
        )
    desired = (
        [] if builtin else ksql.statements(monitor.namespace, monitor.name, monitor.spec, names)
    )
    statement_of = {s.name: s for s in desired}
    mine = set(statement_of) | set(recorded)
    done: list[tuple[ksql.Statement, ksql.CreateMode]] = []
    dropped: list[str] = []
    repaired: list[str] = []
    forced: set[str] = set()
    try:
        live = client.live_objects(mine)
        for _attempt in range(len(desired) + 1):
            plan = queries.plan_queries(desired, live, recorded, frozenset(forced))
            if plan.foreign:
                return Outcome(_not_owned(plan.foreign))
            repaired += [n for n in plan.repaired if n not in repaired]
            if not plan.writes:
                break
            refused = _execute(
                client, plan, live=live, statement_of=statement_of,
                recorded=recorded, done=done, dropped=dropped,
            )  # fmt: skip
            live = client.live_objects(mine)
            if refused is None:
                break
            # ksqlDB says this change is not an in-place upgrade: plan it as a replace.
            forced.add(refused)
    except KsqlDbUnavailable as error:
        concern = status.Concern(QUERIES_READY, False, "KsqlDbUnavailable", str(error))
        return Outcome(concern, retry=True)
    except KsqlDbRejected as error:
        message = f"ksqlDB refused `{error.statement.strip()[:200]}`: {error}"
        return Outcome(
            status.Concern(QUERIES_READY, False, "StatementRejected", message, stalled=True)
        )
    reason = "BuiltinEngine" if builtin else "QueriesRunning"
    outcome = Outcome(
        status.Concern(QUERIES_READY, True, reason),
        status={"queries": _query_status(desired, live)},
    )
    if repaired:
        message = f"dropped or terminated outside brandmon, recreated: {', '.join(repaired)}"
        outcome.events.append(("Warning", "QueryRepaired", message))
    for statement, mode in done:
        verb = "Upgraded" if mode == "or-replace" else "Created"
        message = f"{verb} ksqlDB {statement.kind} {statement.name}"
        outcome.events.append(("Normal", f"Query{verb}", message))
    for name in dropped:
        if name not in statement_of:
            outcome.events.append(("Normal", "QueryDropped", f"Dropped ksqlDB object {name}"))
    return outcome


def _not_owned(names: list[str]) -> status.Concern:
    """Return the concern of ksqlDB names held by objects this monitor did not create."""
    message = (
        f"ksqlDB already has {', '.join(names)}, not created by this monitor and not what "
        "it would create; nothing was changed. Drop or rename those objects (they are "
        "named for this monitor alone) and the monitor continues."
    )
    return status.Concern(QUERIES_READY, False, "ObjectNotOwned", message, stalled=True)


def _execute(
    client: KsqlDbClient,
    plan: queries.QueryPlan,
    *,
    live: dict[str, queries.LiveObject],
    statement_of: dict[str, ksql.Statement],
    recorded: dict[str, queries.Recorded],
    done: list[tuple[ksql.Statement, ksql.CreateMode]],
    dropped: list[str],
) -> str | None:
    """Send a plan; return the name of a statement ksqlDB refused to upgrade, if any.

    `recorded` is kept current as statements succeed, so a re-plan never repeats them.
    """
    # A replaced sink of ksqlDB's own starts over with a fresh topic; objects the spec no
    # longer wants keep their data until the monitor itself is deleted.
    fresh = {n for n in plan.drop if n in statement_of and statement_of[n].owns_topic}
    _drop_all(client, plan.drop, {n: o.kind for n, o in live.items()}, fresh)
    for name in plan.drop:
        recorded.pop(name, None)
        dropped.append(name)
    for statement, mode in plan.create:
        try:
            client.execute(statement.create(mode))
        except KsqlDbRejected as error:
            if mode == "or-replace" and str(error).startswith("Cannot upgrade"):
                return statement.name
            raise
        done.append((statement, mode))
        recorded[statement.name] = queries.Recorded(
            statement.name,
            statement.kind,
            statement.digest,
            statement.shape_digest,
            statement.sources,
        )
    return None


# --- deletion -------------------------------------------------------------------------


def cleanup(
    kafka: KafkaTopics | None,
    client: KsqlDbClient | None,
    monitor: builders.Monitor,
    names: TopicNames,
    current: dict[str, Any],
    *,
    found: principals.Principal | None = None,
) -> list[str]:
    """Drop the monitor's ksqlDB objects and principal and, under Delete, its topics.

    ksqlDB objects are compute and always go (in reverse dependency order); topics of
    ksqlDB sinks and of the monitor are data and go only under Delete. Raises
    KafkaUnavailable / KsqlDbUnavailable for the finalizer to retry. Returns what it did.
    """
    done: list[str] = []
    delete = monitor.spec.deletion_policy == "Delete"
    recorded = _recorded_queries(current)
    if client is not None and recorded:
        live = client.live_objects(set(recorded))
        graph = {n: r.sources for n, r in recorded.items()}
        order = queries.drop_order(set(live), graph)
        own_sinks = {
            s.name
            for s in ksql.statements(monitor.namespace, monitor.name, monitor.spec, names)
            if s.owns_topic
        }
        _drop_all(
            client, order, {n: o.kind for n, o in live.items()}, own_sinks if delete else set()
        )
        done.append(f"dropped {len(order)} ksqlDB objects")
    if delete and kafka is not None:
        mine = [t.name for t in topics.desired_topics(names, monitor.spec.topics)]
        kafka.delete(mine)
        done.append(f"deleted {len(mine)} Kafka topics")
    if found is not None and kafka is not None:
        # Whatever the deletionPolicy: kept topics are data, a principal is a way in.
        kafka.revoke(found)
        done.append(f"removed Kafka principal {found.user} and its ACLs")
    return done


# --- status ---------------------------------------------------------------------------


def desired_status(
    monitor: builders.Monitor, outcomes: list[Outcome], current: dict[str, Any], timestamp: str
) -> dict[str, Any]:
    """Return the status the monitor should have after this reconcile."""
    old_conditions = current.get("conditions")
    old = old_conditions if isinstance(old_conditions, list) else []
    new = status.conditions([o.concern for o in outcomes])
    extra = [c for o in outcomes for c in o.extra]
    if not any(c["type"] == TOPICS_RECREATED for c in extra):
        # A recreation warning stays until the spec changes, so it is seen, then clears.
        previous = next((c for c in old if c.get("type") == TOPICS_RECREATED), None)
        if previous and previous.get("observedGeneration") == monitor.generation:
            extra += [{k: previous[k] for k in ("type", "status", "reason", "message")}]
    desired: dict[str, Any] = {
        "observedGeneration": monitor.generation,
        "conditions": status.merge(old, new + extra, monitor.generation, timestamp),
        "sourceCount": len(monitor.spec.sources),
    }
    for outcome in outcomes:
        desired.update(outcome.status)
    return desired
