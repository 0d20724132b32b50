"""The Bluesky follower's cursor bookkeeping, with a scripted connection, Kafka and store.

The platform test runs it against a real Kafka and a WebSocket server; here the awkward
paths are driven one by one: a frame too large for the client, a delivery Kafka refuses,
and what is saved in each case.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Close

from brandmon_workers.collector import bluesky_stream
from brandmon_workers.collector.bluesky import REWIND_US
from brandmon_workers.collector.bluesky_stream import (
    Connection,
    Follower,
    StreamDocument,
    StreamMetrics,
)
from brandmon_workers.contract.settings import S3Settings, WorkerSettings
from brandmon_workers.contract.sources import BlueskySource
from brandmon_workers.contract.topics import TopicNames

T0 = 1_764_763_200_000_000
NOW = (T0 + 60_000_000) / 1_000_000
SETTINGS = WorkerSettings(
    namespace="ns", monitor="m", brand="ACME", kafka_bootstrap_servers="unused:9092",
    topics=TopicNames(prefix="t", namespace="ns", monitor="m"), s3=S3Settings(bucket="b"),
)  # fmt: skip


@pytest.fixture(autouse=True)
def quick_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect at once: the pauses are not what these tests are about."""
    monkeypatch.setattr(bluesky_stream, "RECONNECT_FIRST", 0.001)
    monkeypatch.setattr(bluesky_stream, "RECONNECT_MAX", 0.001)


def event(n: int, text: str) -> str:
    return json.dumps({
        "did": "did:plc:abc", "time_us": T0 + n, "kind": "commit",
        "commit": {"operation": "create", "collection": "app.bsky.feed.post", "rkey": f"r{n}",
                   "record": {"text": text, "createdAt": "2025-12-03T12:00:00Z"}},
    })  # fmt: skip


class FakeProducer:
    """Acknowledges (or refuses) every message at flush."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.refuse = False
        self._waiting: list[tuple[Callable[..., None], str]] = []

    def produce(
        self, topic: str, value: bytes, key: bytes, on_delivery: Callable[..., None]
    ) -> None:
        self._waiting.append((on_delivery, key.decode()))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        for callback, key in self._waiting:
            if self.refuse:
                callback(_Refused(), None)
            else:
                self.sent.append(key)
                callback(None, None)
        self._waiting.clear()
        return 0


class _Refused:
    def str(self) -> str:
        return "Local: Message timed out"


class FakeStore:
    def __init__(self, document: StreamDocument) -> None:
        self.saved = [document]

    def load(self) -> StreamDocument:
        return self.saved[-1]

    def save(self, document: StreamDocument) -> None:
        self.saved.append(document)


class Script:
    """Each connection plays the next list of frames; an exception item is raised."""

    def __init__(self, stop: threading.Event, *connections: list[str | Exception]) -> None:
        self.urls: list[str] = []
        self._connections = list(connections)
        self._stop = stop

    @contextlib.contextmanager
    def __call__(self, url: str) -> Iterator[Connection]:
        self.urls.append(url)
        frames = self._connections.pop(0) if self._connections else []
        if not self._connections and not frames:
            self._stop.set()
        yield _Playing(frames, self._stop)


class _Playing:
    def __init__(self, frames: list[str | Exception], stop: threading.Event) -> None:
        self._frames = frames
        self._stop = stop

    def recv(self, timeout: float | None = None) -> str | bytes:
        if not self._frames:
            raise ConnectionClosedError(None, None)
        frame = self._frames.pop(0)
        if isinstance(frame, Exception):
            raise frame
        return frame

    def close(self) -> None:
        return None


def follower(store: FakeStore, producer: FakeProducer, script: Script) -> Follower:
    return Follower(
        SETTINGS, BlueskySource(), "bsky", producer=producer, store=store,  # type: ignore[arg-type]
        metrics=StreamMetrics("bsky"), lookup=None, connect_to=script, clock=lambda: NOW,
    )  # fmt: skip


def cursor_of(url: str) -> int | None:
    return int(url.split("cursor=")[1]) if "cursor=" in url else None


def run(
    *connections: list[str | Exception], saved: int | None = T0, refuse_first: bool = False
) -> tuple[Follower, FakeStore, FakeProducer, Script]:
    stop = threading.Event()
    store, producer = FakeStore(StreamDocument(cursor=saved)), FakeProducer()
    script = Script(stop, *connections)
    producer.refuse = refuse_first
    original = producer.flush

    def flush_then_accept(timeout: float = 0) -> int:
        result = original(timeout)
        producer.refuse = False
        return result

    producer.flush = flush_then_accept  # type: ignore[method-assign]
    subject = follower(store, producer, script)
    subject.run(stop)
    return subject, store, producer, script


def test_a_frame_too_big_resumes_just_after_the_last_event_read() -> None:
    too_big = ConnectionClosedError(None, Close(1009, "message too big"), None)
    subject, store, producer, script = run(
        [event(1, "ACME one"), too_big], [event(5, "ACME two")], []
    )
    assert [cursor_of(u) for u in script.urls[:2]] == [T0 - REWIND_US, T0 + 2]
    assert producer.sent == ["bluesky:at://did:plc:abc/app.bsky.feed.post/r1",
                             "bluesky:at://did:plc:abc/app.bsky.feed.post/r5"]  # fmt: skip
    assert store.saved[-1].cursor == T0 + 5
    assert subject.progress.posts_new == 2


def test_the_same_frame_too_big_again_skips_further_each_time() -> None:
    too_big = ConnectionClosedError(None, Close(1009, "message too big"), None)
    _, _, _, script = run([event(1, "x"), too_big], [too_big], [too_big], [])
    assert [cursor_of(u) for u in script.urls[:4]] == [
        T0 - REWIND_US, T0 + 2, T0 + 11, T0 + 101,
    ]  # fmt: skip


def test_a_refused_delivery_is_read_again_from_the_saved_cursor() -> None:
    subject, store, producer, script = run(
        [event(1, "ACME refused at first")], [event(1, "ACME refused at first")], [],
        refuse_first=True,
    )  # fmt: skip
    assert cursor_of(script.urls[1]) == T0 - REWIND_US, "the saved cursor did not move"
    assert producer.sent == ["bluesky:at://did:plc:abc/app.bsky.feed.post/r1"]
    assert store.saved[-1].cursor == T0 + 1
    assert subject.progress.errors == ["1 posts undelivered"]


def test_what_a_rewind_reads_again_is_not_sent_again() -> None:
    subject, store, producer, _ = run(
        [event(1, "ACME a"), event(2, "ACME b")],
        [event(1, "ACME a"), event(2, "ACME b"), event(3, "ACME c")],
        [],
    )
    assert len(producer.sent) == 3
    assert subject.progress.duplicates == 2
    assert store.saved[-1].posts[-3:] == [
        f"bluesky:at://did:plc:abc/app.bsky.feed.post/r{n}" for n in (1, 2, 3)
    ]


def test_no_saved_cursor_starts_live() -> None:
    _, _, _, script = run([], saved=None)
    assert cursor_of(script.urls[0]) is None
