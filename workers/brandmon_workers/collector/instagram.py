"""The Instagram source: public profiles (and, with a session, hashtags) through instaloader.

instaloader has no type information, so it is wrapped thinly: `InstagramClient` is the seam
for everything that touches the network (resolving a profile, listing posts, downloading an
image), `InstaloaderClient` its implementation, and the pure converters
(`profile_message`, `post_message`, `image_urls`) read instaloader's `Profile` and `Post`
objects, which tests build from recorded nodes. Throttling is handled twice: instaloader's
own request pacing runs through `BoundedRateController`, whose waits (and 429 backoffs)
draw on the run's budget, and every operation is retried by the run's `Retrier`. A profile
that still fails is reported as one error and the next profile is read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from datetime import UTC
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import instaloader

from brandmon_workers.collector.backoff import BackoffExhaustedError, Retrier
from brandmon_workers.collector.items import (
    ImageSource,
    Item,
    ItemError,
    PostItem,
    ProfileItem,
    Stamp,
    describe_error,
)
from brandmon_workers.collector.session import SessionError, apply_session, read_session
from brandmon_workers.contract.messages import Post, Profile
from brandmon_workers.contract.settings import INSTAGRAM_SESSION_PATH
from brandmon_workers.contract.sources import InstagramSource

log = logging.getLogger(__name__)

POST_URL = "https://www.instagram.com/p/{shortcode}/"
# Failures that retrying cannot fix: the thing is not there, or not for this session.
_PERMANENT: tuple[type[BaseException], ...] = (
    instaloader.ProfileNotExistsException,
    instaloader.QueryReturnedNotFoundException,
    instaloader.QueryReturnedForbiddenException,
    instaloader.LoginRequiredException,
    instaloader.LoginException,
    instaloader.PrivateProfileNotFollowedException,
    instaloader.AbortDownloadException,
    BackoffExhaustedError,
)
_PLEASE_WAIT = "please wait a few minutes"


def is_retryable(error: BaseException) -> bool:
    """Return whether a failure is throttling or a transient network problem."""
    if isinstance(error, _PERMANENT):
        return False
    text = str(error).lower()
    if isinstance(error, instaloader.TooManyRequestsException) or _PLEASE_WAIT in text:
        return True
    if isinstance(error, instaloader.QueryReturnedBadRequestException):
        return False
    if isinstance(error, instaloader.ConnectionException):
        # instaloader wraps 429s and 5xx in ConnectionException; a 401 without "please
        # wait" is a refusal, not throttling.
        return "401" not in text
    # requests' connection errors and timeouts are OSErrors.
    return isinstance(error, OSError)


# --- reading instaloader structures (pure: they only read the recorded nodes) -----------


def _count(value: object) -> int:
    # Instagram reports hidden or unknown counts as null or -1.
    return max(0, int(value)) if isinstance(value, int | float | str) and value != "" else 0


def profile_message(profile: Any, stamp: Stamp) -> Profile:
    """Build the Profile message of an instaloader Profile."""
    return Profile(
        username=profile.username,
        user_id=str(profile.userid),
        full_name=profile.full_name or "",
        biography=profile.biography or "",
        external_url=profile.external_url or None,
        followers=_count(profile.followers),
        following=_count(profile.followees),
        post_count=_count(profile.mediacount),
        is_verified=bool(profile.is_verified),
        is_private=bool(profile.is_private),
        provenance=stamp(),
    )


def post_message(post: Any, stamp: Stamp) -> Post:
    """Build the Post message (media_uris empty) of an instaloader Post."""
    return Post(
        post_id=str(post.mediaid),
        shortcode=post.shortcode,
        username=post.owner_username,
        url=POST_URL.format(shortcode=post.shortcode),
        caption=post.caption or "",
        hashtags=list(post.caption_hashtags),
        mentions=list(post.caption_mentions),
        # instaloader returns naive UTC datetimes.
        posted_at=post.date_utc.replace(tzinfo=UTC),
        likes=_count(post.likes),
        comments=_comment_count(post),
        provenance=stamp(),
    )


def _comment_count(post: Any) -> int:
    # Post.comments fetches the post's full metadata (one more request per post) when the
    # node holds the count under another name, as nodes from the mobile API do ("comments").
    # Read the recorded node first, through instaloader's public JSON export.
    node = instaloader.get_json_structure(post)["node"]
    for name in ("edge_media_to_comment", "edge_media_to_parent_comment"):
        edge = node.get(name)
        if isinstance(edge, dict) and edge.get("count") is not None:
            return _count(edge["count"])
    if node.get("comments") is not None:
        return _count(node["comments"])
    return _count(post.comments)


def image_urls(post: Any) -> list[str]:
    """Return the image URL of every media of a post (a video's is its thumbnail)."""
    if post.typename == "GraphSidecar":
        return [str(node.display_url) for node in post.get_sidecar_nodes()]
    return [str(post.url)]


# --- the network seam -------------------------------------------------------------------


class InstagramClient(Protocol):
    """Everything the source asks Instagram; instaloader objects come back untyped."""

    def profile(self, username: str) -> Any:
        """Return the instaloader Profile of a username."""
        ...

    def profile_posts(self, profile: Any, limit: int) -> list[Any]:
        """Return a profile's newest posts (instaloader Posts), at most `limit`."""
        ...

    def hashtag_posts(self, name: str, limit: int) -> list[Any]:
        """Return a hashtag's newest posts, at most `limit`."""
        ...

    def download(self, url: str) -> bytes:
        """Return the bytes at an image URL."""
        ...


class InstaloaderClient:
    """`InstagramClient` through an instaloader.Instaloader."""

    def __init__(self, loader: instaloader.Instaloader) -> None:
        self._context = loader.context

    def profile(self, username: str) -> Any:
        """Resolve a profile by username."""
        return instaloader.Profile.from_username(self._context, username)

    def profile_posts(self, profile: Any, limit: int) -> list[Any]:
        """List a profile's newest posts."""
        return list(islice(profile.get_posts(), limit))

    def hashtag_posts(self, name: str, limit: int) -> list[Any]:
        """List a hashtag's newest posts (Instagram serves them to logged-in sessions only)."""
        if not self._context.is_logged_in:
            raise instaloader.LoginRequiredException(
                f"hashtag #{name} needs a logged-in session (instagram.sessionSecretRef)"
            )
        return list(islice(instaloader.Hashtag.from_name(self._context, name).get_posts(), limit))

    def download(self, url: str) -> bytes:
        """Download an image anonymously, as instaloader does."""
        response = self._context.get_raw(url)
        try:
            return bytes(response.content)
        finally:
            response.close()


# --- rate control -----------------------------------------------------------------------


class BoundedRateController(instaloader.RateController):
    """instaloader's request pacing, with bounded waits and exponential backoff on 429.

    instaloader answers a 429 by waiting until its sliding window allows the query again,
    which can be 11 minutes or more; this controller backs off exponentially instead (the
    wait grows with the 429s of the last `window` seconds) and takes every wait, pacing
    included, from the run's budget, raising BackoffExhaustedError when it is spent.
    """

    def __init__(
        self,
        context: instaloader.InstaloaderContext,
        retrier: Retrier,
        *,
        clock: Callable[[], float] = time.monotonic,
        window: float = 600.0,
    ) -> None:
        super().__init__(context)
        self._retrier = retrier
        self._clock = clock
        self._window = window
        self._throttled: list[float] = []

    def sleep(self, secs: float) -> None:
        """Wait from the run's budget."""
        self._retrier.wait(secs, "instagram rate limit")

    def handle_429(self, query_type: str) -> None:
        """Back off exponentially in the number of recent 429s."""
        now = self._clock()
        self._throttled = [t for t in self._throttled if t > now - self._window]
        self._throttled.append(now)
        delay = self._retrier.next_delay(len(self._throttled))
        log.warning(
            "instagram answered 429 Too Many Requests; backing off",
            extra={
                "fields": {
                    "query_type": query_type,
                    "recent_429s": len(self._throttled),
                    "delay_seconds": round(delay, 1),
                }
            },
        )
        self.sleep(delay)


def _instaloader_error(message: object, repeat_at_end: bool = True) -> None:
    log.warning("instaloader: %s", message)


def new_instaloader(retrier: Retrier) -> instaloader.Instaloader:
    """Return an Instaloader that downloads nothing itself and paces within the budget."""
    loader = instaloader.Instaloader(
        quiet=True,
        download_pictures=False,
        download_videos=False,
        download_video_thumbnails=False,
        download_geotags=False,
        download_comments=False,
        save_metadata=False,
        compress_json=False,
        # The run's Retrier retries whole operations; instaloader retries once itself.
        max_connection_attempts=2,
        request_timeout=60.0,
        rate_controller=lambda context: BoundedRateController(context, retrier),
    )
    # instaloader prints its errors as plain text on stderr; keep stderr JSON lines.
    loader.context.error = _instaloader_error  # type: ignore[method-assign]
    return loader


# --- the source -------------------------------------------------------------------------


class InstagramReader:
    """Yield the items of an Instagram source: each profile, then its posts; then hashtags."""

    def __init__(
        self, config: InstagramSource, client: InstagramClient, retrier: Retrier, stamp: Stamp
    ) -> None:
        self._config = config
        self._client = client
        self._retrier = retrier
        self._stamp = stamp

    def items(self) -> Iterator[Item]:
        """Yield profiles, posts and errors, one profile or hashtag after the other."""
        for username in self._config.profiles:
            yield from self._profile(username)
        for name in self._config.hashtags:
            yield from self._hashtag(name)

    def _profile(self, username: str) -> Iterator[Item]:
        subject = f"profile {username}"
        limit = self._config.max_posts_per_profile
        try:
            profile = self._retrier.call(subject, partial(self._client.profile, username))
            message = self._retrier.call(subject, partial(profile_message, profile, self._stamp))
        except Exception as error:  # noqa: BLE001 - one profile's failure must not end the run
            yield ItemError(subject, describe_error(error))
            return
        yield ProfileItem(message)
        try:
            posts = self._retrier.call(subject, partial(self._client.profile_posts, profile, limit))
        except Exception as error:  # noqa: BLE001 - as above
            yield ItemError(subject, describe_error(error))
            return
        yield from self._posts(posts)

    def _hashtag(self, name: str) -> Iterator[Item]:
        subject = f"hashtag #{name}"
        limit = self._config.max_posts_per_profile
        try:
            posts = self._retrier.call(subject, partial(self._client.hashtag_posts, name, limit))
        except Exception as error:  # noqa: BLE001 - as for profiles
            yield ItemError(subject, describe_error(error))
            return
        yield from self._posts(posts)

    def _posts(self, posts: list[Any]) -> Iterator[Item]:
        for post in posts:
            subject = f"post {post.shortcode}"
            try:
                message = self._retrier.call(subject, partial(post_message, post, self._stamp))
                urls = self._retrier.call(subject, partial(image_urls, post))
            except Exception as error:  # noqa: BLE001 - one post's failure must not end the run
                yield ItemError(subject, describe_error(error))
                continue
            images = tuple(
                ImageSource(ref=f"{subject} image {index}", load=partial(self._download, url))
                for index, url in enumerate(urls)
            )
            yield PostItem(message, images)

    def _download(self, url: str) -> bytes:
        # The URL is signed; log and report the post, never the URL.
        return self._retrier.call("image download", partial(self._client.download, url))


def instagram_items(
    config: InstagramSource,
    loader: instaloader.Instaloader,
    retrier: Retrier,
    stamp: Stamp,
    *,
    session_path: Path = Path(INSTAGRAM_SESSION_PATH),
) -> Generator[Item, None, None]:
    """Log in if the source has a session, then yield its items.

    A session that cannot be used is one error; the profiles are still read anonymously.
    """
    if config.session_secret_ref is not None:
        try:
            apply_session(loader, read_session(session_path))
            log.info("instagram session loaded", extra={"fields": {"logged_in": True}})
        except SessionError as error:
            yield ItemError("instagram session", str(error))
    yield from InstagramReader(config, InstaloaderClient(loader), retrier, stamp).items()
