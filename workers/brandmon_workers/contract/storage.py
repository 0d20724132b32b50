"""S3 scoping: which s3:// locations one monitor may read and write.

A monitor's home is `s3://<bucket>/<namespace>/`. Everything its pipeline writes (media,
collector state, archives) goes there, and it may read there; an administrator may grant
extra read-only prefixes (the operator's `BRANDMON_OPERATOR_S3_ALLOWED_PREFIXES`). The
operator checks a spec's URIs before it builds anything (`brandmon_operator.tenancy`);
the workers check every key again before each S3 call, against the scope the operator
rendered into their settings, so a recording or a Kafka message naming another tenant's
object is refused too.

Matching compares whole path segments of the literal key. Keys that an HTTP layer or an S3
server might rewrite (`.` and `..` segments, empty segments, percent signs, backslashes,
control characters) are refused outright rather than normalised: what is checked must be
exactly what is requested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEME = "s3://"
BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
_BUCKET = re.compile(BUCKET_NAME)
# `%` and `\` are refused because some layer between here and the bytes on disk may decode
# or translate them into `/` or `..`; control characters have no business in a key.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f%\\]")


class S3UriError(ValueError):
    """Text that is not an s3:// URI (or prefix) this project accepts."""


class OutsideScopeError(PermissionError):
    """An S3 location outside what the monitor may use."""


@dataclass(frozen=True)
class S3Location:
    """One object: bucket and literal key."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        """Return s3://bucket/key."""
        return f"{SCHEME}{self.bucket}/{self.key}"


def _split(text: str) -> tuple[str, str]:
    if not text.startswith(SCHEME):
        raise S3UriError(f"not an s3:// URI: {text!r}")
    bucket, _, key = text.removeprefix(SCHEME).partition("/")
    if not _BUCKET.match(bucket):
        raise S3UriError(f"not a valid bucket name in {text!r}")
    return bucket, key


def _check_segments(text: str, segments: list[str]) -> None:
    if _UNSAFE.search(text):
        raise S3UriError(f"{text!r}: '%', '\\' and control characters are not allowed in keys")
    if any(segment in ("", ".", "..") for segment in segments):
        raise S3UriError(f"{text!r}: empty, '.' and '..' path segments are not allowed")


def parse_uri(uri: str) -> S3Location:
    """Parse an object URI; raise S3UriError for anything but a plain s3://bucket/key."""
    bucket, key = _split(uri)
    if not key:
        raise S3UriError(f"an s3:// URI needs a bucket and a key: {uri!r}")
    _check_segments(uri, key.split("/"))
    return S3Location(bucket, key)


def parse_prefix(text: str) -> str:
    """Return an allow-list entry in canonical form, `s3://bucket/` or `s3://bucket/a/b/`.

    A missing trailing slash is added: an entry always means a whole folder, so
    `s3://b/ns` allows `s3://b/ns/x` but never `s3://b/ns-evil/x`.
    """
    bucket, key = _split(text)
    key = key.removesuffix("/")
    if key:
        _check_segments(text, key.split("/"))
    return f"{SCHEME}{bucket}/{key}/" if key else f"{SCHEME}{bucket}/"


def home_prefix(bucket: str, namespace: str) -> str:
    """Return the prefix a monitor in `namespace` owns in `bucket`."""
    return parse_prefix(f"{SCHEME}{bucket}/{namespace}/")


def within(uri: str, prefix: str) -> bool:
    """Return whether an object URI lies under a prefix (whole segments; unsafe URIs: no)."""
    try:
        location = parse_uri(uri)
    except S3UriError:
        return False
    return location.uri.startswith(parse_prefix(prefix))


@dataclass(frozen=True)
class S3Scope:
    """What one monitor may touch: its home (read and write) plus read-only extras."""

    home: str
    """Canonical prefix the monitor owns: s3://<bucket>/<namespace>/."""

    read_only: tuple[str, ...] = ()
    """Canonical prefixes an administrator allowed this monitor to read."""

    def readable(self, uri: str) -> bool:
        """Return whether the monitor may read this object."""
        return any(within(uri, prefix) for prefix in (self.home, *self.read_only))

    def check_read(self, uri: str) -> S3Location:
        """Return the object if the monitor may read it; raise OutsideScopeError if not."""
        location = parse_uri(uri)
        if not self.readable(uri):
            raise OutsideScopeError(f"{uri} is outside this monitor's S3 scope ({self.home})")
        return location

    def check_write(self, uri: str) -> S3Location:
        """Return the object if the monitor may write it (home only); raise if not."""
        location = parse_uri(uri)
        if not within(uri, self.home):
            raise OutsideScopeError(f"{uri} is outside this monitor's S3 home ({self.home})")
        return location

    def check_read_key(self, bucket: str, key: str) -> None:
        """Like check_read, for a bucket and key."""
        self.check_read(S3Location(bucket, key).uri)

    def check_write_key(self, bucket: str, key: str) -> None:
        """Like check_write, for a bucket and key."""
        self.check_write(S3Location(bucket, key).uri)
