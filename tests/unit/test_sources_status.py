"""Source health in the monitor's status, read from collector pods (pure logic)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from brandmon_operator import sources


def pod(source: str, phase: str, finished: str | None = None, message: str | None = None,
        started: str = "2026-11-26T09:00:00Z") -> dict[str, Any]:  # fmt: skip
    terminated = {"finishedAt": finished, "exitCode": 0 if phase == "Succeeded" else 1}
    if message is not None:
        terminated["message"] = message
    state = {"terminated": terminated} if finished else {"running": {"startedAt": started}}
    return {
        "metadata": {"annotations": {"brandmon.io/source": source}},
        "status": {"phase": phase, "startTime": started,
                   "containerStatuses": [{"name": "collector", "state": state}]},
    }  # fmt: skip


REPORT = json.dumps({"postsNew": 4, "postsSeen": 10, "errors": 0, "message": "14 posts"})


def statuses(*pods: dict[str, Any], names: tuple[str, ...] = ("ig", "replay")) -> list[Any]:
    runs = [run for run in map(sources.run_of, pods) if run is not None]
    return sources.source_statuses(list(names), runs)


def test_last_finished_run_decides_health_and_its_report_is_shown() -> None:
    found = statuses(
        pod("ig", "Succeeded", "2026-11-26T09:01:00Z", REPORT),
        pod("ig", "Failed", "2026-11-26T09:06:00Z", '{"errors": 3, "message": "429 throttled"}',
            started="2026-11-26T09:05:00Z"),
    )  # fmt: skip
    assert [s.name for s in found] == ["ig"]  # "replay" never ran: not listed
    ig = found[0]
    assert not ig.healthy
    assert ig.last_successful_time == datetime(2026, 11, 26, 9, 1, tzinfo=UTC)
    assert ig.last_schedule_time == datetime(2026, 11, 26, 9, 5, tzinfo=UTC)
    assert ig.last_result is not None
    assert ig.last_result.errors == 3
    condition = sources.sources_condition(found)
    assert condition["status"] == "False"
    assert condition["reason"] == "CollectionFailed"
    assert "ig: 429 throttled" in condition["message"]
    assert sources.last_collection_time(found) == datetime(2026, 11, 26, 9, 1, tzinfo=UTC)


def test_a_later_success_heals_and_a_running_pod_does_not_count_as_finished() -> None:
    found = statuses(
        pod("ig", "Failed", "2026-11-26T09:01:00Z"),
        pod("ig", "Succeeded", "2026-11-26T09:06:00Z", REPORT),
        pod("replay", "Running", started="2026-11-26T09:07:00Z"),
    )
    by_name = {s.name: s for s in found}
    assert by_name["ig"].healthy
    assert by_name["ig"].last_result is not None
    assert by_name["ig"].last_result.posts_new == 4
    assert by_name["replay"].healthy  # running, nothing finished yet
    assert by_name["replay"].last_successful_time is None
    assert sources.sources_condition(found)["status"] == "True"


def test_no_run_yet_is_unknown_and_foreign_pods_are_ignored() -> None:
    stray = pod("ig", "Succeeded", "2026-11-26T09:01:00Z")
    stray["metadata"]["annotations"] = {}
    assert sources.run_of(stray) is None
    assert sources.sources_condition(statuses(stray))["status"] == "Unknown"
    assert sources.last_collection_time([]) is None


def test_a_message_that_is_not_a_report_is_kept_as_text() -> None:
    found = statuses(pod("ig", "Failed", "2026-11-26T09:01:00Z", "Traceback: boom"))
    assert found[0].last_result is not None
    assert found[0].last_result.message == "Traceback: boom"


def stream_pod(ready: str, since: str, phase: str = "Running") -> dict[str, Any]:
    return {
        "metadata": {"annotations": {"brandmon.io/source": "bsky", "brandmon.io/source-mode": "stream"}},
        "status": {"phase": phase, "startTime": "2026-11-26T09:00:00Z",
                   "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": since}],
                   "containerStatuses": [{"name": "collector", "state": {"running": {}}}]},
    }  # fmt: skip


def test_a_streaming_source_is_healthy_while_it_is_ready() -> None:
    (connected,) = statuses(stream_pod("True", "2026-11-26T09:00:05Z"), names=("bsky",))
    assert connected.healthy
    assert connected.last_successful_time == datetime(2026, 11, 26, 9, 0, 5, tzinfo=UTC)
    assert connected.last_result is not None
    assert connected.last_result.message.startswith("streaming: connected")
    (lost,) = statuses(stream_pod("False", "2026-11-26T10:00:00Z"), names=("bsky",))
    assert not lost.healthy
    assert sources.sources_condition([lost])["message"] == (
        "last run failed: bsky: " + sources.NOT_STREAMING
    )
