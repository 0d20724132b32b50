"""The replay source: recorded profiles and posts (JSON Lines), read from S3 or a file.

A recording says what the Instagram source would have read (format: docs/replay-format.md);
the run emits exactly the messages and S3 objects that reading would have produced. Images
are references: a path relative to the recording, an s3:// URI, or inline `data:` base64.
Parsing is pure (`parse_line`, `parse_image_ref`); `FileRecording` and `S3Recording` do the
reading, and read from S3 only what the monitor's `S3Scope` allows: a recording is tenant
data, so an image reference in it must not reach another tenant's objects.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, Protocol, TextIO

from pydantic import ValidationError

from brandmon_workers.collector.items import (
    ImageSource,
    Item,
    ItemError,
    PostItem,
    ProfileItem,
    Stamp,
    describe_error,
    parse_s3_uri,
)
from brandmon_workers.contract.messages import Post, Profile
from brandmon_workers.contract.storage import S3Scope

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Fields the collector sets itself; a recording must not carry them.
_COLLECTOR_FIELDS = ("provenance", "schema_version")
_POST_COLLECTOR_FIELDS = (*_COLLECTOR_FIELDS, "media_uris")


class ReplayFormatError(ValueError):
    """A line of a recording that does not follow the format."""


@dataclass(frozen=True)
class ImageRef:
    """Where a recorded image is."""

    kind: Literal["path", "s3", "inline"]
    value: str
    """Relative path, s3:// URI, or base64 payload."""

    def describe(self, index: int) -> str:
        """Return a short name for logs (never the inline payload)."""
        return (
            f"image {index} (inline)" if self.kind == "inline" else f"image {index} ({self.value})"
        )


@dataclass(frozen=True)
class RecordedPost:
    """A post line: the post (media_uris empty) and its image references."""

    post: Post
    images: tuple[ImageRef, ...]


def parse_image_ref(text: object) -> ImageRef:
    """Parse one entry of a post line's `images`."""
    if not isinstance(text, str) or not text:
        raise ReplayFormatError("an image reference is a non-empty string")
    if text.startswith("s3://"):
        parse_s3_uri(text)
        return ImageRef("s3", text)
    if text.startswith("data:"):
        header, comma, payload = text.partition(",")
        if not comma or not header.endswith(";base64"):
            raise ReplayFormatError("an inline image is data:<type>;base64,<payload>")
        return ImageRef("inline", payload)
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or "://" in text:
        raise ReplayFormatError(
            f"image {text!r}: use a path relative to the recording (no '..'), "
            "an s3:// URI or a data: URI"
        )
    return ImageRef("path", path.as_posix())


def _record_fields(line: dict[str, Any], key: str, forbidden: tuple[str, ...]) -> dict[str, Any]:
    fields = line[key]
    if not isinstance(fields, dict):
        raise ReplayFormatError(f"{key!r} must be an object")
    present = [name for name in forbidden if name in fields]
    if present:
        raise ReplayFormatError(f"{key!r} must not set {', '.join(present)}: the collector does")
    return fields


def parse_line(text: str, stamp: Stamp) -> Profile | RecordedPost:
    """Parse one non-blank line of a recording; raise ValueError if it is not valid."""
    line = json.loads(text)
    if not isinstance(line, dict):
        raise ReplayFormatError("a line is a JSON object")
    keys = set(line)
    if keys == {"profile"}:
        fields = _record_fields(line, "profile", _COLLECTOR_FIELDS)
        return Profile.model_validate({**fields, "provenance": stamp()})
    if keys in ({"post"}, {"post", "images"}):
        fields = _record_fields(line, "post", _POST_COLLECTOR_FIELDS)
        images = line.get("images", [])
        if not isinstance(images, list):
            raise ReplayFormatError("'images' must be a list")
        post = Post.model_validate({**fields, "provenance": stamp()})
        if post.posted_at.tzinfo is None:
            # The format says: a time without an offset is UTC.
            post = post.model_copy(update={"posted_at": post.posted_at.replace(tzinfo=UTC)})
        return RecordedPost(post, tuple(parse_image_ref(image) for image in images))
    raise ReplayFormatError(
        f"a line is {{'profile': ...}} or {{'post': ..., 'images': [...]}}, not keys {sorted(keys)}"
    )


def decode_inline(payload: str) -> bytes:
    """Decode an inline image's base64 payload."""
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as error:
        raise ReplayFormatError(f"inline image is not valid base64: {error}") from error


# --- reading recordings -----------------------------------------------------------------


class Recording(Protocol):
    """A recording's lines and the images it refers to."""

    def lines(self) -> Iterator[str]:
        """Yield the recording's lines."""
        ...

    def image(self, ref: ImageRef) -> bytes:
        """Return the bytes of a referenced image."""
        ...


def _s3_bytes(s3: S3Client, scope: S3Scope, uri: str) -> bytes:
    location = scope.check_read(uri)
    bucket, key = location.bucket, location.key
    # StreamingBody's own context manager yields the raw stream; close the body itself.
    with contextlib.closing(s3.get_object(Bucket=bucket, Key=key)["Body"]) as body:
        return body.read()


class FileRecording:
    """A recording in a file (a mounted volume); relative images are next to it."""

    def __init__(self, path: Path, s3: S3Client, *, scope: S3Scope) -> None:
        self._path = path
        self._s3 = s3
        self._scope = scope

    def lines(self) -> Iterator[str]:
        """Yield the file's lines."""
        with self._path.open(encoding="utf-8") as recording:
            yield from recording

    def image(self, ref: ImageRef) -> bytes:
        """Return an image from the recording's folder, S3, or inline."""
        if ref.kind == "inline":
            return decode_inline(ref.value)
        if ref.kind == "s3":
            return _s3_bytes(self._s3, self._scope, ref.value)
        return (self._path.parent / ref.value).read_bytes()


class S3Recording:
    """A recording in S3; relative images are objects under the same prefix."""

    def __init__(self, uri: str, s3: S3Client, *, scope: S3Scope) -> None:
        location = scope.check_read(uri)  # before any request: refused means never read
        self._uri = uri
        self._bucket, self._key = location.bucket, location.key
        self._s3 = s3
        self._scope = scope

    def lines(self) -> Iterator[str]:
        """Stream the object's lines."""
        response = self._s3.get_object(Bucket=self._bucket, Key=self._key)
        with contextlib.closing(response["Body"]) as body:
            for line in body.iter_lines():
                yield line.decode("utf-8")

    def image(self, ref: ImageRef) -> bytes:
        """Return an image from next to the recording, S3, or inline."""
        if ref.kind == "inline":
            return decode_inline(ref.value)
        if ref.kind == "s3":
            return _s3_bytes(self._s3, self._scope, ref.value)
        folder = PurePosixPath(self._key).parent
        key = (folder / ref.value).as_posix().removeprefix("./")
        return _s3_bytes(self._s3, self._scope, f"s3://{self._bucket}/{key}")


def replay_items(recording: Recording, stamp: Stamp) -> Generator[Item, None, None]:
    """Yield a recording's profiles and posts; a bad line is an error, not the end."""
    for number, text in enumerate(recording.lines(), start=1):
        if not text.strip():
            continue
        try:
            record = parse_line(text, stamp)
        except ValueError as error:  # JSON, format and validation errors alike
            yield ItemError(f"recording line {number}", _line_error(error))
            continue
        if isinstance(record, Profile):
            yield ProfileItem(record)
            continue
        yield PostItem(
            record.post,
            tuple(
                ImageSource(ref=ref.describe(index), load=partial(recording.image, ref))
                for index, ref in enumerate(record.images)
            ),
        )


def record_line(post: Post) -> str:
    """Return the replay line that replays a sent post (its images by their S3 URIs)."""
    fields = post.model_dump(mode="json", exclude=set(_POST_COLLECTOR_FIELDS))
    return json.dumps({"post": fields, "images": list(post.media_uris)}, ensure_ascii=False)


class Recorder:
    """Append every post a run sends to a recording, which a replay source replays."""

    def __init__(self, sink: TextIO) -> None:
        self._sink = sink

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: Path) -> Iterator[Recorder]:
        """Open (append to) a recording for the run."""
        with path.open("a", encoding="utf-8") as sink:
            yield cls(sink)

    def record(self, post: Post) -> None:
        """Write one post's line."""
        self._sink.write(record_line(post) + "\n")


def _line_error(error: ValueError) -> str:
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'line'}: {problem['msg']}"
            for problem in error.errors(include_input=False)[:5]
        )
        return f"invalid record: {problems}"
    return describe_error(error)
