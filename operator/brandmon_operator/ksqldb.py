"""The operator's client of the ksqlDB REST API (`POST /ksql`, one statement per call).

Each call passes the last `commandSequenceNumber` ksqlDB returned, so a statement runs
only after the previous one was executed. Transport failures and 5xx answers raise
`KsqlDbUnavailable` (retry with backoff); a statement ksqlDB refuses raises
`KsqlDbRejected` carrying ksqlDB's own message (the monitor stalls with it).
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

from brandmon_operator.queries import LiveObject

MEDIA_TYPE = "application/vnd.ksql.v1+json"
_SERVER_ERROR = 500


class KsqlDbUnavailable(RuntimeError):  # noqa: N818 - a state, like KafkaUnavailable
    """ksqlDB could not be reached or failed on its side."""


class KsqlDbRejected(RuntimeError):  # noqa: N818 - what ksqlDB did, not a bug
    """ksqlDB refused a statement; the message is ksqlDB's own."""

    def __init__(self, message: str, error_code: int, statement: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.statement = statement


class KsqlDbClient:
    """A thread-safe client of one ksqlDB server."""

    def __init__(
        self, url: str, basic_auth: tuple[str, str] | None = None, timeout_s: float = 15.0
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.sequence: int | None = None
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._headers = {"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE}
        if basic_auth is not None:
            token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"

    def execute(self, statement: str) -> list[dict[str, Any]]:
        """Run one statement and return ksqlDB's entities."""
        with self._lock:
            body: dict[str, Any] = {"ksql": statement, "streamsProperties": {}}
            if self.sequence is not None:
                body["commandSequenceNumber"] = self.sequence
            self.calls[statement.split(None, 1)[0].upper()] += 1
            entities = self._post(body, statement)
            for entity in entities:
                number = entity.get("commandSequenceNumber")
                if isinstance(number, int) and number >= 0:
                    self.sequence = max(self.sequence or 0, number)
            return entities

    def _post(self, body: dict[str, Any], statement: str) -> list[dict[str, Any]]:
        request = urllib.request.Request(  # noqa: S310 - the configured ksqlDB URL
            f"{self.url}/ksql", data=json.dumps(body).encode(), headers=self._headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                parsed = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise self._error(error, statement) from None
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            msg = f"ksqlDB at {self.url} unreachable: {getattr(error, 'reason', error)}"
            raise KsqlDbUnavailable(msg) from None
        if not isinstance(parsed, list):
            kind = type(parsed).__name__
            msg = f"ksqlDB at {self.url} answered {kind}, expected a list of entities"
            raise KsqlDbUnavailable(msg)
        return parsed

    def _error(self, error: urllib.error.HTTPError, statement: str) -> Exception:
        try:
            payload = json.loads(error.read())
            message = str(payload.get("message", ""))
            code = int(payload.get("error_code", error.code * 100))
        except (ValueError, AttributeError):
            message, code = f"HTTP {error.code} {error.reason}", error.code * 100
        if error.code >= _SERVER_ERROR:
            return KsqlDbUnavailable(f"ksqlDB at {self.url} failed ({code}): {message}")
        return KsqlDbRejected(message, code, statement)

    def live_objects(self, prefix: str) -> dict[str, LiveObject]:
        """Return the streams and tables named with `prefix`, with their running queries.

        Objects are listed before queries. A command that lands between the listings (one
        sent by an operator that died before reading its answer) then shows as a query
        without its object, which is ignored: the object reads as missing and its
        `IF NOT EXISTS` create is a no-op. Listed the other way round it would show as an
        object whose query is gone, and be dropped and rebuilt, losing a join's sink data.
        """
        objects: list[tuple[str, str]] = []
        for listing, key in (("SHOW STREAMS;", "streams"), ("SHOW TABLES;", "tables")):
            for entity in self.execute(listing):
                for source in entity.get(key, []):
                    if source["name"].startswith(prefix):
                        objects.append((source["name"], source["type"]))
        writers: dict[str, list[str]] = {}
        texts: dict[str, str] = {}
        for entity in self.execute("SHOW QUERIES;"):
            for query in entity.get("queries", []):
                if query.get("state", "RUNNING") == "RUNNING":
                    for sink in query.get("sinks", []):
                        writers.setdefault(sink, []).append(query["id"])
                        texts.setdefault(sink, str(query.get("queryString") or ""))
        return {
            name: LiveObject(name, kind, tuple(writers.get(name, ())), texts.get(name, ""))
            for name, kind in objects
        }
