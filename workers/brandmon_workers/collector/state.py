"""What a source already sent, remembered across runs in one S3 object.

CronJob pods keep nothing between runs, so each run reads
`<namespace>/<monitor>/collector/<source>/state.json`, skips the posts listed there and,
after Kafka acknowledged a batch, writes the list back. Only acknowledged posts are
recorded, so a post whose delivery failed is tried again by the next run. The list keeps
the newest `MAX_POSTS` ids: a source reads only its newest posts, so older ids never come
back. Profiles are remembered by a digest of their content, so an unchanged profile is not
sent again while a changed one (new follower count, new biography) is. The key lies under
the monitor's namespace prefix, so same-named monitors of two namespaces never share it,
and the store refuses a key outside the monitor's S3 home.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, ValidationError

from brandmon_workers.contract.storage import S3Scope

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MAX_POSTS = 20_000
MAX_PROFILES = 1_000
_MISSING = {"NoSuchKey", "404", "NotFound"}


def state_key(namespace: str, monitor: str, source: str) -> str:
    """Return the S3 key of a source's state."""
    return f"{namespace}/{monitor}/collector/{source}/state.json"


class StateError(Exception):
    """The stored state cannot be read."""


class _Document(BaseModel):
    """The state object's JSON."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    posts: list[str] = []
    """Post ids sent, oldest first."""
    profiles: dict[str, str] = {}
    """Username -> digest of the profile last sent, oldest first."""


class SentState:
    """Post ids and profile digests already acknowledged by Kafka, bounded in size."""

    def __init__(
        self,
        posts: Iterable[str] = (),
        profiles: dict[str, str] | None = None,
        *,
        max_posts: int = MAX_POSTS,
        max_profiles: int = MAX_PROFILES,
    ) -> None:
        # dicts keep insertion order: an ordered set whose oldest entries are dropped first.
        self._posts: dict[str, None] = dict.fromkeys(posts)
        self._profiles: dict[str, str] = dict(profiles or {})
        self._max_posts = max_posts
        self._max_profiles = max_profiles
        self.changed = False
        """Whether anything was recorded since the state was read or saved."""
        self._trim()

    @classmethod
    def from_json(cls, data: bytes) -> SentState:
        """Parse a stored state; raise StateError when it is not one."""
        try:
            document = _Document.model_validate_json(data)
        except ValidationError as error:
            raise StateError(f"invalid collector state: {error.error_count()} errors") from error
        return cls(document.posts, document.profiles)

    def to_json(self) -> bytes:
        """Return the state as stored."""
        document = _Document(posts=list(self._posts), profiles=self._profiles)
        return document.model_dump_json().encode()

    @property
    def post_count(self) -> int:
        """Return how many post ids are remembered."""
        return len(self._posts)

    def has_post(self, post_id: str) -> bool:
        """Return whether a post was already sent."""
        return post_id in self._posts

    def add_posts(self, post_ids: Iterable[str]) -> None:
        """Record posts as sent (newest last)."""
        for post_id in post_ids:
            self._posts.pop(post_id, None)
            self._posts[post_id] = None
            self.changed = True
        self._trim()

    def profile_is_current(self, username: str, fingerprint: str) -> bool:
        """Return whether this exact profile content was already sent."""
        return self._profiles.get(username) == fingerprint

    def add_profile(self, username: str, fingerprint: str) -> None:
        """Record a profile's content as sent."""
        self._profiles.pop(username, None)
        self._profiles[username] = fingerprint
        self.changed = True
        self._trim()

    def _trim(self) -> None:
        for surplus in list(self._posts)[: max(0, len(self._posts) - self._max_posts)]:
            del self._posts[surplus]
        for surplus in list(self._profiles)[: max(0, len(self._profiles) - self._max_profiles)]:
            del self._profiles[surplus]


class StateStore:
    """Reads and writes one source's state object."""

    def __init__(self, s3: S3Client, bucket: str, key: str, *, scope: S3Scope) -> None:
        scope.check_write_key(bucket, key)
        self._s3 = s3
        self.bucket = bucket
        self.key = key

    def load(self) -> SentState:
        """Return the stored state, or an empty one before the first run."""
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return SentState()
            raise
        with contextlib.closing(response["Body"]) as body:
            return SentState.from_json(body.read())

    def save(self, state: SentState) -> None:
        """Store the state and mark it saved."""
        self._s3.put_object(
            Bucket=self.bucket,
            Key=self.key,
            Body=state.to_json(),
            ContentType="application/json",
        )
        state.changed = False
