"""Image risk of a post's media: the pure scoring core of the image analyzer (no Kafka).

A provider returns moderation labels in Rekognition's taxonomy (v7: three levels, see
`MODERATION_CATEGORIES` for the top level). Every label belongs to the top-level category
at the root of its parent chain; a provider reports a label together with its parents
("Exposed Male Genitalia" < "Explicit Nudity" < "Explicit"), so a category counts once,
with the highest confidence of its labels, never the sum of a chain:

    category score = weight(category) * max(confidence of its labels) / 100
    image score    = max over categories (0 when nothing reaches min_confidence)

Weights come from the monitor's `category_weights` (unlisted categories weigh 1). Only
labels at or above `min_confidence` count; `categories` lists the categories found,
highest score first.

Providers:

- `rekognition`: AWS DetectModerationLabels on the S3 object itself (the image never
  passes through the worker). Rekognition accepts JPEG and PNG, at most 15 MB as an S3
  object, and at least 80x80 pixels; media that are not JPEG/PNG or are larger than 15 MB
  are refused here before a billed call. Images Rekognition rejects
  (InvalidImageFormatException, ImageTooLargeException, InvalidS3ObjectException) raise
  `UnscorableImage`, which is not worth retrying. Throttling and server errors are
  retried with exponential backoff and jitter, a bounded number of times, then re-raised
  (the client's own botocore retries, if configured, come on top).
- `local`: NudeNet's ONNX detector, an optional package that brandmon does not depend on
  (its wheel carries an AGPL-3.0 licence file while its metadata says MIT: installing it
  is the operator's decision). It runs on the image bytes read from S3 and only knows
  nudity, so it maps its detections onto the Explicit, Non-Explicit Nudity and Swimwear
  categories. Same size limit; any format OpenCV decodes.
- `none`: there is no image analyzer; constructing an `ImageScorer` is an error.

Costs: identical images (same SHA-256) are analysed once, the result being kept in an LRU
cache, and a monitor makes at most `max_calls_per_hour` provider calls in any rolling hour
(cache hits are free); past that, `BudgetExhausted` says how long to wait. One call counts
however many times it is retried (throttled calls are not billed). An `ImageScorer` is
not thread-safe: one per consumer loop.
"""

from __future__ import annotations

import importlib
import random
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import boto3
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from brandmon_workers.contract.analysis import ImageAnalysisSpec
from brandmon_workers.contract.messages import ImageScore, Media, ModerationLabel
from brandmon_workers.contract.storage import OutsideScopeError, S3Scope, S3UriError

MAX_S3_OBJECT_BYTES = 15 * 1024 * 1024
"""Largest S3 object Rekognition analyses (the same limit applies to the local model)."""

MIN_DIMENSION_PX = 80
"""Smallest width and height Rekognition analyses (checked by Rekognition, not here)."""

REKOGNITION_CONTENT_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png"})

BUDGET_WINDOW_S = 3600.0

NUDENET_REQUIREMENT = "nudenet==3.4.2"
"""The optional package that provides the `local` provider (its model ships in the wheel)."""

# Errors that say "try again later": AWS throttling and server-side failures.
_RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalServerError",
        "SlowDown",  # S3, when the local provider reads images
    }
)
# Errors that say "this image cannot be analysed": retrying changes nothing.
_UNSCORABLE_CODES = frozenset(
    {
        "InvalidImageFormatException",
        "ImageTooLargeException",
        "InvalidS3ObjectException",
        "NoSuchKey",  # S3, when the local provider reads images
    }
)
_SERVER_ERROR = 500


# The names below are the runtime's contract and read as verdicts; "Error" would add nothing.
class UnscorableImage(Exception):  # noqa: N818
    """The image cannot be analysed (format, size, missing object): dead-letter it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BudgetExhausted(Exception):  # noqa: N818
    """The monitor's hourly budget of provider calls is spent; retry after a while."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"image analysis budget exhausted; retry in {retry_after_s:.0f}s")
        self.retry_after_s = retry_after_s


class MissingExtraError(ImportError):
    """An optional package that a configured provider needs is not installed."""


def to_labels(response: Mapping[str, Any]) -> list[ModerationLabel]:
    """Read DetectModerationLabels' labels, each with its top-level category."""
    raw = response.get("ModerationLabels", [])
    by_name = {str(label.get("Name", "")): label for label in raw}
    labels = []
    for label in raw:
        name = str(label.get("Name", ""))
        labels.append(
            ModerationLabel(
                name=name,
                parent_name=str(label.get("ParentName", "")),
                confidence=min(100.0, max(0.0, float(label.get("Confidence", 0.0)))),
                taxonomy_level=max(1, int(label.get("TaxonomyLevel", 1))),
                category=_category(name, by_name),
            )
        )
    return labels


def _category(name: str, by_name: Mapping[str, Mapping[str, Any]]) -> str:
    """Follow ParentName up to the root of the chain that the response contains."""
    seen = {name}
    current = name
    while True:
        parent = str(by_name.get(current, {}).get("ParentName", ""))
        if not parent:
            return current  # a level-1 label
        if parent not in by_name:
            # Incomplete chain: the parent was not reported. A known top-level category
            # is the answer; otherwise the highest name known (a parent the taxonomy
            # added later still groups its children consistently).
            return parent
        if parent in seen:
            return current  # a cycle would be a provider bug; stop rather than loop
        seen.add(parent)
        current = parent


def category_scores(
    labels: Sequence[ModerationLabel], weights: Mapping[str, float], min_confidence: float
) -> dict[str, float]:
    """Score each top-level category found at or above min_confidence, highest first."""
    confidence: dict[str, float] = {}
    for label in labels:
        if label.confidence >= min_confidence:
            confidence[label.category] = max(confidence.get(label.category, 0.0), label.confidence)
    scores = {
        category: min(1.0, max(0.0, weights.get(category, 1.0) * value / 100.0))
        for category, value in confidence.items()
    }
    return dict(sorted(scores.items(), key=lambda item: (-item[1], item[0])))


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split s3://bucket/key into bucket and key."""
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme != "s3" or not bucket or not key:
        raise UnscorableImage(f"not an S3 object URI: {uri!r}")
    return bucket, key


class CallBudget:
    """At most `max_calls` calls in any rolling window of `window_s` seconds."""

    def __init__(
        self, max_calls: int, clock: Callable[[], float], window_s: float = BUDGET_WINDOW_S
    ) -> None:
        self._max_calls = max_calls
        self._clock = clock
        self._window_s = window_s
        self._calls: deque[float] = deque()

    def take(self) -> None:
        """Count one call, or raise BudgetExhausted if the window is full."""
        now = self._clock()
        while self._calls and self._calls[0] <= now - self._window_s:
            self._calls.popleft()
        if self._max_calls <= 0:
            raise BudgetExhausted(self._window_s)
        if len(self._calls) >= self._max_calls:
            raise BudgetExhausted(max(0.0, self._calls[0] + self._window_s - now))
        self._calls.append(now)


@dataclass(frozen=True, slots=True)
class _Result:
    labels: tuple[ModerationLabel, ...]
    model_version: str


# NudeNet 3.4 classes -> (label, parent chain up to the top-level category), named after
# the Rekognition v7 labels they correspond to. Classes that are not moderation concepts
# (faces, feet, armpits, bellies) are ignored.
_EXPLICIT_NUDITY = ("Explicit Nudity", "Explicit")
_NON_EXPLICIT_NUDITY = ("Non-Explicit Nudity", "Non-Explicit Nudity of Intimate parts and Kissing")
_NUDENET_LABELS: dict[str, tuple[str, ...]] = {
    "FEMALE_GENITALIA_EXPOSED": ("Exposed Female Genitalia", *_EXPLICIT_NUDITY),
    "MALE_GENITALIA_EXPOSED": ("Exposed Male Genitalia", *_EXPLICIT_NUDITY),
    "BUTTOCKS_EXPOSED": ("Exposed Buttocks or Anus", *_EXPLICIT_NUDITY),
    "ANUS_EXPOSED": ("Exposed Buttocks or Anus", *_EXPLICIT_NUDITY),
    "FEMALE_BREAST_EXPOSED": ("Exposed Female Nipple", *_EXPLICIT_NUDITY),
    "MALE_BREAST_EXPOSED": ("Exposed Male Nipple", *_NON_EXPLICIT_NUDITY),
    "FEMALE_BREAST_COVERED": ("Female Swimwear or Underwear", "Swimwear or Underwear"),
    "FEMALE_GENITALIA_COVERED": ("Female Swimwear or Underwear", "Swimwear or Underwear"),
    # Covered buttocks say nothing about whose swimwear it is: top level only.
    "BUTTOCKS_COVERED": ("Swimwear or Underwear",),
    "ANUS_COVERED": ("Swimwear or Underwear",),
}


def nudenet_response(detections: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Express NudeNet detections as a DetectModerationLabels response (labels only)."""
    confidence: dict[tuple[str, ...], float] = {}
    for detection in detections:
        chain = _NUDENET_LABELS.get(str(detection.get("class", "")))
        if chain is None:
            continue
        value = min(100.0, max(0.0, 100.0 * float(detection.get("score", 0.0))))
        # Like Rekognition, report every level of the chain, each with the highest
        # confidence of what it contains.
        for level in range(len(chain)):
            link = chain[level:]
            confidence[link] = max(confidence.get(link, 0.0), value)
    labels = [
        {
            "Name": link[0],
            "ParentName": link[1] if len(link) > 1 else "",
            "TaxonomyLevel": len(link),
            "Confidence": value,
        }
        for link, value in sorted(confidence.items(), key=lambda item: (len(item[0]), item[0]))
    ]
    return {"ModerationLabels": labels}


def _load_nudenet() -> tuple[Any, str]:
    """Return a NudeNet detector and its version, or explain how to install it."""
    try:
        nudenet = importlib.import_module("nudenet")
    except ImportError as error:
        raise MissingExtraError(
            "image provider 'local' needs the optional NudeNet detector, which brandmon "
            f"does not install: add `pip install '{NUDENET_REQUIREMENT}'` to the worker "
            "image (its model ships inside the wheel; review its licence first: the wheel "
            "carries an AGPL-3.0 licence file although its metadata says MIT), or use "
            "provider 'rekognition'"
        ) from error
    try:
        nudenet_version = version("nudenet")
    except PackageNotFoundError:
        nudenet_version = "unknown"
    # The detector loads the 320n ONNX model bundled in the package: no download.
    return nudenet.NudeDetector(), f"nudenet/{nudenet_version}-320n"


class ImageScorer:
    """Score media of one monitor with its configured provider, cache and budget."""

    def __init__(
        self,
        spec: ImageAnalysisSpec,
        *,
        rekognition: Any | None = None,
        s3: Any | None = None,
        detector: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        cache_size: int = 10_000,
        max_attempts: int = 5,
        base_delay_s: float = 0.5,
        max_delay_s: float = 20.0,
        rng: random.Random | None = None,
        scope: S3Scope | None = None,
    ) -> None:
        """Prepare the provider.

        `rekognition` (provider rekognition) and `s3` (provider local, to read images) are
        boto3 clients, created from the environment when not given. `detector` replaces
        NudeNet's detector (provider local); without it NudeNet must be installed. With a
        `scope`, only media under the monitor's own S3 home are analysed: a media message
        naming another tenant's object is unscorable, never read.
        """
        if spec.provider == "none":
            raise ValueError("image provider is 'none': there is nothing to score images with")
        self._spec = spec
        self._scope = scope
        self._sleep = sleep
        self._cache: OrderedDict[str, _Result] = OrderedDict()
        self._cache_size = cache_size
        self._budget = CallBudget(spec.max_calls_per_hour, clock)
        self._max_attempts = max(1, max_attempts)
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        # Jitter only spreads retries out: it has no security role.
        self._rng = random.Random() if rng is None else rng  # noqa: S311
        self._rekognition: Any = None
        self._s3: Any = None
        self._detector: Any = None
        self._local_version = "local"
        if spec.provider == "rekognition":
            self._rekognition = boto3.client("rekognition") if rekognition is None else rekognition
        else:
            if detector is None:
                detector, self._local_version = _load_nudenet()
            self._detector = detector
            self._s3 = boto3.client("s3") if s3 is None else s3

    @property
    def provider(self) -> str:
        """Return the configured provider's name."""
        return self._spec.provider

    def score(self, media: Media, now: datetime) -> ImageScore:
        """Score one image; `now` becomes `scored_at`.

        Raises UnscorableImage for images no retry can help, BudgetExhausted when the hourly
        budget is spent, and the provider's error when retries did not get through.
        """
        result = self._cached(media.sha256)
        if result is None:
            self._check_limits(media)
            self._budget.take()
            result = self._with_retries(lambda: self._analyse(media))
            self._remember(media.sha256, result)
        kept = [label for label in result.labels if label.confidence >= self._spec.min_confidence]
        scores = category_scores(kept, self._spec.category_weights, self._spec.min_confidence)
        return ImageScore(
            post_id=media.post_id,
            username=media.username,
            s3_uri=media.s3_uri,
            sha256=media.sha256,
            score=max(scores.values(), default=0.0),
            categories=list(scores),
            labels=kept,
            provider=self._spec.provider,
            model_version=result.model_version,
            scored_at=now,
        )

    def _cached(self, sha256: str) -> _Result | None:
        result = self._cache.get(sha256) if sha256 else None
        if result is not None:
            self._cache.move_to_end(sha256)
        return result

    def _remember(self, sha256: str, result: _Result) -> None:
        if not sha256 or self._cache_size <= 0:
            return
        self._cache[sha256] = result
        self._cache.move_to_end(sha256)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _check_limits(self, media: Media) -> None:
        """Refuse what the provider would refuse, before spending budget on it."""
        parse_s3_uri(media.s3_uri)
        if self._scope is not None:
            try:
                self._scope.check_write(media.s3_uri)  # media are the collector's own writes
            except (OutsideScopeError, S3UriError) as error:
                raise UnscorableImage(str(error)) from None
        if media.size_bytes > MAX_S3_OBJECT_BYTES:
            raise UnscorableImage(
                f"image of {media.size_bytes} bytes exceeds the {MAX_S3_OBJECT_BYTES}-byte limit"
            )
        content_type = media.content_type.split(";")[0].strip().lower()
        if self._spec.provider == "rekognition" and content_type not in REKOGNITION_CONTENT_TYPES:
            raise UnscorableImage(f"Rekognition analyses JPEG and PNG only, not {content_type!r}")

    def _analyse(self, media: Media) -> _Result:
        bucket, key = parse_s3_uri(media.s3_uri)
        if self._rekognition is not None:
            response = self._rekognition.detect_moderation_labels(
                Image={"S3Object": {"Bucket": bucket, "Name": key}},
                MinConfidence=self._spec.min_confidence,
            )
            return _Result(
                tuple(to_labels(response)), str(response.get("ModerationModelVersion", ""))
            )
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_S3_OBJECT_BYTES + 1)
        if len(body) > MAX_S3_OBJECT_BYTES:
            raise UnscorableImage(f"image exceeds the {MAX_S3_OBJECT_BYTES}-byte limit")
        try:
            detections = self._detector.detect(body)
        except (AttributeError, ValueError) as error:
            # NudeNet does not validate its input: bytes OpenCV cannot decode surface as
            # an AttributeError on the missing image (or a ValueError for other inputs).
            raise UnscorableImage(f"image cannot be decoded: {error}") from error
        return _Result(tuple(to_labels(nudenet_response(detections))), self._local_version)

    def _with_retries(self, call: Callable[[], _Result]) -> _Result:
        """Run the call, retrying transient failures with exponential backoff and jitter."""
        for attempt in range(self._max_attempts):
            try:
                return call()
            except ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", ""))
                if code in _UNSCORABLE_CODES:
                    message = error.response.get("Error", {}).get("Message", "")
                    raise UnscorableImage(f"{code}: {message}" if message else code) from error
                status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                retryable = code in _RETRYABLE_CODES or status >= _SERVER_ERROR
                if not retryable or attempt + 1 >= self._max_attempts:
                    raise
            except (BotoConnectionError, HTTPClientError):
                if attempt + 1 >= self._max_attempts:
                    raise
            # "Equal jitter": at least half the exponential delay, so retries back off
            # for sure, plus a random half, so many workers do not retry in lockstep.
            delay = min(self._max_delay_s, self._base_delay_s * 2**attempt)
            self._sleep(delay / 2 + self._rng.uniform(0.0, delay / 2))
        raise AssertionError("unreachable: the last attempt returns or raises")
