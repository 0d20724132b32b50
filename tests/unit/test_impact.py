"""Impact of a post: severity by reach and engagement, and what an alert shows of it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from brandmon_workers import impact
from brandmon_workers.contract.analysis import RISK_CATEGORIES
from brandmon_workers.contract.messages import Post, Provenance, RiskCategory


@pytest.mark.parametrize(
    ("followers", "likes", "comments", "expected"),
    [
        (None, 0, 0, "low"),
        (50, 3, 1, "low"),
        (999, 40, 29, "low"),  # engagement 98
        (1_000, 0, 0, "medium"),
        (50, 100, 0, "medium"),
        (50, 0, 50, "medium"),  # a comment counts twice
        (10_000, 0, 0, "high"),
        (300, 900, 50, "high"),
        (300_000, 0, 0, "critical"),
        (None, 6_000, 2_000, "critical"),
    ],
)
def test_severity_grows_with_reach_and_engagement(
    followers: int | None, likes: int, comments: int, expected: str
) -> None:
    assert impact.severity(followers, likes, comments) == expected


def test_a_serious_allegation_raises_severity_one_step_and_no_further() -> None:
    assert impact.severity(50, 0, 0, serious=True) == "medium"
    assert impact.severity(20_000, 0, 0, serious=True) == "critical"
    assert impact.severity(200_000, 0, 0, serious=True) == "critical"


def test_an_excerpt_is_the_whole_short_text_with_whitespace_collapsed() -> None:
    assert impact.excerpt("  My kettle\n\nexploded   today ") == "My kettle exploded today"


def test_a_long_text_is_cut_at_a_word_with_an_ellipsis() -> None:
    text = "word " * 100
    cut = impact.excerpt(text, limit=40)
    assert len(cut) <= 40
    assert cut.endswith("word…")


def test_a_long_first_word_is_cut_where_it_must_be() -> None:
    assert impact.excerpt("x" * 100, limit=10) == "x" * 9 + "…"


def test_post_context_is_what_the_alert_shows() -> None:
    posted = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    post = Post(post_id="1", shortcode="C1", username="jamie", url="https://example.test/p/1",
                caption="The ACME kettle burned my hand", posted_at=posted, likes=7, comments=2,
                author_followers=830, provenance=Provenance(source="s", collected_at=posted,
                                                            collector_version="t"))  # fmt: skip
    context = impact.post_context(post)
    assert (context.platform, context.url, context.excerpt) == (
        "instagram",
        "https://example.test/p/1",
        "The ACME kettle burned my hand",
    )
    assert (context.author_followers, context.likes, context.comments, context.posted_at) == (
        830,
        7,
        2,
        posted,
    )


def test_serious_categories_are_built_in_categories() -> None:
    assert set(RISK_CATEGORIES) >= impact.SERIOUS_CATEGORIES


def test_only_a_strong_cue_of_a_serious_category_is_a_serious_allegation() -> None:
    def found(category: str, strong: bool) -> RiskCategory:
        return RiskCategory(category=category, label=category, score=0.8, strong=strong)

    assert impact.is_serious([found("data_security", strong=True)])
    assert not impact.is_serious([found("data_security", strong=False)])
    assert not impact.is_serious([found("customer_service", strong=True)])
    assert not impact.is_serious([])
