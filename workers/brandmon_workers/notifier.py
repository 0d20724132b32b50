"""The notifier: alerts to webhooks, each post once, with a per-account cooldown.

Payloads: `generic` (the alert as JSON with why it was raised) or `slack` (a Slack
incoming-webhook message laid out with Block Kit: severity, the post's opening and link,
platform, author and followers, time posted, engagement, score and why). A webhook with a
minimum severity gets only the alerts that reach it (a pager takes only the urgent ones).
Every request carries X-Brandmon-Delivery, a delivery id derived from the alert's identity
(namespace, monitor, receiver, post), the same on every retry, so a receiver can drop the
rare repeat that at-least-once delivery allows (a crash between sending and committing).
With a signing key, a generic request also carries X-Brandmon-Timestamp and
X-Brandmon-Signature: `v1=` HMAC-SHA256 over `<timestamp>.<delivery id>.<body>`, so a
captured request cannot be replayed later or under another delivery id (README: "Verifying
signed webhooks"); each attempt is signed afresh with its own timestamp. Failures
are retried with exponential backoff (timeouts, connection errors, 429 and 5xx); when a
webhook still fails that way after the retries, the notifier pauses and tries the batch
again, for as long as the receiver is down, so an outage delays alerts but loses none.
Another 4xx (or a missing URL) cannot get better by waiting: that alert goes to the
dead-letter topic with the reason.

Dedupe and cooldown survive restarts: `start()` rebuilds them from the alerts this worker
already committed. The cooldown is per account: a further alert about the same account
within it is suppressed (logged and counted), the first is always sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from brandmon_workers.contract.messages import SEVERITIES, Alert, MessageModel, PostContext
from brandmon_workers.contract.settings import WebhookTarget, WorkerSettings
from brandmon_workers.contract.topics import TopicRole
from brandmon_workers.runtime import Context, Output, Pause, Record, record_dead_letter

log = logging.getLogger(__name__)

RETRIABLE_STATUS = {429, 500, 502, 503, 504}
TIMEOUT_S = 10.0
PAUSE_S = 10.0
"""Wait after a webhook kept failing with a retriable error, before the batch is retried."""


@dataclass(frozen=True)
class Response:
    """What a webhook answered (status 0: no answer)."""

    status: int
    error: str = ""


def http_post(url: str, body: bytes, headers: Mapping[str, str]) -> Response:
    """POST to a webhook and return its status; never raises for network errors."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310 - the user's webhook
            return Response(answer.status)
    except urllib.error.HTTPError as error:
        return Response(error.code, f"HTTP {error.code}")
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        return Response(0, type(error).__name__)


_LANGUAGE_NAMES = {"es": "Spanish", "de": "German", "fr": "French", "pt": "Portuguese",
                   "it": "Italian"}  # fmt: skip
"""The analyzer's other languages by name; any other code is shown as it is."""


def explain(alert: Alert) -> list[str]:
    """Return why a post alerted, in words a PR person reads, strongest evidence first."""
    why = [
        f"{c.label}: " + ", ".join(f'"{e}"' for e in c.evidence)
        if c.evidence else c.label
        for c in sorted(alert.risk_categories, key=lambda c: -c.score)
    ]  # fmt: skip
    if alert.keywords:
        why.append("mentions your keywords: " + ", ".join(alert.keywords))
    if alert.toxicity >= 0.5:  # noqa: PLR2004 - the classifier's own decision threshold
        why.append(f"offensive language ({alert.toxicity:.2f})")
    if alert.negativity > 0:
        why.append(f"negative tone ({alert.negativity:.2f})")
    if alert.categories:
        why.append("the image shows: " + ", ".join(alert.categories))
    if alert.language and alert.language not in ("en", "und"):
        why.append(f"written in {_LANGUAGE_NAMES.get(alert.language, alert.language)}")
    return why


def generic_payload(alert: Alert, brand: str, monitor: str) -> bytes:
    """Return the generic JSON payload of an alert: the alert itself and why it was raised."""
    document = {
        "brand": brand,
        "monitor": monitor,
        "alert": alert.model_dump(mode="json"),
        "why": explain(alert),
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


_SEVERITY_MARK = {"low": ":large_blue_circle:", "medium": ":large_yellow_circle:",
                  "high": ":large_orange_circle:", "critical": ":red_circle:"}  # fmt: skip
# Block Kit's limits: a header's text, a section's text, one field.
_HEADER_CHARS, _SECTION_CHARS, _FIELD_CHARS = 150, 3000, 2000


def _escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves for links and mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str, limit: int = _FIELD_CHARS) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text[:limit]}


def slack_payload(alert: Alert, brand: str) -> bytes:
    """Return a Slack incoming-webhook message: Block Kit blocks, `text` for notifications.

    It shows what a PR person needs to act: severity, the post's opening, its link, the
    platform, the author with their followers, when it was posted, engagement, the score
    and why it alerted.
    """
    post = alert.post or PostContext()
    author = f"@{_escape(alert.username)}"
    reach = (
        f"{post.author_followers:,} followers" if post.author_followers is not None
        else "followers unknown"
    )  # fmt: skip
    why = explain(alert)
    headline = f"{alert.severity.upper()}: a post about {brand} by @{alert.username}"
    fields = [
        _mrkdwn(f"*Author*\n{author} ({reach})"),
        _mrkdwn(f"*Platform*\n{_escape(post.platform or 'unknown')}"),
        _mrkdwn(f"*Score*\n{alert.final_score:.2f} (severity {alert.severity})"),
        _mrkdwn(f"*Engagement*\n{post.likes:,} likes, {post.comments:,} comments"),
    ]
    if post.posted_at is not None:
        stamp = int(post.posted_at.timestamp())
        when = f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{post.posted_at.isoformat()}>"
        fields.append(_mrkdwn(f"*Posted*\n{when}"))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:_HEADER_CHARS]}},
    ]
    if post.excerpt:
        blocks.append({"type": "section", "text": _mrkdwn("> " + _escape(post.excerpt),
                                                           _SECTION_CHARS)})  # fmt: skip
    blocks.append({"type": "section", "fields": fields})
    if why:
        reasons = "\n".join(f"• {_escape(reason)}" for reason in why)
        blocks.append({"type": "section", "text": _mrkdwn(f"*Why*\n{reasons}", _SECTION_CHARS)})
    if post.url:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open the post"},
            "url": post.url[:3000]}]})  # fmt: skip
    blocks.append(
        {"type": "context", "elements": [_mrkdwn(f"post {_escape(alert.post_id)} · brandmon")]}
    )
    text = _escape(
        f"{brand}: post {alert.post_id} by @{alert.username} scored {alert.final_score:.2f}"
        + (f" ({'; '.join(why)})" if why else "")
    )
    text = f"{_SEVERITY_MARK[alert.severity]} {text}"
    return json.dumps({"text": text, "blocks": blocks}).encode()


def urgent_enough(alert: Alert, webhook: WebhookTarget) -> bool:
    """Whether the alert's severity reaches the least this webhook takes."""
    return SEVERITIES.index(alert.severity) >= SEVERITIES.index(webhook.min_severity)


SIGNATURE_VERSION = "v1"
MAX_SIGNATURE_AGE_S = 300
"""How old a signed request a receiver should still accept (and how far in the future)."""


def delivery_id(namespace: str, monitor: str, webhook: str, post_id: str) -> str:
    """Return the X-Brandmon-Delivery id of one alert to one receiver (stable across retries)."""
    identity = "\x00".join((namespace, monitor, webhook, post_id))
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def signature(key: str, timestamp: int, delivery: str, body: bytes) -> str:
    """Return the X-Brandmon-Signature value: v1=HMAC-SHA256 of `<timestamp>.<delivery>.<body>`."""
    signed = f"{timestamp}.{delivery}.".encode() + body
    return f"{SIGNATURE_VERSION}=" + hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()


def verify(
    key: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    *,
    max_age_s: float = MAX_SIGNATURE_AGE_S,
) -> bool:
    """Check a signed request as a receiver should: signature first, then its age."""
    try:
        timestamp = int(headers.get("X-Brandmon-Timestamp", ""))
    except ValueError:
        return False
    delivery = headers.get("X-Brandmon-Delivery", "")
    expected = signature(key, timestamp, delivery, body)
    if not hmac.compare_digest(expected, headers.get("X-Brandmon-Signature", "")):
        return False
    return abs(now - timestamp) <= max_age_s


class Notifier:
    """The notifier role."""

    inputs: Mapping[TopicRole, type[MessageModel]] = {TopicRole.ALERTS: Alert}

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        post: Callable[[str, bytes, Mapping[str, str]], Response] = http_post,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        attempts: int = 5,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.settings = settings
        self._post = post
        self._sleep = sleep
        self._clock = clock
        self.attempts = attempts
        self.delivered_posts: set[str] = set()
        self.last_sent: dict[str, float] = {}
        # A batch paused by an outage is processed again: what it already sent is not
        # resent, and the dead letters it made are produced with the retried batch.
        self._sent: set[tuple[str, str]] = set()
        self._letters: dict[str, list[Output]] = {}
        # URLs and keys are read once; they are secrets, so they are never logged.
        self._urls = {w.name: environ.get(w.url_env, "") for w in settings.webhooks}
        self._keys = {
            w.name: environ.get(w.secret_env, "") for w in settings.webhooks if w.secret_env
        }

    def start(self, context: Context) -> None:
        """Rebuild dedupe and cooldown from the alerts this worker already committed.

        Malformed alerts were dead-lettered when they came; the context skips (and counts)
        them here, so they cannot stop a restart.
        """
        for record in context.records(TopicRole.ALERTS, handled_only=True):
            alert: Alert = record.value
            self.delivered_posts.add(alert.post_id)
            stamp = record.timestamp_ms / 1000
            self.last_sent[alert.username] = max(self.last_sent.get(alert.username, 0.0), stamp)

    def process(self, records: Sequence[Record]) -> list[Output]:
        """Deliver each new alert to every webhook; dead-letter what cannot be delivered."""
        outputs: list[Output] = []
        for record in records:
            alert = record.value
            assert isinstance(alert, Alert)
            if alert.post_id in self.delivered_posts:
                outputs += self._letters.get(alert.post_id, [])
                continue
            now = self._clock()
            since = now - self.last_sent.get(alert.username, float("-inf"))
            if since < self.settings.alert_cooldown_seconds:
                log.info("alert suppressed by cooldown", extra={"fields": {"post": alert.post_id,
                         "account": alert.username}})  # fmt: skip
                self.delivered_posts.add(alert.post_id)
                continue
            letters = self._letters.setdefault(alert.post_id, [])
            for webhook in self.settings.webhooks:
                if (alert.post_id, webhook.name) in self._sent or not urgent_enough(alert, webhook):
                    continue
                failure, retriable = self._deliver(webhook, alert)
                if retriable:
                    raise Pause(PAUSE_S)
                if failure:
                    letter = record_dead_letter(
                        record, f"webhook {webhook.name}: {failure}", "notifier"
                    )
                    letters.append(Output(TopicRole.DEAD_LETTERS, alert.post_id, letter))
                self._sent.add((alert.post_id, webhook.name))
            outputs += letters
            self.delivered_posts.add(alert.post_id)
            self.last_sent[alert.username] = now
        return outputs

    def delivered(self, outputs: Sequence[Output]) -> None:
        """Forget the batch's dead letters once Kafka has them (deliveries happened earlier)."""
        self._letters.clear()
        self._sent.clear()

    def _deliver(self, webhook: WebhookTarget, alert: Alert) -> tuple[str, bool]:
        """Send one alert to one webhook, with retries.

        Return why it failed ('' if it did not) and whether waiting may cure the failure.
        """
        url = self._urls.get(webhook.name, "")
        if not url:
            return f"no URL in {webhook.url_env}", False
        if webhook.format == "slack":
            body = slack_payload(alert, self.settings.brand)
        else:
            body = generic_payload(alert, self.settings.brand, self.settings.monitor)
        delivery = delivery_id(
            self.settings.namespace, self.settings.monitor, webhook.name, alert.post_id
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "brandmon-notifier/0.1.0",
            "X-Brandmon-Delivery": delivery,
        }
        key = self._keys.get(webhook.name) if webhook.format == "generic" else None
        last = ""
        for attempt in range(self.attempts):
            sent = headers
            if key:
                # Signed per attempt: a retry minutes later must not look stale.
                timestamp = int(self._clock())
                sent = headers | {
                    "X-Brandmon-Timestamp": str(timestamp),
                    "X-Brandmon-Signature": signature(key, timestamp, delivery, body),
                }
            answer = self._post(url, body, sent)
            if 200 <= answer.status < 300:  # noqa: PLR2004 - HTTP success
                log.info(
                    "alert delivered",
                    extra={"fields": {"post": alert.post_id, "webhook": webhook.name}},
                )
                return "", False
            last = answer.error or f"HTTP {answer.status}"
            if answer.status and answer.status not in RETRIABLE_STATUS:
                return f"{last} (not retried)", False
            if attempt + 1 < self.attempts:
                self._sleep(min(60.0, 2.0**attempt))
        failure = f"{last} after {self.attempts} attempts"
        log.warning("webhook unavailable; pausing", extra={"fields": {
            "post": alert.post_id, "webhook": webhook.name, "error": failure}})  # fmt: skip
        return failure, True
