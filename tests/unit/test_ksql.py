"""ksqlDB statements: generated from the spec, reviewed as golden files, planned without I/O."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from brandmon_operator import api, ksql
from brandmon_operator.queries import LiveObject, Recorded, plan_queries
from brandmon_workers.contract import messages
from brandmon_workers.contract.topics import TopicNames

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"


def spec(**changes: Any) -> api.BrandMonitorSpec:
    body = yaml.safe_load((ROOT / "crds" / "samples" / "acme.yaml").read_text())
    return api.BrandMonitorSpec.model_validate(body["spec"] | changes)


def generate(s: api.BrandMonitorSpec) -> list[ksql.Statement]:
    return ksql.statements("brands", "acme", s, TopicNames(namespace="brands", monitor="acme"))


NO_IMAGES = {
    "analysis": {"keywords": [{"term": "recall", "weight": 0.8}], "image": {"provider": "none"}}
}


@pytest.mark.parametrize(
    ("golden", "changes"), [("acme-ksqldb.sql", {}), ("acme-ksqldb-text-only.sql", NO_IMAGES)]
)
def test_generated_sql_matches_the_reviewed_golden_file(
    golden: str, changes: dict[str, Any]
) -> None:
    rendered = ksql.render(generate(spec(**changes)))
    path = GOLDEN / golden
    if os.environ.get("BRANDMON_UPDATE_GOLDEN") == "1":
        path.write_text(rendered)
    assert rendered == path.read_text(), (
        f"{golden} differs: review, then BRANDMON_UPDATE_GOLDEN=1 pytest"
    )


def test_statements_are_in_dependency_order_and_one_per_call() -> None:
    created: set[str] = set()
    for statement in generate(spec()):
        assert set(statement.sources) <= created, statement.name
        assert statement.create("plain").count(";") == statement.body.count(";") == 1
        created.add(statement.name)


def test_columns_come_from_the_message_models() -> None:
    assert ksql.columns(messages.KeywordHit) == [
        "`term` STRING",
        "`weight` DOUBLE",
        "`count` BIGINT",
    ]
    assert (
        ksql.ksql_type(list[messages.KeywordHit])
        == "ARRAY<STRUCT<`term` STRING, `weight` DOUBLE, `count` BIGINT>>"
    )
    assert ksql.ksql_type(float | None) == "DOUBLE"
    with pytest.raises(TypeError):
        ksql.ksql_type(dict[str, str])


P = ksql.object_prefix("brands", "acme")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # Pairs whose readable prefixes met: '-' became '_' and '__' joined the parts.
        (("shop--eu", "web"), ("shop", "eu--web")),
        (("shop", "eu"), ("shop--eu", "web")),
        (("brands-eu", "acme"), ("brands", "eu-acme")),
        (("shop", "web"), ("shop", "web-eu")),
    ],
)
def test_object_prefixes_of_two_monitors_never_meet(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    a, b = ksql.object_prefix(*first), ksql.object_prefix(*second)
    assert a != b
    # Neither begins the other, so no monitor's names fall under another's prefix.
    assert not a.startswith(b)
    assert not b.startswith(a)
    assert a == ksql.object_prefix(*first)  # stable across calls (and processes)
    assert len(a) == len(b) == len("BM_") + 16 + 1


def by_name(statements: list[ksql.Statement]) -> dict[str, ksql.Statement]:
    return {s.name.removeprefix(P): s for s in statements}


def test_threshold_change_is_a_filter_upgrade_for_alerts_but_an_aggregation_change_for_accounts() -> (
    None
):
    before, after = (
        by_name(generate(spec())),
        by_name(generate(spec(scoring={"alertThreshold": 0.5}))),
    )
    assert before["ALERTS"].digest != after["ALERTS"].digest
    assert before["ALERTS"].shape_digest == after["ALERTS"].shape_digest
    assert before["ACCOUNT_RISK"].shape_digest != after["ACCOUNT_RISK"].shape_digest
    assert before["SCORED_POSTS"].digest == after["SCORED_POSTS"].digest


def recorded_from(statements: list[ksql.Statement]) -> dict[str, Recorded]:
    return {
        s.name: Recorded(s.name, s.kind, s.digest, s.shape_digest, s.sources, f"Q_{s.name}")
        for s in statements
    }


def live_from(statements: list[ksql.Statement]) -> dict[str, LiveObject]:
    return {
        s.name: LiveObject(s.name, s.kind, (f"Q_{s.name}",) if s.query else ()) for s in statements
    }


def short(names: list[str]) -> list[str]:
    return [n.removeprefix(P) for n in names]


def test_fresh_monitor_creates_everything_if_not_exists() -> None:
    desired = generate(spec())
    plan = plan_queries(desired, {}, {})
    assert plan.drop == []
    assert [(s.name, m) for s, m in plan.create] == [(s.name, "if-not-exists") for s in desired]


def test_nothing_changed_sends_nothing() -> None:
    desired = generate(spec())
    plan = plan_queries(desired, live_from(desired), recorded_from(desired))
    assert not plan.writes
    assert len(plan.in_sync) == len(desired)


def test_filter_change_upgrades_in_place_and_aggregation_change_replaces_with_dependents() -> None:
    old = generate(spec())
    new = generate(spec(scoring={"alertThreshold": 0.5}))
    plan = plan_queries(new, live_from(old), recorded_from(old))
    assert short(plan.drop) == ["FINAL_OUTPUT", "ACCOUNT_RISK"]  # dependent first
    assert [(short([s.name])[0], m) for s, m in plan.create] == [
        ("ALERTS", "or-replace"),
        ("ACCOUNT_RISK", "if-not-exists"),
        ("FINAL_OUTPUT", "if-not-exists"),
    ]


def test_turning_images_off_drops_the_image_objects_after_their_readers() -> None:
    old = generate(spec())
    new = generate(spec(**NO_IMAGES))
    plan = plan_queries(new, live_from(old), recorded_from(old))
    dropped = short(plan.drop)
    assert set(dropped) >= {"IMAGE_SCORES", "IMAGE_RISK", "SCORED_POSTS"}
    assert (
        dropped.index("SCORED_POSTS") < dropped.index("IMAGE_RISK") < dropped.index("IMAGE_SCORES")
    )
    # What reads the scored-posts table's topic is a plain stream: it stays.
    assert "SCORED_STREAM" not in dropped


def test_query_terminated_outside_is_repaired_with_its_readers() -> None:
    desired = generate(spec())
    live = live_from(desired)
    name = P + "ACCOUNT_RISK"
    live[name] = LiveObject(name, "TABLE", ())
    plan = plan_queries(desired, live, recorded_from(desired))
    assert short(plan.repaired) == ["ACCOUNT_RISK"]
    assert short(plan.drop) == ["FINAL_OUTPUT", "ACCOUNT_RISK"]


def test_stream_dropped_outside_is_recreated() -> None:
    desired = generate(spec())
    live = live_from(desired)
    del live[P + "FINAL_OUTPUT"]
    plan = plan_queries(desired, live, recorded_from(desired))
    assert short(plan.repaired) == ["FINAL_OUTPUT"]
    assert [(short([s.name])[0], m) for s, m in plan.create] == [("FINAL_OUTPUT", "if-not-exists")]


def exactly_as_created(statements: list[ksql.Statement]) -> dict[str, LiveObject]:
    """What ksqlDB shows after running the statements: query texts and source topics."""
    return {
        s.name: LiveObject(s.name, s.kind, (f"Q_{s.name}",), s.create("if-not-exists"), s.topic)
        if s.query
        else LiveObject(s.name, s.kind, topic=s.topic)
        for s in statements
    }


def test_status_lost_adopts_objects_that_are_exactly_what_the_monitor_creates() -> None:
    # The operator died after ksqlDB ran its statements, before it recorded them.
    desired = generate(spec())
    plan = plan_queries(desired, exactly_as_created(desired), {})
    assert not plan.writes
    assert plan.foreign == []
    assert len(plan.in_sync) == len(desired)


def test_unrecorded_objects_that_differ_are_never_adopted_changed_or_dropped() -> None:
    desired = generate(spec())
    live = exactly_as_created(desired)
    # Another tenant's query sits under one of this monitor's names ...
    name = P + "ALERTS"
    live[name] = LiveObject(name, "STREAM", ("Q_THEIRS",), "CREATE STREAM x AS SELECT 1;", "t")
    # ... and a plain stream of the right name reads someone else's topic.
    texts = P + "TEXT_SCORES"
    live[texts] = LiveObject(texts, "STREAM", topic="brandmon.other.victim.text-scores")
    plan = plan_queries(desired, live, {})
    assert sorted(short(plan.foreign)) == ["ALERTS", "TEXT_SCORES"]
    assert not plan.writes  # nothing at all is sent: the monitor stalls
    # Even a changed spec does not touch them.
    changed = plan_queries(generate(spec(scoring={"alertThreshold": 0.5})), live, {})
    assert not changed.writes


def test_only_recorded_objects_are_dropped_when_the_spec_no_longer_wants_them() -> None:
    old = generate(spec())
    new = generate(spec(**NO_IMAGES))
    recorded = recorded_from(old)
    del recorded[P + "IMAGE_SCORES"]  # live, unwanted now, never recorded: not ours
    plan = plan_queries(new, live_from(old), recorded)
    assert "IMAGE_SCORES" not in short(plan.drop)
    assert "IMAGE_RISK" in short(plan.drop)


def test_a_refused_upgrade_is_replanned_as_a_replace() -> None:
    old = generate(spec())
    new = generate(spec(scoring={"alertThreshold": 0.5}))
    plan = plan_queries(new, live_from(old), recorded_from(old), frozenset({P + "ALERTS"}))
    assert (P + "ALERTS", "if-not-exists") in [(s.name, m) for s, m in plan.create]
    assert "ALERTS" in short(plan.drop)


def test_joins_and_table_aggregations_are_never_upgraded_in_place() -> None:
    statements = by_name(generate(spec()))
    assert not statements["SCORED_POSTS"].upgradable
    assert not statements["FINAL_OUTPUT"].upgradable
    assert statements["ALERTS"].upgradable
    assert statements["TEXT_RISK"].upgradable  # a stream aggregation, same aggregates
    weights = by_name(generate(spec(scoring={"textWeight": 0.5, "imageWeight": 0.5})))
    plan = plan_queries(list(weights.values()), live_from(list(statements.values())),
                        recorded_from(list(statements.values())))  # fmt: skip
    assert "SCORED_POSTS" in short(plan.drop)
