"""The Mastodon and Reddit sources' pure parts, on recorded shapes of their APIs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from brandmon_workers.collector.items import provenance_stamp
from brandmon_workers.collector.mastodon import (
    MastodonFormatError,
    image_urls,
    next_link,
    qualified_acct,
    status_post,
)
from brandmon_workers.collector.reddit import RedditFormatError, listing_things, thing_post

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sources"
STAMP = provenance_stamp("social", clock=lambda: datetime(2026, 12, 3, tzinfo=UTC))


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --- Mastodon -----------------------------------------------------------------------------


def test_a_status_becomes_a_post_with_reach_engagement_and_language() -> None:
    status = load("mastodon-tag-page1.json")[0]
    post = status_post(status, "https://mastodon.social", STAMP)
    assert post is not None
    assert (
        post.post_id == "mastodon:https://mastodon.social/users/jamie/statuses/113600000000000003"
    )
    assert post.platform == "mastodon"
    assert post.username == "jamie@mastodon.social", "local accounts get their instance"
    assert post.caption == "My #acme skates caught fire & nobody at support answers.\nUseless."
    assert (post.likes, post.comments, post.author_followers) == (41, 3, 1520)
    assert post.language == "en"
    assert post.hashtags == ["acme"]
    assert post.mentions == ["acme"]
    assert post.posted_at == datetime(2026, 12, 2, 14, 3, 11, tzinfo=UTC)
    assert image_urls(status) == ["{BASE}/media/burn.png"]


def test_a_boost_is_the_boosted_status() -> None:
    boost = load("mastodon-tag-page1.json")[1]
    post = status_post(boost, "https://mastodon.social", STAMP)
    assert post is not None
    assert post.post_id == "mastodon:https://fosstodon.org/users/critic/statuses/113599000000000001"
    assert post.username == "critic@fosstodon.org"
    assert post.url == "https://fosstodon.org/@critic/113599000000000001"
    assert (post.likes, post.comments, post.author_followers) == (210, 30, 48200)


def test_an_edited_status_keeps_its_id_and_a_content_warning_leads_the_text() -> None:
    edited, warned = load("mastodon-tag-page2.json")
    first = status_post(edited, "https://mastodon.social", STAMP)
    assert first is not None
    unedited = status_post(
        edited | {"edited_at": None, "content": "<p>x</p>"}, "https://m.s", STAMP
    )
    assert unedited is not None
    assert first.post_id == unedited.post_id, "an edit is the same post (sent once)"
    post = status_post(warned, "https://mastodon.social", STAMP)
    assert post is not None
    assert post.caption == "product rant\n\nACMEのスケートが壊れた"
    assert post.language == "ja"


def test_private_statuses_are_skipped_and_broken_ones_refused() -> None:
    status = load("mastodon-tag-page1.json")[0]
    assert status_post(status | {"visibility": "direct"}, "https://m.s", STAMP) is None
    with pytest.raises(MastodonFormatError):
        status_post({k: v for k, v in status.items() if k != "uri"}, "https://m.s", STAMP)


def test_a_search_result_without_language_has_none() -> None:
    post = status_post(load("mastodon-search.json")["statuses"][0], "https://m.s", STAMP)
    assert post is not None
    assert post.language == ""


@pytest.mark.parametrize(
    ("header", "url"),
    [
        (
            '<https://mastodon.social/api/v1/timelines/tag/acme?max_id=1136>; rel="next", '
            '<https://mastodon.social/api/v1/timelines/tag/acme?min_id=1139>; rel="prev"',
            "https://mastodon.social/api/v1/timelines/tag/acme?max_id=1136",
        ),
        ('<https://m.s/api?min_id=9>; rel="prev"', None),
        (None, None),
        ("garbage", None),
    ],
)
def test_next_link(header: str | None, url: str | None) -> None:
    assert next_link(header) == url


def test_qualified_acct() -> None:
    assert (
        qualified_acct("critic@fosstodon.org", "https://mastodon.social") == "critic@fosstodon.org"
    )
    assert qualified_acct("jamie", "https://mastodon.social/") == "jamie@mastodon.social"


# --- Reddit -------------------------------------------------------------------------------


def test_listing_things_and_after() -> None:
    things, after = listing_things(load("reddit-new-page1.json"))
    assert [kind for kind, _ in things] == ["t3", "t3", "t3"]
    assert after == "t3_1h8k1y"
    assert listing_things(load("reddit-new-page2.json"))[1] is None
    with pytest.raises(RedditFormatError):
        listing_things({"kind": "t3", "data": {}})
    with pytest.raises(RedditFormatError):
        listing_things({"kind": "Listing", "data": {"children": "x"}})


def test_a_reddit_post_becomes_a_post() -> None:
    (kind, data), *_ = listing_things(load("reddit-new-page1.json"))[0]
    post = thing_post(kind, data, STAMP, {})
    assert post is not None
    assert post.post_id == "reddit:t3_1h8k2a"
    assert post.platform == "reddit"
    assert post.username == "skater42"
    assert post.url == "https://www.reddit.com/r/acme/comments/1h8k2a/slug/"
    assert post.caption == (
        "ACME skates recall - anyone got a refund yet?\n\nMine overheated twice. Support is useless."
    )
    assert (post.likes, post.comments, post.author_followers) == (311, 87, 48211)
    assert post.posted_at == datetime.fromtimestamp(1764684000, UTC)


def test_deleted_removed_and_downvoted_posts() -> None:
    things = (
        listing_things(load("reddit-new-page1.json"))[0]
        + listing_things(load("reddit-new-page2.json"))[0]
    )
    posts = [thing_post(kind, data, STAMP, {}) for kind, data in things]
    assert [p.post_id if p else None for p in posts] == [
        "reddit:t3_1h8k2a", "reddit:t3_1h8k1z", None, None, "reddit:t3_1h8k1w",
    ]  # fmt: skip
    link_post = posts[1]
    assert link_post is not None
    assert link_post.caption == "Link: ACME data breach confirmed", "a link post is its title"
    negative = posts[4]
    assert negative is not None
    assert negative.likes == 0, "a negative score is no likes"


def test_comments_take_the_reach_of_their_subreddit() -> None:
    things = listing_things(load("reddit-comments.json"))[0]
    comment = thing_post(*things[0], STAMP, {"acme": 48211})
    assert comment is not None
    assert comment.post_id == "reddit:t1_m0abc1"
    assert comment.caption == "Same here, the battery swelled. ACME won't answer."
    assert comment.url == "https://www.reddit.com/r/acme/comments/1h8k2a/slug/m0abc1/"
    assert comment.author_followers == 48211
    assert thing_post(*things[1], STAMP, {}) is None, "a deleted comment"
    assert thing_post("t5", {"name": "t5_x"}, STAMP, {}) is None, "subreddits are no posts"
