"""The children of a BrandMonitor, built without a cluster."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from brandmon_operator import api, builders
from brandmon_operator.settings import OperatorSettings
from brandmon_workers.contract.settings import SourceSettings, WorkerSettings
from brandmon_workers.contract.topics import TopicRole

SAMPLES = Path(__file__).resolve().parents[2] / "crds" / "samples"
SETTINGS = OperatorSettings(
    kafka_bootstrap_servers="kafka.infra:9092", s3_credentials_secret="s3-creds"
)


def monitor(sample: str = "acme.yaml", **changes: Any) -> builders.Monitor:
    body = yaml.safe_load((SAMPLES / sample).read_text())
    spec = body["spec"] | changes
    return builders.Monitor(
        "brands", body["metadata"]["name"], "uid-1", 3, api.BrandMonitorSpec.model_validate(spec)
    )


def by_name(children: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["metadata"]["name"]: c for c in children}


def pod_specs(children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    specs = []
    for child in children:
        if child["kind"] == "Deployment":
            specs.append(child["spec"]["template"]["spec"])
        elif child["kind"] == "CronJob":
            specs.append(child["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return specs


def test_children_follow_the_spec() -> None:
    acme = by_name(builders.desired_children(monitor(), SETTINGS))
    assert {n: c["kind"] for n, c in acme.items()} == {
        "acme-settings": "ConfigMap",
        "acme-src-instagram-main": "CronJob",
        "acme-src-backtest": "CronJob",
        "acme-text-analyzer": "Deployment",
        "acme-image-analyzer": "Deployment",  # provider rekognition
        "acme-notifier": "Deployment",
        "acme-archiver": "Deployment",
    }
    northwind = by_name(builders.desired_children(monitor("replay-builtin.yaml"), SETTINGS))
    assert "northwind-aggregator" in northwind  # engine builtin
    assert "northwind-image-analyzer" not in northwind  # provider none


def test_every_child_is_owned_labelled_and_namespaced() -> None:
    for child in builders.desired_children(monitor(), SETTINGS):
        meta = child["metadata"]
        assert meta["namespace"] == "brands"
        assert meta["ownerReferences"] == [
            {"apiVersion": "brandmon.io/v1alpha1", "kind": "BrandMonitor", "name": "acme",
             "uid": "uid-1", "controller": True, "blockOwnerDeletion": True}
        ]  # fmt: skip
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "brandmon-operator"
        assert meta["labels"]["app.kubernetes.io/instance"] == "acme"
        assert meta["labels"]["app.kubernetes.io/part-of"] == "brandmon"


def test_deployment_selectors_match_their_pods_and_stay_small() -> None:
    for child in builders.desired_children(monitor(), SETTINGS):
        if child["kind"] == "Deployment":
            selector = child["spec"]["selector"]["matchLabels"]
            assert set(selector) == {
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/component",
            }
            assert selector.items() <= child["spec"]["template"]["metadata"]["labels"].items()


def test_pods_are_restricted_and_sized() -> None:
    for spec in pod_specs(builders.desired_children(monitor(), SETTINGS)):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]},
            }
            assert set(container["resources"]) == {"requests", "limits"}
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}


def test_secrets_only_by_reference() -> None:
    children = by_name(builders.desired_children(monitor(), SETTINGS))
    notifier = children["acme-notifier"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "BRANDMON_WEBHOOK_URL_PR_TEAM",
            "valueFrom": {"secretKeyRef": {"name": "pr-webhook", "key": "url"}}} in notifier["env"]  # fmt: skip
    for spec in pod_specs(list(children.values())):
        for container in spec["containers"]:
            for env in container["env"]:
                # Literal values are settings; anything secret comes from a Secret.
                if env["name"].startswith(("AWS_", "BRANDMON_WEBHOOK_URL_")):
                    assert "secretKeyRef" in env["valueFrom"], env
    instagram = children["acme-src-instagram-main"]["spec"]["jobTemplate"]["spec"]["template"][
        "spec"
    ]
    assert instagram["volumes"][1]["secret"]["secretName"] == "ig-session"
    assert instagram["volumes"][1]["secret"]["defaultMode"] == 0o400


def test_configmap_round_trips_into_worker_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    m = monitor()
    configmap = builders.build_configmap(m, SETTINGS)
    for name in list(os.environ):
        if name.startswith("BRANDMON_"):
            monkeypatch.delenv(name)
    for name, value in configmap["data"].items():
        monkeypatch.setenv(name, value)
    parsed = WorkerSettings()  # every field comes from the environment
    assert parsed == builders.worker_settings(m, SETTINGS)
    assert parsed.kafka_bootstrap_servers == "kafka.infra:9092"
    assert parsed.alert_cooldown_seconds == 900
    assert parsed.topics.of(TopicRole.POSTS) == "brandmon.brands.acme.posts"
    assert [w.url_env for w in parsed.webhooks] == ["BRANDMON_WEBHOOK_URL_PR_TEAM"]


def test_connection_overrides_win_over_operator_defaults() -> None:
    m = monitor(connections={"kafka": {"bootstrapServers": "other:9093"}, "s3": {"bucket": "mine"}})
    settings = builders.worker_settings(m, SETTINGS)
    assert settings.kafka_bootstrap_servers == "other:9093"
    assert settings.s3.bucket == "mine"


def test_suspend_pauses_collection_and_scales_workers_to_zero() -> None:
    children = builders.desired_children(monitor(suspend=True), SETTINGS)
    assert all(c["spec"]["suspend"] for c in children if c["kind"] == "CronJob")
    assert all(c["spec"]["replicas"] == 0 for c in children if c["kind"] == "Deployment")


def test_suspending_one_source_pauses_only_its_cronjob() -> None:
    m = monitor()
    sources = [s.model_dump(by_alias=True, exclude_none=True) for s in m.spec.sources]
    sources[1]["suspend"] = True
    children = by_name(builders.desired_children(monitor(sources=sources), SETTINGS))
    assert children["acme-src-instagram-main"]["spec"]["suspend"] is False
    assert children["acme-src-backtest"]["spec"]["suspend"] is True


def test_settings_changes_roll_workers_but_sizing_does_not() -> None:
    def hash_of(m: builders.Monitor) -> str:
        deployment = by_name(builders.desired_children(m, SETTINGS))["acme-text-analyzer"]
        annotation: str = deployment["spec"]["template"]["metadata"]["annotations"][
            builders.CONFIG_HASH
        ]
        return annotation

    base = hash_of(monitor())
    assert hash_of(monitor(analysis={"keywords": [{"term": "lawsuit"}]})) != base
    assert hash_of(monitor(topics={"partitions": 12, "replicationFactor": 3})) == base


def test_longest_names_fit_kubernetes_limits() -> None:
    m = builders.Monitor("ns", "m" * api.MAX_MONITOR_NAME, "u", 1, monitor().spec)
    assert len(builders.cronjob_name(m, "s" * api.MAX_SOURCE_NAME)) <= 52
    assert all(len(builders.child_name(m, r)) <= 63 for r in builders.deployment_roles(m.spec))


def test_cooldown_and_webhook_env_rendering() -> None:
    assert builders.webhook_env("pr-team.eu") == "BRANDMON_WEBHOOK_URL_PR_TEAM_EU"
    m = monitor(alerts={"cooldown": "1h30m"})
    assert builders.worker_settings(m, SETTINGS).alert_cooldown_seconds == 5400


def test_streaming_sources_are_deployments_and_polled_ones_cronjobs_with_secret_refs() -> None:
    children = by_name(builders.desired_children(monitor("news-and-social.yaml"), SETTINGS))
    kinds = {n: c["kind"] for n, c in children.items() if "-src-" in n}
    assert kinds == {
        "acme-open-src-news": "CronJob",
        "acme-open-src-mastodon": "CronJob",
        "acme-open-src-reddit": "CronJob",
        "acme-open-src-bluesky": "Deployment",
    }
    stream = children["acme-open-src-bluesky"]
    assert stream["spec"]["strategy"] == {"type": "Recreate"}, "never two followers at once"
    assert stream["spec"]["replicas"] == 1
    template = stream["spec"]["template"]
    assert template["metadata"]["annotations"]["brandmon.io/source-mode"] == "stream"
    (container,) = template["spec"]["containers"]
    assert container["args"] == ["collector", "--stream"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    selector = stream["spec"]["selector"]["matchLabels"]
    assert selector["brandmon.io/source"] == "bluesky"
    assert all(template["metadata"]["labels"][k] == v for k, v in selector.items())

    def env(name: str) -> dict[str, Any]:
        spec = children[name]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return {e["name"]: e for e in spec["containers"][0]["env"]}

    mastodon = env("acme-open-src-mastodon")
    assert mastodon["BRANDMON_MASTODON_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "mastodon-token", "key": "token"}
    }
    reddit = env("acme-open-src-reddit")
    assert reddit["REDDIT_CLIENT_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "reddit-app", "key": "REDDIT_CLIENT_SECRET"}
    }
    assert "value" not in reddit["REDDIT_CLIENT_ID"], "secrets only by reference"
    source = SourceSettings.model_validate_json(reddit["BRANDMON_SOURCE"]["value"])
    assert source.reddit is not None
    assert source.reddit.subreddits == ["acme", "gadgets"]


def test_suspending_a_streaming_source_scales_it_to_zero() -> None:
    spec = yaml.safe_load((SAMPLES / "news-and-social.yaml").read_text())["spec"]
    spec["sources"][3]["suspend"] = True
    children = by_name(builders.desired_children(monitor("news-and-social.yaml", **spec), SETTINGS))
    assert children["acme-open-src-bluesky"]["spec"]["replicas"] == 0
