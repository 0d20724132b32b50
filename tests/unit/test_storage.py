"""S3 scoping (contract.storage): URIs, allow-list entries and the worker-side checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brandmon_workers.collector.media import MediaStore
from brandmon_workers.collector.replay import FileRecording, ImageRef, S3Recording
from brandmon_workers.collector.run import run
from brandmon_workers.collector.state import StateStore
from brandmon_workers.contract.settings import SourceSettings
from brandmon_workers.contract.sources import ReplaySource
from brandmon_workers.contract.storage import (
    OutsideScopeError,
    S3Scope,
    S3UriError,
    home_prefix,
    parse_prefix,
    parse_uri,
    within,
)
from tests.unit.test_collector import RED, FakeProducer, FakeS3, post_line, worker_settings

pytestmark = pytest.mark.unit

HOME = "s3://brandmon/ns/"


@pytest.mark.parametrize(
    ("uri", "inside"),
    [
        ("s3://brandmon/ns/acme/posts.jsonl", True),
        ("s3://brandmon/ns/x", True),
        ("s3://brandmon/ns-evil/acme/posts.jsonl", False),  # a longer name is another folder
        ("s3://brandmon/ns", False),  # the object "ns" at the bucket's root
        ("s3://brandmon/ns/", False),  # no key below the prefix
        ("s3://brandmon/nsx/a", False),
        ("s3://brandmon/tenant-b/ns/a", False),
        ("s3://brandmon-b/ns/a", False),  # same folder, other bucket
        ("s3://brandmo/ns/a", False),
        ("s3://brandmon/ns/../tenant-b/a", False),  # servers and proxies may resolve '..'
        ("s3://brandmon/ns/./a", False),
        ("s3://brandmon/ns//a", False),
        ("s3://brandmon/ns/%2e%2e/tenant-b/a", False),  # percent-encoding is never decoded
        ("s3://brandmon/ns%2F..%2Ftenant-b/a", False),
        ("s3://brandmon/ns/a\\..\\b", False),
        ("s3://brandmon/ns/a\nb", False),
        ("S3://brandmon/ns/a", False),
        ("s3://BRANDMON/ns/a", False),
        ("https://brandmon/ns/a", False),
        ("s3:///ns/a", False),
    ],
)
def test_a_uri_is_inside_a_prefix_only_by_whole_plain_segments(uri: str, inside: bool) -> None:
    assert within(uri, HOME) is inside
    assert S3Scope(HOME).readable(uri) is inside


@pytest.mark.parametrize(
    ("entry", "canonical"),
    [
        ("s3://shared/recordings", "s3://shared/recordings/"),  # always a whole folder
        ("s3://shared/recordings/", "s3://shared/recordings/"),
        ("s3://shared", "s3://shared/"),
        ("s3://shared/", "s3://shared/"),
    ],
)
def test_allow_list_entries_are_folders(entry: str, canonical: str) -> None:
    assert parse_prefix(entry) == canonical


@pytest.mark.parametrize(
    "entry",
    [
        "s3://shared/../x/",
        "s3://shared/a%2F",
        "shared/a/",
        "s3://Shared/a/",
        "s3://a/./b",
        "s3://shared/a//",
    ],
)
def test_unsafe_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(S3UriError):
        parse_prefix(entry)


def test_an_entry_without_a_slash_does_not_open_its_siblings() -> None:
    assert within("s3://shared/ns/a", "s3://shared/ns")
    assert not within("s3://shared/ns-evil/a", "s3://shared/ns")
    assert within("s3://shared/anything/a", "s3://shared")
    assert not within("s3://shared-other/a", "s3://shared")


def test_extra_prefixes_are_read_only() -> None:
    scope = S3Scope(home_prefix("brandmon", "ns"), (parse_prefix("s3://shared/recordings"),))
    assert scope.check_read("s3://shared/recordings/a.jsonl").key == "recordings/a.jsonl"
    assert scope.check_write("s3://brandmon/ns/m/media/a.png").bucket == "brandmon"
    with pytest.raises(OutsideScopeError, match="S3 home"):
        scope.check_write("s3://shared/recordings/a.jsonl")
    with pytest.raises(OutsideScopeError, match="outside this monitor's S3 scope"):
        scope.check_read("s3://brandmon/tenant-b/a.jsonl")
    with pytest.raises(S3UriError):
        scope.check_read("s3://brandmon/ns/../tenant-b/a.jsonl")


def test_parse_uri_keeps_the_literal_key() -> None:
    assert parse_uri("s3://brandmon/ns/a b/c.png").key == "ns/a b/c.png"


# --- the workers refuse before any request ------------------------------------------------


def test_an_s3_recording_outside_the_scope_is_never_read() -> None:
    s3 = FakeS3()
    s3.put_object(Bucket="brandmon", Key="tenant-b/private.jsonl", Body=b"{}")
    with pytest.raises(OutsideScopeError):
        S3Recording("s3://brandmon/tenant-b/private.jsonl", s3.client(), scope=S3Scope(HOME))
    assert s3.gets == []


def test_image_references_of_a_recording_stay_in_scope(tmp_path: Path) -> None:
    s3 = FakeS3()
    s3.put_object(Bucket="brandmon", Key="tenant-b/red.png", Body=RED)
    s3.put_object(Bucket="brandmon", Key="ns/red.png", Body=RED)
    path = tmp_path / "posts.jsonl"
    path.write_text(json.dumps(post_line("1", [])) + "\n")
    recording = FileRecording(path, s3.client(), scope=S3Scope(HOME))

    assert recording.image(ImageRef("s3", "s3://brandmon/ns/red.png")) == RED
    for bad in ("s3://brandmon/tenant-b/red.png", "s3://other/ns/red.png"):
        with pytest.raises(OutsideScopeError):
            recording.image(ImageRef("s3", bad))
    assert s3.gets == ["ns/red.png"]


def test_state_and_media_are_written_only_under_the_home() -> None:
    s3 = FakeS3()
    with pytest.raises(OutsideScopeError):
        StateStore(s3.client(), "brandmon", "other/m/collector/s/state.json", scope=S3Scope(HOME))
    with pytest.raises(OutsideScopeError):
        MediaStore(s3.client(), "brandmon", "other", "m", scope=S3Scope(HOME)).store(RED)
    assert s3.puts == []


def test_a_run_replaying_another_namespace_aborts_before_reading_it(tmp_path: Path) -> None:
    s3 = FakeS3()
    s3.put_object(Bucket="media", Key="tenant-b/private.jsonl", Body=b"{}")
    settings = worker_settings(
        SourceSettings(name="main", replay=ReplaySource(s3_uri="s3://media/tenant-b/private.jsonl"))
    )

    report = run(
        settings, producer=FakeProducer().producer(), s3=s3.client(), termination_log=tmp_path / "t"
    )

    assert not report.succeeded
    assert "s3://media/tenant-b/private.jsonl is outside this monitor's S3 scope" in report.message
    assert "tenant-b/private.jsonl" not in s3.gets


def test_an_admin_allowed_prefix_is_readable_by_the_run(tmp_path: Path) -> None:
    s3 = FakeS3()
    s3.put_object(Bucket="shared", Key="recordings/posts.jsonl", Body=b"")
    settings = worker_settings(
        SourceSettings(
            name="main", replay=ReplaySource(s3_uri="s3://shared/recordings/posts.jsonl")
        )
    )
    allowed = settings.model_copy(
        update={"s3": settings.s3.model_copy(update={"read_prefixes": ["s3://shared/recordings"]})}
    )

    report = run(
        allowed, producer=FakeProducer().producer(), s3=s3.client(), termination_log=tmp_path / "t"
    )

    assert "outside" not in report.message
    assert "recordings/posts.jsonl" in s3.gets
