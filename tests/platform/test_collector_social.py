"""The Mastodon and Reddit sources end to end: local API doubles into the real Kafka and S3."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from confluent_kafka.admin import AdminClient

from brandmon_workers.collector.backoff import BackoffPolicy
from brandmon_workers.collector.run import run
from brandmon_workers.contract.base import SecretKeyRef
from brandmon_workers.contract.settings import SourceSettings
from brandmon_workers.contract.sources import MastodonSource, RedditSource
from brandmon_workers.contract.topics import TopicNames
from tests.doubles.http import HttpDouble, Reply, Request
from tests.images import png
from tests.platform.collecting import http_double, make_topics, posts_in, worker_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["http_double"]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "sources"
FAST = BackoffPolicy(first_delay=0.05, max_delay=0.2, budget=30)
TOKEN = "mastodon-t0ken-never-logged"
CLIENT_ID, CLIENT_SECRET = "reddit-app-id", "reddit-app-s3cret-never-logged"
JSON = {"Content-Type": "application/json; charset=utf-8"}


def fixture(name: str, base: str = "") -> bytes:
    return (FIXTURES / name).read_text().replace("{BASE}", base).encode()


@pytest.fixture
def topics(kafka_admin: AdminClient, topic_prefix: str) -> TopicNames:
    return make_topics(kafka_admin, topic_prefix)


@pytest.fixture(autouse=True)
def aws_env(platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, platform_env[name])


def no_secret_in(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    for record in caplog.records:
        text = record.getMessage() + repr(getattr(record, "fields", ""))
        for secret in secrets:
            assert secret not in text, f"a secret in the log: {record.getMessage()}"


def test_mastodon_timelines_and_search_reach_kafka_once(
    platform_env: dict[str, str],
    s3: S3Client,
    bucket: str,
    topics: TopicNames,
    http_double: HttpDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    base = http_double.url
    monkeypatch.setenv("BRANDMON_MASTODON_TOKEN", TOKEN)
    tag = "/api/v1/timelines/tag/acme"

    def timeline(request: Request) -> Reply:
        if "max_id=" in request.path:
            return Reply(200, fixture("mastodon-tag-page2.json"), JSON)
        link = f'<{base}{tag}?max_id=113600000000000002>; rel="next", <{base}{tag}?min_id=113600000000000003>; rel="prev"'
        return Reply(200, fixture("mastodon-tag-page1.json", base), JSON | {"Link": link})

    http_double.route(tag, timeline)
    reset = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    http_double.route(
        "/api/v2/search",
        Reply(
            429,
            b'{"error":"Too many requests"}',
            JSON
            | {
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset,
            },
        ),
        Reply(200, fixture("mastodon-search.json", base), JSON | {"X-RateLimit-Remaining": "299"}),
    )
    http_double.route(
        "/media/burn.png", Reply(200, png((200, 60, 0), size=4), {"Content-Type": "image/png"})
    )
    source = SourceSettings(
        name="mastodon",
        mastodon=MastodonSource(
            instances=[base],
            hashtags=["acme"],
            search_terms=["ACME Corp"],
            token_secret_ref=SecretKeyRef(name="mastodon-token", key="token"),
        ),
    )
    settings = worker_settings(platform_env, bucket, topics, source)

    first = run(settings, termination_log=tmp_path / "first", backoff=FAST)

    assert (first.posts_new, first.errors) == (5, 0), first.message
    posts = {p.post_id.rsplit("/", 1)[-1]: p for p in posts_in(platform_env, topics)}
    assert set(posts) == {
        "113600000000000003", "113599000000000001", "113600000000000001",
        "113600000000000000", "113600000000000009",
    }  # fmt: skip
    burnt = posts["113600000000000003"]
    assert burnt.platform == "mastodon"
    assert burnt.author_followers == 1520
    assert len(burnt.media_uris) == 1, "the image went to S3"
    assert burnt.media_uris[0].startswith(f"s3://{bucket}/ns/m/media/")
    assert posts["113599000000000001"].username == "critic@fosstodon.org", "the boost's original"
    assert posts["113600000000000000"].language == "ja"
    searches = [r for r in http_double.requests if r.path.startswith("/api/v2/search")]
    assert len(searches) == 2, "one 429, one retry after the reset"
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in searches)

    second = run(settings, termination_log=tmp_path / "second", backoff=FAST)
    assert (second.posts_new, second.errors) == (0, 0), second.message
    assert second.posts_seen == 6, "4 from the timeline, 2 from the search"
    assert len(posts_in(platform_env, topics)) == 5
    assert TOKEN not in first.message + second.message
    no_secret_in(caplog, TOKEN)


def reddit_routes(http_double: HttpDouble, *, token_status: int = 200) -> None:
    def token(request: Request) -> Reply:
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if token_status != 200 or request.headers.get("authorization") != f"Basic {basic}":
            return Reply(401, b'{"message": "Unauthorized", "error": 401}', JSON)
        assert request.body == b"grant_type=client_credentials"
        return Reply(200, fixture("reddit-token.json"), JSON)

    def new(request: Request) -> Reply:
        assert request.headers["authorization"] == "bearer eyJhbGciOi.app-only-token"
        page = (
            "reddit-new-page2.json"
            if "after=t3_1h8k1y" in request.path
            else "reddit-new-page1.json"
        )
        return Reply(
            200,
            fixture(page),
            JSON
            | {
                "x-ratelimit-remaining": "95.0",
                "x-ratelimit-used": "5",
                "x-ratelimit-reset": "300",
            },
        )

    http_double.route("/api/v1/access_token", token)
    http_double.route("/r/acme/new", new)
    http_double.route("/r/acme/comments", Reply(200, fixture("reddit-comments.json"), JSON))
    http_double.route(
        "/search",
        Reply(429, b'{"message": "Too Many Requests", "error": 429}', JSON | {"Retry-After": "1"}),
        Reply(200, fixture("reddit-search.json"), JSON),
    )


def reddit_source(base: str) -> SourceSettings:
    return SourceSettings(
        name="reddit",
        reddit=RedditSource(
            subreddits=["acme"],
            search_queries=['"ACME Corp"'],
            include_comments=True,
            credentials_secret_name="reddit-app",
            api_url=base,
            token_url=f"{base}/api/v1/access_token",
        ),
    )


def test_reddit_listings_reach_kafka_once(
    platform_env: dict[str, str],
    s3: S3Client,
    bucket: str,
    topics: TopicNames,
    http_double: HttpDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("REDDIT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", CLIENT_SECRET)
    reddit_routes(http_double)
    settings = worker_settings(platform_env, bucket, topics, reddit_source(http_double.url))

    first = run(settings, termination_log=tmp_path / "first", backoff=FAST)

    assert (first.posts_new, first.errors) == (5, 0), first.message
    posts = {p.post_id: p for p in posts_in(platform_env, topics)}
    assert set(posts) == {
        "reddit:t3_1h8k2a", "reddit:t3_1h8k1z", "reddit:t3_1h8k1w", "reddit:t1_m0abc1",
        "reddit:t3_1h8k9q",
    }  # fmt: skip
    assert posts["reddit:t1_m0abc1"].author_followers == 48211, "the subreddit's reach"
    assert posts["reddit:t3_1h8k9q"].author_followers == 3100000
    assert {p.platform for p in posts.values()} == {"reddit"}
    assert all(
        r.headers["user-agent"] == "brandmon/0.1 (brand monitoring)" for r in http_double.requests
    )
    assert len(http_double.paths("/search")) == 2, "one 429, one retry after Retry-After"

    second = run(settings, termination_log=tmp_path / "second", backoff=FAST)
    assert (second.posts_new, second.errors) == (0, 0), second.message
    assert len(posts_in(platform_env, topics)) == 5
    no_secret_in(caplog, CLIENT_SECRET, "eyJhbGciOi.app-only-token")


def test_refused_reddit_credentials_fail_the_run_without_showing_them(
    platform_env: dict[str, str],
    s3: S3Client,
    bucket: str,
    topics: TopicNames,
    http_double: HttpDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", CLIENT_SECRET)
    reddit_routes(http_double, token_status=401)
    settings = worker_settings(platform_env, bucket, topics, reddit_source(http_double.url))

    report = run(settings, termination_log=tmp_path / "run", backoff=FAST)

    assert not report.succeeded
    assert "refused the app's credentials" in report.message
    assert CLIENT_SECRET not in report.message
    assert http_double.paths() == ["/api/v1/access_token"], "no listing without a token"
