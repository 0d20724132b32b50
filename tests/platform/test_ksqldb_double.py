"""The ksqlDB contract double honours its contract: entities, errors, engine rules, Kafka.

Each test talks HTTP to its own double; doubles with Kafka use the platform's real broker,
so sink topics and DELETE TOPIC are checked with a separate AdminClient.
"""

# ruff: noqa: S608 - building ksqlDB statements from strings is what these tests do

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from tests.ksqldb_double import KsqlDbDouble

MEDIA_TYPE = "application/vnd.ksql.v1+json"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def double(platform_env: dict[str, str]) -> Iterator[KsqlDbDouble]:
    """A double whose sinks live in the platform's broker."""
    with KsqlDbDouble(platform_env["KAFKA_BOOTSTRAP_SERVERS"]) as running:
        yield running


@pytest.fixture
def offline() -> Iterator[KsqlDbDouble]:
    """A double without Kafka: topics are taken on trust."""
    with KsqlDbDouble() as running:
        yield running


def http(
    double: KsqlDbDouble, method: str, path: str, body: bytes | None = None,
    media_type: str = MEDIA_TYPE,
) -> tuple[int, dict[str, str], Any]:  # fmt: skip
    request = urllib.request.Request(  # noqa: S310 - the local double
        double.url + path, data=body, method=method,
        headers={"Content-Type": media_type, "Accept": media_type},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.loads(error.read())


def post(double: KsqlDbDouble, statement: str, **fields: Any) -> tuple[int, Any]:
    body = json.dumps({"ksql": statement, "streamsProperties": {}, **fields}).encode()
    status, _, answer = http(double, "POST", "/ksql", body)
    return status, answer


def ok(double: KsqlDbDouble, statement: str) -> dict[str, Any]:
    status, answer = post(double, statement)
    assert status == 200, answer
    assert len(answer) == 1
    entity: dict[str, Any] = answer[0]
    return entity


def refused(double: KsqlDbDouble, statement: str, code: int = 40001) -> str:
    status, answer = post(double, statement)
    assert status == code // 100, answer
    assert answer["@type"] == "statement_error"
    assert answer["error_code"] == code
    assert answer["entities"] == []
    message: str = answer["message"]
    return message


def make_topic(kafka_admin: AdminClient, name: str, partitions: int = 1) -> str:
    new = NewTopic(name, num_partitions=partitions, replication_factor=1)
    kafka_admin.create_topics([new])[name].result(timeout=30)
    return name


def partitions(kafka_admin: AdminClient, topic: str) -> int | None:
    found = kafka_admin.list_topics(topic, timeout=10).topics.get(topic)
    return None if found is None or found.error is not None else len(found.partitions)


def cleanup_policy(kafka_admin: AdminClient, topic: str) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    config = kafka_admin.describe_configs([resource])[resource].result(timeout=10)
    return str(config["cleanup.policy"].value)


def pages(double: KsqlDbDouble, kafka_admin: AdminClient, prefix: str, count: int = 1) -> str:
    topic = make_topic(kafka_admin, prefix + "pages", count)
    ok(double, f"CREATE STREAM PAGES (ID STRING KEY, USER_ID STRING, VIEWS INT) "
               f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');")  # fmt: skip
    return topic


def users(double: KsqlDbDouble, kafka_admin: AdminClient, prefix: str) -> str:
    topic = make_topic(kafka_admin, prefix + "users")
    ok(double, f"CREATE TABLE USERS (ID STRING PRIMARY KEY, NAME STRING, REGION STRING) "
               f"WITH (KAFKA_TOPIC='{topic}', FORMAT='JSON');")  # fmt: skip
    return topic


def queries(double: KsqlDbDouble) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = ok(double, "SHOW QUERIES;")["queries"]
    return listed


def describe(double: KsqlDbDouble, name: str, extended: bool = False) -> dict[str, Any]:
    entity = ok(double, f"DESCRIBE {'EXTENDED ' if extended else ''}{name};")
    assert entity["@type"] == "sourceDescription"
    description: dict[str, Any] = entity["sourceDescription"]
    return description


# --------------------------------------------------------------------------- server endpoints


def test_info_healthcheck_and_plain_http_errors(double: KsqlDbDouble) -> None:
    status, headers, info = http(double, "GET", "/info")
    assert status == 200
    assert headers["Content-Type"] == MEDIA_TYPE
    assert info["KsqlServerInfo"]["version"] == "0.29.0"
    assert info["KsqlServerInfo"]["serverStatus"] == "RUNNING"
    assert info["KsqlServerInfo"]["ksqlServiceId"] == "default_"
    assert info["KsqlServerInfo"]["kafkaClusterId"]
    status, _, health = http(double, "GET", "/healthcheck")
    assert (status, health["isHealthy"]) == (200, True)
    assert health["details"]["metastore"] == {"isHealthy": True}
    assert health["details"]["kafka"] == {"isHealthy": True}

    assert http(double, "GET", "/nowhere")[0::2] == (
        404, {"@type": "generic_error", "error_code": 40400, "message": "Not Found"},
    )  # fmt: skip
    assert http(double, "GET", "/ksql")[0] == 405
    status, _, error = http(double, "POST", "/ksql", b"{not json")
    assert (status, error["@type"], error["error_code"]) == (400, "generic_error", 40000)
    status, _, error = http(double, "POST", "/ksql", b'{"sql": "SHOW STREAMS;"}')
    assert (status, error["error_code"]) == (400, 40000)


def test_plain_json_is_accepted_and_answered(offline: KsqlDbDouble) -> None:
    body = json.dumps({"ksql": "SHOW STREAMS;"}).encode()
    status, headers, answer = http(offline, "POST", "/ksql", body, media_type="application/json")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert answer == [
        {"@type": "streams", "statementText": "SHOW STREAMS;", "streams": [], "warnings": []}
    ]


# --------------------------------------------------------------------------- requests


def test_one_statement_per_request_and_syntax(offline: KsqlDbDouble) -> None:
    two = "SHOW STREAMS; SHOW TABLES;"
    status, answer = post(offline, two)
    assert status == 400
    assert answer == {
        "@type": "statement_error", "error_code": 40001,
        "message": "The double accepts one statement per request", "statementText": two,
        "entities": [],
    }  # fmt: skip
    assert refused(offline, "SHOW STREAMS").startswith("line 1:13: Syntax Error")
    assert refused(offline, "FROBNICATE EVERYTHING;").startswith("line 1:1: Syntax Error")
    assert refused(offline, "SET 'auto.offset.reset'='earliest';").startswith(
        "line 1:1: Syntax Error"
    )
    assert refused(offline, "SHOW STREAMS;\nSHOW").startswith(
        "The double accepts one statement per request"
    )
    message = refused(offline, "SELECT * FROM PAGES EMIT CHANGES;", code=40002)
    assert message.startswith("The following statement types should be issued to the websocket")
    # Comments, blank requests and a trailing ';' are fine.
    assert post(offline, "  -- nothing\n") == (200, [])
    assert ok(offline, "/* list */ list tables ;")["@type"] == "tables"


def test_command_sequence_number_ahead_of_the_server_times_out(offline: KsqlDbDouble) -> None:
    entity = ok(offline, "CREATE STREAM S (A INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    assert entity["commandSequenceNumber"] == 1
    assert offline.command_sequence_number == 1
    assert post(offline, "SHOW STREAMS;", commandSequenceNumber=1)[0] == 200
    status, answer = post(offline, "SHOW STREAMS;", commandSequenceNumber=2)
    assert status == 503
    assert answer == {
        "@type": "generic_error", "error_code": 50301,
        "message": "Timed out while waiting for a previous command to execute."
                   " command sequence number: 2",
    }  # fmt: skip


def test_concurrent_statements_get_distinct_sequence_numbers(offline: KsqlDbDouble) -> None:
    def create(n: int) -> int:
        entity = ok(
            offline, f"CREATE STREAM S{n} (A INT) WITH (KAFKA_TOPIC='t{n}', FORMAT='JSON');"
        )
        number: int = entity["commandSequenceNumber"]
        return number

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = sorted(pool.map(create, range(24)))
    assert numbers == list(range(1, 25))
    assert len(ok(offline, "SHOW STREAMS;")["streams"]) == 24


# --------------------------------------------------------------------------- sources


def test_create_stream_and_table_answer_current_status(
    double: KsqlDbDouble, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    topic = make_topic(kafka_admin, topic_prefix + "pages")
    statement = f"CREATE STREAM PAGES (ID STRING KEY, VIEWS INT) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');"
    assert ok(double, statement) == {
        "@type": "currentStatus", "statementText": statement,
        "commandId": "stream/`PAGES`/create",
        "commandStatus": {"status": "SUCCESS", "message": "Stream created", "queryId": None},
        "commandSequenceNumber": 1, "warnings": [],
    }  # fmt: skip
    users(double, kafka_admin, topic_prefix)
    assert http(double, "GET", "/status/stream/%60PAGES%60/create")[0::2] == (
        200, {"status": "SUCCESS", "message": "Stream created", "queryId": None},
    )  # fmt: skip
    assert http(double, "GET", "/status/stream/%60NOPE%60/create")[0] == 404
    assert http(double, "GET", "/status")[2] == {
        "commandStatuses": {"stream/`PAGES`/create": "SUCCESS", "table/`USERS`/create": "SUCCESS"}
    }
    assert ok(double, "SHOW STREAMS;")["streams"] == [
        {"type": "STREAM", "name": "PAGES", "topic": topic, "keyFormat": "KAFKA",
         "valueFormat": "JSON", "isWindowed": False},
    ]  # fmt: skip
    assert ok(double, "LIST TABLES;")["tables"][0]["type"] == "TABLE"


def test_source_topics_must_exist_unless_partitions_are_given(
    double: KsqlDbDouble, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    missing = topic_prefix + "missing"
    message = refused(
        double, f"CREATE STREAM S (A INT) WITH (KAFKA_TOPIC='{missing}', VALUE_FORMAT='JSON');"
    )
    assert message.startswith(f"Topic '{missing}' does not exist.")
    assert partitions(kafka_admin, missing) is None
    ok(
        double,
        f"CREATE TABLE T (A INT PRIMARY KEY) WITH (KAFKA_TOPIC='{missing}', FORMAT='JSON', PARTITIONS=2);",
    )
    assert partitions(kafka_admin, missing) == 2
    assert cleanup_policy(kafka_admin, missing) == "compact"
    message = refused(
        double,
        f"CREATE STREAM S (A INT) WITH (KAFKA_TOPIC='{missing}', VALUE_FORMAT='JSON', PARTITIONS=3);",
    )
    assert message.startswith(
        f"A Kafka topic with the name '{missing}' already exists, with different partition/replica"
    )
    assert "KSQL expects 3 partitions (topic has 2)" in message


def test_types_keys_and_describe(
    double: KsqlDbDouble, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    topic = make_topic(kafka_admin, topic_prefix + "events", 3)
    statement = (
        "CREATE STREAM events (`camelCase` VARCHAR, id INT KEY, amount DECIMAL(10, 2), ts TIMESTAMP,"
        " tags ARRAY<STRING>, attrs MAP<STRING, INT>,"
        " addr STRUCT<street STRING, `geo` STRUCT<lat DOUBLE, lon DOUBLE>>)"
        f" WITH (KAFKA_TOPIC='{topic}', value_format='json', TIMESTAMP='ts');"
    )
    ok(double, statement)
    plain = {"fields": None, "memberSchema": None}
    found = describe(double, "EVENTS")
    assert found["fields"] == [
        {"name": "ID", "schema": {"type": "INTEGER", **plain}, "type": "KEY"},
        {"name": "camelCase", "schema": {"type": "STRING", **plain}},
        {"name": "AMOUNT", "schema": {"type": "DECIMAL", **plain,
                                      "parameters": {"precision": 10, "scale": 2}}},
        {"name": "TS", "schema": {"type": "TIMESTAMP", **plain}},
        {"name": "TAGS", "schema": {"type": "ARRAY", "fields": None,
                                    "memberSchema": {"type": "STRING", **plain}}},
        {"name": "ATTRS", "schema": {"type": "MAP", "fields": None,
                                     "memberSchema": {"type": "INTEGER", **plain}}},
        {"name": "ADDR", "schema": {"type": "STRUCT", "memberSchema": None, "fields": [
            {"name": "STREET", "schema": {"type": "STRING", **plain}},
            {"name": "geo", "schema": {"type": "STRUCT", "memberSchema": None, "fields": [
                {"name": "LAT", "schema": {"type": "DOUBLE", **plain}},
                {"name": "LON", "schema": {"type": "DOUBLE", **plain}},
            ]}},
        ]}},
    ]  # fmt: skip
    assert {k: found[k] for k in ("name", "type", "topic", "keyFormat", "valueFormat")} == {
        "name": "EVENTS", "type": "STREAM", "topic": topic, "keyFormat": "KAFKA",
        "valueFormat": "JSON",
    }  # fmt: skip
    assert (found["timestamp"], found["statement"], found["windowType"]) == ("TS", statement, None)
    assert (found["readQueries"], found["writeQueries"], found["sourceConstraints"]) == ([], [], [])
    assert (found["extended"], found["partitions"], found["replication"]) == (False, 0, 0)
    extended = describe(double, "events", extended=True)
    assert (extended["extended"], extended["partitions"], extended["replication"]) == (True, 3, 1)

    assert (
        refused(double, "DESCRIBE NOPE;") == "Could not find STREAM/TABLE 'NOPE' in the Metastore"
    )
    with_topic = f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON')"
    assert refused(double, f"CREATE STREAM X (A FLOATY) {with_topic};") == (
        "Cannot resolve unknown type: FLOATY"
    )
    assert refused(double, f"CREATE TABLE X (A INT) {with_topic};") == (
        "Tables require a PRIMARY KEY. Please define the PRIMARY KEY."
    )
    assert refused(double, f"CREATE STREAM X (A INT PRIMARY KEY) {with_topic};").startswith(
        "Column `A` is a 'PRIMARY KEY' column: please use 'KEY' for streams."
    )
    assert refused(double, f"CREATE STREAM X (ROWTIME BIGINT) {with_topic};").startswith(
        "'ROWTIME' is a reserved column name."
    )
    assert refused(double, f"CREATE STREAM X (A INT) WITH (KAFKA_TOPIC='{topic}');").startswith(
        "Statement is missing the 'VALUE_FORMAT' property"
    )
    assert refused(double, f"CREATE STREAM X (A INT) {with_topic[:-1]}, COLOUR='red');") == (
        "Invalid config variable(s) in the WITH clause: COLOUR"
    )


def test_if_not_exists_is_a_no_op_and_duplicates_are_refused(
    double: KsqlDbDouble, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    topic = pages(double, kafka_admin, topic_prefix)
    again = f"STREAM PAGES (ID STRING KEY, USER_ID STRING, VIEWS INT) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');"
    assert refused(double, f"CREATE {again}") == (
        "Cannot add stream 'PAGES': A stream with the same name already exists"
    )
    entity = ok(double, f"CREATE {again.replace('STREAM PAGES', 'STREAM IF NOT EXISTS PAGES')}")
    assert entity["commandStatus"] == {
        "status": "SUCCESS", "queryId": None,
        "message": "Cannot add stream `PAGES`: A stream with the same name already exists.",
    }  # fmt: skip
    big = (
        f"STREAM IF NOT EXISTS BIG WITH (KAFKA_TOPIC='{topic_prefix}big') AS"
        " SELECT * FROM PAGES WHERE VIEWS > 10;"
    )
    first = ok(double, f"CREATE {big}")["commandStatus"]["queryId"]
    second = ok(double, f"CREATE {big.replace('> 10', '> 99')}")
    assert second["commandStatus"]["queryId"] is None
    assert [q["id"] for q in queries(double)] == [first]
    assert refused(
        double,
        f"CREATE TABLE PAGES (ID STRING PRIMARY KEY) WITH (KAFKA_TOPIC='{topic}', FORMAT='JSON');",
    ) == ("Cannot add table 'PAGES': A stream with the same name already exists")
    assert refused(double, f"CREATE OR REPLACE {big}") == (
        "Cannot set both OR REPLACE and IF NOT EXISTS."
    )


# --------------------------------------------------------------------------- persistent queries


def test_csas_creates_its_sink_topic_and_a_running_query(
    double: KsqlDbDouble, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    pages(double, kafka_admin, topic_prefix, count=2)
    sink = topic_prefix + "big-pages"
    statement = (
        f"CREATE STREAM BIG_PAGES WITH (KAFKA_TOPIC='{sink}') AS\n"
        "  SELECT p.ID, p.USER_ID, VIEWS * 2 AS DOUBLED FROM PAGES p WHERE VIEWS > 10 EMIT CHANGES;"
    )
    entity = ok(double, statement)
    assert entity["commandId"] == "stream/`BIG_PAGES`/create"
    assert entity["commandStatus"] == {
        "status": "SUCCESS", "message": "Created query with ID CSAS_BIG_PAGES_2",
        "queryId": "CSAS_BIG_PAGES_2",
    }  # fmt: skip
    assert partitions(kafka_admin, sink) == 2  # the source topic's count
    running = {
        "queryString": statement, "sinks": ["BIG_PAGES"], "sinkKafkaTopics": [sink],
        "id": "CSAS_BIG_PAGES_2", "statusCount": {"RUNNING": 1}, "queryType": "PERSISTENT",
        "state": "RUNNING",
    }  # fmt: skip
    assert ok(double, "SHOW QUERIES;") == {
        "@type": "queries", "statementText": "SHOW QUERIES;", "queries": [running],
        "warnings": [],
    }  # fmt: skip
    source, sunk = describe(double, "PAGES"), describe(double, "BIG_PAGES")
    assert (source["readQueries"], source["writeQueries"]) == ([running], [])
    assert source["sourceConstraints"] == ["BIG_PAGES"]
    assert (sunk["readQueries"], sunk["writeQueries"]) == ([], [running])
    assert [(f["name"], f["schema"]["type"], f.get("type")) for f in sunk["fields"]] == [
        ("ID", "STRING", "KEY"), ("USER_ID", "STRING", None), ("DOUBLED", "INTEGER", None),
    ]  # fmt: skip
    assert (sunk["topic"], sunk["valueFormat"], sunk["statement"]) == (sink, "JSON", statement)


def test_query_rules_of_the_engine(
    double: KsqlDbDouble, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    pages(double, kafka_admin, topic_prefix)
    users(double, kafka_admin, topic_prefix)
    sink = f"WITH (KAFKA_TOPIC='{topic_prefix}out')"
    assert refused(double, f"CREATE STREAM OUT {sink} AS SELECT * FROM USERS;") == (
        "Invalid result type. Your SELECT query produces a TABLE."
        " Please use CREATE TABLE AS SELECT statement instead."
    )
    assert refused(double, f"CREATE TABLE OUT {sink} AS SELECT * FROM PAGES;") == (
        "Invalid result type. Your SELECT query produces a STREAM."
        " Please use CREATE STREAM AS SELECT statement instead."
    )
    assert refused(double, f"CREATE STREAM OUT {sink} AS SELECT * FROM NOPE;") == (
        "Exception while preparing statement: NOPE does not exist."
    )
    assert refused(double, f"CREATE STREAM OUT {sink} AS SELECT USER_ID FROM PAGES;") == (
        "Key missing from projection (ie, SELECT). \nThe query used to build `OUT` must include"
        " the key column ID in its projection (eg, SELECT ID...)."
    )
    assert refused(double, f"CREATE STREAM OUT {sink} AS SELECT ID, NOPE FROM PAGES;") == (
        "SELECT column 'NOPE' cannot be resolved."
    )
    assert refused(
        double, f"CREATE TABLE OUT {sink} AS SELECT COUNT(*) AS N FROM PAGES GROUP BY USER_ID;"
    ) == (
        "Key missing from projection (ie, SELECT). \nThe query used to build `OUT` must include"
        " the grouping expression USER_ID in its projection (eg, SELECT USER_ID...)."
    )
    assert refused(
        double, f"CREATE TABLE OUT {sink} AS SELECT ID, COUNT(*) FROM PAGES;"
    ).startswith("Use of aggregate functions requires a GROUP BY clause.")
    assert refused(
        double,
        f"CREATE STREAM OUT {sink} AS SELECT a.ID, a.VIEWS FROM PAGES a JOIN PAGES b ON a.ID = b.ID;",
    ).startswith("Stream-Stream joins must have a WITHIN clause specified.")
    assert refused(
        double,
        f"CREATE STREAM OUT {sink} AS SELECT P.USER_ID, U.NAME FROM PAGES P JOIN USERS U ON P.USER_ID = U.NAME;",
    ) == (
        "Invalid join condition: stream-table joins require to join on the table's primary key."
        " Got P.USER_ID = U.NAME."
    )
    wide = make_topic(kafka_admin, topic_prefix + "wide", 2)
    ok(
        double,
        f"CREATE TABLE WIDE (ID STRING PRIMARY KEY, X INT) WITH (KAFKA_TOPIC='{wide}', FORMAT='JSON');",
    )
    assert refused(
        double,
        f"CREATE STREAM OUT {sink} AS SELECT P.USER_ID, W.X FROM PAGES P JOIN WIDE W ON P.USER_ID = W.ID;",
    ) == (
        "Can't join `P` with `W` since the number of partitions don't match. `P` partitions = 1;"
        " `W` partitions = 2. Please repartition either one so that the number of partitions match."
    )
    assert partitions(kafka_admin, topic_prefix + "out") is None  # refused: nothing created

    per_user = ok(
        double,
        f"CREATE TABLE VIEWS_PER_USER {sink} AS SELECT USER_ID, COUNT(*) AS HITS, SUM(VIEWS) AS VIEWS"
        " FROM PAGES GROUP BY USER_ID EMIT CHANGES;",
    )
    assert per_user["commandStatus"]["queryId"] == "CTAS_VIEWS_PER_USER_4"
    fields = describe(double, "VIEWS_PER_USER")["fields"]
    assert [(f["name"], f["schema"]["type"], f.get("type")) for f in fields] == [
        ("USER_ID", "STRING", "KEY"), ("HITS", "BIGINT", None), ("VIEWS", "INTEGER", None),
    ]  # fmt: skip
    assert cleanup_policy(kafka_admin, topic_prefix + "out") == "compact"
    enriched = ok(
        double,
        f"CREATE STREAM ENRICHED WITH (KAFKA_TOPIC='{topic_prefix}enriched') AS"
        " SELECT P.USER_ID AS USER_ID, P.VIEWS, U.NAME FROM PAGES P LEFT JOIN USERS U ON P.USER_ID = U.ID;",
    )
    assert enriched["commandStatus"]["queryId"] == "CSAS_ENRICHED_5"
    fields = describe(double, "ENRICHED")["fields"]
    assert [(f["name"], f.get("type")) for f in fields] == [
        ("USER_ID", "KEY"), ("P_VIEWS", None), ("U_NAME", None),
    ]  # fmt: skip
    assert describe(double, "USERS")["sourceConstraints"] == ["ENRICHED"]


def test_or_replace_upgrades_in_place_or_refuses(
    double: KsqlDbDouble, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    topic = pages(double, kafka_admin, topic_prefix)
    users(double, kafka_admin, topic_prefix)
    big = f"STREAM BIG WITH (KAFKA_TOPIC='{topic_prefix}big') AS SELECT ID, USER_ID FROM PAGES"
    query_id = ok(double, f"CREATE {big} WHERE VIEWS > 10;")["commandStatus"]["queryId"]
    upgraded = f"CREATE OR REPLACE {big.replace('USER_ID', 'USER_ID, VIEWS')} WHERE VIEWS > 99;"
    entity = ok(double, upgraded)
    assert entity["commandStatus"]["message"] == f"Created query with ID {query_id}"
    assert [(q["id"], q["queryString"]) for q in queries(double)] == [(query_id, upgraded)]
    assert [f["name"] for f in describe(double, "BIG")["fields"]] == ["ID", "USER_ID", "VIEWS"]
    message = refused(
        double, f"CREATE OR REPLACE {big.replace('ID, USER_ID', 'ID, VIEWS, USER_ID')};"
    )
    assert message.startswith("Cannot upgrade data source: DataSource '`BIG`' has schema = ")
    assert message.endswith(
        "(The following columns are changed, missing or reordered: [`USER_ID` STRING, `VIEWS` INTEGER])"
    )

    counts = f"TABLE COUNTS WITH (KAFKA_TOPIC='{topic_prefix}counts') AS SELECT"
    first = ok(
        double,
        f"CREATE {counts} USER_ID, COUNT(*) AS N FROM PAGES WHERE VIEWS > 0 GROUP BY USER_ID;",
    )
    same_id = first["commandStatus"]["queryId"]
    narrower = ok(
        double,
        f"CREATE OR REPLACE {counts} USER_ID, COUNT(*) AS N FROM PAGES WHERE VIEWS > 5 GROUP BY USER_ID;",
    )
    assert narrower["commandStatus"]["queryId"] == same_id
    regrouped = refused(
        double,
        f"CREATE OR REPLACE {counts} UCASE(USER_ID) AS USER_ID, COUNT(*) AS N FROM PAGES WHERE VIEWS > 5 GROUP BY UCASE(USER_ID);",
    )
    assert regrouped == (
        f"Cannot upgrade query {same_id}: Query is not upgradeable. Plan step of type StreamGroupBy"
        " must have matching groupByExpressions. Values differ: [USER_ID] vs. [UCASE(USER_ID)]"
    )
    rekeyed = refused(
        double, f"CREATE OR REPLACE {counts} ID, COUNT(*) AS N FROM PAGES GROUP BY ID;"
    )
    assert rekeyed.startswith("Cannot upgrade data source: DataSource '`COUNTS`' has schema")
    assert "Key columns must be identical." in rekeyed

    joined = (
        f"STREAM ENRICHED WITH (KAFKA_TOPIC='{topic_prefix}enriched') AS SELECT P.USER_ID AS USER_ID,"
        " U.NAME AS NAME FROM PAGES P JOIN USERS U ON P.USER_ID = U.ID"
    )
    join_id = ok(double, f"CREATE OR REPLACE {joined};")["commandStatus"]["queryId"]  # new: created
    # As in ksqlDB, a query with a join is never upgraded in place, not even unchanged.
    for statement in (f"{joined} WHERE P.VIEWS > 1;", f"{joined};"):
        assert refused(double, f"CREATE OR REPLACE {statement}") == (
            f"Cannot upgrade query {join_id}: Upgrades not yet supported for StreamTableJoin"
        )
    hourly = (
        f"TABLE HOURLY WITH (KAFKA_TOPIC='{topic_prefix}hourly') AS SELECT USER_ID, COUNT(*) AS N"
        " FROM PAGES WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY USER_ID"
    )
    hourly_id = ok(double, f"CREATE {hourly};")["commandStatus"]["queryId"]
    assert {t["name"]: t["isWindowed"] for t in ok(double, "SHOW TABLES;")["tables"]}["HOURLY"]
    assert describe(double, "HOURLY")["windowType"] == "TUMBLING"
    assert cleanup_policy(kafka_admin, topic_prefix + "hourly") == "compact,delete"
    assert refused(
        double, f"CREATE OR REPLACE {hourly.replace('GROUP BY', 'WHERE VIEWS > 1 GROUP BY')};"
    ) == (
        f"Cannot upgrade query {hourly_id}: Upgrades not yet supported for StreamWindowedAggregate"
    )
    as_table = f"TABLE PAGES (ID STRING PRIMARY KEY, USER_ID STRING, VIEWS INT) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON')"
    assert refused(double, f"CREATE OR REPLACE {as_table};") == (
        "Cannot upgrade data source: DataSource '`PAGES`' has type = KSTREAM which is not"
        " upgradeable to KTABLE"
    )


def test_drop_respects_dependents_and_deletes_topics(
    double: KsqlDbDouble, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    topic = pages(double, kafka_admin, topic_prefix)
    big, bigger = topic_prefix + "big", topic_prefix + "bigger"
    ok(
        double,
        f"CREATE STREAM BIG WITH (KAFKA_TOPIC='{big}') AS SELECT * FROM PAGES WHERE VIEWS > 1;",
    )
    ok(
        double,
        f"CREATE STREAM BIGGER WITH (KAFKA_TOPIC='{bigger}') AS SELECT * FROM BIG WHERE VIEWS > 9;",
    )
    assert partitions(kafka_admin, bigger) == 1
    assert refused(double, "DROP STREAM PAGES;") == (
        "Cannot drop PAGES.\nThe following streams and/or tables read from this source: [BIG]."
        "\nYou need to drop them before dropping PAGES."
    )
    assert refused(double, "DROP STREAM BIG DELETE TOPIC;").startswith("Cannot drop BIG.")
    assert partitions(kafka_admin, big) == 1  # a refused DROP deletes nothing
    assert refused(double, "DROP TABLE BIGGER;") == (
        "Incompatible data source type is STREAM, but statement was DROP TABLE"
    )
    dropped = ok(double, "DROP STREAM BIGGER DELETE TOPIC;")
    assert dropped["commandId"] == "stream/BIGGER/drop"
    assert dropped["commandStatus"]["message"] == f"Source `BIGGER` (topic: {bigger}) was dropped."
    assert bigger not in kafka_admin.list_topics(timeout=10).topics
    assert [q["id"] for q in queries(double)] == ["CSAS_BIG_2"]  # DROP ended BIGGER's query
    ok(double, "DROP STREAM BIG;")
    assert partitions(kafka_admin, big) == 1  # kept without DELETE TOPIC
    ok(double, "DROP STREAM PAGES;")
    assert refused(double, "DROP STREAM PAGES;") == "Source PAGES does not exist."
    assert ok(double, "DROP STREAM IF EXISTS PAGES DELETE TOPIC;")["commandStatus"]["message"] == (
        "Source `PAGES` does not exist."
    )
    with_topic = f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON')"
    ok(double, f"CREATE STREAM A (X INT) {with_topic};")
    ok(double, f"CREATE STREAM B (X INT) {with_topic};")
    assert refused(double, "DROP STREAM A DELETE TOPIC;") == (
        f"Refusing to delete topic. Found other data sources (B) using topic {topic}"
    )


def test_insert_into_blocks_drop_until_terminated(
    double: KsqlDbDouble, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    topic = pages(double, kafka_admin, topic_prefix)
    ok(
        double,
        f"CREATE STREAM MORE_PAGES (ID STRING KEY, USER_ID STRING, VIEWS INT) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');",
    )
    ok(
        double,
        f"CREATE STREAM ALL_PAGES WITH (KAFKA_TOPIC='{topic_prefix}all') AS SELECT * FROM PAGES;",
    )
    entity = ok(double, "INSERT INTO ALL_PAGES SELECT * FROM MORE_PAGES;")
    assert entity["commandId"] == "stream/`ALL_PAGES`/create"
    assert entity["commandStatus"]["queryId"] == "INSERTQUERY_4"
    assert refused(double, "DROP STREAM ALL_PAGES;") == (
        "Cannot drop ALL_PAGES.\nThe following queries read from this source: []."
        "\nThe following queries write into this source: [INSERTQUERY_4]."
        "\nYou need to terminate them before dropping ALL_PAGES."
    )
    assert refused(double, "DROP STREAM MORE_PAGES;").startswith(
        "Cannot drop MORE_PAGES.\nThe following queries read from this source: [INSERTQUERY_4]."
    )
    assert refused(double, "INSERT INTO ALL_PAGES SELECT ID, VIEWS FROM MORE_PAGES;").startswith(
        "Incompatible schema between results and sink."
    )
    terminated = ok(double, "TERMINATE INSERTQUERY_4;")
    assert terminated["commandId"] == "terminate/INSERTQUERY_4/execute"
    assert terminated["commandStatus"]["message"] == "Query terminated."
    ok(double, "DROP STREAM ALL_PAGES;")
    ok(double, "DROP STREAM MORE_PAGES;")


def test_terminate_leaves_the_sink_in_the_metastore(
    double: KsqlDbDouble, kafka_admin: AdminClient, topic_prefix: str
) -> None:
    pages(double, kafka_admin, topic_prefix)
    ok(double, f"CREATE STREAM BIG WITH (KAFKA_TOPIC='{topic_prefix}big') AS SELECT * FROM PAGES;")
    ok(double, "terminate csas_big_2;")
    assert queries(double) == []
    assert [s["name"] for s in ok(double, "SHOW STREAMS;")["streams"]] == ["PAGES", "BIG"]
    assert describe(double, "BIG")["writeQueries"] == []
    assert refused(double, "TERMINATE CSAS_BIG_2;") == "Unknown queryId: CSAS_BIG_2"
    # BIG was built from PAGES: that holds after its query ended, as in ksqlDB.
    assert refused(double, "DROP STREAM PAGES;").startswith("Cannot drop PAGES.")
    ok(
        double,
        f"CREATE STREAM BIG2 WITH (KAFKA_TOPIC='{topic_prefix}big2') AS SELECT * FROM PAGES;",
    )
    assert ok(double, "TERMINATE ALL;")["commandId"] == "terminate/ALL/execute"
    assert queries(double) == []


def test_default_sink_topic_and_formats_follow_the_source(offline: KsqlDbDouble) -> None:
    ok(
        offline,
        "CREATE STREAM pages (id STRING KEY, views INT) WITH (kafka_topic='p', format='json', partitions=4);",
    )
    ok(offline, "create stream big_pages as select * from pages;")
    ok(offline, "CREATE STREAM `Mixed` WITH (VALUE_FORMAT='AVRO') AS SELECT * FROM pages;")
    listed = {s["name"]: s for s in ok(offline, "SHOW STREAMS;")["streams"]}
    assert (listed["BIG_PAGES"]["topic"], listed["BIG_PAGES"]["keyFormat"]) == ("BIG_PAGES", "JSON")
    assert (listed["Mixed"]["topic"], listed["Mixed"]["valueFormat"]) == ("Mixed", "AVRO")
    assert describe(offline, "big_pages", extended=True)["partitions"] == 4


# --------------------------------------------------------------------------- fault injection


def test_injected_failures_and_outages(offline: KsqlDbDouble) -> None:
    create = "CREATE STREAM S (A INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');"
    failure = {"@type": "generic_error", "error_code": 50000, "message": "boom"}
    offline.fail_next(500, failure)
    assert post(offline, create) == (500, failure)
    assert ok(offline, "SHOW STREAMS;")["streams"] == []  # not executed
    offline.fail_next(503, failure, execute=True)
    assert post(offline, create) == (503, failure)
    assert [s["name"] for s in ok(offline, "SHOW STREAMS;")["streams"]] == ["S"]  # executed
    assert offline.requests == [create, "SHOW STREAMS;", create, "SHOW STREAMS;"]

    offline.set_unavailable(True)
    status, headers, answer = http(offline, "GET", "/info")
    assert (status, headers["Retry-After"]) == (503, "10")
    assert answer == {
        "@type": "generic_error",
        "error_code": 50302,
        "message": "Server initializing",
    }
    assert post(offline, "SHOW STREAMS;")[0] == 503
    offline.set_unavailable(True, mode="close")
    with pytest.raises(OSError, match=r"closed|aborted|reset|Remote end"):
        post(offline, "SHOW STREAMS;")
    offline.set_unavailable(False)
    assert post(offline, "SHOW STREAMS;")[0] == 200


def test_hang_holds_requests_until_recovery_and_executed_lists_real_commands(
    offline: KsqlDbDouble,
) -> None:
    create = "CREATE STREAM S (A INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');"
    offline.set_unavailable(True, mode="hang")
    body = json.dumps({"ksql": create}).encode()
    request = urllib.request.Request(  # noqa: S310 - the local double
        offline.url + "/ksql", data=body, method="POST", headers={"Content-Type": MEDIA_TYPE}
    )
    started = time.monotonic()
    with pytest.raises(OSError, match="timed out"):
        urllib.request.urlopen(request, timeout=1)  # noqa: S310
    assert time.monotonic() - started >= 1
    released = threading.Timer(0.5, offline.set_unavailable, (False,))
    released.start()
    with pytest.raises(OSError, match=r"closed|aborted|reset|Remote end"):
        post(offline, "SHOW STREAMS;")  # held, then dropped without an answer
    released.join()
    assert post(offline, create)[0] == 200
    assert post(offline, create.replace("STREAM S", "STREAM IF NOT EXISTS S"))[0] == 200
    ok(offline, "SHOW STREAMS;")
    lost = {"@type": "generic_error", "error_code": 50300, "message": "lost"}
    offline.fail_next(503, lost, execute=True, statement="drop")
    assert post(offline, "SHOW STREAMS;")[0] == 200  # not the statement the fault waits for
    assert offline.pending_faults == 1
    assert post(offline, "DROP STREAM S;")[0] == 503
    assert offline.pending_faults == 0
    assert offline.executed == [create, "DROP STREAM S;"]  # no-ops and listings are not commands


# --------------------------------------------------------------------------- command line


def test_command_line_serves_until_terminated(platform_env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "tests.ksqldb_double.server", "--port", "0",
               "--kafka-bootstrap", platform_env["KAFKA_BOOTSTRAP_SERVERS"]]  # fmt: skip
    env = os.environ | {"PYTHONPATH": str(REPO)}
    with subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ksqlDB double listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1].strip()
        with urllib.request.urlopen(f"{url}/info", timeout=10) as response:  # noqa: S310
            assert json.loads(response.read())["KsqlServerInfo"]["version"] == "0.29.0"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
