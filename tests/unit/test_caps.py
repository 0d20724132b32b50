"""Administrator caps: how a schedule's frequency is counted, which fields exceed a cap, the
namespace count, and the admission policy's parameters. The API server's verdicts on the
same cases are checked against these in tests/platform/test_caps.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from brandmon_operator import caps
from brandmon_operator.api import BrandMonitorSpec
from brandmon_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[2] / "crds" / "samples"


def spec(**changes: Any) -> BrandMonitorSpec:
    body: dict[str, Any] = {
        "brand": "Acme",
        "sources": [
            {"name": "feed", "schedule": "*/30 * * * *", "rss": {"feeds": ["https://a.example/f"]}}
        ],
    }
    return BrandMonitorSpec.model_validate(body | changes)


@pytest.mark.parametrize(
    ("schedule", "runs"),
    [
        ("*/5 * * * *", 12),
        ("* * * * *", 60),
        ("*/1 3 * * *", 60),  # every minute of one hour is 60 runs in that hour
        ("0,30 * * * *", 2),
        ("0-10/5 * * * *", 3),
        ("5/15 * * * *", 4),  # 5, 20, 35, 50
        ("10-14 * * * *", 5),
        ("0,0,0 * * * *", 1),
        ("59 * * * *", 1),
        ("*/45 * * * *", 2),
        ("*/10\t* * * *", 6),
        ("@hourly", 1),
        ("@daily", 1),
        ("L * * * *", 60),  # unreadable: refused as every minute
        ("*/0 * * * *", 60),
    ],
)
def test_runs_per_hour_counts_the_minutes_the_minute_field_selects(
    schedule: str, runs: int
) -> None:
    assert caps.runs_per_hour(schedule) == runs


def test_the_demo_monitor_is_within_the_caps_the_demo_installs() -> None:
    from brandmon_devtools.kind.demo import chart_values  # noqa: PLC0415 - devtools only here

    demo_caps = caps.Caps.model_validate(chart_values("brandmon:dev")["caps"])
    body = yaml.safe_load((SAMPLES.parents[1] / "examples" / "demo" / "northwind.yaml").read_text())
    demo = BrandMonitorSpec.model_validate(body["spec"])
    assert caps.violations(demo, demo_caps) == []
    assert caps.violations(demo, caps.Caps())  # every minute: over the default


def test_the_samples_and_the_defaults_are_within_the_default_caps() -> None:
    default = OperatorSettings().caps
    assert caps.violations(spec(), default) == []
    for path in SAMPLES.glob("*.yaml"):
        body = yaml.safe_load(path.read_text())
        assert caps.violations(BrandMonitorSpec.model_validate(body["spec"]), default) == [], path


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"topics": {"partitions": 13}}, "spec.topics.partitions: 13 "),
        ({"topics": {"replicationFactor": 4}}, "spec.topics.replicationFactor: 4 "),
        ({"topics": {"retention": "30d1ms"}}, "spec.topics.retention: 30d1ms "),
        ({"topics": {"retention": "721h"}}, "spec.topics.retention: 721h "),
        (
            {
                "sources": [
                    {"name": f"s{i}", "rss": {"feeds": ["https://a.example/f"]}} for i in range(11)
                ]
            },
            "spec.sources: 11 sources ",
        ),
        (
            {
                "sources": [
                    {
                        "name": "often",
                        "schedule": "*/4 * * * *",
                        "rss": {"feeds": ["https://a.example/f"]},
                    }
                ]
            },
            "spec.sources[0].schedule: source often runs 15 times",
        ),
        (
            {"analysis": {"image": {"maxCallsPerHour": 2001}}},
            "spec.analysis.image.maxCallsPerHour: 2001 ",
        ),
    ],
)
def test_each_cap_names_the_field_over_it(changes: dict[str, Any], field: str) -> None:
    found = caps.violations(spec(**changes), caps.Caps())
    assert len(found) == 1
    assert found[0].startswith(field)
    assert "administrator's cap" in found[0]


def test_at_the_cap_is_within_it() -> None:
    at = spec(
        topics={"partitions": 12, "replicationFactor": 3, "retention": "30d"},
        analysis={"image": {"maxCallsPerHour": 2000}},
        sources=[
            {"name": f"s{i}", "schedule": "*/5 * * * *", "rss": {"feeds": ["https://a.example/f"]}}
            for i in range(10)
        ],
    )
    assert caps.violations(at, caps.Caps()) == []


def test_a_streaming_source_has_no_schedule_to_cap() -> None:
    streaming = spec(
        sources=[{"name": "sky", "schedule": "* * * * *", "bluesky": {"terms": ["acme"]}}]
    )
    assert caps.violations(streaming, caps.Caps()) == []


def test_null_lifts_a_cap() -> None:
    big = spec(topics={"partitions": 500, "retention": "365d"})
    assert len(caps.violations(big, caps.Caps())) == 2
    lifted = caps.Caps(max_partitions=None, max_retention_hours=None)
    assert caps.violations(big, lifted) == []


def test_the_oldest_monitors_of_a_namespace_keep_running() -> None:
    monitors = [
        ("2026-12-01T00:00:00Z", "b"),
        ("2026-12-01T00:00:00Z", "a"),
        ("2026-12-02T00:00:00Z", "c"),
    ]
    limit = caps.Caps(max_monitors_per_namespace=2)
    ranks = {name: caps.namespace_rank((created, name), monitors) for created, name in monitors}
    assert ranks == {"a": 0, "b": 1, "c": 2}
    assert caps.namespace_violation(ranks["b"], limit, "shop") is None
    refused = caps.namespace_violation(ranks["c"], limit, "shop")
    assert refused is not None
    assert refused.startswith("metadata.namespace: namespace shop already has 2 older monitors")
    assert caps.namespace_violation(5, caps.Caps(max_monitors_per_namespace=None), "shop") is None


def test_refusal_is_stalled_and_names_every_problem() -> None:
    assert caps.refusal([], "shop") is None
    concern = caps.refusal(["spec.a: x", "spec.b: y"], "shop")
    assert concern is not None
    assert (concern.type, concern.ok, concern.reason, concern.stalled) == (
        "WithinCaps", False, "CapExceeded", True,
    )  # fmt: skip
    assert concern.message.startswith("spec.a: x; spec.b: y (")


def test_settings_read_caps_as_camel_case_json_with_null_lifting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRANDMON_OPERATOR_CAPS", '{"maxPartitions": 4, "maxSources": null}')
    settings = OperatorSettings()
    assert settings.caps.max_partitions == 4
    assert settings.caps.max_sources is None
    assert settings.caps.max_replication_factor == caps.Caps().max_replication_factor


def test_policy_parameters_are_the_set_caps_the_policy_reads() -> None:
    params = caps.Caps(max_sources=None).params()
    assert params == {
        "maxPartitions": "12",
        "maxReplicationFactor": "3",
        "maxRetentionHours": "720",
        "maxRunsPerHour": "12",
        "maxImageCallsPerHour": "2000",
    }
    policy = yaml.safe_dump(caps.admission_policy())
    for key in [*caps.Caps().params(), "maxSources"]:
        assert f"params.data.{key}" in policy
    assert "maxMonitorsPerNamespace" not in policy
