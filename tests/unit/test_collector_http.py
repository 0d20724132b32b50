"""Rate-limit headers: how long a platform asks the collector to wait."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from brandmon_workers.collector.backoff import BackoffPolicy, Retrier
from brandmon_workers.collector.http import (
    HttpStatusError,
    is_retryable,
    quota_wait_seconds,
    retry_after_seconds,
    where,
)

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "Thu, 03 Dec 2026 12:00:30 GMT"}, 30.0),
        ({"retry-after": "Thu, 03 Dec 2026 11:59:00 GMT"}, 0.0),  # in the past: at once
        ({"retry-after": "soon"}, None),
        # Mastodon: an ISO 8601 reset once the remaining quota is 0.
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2026-12-03T12:05:00.000Z"}, 300.0),
        # Reddit: floats, the reset in seconds from now.
        ({"x-ratelimit-remaining": "0.0", "x-ratelimit-reset": "42"}, 42.0),
        ({"x-ratelimit-remaining": "12", "x-ratelimit-reset": "42"}, None),
        # An epoch timestamp.
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW.timestamp() + 9)}, 9.0),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], seconds: float | None) -> None:
    found = retry_after_seconds(headers, NOW)
    assert found == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_after_wins_over_the_quota_reset() -> None:
    headers = {"retry-after": "3", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "60"}
    assert retry_after_seconds(headers, NOW) == 3.0
    assert quota_wait_seconds(headers, NOW) == 60.0


def test_only_throttling_and_server_trouble_are_retried() -> None:
    assert is_retryable(HttpStatusError(429, "https://x.test/a"))
    assert is_retryable(HttpStatusError(503, "https://x.test/a"))
    assert not is_retryable(HttpStatusError(404, "https://x.test/a"))
    assert not is_retryable(HttpStatusError(401, "https://x.test/a"))
    assert is_retryable(ConnectionResetError())


def test_errors_never_show_the_query() -> None:
    error = HttpStatusError(429, "https://news.example/rss/search?q=secret+plan&key=abc")
    assert str(error) == "HTTP 429 from news.example/rss/search"
    assert where("http://127.0.0.1:8080/a?b=c") == "127.0.0.1:8080/a"


def test_the_retrier_waits_as_long_as_the_platform_says() -> None:
    slept: list[float] = []
    retrier = Retrier(BackoffPolicy(first_delay=5), is_retryable, sleep=slept.append)
    answers: list[Exception | str] = [
        HttpStatusError(429, "https://x.test/", retry_after=1.5),
        "ok",
    ]

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert retrier.call("get", call) == "ok"
    assert slept == [1.5]
