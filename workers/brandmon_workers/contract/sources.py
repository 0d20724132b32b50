"""Where posts come from: Instagram, news feeds, Mastodon, Reddit, Bluesky, or a replay.

One model per source kind; the BrandMonitor API (`brandmon_operator.api.Source`) holds
exactly one of them per source, and the collector's `SourceSettings` carries the same
model to the pod. Secrets (tokens, OAuth credentials) are only referenced here: the
operator turns each reference into a `secretKeyRef` environment variable.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic.config import JsonDict

from brandmon_workers.contract.base import DNS_SUBDOMAIN, ApiModel, SecretKeyRef

INSTAGRAM_USERNAME = r"^[A-Za-z0-9._]{1,30}$"
HASHTAG = r"^[\w]{1,100}$"
S3_URI = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$"
# Anonymous Instagram access serves about the first 12 posts of a profile.
ANONYMOUS_POST_LIMIT = 12
HTTP_URL = r"^https?://[^\s/?#]+([/?#]\S*)?$"
WS_URL = r"^wss?://[^\s/?#]+([/?#]\S*)?$"
INSTANCE_URL = r"^https?://[^\s/?#]+/?$"
SUBREDDIT = r"^[A-Za-z0-9_]{2,21}$"
SEARCH_TERM = r"^\S(.*\S)?$"
# Bluesky handles are domain names; a DID names an account whatever its handle.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = rf"^{_LABEL}(\.{_LABEL})+$"
BLUESKY_ACCOUNT = rf"^(@?{_LABEL}(\.{_LABEL})+|did:[a-z]+:[A-Za-z0-9._:%-]+)$"
NewsEngine = Literal["google-news", "bing-news"]


def _strings(pattern: str, max_length: int = 200) -> JsonDict:
    return {"items": {"type": "string", "pattern": pattern, "maxLength": max_length}}


class InstagramSource(ApiModel):
    """Public Instagram profiles (and, with a logged-in session, hashtags) via instaloader."""

    profiles: list[str] = Field(
        default=[],
        max_length=50,
        json_schema_extra={"items": {"type": "string", "pattern": INSTAGRAM_USERNAME}},
    )
    """Usernames of the profiles to watch."""

    hashtags: list[str] = Field(
        default=[],
        max_length=20,
        json_schema_extra={"items": {"type": "string", "pattern": HASHTAG}},
    )
    """Hashtags (without '#') to watch; Instagram requires a logged-in session for these."""

    max_posts_per_profile: int = Field(default=ANONYMOUS_POST_LIMIT, ge=1, le=500)
    """Newest posts read per profile or hashtag per run."""

    session_secret_ref: SecretKeyRef | None = None
    """Secret key holding an instaloader session file, for logged-in access."""


class ReplaySource(ApiModel):
    """Recorded posts (JSON Lines) replayed exactly as the Instagram source would emit them."""

    s3_uri: str | None = Field(default=None, pattern=S3_URI, max_length=1024)
    """s3://bucket/key of the recording."""

    path: str | None = Field(default=None, pattern=r"^/.+$", max_length=1024)
    """Absolute path of the recording inside the collector (a mounted volume)."""

    posts_per_second: float = Field(default=0.0, ge=0.0, le=10_000.0)
    """Replay rate; 0 replays as fast as Kafka accepts."""


class RssSource(ApiModel):
    """News sites and blogs: RSS 0.9x/1.0/2.0 and Atom feeds, and news-search feeds."""

    feeds: list[str] = Field(default=[], max_length=50, json_schema_extra=_strings(HTTP_URL, 2048))
    """URLs of the feeds to read (http or https)."""

    search_terms: list[str] = Field(
        default=[], max_length=20, json_schema_extra=_strings(SEARCH_TERM)
    )
    """Terms to search the news for, each through every engine of searchEngines (the
    engines' RSS search feeds); quote a phrase as "data breach"."""

    search_brand: bool = False
    """Also search the news for the monitor's brand name (spec.brand)."""

    search_engines: list[NewsEngine] = Field(default=["google-news"], min_length=1, max_length=2)
    """News-search feeds to ask: google-news, bing-news."""

    search_language: str = Field(default="en", pattern=r"^[a-z]{2}$")
    """Language of the news searched (ISO 639-1)."""

    search_country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    """Edition (country) of the news searched (ISO 3166-1 alpha-2)."""

    max_items_per_feed: int = Field(default=50, ge=1, le=500)
    """Newest entries read per feed per run."""


class MastodonSource(ApiModel):
    """Hashtag and search timelines of Mastodon instances, through their REST API."""

    instances: list[str] = Field(
        min_length=1, max_length=20, json_schema_extra=_strings(INSTANCE_URL, 253)
    )
    """Base URLs of the instances to ask, e.g. https://mastodon.social."""

    hashtags: list[str] = Field(default=[], max_length=20, json_schema_extra=_strings(HASHTAG))
    """Hashtags (without '#') whose public timelines are read on every instance."""

    search_terms: list[str] = Field(
        default=[], max_length=20, json_schema_extra=_strings(SEARCH_TERM)
    )
    """Terms whose status search results are read; Mastodon serves status search only to
    authenticated clients, so these need tokenSecretRef."""

    max_posts_per_query: int = Field(default=40, ge=1, le=400)
    """Newest statuses read per hashtag or term per instance per run (pages of 40)."""

    token_secret_ref: SecretKeyRef | None = None
    """Secret key holding an access token (scope read:statuses); one token for every
    listed instance. Without it, only public hashtag timelines are read."""


class RedditSource(ApiModel):
    """Subreddit and search listings of Reddit, posts and optionally comments (OAuth)."""

    subreddits: list[str] = Field(default=[], max_length=50, json_schema_extra=_strings(SUBREDDIT))
    """Subreddits (without r/) whose newest posts are read."""

    search_queries: list[str] = Field(
        default=[], max_length=20, json_schema_extra=_strings(SEARCH_TERM, 512)
    )
    """Queries whose newest matching posts are read from Reddit's search."""

    include_comments: bool = False
    """Also read the newest comments of each subreddit."""

    max_posts_per_query: int = Field(default=100, ge=1, le=1000)
    """Newest posts (or comments) read per subreddit or query per run (pages of 100)."""

    credentials_secret_name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253)
    """Secret with keys REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET of a Reddit app, used
    with OAuth client credentials (application-only access)."""

    user_agent: str = Field(default="brandmon/0.1 (brand monitoring)", min_length=1, max_length=256)
    """User-Agent sent to Reddit, which asks every client for a unique, descriptive one."""

    api_url: str = Field(default="https://oauth.reddit.com", pattern=HTTP_URL, max_length=1024)
    """Base URL of Reddit's OAuth API."""

    token_url: str = Field(
        default="https://www.reddit.com/api/v1/access_token", pattern=HTTP_URL, max_length=1024
    )
    """Reddit's OAuth token endpoint."""


class BlueskySource(ApiModel):
    """Bluesky posts from the Jetstream firehose, filtered as they stream (a Deployment)."""

    terms: list[str] = Field(default=[], max_length=50, json_schema_extra=_strings(SEARCH_TERM))
    """Words or phrases a post must mention (whole words, any case, any language)."""

    match_brand: bool = True
    """Also match posts mentioning the monitor's brand name (spec.brand)."""

    handles: list[str] = Field(
        default=[], max_length=50, json_schema_extra=_strings(BLUESKY_ACCOUNT, 253)
    )
    """Accounts (handles like acme.com, or DIDs): posts mentioning them, and posts by an
    account given as a DID, match."""

    domains: list[str] = Field(default=[], max_length=50, json_schema_extra=_strings(DOMAIN, 253))
    """Web domains: posts linking to one of them or a subdomain match."""

    jetstream_url: str = Field(
        default="wss://jetstream2.us-east.bsky.network/subscribe", pattern=WS_URL, max_length=1024
    )
    """Jetstream's subscribe endpoint."""

    app_view_url: str = Field(
        default="https://public.api.bsky.app", pattern=HTTP_URL, max_length=1024
    )
    """Public AppView API that serves app.bsky.actor.getProfile (authors' follower counts)."""

    profile_lookups_per_second: float = Field(default=5.0, ge=0.0, le=100.0)
    """Most AppView profile look-ups per second (0: none; reach then stays unknown)."""


class SourceResult(ApiModel):
    """What one collection run reported.

    The collector writes it as its termination message; the operator shows it as the
    source's `lastResult` in the BrandMonitor's status.
    """

    posts_new: int = Field(default=0, ge=0)
    """Posts sent to Kafka for the first time."""

    posts_seen: int = Field(default=0, ge=0)
    """Posts skipped because an earlier run already sent them."""

    errors: int = Field(default=0, ge=0)
    """Errors during the run (throttling, unreachable profiles, ...)."""

    message: str = Field(default="", max_length=4096)
    """The collector's own summary of the run."""
