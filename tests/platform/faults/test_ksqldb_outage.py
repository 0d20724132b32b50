"""ksqlDB hanging, then failing, then losing answers: conditions say so, recovery is exact.

The double first holds every request past the operator's call deadline, then answers
503, then comes back but loses the answers to two statements it did run (a connection
cut after ksqlDB accepted the command). The monitor must show `QueriesReady=False`,
`KsqlDbUnavailable` with `Reconciling=True` while its workloads and topics stay ready,
then become Ready with every object created exactly once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from kubernetes import client

from brandmon_operator import api, ksql
from tests.ksqldb_double import KsqlDbDouble
from tests.platform.conftest import OperatorProcess, eventually
from tests.platform.test_operator import condition, create_monitor, get_monitor, is_ready, sample
from tests.platform.test_topics_queries import names

CREATED = re.compile(r"CREATE (?:OR REPLACE )?(?:STREAM|TABLE) (?:IF NOT EXISTS )?(\w+)")
LOST = {"@type": "generic_error", "error_code": 50000, "message": "connection reset by peer"}


def test_ksqldb_hang_and_errors_show_in_conditions_and_recovery_applies_each_statement_once(
    kube: client.ApiClient,
    namespace: str,
    topic_prefix: str,
    ksqldb: KsqlDbDouble,
    run_operator: Callable[..., OperatorProcess],
) -> None:
    run_operator(namespace, resync_seconds=60)
    ksqldb.set_unavailable(True, mode="hang")
    prefix = ksql.object_prefix(namespace, "acme")
    body = sample()
    create_monitor(kube, namespace, body)

    def queries_condition() -> dict[str, Any] | None:
        return condition(get_monitor(kube, namespace, "acme"), "QueriesReady")

    def unavailable_with(text: str) -> dict[str, Any] | None:
        found = queries_condition()
        if found and found["reason"] == "KsqlDbUnavailable" and text in found["message"]:
            return found
        return None

    # A hung server: the client gives up at its deadline (15 s) and says why.
    found = eventually(
        lambda: unavailable_with("no complete answer within"), timeout=45, what="a timeout"
    )
    assert found["status"] == "False"
    monitor = get_monitor(kube, namespace, "acme")
    summary = {c: condition(monitor, c) for c in ("Ready", "Reconciling", "Stalled")}
    assert {c: (v or {}).get("status") for c, v in summary.items()} == {
        "Ready": "False", "Reconciling": "True", "Stalled": "False"}  # fmt: skip
    assert (summary["Reconciling"] or {})["reason"] == "KsqlDbUnavailable"
    for concern in ("TopicsReady", "WorkloadsReady"):  # the other concerns carry on
        assert (condition(monitor, concern) or {}).get("status") == "True", concern

    # 503s: the reason stays, the message says so (not the server's body). The circuit
    # opened during the hang: its next trial call meets the 503.
    ksqldb.set_unavailable(True)
    eventually(lambda: unavailable_with("HTTP 503"), timeout=90, what="503s")
    assert ksqldb.executed == []

    # Back, but the answers to two statements that ran are lost.
    # A plain source and a join, which ksqlDB cannot upgrade in place.
    ksqldb.fail_next(500, LOST, execute=True, statement="CREATE STREAM")
    ksqldb.fail_next(
        500, LOST, execute=True, statement=f"CREATE TABLE IF NOT EXISTS {prefix}SCORED_POSTS"
    )
    ksqldb.set_unavailable(False)
    eventually(lambda: is_ready(kube, namespace, "acme"), timeout=90, what="Ready after recovery")
    assert ksqldb.pending_faults == 0  # both answers were lost

    spec = api.BrandMonitorSpec.model_validate(body["spec"])
    statements = ksql.statements(namespace, "acme", spec, names(namespace, topic_prefix))
    creates = Counter(m[1] for s in ksqldb.executed if (m := CREATED.match(s)))
    assert creates == Counter(s.name for s in statements)  # each exactly once
    assert [s for s in ksqldb.executed if not CREATED.match(s)] == []  # no drop, no terminate
    recorded = get_monitor(kube, namespace, "acme")["status"]["queries"]
    assert [q["name"] for q in recorded] == [s.name for s in statements]
    assert all(bool(q.get("queryId")) == s.query for q, s in zip(recorded, statements, strict=True))
