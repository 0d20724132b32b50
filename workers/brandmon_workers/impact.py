"""Impact of a post: how far it can spread, as an alert severity, and what an alert shows of it.

Pure functions (no I/O), used by the text analyzer so that both engines only pass the
result through. Severity is by reach, the author's followers, and by engagement, likes
plus twice the comments (a comment is a conversation that spreads further than a like):

| severity | followers at least | or engagement at least |
|---|---|---|
| critical | 100,000 | 10,000 |
| high | 10,000 | 1,000 |
| medium | 1,000 | 100 |
| low | otherwise | |

Unknown followers count as none. A serious allegation (a strong cue of a serious
brand-risk category) raises the severity one step: from a small account it is worth a look
sooner than its reach says. Severity never decides whether a post alerts (the score does):
it tells the PR team how fast to act and lets a webhook take only the urgent ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from brandmon_workers.contract.messages import (
    SEVERITIES,
    Post,
    PostContext,
    RiskCategory,
    Severity,
)

EXCERPT_CHARS = 280
"""Longest excerpt an alert carries (a post's opening, as a feed preview shows it)."""
_TIERS: tuple[tuple[Severity, int, int], ...] = (
    ("critical", 100_000, 10_000),
    ("high", 10_000, 1_000),
    ("medium", 1_000, 100),
)


SERIOUS_CATEGORIES = frozenset({
    "product_safety", "legal_regulatory", "data_security", "labor_ethics", "discrimination",
    "financial_governance", "environment",
})  # fmt: skip
"""Built-in categories whose strong cues are allegations that raise severity one step."""


def is_serious(categories: Iterable[RiskCategory]) -> bool:
    """Whether the text makes a serious allegation: a strong cue of a serious category."""
    return any(c.strong and c.category in SERIOUS_CATEGORIES for c in categories)


def engagement(likes: int, comments: int) -> int:
    """Return the engagement that counts towards severity."""
    return likes + 2 * comments


def severity(
    followers: int | None, likes: int, comments: int, *, serious: bool = False
) -> Severity:
    """Return the severity of a post with this reach and engagement."""
    reach, engaged = followers or 0, engagement(likes, comments)
    level: Severity = "low"
    for name, min_followers, min_engagement in _TIERS:
        if reach >= min_followers or engaged >= min_engagement:
            level = name
            break
    if serious:
        level = SEVERITIES[min(len(SEVERITIES) - 1, SEVERITIES.index(level) + 1)]
    return level


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """Return the start of a text, whitespace collapsed, cut at a word boundary with '…'."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    # A very long first word is cut where it must be rather than dropped.
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def post_context(post: Post) -> PostContext:
    """Return what an alert shows of a post."""
    return PostContext(
        platform=post.platform,
        url=post.url,
        excerpt=excerpt(post.caption),
        author_followers=post.author_followers,
        likes=post.likes,
        comments=post.comments,
        posted_at=post.posted_at,
    )
