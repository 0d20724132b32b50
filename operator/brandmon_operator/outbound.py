"""Outbound HTTP calls no endpoint can stall, and the guards around them.

A BrandMonitor may name its own ksqlDB server, so the operator calls endpoints a tenant
chose. One that answers a byte every few seconds held a reconcile thread for as long as
it liked (urllib's timeout is per socket read), and twenty such monitors took every
thread the operator has. Here every call has:

- an overall deadline: a watchdog shuts the socket down when it passes, whatever phase
  the call is in (connect, headers, body);
- a response-size cap, so a huge answer cannot exhaust the operator's memory;
- no redirects followed (credentials go only to the URL configured);
- a circuit breaker per endpoint (`CircuitBreaker`): after repeated failures calls fail
  at once until a cool-down passes, then one trial call decides;

and `NamespaceSlots` bounds how many reconciles of one namespace may wait on endpoints
its monitors chose, so one tenant's failures cannot starve another's reconciles.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

_CHUNK = 64 * 1024
_REDIRECT_FROM, _REDIRECT_TO = 300, 400


class OutboundError(RuntimeError):
    """A call failed on the way or on the endpoint's side; the message is safe to show."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status and body (at most the cap)."""

    status: int
    body: bytes


def safe_url(url: str) -> str:
    """Return the URL without user information, for messages and status."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    deadline_s: float,
    max_bytes: int,
) -> Answer:
    """POST `body` to `url`; raise OutboundError past the deadline or the size cap."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"{safe_url(url)}: only http and https URLs with a host are called"
        raise OutboundError(msg)
    connection_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_type(parts.hostname, parts.port, timeout=deadline_s)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: the call is over anyway
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(deadline_s, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", parts.path or "/", body=body, headers=dict(headers))
        response = connection.getresponse()
        if _REDIRECT_FROM <= response.status < _REDIRECT_TO:
            msg = f"{safe_url(url)} answered HTTP {response.status}: redirects are not followed"
            raise OutboundError(msg)
        received = bytearray()
        while chunk := response.read(_CHUNK):
            received += chunk
            if len(received) > max_bytes:
                msg = f"{safe_url(url)} answered more than {max_bytes} bytes"
                raise OutboundError(msg)
        return Answer(response.status, bytes(received))
    except (OSError, http.client.HTTPException) as error:
        if expired.is_set():
            msg = f"{safe_url(url)} gave no complete answer within {deadline_s:g} s"
            raise OutboundError(msg) from None
        reason = type(error).__name__ if not str(error) else str(error)
        raise OutboundError(f"{safe_url(url)} unreachable: {reason}") from None
    finally:
        watchdog.cancel()
        connection.close()


class CircuitBreaker:
    """Fail fast on an endpoint that keeps failing.

    Closed: calls go through. After `failures` failures in a row it opens: calls are
    refused without I/O for `cooldown_s`. Then one call may try (half-open); success
    closes it, failure opens it again.
    """

    def __init__(
        self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._failures = failures
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._streak = 0
        self._opened_at: float | None = None
        self._trial = False

    def allow(self) -> bool:
        """Return whether a call may go out now (taking the half-open trial if due)."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._trial or self._clock() - self._opened_at < self._cooldown_s:
                return False
            self._trial = True
            return True

    def succeeded(self) -> None:
        """Record a call that got an answer."""
        with self._lock:
            self._streak, self._opened_at, self._trial = 0, None, False

    def failed(self) -> None:
        """Record a call that got no usable answer."""
        with self._lock:
            self._streak += 1
            if self._trial or self._streak >= self._failures:
                self._opened_at, self._trial = self._clock(), False

    @property
    def open(self) -> bool:
        """Whether calls are being refused."""
        with self._lock:
            return self._opened_at is not None


class SlotsTaken(RuntimeError):  # noqa: N818 - a state, like KafkaUnavailable
    """Every slot of the namespace is in use; try again later."""


class NamespaceSlots:
    """At most `per_namespace` reconciles of one namespace at a time, never waiting.

    A reconcile that finds its namespace's slots taken gives its thread back at once (the
    caller retries later), so a namespace whose endpoints hang holds at most
    `per_namespace` of the operator's threads.
    """

    def __init__(self, per_namespace: int) -> None:
        self._per_namespace = per_namespace
        self._lock = threading.Lock()
        self._used: dict[str, int] = {}

    @contextmanager
    def slot(self, namespace: str) -> Iterator[None]:
        """Hold one of the namespace's slots, or raise SlotsTaken."""
        with self._lock:
            used = self._used.get(namespace, 0)
            if used >= self._per_namespace:
                msg = (
                    f"{used} reconciles of namespace {namespace} are already waiting on "
                    "endpoints its monitors name"
                )
                raise SlotsTaken(msg)
            self._used[namespace] = used + 1
        try:
            yield
        finally:
            with self._lock:
                self._used[namespace] -= 1
                if not self._used[namespace]:
                    del self._used[namespace]
