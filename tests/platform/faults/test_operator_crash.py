"""The operator SIGKILLed while it reconciles many monitors converges after a restart.

Twenty monitors, a third of them on the ksqlDB engine, so the kill lands between
Kubernetes writes, topic creations and ksqlDB statements. After the restart every monitor
must be Ready with exactly its own children, topics and ksqlDB objects: nothing orphaned,
nothing twice. (tests/platform/test_operator.py has the smaller Kubernetes-only version.)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from confluent_kafka.admin import AdminClient
from kubernetes import client

from brandmon_operator import api, ksql
from tests.ksqldb_double import KsqlDbDouble
from tests.platform.conftest import OperatorProcess, eventually
from tests.platform.test_operator import (
    children,
    create_monitor,
    expected_names,
    get_monitor,
    is_ready,
    sample,
)
from tests.platform.test_topics_queries import ksql_post, names

MONITORS = 20
CREATED = re.compile(r"CREATE (?:OR REPLACE )?(?:STREAM|TABLE) (?:IF NOT EXISTS )?(\w+)")


def monitor_body(index: int) -> dict[str, Any]:
    body = sample()
    body["metadata"]["name"] = f"brand{index:02d}"
    if index % 3:
        body["spec"]["processing"] = {"engine": "builtin"}
    body["spec"]["topics"]["partitions"] = 1 + index % 2
    return body


def expected_statements(namespace: str, prefix: str, body: dict[str, Any]) -> list[ksql.Statement]:
    spec = api.BrandMonitorSpec.model_validate(body["spec"])
    if spec.processing.engine != "ksqldb":
        return []
    name = body["metadata"]["name"]
    return ksql.statements(namespace, name, spec, names(namespace, prefix, name))


def test_operator_killed_mid_reconcile_of_many_monitors_converges_exactly(
    kube: client.ApiClient,
    namespace: str,
    topic_prefix: str,
    kafka_admin: AdminClient,
    ksqldb: KsqlDbDouble,
    run_operator: Callable[..., OperatorProcess],
) -> None:
    bodies = [monitor_body(i) for i in range(MONITORS)]
    for body in bodies:
        create_monitor(kube, namespace, body)
    operator = run_operator(namespace)

    def partway() -> bool:
        # Kill once Kafka and ksqlDB have been written to, well before the end.
        return bool(ksqldb.executed) and bool(children(kube, namespace, "brand01"))

    eventually(partway, timeout=60, what="the first topics, statements and children")
    operator.kill()
    ready_at_kill = [b["metadata"]["name"] for b in bodies
                     if is_ready(kube, namespace, b["metadata"]["name"])]  # fmt: skip
    assert len(ready_at_kill) < MONITORS, "the kill came too late to interrupt anything"
    operator.start()
    for body in bodies:
        name = body["metadata"]["name"]
        eventually(lambda name=name: is_ready(kube, namespace, name), timeout=120,  # type: ignore[misc]
                   what=f"{name} Ready after the restart")  # fmt: skip

    # Kubernetes: each monitor has exactly its children, each controlled by it alone.
    expected_children: dict[str, str] = {}
    for body in bodies:
        name = body["metadata"]["name"]
        uid = get_monitor(kube, namespace, name)["metadata"]["uid"]
        live = children(kube, namespace, name)
        assert {n: c["kind"] for n, c in live.items()} == expected_names(namespace, body)
        for child in live.values():
            refs = child["metadata"]["ownerReferences"]
            assert [(r["uid"], r["controller"]) for r in refs] == [(uid, True)]
        expected_children |= expected_names(namespace, body)
    everything = Counter(expected_children.values())
    assert (
        len(client.AppsV1Api(kube).list_namespaced_deployment(namespace).items)
        == everything["Deployment"]
    )
    assert (
        len(client.BatchV1Api(kube).list_namespaced_cron_job(namespace).items)
        == everything["CronJob"]
    )
    config_maps = client.CoreV1Api(kube).list_namespaced_config_map(namespace).items
    mine = [c for c in config_maps if c.metadata and c.metadata.name != "kube-root-ca.crt"]
    assert len(mine) == everything["ConfigMap"]

    # ksqlDB: exactly the desired objects, each written by exactly one running query.
    statements = [s for b in bodies for s in expected_statements(namespace, topic_prefix, b)]
    assert statements
    listed = (
        ksql_post(ksqldb, "SHOW STREAMS;")[0]["streams"]
        + ksql_post(ksqldb, "SHOW TABLES;")[0]["tables"]
    )
    assert sorted(s["name"] for s in listed) == sorted(s.name for s in statements)
    writers = Counter(
        sink for q in ksql_post(ksqldb, "SHOW QUERIES;")[0]["queries"] for sink in q["sinks"]
    )
    assert writers == Counter(s.name for s in statements if s.query)
    # Each object was created once: a statement that ran before the kill is not run again
    # (IF NOT EXISTS no-ops do not count), and no query was dropped and rebuilt because the
    # kill came before its status was written (the bug this test found).
    creates = Counter(m[1] for s in ksqldb.executed if (m := CREATED.match(s)))
    assert set(creates) == {s.name for s in statements}
    assert {n: c for n, c in creates.items() if c > 1} == {}
    assert [s for s in ksqldb.executed if s.startswith("DROP")] == []

    # Kafka: exactly the monitors' topics and the sinks ksqlDB owns, under this test's prefix.
    want = {
        t
        for b in bodies
        for t in names(namespace, topic_prefix, b["metadata"]["name"]).all().values()
    }
    want |= {s.topic for s in statements if s.owns_topic}
    have = {t for t in kafka_admin.list_topics(timeout=10).topics if t.startswith(topic_prefix)}
    assert have == want
