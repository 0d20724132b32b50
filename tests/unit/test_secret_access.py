"""The Secrets a BrandMonitor names, as the admission policy reads them."""

from __future__ import annotations

import pytest
import yaml

from brandmon_operator import secret_access

pytestmark = pytest.mark.unit


def test_every_secret_reference_of_the_api_is_found() -> None:
    # A new reference in the API shows up here; the policy then covers it with no change.
    assert [str(path) for path in secret_access.secret_paths()] == [
        "spec.sources[].instagram.sessionSecretRef.name",
        "spec.sources[].mastodon.tokenSecretRef.name",
        "spec.sources[].reddit.credentialsSecretName",
        "spec.alerts.webhooks[].urlSecretRef.name",
        "spec.alerts.webhooks[].signingSecretRef.name",
        "spec.connections.kafka.credentialsSecretRef.name",
        "spec.connections.ksqldb.credentialsSecretRef.name",
        "spec.connections.s3.credentialsSecretName",
    ]


def test_secret_names_are_listed_once_in_path_order() -> None:
    spec = {
        "sources": [
            {"name": "a", "instagram": {"sessionSecretRef": {"name": "ig", "key": "s"}}},
            {"name": "b", "reddit": {"credentialsSecretName": "reddit-app"}},
            {"name": "c", "rss": {"feeds": ["https://a.example/f"]}},
        ],
        "alerts": {
            "webhooks": [
                {"name": "w", "urlSecretRef": {"name": "hooks", "key": "pr"},
                 "signingSecretRef": {"name": "hooks", "key": "signing"}},
            ]
        },
        "connections": {"s3": {"bucket": "b", "credentialsSecretName": "s3"}},
    }  # fmt: skip
    assert secret_access.secret_names(spec) == ["ig", "reddit-app", "hooks", "s3"]
    assert secret_access.secret_names({"sources": []}) == []


def test_the_policy_asks_the_authorizer_only_about_newly_named_secrets() -> None:
    policy = secret_access.admission_policy()
    variables = {v["name"]: v["expression"] for v in policy["variables"]}
    for path in secret_access.secret_paths():
        leaf = path.after if path.listed else path.before
        assert ".".join(leaf) in variables["named"]
    assert variables["before"].startswith("oldObject == null ? [] : ")
    assert "!(n in variables.before)" in variables["added"]
    assert ".check('get').allowed()" in policy["validations"][0]["expression"]
    # Writes that keep the spec (finalizers, labels) are not checked at all.
    assert policy["matchConditions"][0]["expression"] == (
        "oldObject == null || object.spec != oldObject.spec"
    )
    yaml.safe_dump(policy)  # plain data, as the chart template embeds it
