"""The news source's pure parts: feeds and news searches of a source, entries as posts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from brandmon_workers.collector.feeds import (
    FeedError,
    entry_post,
    feeds_of,
    news_search_url,
    parse_feed,
    post_id,
)
from brandmon_workers.collector.items import provenance_stamp
from brandmon_workers.collector.markup import html_text
from brandmon_workers.contract.messages import Post
from brandmon_workers.contract.sources import RssSource

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sources"
COLLECTED = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
STAMP = provenance_stamp("news", clock=lambda: COLLECTED)


def posts_of(name: str, content_type: str = "application/rss+xml") -> list[Post]:
    url = f"https://example.test/{name}"
    parsed = parse_feed((FIXTURES / name).read_bytes(), content_type, url)
    found = [entry_post(entry, parsed["feed"], url, STAMP) for entry in parsed["entries"]]
    return [post for post in found if post is not None]


def test_rss2_items_become_news_posts() -> None:
    breach, review, undated = posts_of("rss2.xml")
    assert breach.platform == "news"
    assert breach.post_id == post_id("https://techwatch.example/?p=48211"), "the guid is the id"
    assert breach.username == "Dana Reyes"
    assert breach.url == "https://techwatch.example/2026/12/acme-breach/"
    assert breach.posted_at == datetime(2026, 12, 2, 14, 3, tzinfo=UTC)
    assert breach.caption.startswith("ACME confirms data breach affecting 2 million customers\n\n")
    assert "records & payment data" in breach.caption, "entities decoded, markup dropped"
    assert "investigating" in breach.caption, "content:encoded wins over description"
    assert "track()" not in breach.caption, "scripts are not text"
    assert breach.comments == 37
    assert breach.language == "en-us"
    assert review.caption.endswith(
        "We strapped on ACME\u2019s new skates so you don\u2019t have to."
    )
    assert undated.posted_at == COLLECTED, "no date: when it was read"
    assert undated.post_id == post_id("https://techwatch.example/2026/12/undated/")


def test_atom_entries_keep_their_language_and_offsets() -> None:
    recall, short = posts_of("atom.xml", "application/atom+xml")
    assert recall.caption.startswith("ACME ruft Akkus zurück \u2013 Überhitzungsgefahr\n\n")
    assert recall.posted_at == datetime(2026, 12, 2, 14, 45, tzinfo=UTC), "published, in UTC"
    assert recall.username == "Jonas Keller"
    assert recall.language == "de"
    assert short.posted_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC), "updated when unpublished"
    assert short.username == "Handelsblog", "no author: the feed's title"


def test_a_latin1_feed_is_decoded_by_its_declaration() -> None:
    (post,) = posts_of("latin1.xml", "application/rss+xml")
    assert post.caption.startswith("ACME: les clients mécontents après la panne")
    assert post.language == "fr"


def test_the_same_entry_read_twice_is_the_same_post() -> None:
    first, again = posts_of("rss2.xml")[0], posts_of("rss2.xml")[0]
    assert first.post_id == again.post_id


@pytest.mark.parametrize(
    "body", [b"<html><body>Not found</body></html>", b"\x00\x01binary", b'{"json": true}']
)
def test_what_is_no_feed_is_an_error(body: bytes) -> None:
    with pytest.raises(FeedError):
        parse_feed(body, "text/html", "https://example.test/x")


def test_news_searches_are_feeds_per_term_and_engine() -> None:
    config = RssSource(
        feeds=["https://techwatch.example/feed/"],
        search_terms=["data breach"],
        search_brand=True,
        search_engines=["google-news", "bing-news"],
        search_language="de",
        search_country="DE",
    )
    feeds = feeds_of(config, "ACME Corp")
    assert [f.url for f in feeds] == [
        "https://techwatch.example/feed/",
        "https://news.google.com/rss/search?q=data+breach&hl=de-DE&gl=DE&ceid=DE:de",
        "https://www.bing.com/news/search?q=data+breach&format=rss&setlang=de&cc=DE",
        "https://news.google.com/rss/search?q=%22ACME+Corp%22&hl=de-DE&gl=DE&ceid=DE:de",
        "https://www.bing.com/news/search?q=%22ACME+Corp%22&format=rss&setlang=de&cc=DE",
    ]
    assert news_search_url("google-news", "a&b", "en", "US").startswith(
        "https://news.google.com/rss/search?q=a%26b&"
    )


def test_html_text_is_bounded_at_a_word() -> None:
    text = html_text("<p>" + "word " * 5000 + "</p>", limit=100)
    assert len(text) <= 100
    assert text.endswith("word…")
