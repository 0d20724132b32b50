"""The collector's pure parts, and its run against fakes of Kafka and S3.

Instagram cannot be reached from here: the Instagram source is tested on instaloader's
own structures built from recorded responses (tests/unit/fixtures/instagram), served by an
InstaloaderContext that answers from the recordings and refuses any other request.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import io
import json
import logging
import pickle
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import instaloader
import pytest
import requests
from botocore.exceptions import ClientError
from confluent_kafka import KafkaError, KafkaException, Producer

from brandmon_workers.collector import run as run_module
from brandmon_workers.collector.backoff import (
    BackoffExhaustedError,
    BackoffPolicy,
    Retrier,
    backoff_delay,
)
from brandmon_workers.collector.delivery import (
    NO_REPORT,
    DeliveryTracker,
    KafkaSink,
    KafkaUnavailableError,
    Outgoing,
    RepeatFilter,
    check_topics,
)
from brandmon_workers.collector.instagram import (
    BoundedRateController,
    InstagramReader,
    InstaloaderClient,
    image_urls,
    instagram_items,
    is_retryable,
    new_instaloader,
    post_message,
    profile_message,
)
from brandmon_workers.collector.items import (
    COLLECTOR_VERSION,
    ImageBlob,
    ItemError,
    NotAnImageError,
    PostItem,
    ProfileItem,
    StoredImage,
    describe_error,
    image_blob,
    media_key,
    parse_s3_uri,
    post_messages,
    profile_fingerprint,
    provenance_stamp,
    sniff_image_type,
)
from brandmon_workers.collector.media import MediaStore
from brandmon_workers.collector.replay import (
    FileRecording,
    RecordedPost,
    ReplayFormatError,
    S3Recording,
    parse_image_ref,
    parse_line,
    replay_items,
)
from brandmon_workers.collector.run import Pacer, RunReport, Tally, main, run
from brandmon_workers.collector.session import (
    InstagramSession,
    SessionError,
    apply_session,
    parse_session,
    read_session,
)
from brandmon_workers.collector.state import SentState, StateError, StateStore, state_key
from brandmon_workers.contract.base import SecretKeyRef
from brandmon_workers.contract.messages import Media, Post, Profile, Provenance
from brandmon_workers.contract.settings import S3Settings, SourceSettings, WorkerSettings
from brandmon_workers.contract.sources import InstagramSource, ReplaySource, SourceResult
from brandmon_workers.contract.storage import S3Scope
from brandmon_workers.contract.topics import TopicNames, TopicRole
from tests.images import png

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

FIXTURES = Path(__file__).parent / "fixtures" / "instagram"
COLLECTED_AT = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
STAMP = provenance_stamp("main", clock=lambda: COLLECTED_AT)
TOPICS = TopicNames(namespace="ns", monitor="m")


RED, GREEN, BLUE = png((200, 0, 0)), png((0, 200, 0)), png((0, 0, 200))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32


@cache
def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def recorded(name: str) -> Any:
    """A fresh copy of a fixture (instaloader mutates the nodes it is given)."""
    return copy.deepcopy(fixture(name))


# --- fakes ------------------------------------------------------------------------------


class FakeBody(io.BytesIO):
    """botocore's StreamingBody, as far as the collector uses it."""

    def iter_lines(self) -> Iterator[bytes]:
        yield from self.read().splitlines()


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeS3:
    """An in-memory S3 with the calls the collector makes."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.puts: list[str] = []
        self.gets: list[str] = []

    def get_object(self, **request: Any) -> dict[str, Any]:
        self.gets.append(request["Key"])
        found = self.objects.get((request["Bucket"], request["Key"]))
        if found is None:
            raise client_error("NoSuchKey", "GetObject")
        return {"Body": FakeBody(found[0]), "ContentType": found[1]}

    def head_object(self, **request: Any) -> dict[str, Any]:
        found = self.objects.get((request["Bucket"], request["Key"]))
        if found is None:
            raise client_error("404", "HeadObject")
        return {"ContentType": found[1], "ContentLength": len(found[0])}

    def put_object(self, **request: Any) -> dict[str, Any]:
        body = request["Body"]
        self.objects[request["Bucket"], request["Key"]] = (
            body if isinstance(body, bytes) else body.read(),
            request.get("ContentType", "binary/octet-stream"),
        )
        self.puts.append(request["Key"])
        return {}

    def close(self) -> None:
        pass

    def client(self) -> S3Client:
        return cast("S3Client", self)

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(key for _, key in self.objects if key.startswith(prefix))


class FakeKafkaError:
    def __init__(self, text: str) -> None:
        self.text = text

    def str(self) -> str:
        return self.text


class FakeProducer:
    """A producer whose broker delivers (or refuses, per topic) on flush."""

    def __init__(
        self,
        topics: set[str] | None = None,
        refuse: set[str] | None = None,
        unreachable: bool = False,
    ) -> None:
        self.topics = set(TOPICS.all().values()) if topics is None else topics
        self.refuse = refuse or set()
        self.unreachable = unreachable
        self.delivered: list[tuple[str, str, bytes]] = []
        self.queue: list[tuple[str, bytes, bytes, Callable[..., None]]] = []
        self.buffer_errors = 0

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        if self.unreachable:
            # librdkafka's code for a refused connection
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Connection refused"))  # noqa: SLF001
        return SimpleNamespace(topics={t: SimpleNamespace(error=None) for t in self.topics})

    def produce(
        self, topic: str, value: bytes, key: bytes, on_delivery: Callable[..., None]
    ) -> None:
        if self.buffer_errors:
            self.buffer_errors -= 1
            raise BufferError("Local: Queue full")
        self.queue.append((topic, key, value, on_delivery))

    def poll(self, timeout: float = -1) -> int:
        return 0

    def flush(self, timeout: float = -1) -> int:
        for topic, key, value, on_delivery in self.queue:
            if topic in self.refuse:
                on_delivery(FakeKafkaError("Broker: Message size too large"), None)
            else:
                self.delivered.append((topic, key.decode(), value))
                on_delivery(None, None)
        self.queue.clear()
        return 0

    def close(self) -> bool:
        return True

    def producer(self) -> Producer:
        return cast("Producer", self)

    def on(self, role: TopicRole) -> list[tuple[str, bytes]]:
        return [(key, value) for topic, key, value in self.delivered if topic == TOPICS.of(role)]


def recorded_response(data: bytes, content_type: str = "image/jpeg") -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.headers["Content-Type"] = content_type
    response.raw = io.BytesIO(data)
    return response


class RecordedContext(instaloader.InstaloaderContext):
    """An InstaloaderContext that answers from recorded responses, never the network.

    `failures` queues exceptions per request ("page acme/", "web_info <code>", "tag acme",
    "image <url>") that are raised before the recorded answer is served.
    """

    def __init__(
        self,
        *,
        username: str | None = None,
        images: dict[str, bytes] | None = None,
        failures: dict[str, list[Exception]] | None = None,
    ) -> None:
        super().__init__(sleep=False, quiet=True)
        self.username = username
        self.images = images or {}
        self.failures = failures or {}
        self.requests: list[str] = []

    def _serve(self, request: str) -> None:
        self.requests.append(request)
        queued = self.failures.get(request)
        if queued:
            raise queued.pop(0)

    def get_page_data(self, path: str) -> list[dict[str, Any]]:
        self._serve(f"page {path}")
        pages = recorded("profile_page_acme.json")
        if path not in pages:
            raise instaloader.QueryReturnedNotFoundException(f"404 Not Found when accessing {path}")
        page: list[dict[str, Any]] = pages[path]
        return page

    def doc_id_graphql_query(
        self,
        doc_id: str,
        variables: dict[str, Any],
        referer: str | None = None,
        web_api: bool = False,
    ) -> dict[str, Any]:
        assert doc_id == "27128499623469141", f"unrecorded query {doc_id}"
        self._serve(f"web_info {variables['shortcode']}")
        answer: dict[str, Any] = recorded("media_web_info.json")[variables["shortcode"]]
        return answer

    def get_iphone_json(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        assert path == "api/v1/tags/web_info/", f"unrecorded request {path}"
        self._serve(f"tag {params['tag_name']}")
        answer: dict[str, Any] = recorded(f"tag_web_info_{params['tag_name']}.json")
        return answer

    def get_raw(self, url: str) -> requests.Response:
        self._serve(f"image {url}")
        return recorded_response(self.images[url])

    def get_json(
        self, path: str, params: dict[str, Any], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        raise AssertionError(f"unrecorded request {path}")

    def graphql_query(
        self, query_hash: str, variables: dict[str, Any], referer: str | None = None
    ) -> dict[str, Any]:
        raise AssertionError(f"unrecorded query {query_hash}")


def recorded_loader(context: RecordedContext) -> instaloader.Instaloader:
    loader = instaloader.Instaloader(quiet=True, sleep=False)
    with contextlib.closing(loader):  # its own context, replaced by the recorded one
        pass
    loader.context = context
    return loader


class Sleeps:
    """A fake sleep that records what it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def retrier(sleeps: Sleeps, **policy: Any) -> Retrier:
    return Retrier(BackoffPolicy(**policy), is_retryable, sleep=sleeps, jitter=lambda: 1.0)


SCOPE = S3Scope(home="s3://media/ns/")
DEMO_SCOPE = S3Scope(home="s3://demo/ns/")


def worker_settings(source: SourceSettings | None) -> WorkerSettings:
    return WorkerSettings(
        namespace="ns",
        monitor="m",
        brand="ACME",
        kafka_bootstrap_servers="kafka:9092",
        topics=TOPICS,
        s3=S3Settings(bucket="media"),
        source=source,
    )


# --- items ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (JPEG, "image/jpeg"),
        (RED, "image/png"),
        (b"GIF89a\x01\x00\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "image/heic"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "image/avif"),
        (b"<!DOCTYPE html><html>", None),
        (b"", None),
    ],
)
def test_image_type_is_read_from_the_bytes(data: bytes, content_type: str | None) -> None:
    assert sniff_image_type(data) == content_type


def test_an_error_page_is_not_an_image() -> None:
    with pytest.raises(NotAnImageError, match="21 bytes"):
        image_blob(b"<html>Rate limited</html>"[:21])


def test_media_key_is_content_addressed() -> None:
    blob = image_blob(RED)
    assert blob == ImageBlob(RED, hashlib.sha256(RED).hexdigest(), "image/png")
    assert media_key("ns", "m", blob) == f"ns/m/media/{hashlib.sha256(RED).hexdigest()}.png"


def test_s3_uris_split_into_bucket_and_key() -> None:
    assert parse_s3_uri("s3://demo/recordings/a.jsonl") == ("demo", "recordings/a.jsonl")
    for bad in ("https://demo/a", "s3://demo", "s3:///key"):
        with pytest.raises(ValueError, match="s3"):
            parse_s3_uri(bad)


def sample_post(post_id: str = "1", **fields: Any) -> Post:
    values: dict[str, Any] = {
        "post_id": post_id, "shortcode": f"C{post_id}", "username": "acme",
        "url": f"https://www.instagram.com/p/C{post_id}/", "caption": "hello #acme",
        "hashtags": ["acme"], "posted_at": datetime(2024, 5, 2, tzinfo=UTC), "provenance": STAMP(),
    } | fields  # fmt: skip
    return Post(**values)


def test_post_messages_carry_the_media_uris_in_order() -> None:
    images = [
        StoredImage("s3://b/ns/m/media/aa.png", "aa", "image/png", 10),
        StoredImage("s3://b/ns/m/media/bb.jpg", "bb", "image/jpeg", 20),
    ]
    post, media = post_messages(sample_post(), images)
    assert post.media_uris == ["s3://b/ns/m/media/aa.png", "s3://b/ns/m/media/bb.jpg"]
    assert [(m.index, m.sha256, m.content_type, m.size_bytes) for m in media] == [
        (0, "aa", "image/png", 10), (1, "bb", "image/jpeg", 20),
    ]  # fmt: skip
    assert all(m.post_id == "1" and m.provenance == post.provenance for m in media)


def test_profile_fingerprint_ignores_when_it_was_read() -> None:
    later = provenance_stamp("main", clock=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    fields: dict[str, Any] = {
        "username": "acme",
        "user_id": "1",
        "followers": 5,
        "following": 1,
        "post_count": 2,
    }
    first = Profile(**fields, provenance=STAMP())
    assert profile_fingerprint(first) == profile_fingerprint(Profile(**fields, provenance=later()))
    assert profile_fingerprint(first) != profile_fingerprint(
        first.model_copy(update={"followers": 6})
    )


def test_provenance_names_source_time_and_version() -> None:
    assert STAMP() == Provenance(
        source="main", collected_at=COLLECTED_AT, collector_version=COLLECTOR_VERSION
    )
    assert COLLECTOR_VERSION == "0.1.0"


def test_errors_are_described_on_one_bounded_line() -> None:
    assert describe_error(ValueError("bad\n  value")) == "ValueError: bad value"
    assert describe_error(KeyError()) == "KeyError"
    assert len(describe_error(RuntimeError("x" * 1000))) < 330


# --- backoff ----------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = BackoffPolicy(first_delay=5, factor=2, max_delay=30)
    assert [backoff_delay(policy, n, 1.0) for n in range(1, 6)] == [5, 10, 20, 30, 30]
    assert [backoff_delay(policy, n, 0.0) for n in range(1, 4)] == [2.5, 5, 10]


def test_retrier_retries_throttling_until_it_passes() -> None:
    sleeps = Sleeps()
    answers: list[Exception | str] = [
        instaloader.TooManyRequestsException("429 Too Many Requests"),
        instaloader.ConnectionException(
            '401 Unauthorized - "fail" status, message "Please wait a few minutes before you try again."'
        ),
        "ok",
    ]

    def action() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert retrier(sleeps).call("profile acme", action) == "ok"
    assert sleeps.calls == [5.0, 10.0]


def test_retrier_gives_up_after_its_attempts() -> None:
    sleeps = Sleeps()

    def throttled() -> None:
        raise instaloader.TooManyRequestsException("429 Too Many Requests")

    with pytest.raises(instaloader.TooManyRequestsException):
        retrier(sleeps, max_attempts=3).call("profile acme", throttled)
    assert sleeps.calls == [5.0, 10.0]


def test_retrier_does_not_retry_what_cannot_pass() -> None:
    sleeps = Sleeps()

    def missing() -> None:
        raise instaloader.ProfileNotExistsException("Profile ghost does not exist.")

    with pytest.raises(instaloader.ProfileNotExistsException):
        retrier(sleeps).call("profile ghost", missing)
    assert sleeps.calls == []


def test_all_waits_of_a_run_share_one_budget() -> None:
    sleeps = Sleeps()
    shared = retrier(sleeps, first_delay=100, max_delay=1000, max_attempts=10, budget=600)

    def throttled() -> None:
        raise instaloader.TooManyRequestsException("429 Too Many Requests")

    with pytest.raises(BackoffExhaustedError, match="budget") as raised:
        shared.call("profile acme", throttled)
    assert isinstance(raised.value.__cause__, instaloader.TooManyRequestsException)
    assert sleeps.calls == [100, 200]
    assert shared.remaining == 300
    with pytest.raises(BackoffExhaustedError):
        shared.wait(301, "pacing")
    shared.wait(300, "pacing")
    assert sum(sleeps.calls) == 600


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (instaloader.TooManyRequestsException("429 Too Many Requests"), True),
        (
            instaloader.ConnectionException(
                'JSON Query to api/graphql: 401 Unauthorized - "fail" status, message "Please wait a few minutes before you try again." when accessing https://www.instagram.com/api/graphql'
            ),
            True,
        ),
        (
            instaloader.QueryReturnedBadRequestException(
                '400 Bad Request - "fail" status, message "Please wait a few minutes before you try again."'
            ),
            True,
        ),
        (
            instaloader.ConnectionException(
                "JSON Query to graphql/query: 500 Internal Server Error"
            ),
            True,
        ),
        (
            instaloader.ConnectionException(
                "401 Unauthorized when accessing https://i.instagram.com/api/v1/tags/web_info/"
            ),
            False,
        ),
        (instaloader.QueryReturnedBadRequestException("400 Bad Request"), False),
        (instaloader.QueryReturnedNotFoundException("404 Not Found"), False),
        (instaloader.ProfileNotExistsException("Profile ghost does not exist."), False),
        (instaloader.LoginRequiredException("Redirected to login page."), False),
        (
            instaloader.PrivateProfileNotFollowedException(
                "Profile x is private but not followed."
            ),
            False,
        ),
        (instaloader.AbortDownloadException("checkpoint_required"), False),
        (BackoffExhaustedError("budget spent"), False),
        (ConnectionResetError(104, "Connection reset by peer"), True),
        (requests.exceptions.ReadTimeout("read timed out"), True),
        (KeyError("edge_followed_by"), False),
    ],
)
def test_what_is_worth_retrying(error: Exception, retryable: bool) -> None:
    assert is_retryable(error) is retryable


# --- instaloader structures -------------------------------------------------------------


@pytest.fixture
def offline() -> Iterator[RecordedContext]:
    """A context with nothing recorded: any request fails the test."""
    with contextlib.closing(RecordedContext()) as context:
        yield context


def test_profile_message_from_a_recorded_profile_node(offline: RecordedContext) -> None:
    profile = instaloader.Profile(offline, recorded("graphql_nodes.json")["profile"])

    assert profile_message(profile, STAMP) == Profile(
        username="acme", user_id="1784140001", full_name="ACME Corp",
        biography="Official ACME account ✨ Tag us: #acme", external_url="https://acme.example/",
        followers=15230, following=120, post_count=342, is_verified=True, is_private=False,
        provenance=STAMP(),
    )  # fmt: skip
    assert offline.requests == []


def test_hidden_counts_become_zero(offline: RecordedContext) -> None:
    profile = instaloader.Profile(offline, recorded("graphql_nodes.json")["hidden_counts_profile"])

    message = profile_message(profile, STAMP)

    assert (message.username, message.following, message.post_count) == ("quiet.shop", 0, 0)
    assert (message.external_url, message.is_private) == (None, True)


def recorded_posts(context: RecordedContext) -> list[Any]:
    return [instaloader.Post(context, node) for node in recorded("graphql_nodes.json")["posts"]]


def test_post_message_from_a_recorded_image_node(offline: RecordedContext) -> None:
    image = recorded_posts(offline)[0]

    assert post_message(image, STAMP) == Post(
        post_id="3360381295023140101", shortcode="C6Zz1aBcD3e", username="acme",
        url="https://www.instagram.com/p/C6Zz1aBcD3e/",
        caption="Our new store is open! #ACME #NewStore thanks @City.Mall",
        hashtags=["acme", "newstore"], mentions=["city.mall"],
        posted_at=datetime(2024, 5, 3, 10, 3, tzinfo=UTC), likes=300, comments=12,
        provenance=STAMP(),
    )  # fmt: skip
    assert image_urls(image) == [
        "https://scontent.cdninstagram.com/v/t51.29350-15/legacy_1080.jpg?_nc_ht=scontent.cdninstagram.com&oh=00_AfC1&oe=6640C000"
    ]
    assert offline.requests == []


def test_every_image_of_a_sidecar_and_a_videos_thumbnail(offline: RecordedContext) -> None:
    _, sidecar, video = recorded_posts(offline)

    assert image_urls(sidecar) == [
        "https://scontent.cdninstagram.com/v/t51.29350-15/carousel_1.jpg?oh=00_AfD1&oe=6640D000",
        "https://scontent.cdninstagram.com/v/t51.29350-15/carousel_2_thumb.jpg?oh=00_AfD2&oe=6640D000",
    ]
    assert image_urls(video) == [
        "https://scontent.cdninstagram.com/v/t51.29350-15/reel_thumb.jpg?oh=00_AfE1&oe=6640E000"
    ]
    assert (post_message(sidecar, STAMP).caption, post_message(sidecar, STAMP).hashtags) == ("", [])
    assert post_message(video, STAMP).likes == 0, "Instagram reports hidden likes as -1"
    assert offline.requests == []


def test_mobile_api_posts_need_no_extra_request_for_their_comment_count(
    offline: RecordedContext,
) -> None:
    media = recorded("tag_web_info_acme.json")["data"]["recent"]["sections"][0]["layout_content"][
        "medias"
    ][0]["media"]
    post = instaloader.Post.from_iphone_struct(offline, media)

    message = post_message(post, STAMP)

    assert (message.username, message.comments, message.likes) == ("angry.customer", 2, 9)
    assert (message.hashtags, message.mentions) == (["acme", "fail"], ["acme"])
    assert offline.requests == []


# --- the instaloader client and the source, on recorded responses ---------------------

IMAGE_URLS = {
    "https://scontent.cdninstagram.com/v/t51.29350-15/drop_1080.jpg?stp=dst-jpg_e35&oh=00_AfA1&oe=6640A1B2": RED,
    "https://scontent.cdninstagram.com/v/t51.29350-15/look_1.jpg?oh=00_AfA4&oe=6640A1B2": GREEN,
    "https://scontent.cdninstagram.com/v/t51.29350-15/look_2_thumb.jpg?oh=00_AfA5&oe=6640A1B2": BLUE,
    # The same picture posted twice: stored once.
    "https://scontent.cdninstagram.com/v/t51.29350-15/plain.jpg?oh=00_AfA7&oe=6640A1B2": RED,
    "https://scontent.cdninstagram.com/v/t51.29350-15/late_parcel.jpg?oh=00_AfF2&oe=6640F000": JPEG,
}


@pytest.fixture
def anonymous() -> Iterator[RecordedContext]:
    with contextlib.closing(RecordedContext(images=IMAGE_URLS)) as context:
        yield context


@pytest.fixture
def logged_in() -> Iterator[RecordedContext]:
    with contextlib.closing(RecordedContext(username="brandmon_bot", images=IMAGE_URLS)) as context:
        yield context


def test_client_reads_a_profile_and_its_newest_posts(anonymous: RecordedContext) -> None:
    client = InstaloaderClient(recorded_loader(anonymous))

    profile = client.profile("acme")
    posts = client.profile_posts(profile, limit=2)

    assert profile_message(profile, STAMP).followers == 15230
    assert [post.shortcode for post in posts] == ["C6Yk3xSrQ2b", "C6Wq9mLrP7d"]
    assert anonymous.requests == [
        "page acme/",
        "page acme/",
        "web_info C6Yk3xSrQ2b",
        "web_info C6Wq9mLrP7d",
    ]
    first, carousel = (post_message(post, STAMP) for post in posts)
    assert (first.caption, first.hashtags, first.mentions) == (
        "Spring drop is here! 🌸 #ACME #SpringDrop with @Partner.Studio", ["acme", "springdrop"], ["partner.studio"],
    )  # fmt: skip
    assert (first.likes, first.comments, first.posted_at) == (
        1204,
        87,
        datetime(2024, 5, 2, 10, 3, tzinfo=UTC),
    )
    assert (carousel.post_id, carousel.username) == ("3360381295023140002", "acme")
    assert len(image_urls(posts[1])) == 2


def test_client_downloads_images_as_bytes(anonymous: RecordedContext) -> None:
    client = InstaloaderClient(recorded_loader(anonymous))
    url = next(iter(IMAGE_URLS))
    assert client.download(url) == RED


def test_hashtags_need_a_session(anonymous: RecordedContext, logged_in: RecordedContext) -> None:
    with pytest.raises(instaloader.LoginRequiredException, match="#acme needs a logged-in session"):
        InstaloaderClient(recorded_loader(anonymous)).hashtag_posts("acme", 10)

    posts = InstaloaderClient(recorded_loader(logged_in)).hashtag_posts("acme", 10)

    assert [post_message(p, STAMP).username for p in posts] == ["angry.customer", "acme"]
    assert image_urls(posts[0]) == [
        "https://scontent.cdninstagram.com/v/t51.29350-15/late_parcel.jpg?oh=00_AfF2&oe=6640F000"
    ]
    assert logged_in.requests == ["tag acme"]


def reader(context: RecordedContext, sleeps: Sleeps, **config: Any) -> InstagramReader:
    return InstagramReader(
        InstagramSource(**config),
        InstaloaderClient(recorded_loader(context)),
        retrier(sleeps),
        STAMP,
    )


def test_source_yields_the_profile_then_its_posts_and_downloads_nothing_yet(
    anonymous: RecordedContext,
) -> None:
    items = list(reader(anonymous, Sleeps(), profiles=["acme"]).items())

    assert [type(item) for item in items] == [ProfileItem, PostItem, PostItem, PostItem]
    posts = [item for item in items if isinstance(item, PostItem)]
    assert [len(post.images) for post in posts] == [1, 2, 1]
    assert not any(request.startswith("image") for request in anonymous.requests)
    assert posts[1].images[1].load() == BLUE
    assert "oe=" not in posts[1].images[1].ref, "signed URLs stay out of logs"


def test_throttling_is_retried_with_backoff(anonymous: RecordedContext) -> None:
    anonymous.failures["page acme/"] = [
        instaloader.TooManyRequestsException("429 Too Many Requests"),
        instaloader.ConnectionException(
            '401 Unauthorized - "fail" status, message "Please wait a few minutes before you try again."'
        ),
    ]
    sleeps = Sleeps()

    items = list(reader(anonymous, sleeps, profiles=["acme"], max_posts_per_profile=1).items())

    assert [type(item) for item in items] == [ProfileItem, PostItem]
    assert sleeps.calls == [5.0, 10.0]


def test_a_failing_profile_is_one_error_and_the_next_is_read(logged_in: RecordedContext) -> None:
    logged_in.failures["page acme/"] = [instaloader.TooManyRequestsException("429")] * 4
    sleeps = Sleeps()

    items = list(reader(logged_in, sleeps, profiles=["ghost", "acme"], hashtags=["acme"]).items())

    errors = [item for item in items if isinstance(item, ItemError)]
    assert [(e.subject, e.error.split(":")[0]) for e in errors] == [
        ("profile ghost", "ProfileNotExistsException"),
        ("profile acme", "TooManyRequestsException"),
    ]
    assert sleeps.calls == [5.0, 10.0, 20.0], "ghost does not exist: no retry; acme: 4 attempts"
    assert [item.post.username for item in items if isinstance(item, PostItem)] == [
        "angry.customer",
        "acme",
    ]


def test_a_failing_download_is_retried_then_raised(anonymous: RecordedContext) -> None:
    url = next(iter(IMAGE_URLS))
    anonymous.failures[f"image {url}"] = [ConnectionResetError(104, "reset")] * 4
    sleeps = Sleeps()
    post = next(
        i for i in reader(anonymous, sleeps, profiles=["acme"]).items() if isinstance(i, PostItem)
    )

    with pytest.raises(ConnectionResetError):
        post.images[0].load()
    assert len(sleeps.calls) == 3


def test_rate_controller_backs_off_exponentially_within_the_budget(
    offline: RecordedContext,
) -> None:
    sleeps = Sleeps()
    now = [1000.0]
    controller = BoundedRateController(
        offline, retrier(sleeps, budget=100), clock=lambda: now[0], window=600
    )

    controller.handle_429("other")
    controller.handle_429("other")
    now[0] += 601  # the earlier 429s left the window
    controller.handle_429("other")
    assert sleeps.calls == [5.0, 10.0, 5.0]

    controller.wait_before_query("other")  # nothing to pace yet
    with pytest.raises(BackoffExhaustedError):
        controller.sleep(81)
    assert sum(sleeps.calls) == 20.0


def test_instaloader_messages_become_log_records(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with contextlib.closing(new_instaloader(retrier(Sleeps()))) as loader:
        message = "JSON Query to api/graphql: 429 Too Many Requests [retrying]"
        loader.context.error(message)  # type: ignore[no-untyped-call]  # instaloader's own call
    assert capsys.readouterr().err == ""
    assert "instaloader: JSON Query to api/graphql: 429" in caplog.text


# --- sessions ---------------------------------------------------------------------------

COOKIES = {
    "sessionid": "1784%3Asecret-session-value",
    "csrftoken": "csrf-secret",
    "ds_user_id": "1784",
}


def test_json_session_with_username() -> None:
    session = parse_session(json.dumps({"username": "brandmon_bot", "session": COOKIES}).encode())
    assert session == InstagramSession("brandmon_bot", COOKIES)
    assert "secret" not in repr(session)


def test_instaloader_session_file_is_read_without_running_code() -> None:
    assert parse_session(pickle.dumps(COOKIES)) == InstagramSession(None, COOKIES)


class Payload:
    def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
        return (print, ("code ran",))


@pytest.mark.parametrize("crafted", [pickle.dumps(Payload()), pickle.dumps(OrderedDict(COOKIES))])
def test_a_pickle_referencing_code_is_refused(
    crafted: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SessionError, match="references code"):
        parse_session(crafted)
    assert "code ran" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            json.dumps({"username": "bot", "session": {"sessionid": "secret-value"}}).encode(),
            "lacks the cookies csrftoken",
        ),
        (json.dumps({"user": "bot"}).encode(), "JSON session file is"),
        (json.dumps({"session": ["secret-value"]}).encode(), "dict of cookie names"),
        (b"{not json secret-value", "not valid JSON"),
        (b"\x00\x01 secret-value", "neither JSON nor an instaloader session file"),
    ],
)
def test_unusable_sessions_are_explained_without_their_content(data: bytes, problem: str) -> None:
    with pytest.raises(SessionError, match=problem) as raised:
        parse_session(data)
    assert "secret-value" not in str(raised.value)


def test_a_missing_session_file(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="cannot read the session file"):
        read_session(tmp_path / "session")


def test_a_session_logs_the_loader_in(
    offline: RecordedContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader = recorded_loader(offline)

    assert apply_session(loader, InstagramSession("brandmon_bot", COOKIES)) == "brandmon_bot"
    assert loader.context.is_logged_in
    assert loader.save_session() == COOKIES

    monkeypatch.setattr(loader, "test_login", lambda: "owner_of_session")
    assert apply_session(loader, InstagramSession(None, COOKIES)) == "owner_of_session"
    assert loader.context.username == "owner_of_session"

    monkeypatch.setattr(loader, "test_login", lambda: None)
    with pytest.raises(SessionError, match="does not accept the session"):
        apply_session(loader, InstagramSession(None, COOKIES))


def test_an_unusable_session_is_an_error_and_profiles_are_read_anonymously(
    anonymous: RecordedContext, tmp_path: Path
) -> None:
    (tmp_path / "session").write_text('{"username": "bot", "session": {"sessionid": "x"}}')
    config = InstagramSource(
        profiles=["acme"], session_secret_ref=SecretKeyRef(name="ig", key="session")
    )

    items = list(
        instagram_items(
            config,
            recorded_loader(anonymous),
            retrier(Sleeps()),
            STAMP,
            session_path=tmp_path / "session",
        )
    )

    assert items[0] == ItemError("instagram session", "the session lacks the cookies csrftoken")
    assert isinstance(items[1], ProfileItem)
    assert not anonymous.is_logged_in


# --- replay -----------------------------------------------------------------------------

PROFILE_LINE = {
    "profile": {"username": "acme", "user_id": "1", "followers": 5, "following": 1, "post_count": 2}
}


def post_line(post_id: str, images: list[str], **fields: Any) -> dict[str, Any]:
    post = {
        "post_id": post_id, "shortcode": f"C{post_id}", "username": "acme",
        "url": f"https://www.instagram.com/p/C{post_id}/", "caption": "hi #acme",
        "hashtags": ["acme"], "posted_at": "2024-05-02T10:00:00Z",
    } | fields  # fmt: skip
    return {"post": post, "images": images}


def test_a_profile_line_is_a_profile_stamped_by_the_collector() -> None:
    profile = parse_line(json.dumps(PROFILE_LINE), STAMP)
    assert profile == Profile(
        username="acme", user_id="1", followers=5, following=1, post_count=2, provenance=STAMP()
    )


def test_a_post_line_is_a_post_and_its_image_references() -> None:
    line = post_line(
        "7",
        ["images/a.png", "s3://demo/b.jpg", "data:image/png;base64,iVBO"],
        posted_at="2024-05-02T10:00:00",
    )

    record = parse_line(json.dumps(line), STAMP)

    assert isinstance(record, RecordedPost)
    assert record.post == sample_post(
        "7", caption="hi #acme", posted_at=datetime(2024, 5, 2, 10, tzinfo=UTC)
    )
    assert [(ref.kind, ref.value) for ref in record.images] == [
        ("path", "images/a.png"), ("s3", "s3://demo/b.jpg"), ("inline", "iVBO"),
    ]  # fmt: skip
    assert record.images[2].describe(2) == "image 2 (inline)"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ({"profile": {**PROFILE_LINE["profile"], "provenance": {}}}, "must not set provenance"),
        (post_line("1", [], media_uris=["s3://x/y"]), "must not set media_uris"),
        (post_line("1", [], schema_version=1), "must not set schema_version"),
        ({"post": {}, "extra": 1}, "not keys"),
        ({"profile": "acme"}, "must be an object"),
        ({**post_line("1", []), "images": "a.png"}, "must be a list"),
        (post_line("1", [], likes=-1), "greater than or equal to 0"),
        ([1, 2], "a line is a JSON object"),
    ],
)
def test_invalid_lines_are_refused(line: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_line(json.dumps(line), STAMP)


@pytest.mark.parametrize(
    "reference",
    [
        "/etc/passwd",
        "../other/a.png",
        "images/../../a.png",
        "https://cdn/a.png",
        "",
        7,
        "data:image/png,raw",
    ],
)
def test_image_references_stay_inside_the_recording(reference: object) -> None:
    with pytest.raises(ReplayFormatError):
        parse_image_ref(reference)


def write_recording(folder: Path, lines: list[object | str]) -> Path:
    (folder / "images").mkdir(exist_ok=True)
    (folder / "images" / "red.png").write_bytes(RED)
    path = folder / "posts.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def test_a_bad_line_is_an_error_and_the_replay_goes_on(tmp_path: Path) -> None:
    inline = "data:image/png;base64," + base64.b64encode(GREEN).decode()
    path = write_recording(
        tmp_path,
        [
            PROFILE_LINE,
            "",
            "{not json",
            post_line("1", ["images/red.png", inline]),
            post_line("2", ["s3://demo/ns/blue.png"]),
        ],
    )
    s3 = FakeS3()
    s3.put_object(Bucket="demo", Key="ns/blue.png", Body=BLUE)

    items = list(replay_items(FileRecording(path, s3.client(), scope=DEMO_SCOPE), STAMP))

    assert [type(item) for item in items] == [ProfileItem, ItemError, PostItem, PostItem]
    assert isinstance(items[1], ItemError)
    assert items[1].subject == "recording line 3"
    first, second = cast("list[PostItem]", items[2:])
    assert [image.load() for image in first.images] == [RED, GREEN]
    assert [image.load() for image in second.images] == [BLUE]


def test_relative_images_of_an_s3_recording_are_next_to_it() -> None:
    s3 = FakeS3()
    s3.put_object(Bucket="demo", Key="ns/rec/acme/images/red.png", Body=RED)
    s3.put_object(
        Bucket="demo",
        Key="ns/rec/acme/posts.jsonl",
        Body=json.dumps(post_line("1", ["images/red.png"])).encode(),
    )

    recording = S3Recording("s3://demo/ns/rec/acme/posts.jsonl", s3.client(), scope=DEMO_SCOPE)
    (item,) = replay_items(recording, STAMP)

    assert isinstance(item, PostItem)
    assert item.images[0].load() == RED


def test_invalid_records_name_the_fields_at_fault(tmp_path: Path) -> None:
    path = write_recording(tmp_path, [post_line("1", [], likes="many", posted_at="yesterday")])

    (error,) = replay_items(FileRecording(path, FakeS3().client(), scope=SCOPE), STAMP)

    assert isinstance(error, ItemError)
    assert error.error.startswith("invalid record: ")
    assert "likes:" in error.error
    assert "posted_at:" in error.error


# --- state ------------------------------------------------------------------------------


def test_state_round_trips_and_keeps_the_newest_posts() -> None:
    state = SentState(max_posts=3)
    state.add_posts(["1", "2", "3"])
    state.add_posts(["1"])  # sent again: now the newest
    state.add_posts(["4"])
    state.add_profile("acme", "digest")

    assert [state.has_post(p) for p in "1234"] == [True, False, True, True]
    assert state.changed
    restored = SentState.from_json(state.to_json())
    assert [restored.has_post(p) for p in "1234"] == [True, False, True, True]
    assert restored.profile_is_current("acme", "digest")
    assert not restored.profile_is_current("acme", "other")
    assert not restored.changed


def test_state_that_is_not_a_state_is_refused() -> None:
    with pytest.raises(StateError):
        SentState.from_json(b'{"version": 2, "posts": []}')
    with pytest.raises(StateError):
        SentState.from_json(b"garbage")


def test_state_store_starts_empty_and_keeps_what_it_saves() -> None:
    s3 = FakeS3()
    store = StateStore(s3.client(), "media", state_key("ns", "m", "main"), scope=SCOPE)
    state = store.load()
    assert state.post_count == 0

    state.add_posts(["1"])
    store.save(state)

    assert s3.keys() == ["ns/m/collector/main/state.json"]
    assert not state.changed
    assert store.load().has_post("1")


# --- delivery ---------------------------------------------------------------------------


def test_a_group_is_delivered_when_every_message_is_acknowledged() -> None:
    tracker = DeliveryTracker()
    for group, count in (("post 1", 2), ("post 2", 2), ("post 3", 1), ("post 4", 1)):
        tracker.expect(group, count)
    tracker.report("post 1", None)
    tracker.report("post 1", None)
    tracker.report("post 2", None)
    tracker.report("post 2", "Broker: Message size too large")
    tracker.fail("post 4", "produce refused")
    tracker.report("post 4", None)

    settled = tracker.settle()

    assert settled.delivered == ["post 1"]
    assert settled.failed == {
        "post 2": "Broker: Message size too large", "post 3": NO_REPORT, "post 4": "produce refused",
    }  # fmt: skip
    assert tracker.settle().delivered == []


def test_sink_waits_for_a_full_local_queue_once() -> None:
    producer = FakeProducer()
    producer.buffer_errors = 1
    sink = KafkaSink(producer.producer())

    sink.send("post 1", [Outgoing("t", "1", "a")])

    assert sink.flush().delivered == ["post 1"]
    producer.buffer_errors = 2
    sink.send("post 2", [Outgoing("t", "2", "b")])
    assert sink.flush().failed == {"post 2": "produce refused: Local: Queue full"}


def test_missing_topics_and_unreachable_kafka_fail_fast() -> None:
    check_topics(FakeProducer().producer(), list(TOPICS.all().values()))
    with pytest.raises(KafkaUnavailableError, match=r"topics missing: brandmon\.ns\.m\.posts"):
        check_topics(
            FakeProducer(topics={TOPICS.of(TopicRole.MEDIA)}).producer(),
            [TOPICS.of(TopicRole.POSTS)],
        )
    with pytest.raises(KafkaUnavailableError, match="unreachable"):
        check_topics(FakeProducer(unreachable=True).producer(), [])


def test_a_broker_that_is_down_is_logged_once_a_minute() -> None:
    now = [0.0]
    repeats = RepeatFilter(window=60, clock=lambda: now[0])

    def passes(message: str) -> bool:
        return repeats.filter(
            logging.LogRecord("kafka", logging.ERROR, __file__, 1, message, None, None)
        )

    refused = "FAIL [rdkafka#producer-1]: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after {}ms in state CONNECT)"
    assert passes(refused.format(0))
    assert not passes(refused.format(1))
    assert passes("FAIL [rdkafka#producer-1]: 127.0.0.1:1/bootstrap: Disconnected")
    now[0] = 61
    assert passes(refused.format(3))


def test_media_store_uploads_each_image_once() -> None:
    s3 = FakeS3()
    store = MediaStore(s3.client(), "media", "ns", "m", scope=SCOPE)
    first = store.store(RED)
    again = MediaStore(s3.client(), "media", "ns", "m", scope=SCOPE).store(RED)

    assert first == again
    assert first.s3_uri == f"s3://media/ns/m/media/{hashlib.sha256(RED).hexdigest()}.png"
    assert len(s3.puts) == 1
    assert s3.head_object(Bucket="media", Key=s3.puts[0])["ContentType"] == "image/png"


# --- the run ----------------------------------------------------------------------------


def replay_settings(path: Path, per_second: float = 0.0) -> WorkerSettings:
    return worker_settings(
        SourceSettings(
            name="main", replay=ReplaySource(path=str(path), posts_per_second=per_second)
        )
    )


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    return write_recording(
        tmp_path,
        [
            PROFILE_LINE,
            post_line("1", ["images/red.png"]),
            post_line("2", ["images/red.png", "s3://media/ns/shared/blue.png"]),
        ],
    )


@pytest.fixture
def s3() -> FakeS3:
    store = FakeS3()
    store.put_object(Bucket="media", Key="ns/shared/blue.png", Body=BLUE)
    return store


def test_a_replay_run_sends_everything_once(recording: Path, s3: FakeS3, tmp_path: Path) -> None:
    producer = FakeProducer()

    report = run(
        replay_settings(recording),
        producer=producer.producer(),
        s3=s3.client(),
        termination_log=tmp_path / "t",
    )

    assert (report.posts_new, report.posts_seen, report.errors) == (2, 0, 0)
    assert report.succeeded
    assert SourceResult.model_validate_json((tmp_path / "t").read_text()) == SourceResult(
        posts_new=2, posts_seen=0, errors=0, message=report.message
    )
    assert (
        report.message == "source main: 2 new posts, 0 already sent, 1 profiles updated, 0 errors"
    )
    assert [key for key, _ in producer.on(TopicRole.PROFILES)] == ["acme"]
    posts = {key: Post.model_validate_json(value) for key, value in producer.on(TopicRole.POSTS)}
    media = [Media.model_validate_json(value) for _, value in producer.on(TopicRole.MEDIA)]
    red, blue = (f"s3://media/ns/m/media/{hashlib.sha256(i).hexdigest()}.png" for i in (RED, BLUE))
    assert posts["2"].media_uris == [red, blue]
    # The author's reach comes from the profile the run read (for the alert's severity).
    assert {post.author_followers for post in posts.values()} == {5}
    assert {post.platform for post in posts.values()} == {"instagram"}
    assert [(m.post_id, m.index, m.s3_uri) for m in media] == [
        ("1", 0, red),
        ("2", 0, red),
        ("2", 1, blue),
    ]
    assert s3.keys("ns/m/media/") == sorted(uri.removeprefix("s3://media/") for uri in (red, blue))
    assert {posts["1"].provenance.source, posts["1"].provenance.collector_version} == {
        "main",
        COLLECTOR_VERSION,
    }

    again = FakeProducer()
    second = run(
        replay_settings(recording),
        producer=again.producer(),
        s3=s3.client(),
        termination_log=tmp_path / "t",
    )

    assert (second.posts_new, second.posts_seen, second.errors) == (0, 2, 0)
    assert second.succeeded
    assert again.delivered == [], "no post, medium or unchanged profile is sent twice"


def test_a_refused_post_is_not_recorded_and_sent_by_the_next_run(
    recording: Path, s3: FakeS3, tmp_path: Path
) -> None:
    refusing = FakeProducer(refuse={TOPICS.of(TopicRole.POSTS)})

    failed = run(
        replay_settings(recording),
        producer=refusing.producer(),
        s3=s3.client(),
        termination_log=tmp_path / "t",
    )

    assert (failed.posts_new, failed.errors) == (0, 2)
    assert not failed.succeeded
    assert "delivery of post 1: Broker: Message size too large" in failed.message
    state = StateStore(s3.client(), "media", state_key("ns", "m", "main"), scope=SCOPE).load()
    assert state.post_count == 0

    retried = run(
        replay_settings(recording),
        producer=FakeProducer().producer(),
        s3=s3.client(),
        termination_log=tmp_path / "t",
    )
    assert (retried.posts_new, retried.posts_seen, retried.errors) == (2, 0, 0)


def test_when_kafka_takes_nothing_the_run_stops(tmp_path: Path, s3: FakeS3) -> None:
    path = write_recording(tmp_path, [post_line(str(n), []) for n in range(150)])
    refusing = FakeProducer(refuse={TOPICS.of(TopicRole.POSTS)})

    report = run(
        replay_settings(path),
        producer=refusing.producer(),
        s3=s3.client(),
        termination_log=tmp_path / "t",
    )

    assert report.aborted
    assert report.errors == 101, "the first batch of 100, then the stop"
    assert "Kafka acknowledged none of 100" in report.message


def test_an_image_that_cannot_be_read_holds_its_post_back(tmp_path: Path, s3: FakeS3) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "page.png").write_bytes(b"<html>not found</html>")
    path = write_recording(
        tmp_path,
        [
            post_line("1", ["images/page.png"]),
            post_line("2", ["images/missing.png"]),
            post_line("3", []),
        ],
    )

    report = run(
        replay_settings(path),
        producer=FakeProducer().producer(),
        s3=s3.client(),
        termination_log=tmp_path / "t",
    )

    assert (report.posts_new, report.errors) == (1, 2)
    assert report.succeeded, "some posts got through"
    assert "post 1 image 0 (images/page.png): NotAnImageError" in report.message
    assert "post 2 image 0 (images/missing.png): FileNotFoundError" in report.message


def test_an_instagram_run_on_recorded_responses(tmp_path: Path) -> None:
    s3 = FakeS3()
    producer = FakeProducer()
    context = RecordedContext(images=IMAGE_URLS)
    settings = worker_settings(
        SourceSettings(
            name="ig", instagram=InstagramSource(profiles=["acme"], max_posts_per_profile=3)
        )
    )

    report = run(
        settings, producer=producer.producer(), s3=s3.client(),
        instaloader_factory=lambda: recorded_loader(context), termination_log=tmp_path / "t",
    )  # fmt: skip

    assert (report.posts_new, report.posts_seen, report.errors) == (3, 0, 0), report.message
    posts = [Post.model_validate_json(value) for _, value in producer.on(TopicRole.POSTS)]
    assert [post.shortcode for post in posts] == ["C6Yk3xSrQ2b", "C6Wq9mLrP7d", "C6Vb2nKsT1a"]
    assert [len(post.media_uris) for post in posts] == [1, 2, 1]
    assert posts[0].media_uris == posts[2].media_uris, "the same picture is one object"
    assert len(s3.keys("ns/m/media/")) == 3
    assert len(producer.on(TopicRole.MEDIA)) == 4
    assert (
        Profile.model_validate_json(producer.on(TopicRole.PROFILES)[0][1]).provenance.source == "ig"
    )
    assert context.requests.count("page acme/") == 2


def test_a_run_without_a_source_fails_and_says_why(tmp_path: Path) -> None:
    report = run(
        worker_settings(None),
        producer=FakeProducer().producer(),
        s3=FakeS3().client(),
        termination_log=tmp_path / "t",
    )

    assert (report.errors, report.aborted, report.succeeded) == (1, True, False)
    assert "no source configured" in json.loads((tmp_path / "t").read_text())["message"]


def test_missing_topics_fail_the_run_before_the_source_is_read(
    recording: Path, s3: FakeS3, tmp_path: Path
) -> None:
    report = run(
        replay_settings(recording),
        producer=FakeProducer(topics=set()).producer(),
        s3=s3.client(),
        termination_log=tmp_path / "t",
    )

    assert not report.succeeded
    assert "Kafka topics missing" in report.message
    assert s3.keys("ns/m/") == []


def test_the_run_is_logged_as_one_structured_line(
    recording: Path, s3: FakeS3, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    run(
        replay_settings(recording),
        producer=FakeProducer().producer(),
        s3=s3.client(),
        termination_log=tmp_path / "t",
    )

    (record,) = [r for r in caplog.records if r.getMessage() == "collector run finished"]
    fields = record.__dict__["fields"]
    assert {k: fields[k] for k in ("source", "postsNew", "postsSeen", "errors", "succeeded")} == {
        "source": "main", "postsNew": 2, "postsSeen": 0, "errors": 0, "succeeded": True,
    }  # fmt: skip
    assert "aborted" not in fields


def test_replay_is_paced() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    pacer = Pacer(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait()
    now[0] += 1.0  # slower than the pace: no wait
    pacer.wait()
    assert sleeps == [0.25, 0.25]
    Pacer(0).wait()


def test_report_is_the_operators_source_result() -> None:
    report = RunReport(posts_new=1, posts_seen=2, errors=3, message="m", aborted=True)
    assert json.loads(report.model_dump_json(by_alias=True)) == {
        "postsNew": 1,
        "postsSeen": 2,
        "errors": 3,
        "message": "m",
    }


@pytest.mark.parametrize(
    ("report", "succeeded"),
    [
        (RunReport(), True),
        (RunReport(posts_new=0, posts_seen=4, errors=2), True),
        (RunReport(posts_new=0, posts_seen=0, errors=1), False),
        (RunReport(posts_new=5, aborted=True, errors=1), False),
    ],
)
def test_when_a_run_counts_as_failed(report: RunReport, succeeded: bool) -> None:
    assert report.succeeded is succeeded


def test_the_summary_fits_a_termination_message() -> None:
    tally = Tally("main")
    for n in range(20):
        tally.error(f"post {n}", "é" * 2000)
    tally.abort("KafkaUnavailableError: Kafka is unreachable")

    report = tally.report()

    assert report.message.startswith(
        "source main: 0 new posts, 0 already sent, 0 profiles updated, 21 errors - "
        "aborted: run: KafkaUnavailableError: Kafka is unreachable; post 0: éé"
    )
    assert len(report.message.encode()) <= 3000
    assert len(report.model_dump_json(by_alias=True).encode()) < 4096


def test_main_reports_invalid_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("brandmon_workers.logs.setup", lambda: None)
    monkeypatch.setenv("BRANDMON_TERMINATION_LOG", str(tmp_path / "t"))
    monkeypatch.setenv("BRANDMON_NAMESPACE", "ns")

    assert main() == 1

    result = SourceResult.model_validate_json((tmp_path / "t").read_text())
    assert result.errors == 1
    assert result.message.startswith("invalid settings: monitor: Field required")


def test_main_exit_code_follows_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recording: Path
) -> None:
    monkeypatch.setattr("brandmon_workers.logs.setup", lambda: None)
    monkeypatch.setenv("BRANDMON_TERMINATION_LOG", str(tmp_path / "t"))
    for name, value in replay_settings(recording).to_env().items():
        monkeypatch.setenv(name, value)
    reports = iter([RunReport(posts_new=1), RunReport(errors=1)])
    seen: list[WorkerSettings] = []

    def fake_run(settings: WorkerSettings, *, termination_log: Path) -> RunReport:
        seen.append(settings)
        assert termination_log == tmp_path / "t"
        return next(reports)

    monkeypatch.setattr(run_module, "run", fake_run)

    assert (main(), main()) == (0, 1)
    assert seen[0].source is not None
    assert seen[0].source.replay == ReplaySource(path=str(recording))
