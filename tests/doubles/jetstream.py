"""A local Jetstream: the Bluesky firehose's WebSocket protocol over recorded-shape events.

It serves `/subscribe?wantedCollections=...&cursor=<time_us>` from an in-memory event log:
with a cursor, from the first event at or after it (a cursor older than `floor_us`, the
retention window, starts at the floor; one in the future starts at the live end); without
one, at the live end. Events added later (`add`) are pushed to every connection, as the
live firehose does. Faults on demand: `drop_mid_frame(after=n)` makes the next connection
send half of its (n+1)th frame and cut the TCP connection; `cut()` drops every connection
at once. Frames may be raw strings or bytes (to send malformed, non-UTF-8 or oversized
payloads as they are). `subscriptions` keeps each connection's query, so tests can check
the cursors a client resumed from.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from websockets.sync.server import Server, ServerConnection, serve


@dataclass(frozen=True)
class Frame:
    """One event of the log: its time and what goes on the wire."""

    time_us: int
    payload: str | bytes


def commit(
    did: str,
    time_us: int,
    rkey: str,
    record: dict[str, Any] | None = None,
    *,
    operation: str = "create",
    collection: str = "app.bsky.feed.post",
) -> dict[str, Any]:
    """Return a commit event shaped as Jetstream sends it."""
    body: dict[str, Any] = {
        "rev": f"3l{time_us:x}", "operation": operation, "collection": collection, "rkey": rkey,
    }  # fmt: skip
    if operation != "delete":
        body["record"] = {"$type": collection, **(record or {})}
        body["cid"] = f"bafyreig{rkey}{time_us % 100000:05d}"
    return {"did": did, "time_us": time_us, "kind": "commit", "commit": body}


def post_record(
    text: str, created: str = "2026-12-03T12:00:00.000Z", **extra: Any
) -> dict[str, Any]:
    """Return an app.bsky.feed.post record."""
    return {"text": text, "createdAt": created, "langs": ["en"], **extra}


class JetstreamDouble:
    """A threaded WebSocket server playing Jetstream."""

    def __init__(self, floor_us: int = 0, host: str = "127.0.0.1") -> None:
        self.floor_us = floor_us
        self._frames: list[Frame] = []
        self._changed = threading.Condition()
        self._drop_after: int | None = None
        self._connections: list[ServerConnection] = []
        self.subscriptions: list[dict[str, str]] = []
        self.subscribed_at: list[float] = []
        """time.time() of each subscription."""
        self.sent = 0
        self._server: Server = serve(self._handle, host, 0, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._closed = False

    @property
    def url(self) -> str:
        """Return the subscribe endpoint."""
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/subscribe"

    def add(self, *events: dict[str, Any] | Frame) -> None:
        """Append events to the log (in time order); live connections get them at once."""
        with self._changed:
            for event in events:
                frame = (
                    event
                    if isinstance(event, Frame)
                    else Frame(int(event["time_us"]), json.dumps(event, ensure_ascii=False))
                )
                self._frames.append(frame)
            self._changed.notify_all()

    def drop_mid_frame(self, after: int) -> None:
        """Make the next connection cut itself in the middle of its (after+1)th frame."""
        with self._changed:
            self._drop_after = after

    def cut(self) -> None:
        """Drop every open connection abruptly (no close frame)."""
        with self._changed:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.socket.shutdown(socket.SHUT_RDWR)

    def wait_for_subscriptions(self, count: int, timeout: float = 30.0) -> list[dict[str, str]]:
        """Wait until `count` connections subscribed; return their queries."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.subscriptions) >= count, timeout):
                raise TimeoutError(f"{len(self.subscriptions)} of {count} subscriptions")
            return list(self.subscriptions)

    def _start(self, query: dict[str, str]) -> int:
        frames = self._frames
        if "cursor" not in query:
            return len(frames)
        cursor = max(int(query["cursor"]), self.floor_us)
        if frames and cursor > frames[-1].time_us:
            return len(frames)
        return next((i for i, f in enumerate(frames) if f.time_us >= cursor), len(frames))

    def _handle(self, connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.path).query))
        with self._changed:
            self.subscriptions.append(query)
            self.subscribed_at.append(time.time())
            self._connections.append(connection)
            drop_after, self._drop_after = self._drop_after, None
            index = self._start(query)
            self._changed.notify_all()
        sent = 0
        try:
            while not self._closed:
                with self._changed:
                    if index >= len(self._frames) and not self._closed:
                        self._changed.wait(timeout=0.5)
                    batch = self._frames[index:]
                for frame in batch:
                    if drop_after is not None and sent == drop_after:
                        _half_frame_then_cut(connection, frame.payload)
                        return
                    connection.send(frame.payload)
                    sent += 1
                    with self._changed:
                        self.sent += 1
                index += len(batch)
        except Exception:  # noqa: BLE001, S110 - the client went away: this connection ends
            pass
        finally:
            with self._changed:
                self._connections.remove(connection)

    def __enter__(self) -> JetstreamDouble:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._closed = True
        with self._changed:
            self._changed.notify_all()
        self.cut()
        self._server.shutdown()


def _half_frame_then_cut(connection: ServerConnection, payload: str | bytes) -> None:
    data = payload.encode() if isinstance(payload, str) else payload
    opcode = 0x81 if isinstance(payload, str) else 0x82
    if len(data) < 126:
        header = struct.pack("!BB", opcode, len(data))
    elif len(data) < 65536:
        header = struct.pack("!BBH", opcode, 126, len(data))
    else:
        header = struct.pack("!BBQ", opcode, 127, len(data))
    raw = connection.socket
    with contextlib.suppress(OSError):
        raw.sendall(header + data[: len(data) // 2])
        raw.shutdown(socket.SHUT_RDWR)


def serve_double(floor_us: int = 0) -> Iterator[JetstreamDouble]:
    """Yield a running double (for fixtures)."""
    with JetstreamDouble(floor_us) as double:
        yield double
