"""Kafka topics (real broker) and ksqlDB queries (contract double) as reconciled resources."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
)
from kubernetes import client

from brandmon_operator import api, ksql
from brandmon_operator.reconcile import MANAGED_ANNOTATION
from brandmon_workers.contract.topics import TopicNames, TopicRole
from tests.ksqldb_double import KsqlDbDouble
from tests.platform.conftest import OperatorProcess, eventually
from tests.platform.test_operator import (
    condition,
    create_monitor,
    get_monitor,
    is_ready,
    objects,
    patch_spec,
    sample,
)


def names(namespace: str, topic_prefix: str, monitor: str = "acme") -> TopicNames:
    return TopicNames(prefix=topic_prefix.rstrip("."), namespace=namespace, monitor=monitor)


def topic_config(admin: AdminClient, topic: str, key: str) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    return str(config[key].value)


def partitions(admin: AdminClient, topic: str) -> int:
    return len(admin.list_topics(topic, timeout=10).topics[topic].partitions)


def ksql_post(double: KsqlDbDouble, statement: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - the local double
        f"{double.url}/ksql", data=json.dumps({"ksql": statement}).encode(),
        headers={"Content-Type": "application/vnd.ksql.v1+json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local double
        result: list[dict[str, Any]] = json.loads(response.read())
        return result


def writes_sent(double: KsqlDbDouble, since: int = 0) -> list[str]:
    return [
        r
        for r in double.requests[since:]
        if r.lstrip().upper().startswith(("CREATE", "DROP", "TERMINATE"))
    ]


def condition_status(kube: client.ApiClient, namespace: str, type_: str) -> tuple[str, str] | None:
    found = condition(get_monitor(kube, namespace, "acme"), type_)
    return (found["status"], found["reason"]) if found else None


def test_sample_gets_its_topics_and_statements_in_order_and_is_ready(
    kube: client.ApiClient, namespace: str, topic_prefix: str, kafka_admin: AdminClient,
    ksqldb: KsqlDbDouble, run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    run_operator(namespace)
    body = sample()
    create_monitor(kube, namespace, body)
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready")
    status = get_monitor(kube, namespace, "acme")["status"]
    assert condition_status(kube, namespace, "TopicsReady") == ("True", "TopicsInSync")
    assert condition_status(kube, namespace, "QueriesReady") == ("True", "QueriesRunning")

    topic_names = names(namespace, topic_prefix).all()
    assert {t["name"] for t in status["topics"]} == set(topic_names.values())
    assert all(t["topicId"] and t["partitions"] == 3 for t in status["topics"])
    posts = topic_names[TopicRole.POSTS]
    assert partitions(kafka_admin, posts) == 3
    assert topic_config(kafka_admin, posts, "retention.ms") == str(7 * 86400 * 1000)
    assert (
        topic_config(kafka_admin, topic_names[TopicRole.PROFILES], "cleanup.policy")
        == "compact,delete"
    )

    spec = api.BrandMonitorSpec.model_validate(body["spec"])
    expected = ksql.statements(namespace, "acme", spec, names(namespace, topic_prefix))
    sent = writes_sent(ksqldb)
    assert sent == [
        s.create("if-not-exists") for s in expected
    ]  # one per call, in dependency order
    queries = {q["name"]: q for q in status["queries"]}
    assert [q["name"] for q in status["queries"]] == [s.name for s in expected]
    for statement in expected:
        assert queries[statement.name]["digest"] == statement.digest
        assert bool(queries[statement.name].get("queryId")) == statement.query
    # ksqlDB's own sinks got their topics (the double creates them in the real broker).
    sinks = {s.topic for s in expected if s.owns_topic}
    assert sinks <= set(kafka_admin.list_topics(timeout=10).topics)


def test_unchanged_statements_are_never_resent(
    kube: client.ApiClient, namespace: str, ksqldb: KsqlDbDouble, run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    operator = run_operator(namespace, resync_seconds=2)
    create_monitor(kube, namespace, sample())
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready")
    mark = len(ksqldb.requests)
    operator.stop()
    operator.start()  # a restart re-reads everything from the status, resends nothing
    eventually(lambda: len(ksqldb.requests) > mark + 6, timeout=60, what="a few resyncs")
    assert writes_sent(ksqldb, mark) == []


def ready_builtin_monitor(
    kube: client.ApiClient, namespace: str, run_operator: Callable[..., OperatorProcess]
) -> None:
    """Run an operator with a fast timer and wait for a builtin-engine acme to be Ready."""
    run_operator(namespace, resync_seconds=2)
    body = sample()
    body["spec"]["processing"] = {"engine": "builtin"}
    create_monitor(kube, namespace, body)
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready")


def test_topic_drift_is_repaired_and_recreation_reported(
    kube: client.ApiClient, namespace: str, topic_prefix: str, kafka_admin: AdminClient,
    run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    ready_builtin_monitor(kube, namespace, run_operator)
    topic_names = names(namespace, topic_prefix).all()
    media = topic_names[TopicRole.MEDIA]
    old_id = {
        t["name"]: t["topicId"] for t in get_monitor(kube, namespace, "acme")["status"]["topics"]
    }[media]

    kafka_admin.delete_topics([media])[media].result(timeout=30)
    alerts = topic_names[TopicRole.ALERTS]
    entry = ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ConfigResource.Type.TOPIC, alerts, incremental_configs=[entry])
    kafka_admin.incremental_alter_configs([resource])[resource].result(timeout=30)

    def repaired() -> bool:
        status = get_monitor(kube, namespace, "acme").get("status", {})
        ids = {t["name"]: t["topicId"] for t in status.get("topics", [])}
        return ids.get(media, old_id) != old_id and topic_config(
            kafka_admin, alerts, "retention.ms"
        ) == str(7 * 86400 * 1000)

    eventually(repaired, timeout=60, what="the recreated topic and the restored retention")
    recreated = condition(get_monitor(kube, namespace, "acme"), "TopicsRecreated")
    assert recreated is not None
    assert recreated["status"] == "True"
    assert media in recreated["message"]
    # kopf posts events asynchronously: the status can be there before them.
    warnings = events_with_reason(kube, namespace, "TopicRecreated")
    assert warnings[0].type == "Warning"

    patch_spec(kube, namespace, "acme", {"topics": {"partitions": 5}})
    eventually(
        lambda: partitions(kafka_admin, topic_names[TopicRole.POSTS]) == 5,
        what="partitions grown to 5",
    )
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready after growing")


def test_partition_decrease_is_refused_and_nothing_is_sent(
    kube: client.ApiClient, namespace: str, topic_prefix: str, kafka_admin: AdminClient,
    run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    ready_builtin_monitor(kube, namespace, run_operator)
    posts = names(namespace, topic_prefix).of(TopicRole.POSTS)
    # Someone grew the topic outside: the spec's 3 would now be a decrease.
    kafka_admin.create_partitions([NewPartitions(posts, 6)])[posts].result(timeout=30)

    def stalled() -> bool:
        found = condition(get_monitor(kube, namespace, "acme"), "Stalled")
        return bool(found and found["status"] == "True" and found["reason"] == "TopicChangeRefused")

    eventually(stalled, timeout=60, what="Stalled=True TopicChangeRefused")
    message = condition(get_monitor(kube, namespace, "acme"), "Ready")
    assert message is not None
    assert posts in message["message"]
    assert partitions(kafka_admin, posts) == 6


def test_kafka_unreachable_is_retried_and_shown(
    kube: client.ApiClient, namespace: str, run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    run_operator(namespace, allow_custom_endpoints="true")
    body = sample()
    body["spec"]["connections"] = {"kafka": {"bootstrapServers": "127.0.0.1:1"}}
    create_monitor(kube, namespace, body)

    def reconciling() -> bool:
        found = condition(get_monitor(kube, namespace, "acme"), "Reconciling")
        return bool(found and found["status"] == "True" and found["reason"] == "KafkaUnavailable")

    eventually(reconciling, timeout=45, what="Reconciling=True KafkaUnavailable")
    assert condition_status(kube, namespace, "Ready") == ("False", "KafkaUnavailable")
    assert condition_status(kube, namespace, "QueriesReady") == ("False", "WaitingForTopics")
    # Workloads do not wait for Kafka.
    assert condition_status(kube, namespace, "WorkloadsReady") == ("True", "WorkloadsApplied")
    patch_spec(kube, namespace, "acme", {"connections": None})
    eventually(
        lambda: is_ready(kube, namespace, "acme"), timeout=60, what="Ready once Kafka is reachable"
    )


def events_with_reason(kube: client.ApiClient, namespace: str, reason: str) -> list[Any]:
    """Wait for the operator's events of a reason (kopf posts them asynchronously)."""
    found: list[Any] = eventually(
        lambda: (
            client.CoreV1Api(kube)
            .list_namespaced_event(namespace, field_selector=f"reason={reason}")
            .items
        ),
        timeout=60,
        what=f"a {reason} event",
    )
    return found


def test_query_drift_is_repaired(
    kube: client.ApiClient, namespace: str, ksqldb: KsqlDbDouble, run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    run_operator(namespace, resync_seconds=2)
    create_monitor(kube, namespace, sample())
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready")
    prefix = ksql.object_prefix(namespace, "acme")
    queries = {q["name"]: q for q in get_monitor(kube, namespace, "acme")["status"]["queries"]}
    alerts_query = queries[f"{prefix}ALERTS"]["queryId"]
    ksql_post(ksqldb, f"TERMINATE {alerts_query};")
    ksql_post(ksqldb, f"DROP TABLE {prefix}FINAL_OUTPUT;")

    def repaired() -> bool:
        listed = ksql_post(ksqldb, "SHOW QUERIES;")[0]["queries"]
        sinks = {sink for q in listed for sink in q["sinks"]}
        return {f"{prefix}ALERTS", f"{prefix}FINAL_OUTPUT"} <= sinks

    eventually(repaired, timeout=60, what="the terminated query and the dropped table recreated")
    # The reconcile that repaired them reports it when it ends, a moment after ksqlDB has them.
    events_with_reason(kube, namespace, "QueryRepaired")


def test_threshold_change_upgrades_alerts_in_place_and_replaces_aggregates(
    kube: client.ApiClient, namespace: str, ksqldb: KsqlDbDouble, run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    run_operator(namespace)
    create_monitor(kube, namespace, sample())
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready")
    prefix = ksql.object_prefix(namespace, "acme")
    before = {
        q["name"]: q.get("queryId")
        for q in get_monitor(kube, namespace, "acme")["status"]["queries"]
    }
    mark = len(ksqldb.requests)
    patch_spec(kube, namespace, "acme", {"scoring": {"alertThreshold": 0.5}})
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready at the new generation")
    sent = [s.split("\n")[0] for s in writes_sent(ksqldb, mark)]
    assert sent == [
        f"DROP TABLE IF EXISTS {prefix}FINAL_OUTPUT DELETE TOPIC;",
        f"DROP TABLE IF EXISTS {prefix}ACCOUNT_RISK DELETE TOPIC;",
        f"CREATE OR REPLACE STREAM {prefix}ALERTS WITH (KAFKA_TOPIC="
        + sent[2].split("KAFKA_TOPIC=", 1)[1],
        f"CREATE TABLE IF NOT EXISTS {prefix}ACCOUNT_RISK WITH (KAFKA_TOPIC="
        + sent[3].split("KAFKA_TOPIC=", 1)[1],
        f"CREATE TABLE IF NOT EXISTS {prefix}FINAL_OUTPUT WITH (KAFKA_TOPIC="
        + sent[4].split("KAFKA_TOPIC=", 1)[1],
    ]
    after = {
        q["name"]: q.get("queryId")
        for q in get_monitor(kube, namespace, "acme")["status"]["queries"]
    }
    assert after[f"{prefix}ALERTS"] == before[f"{prefix}ALERTS"]  # upgraded in place
    assert after[f"{prefix}ACCOUNT_RISK"] != before[f"{prefix}ACCOUNT_RISK"]  # replaced


def test_ksqldb_outage_and_rejection_show_in_status(
    kube: client.ApiClient, namespace: str, ksqldb: KsqlDbDouble, run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    # A long timer: the rejection below must be what the update handler sees, not a resync.
    run_operator(namespace, resync_seconds=60)
    ksqldb.set_unavailable(True)
    create_monitor(kube, namespace, sample())

    def unavailable() -> bool:
        return condition_status(kube, namespace, "QueriesReady") == ("False", "KsqlDbUnavailable")

    eventually(unavailable, timeout=60, what="QueriesReady=False KsqlDbUnavailable")
    assert condition_status(kube, namespace, "Reconciling") == ("True", "KsqlDbUnavailable")
    ksqldb.set_unavailable(False)
    eventually(lambda: is_ready(kube, namespace, "acme"), timeout=60, what="Ready after the outage")

    message = "line 1:1: mismatched input 'SELEC' expecting {'SELECT'}"
    ksqldb.fail_next(
        400, {"@type": "statement_error", "error_code": 40001, "message": message, "entities": []}
    )
    patch_spec(kube, namespace, "acme", {"scoring": {"alertThreshold": 0.6}})

    def stalled() -> dict[str, Any] | None:
        found = condition(get_monitor(kube, namespace, "acme"), "Stalled")
        return found if found and found["status"] == "True" else None

    found = eventually(stalled, timeout=60, what="Stalled with ksqlDB's message")
    assert found["reason"] == "StatementRejected"
    assert message in found["message"]


def _delete_and_wait(kube: client.ApiClient, namespace: str) -> None:
    objects(kube).delete_namespaced_custom_object(
        api.GROUP, api.VERSION, namespace, api.PLURAL, "acme"
    )

    def gone() -> bool:
        listed = objects(kube).list_namespaced_custom_object(
            api.GROUP, api.VERSION, namespace, api.PLURAL
        )
        assert isinstance(listed, dict)
        return not listed["items"]

    eventually(gone, timeout=60, what="the monitor to be deleted (finalizer done)")


def test_delete_with_retain_keeps_topics_and_drops_queries(
    kube: client.ApiClient, namespace: str, topic_prefix: str, kafka_admin: AdminClient,
    ksqldb: KsqlDbDouble, run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    run_operator(namespace)
    create_monitor(kube, namespace, sample())
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready")
    _delete_and_wait(kube, namespace)
    existing = set(kafka_admin.list_topics(timeout=10).topics)
    assert set(names(namespace, topic_prefix).all().values()) <= existing
    prefix = ksql.object_prefix(namespace, "acme")
    listed = (
        ksql_post(ksqldb, "SHOW STREAMS;")[0]["streams"]
        + ksql_post(ksqldb, "SHOW TABLES;")[0]["tables"]
    )
    assert [s["name"] for s in listed if s["name"].startswith(prefix)] == []
    drops = [r.split()[4].rstrip(";") for r in ksqldb.requests if r.startswith("DROP")]
    spec = api.BrandMonitorSpec.model_validate(sample()["spec"])
    statements = ksql.statements(namespace, "acme", spec, names(namespace, topic_prefix))
    assert sorted(drops) == sorted(s.name for s in statements)
    for statement in statements:  # every reader goes before what it reads
        assert all(
            drops.index(statement.name) < drops.index(source) for source in statement.sources
        )
    assert all("DELETE TOPIC" not in r for r in ksqldb.requests)


def test_delete_with_delete_policy_removes_topics_and_ksql_sinks(
    kube: client.ApiClient, namespace: str, topic_prefix: str, kafka_admin: AdminClient,
    run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    run_operator(namespace)
    body = sample()
    body["spec"]["deletionPolicy"] = "Delete"
    create_monitor(kube, namespace, body)
    eventually(lambda: is_ready(kube, namespace, "acme"), what="Ready")
    mine = names(namespace, topic_prefix)
    monitor_prefix = f"{mine.prefix}.{namespace}.acme."
    assert any(
        t.startswith(monitor_prefix + "ksql.") for t in kafka_admin.list_topics(timeout=10).topics
    )
    _delete_and_wait(kube, namespace)
    eventually(lambda: not [t for t in kafka_admin.list_topics(timeout=10).topics if t.startswith(monitor_prefix)],
               timeout=60, what="every topic of the monitor deleted")  # fmt: skip


def test_unmanaged_annotation_lets_a_monitor_go_without_kafka(
    kube: client.ApiClient, namespace: str, run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    run_operator(namespace, allow_custom_endpoints="true")
    body = sample()
    body["spec"]["deletionPolicy"] = "Delete"
    body["spec"]["connections"] = {"kafka": {"bootstrapServers": "127.0.0.1:1"}}
    create_monitor(kube, namespace, body)
    eventually(lambda: condition_status(kube, namespace, "TopicsReady") == ("False", "KafkaUnavailable"),
               timeout=45, what="TopicsReady=False")  # fmt: skip
    objects(kube).patch_namespaced_custom_object(
        api.GROUP, api.VERSION, namespace, api.PLURAL, "acme",
        {"metadata": {"annotations": {MANAGED_ANNOTATION: "false"}}},
    )  # fmt: skip
    _delete_and_wait(kube, namespace)
