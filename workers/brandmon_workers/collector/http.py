"""HTTP for the polled sources (feeds, Mastodon, Reddit, Bluesky profiles): bounded and polite.

`HttpClient` does GET and form POST through the standard library, with a size cap on every
body (an oversized answer is an error, not a memory spike), a timeout, and retries through
the run's `Retrier`: 429 and 5xx answers and network errors are retried, each wait taken
from what the platform said (`Retry-After`, or the reset time of `X-RateLimit-*` headers
when the remaining quota is 0) and otherwise from exponential backoff, all within the run's
budget. When an answer says the quota is used up, the next request waits for the reset
first instead of provoking a 429. Header parsing is pure (`retry_after_seconds`,
`quota_wait_seconds`). Request headers may carry credentials, so nothing here logs them,
and errors name the host and path only (query strings can hold search terms or keys).
"""

from __future__ import annotations

import email.utils
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from brandmon_workers.collector.backoff import BackoffExhaustedError, Retrier

MAX_BODY_BYTES = 8 * 1024 * 1024
TIMEOUT_SECONDS = 30.0
# A reset further away than this is not waited for in one run: the next run will.
MAX_QUOTA_WAIT_SECONDS = 900.0
_RETRYABLE_STATUS = {429, 500, 502, 503, 504}
# An epoch timestamp, not a delay: Reddit sends seconds to go, others epoch seconds.
_EPOCH_THRESHOLD = 1_000_000_000


@dataclass(frozen=True)
class Response:
    """A successful answer."""

    status: int
    headers: Mapping[str, str] = field(repr=False)
    """Header names lowercased."""
    body: bytes = field(repr=False)
    url: str


def where(url: str) -> str:
    """Return host and path of a URL, for errors and logs (no query, no credentials)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}{parts.path}"


class HttpStatusError(Exception):
    """The server answered with an error status."""

    def __init__(self, status: int, url: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status} from {where(url)}")
        self.status = status
        self.retry_after = retry_after
        """Seconds the server asked us to wait (Retry-After or rate-limit reset), if it did."""

    @property
    def retryable(self) -> bool:
        """Return whether waiting can fix it (throttling, server trouble)."""
        return self.status in _RETRYABLE_STATUS


class ResponseTooLargeError(Exception):
    """The body is larger than the client accepts."""


def _parse_time(text: str, now: datetime) -> float | None:
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number >= _EPOCH_THRESHOLD:
            return number - now.timestamp()
        return number
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - now).total_seconds()


def quota_wait_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """Return how long to wait for the quota's reset when the remaining quota is 0.

    Mastodon sends `X-RateLimit-Remaining` and an ISO 8601 `X-RateLimit-Reset`; Reddit
    `X-Ratelimit-Remaining` (a float) and `X-Ratelimit-Reset` in seconds from now.
    """
    remaining = headers.get("x-ratelimit-remaining")
    reset = headers.get("x-ratelimit-reset")
    if remaining is None or reset is None:
        return None
    try:
        if float(remaining) >= 1:
            return None
    except ValueError:
        return None
    seconds = _parse_time(reset, now)
    return None if seconds is None else max(0.0, seconds)


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """Return the wait an error answer asks for: Retry-After, else the quota's reset."""
    told = headers.get("retry-after")
    if told is not None:
        seconds = _parse_time(told, now)
        if seconds is not None:
            return max(0.0, seconds)
    return quota_wait_seconds(headers, now)


def is_retryable(error: BaseException) -> bool:
    """Return whether a failed request is worth another try."""
    if isinstance(error, HttpStatusError):
        return error.retryable
    if isinstance(error, BackoffExhaustedError | ResponseTooLargeError):
        return False
    # Connection refused or reset, timeouts and DNS failures are OSErrors (URLError too).
    return isinstance(error, OSError)


class HttpClient:
    """GET and POST with size caps, platform-paced retries and quota waits."""

    def __init__(
        self,
        retrier: Retrier,
        *,
        user_agent: str,
        max_bytes: int = MAX_BODY_BYTES,
        timeout: float = TIMEOUT_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._retrier = retrier
        self._user_agent = user_agent
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._clock = clock
        self._monotonic = monotonic
        self._resume_at: dict[str, float] = {}
        """Host -> monotonic time its quota resets, after an answer said it is used up."""
        self.requests = 0
        """Requests sent (for the run's report and tests)."""

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        """GET a URL; raise HttpStatusError, ResponseTooLargeError or OSError on failure."""
        return self._retrier.call(f"GET {where(url)}", partial(self._once, url, None, headers))

    def post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> Response:
        """POST a form (application/x-www-form-urlencoded)."""
        data = urllib.parse.urlencode(form).encode()
        return self._retrier.call(f"POST {where(url)}", partial(self._once, url, data, headers))

    def _once(self, url: str, data: bytes | None, headers: Mapping[str, str] | None) -> Response:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {where(url)}")
        host = urllib.parse.urlsplit(url).netloc
        resume = self._resume_at.get(host)
        if resume is not None:
            self._retrier.wait(resume - self._monotonic(), f"rate limit of {host}")
            self._resume_at.pop(host, None)
        request = urllib.request.Request(url, data=data, method="POST" if data else "GET")  # noqa: S310
        request.add_header("User-Agent", self._user_agent)
        request.add_header("Accept-Encoding", "identity")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        self.requests += 1
        try:
            answer = urllib.request.urlopen(request, timeout=self._timeout)  # noqa: S310 - checked above
        except urllib.error.HTTPError as error:
            with error:
                found = {k.lower(): v for k, v in error.headers.items()}
            raise HttpStatusError(
                error.code, url, retry_after_seconds(found, self._clock())
            ) from None
        with answer:
            found = {k.lower(): v for k, v in answer.headers.items()}
            length = found.get("content-length", "")
            if length.isdigit() and int(length) > self._max_bytes:
                raise ResponseTooLargeError(
                    f"{where(url)} answered {int(length)} bytes (limit {self._max_bytes})"
                )
            body = answer.read(self._max_bytes + 1)
            if len(body) > self._max_bytes:
                raise ResponseTooLargeError(
                    f"{where(url)} answered more than {self._max_bytes} bytes"
                )
            status = int(answer.status)
        wait = quota_wait_seconds(found, self._clock())
        if wait:
            self._resume_at[host] = self._monotonic() + min(wait, MAX_QUOTA_WAIT_SECONDS)
        return Response(status=status, headers=found, body=body, url=answer.geturl())
