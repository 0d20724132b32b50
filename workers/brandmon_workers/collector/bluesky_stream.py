"""The Bluesky collector: a long-running process that follows Jetstream into Kafka.

Unlike the polled sources (one CronJob run each), Bluesky pushes: the collector keeps one
WebSocket to Jetstream open (`websockets`' synchronous client), asks for posts only, and
for every post that `bluesky.Matcher` says is about the brand produces a Post message at
once (Kafka's delivery reports come back while it reads on). Once a second it waits for
the reports, records the delivered posts and the cursor (the `time_us` of the last event
read before them) and, when either changed, writes both in one S3 object
(`<namespace>/<monitor>/collector/<source>/stream.json`).

Nothing is lost: the saved cursor never passes an event whose post Kafka has not
acknowledged (a failed delivery makes the collector reconnect from the saved cursor), and
every (re)connect resumes `bluesky.REWIND_US` before it. Nothing is sent twice: what the
rewind reads again is dropped by post id (the saved ids, and the ids sent since). After a
hard kill (SIGKILL, OOM) up to one save interval of posts can be sent again; downstream
state is idempotent by post id, so they raise no second alert. A connection that drops,
mid-frame or cleanly, is reopened after a bounded, growing pause (0.2 s to 30 s, back to
0.2 s once events flow). A frame larger than `MAX_FRAME_BYTES` closes the connection
(1009); the collector then resumes just after the last event it read, skipping only that
frame. Authors' follower counts come from the public AppView (`app.bsky.actor.getProfile`),
cached for an hour and rate-limited; a look-up that is not allowed or fails leaves the
reach unknown rather than stalling the stream.

`/healthz` (the loop turns) and `/readyz` (connected, events arriving) serve the probes; the
operator reads readiness as the source's health. Prometheus metrics on the metrics port:
events read, posts matched and delivered, duplicates dropped, reconnects, lag behind the
firehose, profile look-ups.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import ClientError
from confluent_kafka import Producer
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from pydantic import BaseModel, ConfigDict
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

from brandmon_workers.collector import bluesky
from brandmon_workers.collector.backoff import BackoffPolicy, Retrier
from brandmon_workers.collector.delivery import KafkaSink, Outgoing, check_topics, producer_config
from brandmon_workers.collector.http import HttpClient, HttpStatusError, is_retryable
from brandmon_workers.collector.items import COLLECTOR_VERSION, describe_error, provenance_stamp
from brandmon_workers.collector.replay import Recorder
from brandmon_workers.contract.settings import WorkerSettings
from brandmon_workers.contract.sources import BlueskySource, SourceResult
from brandmon_workers.contract.storage import S3Scope
from brandmon_workers.contract.topics import TopicRole

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("brandmon.collector.bluesky")

# Frames above MAX_EVENT_BYTES are skipped unread (a post record is at most a few KB);
# above MAX_FRAME_BYTES the client refuses to buffer them at all and the connection closes.
MAX_EVENT_BYTES = 1024 * 1024
MAX_FRAME_BYTES = 16 * 1024 * 1024
SAVE_SECONDS = 1.0
MAX_REMEMBERED = 20_000
PROFILE_TTL_SECONDS = 3600.0
PROFILE_CACHE_SIZE = 50_000
RECONNECT_FIRST = 0.2
RECONNECT_MAX = 30.0
READY_SILENCE_SECONDS = 60.0
_MISSING = {"NoSuchKey", "404", "NotFound"}
_TOO_BIG = 1009


def stream_key(namespace: str, monitor: str, source: str) -> str:
    """Return the S3 key of a streaming source's cursor and sent ids."""
    return f"{namespace}/{monitor}/collector/{source}/stream.json"


class StreamDocument(BaseModel):
    """What a streaming source remembers: where it is, and what it sent lately."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    cursor: int | None = None
    """time_us of the last event read whose posts (if any) Kafka acknowledged."""
    posts: list[str] = []
    """Ids of the posts sent lately, oldest first (at most MAX_REMEMBERED)."""


class StreamStore:
    """Reads and writes one streaming source's document in S3."""

    def __init__(self, s3: S3Client, bucket: str, key: str, *, scope: S3Scope) -> None:
        scope.check_write_key(bucket, key)
        self._s3, self._bucket, self._key = s3, bucket, key

    def load(self) -> StreamDocument:
        """Return the stored document, or an empty one."""
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=self._key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return StreamDocument()
            raise
        with contextlib.closing(response["Body"]) as body:
            return StreamDocument.model_validate_json(body.read())

    def save(self, document: StreamDocument) -> None:
        """Store the document."""
        self._s3.put_object(
            Bucket=self._bucket,
            Key=self._key,
            Body=document.model_dump_json().encode(),
            ContentType="application/json",
        )


class RateLimit:
    """A token bucket: at most `rate` actions a second, bursts of up to one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        """Take a token if one is there (never waits)."""
        if self._rate <= 0:
            return False
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class ProfileLookup:
    """Authors' handles and followers from the AppView, cached and rate-limited."""

    def __init__(
        self,
        app_view: str,
        rate: float,
        metrics: StreamMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
        user_agent: str = f"brandmon-collector/{COLLECTOR_VERSION}",
    ) -> None:
        self._base = app_view.rstrip("/")
        self._limit = RateLimit(rate, clock)
        self._clock = clock
        self._metrics = metrics
        # One attempt per look-up: a stream cannot wait for retries; a miss is retried at
        # the author's next matching post.
        self._retrier = Retrier(BackoffPolicy(max_attempts=1, budget=0), is_retryable)
        self._http = HttpClient(self._retrier, user_agent=user_agent, timeout=5.0)
        self._cache: OrderedDict[str, tuple[float, bluesky.Author]] = OrderedDict()
        self._quiet_until = 0.0

    def author(self, did: str) -> bluesky.Author | None:
        """Return what the AppView says about an account, or None if not known now."""
        now = self._clock()
        cached = self._cache.get(did)
        if cached is not None and now - cached[0] < PROFILE_TTL_SECONDS:
            self._cache.move_to_end(did)
            self._metrics.lookups.labels("cached").inc()
            return cached[1]
        if now < self._quiet_until or not self._limit.take():
            self._metrics.lookups.labels("rate_limited").inc()
            return cached[1] if cached else None
        try:
            response = self._http.get(
                f"{self._base}/xrpc/app.bsky.actor.getProfile?actor={did}",
                {"Accept": "application/json"},
            )
            profile = json.loads(response.body)
        except HttpStatusError as error:
            if error.status == 429 or error.status >= 500:  # noqa: PLR2004 - throttled or down
                self._quiet_until = now + (error.retry_after or 30.0)
            self._metrics.lookups.labels("failed").inc()
            return cached[1] if cached else None
        except Exception:  # noqa: BLE001 - a failed look-up leaves the reach unknown
            self._metrics.lookups.labels("failed").inc()
            return cached[1] if cached else None
        followers = profile.get("followersCount") if isinstance(profile, dict) else None
        handle = profile.get("handle") if isinstance(profile, dict) else None
        author = bluesky.Author(
            handle=handle if isinstance(handle, str) and handle != "handle.invalid" else None,
            followers=followers if isinstance(followers, int) and followers >= 0 else None,
        )
        self._cache[did] = (now, author)
        self._cache.move_to_end(did)
        while len(self._cache) > PROFILE_CACHE_SIZE:
            self._cache.popitem(last=False)
        self._metrics.lookups.labels("fetched").inc()
        return author


class StreamMetrics:
    """The streaming collector's Prometheus metrics."""

    def __init__(self, source: str) -> None:
        self.registry = CollectorRegistry()
        self.source = source
        self.events = Counter(
            "brandmon_stream_events", "Firehose events read", registry=self.registry
        )
        self.matched = Counter(
            "brandmon_stream_posts_matched", "Posts about the brand", registry=self.registry
        )
        self.delivered = Counter(
            "brandmon_stream_posts_delivered", "Posts Kafka acknowledged", registry=self.registry
        )
        self.duplicates = Counter(
            "brandmon_stream_duplicates_dropped",
            "Posts read again after a rewind and not sent again",
            registry=self.registry,
        )
        self.skipped = Counter(
            "brandmon_stream_events_skipped",
            "Events not read as posts, by reason (malformed, oversized, deleted)",
            ["reason"],
            registry=self.registry,
        )
        self.reconnects = Counter(
            "brandmon_stream_reconnects", "Connections reopened", registry=self.registry
        )
        self.lag = Gauge(
            "brandmon_stream_lag_seconds",
            "Now minus the time of the last event read",
            registry=self.registry,
        )
        self.cursor = Gauge(
            "brandmon_stream_cursor_us", "The saved cursor (time_us)", registry=self.registry
        )
        self.lookups = Counter(
            "brandmon_stream_profile_lookups",
            "Author profile look-ups by outcome (fetched, cached, rate_limited, failed)",
            ["outcome"],
            registry=self.registry,
        )


@dataclass(frozen=True)
class _StreamPost:
    post_id: str


@dataclass
class Progress:
    """What the loop has read and sent, and what is safely saved."""

    read_cursor: int | None = None
    """time_us of the last event read."""
    saved_cursor: int | None = None
    """Cursor of the last save."""
    pending: dict[str, int] = field(default_factory=dict)
    """Post id -> time_us, sent and not yet acknowledged."""
    sent: OrderedDict[str, None] = field(default_factory=OrderedDict)
    """Ids acknowledged lately (the document's posts plus new ones)."""
    posts_new: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


class Connection(Protocol):
    """What the loop needs of a WebSocket connection."""

    def recv(self, timeout: float | None = None) -> str | bytes:
        """Return the next frame."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


Connect = Callable[[str], contextlib.AbstractContextManager[Connection]]


def _connect(url: str) -> contextlib.AbstractContextManager[Connection]:
    # Jetstream sends small JSON frames; a much larger one is refused, not buffered.
    return connect(
        url,
        max_size=MAX_FRAME_BYTES,
        open_timeout=10,
        close_timeout=2,
        compression=None,
        user_agent_header=f"brandmon-collector/{COLLECTOR_VERSION}",
    )


class Follower:
    """Follow Jetstream for one source until stopped."""

    def __init__(
        self,
        settings: WorkerSettings,
        config: BlueskySource,
        source: str,
        *,
        producer: Producer,
        store: StreamStore,
        metrics: StreamMetrics,
        lookup: ProfileLookup | None,
        connect_to: Connect = _connect,
        clock: Callable[[], float] = time.time,
        recorder: Recorder | None = None,
    ) -> None:
        self._config = config
        self._recorder = recorder
        self._topic = settings.topics.of(TopicRole.POSTS)
        self._producer = producer
        self._sink = KafkaSink(producer)
        self._store = store
        self._metrics = metrics
        self._lookup = lookup
        self._connect = connect_to
        self._clock = clock
        self._matcher = bluesky.Matcher.of(config, settings.brand)
        self._stamp = provenance_stamp(source)
        self._progress = Progress()
        self._last_save = 0.0
        self._last_event = 0.0
        self._skip_to: int | None = None
        self._skip_gap = 1
        self._too_big_at: int | None = None
        self.connected = False
        self.heartbeat = time.monotonic()
        self.connections = 0

    @property
    def progress(self) -> Progress:
        """Return the loop's progress (tests, report)."""
        return self._progress

    def ready(self) -> bool:
        """Return whether the stream is connected and events arrive."""
        return self.connected and time.monotonic() - self._last_event < READY_SILENCE_SECONDS

    def run(self, stop: threading.Event) -> None:
        """Read, match, send and save until `stop` is set; then flush and save once more."""
        document = self._store.load()
        self._progress.saved_cursor = document.cursor
        self._progress.read_cursor = document.cursor
        self._progress.sent = OrderedDict.fromkeys(document.posts)
        pause = RECONNECT_FIRST
        try:
            while not stop.is_set():
                url = self._url()
                flowed = False
                try:
                    with self._connect(url) as connection:
                        self.connected = True
                        self.connections += 1
                        log.info("connected to jetstream", extra={"fields": {"url": url}})
                        flowed = self._read(connection, stop)
                except (ConnectionClosed, InvalidHandshake, InvalidURI, OSError) as error:
                    self._on_disconnect(error)
                except DeliveryFailedError as error:
                    # Forget what was read past the saved cursor: it is read again.
                    self._progress.read_cursor = self._progress.saved_cursor
                    self._progress.errors.append(str(error))
                    log.warning("posts not delivered; resuming from the saved cursor")
                finally:
                    self.connected = False
                self._settle(force=True)
                if stop.is_set():
                    break
                pause = RECONNECT_FIRST if flowed else min(RECONNECT_MAX, pause * 2)
                self._metrics.reconnects.inc()
                stop.wait(pause)
        finally:
            self._settle(force=True)

    def _url(self) -> str:
        if self._skip_to is not None:
            cursor: int | None = self._skip_to
            self._skip_to = None
        else:
            cursor = bluesky.connect_cursor(
                self._progress.saved_cursor, int(self._clock() * 1_000_000)
            )
            # What was read but is not saved yet is read again from the saved cursor.
            self._progress.read_cursor = self._progress.saved_cursor
        return bluesky.subscribe_url(self._config.jetstream_url, cursor)

    def _on_disconnect(self, error: BaseException) -> None:
        code = None
        if isinstance(error, ConnectionClosed):
            code = error.sent.code if error.sent else (error.rcvd.code if error.rcvd else None)
        read = self._progress.read_cursor
        if code == _TOO_BIG and read is not None:
            # Resume just after the last event read, or the same frame comes back forever;
            # if it does come back (it is later than that), skip ten times further each time.
            self._skip_gap = self._skip_gap * 10 if self._too_big_at == read else 1
            self._skip_gap = min(self._skip_gap, 10_000_000)
            self._too_big_at = read
            self._metrics.skipped.labels("oversized").inc()
            self._skip_to = read + self._skip_gap
        log.warning(
            "jetstream connection lost",
            extra={"fields": {"error": describe_error(error), "close_code": code}},
        )

    def _read(self, connection: Connection, stop: threading.Event) -> bool:
        flowed = False
        while not stop.is_set():
            self.heartbeat = time.monotonic()
            try:
                frame = connection.recv(timeout=0.25)
            except TimeoutError:
                self._settle()
                continue
            flowed = True
            self._handle(frame)
            self._settle()
        return flowed

    def _handle(self, frame: str | bytes) -> None:
        self._last_event = time.monotonic()
        self._metrics.events.inc()
        if len(frame) > MAX_EVENT_BYTES:
            self._metrics.skipped.labels("oversized").inc()
            return
        try:
            event = bluesky.parse_event(frame)
        except bluesky.EventFormatError:
            self._metrics.skipped.labels("malformed").inc()
            return
        self._metrics.lag.set(max(0.0, self._clock() - event.time_us / 1_000_000))
        if event.kind == "commit" and event.commit and event.commit.operation == "delete":
            self._metrics.skipped.labels("deleted").inc()
        elif event.is_post and self._matcher.why(event):
            self._send(event)
        self._progress.read_cursor = event.time_us

    def _send(self, event: bluesky.Event) -> None:
        post_id = f"bluesky:{event.uri}"
        progress = self._progress
        if post_id in progress.sent or post_id in progress.pending:
            progress.duplicates += 1
            self._metrics.duplicates.inc()
            return
        self._metrics.matched.inc()
        author = self._lookup.author(event.did) if self._lookup is not None else None
        post = bluesky.event_post(event, self._stamp, author)
        progress.pending[post_id] = event.time_us
        self._sink.send(
            _StreamPost(post_id), [Outgoing(self._topic, post_id, post.model_dump_json())]
        )
        if self._recorder is not None:
            self._recorder.record(post)

    def _settle(self, *, force: bool = False) -> None:
        self._producer.poll(0)
        now = time.monotonic()
        if not force and now - self._last_save < SAVE_SECONDS:
            return
        self._last_save = now
        progress = self._progress
        settled = self._sink.flush() if progress.pending else None
        failed = False
        if settled is not None:
            for group in settled.delivered:
                if isinstance(group, _StreamPost):
                    progress.pending.pop(group.post_id, None)
                    progress.sent[group.post_id] = None
                    progress.posts_new += 1
                    self._metrics.delivered.inc()
            failed = bool(settled.failed)
            progress.pending.clear()
        while len(progress.sent) > MAX_REMEMBERED:
            progress.sent.popitem(last=False)
        if failed:
            # Keep the saved cursor before the undelivered posts: they are read again.
            raise DeliveryFailedError(f"{len(settled.failed) if settled else 0} posts undelivered")
        if progress.read_cursor != progress.saved_cursor and progress.read_cursor is not None:
            self._store.save(StreamDocument(cursor=progress.read_cursor, posts=list(progress.sent)))
            progress.saved_cursor = progress.read_cursor
            self._metrics.cursor.set(progress.read_cursor)

    def flush_producer(self, timeout: float = 10.0) -> None:
        """Wait for whatever the producer still holds (at exit)."""
        self._producer.flush(timeout)

    def report(self) -> SourceResult:
        """Return what this process did, as a run report."""
        progress = self._progress
        return SourceResult(
            posts_new=progress.posts_new,
            posts_seen=progress.duplicates,
            errors=len(progress.errors),
            message=(
                f"bluesky stream: {progress.posts_new} new posts, {progress.duplicates} read "
                f"again and dropped, {self.connections} connections, cursor "
                f"{progress.saved_cursor}"
            )[:3000],
        )


class DeliveryFailedError(Exception):
    """Kafka did not acknowledge some posts."""


class _Health(BaseHTTPRequestHandler):
    follower: Follower

    def do_GET(self) -> None:
        alive = time.monotonic() - self.follower.heartbeat < READY_SILENCE_SECONDS
        ok = alive if self.path == "/healthz" else self.follower.ready()
        self.send_response(200 if ok else 503 if self.path in ("/healthz", "/readyz") else 404)
        self.end_headers()
        self.wfile.write(b"ok\n" if ok else b"not ok\n")

    def log_message(self, *_: object) -> None:
        """Keep probes out of the logs."""


@contextlib.contextmanager
def serving(follower: Follower, metrics: StreamMetrics, settings: WorkerSettings) -> Iterator[None]:
    """Serve the probes and metrics while the follower runs."""
    servers: list[Any] = []
    if settings.health_port:
        handler = type("Health", (_Health,), {"follower": follower})
        server = ThreadingHTTPServer(("0.0.0.0", settings.health_port), handler)  # noqa: S104 - pod probes
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    if settings.metrics_port:
        metrics_server, _thread = start_http_server(
            settings.metrics_port, registry=metrics.registry
        )
        servers.append(metrics_server)
    try:
        yield
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def follow(
    settings: WorkerSettings,
    stop: threading.Event,
    *,
    s3: S3Client,
    producer: Producer | None = None,
    connect_to: Connect = _connect,
    termination_log: Path | None = None,
) -> Follower:
    """Follow the settings' Bluesky source until `stop`; return the follower (its report)."""
    source = settings.source
    if source is None or source.bluesky is None:
        raise ValueError("not a bluesky source")
    own_producer = producer is None
    if producer is None:
        producer = Producer(
            producer_config(settings, f"brandmon-collector.{settings.namespace}."
                            f"{settings.monitor}.{source.name}") | {"linger.ms": 5}
        )  # fmt: skip
    check_topics(producer, [settings.topics.of(TopicRole.POSTS)])
    metrics = StreamMetrics(source.name)
    store = StreamStore(
        s3,
        settings.s3.bucket,
        stream_key(settings.namespace, settings.monitor, source.name),
        scope=settings.s3_scope(),
    )
    config = source.bluesky
    lookup = (
        ProfileLookup(config.app_view_url, config.profile_lookups_per_second, metrics)
        if config.profile_lookups_per_second > 0
        else None
    )
    with contextlib.ExitStack() as stack:
        recorder = (
            stack.enter_context(Recorder.open(Path(source.record_path)))
            if source.record_path
            else None
        )
        follower = Follower(
            settings, config, source.name, producer=producer, store=store, metrics=metrics,
            lookup=lookup, connect_to=connect_to, recorder=recorder,
        )  # fmt: skip
        _follow_until_stopped(
            follower,
            metrics,
            settings,
            stop,
            termination_log=termination_log,
            own_producer=own_producer,
        )
    return follower


def _follow_until_stopped(
    follower: Follower,
    metrics: StreamMetrics,
    settings: WorkerSettings,
    stop: threading.Event,
    *,
    termination_log: Path | None,
    own_producer: bool,
) -> None:
    source = metrics.source
    try:
        with serving(follower, metrics, settings):
            follower.run(stop)
    finally:
        report = follower.report()
        log.info(
            "bluesky collector stopped",
            extra={"fields": {"source": source, **report.model_dump(by_alias=True)}},
        )
        if termination_log is not None:
            with contextlib.suppress(OSError):
                termination_log.write_text(report.model_dump_json(by_alias=True))
        if own_producer:
            follower.flush_producer()
