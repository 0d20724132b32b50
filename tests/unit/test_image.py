"""Image scoring without Kafka: Rekognition through botocore's Stubber, cache, budget, retries."""

from __future__ import annotations

import io
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from brandmon_workers import image
from brandmon_workers.contract.analysis import MODERATION_CATEGORIES, ImageAnalysisSpec
from brandmon_workers.contract.messages import Media, ModerationLabel, Provenance
from brandmon_workers.contract.storage import S3Scope

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def media(sha256: str = "a" * 64, post_id: str = "p1", **fields: Any) -> Media:
    values: dict[str, Any] = {
        "post_id": post_id,
        "username": "acme",
        "index": 0,
        "s3_uri": f"s3://media-bucket/acme/{post_id}/0.jpg",
        "content_type": "image/jpeg",
        "sha256": sha256,
        "size_bytes": 100_000,
        "provenance": Provenance(source="ig", collected_at=NOW, collector_version="test"),
    }
    return Media(**(values | fields))


def label(name: str, confidence: float, parent: str = "", level: int = 1) -> dict[str, Any]:
    return {"Name": name, "ParentName": parent, "Confidence": confidence, "TaxonomyLevel": level}


def response(*labels: dict[str, Any]) -> dict[str, Any]:
    return {
        "ModerationLabels": list(labels),
        "ModerationModelVersion": "7.0",
        "ContentTypes": [],
    }


EXPLICIT_CHAIN = (
    label("Explicit", 92.0),
    label("Explicit Nudity", 92.0, "Explicit", 2),
    label("Exposed Male Genitalia", 88.5, "Explicit Nudity", 3),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rekognition() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "rekognition",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_call(
    stubber: Stubber,
    body: dict[str, Any],
    key: str = "acme/p1/0.jpg",
    min_confidence: float = 50.0,
) -> None:
    stubber.add_response(
        "detect_moderation_labels",
        body,
        {
            "Image": {"S3Object": {"Bucket": "media-bucket", "Name": key}},
            "MinConfidence": min_confidence,
        },
    )


def scorer(client: Any, sleeps: list[float] | None = None, **spec: Any) -> image.ImageScorer:
    recorded = sleeps if sleeps is not None else []
    return image.ImageScorer(
        ImageAnalysisSpec.model_validate({"provider": "rekognition"} | spec),
        rekognition=client,
        sleep=recorded.append,
        rng=random.Random(7),  # noqa: S311 - reproducible jitter
    )


def test_parent_chain_counts_once_with_its_highest_confidence(rekognition: Any) -> None:
    client, stubber = rekognition
    expect_call(stubber, response(*EXPLICIT_CHAIN))
    result = scorer(client).score(media(), NOW)
    assert result.categories == ["Explicit"]
    assert result.score == pytest.approx(0.92)  # the max of the chain, not a sum
    assert {lab.category for lab in result.labels} == {"Explicit"}
    assert [lab.name for lab in result.labels] == [
        "Explicit",
        "Explicit Nudity",
        "Exposed Male Genitalia",
    ]
    assert (result.provider, result.model_version) == ("rekognition", "7.0")
    assert (result.post_id, result.sha256, result.scored_at) == ("p1", "a" * 64, NOW)


def test_weights_apply_per_top_level_category(rekognition: Any) -> None:
    client, stubber = rekognition
    body = response(
        label("Violence", 80.0),
        label("Weapons", 80.0, "Violence", 2),
        label("Alcohol", 60.0),
        label("Drinking", 60.0, "Alcohol", 2),
        label("Swimwear or Underwear", 99.0),
    )
    expect_call(stubber, body)
    weights = {"Violence": 0.5, "Swimwear or Underwear": 0.0}
    result = scorer(client, category_weights=weights).score(media(), NOW)
    # Alcohol is unlisted (weight 1): 0.6; Violence 0.5 * 0.8 = 0.4; Swimwear weighs 0.
    assert result.score == pytest.approx(0.6)
    assert result.categories == ["Alcohol", "Violence", "Swimwear or Underwear"]


def test_min_confidence_is_sent_and_enforced(rekognition: Any) -> None:
    client, stubber = rekognition
    body = response(label("Gambling", 69.9), label("Rude Gestures", 70.0))
    expect_call(stubber, body, min_confidence=70.0)
    result = scorer(client, min_confidence=70.0).score(media(), NOW)
    assert result.categories == ["Rude Gestures"]
    assert [lab.name for lab in result.labels] == ["Rude Gestures"]
    assert result.score == pytest.approx(0.7)


def test_nothing_found_scores_zero(rekognition: Any) -> None:
    client, stubber = rekognition
    expect_call(stubber, response())
    result = scorer(client).score(media(), NOW)
    assert (result.score, result.categories, result.labels) == (0.0, [], [])


def test_identical_images_are_analysed_once(rekognition: Any) -> None:
    client, stubber = rekognition
    expect_call(stubber, response(*EXPLICIT_CHAIN))  # a single stubbed call
    score = scorer(client)
    first = score.score(media(post_id="p1"), NOW)
    second = score.score(media(post_id="p2"), NOW)
    assert second.post_id == "p2"
    assert second.s3_uri.endswith("p2/0.jpg")
    assert (second.score, second.categories) == (first.score, first.categories)


def test_cache_evicts_least_recently_used(rekognition: Any) -> None:
    client, stubber = rekognition
    for key in ("acme/p1/0.jpg", "acme/p2/0.jpg", "acme/p1/0.jpg"):
        expect_call(stubber, response(), key=key)
    score = image.ImageScorer(
        ImageAnalysisSpec(provider="rekognition"), rekognition=client, cache_size=1
    )
    for post_id, sha in (("p1", "1"), ("p2", "2"), ("p1", "1")):
        score.score(media(sha256=sha * 64, post_id=post_id), NOW)


def test_budget_per_rolling_hour(rekognition: Any) -> None:
    client, stubber = rekognition
    clock = Clock()
    score = image.ImageScorer(
        ImageAnalysisSpec(provider="rekognition", max_calls_per_hour=2),
        rekognition=client,
        clock=clock,
    )
    expect_call(stubber, response(), key="acme/p1/0.jpg")
    score.score(media(sha256="1" * 64, post_id="p1"), NOW)
    clock.now += 600
    expect_call(stubber, response(), key="acme/p2/0.jpg")
    score.score(media(sha256="2" * 64, post_id="p2"), NOW)
    clock.now += 600
    with pytest.raises(image.BudgetExhausted) as exhausted:
        score.score(media(sha256="3" * 64, post_id="p3"), NOW)
    assert exhausted.value.retry_after_s == pytest.approx(3600 - 1200)
    score.score(media(sha256="1" * 64, post_id="p4"), NOW)  # cache hits are free
    clock.now += 2400  # the first call leaves the window
    expect_call(stubber, response(), key="acme/p3/0.jpg")
    score.score(media(sha256="3" * 64, post_id="p3"), NOW)


def test_zero_budget_never_calls(rekognition: Any) -> None:
    client, _ = rekognition
    score = scorer(client, max_calls_per_hour=0)
    with pytest.raises(image.BudgetExhausted) as exhausted:
        score.score(media(), NOW)
    assert exhausted.value.retry_after_s == 3600


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),
        ("ProvisionedThroughputExceededException", 400),
        ("ServiceUnavailableException", 503),
        ("InternalServerError", 500),
        ("SomethingNew", 502),
    ],
)
def test_transient_errors_are_retried_with_backoff(
    rekognition: Any, code: str, status: int
) -> None:
    client, stubber = rekognition
    for _ in range(2):
        stubber.add_client_error("detect_moderation_labels", code, http_status_code=status)
    expect_call(stubber, response(*EXPLICIT_CHAIN))
    sleeps: list[float] = []
    result = scorer(client, sleeps, max_calls_per_hour=1).score(media(), NOW)
    assert result.score == pytest.approx(0.92)  # and the retries cost one budget unit
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5  # equal jitter: half to all of 0.5 s, then of 1 s
    assert 0.5 <= sleeps[1] <= 1.0


def test_retries_are_bounded(rekognition: Any) -> None:
    client, stubber = rekognition
    for _ in range(5):
        stubber.add_client_error("detect_moderation_labels", "ThrottlingException")
    sleeps: list[float] = []
    with pytest.raises(ClientError, match="ThrottlingException"):
        scorer(client, sleeps).score(media(), NOW)
    assert len(sleeps) == 4
    assert all(lo / 2 <= s <= lo for s, lo in zip(sleeps, [0.5, 1, 2, 4], strict=True))


@pytest.mark.parametrize(
    "code", ["InvalidImageFormatException", "ImageTooLargeException", "InvalidS3ObjectException"]
)
def test_unscorable_images_are_not_retried(rekognition: Any, code: str) -> None:
    client, stubber = rekognition
    stubber.add_client_error("detect_moderation_labels", code, "nope")
    sleeps: list[float] = []
    with pytest.raises(image.UnscorableImage) as unscorable:
        scorer(client, sleeps).score(media(), NOW)
    assert unscorable.value.reason == f"{code}: nope"
    assert sleeps == []


def test_other_errors_propagate_unchanged(rekognition: Any) -> None:
    client, stubber = rekognition
    stubber.add_client_error("detect_moderation_labels", "AccessDeniedException")
    sleeps: list[float] = []
    with pytest.raises(ClientError, match="AccessDeniedException"):
        scorer(client, sleeps).score(media(), NOW)
    assert sleeps == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"content_type": "image/webp"}, "JPEG and PNG only"),
        ({"size_bytes": 15 * 1024 * 1024 + 1}, "limit"),
        ({"s3_uri": "https://example.com/x.jpg"}, "not an S3 object URI"),
        ({"s3_uri": "s3://bucket-only"}, "not an S3 object URI"),
    ],
)
def test_limits_are_checked_before_a_billed_call(
    rekognition: Any, fields: dict[str, Any], reason: str
) -> None:
    client, _ = rekognition  # no stubbed response: any call would fail the test
    with pytest.raises(image.UnscorableImage, match=reason):
        scorer(client, max_calls_per_hour=1).score(media(**fields), NOW)


def test_png_with_parameters_is_accepted(rekognition: Any) -> None:
    client, stubber = rekognition
    expect_call(stubber, response())
    scorer(client).score(media(content_type="image/PNG; charset=binary"), NOW)


def test_to_labels_resolves_categories() -> None:
    labels = image.to_labels(
        response(
            *EXPLICIT_CHAIN,
            label("Weapons", 70.0, "Violence", 2),  # parent not reported: a known category
            label("Exposed Female Nipple", 60.0, "Some Future Level", 3),  # unknown root
            label("A", 55.0, "B", 2),  # a cycle is a provider bug, but must not hang
            label("B", 55.0, "A", 2),
        )
    )
    assert [(lab.name, lab.category) for lab in labels] == [
        ("Explicit", "Explicit"),
        ("Explicit Nudity", "Explicit"),
        ("Exposed Male Genitalia", "Explicit"),
        ("Weapons", "Violence"),
        ("Exposed Female Nipple", "Some Future Level"),
        ("A", "B"),
        ("B", "A"),
    ]
    assert labels[2] == ModerationLabel(
        name="Exposed Male Genitalia",
        parent_name="Explicit Nudity",
        confidence=88.5,
        taxonomy_level=3,
        category="Explicit",
    )
    assert image.to_labels({}) == []


def test_category_scores_is_pure() -> None:
    labels = [
        ModerationLabel(name="Violence", confidence=90.0, category="Violence"),
        ModerationLabel(
            name="Weapons",
            confidence=95.0,
            parent_name="Violence",
            taxonomy_level=2,
            category="Violence",
        ),
        ModerationLabel(name="Gambling", confidence=40.0, category="Gambling"),
        ModerationLabel(name="Alcohol", confidence=100.0, category="Alcohol"),
    ]
    scores = image.category_scores(labels, {"Alcohol": 0.2}, 50.0)
    assert scores == pytest.approx({"Violence": 0.95, "Alcohol": 0.2})
    assert list(scores) == ["Violence", "Alcohol"]
    assert image.category_scores([], {}, 0.0) == {}


def test_provider_none_has_no_scorer() -> None:
    with pytest.raises(ValueError, match="none"):
        image.ImageScorer(ImageAnalysisSpec(provider="none"))


def test_local_provider_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "nudenet", None)  # makes the import fail even if installed
    with pytest.raises(image.MissingExtraError, match=r"pip install 'nudenet==") as missing:
        image.ImageScorer(ImageAnalysisSpec(provider="local"))
    assert "AGPL" in str(missing.value)
    assert isinstance(missing.value, ImportError)


class FakeDetector:
    """NudeNet's documented `detect(image) -> [{"class", "score", "box"}]`."""

    def __init__(self, detections: list[dict[str, Any]] | Exception) -> None:
        self.detections = detections
        self.images: list[bytes] = []

    def detect(self, data: bytes) -> list[dict[str, Any]]:
        self.images.append(data)
        if isinstance(self.detections, Exception):
            raise self.detections
        return self.detections


@pytest.fixture
def s3() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def stub_object(stubber: Stubber, data: bytes) -> None:
    stubber.add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(data), len(data))},
        {"Bucket": "media-bucket", "Key": "acme/p1/0.jpg"},
    )


def test_local_provider_maps_detections_to_categories(s3: Any) -> None:
    client, stubber = s3
    stub_object(stubber, b"\xff\xd8\xffimage")
    detector = FakeDetector(
        [
            {"class": "FACE_FEMALE", "score": 0.95, "box": [0, 0, 10, 10]},
            {"class": "FEMALE_BREAST_EXPOSED", "score": 0.81, "box": [0, 0, 10, 10]},
            {"class": "BUTTOCKS_EXPOSED", "score": 0.6, "box": [0, 0, 10, 10]},
            {"class": "FEMALE_BREAST_COVERED", "score": 0.7, "box": [0, 0, 10, 10]},
            {"class": "BUTTOCKS_COVERED", "score": 0.3, "box": [0, 0, 10, 10]},
        ]
    )
    score = image.ImageScorer(
        ImageAnalysisSpec(provider="local", category_weights={"Swimwear or Underwear": 0.5}),
        s3=client,
        detector=detector,
    )
    result = score.score(media(), NOW)
    assert detector.images == [b"\xff\xd8\xffimage"]
    assert result.categories == ["Explicit", "Swimwear or Underwear"]
    assert result.score == pytest.approx(0.81)
    assert result.provider == "local"
    names = {
        (lab.name, lab.parent_name, lab.taxonomy_level): lab.confidence for lab in result.labels
    }
    assert names == pytest.approx(
        {
            ("Explicit", "", 1): 81.0,
            ("Explicit Nudity", "Explicit", 2): 81.0,
            ("Exposed Female Nipple", "Explicit Nudity", 3): 81.0,
            ("Exposed Buttocks or Anus", "Explicit Nudity", 3): 60.0,
            ("Swimwear or Underwear", "", 1): 70.0,
            ("Female Swimwear or Underwear", "Swimwear or Underwear", 2): 70.0,
        }
    )


def test_local_provider_undecodable_image(s3: Any) -> None:
    client, stubber = s3
    stub_object(stubber, b"not an image")
    score = image.ImageScorer(
        ImageAnalysisSpec(provider="local"),
        s3=client,
        detector=FakeDetector(AttributeError("'NoneType' object has no attribute 'shape'")),
    )
    with pytest.raises(image.UnscorableImage, match="cannot be decoded"):
        score.score(media(), NOW)


def test_local_provider_missing_object(s3: Any) -> None:
    client, stubber = s3
    stubber.add_client_error("get_object", "NoSuchKey", http_status_code=404)
    score = image.ImageScorer(
        ImageAnalysisSpec(provider="local"), s3=client, detector=FakeDetector([])
    )
    with pytest.raises(image.UnscorableImage, match="NoSuchKey"):
        score.score(media(), NOW)


def test_nudenet_labels_map_onto_known_categories() -> None:
    body = image.nudenet_response(
        [{"class": name, "score": 0.9} for name in image._NUDENET_LABELS]  # noqa: SLF001
    )
    categories = {lab.category for lab in image.to_labels(body)}
    assert categories <= set(MODERATION_CATEGORIES)
    assert categories == {
        "Explicit",
        "Non-Explicit Nudity of Intimate parts and Kissing",
        "Swimwear or Underwear",
    }


def test_media_outside_the_monitors_home_are_unscorable_and_never_sent(rekognition: Any) -> None:
    client, stubber = rekognition  # no call expected: the Stubber fails on any request
    scoped = image.ImageScorer(
        ImageAnalysisSpec(provider="rekognition"),
        rekognition=client,
        scope=S3Scope(home="s3://media-bucket/acme/"),
    )
    for uri in ("s3://media-bucket/tenant-b/p1/0.jpg", "s3://media-bucket/acme/../b/0.jpg"):
        with pytest.raises(image.UnscorableImage, match=r"outside|segments"):
            scoped.score(media(s3_uri=uri), NOW)
    stubber.assert_no_pending_responses()
