"""The Bluesky source's pure parts: Jetstream events, brand matching, posts and cursors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from brandmon_workers.collector.bluesky import (
    REWIND_US,
    Author,
    EventFormatError,
    Matcher,
    connect_cursor,
    contains_word,
    event_post,
    parse_event,
    subscribe_url,
)
from brandmon_workers.collector.bluesky_stream import RateLimit
from brandmon_workers.collector.items import provenance_stamp
from brandmon_workers.contract.sources import BlueskySource

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sources"
STAMP = provenance_stamp("bluesky", clock=lambda: datetime(2026, 12, 3, tzinfo=UTC))
LINES = (FIXTURES / "jetstream-events.jsonl").read_text().splitlines()
MATCHER = Matcher.of(
    BlueskySource(handles=["acme.com", "did:plc:acmeofficial0000000000001"], domains=["acme.com"]),
    "ACME Corp",
)


def test_events_parse_with_their_kinds_and_operations() -> None:
    events = [parse_event(line) for line in LINES]
    assert [e.kind for e in events] == ["commit"] * 9 + ["identity", "account"]
    assert [e.commit.operation for e in events if e.commit] == [
        "create", "create", "create", "create", "create", "delete", "update", "create", "create",
    ]  # fmt: skip
    assert [e.is_post for e in events] == [
        True,
        True,
        True,
        True,
        False,
        False,
        True,
        True,
        True,
        False,
        False,
    ]  # fmt: skip, the repost, the delete, identity and account are not posts
    assert events[0].uri == "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3lcxa2b4k2c2a"
    assert events[6].uri == events[0].uri, "an edit is the same record"


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "not json",
        "[1,2]",
        '{"did": "x", "kind": "commit"}',
        '{"did":"x","time_us":1,"kind":"commit"}',
    ],
)
def test_what_is_no_event_is_refused(frame: str) -> None:
    with pytest.raises(EventFormatError):
        parse_event(frame)


def test_a_non_utf8_frame_is_read_with_replacement() -> None:
    raw = LINES[0].replace("Refund please!", "Refund pl\u00e9ase!").encode("latin-1")
    event = parse_event(raw)
    assert event.commit is not None
    assert event.commit.record is not None
    assert "Refund pl\ufffdase!" in event.commit.record["text"]
    assert MATCHER.why(event) == "term 'acme corp'"


def test_what_matches_the_brand() -> None:
    why = [MATCHER.why(parse_event(line)) for line in LINES]
    assert why == [
        "term 'acme corp'",
        None,
        "mentions @acme.com",
        "links to acme.com",
        None,  # a repost has no text
        None,  # a delete has no record
        "term 'acme corp'",
        None,  # "acmes" is another word
        None,  # "acme" alone is not the brand "ACME Corp" ...
        None,  # identity
        None,  # account
    ]
    loose = Matcher.of(BlueskySource(terms=["acme"], match_brand=False), "ACME Corp")
    assert loose.why(parse_event(LINES[8])) == "term 'acme'", "... but the term acme is"
    assert loose.why(parse_event(LINES[7])) is None


def test_mention_facets_and_authors_given_as_dids_match() -> None:
    by_did = Matcher.of(
        BlueskySource(handles=["did:plc:acmeofficial0000000000001"], match_brand=False), ""
    )
    assert by_did.why(parse_event(LINES[2])) == "mentions did:plc:acmeofficial0000000000001"
    author = Matcher.of(
        BlueskySource(handles=["did:plc:yk4dd2qkboz2yv6tpubpc6co"], match_brand=False), ""
    )
    assert author.why(parse_event(LINES[3])) == "by did:plc:yk4dd2qkboz2yv6tpubpc6co"


@pytest.mark.parametrize(
    ("text", "term", "found"),
    [
        ("acme corp rocks", "acme corp", True),
        ("#acme!", "acme", True),
        ("acmecorp", "acme", False),
        ("the acme's", "acme", True),
        ("acmeのスケート", "acme", True),
        ("νέα acme", "acme", True),
        ("acmeé", "acme", False),
        ("a2acme", "acme", False),
    ],
)
def test_contains_word(text: str, term: str, found: bool) -> None:
    assert contains_word(text, term) is found


def test_a_matched_post_in_the_contract() -> None:
    event = parse_event(LINES[8])
    post = event_post(event, STAMP, Author(handle="kai.bsky.social", followers=87))
    assert (
        post.post_id
        == "bluesky:at://did:plc:de3xv6zkq4l5n7m2c4b5a6z7/app.bsky.feed.post/3lcxa2b4k2c2g"
    )
    assert post.platform == "bluesky"
    assert post.username == "kai.bsky.social"
    assert post.url == "https://bsky.app/profile/kai.bsky.social/post/3lcxa2b4k2c2g"
    assert post.hashtags == ["Rückruf"]
    assert post.language == "de"
    assert post.author_followers == 87
    assert post.posted_at == datetime(2025, 12, 3, 12, 0, 0, 800000, tzinfo=UTC)
    unknown = event_post(parse_event(LINES[3]), STAMP)
    assert (unknown.username, unknown.author_followers) == (
        "did:plc:yk4dd2qkboz2yv6tpubpc6co",
        None,
    )
    assert unknown.url.startswith("https://bsky.app/profile/did:plc:")


def test_resume_cursors() -> None:
    now = 1_764_763_200_000_000
    assert connect_cursor(None, now) is None, "no cursor yet: the live end"
    assert connect_cursor(now - 60_000_000, now) == now - 60_000_000 - REWIND_US
    assert connect_cursor(now + 3_600_000_000, now) is None, "a future cursor: the live end"
    assert connect_cursor(1_000, now) == 1, "never below 1"
    assert subscribe_url("wss://js.example/subscribe", 42) == (
        "wss://js.example/subscribe?wantedCollections=app.bsky.feed.post&cursor=42"
    )
    assert subscribe_url("ws://h/subscribe?compress=false", None).endswith(
        "?compress=false&wantedCollections=app.bsky.feed.post"
    )


def test_the_rate_limit_refills_over_time() -> None:
    now = [0.0]
    limit = RateLimit(2.0, clock=lambda: now[0])
    assert [limit.take() for _ in range(3)] == [True, True, False]
    now[0] = 0.5
    assert [limit.take(), limit.take()] == [True, False]
    assert not RateLimit(0.0).take(), "0: no look-ups at all"


def test_the_profile_fixture_has_what_the_lookup_reads() -> None:
    profile = json.loads((FIXTURES / "bluesky-profile.json").read_text())
    assert isinstance(profile["followersCount"], int)
    assert profile["handle"] == "jamie.bsky.social"
