"""A contract double of ksqlDB's REST API, for tests that cannot run the real server.

`KsqlDbDouble` is an HTTP server (standard library only) that answers `POST /ksql`,
`GET /info`, `GET /healthcheck` and `GET /status[/<commandId>]` with the entities, HTTP
statuses, error codes and, where ksqlDB's source states them, the messages of ksqlDB 0.29.
Its metastore lives in memory behind one lock; with `kafka_bootstrap` its Kafka side
effects are real (sink topics created, `DELETE TOPIC` deletes, source topics must exist).

What it models: one statement per request; CREATE [OR REPLACE] STREAM|TABLE [IF NOT
EXISTS] with columns or AS SELECT (FROM, JOINs, WINDOW, WHERE, GROUP BY, PARTITION BY,
HAVING, EMIT); INSERT INTO ... SELECT; DROP STREAM|TABLE [IF EXISTS] [DELETE TOPIC];
TERMINATE <id>|ALL; SHOW|LIST QUERIES|STREAMS|TABLES; DESCRIBE [EXTENDED]. The engine's
checks are modelled: sources must exist, result type versus CREATE STREAM|TABLE, join
rules, aggregation rules, the key columns a projection must contain, referential
integrity on DROP, shared topics on DELETE TOPIC, and in-place upgrades (schema may only
grow at the end; joins, windowed and table aggregations never upgrade; sources, grouping,
partitioning and aggregate functions must stay as they were).

What it does not model: expression evaluation and type checking beyond simple inference,
any data flowing through queries, pull/push queries (`/query`, SELECT, PRINT), Schema
Registry, connectors, custom types, variables, headers columns, INSERT ... VALUES, and
the delay of a distributed command topic (statements execute synchronously).
"""

from __future__ import annotations

from tests.ksqldb_double.server import KsqlDbDouble

__all__ = ["KsqlDbDouble"]
