"""What a source yields, and the pure helpers that turn it into messages and S3 objects.

Every source yields the same three kinds of item: a `ProfileItem`, a `PostItem` (the Post
message without media URIs, plus its images as lazy loaders, so an already-sent post costs
no download) and an `ItemError` (one failure the run counts and moves past). The run alone
uploads images and fills `media_uris`, so both sources emit exactly the same messages and
the same S3 layout.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import brandmon_workers
from brandmon_workers.contract.messages import Media, Post, Profile, Provenance

# The workers package may gain a __version__; until then the collector names its own.
COLLECTOR_VERSION: str = str(getattr(brandmon_workers, "__version__", "0.1.0"))

# Image types the analyzers accept, by the file signature that identifies them.
IMAGE_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heic",
    "image/avif": "avif",
}
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
# ISO base media files (HEIF, AVIF) name their brand after the "ftyp" box type.
_FTYP_BRANDS = {
    **dict.fromkeys([b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1"], "image/heic"),
    **dict.fromkeys([b"avif", b"avis"], "image/avif"),
}
_ERROR_TEXT_LIMIT = 300


@dataclass(frozen=True)
class ImageSource:
    """One image of a post, loaded only when the post is new."""

    ref: str
    """What to call the image in logs and errors (never a signed URL)."""

    load: Callable[[], bytes] = field(repr=False)
    """Return the image's bytes."""


@dataclass(frozen=True)
class ProfileItem:
    """A profile as the source read it."""

    profile: Profile


@dataclass(frozen=True)
class PostItem:
    """A post (media_uris still empty) and its images, in order."""

    post: Post
    images: tuple[ImageSource, ...] = ()


@dataclass(frozen=True)
class ItemError:
    """Something the source could not read; the run counts it and continues."""

    subject: str
    error: str


Item = ProfileItem | PostItem | ItemError
Stamp = Callable[[], Provenance]


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def provenance_stamp(source: str, clock: Callable[[], datetime] = utc_now) -> Stamp:
    """Return a function that stamps records of `source` with the time they are read."""

    def stamp() -> Provenance:
        return Provenance(source=source, collected_at=clock(), collector_version=COLLECTOR_VERSION)

    return stamp


def describe_error(error: BaseException) -> str:
    """Return a one-line, bounded description of an exception."""
    text = " ".join(str(error).split())
    if len(text) > _ERROR_TEXT_LIMIT:
        text = text[: _ERROR_TEXT_LIMIT - 1] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# --- images -----------------------------------------------------------------------------


def sniff_image_type(data: bytes) -> str | None:
    """Return the content type that the bytes' signature shows, or None if not an image."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(data[8:12])
    return None


@dataclass(frozen=True)
class StoredImage:
    """An image as stored in S3."""

    s3_uri: str
    sha256: str
    content_type: str
    size_bytes: int


@dataclass(frozen=True)
class ImageBlob:
    """An image's bytes with what identifies them."""

    data: bytes = field(repr=False)
    sha256: str
    content_type: str

    @property
    def extension(self) -> str:
        """Return the file extension of the content type."""
        return IMAGE_EXTENSIONS[self.content_type]


class NotAnImageError(ValueError):
    """Bytes that are no image type the pipeline accepts."""


def image_blob(data: bytes) -> ImageBlob:
    """Identify an image by content; raise NotAnImageError for anything else."""
    content_type = sniff_image_type(data)
    if content_type is None:
        raise NotAnImageError(f"not a JPEG, PNG, GIF, WebP, HEIC or AVIF image ({len(data)} bytes)")
    return ImageBlob(data=data, sha256=hashlib.sha256(data).hexdigest(), content_type=content_type)


def media_key(namespace: str, monitor: str, blob: ImageBlob) -> str:
    """Return the content-addressed S3 key of an image."""
    return f"{namespace}/{monitor}/media/{blob.sha256}.{blob.extension}"


def s3_uri(bucket: str, key: str) -> str:
    """Return s3://bucket/key."""
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split s3://bucket/key into bucket and key."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ValueError(f"an s3:// URI needs a bucket and a key: {uri!r}")
    return bucket, key


# --- messages ---------------------------------------------------------------------------


def post_messages(post: Post, images: Sequence[StoredImage]) -> tuple[Post, list[Media]]:
    """Return the post with its media URIs and one Media message per image, in order."""
    media = [
        Media(
            post_id=post.post_id,
            username=post.username,
            index=index,
            s3_uri=image.s3_uri,
            content_type=image.content_type,
            sha256=image.sha256,
            size_bytes=image.size_bytes,
            provenance=post.provenance,
        )
        for index, image in enumerate(images)
    ]
    complete = post.model_copy(update={"media_uris": [image.s3_uri for image in images]})
    return complete, media


def profile_fingerprint(profile: Profile) -> str:
    """Return a digest of what a profile says (not when or by whom it was read)."""
    content = profile.model_dump_json(exclude={"provenance"})
    return hashlib.sha256(content.encode()).hexdigest()
