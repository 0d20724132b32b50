"""The news source end to end: feeds from a local server into the real Kafka and S3."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from confluent_kafka.admin import AdminClient

from brandmon_workers.collector.backoff import BackoffPolicy
from brandmon_workers.collector.items import provenance_stamp
from brandmon_workers.collector.replay import RecordedPost, parse_line
from brandmon_workers.collector.run import run
from brandmon_workers.contract.settings import SourceSettings
from brandmon_workers.contract.sources import RssSource
from brandmon_workers.contract.topics import TopicNames
from tests.doubles.http import HttpDouble, Reply
from tests.platform.collecting import http_double, make_topics, posts_in, worker_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["http_double"]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "sources"
FAST = BackoffPolicy(first_delay=0.05, max_delay=0.2, budget=30)


@pytest.fixture
def topics(kafka_admin: AdminClient, topic_prefix: str) -> TopicNames:
    return make_topics(kafka_admin, topic_prefix)


@pytest.fixture(autouse=True)
def aws_env(platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, platform_env[name])


def feed(name: str, content_type: str) -> Reply:
    return Reply(200, (FIXTURES / name).read_bytes(), {"Content-Type": content_type})


def test_feeds_reach_kafka_once_with_throttling_and_bad_feeds_reported(
    platform_env: dict[str, str],
    s3: S3Client,
    bucket: str,
    topics: TopicNames,
    http_double: HttpDouble,
    tmp_path: Path,
) -> None:
    base = http_double.url
    http_double.route("/rss", feed("rss2.xml", "application/rss+xml; charset=UTF-8"))
    # Throttled first: the collector waits as Retry-After says, then reads it.
    http_double.route(
        "/atom",
        Reply(429, b"slow down", {"Retry-After": "1"}),
        feed("atom.xml", "application/atom+xml"),
    )
    http_double.route("/latin1", feed("latin1.xml", "text/xml"))
    http_double.route("/huge", Reply(200, b"<rss>" + b" " * (9 * 1024 * 1024) + b"</rss>"))
    http_double.route("/gone", Reply(404, b"gone"))
    source = SourceSettings(
        name="news",
        rss=RssSource(
            feeds=[f"{base}/rss", f"{base}/atom", f"{base}/latin1", f"{base}/huge", f"{base}/gone"]
        ),
        record_path=str(tmp_path / "recording.jsonl"),
    )
    settings = worker_settings(platform_env, bucket, topics, source)

    first = run(settings, termination_log=tmp_path / "first", backoff=FAST)

    assert (first.posts_new, first.posts_seen, first.errors) == (6, 0, 2), first.message
    assert first.succeeded, "some feeds failing is a partial run, not a failed one"
    assert "/huge" in first.message
    assert "HTTP 404" in first.message
    atom_requests = [r for r in http_double.requests if r.path == "/atom"]
    assert len(atom_requests) == 2, "one 429, one retry"
    assert all(
        r.headers["user-agent"].startswith("brandmon-collector/") for r in http_double.requests
    )

    posts = posts_in(platform_env, topics)
    assert len(posts) == 6
    assert {p.platform for p in posts} == {"news"}
    by_url = {p.url: p for p in posts}
    breach = by_url["https://techwatch.example/2026/12/acme-breach/"]
    assert breach.comments == 37
    assert breach.provenance.source == "news"
    assert by_url["https://journal.example/acme-panne"].caption.startswith(
        "ACME: les clients mécontents"
    )
    assert by_url["https://handelsblog.example/acme-rueckruf"].language == "de"

    second = run(settings, termination_log=tmp_path / "second", backoff=FAST)
    assert (second.posts_new, second.posts_seen) == (0, 6), second.message
    assert len(posts_in(platform_env, topics)) == 6, "nothing sent twice"

    # The recording replays as the same posts.
    lines = (tmp_path / "recording.jsonl").read_text().splitlines()
    assert len(lines) == 6
    replayed = [parse_line(line, provenance_stamp("replay")) for line in lines]
    assert sorted(r.post.post_id for r in replayed if isinstance(r, RecordedPost)) == sorted(
        p.post_id for p in posts
    )
