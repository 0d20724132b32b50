"""Deciding what to change, and kstatus conditions, without a cluster."""

from __future__ import annotations

from brandmon_operator import diff, status


def cm(name: str, data: dict[str, str], uid: str | None = "u1") -> dict[str, object]:
    meta: dict[str, object] = {"name": name}
    if uid:
        meta["ownerReferences"] = [{"uid": uid, "controller": True}]
    return {"kind": "ConfigMap", "metadata": meta, "data": data}


def test_contains_ignores_server_added_fields_and_omitted_empties() -> None:
    desired = {"spec": {"replicas": 1, "env": [], "labels": {}}, "kind": "X"}
    live = {"spec": {"replicas": 1, "revisionHistoryLimit": 10}, "kind": "X", "status": {}}
    assert diff.contains(live, desired)
    assert not diff.contains(live, {"spec": {"replicas": 2}})
    assert not diff.contains({"a": [1, 2]}, {"a": [1]})  # list length matters
    assert not diff.contains({"a": [{"x": 1, "y": 2}]}, {"a": [{"x": 2}]})


def test_plan_creates_updates_and_deletes_only_what_it_owns() -> None:
    desired = [cm("keep", {"a": "1"}), cm("change", {"a": "2"}), cm("new", {})]
    live = {
        ("ConfigMap", "keep"): cm("keep", {"a": "1"}),
        ("ConfigMap", "change"): cm("change", {"a": "1"}),
        ("ConfigMap", "gone"): cm("gone", {}),
        ("ConfigMap", "stranger"): cm("stranger", {}, uid="someone-else"),
    }
    plan = diff.plan(desired, live, "u1")
    assert [diff.key(m) for m in plan.create] == [("ConfigMap", "new")]
    assert [diff.key(m) for m in plan.update] == [("ConfigMap", "change")]
    assert plan.delete == [("ConfigMap", "gone")]
    assert plan.in_sync == [("ConfigMap", "keep")]
    assert not plan.empty
    assert diff.plan(
        [cm("keep", {"a": "1"})], {("ConfigMap", "keep"): cm("keep", {"a": "1"})}, "u1"
    ).empty


def test_a_wanted_name_held_by_an_object_the_monitor_does_not_control_is_foreign() -> None:
    # Carrying the monitor's labels proves nothing: anyone who can edit can set them.
    desired = [cm("app-settings", {"a": "1"}), cm("mine", {"a": "2"})]
    live = {
        ("ConfigMap", "app-settings"): cm("app-settings", {"theirs": "x"}, uid=None),
        ("ConfigMap", "mine"): cm("mine", {"old": "y"}),
    }
    plan = diff.plan(desired, live, "u1")
    assert plan.foreign == [("ConfigMap", "app-settings")]
    assert [diff.key(m) for m in plan.update] == [("ConfigMap", "mine")]
    assert plan.create == []


def types(conditions: list[dict[str, object]]) -> dict[object, tuple[object, object]]:
    return {c["type"]: (c["status"], c["reason"]) for c in conditions}


def test_summary_conditions_follow_kstatus() -> None:
    ok = status.Concern("WorkloadsReady", True, "WorkloadsApplied")
    assert types(status.conditions([ok])) == {
        "Ready": ("True", "Reconciled"), "Reconciling": ("False", "Reconciled"),
        "Stalled": ("False", "Reconciled"), "WorkloadsReady": ("True", "WorkloadsApplied"),
    }  # fmt: skip
    transient = status.Concern("WorkloadsReady", False, "ApiUnreachable", "refused")
    got = types(status.conditions([transient]))
    assert got["Ready"] == ("False", "ApiUnreachable")
    assert got["Reconciling"] == ("True", "ApiUnreachable")
    assert got["Stalled"][0] == "False"
    terminal = status.Concern("WorkloadsReady", False, "WorkloadRejected", "bad cron", stalled=True)
    got = types(status.conditions([terminal]))
    assert got["Stalled"] == ("True", "WorkloadRejected")
    assert got["Reconciling"][0] == "False"


def test_transition_time_moves_only_when_status_flips() -> None:
    ok = status.conditions([status.Concern("WorkloadsReady", True, "WorkloadsApplied")])
    first = status.merge([], ok, 1, "2026-01-01T00:00:00Z")
    again = status.merge(first, ok, 2, "2026-01-01T00:05:00Z")
    assert {c["lastTransitionTime"] for c in again} == {"2026-01-01T00:00:00Z"}
    assert {c["observedGeneration"] for c in again} == {2}
    failing = status.conditions([status.Concern("WorkloadsReady", False, "ApiError", "x")])
    flipped = {c["type"]: c for c in status.merge(again, failing, 2, "2026-01-01T00:09:00Z")}
    assert flipped["Ready"]["lastTransitionTime"] == "2026-01-01T00:09:00Z"
    # Stalled stays False through the flip, so its time does not move.
    assert flipped["Stalled"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_status_patch_is_empty_when_nothing_changed() -> None:
    current = {"observedGeneration": 2, "sourceCount": 1, "conditions": [{"type": "Ready"}]}
    assert status.status_patch(current, dict(current)) == {}
    assert status.status_patch(current, current | {"sourceCount": 2}) == {"sourceCount": 2}


def test_normal_events_of_one_reason_become_one_event_and_warnings_stay_apart() -> None:
    events = [
        ("Normal", "Created", "Created ConfigMap acme-config"),
        ("Normal", "TopicCreated", "Created Kafka topic a"),
        ("Warning", "TopicRecreated", "topic b was deleted outside"),
        ("Normal", "Created", "Created CronJob acme-src-ig"),
        ("Warning", "TopicRecreated", "topic c was deleted outside"),
        ("Normal", "TopicCreated", "Created Kafka topic d"),
    ]
    assert status.grouped_events(events) == [
        ("Normal", "Created", "Created ConfigMap acme-config; Created CronJob acme-src-ig"),
        ("Normal", "TopicCreated", "Created Kafka topic a; Created Kafka topic d"),
        ("Warning", "TopicRecreated", "topic b was deleted outside"),
        ("Warning", "TopicRecreated", "topic c was deleted outside"),
    ]
