"""The operator's client of the ksqlDB REST API (`POST /ksql`, one statement per call).

Each call passes the last `commandSequenceNumber` ksqlDB returned, so a statement runs
only after the previous one was executed. Transport failures, answers past the deadline
or the size cap, 5xx answers and an open circuit raise `KsqlDbUnavailable` (retry with
backoff; the server's error body is not repeated); a statement ksqlDB refuses raises
`KsqlDbRejected` carrying ksqlDB's own message, shortened (the monitor stalls with it).
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Collection
from typing import Any

from brandmon_operator.outbound import CircuitBreaker, OutboundError, post, safe_url
from brandmon_operator.queries import LiveObject

MEDIA_TYPE = "application/vnd.ksql.v1+json"
_SERVER_ERROR = 500
# ksqlDB's own messages are useful in status ("Cannot upgrade ..."); a tenant's endpoint
# could answer anything, so only so much of it, on one line.
_MESSAGE_CHARS = 300


class KsqlDbUnavailable(RuntimeError):  # noqa: N818 - a state, like KafkaUnavailable
    """ksqlDB could not be reached or failed on its side."""


class KsqlDbRejected(RuntimeError):  # noqa: N818 - what ksqlDB did, not a bug
    """ksqlDB refused a statement; the message is ksqlDB's own."""

    def __init__(self, message: str, error_code: int, statement: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.statement = statement


class KsqlDbClient:
    """A thread-safe client of one ksqlDB server.

    No lock is held during I/O: calls of different monitors run side by side; the lock
    only guards the command sequence number. Every call has an overall deadline and a
    response-size cap (`outbound.post`), and goes through the endpoint's circuit breaker.
    """

    def __init__(
        self,
        url: str,
        basic_auth: tuple[str, str] | None = None,
        *,
        deadline_s: float = 15.0,
        max_response_bytes: int = 16 * 1024 * 1024,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.deadline_s = deadline_s
        self.max_response_bytes = max_response_bytes
        self.breaker = breaker or CircuitBreaker(failures=3, cooldown_s=30.0)
        self.sequence: int | None = None
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._last_failure = ""
        self._headers = {"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE}
        if basic_auth is not None:
            token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"

    @property
    def shown_url(self) -> str:
        """The server's URL as messages show it (no user information)."""
        return safe_url(self.url)

    def execute(self, statement: str) -> list[dict[str, Any]]:
        """Run one statement and return ksqlDB's entities."""
        body: dict[str, Any] = {"ksql": statement, "streamsProperties": {}}
        with self._lock:
            if self.sequence is not None:
                body["commandSequenceNumber"] = self.sequence
            self.calls[statement.split(None, 1)[0].upper()] += 1
        entities = self._post(body, statement)
        with self._lock:
            for entity in entities:
                number = entity.get("commandSequenceNumber")
                if isinstance(number, int) and number >= 0:
                    self.sequence = max(self.sequence or 0, number)
        return entities

    def _post(self, body: dict[str, Any], statement: str) -> list[dict[str, Any]]:
        if not self.breaker.allow():
            msg = f"{self._last_failure}; calls paused (circuit open)"
            raise KsqlDbUnavailable(msg)
        try:
            answer = post(
                f"{self.url}/ksql",
                json.dumps(body).encode(),
                self._headers,
                deadline_s=self.deadline_s,
                max_bytes=self.max_response_bytes,
            )
        except OutboundError as error:
            raise self._failed(f"ksqlDB: {error}") from None
        if answer.status >= _SERVER_ERROR:
            raise self._failed(f"ksqlDB at {self.shown_url} failed (HTTP {answer.status})")
        try:
            parsed = json.loads(answer.body)
        except ValueError:
            msg = f"ksqlDB at {self.shown_url} answered HTTP {answer.status} without JSON"
            raise self._failed(msg) from None
        self.breaker.succeeded()
        if answer.status >= 300:  # noqa: PLR2004 - not a success; redirects never get here
            raise self._error(answer.status, parsed, statement)
        if not isinstance(parsed, list):
            kind = type(parsed).__name__
            msg = f"ksqlDB at {self.shown_url} answered {kind}, expected a list of entities"
            raise KsqlDbUnavailable(msg)
        return parsed

    def _failed(self, message: str) -> KsqlDbUnavailable:
        # Kept for the calls the open circuit refuses: they say why it opened.
        self._last_failure = message
        self.breaker.failed()
        return KsqlDbUnavailable(message)

    def _error(self, status_code: int, payload: object, statement: str) -> Exception:
        message, code = f"HTTP {status_code}", status_code * 100
        if isinstance(payload, dict):
            message = " ".join(str(payload.get("message", message)).split())[:_MESSAGE_CHARS]
            raw_code = payload.get("error_code")
            code = raw_code if isinstance(raw_code, int) else code
        return KsqlDbRejected(message, code, statement)

    def live_objects(self, names: Collection[str]) -> dict[str, LiveObject]:
        """Return those of the named streams and tables that exist, with their writers.

        Exact names only: a monitor looks at the objects it wants or recorded, never at
        others that happen to share a prefix.

        Objects are listed before queries. A command that lands between the listings (one
        sent by an operator that died before reading its answer) then shows as a query
        without its object, which is ignored: the object reads as missing and its
        `IF NOT EXISTS` create is a no-op. Listed the other way round it would show as an
        object whose query is gone, and be dropped and rebuilt, losing a join's sink data.
        """
        objects: list[tuple[str, str, str]] = []
        for listing, key in (("SHOW STREAMS;", "streams"), ("SHOW TABLES;", "tables")):
            for entity in self.execute(listing):
                for source in entity.get(key, []):
                    if source["name"] in names:
                        objects.append(
                            (source["name"], source["type"], str(source.get("topic") or ""))
                        )
        writers: dict[str, list[str]] = {}
        texts: dict[str, str] = {}
        for entity in self.execute("SHOW QUERIES;"):
            for query in entity.get("queries", []):
                if query.get("state", "RUNNING") == "RUNNING":
                    for sink in query.get("sinks", []):
                        writers.setdefault(sink, []).append(query["id"])
                        texts.setdefault(sink, str(query.get("queryString") or ""))
        return {
            name: LiveObject(name, kind, tuple(writers.get(name, ())), texts.get(name, ""), topic)
            for name, kind, topic in objects
        }
