"""The news source: RSS 0.9x/1.0/2.0 and Atom feeds, and news-search feeds, via feedparser.

A news source lists feed URLs and, optionally, search terms that become the RSS search
feeds of news engines (`news_search_url`). Each feed is fetched through the run's
`HttpClient` (size cap, bounded retries honouring Retry-After) and parsed by feedparser,
which copes with the encodings, date formats and half-broken XML real feeds have; each
entry becomes a Post with `platform` "news". The mapping is pure (`entry_post`) and so is
the id: a digest of the entry's guid (or link), so the same article read again, or read
through two feeds, is the same post. A feed that fails is one error; the others are read.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from brandmon_workers.collector.http import HttpClient, where
from brandmon_workers.collector.items import Item, ItemError, PostItem, Stamp, describe_error
from brandmon_workers.collector.markup import bounded, html_text
from brandmon_workers.contract.messages import Post
from brandmon_workers.contract.sources import NewsEngine, RssSource

log = logging.getLogger(__name__)

PLATFORM = "news"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"
)
_USERNAME_LIMIT = 200


@dataclass(frozen=True)
class Feed:
    """One feed to read: what to call it in errors, and its URL."""

    subject: str
    url: str


def news_search_url(engine: NewsEngine, term: str, language: str, country: str) -> str:
    """Return the RSS search feed of a news engine for a term (newest first)."""
    query = urllib.parse.quote_plus(term)
    if engine == "google-news":
        return (
            f"https://news.google.com/rss/search?q={query}"
            f"&hl={language}-{country}&gl={country}&ceid={country}:{language}"
        )
    return f"https://www.bing.com/news/search?q={query}&format=rss&setlang={language}&cc={country}"


def feeds_of(config: RssSource, brand: str) -> list[Feed]:
    """Return every feed a news source reads: its feeds, then its news searches."""
    feeds = [Feed(f"feed {where(url)}", url) for url in config.feeds]
    terms = list(config.search_terms)
    if config.search_brand and brand.strip() and brand.strip() not in terms:
        terms.append(f'"{brand.strip()}"')
    for term in terms:
        for engine in config.search_engines:
            url = news_search_url(engine, term, config.search_language, config.search_country)
            feeds.append(Feed(f"{engine} search {term}", url))
    return feeds


def post_id(entry_key: str) -> str:
    """Return the stable post id of a feed entry from its guid or link."""
    return "news:" + hashlib.sha256(entry_key.encode()).hexdigest()[:32]


def _time(value: Any) -> datetime | None:
    # feedparser normalises every date format it knows to a UTC struct_time.
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _text(entry: Mapping[str, Any]) -> str:
    contents = entry.get("content") or []
    html = ""
    if contents and isinstance(contents[0], Mapping):
        html = str(contents[0].get("value") or "")
    if not html:
        html = str(entry.get("summary") or "")
    return html_text(html)


def _language(entry: Mapping[str, Any], feed: Mapping[str, Any]) -> str:
    for detail in (entry.get("content") or [None])[0], entry.get("summary_detail"):
        if isinstance(detail, Mapping) and detail.get("language"):
            return str(detail["language"])
    return str(feed.get("language") or "")


def _count(value: Any) -> int:
    try:
        return max(0, int(str(value).strip()))
    except ValueError:
        return 0


def entry_post(
    entry: Mapping[str, Any], feed: Mapping[str, Any], feed_url: str, stamp: Stamp
) -> Post | None:
    """Return the Post of one feed entry; None if it has neither guid, link nor title."""
    link = str(entry.get("link") or "")
    key = str(entry.get("id") or link or "")
    title = html_text(str(entry.get("title") or ""), 1000)
    if not key and not title:
        return None
    provenance = stamp()
    posted = (
        _time(entry.get("published_parsed"))
        or _time(entry.get("updated_parsed"))
        or provenance.collected_at
    )
    body = _text(entry)
    caption = bounded(f"{title}\n\n{body}".strip() if body and body != title else title)
    host = urllib.parse.urlsplit(link or feed_url).hostname or ""
    author = str(entry.get("author") or feed.get("title") or host or "unknown")
    identity = post_id(key or f"{feed_url}#{title}")
    return Post(
        post_id=identity,
        shortcode=identity.removeprefix("news:")[:12],
        username=html_text(author, _USERNAME_LIMIT) or "unknown",
        url=link or feed_url,
        caption=caption,
        posted_at=posted,
        comments=_count(entry.get("slash_comments", 0)),
        platform=PLATFORM,
        language=_language(entry, feed),
        provenance=provenance,
    )


class FeedError(Exception):
    """A body that is no feed."""


def parse_feed(body: bytes, content_type: str, url: str) -> Any:
    """Parse a feed's bytes (any encoding); raise FeedError when nothing usable is in it.

    feedparser marks recoverable problems (a wrong declared encoding, an undefined entity)
    as "bozo" and still returns what it read; only a bozo feed without entries is an error.
    """
    parsed = feedparser.parse(
        body, response_headers={"content-type": content_type, "content-location": url}
    )
    if parsed.get("bozo") and not parsed.get("entries"):
        problem = parsed.get("bozo_exception")
        raise FeedError(f"not a feed: {describe_error(problem) if problem else 'unreadable'}")
    if not parsed.get("version") and not parsed.get("entries"):
        raise FeedError("not an RSS or Atom feed")
    return parsed


def rss_items(config: RssSource, brand: str, http: HttpClient, stamp: Stamp) -> Iterator[Item]:
    """Yield the newest entries of every feed of the source as posts; failures as errors."""
    for feed in feeds_of(config, brand):
        try:
            response = http.get(feed.url, {"Accept": ACCEPT})
            parsed = parse_feed(
                response.body, response.headers.get("content-type", ""), response.url
            )
        except Exception as error:  # noqa: BLE001 - one feed's failure must not end the run
            yield ItemError(feed.subject, describe_error(error))
            continue
        entries = list(parsed.get("entries") or [])[: config.max_items_per_feed]
        for index, entry in enumerate(entries):
            try:
                post = entry_post(entry, parsed.get("feed") or {}, feed.url, stamp)
            except Exception as error:  # noqa: BLE001 - one bad entry must not end the feed
                yield ItemError(f"{feed.subject} entry {index}", describe_error(error))
                continue
            if post is not None:
                yield PostItem(post)
