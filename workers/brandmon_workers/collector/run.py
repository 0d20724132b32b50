"""One collector run: read the source, send what is new, remember it, report.

Order of a run: check that Kafka and the monitor's topics are there (before touching the
source), read the "already sent" state from S3, then for each item of the source: skip a
post sent before (`posts_seen`), otherwise upload its images and produce its Media and
Post messages. Every `BATCH_POSTS` posts or `BATCH_SECONDS`, and at the end, the producer
is flushed, the posts Kafka acknowledged are recorded and the state is written back; a post
whose delivery failed is not recorded, so the next run sends it again. The run's numbers
are written as the container's termination message (the operator's `SourceResult`) and
logged as one JSON line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Generator, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import boto3
import instaloader
from botocore.config import Config
from confluent_kafka import Producer
from pydantic import Field, ValidationError

from brandmon_workers import logs
from brandmon_workers.collector import http
from brandmon_workers.collector.backoff import BackoffPolicy, Retrier
from brandmon_workers.collector.delivery import (
    KafkaSink,
    KafkaUnavailableError,
    Outgoing,
    check_topics,
    producer_config,
)
from brandmon_workers.collector.feeds import rss_items
from brandmon_workers.collector.instagram import instagram_items, is_retryable, new_instaloader
from brandmon_workers.collector.items import (
    COLLECTOR_VERSION,
    Item,
    ItemError,
    PostItem,
    ProfileItem,
    describe_error,
    post_messages,
    profile_fingerprint,
    provenance_stamp,
)
from brandmon_workers.collector.mastodon import mastodon_items
from brandmon_workers.collector.media import MediaStore
from brandmon_workers.collector.reddit import reddit_items
from brandmon_workers.collector.replay import (
    FileRecording,
    Recorder,
    S3Recording,
    replay_items,
)
from brandmon_workers.collector.state import SentState, StateStore, state_key
from brandmon_workers.contract.settings import (
    MASTODON_TOKEN_ENV,
    REDDIT_CLIENT_ID_ENV,
    REDDIT_CLIENT_SECRET_ENV,
    S3Settings,
    SourceSettings,
    WorkerSettings,
)
from brandmon_workers.contract.sources import SourceResult
from brandmon_workers.contract.storage import OutsideScopeError, S3Scope, S3UriError
from brandmon_workers.contract.topics import TopicRole

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("brandmon.collector")

BATCH_POSTS = 100
BATCH_SECONDS = 5.0
# Kubernetes keeps at most 4096 bytes of a termination message; leave room for the numbers.
MESSAGE_LIMIT_BYTES = 3000
ERRORS_IN_MESSAGE = 5
USER_AGENT = f"brandmon-collector/{COLLECTOR_VERSION} (brand monitoring)"
_TERMINATION_LOG = Path(os.environ.get("BRANDMON_TERMINATION_LOG", "/dev/termination-log"))


class RunReport(SourceResult):
    """What one run did; the termination message is exactly its SourceResult part."""

    aborted: bool = Field(default=False, exclude=True)
    """The run stopped on an unexpected error (not part of the termination message)."""

    @property
    def succeeded(self) -> bool:
        """Return whether the run counts as a success (exit code 0)."""
        collected = self.posts_new + self.posts_seen > 0
        return not self.aborted and not (self.errors > 0 and not collected)


def _truncate_utf8(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


@dataclass
class Tally:
    """Running counts of a run."""

    source: str
    posts_new: int = 0
    posts_seen: int = 0
    profiles_sent: int = 0
    errors: list[str] = field(default_factory=list)
    fatal: str | None = None
    """The error that stopped the run, if one did."""

    def error(self, subject: str, error: str) -> None:
        """Count and log one error."""
        self.errors.append(f"{subject}: {error}")
        log.warning("collector error", extra={"fields": {"subject": subject, "error": error}})

    def abort(self, error: str) -> None:
        """Count the error that stops the run."""
        self.error("run", error)
        self.fatal = self.errors[-1]

    def report(self) -> RunReport:
        """Return the run's report with a bounded summary message (the fatal error first)."""
        summary = (
            f"source {self.source}: {self.posts_new} new posts, {self.posts_seen} already sent, "
            f"{self.profiles_sent} profiles updated, {len(self.errors)} errors"
        )
        shown = self.errors[:ERRORS_IN_MESSAGE]
        if self.fatal is not None:
            shown = [f"aborted: {self.fatal}", *(e for e in shown if e != self.fatal)]
        if shown:
            more = len(self.errors) - len(shown)
            summary += " - " + "; ".join(shown) + (f" (+{more} more)" if more > 0 else "")
        return RunReport(
            posts_new=self.posts_new,
            posts_seen=self.posts_seen,
            errors=len(self.errors),
            message=_truncate_utf8(summary, MESSAGE_LIMIT_BYTES),
            aborted=self.fatal is not None,
        )


class Pacer:
    """Space events at most `per_second` apart in time; 0 means no pacing."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        """Sleep until the next event is due."""
        if not self._interval:
            return
        now = self._clock()
        if self._next is not None and now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self._interval


class DeliveryStalledError(Exception):
    """A whole batch failed to reach Kafka; going on would only fail the same way."""


@dataclass(frozen=True)
class _PostGroup:
    post_id: str


@dataclass(frozen=True)
class _ProfileGroup:
    username: str
    fingerprint: str


class Collector:
    """Turn a source's items into S3 objects and Kafka messages; record what Kafka took."""

    def __init__(
        self,
        settings: WorkerSettings,
        sink: KafkaSink,
        *,
        media: MediaStore,
        state: SentState,
        store: StateStore,
        tally: Tally,
        pacer: Pacer | None = None,
        clock: Callable[[], float] = time.monotonic,
        recorder: Recorder | None = None,
    ) -> None:
        self._topics = {
            role: settings.topics.of(role)
            for role in (TopicRole.PROFILES, TopicRole.POSTS, TopicRole.MEDIA)
        }
        self._sink = sink
        self._media = media
        self._state = state
        self._store = store
        self._tally = tally
        self._pacer = pacer or Pacer(0)
        self._clock = clock
        self._recorder = recorder
        self._handled: set[Hashable] = set()
        self._followers: dict[str, int] = {}
        """Followers of the profiles this run read: a post's author reach, for its alert."""
        self._batch = 0
        self._batch_started = clock()

    def handle(self, item: Item) -> None:
        """Process one item of the source."""
        if isinstance(item, ItemError):
            self._tally.error(item.subject, item.error)
        elif isinstance(item, ProfileItem):
            self._profile(item)
        else:
            self._post(item)
        if self._batch >= BATCH_POSTS or (
            self._batch and self._clock() - self._batch_started >= BATCH_SECONDS
        ):
            self.flush()

    def _profile(self, item: ProfileItem) -> None:
        profile = item.profile
        self._followers[profile.username] = profile.followers
        group = _ProfileGroup(profile.username, profile_fingerprint(profile))
        if group in self._handled or self._state.profile_is_current(
            group.username, group.fingerprint
        ):
            return
        self._handled.add(group)
        message = Outgoing(
            self._topics[TopicRole.PROFILES], profile.username, profile.model_dump_json()
        )
        self._sink.send(group, [message])

    def _post(self, item: PostItem) -> None:
        post_id = item.post.post_id
        group = _PostGroup(post_id)
        if self._state.has_post(post_id):
            self._tally.posts_seen += 1
            return
        if group in self._handled:
            return  # listed twice in one run (a profile's post also under a hashtag)
        self._handled.add(group)
        stored = []
        for image in item.images:
            try:
                stored.append(self._media.store(image.load()))
            except Exception as error:  # noqa: BLE001 - the post waits for the next run
                self._tally.error(f"post {post_id} {image.ref}", describe_error(error))
                return
        found = item.post
        if found.author_followers is None and found.username in self._followers:
            found = found.model_copy(update={"author_followers": self._followers[found.username]})
        post, media = post_messages(found, stored)
        self._pacer.wait()
        messages = [
            Outgoing(self._topics[TopicRole.MEDIA], post_id, m.model_dump_json()) for m in media
        ]
        messages.append(Outgoing(self._topics[TopicRole.POSTS], post_id, post.model_dump_json()))
        self._sink.send(group, messages)
        if self._recorder is not None:
            self._recorder.record(post)
        self._batch += 1

    def flush(self) -> None:
        """Wait for Kafka's reports, record what was delivered and save the state."""
        settled = self._sink.flush()
        for group in settled.delivered:
            if isinstance(group, _PostGroup):
                self._state.add_posts([group.post_id])
                self._tally.posts_new += 1
            elif isinstance(group, _ProfileGroup):
                self._state.add_profile(group.username, group.fingerprint)
                self._tally.profiles_sent += 1
        for group, error in settled.failed.items():
            self._tally.error(f"delivery of {_describe_group(group)}", error)
        if self._state.changed:
            self._store.save(self._state)
        self._batch = 0
        self._batch_started = self._clock()
        if settled.failed and not settled.delivered:
            raise DeliveryStalledError(
                f"Kafka acknowledged none of {len(settled.failed)} posts and profiles"
            )


def _describe_group(group: Hashable) -> str:
    if isinstance(group, _PostGroup):
        return f"post {group.post_id}"
    if isinstance(group, _ProfileGroup):
        return f"profile {group.username}"
    return str(group)


# --- clients ----------------------------------------------------------------------------


def s3_client(settings: S3Settings) -> S3Client:
    """Return a boto3 S3 client for the settings; credentials come from the environment."""
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10),
    )
    return client


def _client_id(settings: WorkerSettings, source: SourceSettings) -> str:
    return f"brandmon-collector.{settings.namespace}.{settings.monitor}.{source.name}"


class ConfigurationError(Exception):
    """The settings do not describe a runnable source."""


def source_items(
    source: SourceSettings,
    s3: S3Client,
    scope: S3Scope,
    stack: contextlib.ExitStack,
    instaloader_factory: Callable[[], instaloader.Instaloader] | None,
    *,
    brand: str = "",
    backoff: BackoffPolicy | None = None,
) -> Generator[Item, None, None] | Iterator[Item]:
    """Return the items of the configured source (exactly one kind must be set)."""
    stamp = provenance_stamp(source.name)
    kind = source.kind()
    if kind in ("rss", "mastodon", "reddit"):
        agent = source.reddit.user_agent if source.reddit is not None else USER_AGENT
        client = http.HttpClient(
            Retrier(backoff or BackoffPolicy(), http.is_retryable), user_agent=agent
        )
        if source.rss is not None:
            return rss_items(source.rss, brand, client, stamp)
        if source.mastodon is not None:
            token = os.environ.get(MASTODON_TOKEN_ENV) or None
            return mastodon_items(source.mastodon, client, stamp, token)
        if source.reddit is not None:
            return reddit_items(
                source.reddit,
                client,
                stamp,
                os.environ.get(REDDIT_CLIENT_ID_ENV),
                os.environ.get(REDDIT_CLIENT_SECRET_ENV),
            )
    if source.replay is not None and kind == "replay":
        replay = source.replay
        if replay.s3_uri and not replay.path:
            return replay_items(S3Recording(replay.s3_uri, s3, scope=scope), stamp)
        if replay.path and not replay.s3_uri:
            return replay_items(FileRecording(Path(replay.path), s3, scope=scope), stamp)
        raise ConfigurationError("a replay source needs exactly one of s3Uri and path")
    if source.instagram is not None and kind == "instagram":
        retrier = Retrier(backoff or BackoffPolicy(), is_retryable)
        factory = instaloader_factory or (lambda: new_instaloader(retrier))
        loader = factory()
        stack.callback(loader.close)
        return instagram_items(source.instagram, loader, retrier, stamp)
    if kind == "bluesky":
        raise ConfigurationError(
            f"source {source.name!r} streams: run `brandmon-worker collector --stream`"
        )
    raise ConfigurationError(f"source {source.name!r} needs exactly one source kind")


# --- the run ----------------------------------------------------------------------------


def run(
    settings: WorkerSettings,
    *,
    producer: Producer | None = None,
    s3: S3Client | None = None,
    instaloader_factory: Callable[[], instaloader.Instaloader] | None = None,
    termination_log: Path = _TERMINATION_LOG,
    backoff: BackoffPolicy | None = None,
) -> RunReport:
    """Collect once from the settings' source; report (and write the termination message)."""
    source = settings.source
    tally = Tally(source.name if source else "?")
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        collector: Collector | None = None
        try:
            if source is None:
                raise ConfigurationError("no source configured (BRANDMON_SOURCE is not set)")
            if s3 is None:
                s3 = s3_client(settings.s3)
                stack.callback(s3.close)
            if producer is None:
                producer = Producer(producer_config(settings, _client_id(settings, source)))
                stack.callback(producer.close)
            topics = [
                settings.topics.of(r)
                for r in (TopicRole.PROFILES, TopicRole.POSTS, TopicRole.MEDIA)
            ]
            check_topics(producer, topics)
            scope = settings.s3_scope()
            store = StateStore(
                s3,
                settings.s3.bucket,
                state_key(settings.namespace, settings.monitor, source.name),
                scope=scope,
            )
            state = store.load()
            items = source_items(
                source, s3, scope, stack, instaloader_factory, brand=settings.brand, backoff=backoff
            )
            if isinstance(items, Generator):
                stack.enter_context(contextlib.closing(items))
            recorder = None
            if source.record_path:
                recorder = stack.enter_context(Recorder.open(Path(source.record_path)))
            pacer = Pacer(source.replay.posts_per_second if source.replay else 0.0)
            collector = Collector(
                settings,
                KafkaSink(producer),
                media=MediaStore(
                    s3, settings.s3.bucket, settings.namespace, settings.monitor, scope=scope
                ),
                state=state,
                store=store,
                tally=tally,
                pacer=pacer,
                recorder=recorder,
            )
            for item in items:
                collector.handle(item)
            collector.flush()
        except Exception as error:  # every failure ends up in the run's report
            tally.abort(describe_error(error))
            log.error(
                "collector run aborted",
                exc_info=not _expected(error),
                extra={"fields": {"error": describe_error(error)}},
            )
            if collector is not None and not isinstance(error, DeliveryStalledError):
                _record_what_was_delivered(collector, tally)
    report = tally.report()
    write_termination_message(termination_log, report)
    log.info(
        "collector run finished",
        extra={
            "fields": {
                "namespace": settings.namespace,
                "monitor": settings.monitor,
                "source": tally.source,
                "collector_version": COLLECTOR_VERSION,
                "duration_seconds": round(time.monotonic() - started, 3),
                "succeeded": report.succeeded,
                **report.model_dump(by_alias=True),
            }
        },
    )
    return report


def _expected(error: Exception) -> bool:
    # Failures with a clear cause need no traceback in the log.
    return isinstance(
        error,
        ConfigurationError
        | KafkaUnavailableError
        | DeliveryStalledError
        | OutsideScopeError
        | S3UriError,
    )


def _record_what_was_delivered(collector: Collector, tally: Tally) -> None:
    # Posts Kafka took before the failure must be remembered, or the next run repeats them.
    try:
        collector.flush()
    except Exception as error:  # noqa: BLE001 - the run is failing already: report both
        tally.error("recording delivered posts", describe_error(error))


def write_termination_message(path: Path, report: RunReport) -> None:
    """Write the report where Kubernetes reads the termination message."""
    try:
        path.write_text(report.model_dump_json(by_alias=True), encoding="utf-8")
    except OSError as error:
        log.warning(
            "cannot write the termination message",
            extra={"fields": {"path": str(path), "error": describe_error(error)}},
        )


def main(*, stream: bool = False) -> int:
    """Run the collector configured by the environment; 0 on success, 1 on failure.

    With `stream`, follow a streaming source (Bluesky) until SIGTERM instead of one run.
    """
    logs.setup()
    termination_log = Path(os.environ.get("BRANDMON_TERMINATION_LOG", "/dev/termination-log"))
    try:
        settings = WorkerSettings()  # pydantic-settings fills it from the environment
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}"
            for problem in error.errors(include_input=False)
        )
        report = RunReport(
            errors=1,
            message=_truncate_utf8(f"invalid settings: {problems}", MESSAGE_LIMIT_BYTES),
            aborted=True,
        )
        log.error("invalid collector settings", extra={"fields": {"error": report.message}})
        write_termination_message(termination_log, report)
        return 1
    if stream:
        return _follow(settings, termination_log)
    report = run(settings, termination_log=termination_log)
    return 0 if report.succeeded else 1


def _follow(settings: WorkerSettings, termination_log: Path) -> int:
    from brandmon_workers.collector import bluesky_stream  # noqa: PLC0415 - stream role only

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    s3 = s3_client(settings.s3)
    try:
        bluesky_stream.follow(settings, stop, s3=s3, termination_log=termination_log)
    except Exception as error:  # noqa: BLE001 - the pod restarts; say why in one line first
        log.error("bluesky collector failed", extra={"fields": {"error": describe_error(error)}})
        write_termination_message(
            termination_log, RunReport(errors=1, message=describe_error(error), aborted=True)
        )
        return 1
    finally:
        s3.close()
    return 0
