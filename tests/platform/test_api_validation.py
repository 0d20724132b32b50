"""The API server itself rejects bad BrandMonitors, naming the field (schema and CEL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from brandmon_operator import api

pytestmark = pytest.mark.usefixtures("brandmonitor_crd")

Body = dict[str, Any]
SAMPLES = sorted((Path(__file__).resolve().parents[2] / "crds" / "samples").glob("*.yaml"))


def valid() -> Body:
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": "acme"},
        "spec": {
            "brand": "ACME",
            "sources": [
                {"name": "main", "instagram": {"profiles": ["acme"]}},
                {"name": "replay", "replay": {"s3Uri": "s3://bucket/posts.jsonl"}},
            ],
            "analysis": {"keywords": [{"term": "recall", "weight": 0.8}]},
        },
    }


def create(kube: client.ApiClient, namespace: str, body: Body, dry_run: bool = True) -> Body:
    result = client.CustomObjectsApi(kube).create_namespaced_custom_object(
        api.GROUP, api.VERSION, namespace, api.PLURAL, body,
        dry_run="All" if dry_run else None, field_validation="Strict",
    )  # fmt: skip
    assert isinstance(result, dict)
    return result


def rejection(call: Callable[[], object]) -> str:
    with pytest.raises(ApiException) as error:
        call()
    # 422: schema or CEL; 400: strict field validation found a field the schema lacks.
    assert error.value.status in (400, 422), error.value.body
    message: str = json.loads(str(error.value.body))["message"]
    return message


def _spec(body: Body) -> Body:
    spec: Body = body["spec"]
    return spec


def _source(body: Body, index: int = 0) -> Body:
    source: Body = body["spec"]["sources"][index]
    return source


def _swap(body: Body, **kind: Any) -> None:
    """Make the first source one of another kind."""
    source = _source(body)
    source.pop("instagram")
    source.update(kind)


# (id, mutation, the field path the error must name, what it must say)
INVALID: list[tuple[str, Callable[[Body], None], str, str]] = [
    ("no-brand", lambda b: _spec(b).pop("brand"), "spec.brand", "Required value"),
    ("no-sources", lambda b: _spec(b).update(sources=[]), "spec.sources", "at least 1 items"),
    ("duplicate-source", lambda b: _source(b, 1).update(name="main"), "spec.sources[1]",
     "Duplicate value"),
    ("two-source-types", lambda b: _source(b).update(replay={"path": "/data/p.jsonl"}),
     "spec.sources[0]", "exactly one of instagram, replay, rss, mastodon, reddit or bluesky"),
    ("no-source-type", lambda b: _source(b).pop("instagram"), "spec.sources[0]",
     "exactly one of instagram, replay, rss, mastodon, reddit or bluesky must be set"),
    ("instagram-and-bluesky", lambda b: _source(b).update(bluesky={"terms": ["acme"]}),
     "spec.sources[0]", "exactly one of instagram, replay, rss, mastodon, reddit or bluesky"),
    ("rss-without-feeds", lambda b: _swap(b, rss={"searchEngines": ["google-news"]}),
     "spec.sources[0].rss", "rss needs at least one of rss.feeds, rss.searchTerms or rss.searchBrand"),
    ("rss-feed-not-http", lambda b: _swap(b, rss={"feeds": ["ftp://news.example/feed"]}),
     "spec.sources[0].rss.feeds[0]", "should match"),
    ("rss-engine-enum", lambda b: _swap(b, rss={"searchBrand": True, "searchEngines": ["yahoo"]}),
     "spec.sources[0].rss.searchEngines[0]", 'Unsupported value: "yahoo"'),
    ("mastodon-nothing-to-read",
     lambda b: _swap(b, mastodon={"instances": ["https://mastodon.social"]}),
     "spec.sources[0].mastodon", "mastodon needs at least one of mastodon.hashtags or mastodon.searchTerms"),
    ("mastodon-search-needs-token",
     lambda b: _swap(b, mastodon={"instances": ["https://mastodon.social"], "searchTerms": ["acme"]}),
     "spec.sources[0].mastodon.searchTerms", "need mastodon.tokenSecretRef"),
    ("mastodon-instance-with-path",
     lambda b: _swap(b, mastodon={"instances": ["https://mastodon.social/@acme"], "hashtags": ["acme"]}),
     "spec.sources[0].mastodon.instances[0]", "should match"),
    ("reddit-needs-credentials", lambda b: _swap(b, reddit={"subreddits": ["acme"]}),
     "spec.sources[0].reddit.credentialsSecretName", "Required value"),
    ("reddit-nothing-to-read", lambda b: _swap(b, reddit={"credentialsSecretName": "reddit"}),
     "spec.sources[0].reddit", "reddit needs at least one of reddit.subreddits or reddit.searchQueries"),
    ("reddit-comments-need-subreddits",
     lambda b: _swap(b, reddit={"credentialsSecretName": "reddit", "searchQueries": ["acme"], "includeComments": True}),
     "spec.sources[0].reddit.includeComments", "needs reddit.subreddits"),
    ("reddit-bad-subreddit",
     lambda b: _swap(b, reddit={"credentialsSecretName": "reddit", "subreddits": ["r/acme"]}),
     "spec.sources[0].reddit.subreddits[0]", "should match"),
    ("bluesky-matches-nothing", lambda b: _swap(b, bluesky={"matchBrand": False}),
     "spec.sources[0].bluesky", "bluesky needs at least one of bluesky.terms"),
    ("bluesky-bad-domain", lambda b: _swap(b, bluesky={"domains": ["https://acme.com/"]}),
     "spec.sources[0].bluesky.domains[0]", "should match"),
    ("bluesky-jetstream-not-ws", lambda b: _swap(b, bluesky={"jetstreamUrl": "https://jetstream.example/subscribe"}),
     "spec.sources[0].bluesky.jetstreamUrl", "should match"),
    ("bad-schedule", lambda b: _source(b).update(schedule="every hour"),
     "spec.sources[0].schedule", "should match"),
    ("source-name-not-dns", lambda b: _source(b).update(name="Main_Feed"),
     "spec.sources[0].name", "should match"),
    ("source-name-too-long", lambda b: _source(b).update(name="s" * 21),
     "spec.sources[0].name", "Too long"),
    ("hashtags-need-session", lambda b: _source(b)["instagram"].update(hashtags=["acme"]),
     "spec.sources[0].instagram.hashtags", "need instagram.sessionSecretRef"),
    ("anonymous-post-limit", lambda b: _source(b)["instagram"].update(maxPostsPerProfile=50),
     "spec.sources[0].instagram.maxPostsPerProfile", "needs instagram.sessionSecretRef"),
    ("replay-two-locations", lambda b: _source(b, 1)["replay"].update(path="/data/p.jsonl"),
     "spec.sources[1].replay", "exactly one of s3Uri or path"),
    ("replay-bad-uri", lambda b: _source(b, 1)["replay"].update(s3Uri="https://x/y"),
     "spec.sources[1].replay.s3Uri", "should match"),
    ("secret-ref-bad-name",
     lambda b: _source(b)["instagram"].update(sessionSecretRef={"name": "IG", "key": "s"}),
     "spec.sources[0].instagram.sessionSecretRef.name", "should match"),
    ("keyword-weight-range",
     lambda b: _spec(b)["analysis"]["keywords"][0].update(weight=1.5),
     "spec.analysis.keywords[0].weight", "less than or equal to 1"),
    ("duplicate-keywords",
     lambda b: _spec(b)["analysis"]["keywords"].append({"term": "RECALL"}),
     "spec.analysis.keywords", "keyword terms must be unique"),
    ("image-provider-enum", lambda b: _spec(b)["analysis"].update(image={"provider": "gcp"}),
     "spec.analysis.image.provider", 'Unsupported value: "gcp"'),
    ("unknown-moderation-category",
     lambda b: _spec(b)["analysis"].update(image={"categoryWeights": {"Cats": 0.5}}),
     "spec.analysis.image.categoryWeights", "keys must be top-level moderation categories"),
    ("unknown-risk-category",
     lambda b: _spec(b)["analysis"].update(riskCategories={"gossip": 0.5}),
     "spec.analysis.riskCategories", "keys must be built-in brand-risk categories"),
    ("risk-category-weight-above-one",
     lambda b: _spec(b)["analysis"].update(riskCategories={"boycott": 1.5}),
     "spec.analysis.riskCategories.boycott", "less than or equal to 1"),
    ("threshold-zero", lambda b: _spec(b).update(scoring={"alertThreshold": 0}),
     "spec.scoring.alertThreshold", "greater than 0"),
    ("weights-both-zero",
     lambda b: _spec(b).update(scoring={"textWeight": 0, "imageWeight": 0}),
     "spec.scoring", "cannot both be 0"),
    ("engine-enum", lambda b: _spec(b).update(processing={"engine": "flink"}),
     "spec.processing.engine", 'Unsupported value: "flink"'),
    ("cooldown-format", lambda b: _spec(b).update(alerts={"cooldown": "15 minutes"}),
     "spec.alerts.cooldown", "should match"),
    ("duplicate-webhook", lambda b: _spec(b).update(alerts={"webhooks": [
        {"name": "pr", "urlSecretRef": {"name": "w", "key": "url"}},
        {"name": "pr", "urlSecretRef": {"name": "w2", "key": "url"}}]}),
     "spec.alerts.webhooks[1]", "Duplicate value"),
    ("webhook-without-secret", lambda b: _spec(b).update(alerts={"webhooks": [{"name": "pr"}]}),
     "spec.alerts.webhooks[0].urlSecretRef", "Required value"),
    ("inline-webhook-url", lambda b: _spec(b).update(alerts={"webhooks": [
        {"name": "pr", "urlSecretRef": {"name": "w", "key": "url"}, "url": "https://hook/s3cret"}]}),
     "spec.alerts.webhooks[0].url", "unknown field"),
    ("partitions-zero", lambda b: _spec(b).update(topics={"partitions": 0}),
     "spec.topics.partitions", "greater than or equal to 1"),
    ("retention-format", lambda b: _spec(b).update(topics={"retention": "forever"}),
     "spec.topics.retention", "should match"),
    ("deletion-policy-enum", lambda b: _spec(b).update(deletionPolicy="Orphan"),
     "spec.deletionPolicy", 'Unsupported value: "Orphan"'),
    ("kafka-bootstrap-format",
     lambda b: _spec(b).update(connections={"kafka": {"bootstrapServers": "kafka please"}}),
     "spec.connections.kafka.bootstrapServers", "should match"),
    ("monitor-name-too-long", lambda b: b["metadata"].update(name="m" * 25),
     "<nil>", "metadata.name must be at most 24 characters"),
    ("monitor-name-with-dots", lambda b: b["metadata"].update(name="acme.eu"),
     "<nil>", "metadata.name must be a DNS label"),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "field", "says"), [c[1:] for c in INVALID],
                         ids=[c[0] for c in INVALID])  # fmt: skip
def test_invalid_monitor_is_rejected_naming_the_field(
    kube: client.ApiClient,
    namespace: str,
    mutate: Callable[[Body], None],
    field: str,
    says: str,
) -> None:
    body = valid()
    mutate(body)
    message = rejection(lambda: create(kube, namespace, body))
    assert field in message, message
    assert says in message, message


def test_the_valid_base_object_is_accepted(kube: client.ApiClient, namespace: str) -> None:
    # Guards the table: each case fails because of its mutation, not the base.
    create(kube, namespace, valid())


def test_defaults_are_applied_by_the_api_server(kube: client.ApiClient, namespace: str) -> None:
    body = valid()
    created = create(kube, namespace, body, dry_run=False)
    # Before any operator wrote status, kstatus readers (Flux, `kubectl wait`) see a
    # generation not yet observed: in progress, not Current.
    assert created["status"]["observedGeneration"] == 0
    assert created["metadata"]["generation"] == 1
    stored = created["spec"]
    assert stored["processing"] == {"engine": "ksqldb"}
    assert stored["topics"] == {"partitions": 3, "replicationFactor": 3, "retention": "7d"}
    assert stored["analysis"]["sentiment"] == {"enabled": True, "weight": 0.3}
    assert stored["analysis"]["image"]["provider"] == "none"
    assert stored["sources"][0]["schedule"] == "*/30 * * * *"
    assert stored["deletionPolicy"] == "Retain"
    # What the server stored is exactly what the model would have defaulted.
    assert (
        api.BrandMonitorSpec.model_validate(body["spec"]).model_dump(
            by_alias=True, exclude_none=True
        )
        == stored
    )


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"partitions": 2}, "spec.topics.partitions", "partitions cannot be decreased"),
        (
            {"replicationFactor": 1},
            "spec.topics.replicationFactor",
            "replicationFactor is immutable",
        ),
    ],
)
def test_transition_rules(
    kube: client.ApiClient, namespace: str, change: Body, field: str, says: str
) -> None:
    body = valid()
    body["spec"]["topics"] = {"partitions": 3, "replicationFactor": 3}
    create(kube, namespace, body, dry_run=False)
    objects = client.CustomObjectsApi(kube)
    patch = {"spec": {"topics": change}}
    message = rejection(
        lambda: objects.patch_namespaced_custom_object(
            api.GROUP, api.VERSION, namespace, api.PLURAL, "acme", patch
        )
    )
    assert f"{field}:" in message, message
    assert says in message, message
    # Growing is allowed.
    objects.patch_namespaced_custom_object(
        api.GROUP,
        api.VERSION,
        namespace,
        api.PLURAL,
        "acme",
        {"spec": {"topics": {"partitions": 6}}},
    )


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_samples_pass_the_schema(kube: client.ApiClient, namespace: str, sample: Path) -> None:
    create(kube, namespace, yaml.safe_load(sample.read_text()))
