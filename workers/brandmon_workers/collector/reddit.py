"""The Reddit source: subreddit and search listings, posts and comments, through OAuth.

The collector signs in as an application (OAuth client credentials: `POST
/api/v1/access_token` with the app's id and secret as basic auth, from a Secret) and reads
`/r/<subreddit>/new`, `/r/<subreddit>/comments` and `/search?sort=new` from the OAuth API,
following each Listing's `after` until the source's limit. Listing children are `t3`
(posts) and `t1` (comments); each becomes a Post with `platform` "reddit", keyed by its
fullname (`t3_abc`), engagement from its score and comment count and, as reach, the
subreddit's subscribers (Reddit shows no follower counts in listings). Removed and deleted
posts are skipped. Reddit's `X-Ratelimit-*` headers pace the client (see `http`). Parsing is
pure (`thing_post`, `listing_things`); the token and paging are the I/O.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from brandmon_workers.collector.http import HttpClient, HttpStatusError
from brandmon_workers.collector.items import Item, ItemError, PostItem, Stamp, describe_error
from brandmon_workers.collector.markup import bounded
from brandmon_workers.contract.messages import Post
from brandmon_workers.contract.sources import RedditSource

PLATFORM = "reddit"
PAGE_SIZE = 100  # Reddit's maximum per listing page
WEB = "https://www.reddit.com"
_GONE = {"[deleted]", "[removed]"}


class RedditFormatError(ValueError):
    """An answer that is not a Reddit Listing."""


class RedditAuthError(Exception):
    """Reddit refused the app's credentials."""


def listing_things(document: Any) -> tuple[list[tuple[str, Mapping[str, Any]]], str | None]:
    """Return a Listing's children as (kind, data) and its `after` cursor."""
    if not isinstance(document, Mapping) or document.get("kind") != "Listing":
        raise RedditFormatError("not a Listing")
    data = document.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("children"), list):
        raise RedditFormatError("a Listing has data.children")
    things = [
        (str(child.get("kind")), child["data"])
        for child in data["children"]
        if isinstance(child, Mapping) and isinstance(child.get("data"), Mapping)
    ]
    after = data.get("after")
    return things, after if isinstance(after, str) and after else None


def _count(value: object) -> int:
    return max(0, int(value)) if isinstance(value, int | float) else 0


def is_gone(kind: str, data: Mapping[str, Any]) -> bool:
    """Return whether a thing was deleted by its author or removed by moderators."""
    if data.get("removed_by_category"):
        return True
    text = data.get("selftext") if kind == "t3" else data.get("body")
    return data.get("author") in _GONE and (kind == "t1" or text in _GONE or not text)


def thing_post(
    kind: str, data: Mapping[str, Any], stamp: Stamp, subscribers: Mapping[str, int]
) -> Post | None:
    """Return the Post of a t3 (post) or t1 (comment); None for other kinds or gone things.

    `subscribers` maps a subreddit to its subscribers, for comments (which do not say).
    """
    if kind not in ("t3", "t1") or is_gone(kind, data):
        return None
    name, thing_id = data.get("name"), data.get("id")
    created = data.get("created_utc")
    if (
        not isinstance(name, str)
        or not isinstance(thing_id, str)
        or not isinstance(created, int | float)
    ):
        raise RedditFormatError(f"a {kind} has a name, an id and created_utc")
    subreddit = str(data.get("subreddit") or "")
    if kind == "t3":
        title, body = str(data.get("title") or ""), str(data.get("selftext") or "")
        text = f"{title}\n\n{body}".strip() if body else title
        reach = data.get("subreddit_subscribers")
        comments = _count(data.get("num_comments"))
    else:
        text = str(data.get("body") or "")
        reach = subscribers.get(subreddit.lower())
        comments = 0
    permalink = str(data.get("permalink") or "")
    return Post(
        post_id=f"reddit:{name}",
        shortcode=thing_id,
        username=str(data.get("author") or "[unknown]"),
        url=f"{WEB}{permalink}" if permalink.startswith("/") else str(data.get("url") or WEB),
        caption=bounded(text),
        hashtags=[],
        mentions=[],
        posted_at=datetime.fromtimestamp(float(created), UTC),
        likes=_count(data.get("score")),
        comments=comments,
        platform=PLATFORM,
        author_followers=reach if isinstance(reach, int) and reach >= 0 else None,
        provenance=stamp(),
    )


class RedditReader:
    """Read a Reddit source's listings through an HttpClient."""

    def __init__(
        self,
        config: RedditSource,
        http: HttpClient,
        stamp: Stamp,
        client_id: str | None,
        client_secret: str | None,
    ) -> None:
        self._config = config
        self._http = http
        self._stamp = stamp
        self._client_id = client_id
        self._client_secret = client_secret
        self._token: str | None = None
        self._subscribers: dict[str, int] = {}

    def _sign_in(self) -> str:
        if not self._client_id or not self._client_secret:
            raise RedditAuthError(
                "no app credentials: the Secret of reddit.credentialsSecretName needs "
                "REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET"
            )
        basic = base64.b64encode(f"{self._client_id}:{self._client_secret}".encode()).decode()
        try:
            response = self._http.post_form(
                self._config.token_url,
                {"grant_type": "client_credentials"},
                {"Authorization": f"Basic {basic}", "Accept": "application/json"},
            )
        except HttpStatusError as error:
            if error.status in (400, 401, 403):
                raise RedditAuthError(f"Reddit refused the app's credentials ({error})") from None
            raise
        token = json.loads(response.body).get("access_token")
        if not isinstance(token, str) or not token:
            raise RedditAuthError("Reddit's token answer has no access_token")
        return token

    def items(self) -> Iterator[Item]:
        """Yield posts and errors: subreddits (and their comments), then searches."""
        try:
            self._token = self._sign_in()
        except Exception as error:  # noqa: BLE001 - reported as the run's one error
            yield ItemError("reddit sign-in", describe_error(error))
            return
        api = self._config.api_url.rstrip("/")
        for sub in self._config.subreddits:
            yield from self._listing(f"r/{sub} new", f"{api}/r/{sub}/new", {})
            if self._config.include_comments:
                yield from self._listing(f"r/{sub} comments", f"{api}/r/{sub}/comments", {})
        for query in self._config.search_queries:
            yield from self._listing(
                f"reddit search {query!r}",
                f"{api}/search",
                {"q": query, "sort": "new", "type": "link"},
            )

    def _listing(self, subject: str, url: str, params: dict[str, str]) -> Iterator[Item]:
        left, after = self._config.max_posts_per_query, None
        while left > 0:
            query = {**params, "limit": str(min(PAGE_SIZE, left)), "raw_json": "1"}
            if after:
                query["after"] = after
            try:
                response = self._http.get(
                    f"{url}?{urllib.parse.urlencode(query)}",
                    {"Authorization": f"bearer {self._token}", "Accept": "application/json"},
                )
                things, after = listing_things(json.loads(response.body))
            except Exception as error:  # noqa: BLE001 - one listing's failure, not the run's
                yield ItemError(subject, describe_error(error))
                return
            for kind, data in things[:left]:
                yield from self._thing(subject, kind, data)
            left -= len(things)
            if not things or after is None:
                return

    def _thing(self, subject: str, kind: str, data: Mapping[str, Any]) -> Iterator[Item]:
        subscribers = data.get("subreddit_subscribers")
        if kind == "t3" and isinstance(subscribers, int):
            self._subscribers[str(data.get("subreddit") or "").lower()] = subscribers
        try:
            post = thing_post(kind, data, self._stamp, self._subscribers)
        except (RedditFormatError, ValueError) as error:
            yield ItemError(f"{subject} {kind}", describe_error(error))
            return
        if post is not None:
            yield PostItem(post)


def reddit_items(
    config: RedditSource,
    http: HttpClient,
    stamp: Stamp,
    client_id: str | None,
    client_secret: str | None,
) -> Iterator[Item]:
    """Yield the items of a Reddit source."""
    return RedditReader(config, http, stamp, client_id, client_secret).items()
