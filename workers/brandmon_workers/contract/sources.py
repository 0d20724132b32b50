"""Where posts come from: Instagram profiles, or recorded posts replayed for backtests."""

from __future__ import annotations

from pydantic import Field

from brandmon_workers.contract.base import ApiModel, SecretKeyRef

INSTAGRAM_USERNAME = r"^[A-Za-z0-9._]{1,30}$"
HASHTAG = r"^[\w]{1,100}$"
S3_URI = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$"
# Anonymous Instagram access serves about the first 12 posts of a profile.
ANONYMOUS_POST_LIMIT = 12


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
