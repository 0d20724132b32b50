"""The Mastodon source: hashtag and status-search timelines of listed instances (REST).

For each instance, each hashtag's public timeline (`GET /api/v1/timelines/tag/:hashtag`,
paged by the `Link: <...>; rel="next"` header) and each search term's statuses
(`GET /api/v2/search?type=statuses`, paged by offset; Mastodon answers it only to a token)
are read, newest first, up to the source's limit. A status becomes a Post with `platform`
"mastodon": a boost is the boosted status (so boosting never makes a second post), the id
is the status's ActivityPub URI (the same status seen through two instances is one post),
the HTML content becomes text, the author's followers are the reach and favourites and
replies the engagement; Mastodon's declared language travels too. Image attachments load
only when the post is new. Parsing is pure (`status_post`, `next_link`); paging and the
HTTP client (rate-limit headers, Retry-After) are the I/O around it.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from brandmon_workers.collector.http import HttpClient, where
from brandmon_workers.collector.items import (
    ImageSource,
    Item,
    ItemError,
    PostItem,
    Stamp,
    describe_error,
)
from brandmon_workers.collector.markup import bounded, html_text
from brandmon_workers.contract.messages import Post
from brandmon_workers.contract.sources import MastodonSource

PLATFORM = "mastodon"
PAGE_SIZE = 40  # Mastodon's maximum for timelines and search
MAX_IMAGES = 4
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([^";]+)"?')


class MastodonFormatError(ValueError):
    """An answer that is not what Mastodon's API documents."""


def next_link(header: str | None) -> str | None:
    """Return the rel="next" URL of a Link header, if any."""
    for url, rel in _LINK.findall(header or ""):
        if "next" in rel.split():
            return str(url)
    return None


def _time(text: object) -> datetime:
    if not isinstance(text, str):
        raise MastodonFormatError("created_at is missing")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _count(value: object) -> int:
    return max(0, value) if isinstance(value, int) else 0


def qualified_acct(acct: str, instance: str) -> str:
    """Return user@domain: local accounts carry no domain in `acct`."""
    if "@" in acct:
        return acct
    return f"{acct}@{urllib.parse.urlsplit(instance).hostname or instance}"


def image_urls(status: Mapping[str, Any]) -> list[str]:
    """Return the URLs of a status's image attachments (a video's preview), at most four."""
    urls = []
    for attachment in status.get("media_attachments") or []:
        if not isinstance(attachment, Mapping):
            continue
        kind = attachment.get("type")
        url = attachment.get("url") if kind == "image" else attachment.get("preview_url")
        if kind in ("image", "gifv", "video") and isinstance(url, str) and url:
            urls.append(url)
    return urls[:MAX_IMAGES]


def status_post(status: Mapping[str, Any], instance: str, stamp: Stamp) -> Post | None:
    """Return the Post of a Status (a boost: the boosted one); None if it is not public text.

    Raises MastodonFormatError when the status lacks what every Status has.
    """
    boosted = status.get("reblog")
    if isinstance(boosted, Mapping):
        status = boosted
    if status.get("visibility", "public") not in ("public", "unlisted"):
        return None
    uri, account = status.get("uri"), status.get("account")
    if not isinstance(uri, str) or not uri or not isinstance(account, Mapping):
        raise MastodonFormatError("a status has a uri and an account")
    text = html_text(str(status.get("content") or ""))
    warning = html_text(str(status.get("spoiler_text") or ""), 500)
    caption = bounded(f"{warning}\n\n{text}".strip() if warning else text)
    acct = qualified_acct(
        str(account.get("acct") or account.get("username") or "unknown"), instance
    )
    return Post(
        post_id=f"mastodon:{uri}",
        shortcode=str(status.get("id") or ""),
        username=acct,
        url=str(status.get("url") or uri),
        caption=caption,
        hashtags=[
            str(t["name"])
            for t in status.get("tags") or []
            if isinstance(t, Mapping) and t.get("name")
        ],
        mentions=[
            str(m["acct"])
            for m in status.get("mentions") or []
            if isinstance(m, Mapping) and m.get("acct")
        ],
        posted_at=_time(status.get("created_at")),
        likes=_count(status.get("favourites_count")),
        comments=_count(status.get("replies_count")),
        platform=PLATFORM,
        author_followers=_count(account.get("followers_count")),
        language=str(status.get("language") or ""),
        provenance=stamp(),
    )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MastodonFormatError(f"not JSON: {describe_error(error)}") from error


class MastodonReader:
    """Read the timelines of a Mastodon source through an HttpClient."""

    def __init__(
        self, config: MastodonSource, http: HttpClient, stamp: Stamp, token: str | None
    ) -> None:
        self._config = config
        self._http = http
        self._stamp = stamp
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def items(self) -> Iterator[Item]:
        """Yield posts and errors: every hashtag, then every search, per instance."""
        for raw in self._config.instances:
            instance = raw.rstrip("/")
            for tag in self._config.hashtags:
                yield from self._timeline(instance, tag)
            for term in self._config.search_terms:
                yield from self._search(instance, term)

    def _timeline(self, instance: str, tag: str) -> Iterator[Item]:
        subject = f"mastodon {where(instance)} #{tag}"
        url: str | None = (
            f"{instance}/api/v1/timelines/tag/{urllib.parse.quote(tag)}?limit={PAGE_SIZE}"
        )
        left = self._config.max_posts_per_query
        while url and left > 0:
            try:
                response = self._http.get(url, self._headers)
                page = _json(response.body)
                if not isinstance(page, list):
                    raise MastodonFormatError("a timeline is a JSON array of statuses")
            except Exception as error:  # noqa: BLE001 - one timeline's failure, not the run's
                yield ItemError(subject, describe_error(error))
                return
            if not page:
                return
            yield from self._statuses(page[:left], instance, subject)
            left -= len(page)
            url = next_link(response.headers.get("link"))

    def _search(self, instance: str, term: str) -> Iterator[Item]:
        subject = f"mastodon {where(instance)} search {term!r}"
        offset = 0
        while offset < self._config.max_posts_per_query:
            query = urllib.parse.urlencode(
                {"q": term, "type": "statuses", "limit": PAGE_SIZE, "offset": offset}
            )
            try:
                response = self._http.get(f"{instance}/api/v2/search?{query}", self._headers)
                found = _json(response.body)
                statuses = found.get("statuses") if isinstance(found, dict) else None
                if not isinstance(statuses, list):
                    raise MastodonFormatError("search results have a statuses array")
            except Exception as error:  # noqa: BLE001 - as for timelines
                yield ItemError(subject, describe_error(error))
                return
            yield from self._statuses(
                statuses[: self._config.max_posts_per_query - offset], instance, subject
            )
            if len(statuses) < PAGE_SIZE:
                return
            offset += len(statuses)

    def _statuses(self, statuses: list[Any], instance: str, subject: str) -> Iterator[Item]:
        for status in statuses:
            try:
                if not isinstance(status, Mapping):
                    raise MastodonFormatError("a status is a JSON object")
                post = status_post(status, instance, self._stamp)
            except (MastodonFormatError, ValueError) as error:
                yield ItemError(f"{subject} status", describe_error(error))
                continue
            if post is None:
                continue
            boosted = status.get("reblog")
            original: Mapping[str, Any] = boosted if isinstance(boosted, Mapping) else status
            yield PostItem(post, self._images(original, post.shortcode))

    def _images(self, status: Mapping[str, Any], status_id: str) -> tuple[ImageSource, ...]:
        return tuple(
            ImageSource(ref=f"status {status_id} image {index}", load=partial(self._download, url))
            for index, url in enumerate(image_urls(status))
        )

    def _download(self, url: str) -> bytes:
        return self._http.get(url).body


def mastodon_items(
    config: MastodonSource, http: HttpClient, stamp: Stamp, token: str | None
) -> Iterator[Item]:
    """Yield the items of a Mastodon source."""
    return MastodonReader(config, http, stamp, token).items()
