"""The Bluesky collector end to end: a local Jetstream and AppView into the real Kafka and S3.

It follows the firehose from a saved cursor in the past, survives a cut connection and one
cut in the middle of a frame, is stopped and started again, and every matching post
reaches Kafka exactly once; a saved cursor in the future starts at the live end.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka.admin import AdminClient

from brandmon_workers.collector.bluesky import REWIND_US
from brandmon_workers.collector.bluesky_stream import Follower, StreamDocument, follow, stream_key
from brandmon_workers.collector.items import provenance_stamp
from brandmon_workers.collector.replay import RecordedPost, parse_line
from brandmon_workers.contract.messages import Post
from brandmon_workers.contract.settings import SourceSettings, WorkerSettings
from brandmon_workers.contract.sources import BlueskySource
from brandmon_workers.contract.topics import TopicNames
from tests.doubles.http import HttpDouble, Reply, Request
from tests.doubles.jetstream import Frame, JetstreamDouble, commit, post_record
from tests.platform.collecting import http_double, make_topics, posts_in, worker_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["http_double"]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "sources"
HISTORY = [
    json.loads(line) for line in (FIXTURES / "jetstream-events.jsonl").read_text().splitlines()
]
T0 = HISTORY[0]["time_us"]
JAMIE, SUPPORT_CRITIC = "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:plc:2xau7wbgdq4phuou2ypwuen7"


@pytest.fixture
def topics(kafka_admin: AdminClient, topic_prefix: str) -> TopicNames:
    return make_topics(kafka_admin, topic_prefix)


@pytest.fixture
def jetstream() -> Iterator[JetstreamDouble]:
    with JetstreamDouble() as double:
        yield double


def app_view(http_double: HttpDouble) -> None:
    """Profiles: Jamie has 1520 followers; the AppView throttles look-ups of another."""
    profile = json.loads((FIXTURES / "bluesky-profile.json").read_text())

    def get_profile(request: Request) -> Reply:
        actor = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.path).query))["actor"]
        if actor == SUPPORT_CRITIC:
            return Reply(429, b'{"error":"RateLimitExceeded"}', {"Retry-After": "60"})
        if actor == JAMIE:
            return Reply(200, json.dumps(profile).encode(), {"Content-Type": "application/json"})
        return Reply(400, b'{"error":"InvalidRequest","message":"Profile not found"}')

    http_double.route("/xrpc/app.bsky.actor.getProfile", get_profile)


@dataclass
class Running:
    follower: Follower | None
    stop: threading.Event
    thread: threading.Thread

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def start(settings: WorkerSettings, s3: S3Client) -> Running:
    stop = threading.Event()
    holder: dict[str, Follower] = {}

    def target() -> None:
        holder["f"] = follow(settings, stop, s3=s3)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return Running(None, stop, thread)


def eventually(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def settings_for(
    platform_env: dict[str, str], bucket: str, topics: TopicNames, jetstream: str, app: str
) -> WorkerSettings:
    source = SourceSettings(
        name="bsky",
        bluesky=BlueskySource(
            handles=["acme.com"],
            domains=["acme.com"],
            jetstream_url=jetstream,
            app_view_url=app,
            profile_lookups_per_second=50,
        ),
    )
    return worker_settings(platform_env, bucket, topics, source).model_copy(
        update={"health_port": 0, "metrics_port": 0}
    )


def saved(s3: S3Client, bucket: str) -> StreamDocument:
    body = s3.get_object(Bucket=bucket, Key=stream_key("ns", "m", "bsky"))["Body"].read()
    return StreamDocument.model_validate_json(body)


def posts_by_id(platform_env: dict[str, str], topics: TopicNames, count: int) -> dict[str, Post]:
    posts = eventually(
        lambda: found if len(found := posts_in(platform_env, topics)) >= count else None,
        what=f"{count} posts in Kafka",
    )
    ids = [p.post_id for p in posts]
    assert len(ids) == len(set(ids)), f"a post sent twice: {sorted(ids)}"
    return {p.post_id.rsplit("/", 1)[-1]: p for p in posts}


def live_post(n: int, text: str) -> dict[str, Any]:
    return commit(
        "did:plc:live0000000000000000000001",
        int(time.time() * 1_000_000),
        f"3lcxlive{n:05d}",
        post_record(text),
    )


def test_the_firehose_reaches_kafka_exactly_once_through_cuts_and_a_restart(
    platform_env: dict[str, str],
    s3: S3Client,
    bucket: str,
    topics: TopicNames,
    jetstream: JetstreamDouble,
    http_double: HttpDouble,
) -> None:
    app_view(http_double)
    oversized = commit(
        JAMIE, T0 + 11_000, "3lcxhuge00001", post_record("ACME Corp " + "x" * (3 * 1024 * 1024))
    )
    non_utf8 = json.dumps(
        commit(
            SUPPORT_CRITIC, T0 + 12_000, "3lcxlatin0001", post_record("ACME Corp caf\u00e9 closed")
        ),
        ensure_ascii=False,
    ).encode("latin-1")
    jetstream.add(
        *HISTORY,
        oversized,
        Frame(T0 + 12_000, non_utf8),
        Frame(T0 + 13_000, "garbage{"),
    )
    # A cursor saved long ago: the collector resumes there and reads the whole history.
    s3.put_object(
        Bucket=bucket,
        Key=stream_key("ns", "m", "bsky"),
        Body=StreamDocument(cursor=T0).model_dump_json().encode(),
    )
    settings = settings_for(platform_env, bucket, topics, jetstream.url, http_double.url)

    running = start(settings, s3)
    first = jetstream.wait_for_subscriptions(1)[0]
    assert first == {"wantedCollections": "app.bsky.feed.post", "cursor": str(T0 - REWIND_US)}
    posts = posts_by_id(platform_env, topics, 5)
    assert set(posts) == {
        "3lcxa2b4k2c2a",
        "3lcxa2b4k2c2c",
        "3lcxa2b4k2c2d",
        "3lcxa2b4k2c2g",
        "3lcxlatin0001",
    }  # fmt: skip, the brand is "ACME" here, so the German post with "acme" counts
    jamie = posts["3lcxa2b4k2c2a"]
    assert (jamie.username, jamie.author_followers, jamie.platform) == (
        "jamie.bsky.social",
        1520,
        "bluesky",
    )
    assert jamie.caption.startswith("ACME Corp's new skates overheat"), "the create, not the edit"
    throttled = posts["3lcxa2b4k2c2c"]
    assert (throttled.username, throttled.author_followers) == (SUPPORT_CRITIC, None), (
        "reach unknown, not stalled"
    )
    assert posts["3lcxa2b4k2c2d"].language == "ja"
    assert "caf\ufffd closed" in posts["3lcxlatin0001"].caption
    profile_asks = http_double.paths("/xrpc/")
    assert len(profile_asks) == 2, (
        f"one look-up per author, then the 429 quiets them: {profile_asks}"
    )

    # The last event read is the non-UTF-8 one (garbage and oversized frames are no events).
    # The connection drops; the next one is cut in the middle of its first frame.
    eventually(lambda: saved(s3, bucket).cursor == T0 + 12_000, what="the cursor saved")
    jetstream.drop_mid_frame(after=0)
    jetstream.cut()
    subscriptions = jetstream.wait_for_subscriptions(3)
    assert all(s["cursor"] == str(T0 + 12_000 - REWIND_US) for s in subscriptions[1:])
    jetstream.add(live_post(1, "@acme.com where is my refund"))
    posts = posts_by_id(platform_env, topics, 6)
    assert "3lcxlive00001" in posts

    # A graceful stop saves where it was; a new process resumes there and sends nothing twice.
    running.halt()
    stopped_at = saved(s3, bucket)
    assert stopped_at.cursor is not None
    assert stopped_at.cursor > T0 + 12_000
    assert len(stopped_at.posts) == 6
    running = start(settings, s3)
    resumed = jetstream.wait_for_subscriptions(len(jetstream.subscriptions) + 1)[-1]
    assert resumed["cursor"] == str(stopped_at.cursor - REWIND_US)
    jetstream.add(live_post(2, "Is ACME Corp going bankrupt?"))
    posts = posts_by_id(platform_env, topics, 7)
    assert "3lcxlive00002" in posts
    running.halt()
    assert len(posts_in(platform_env, topics)) == 7, "nothing sent twice"


def test_a_cursor_in_the_future_starts_at_the_live_end(
    platform_env: dict[str, str],
    s3: S3Client,
    bucket: str,
    topics: TopicNames,
    jetstream: JetstreamDouble,
    http_double: HttpDouble,
    tmp_path: Path,
) -> None:
    app_view(http_double)
    jetstream.add(*HISTORY)
    future = int(time.time() * 1_000_000) + 3_600_000_000
    s3.put_object(
        Bucket=bucket,
        Key=stream_key("ns", "m", "bsky"),
        Body=StreamDocument(cursor=future).model_dump_json().encode(),
    )
    settings = settings_for(platform_env, bucket, topics, jetstream.url, http_double.url)
    assert settings.source is not None
    recording = tmp_path / "bluesky.jsonl"
    source = settings.source.model_copy(update={"record_path": str(recording)})
    running = start(settings.model_copy(update={"source": source}), s3)
    try:
        assert "cursor" not in jetstream.wait_for_subscriptions(1)[0]
        jetstream.add(live_post(3, "ACME Corp recall announced"))
        posts = posts_by_id(platform_env, topics, 1)
        assert set(posts) == {"3lcxlive00003"}, "the history before the live end is not read"
    finally:
        running.halt()
    assert saved(s3, bucket).cursor != future, "the cursor moved back to real time"
    (line,) = recording.read_text().splitlines()
    recorded = parse_line(line, provenance_stamp("replay"))
    assert isinstance(recorded, RecordedPost)
    assert recorded.post.post_id == posts["3lcxlive00003"].post_id, "a replayable recording"
    assert recorded.post.platform == "bluesky"
