"""The operator's S3 scope check (tenancy) and the scope it renders for the workers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from brandmon_operator import api, builders, status, tenancy
from brandmon_operator.settings import OperatorSettings
from brandmon_workers.contract.settings import WorkerSettings

pytestmark = pytest.mark.unit
# Each namespace's own S3 key, in a Secret of this name.
KEYED = OperatorSettings(s3_credentials_secret="s3-credentials")


def monitor(*uris: str, namespace: str = "tenant-a", bucket: str | None = None) -> builders.Monitor:
    spec: dict[str, object] = {
        "brand": "ACME",
        "sources": [{"name": f"r{i}", "replay": {"s3Uri": uri}} for i, uri in enumerate(uris)]
        + [{"name": "ig", "instagram": {"profiles": ["acme"]}}],
    }
    if bucket is not None:
        spec["connections"] = {"s3": {"bucket": bucket}}
    return builders.Monitor(namespace, "acme", "uid", 1, api.BrandMonitorSpec.model_validate(spec))


def test_a_monitor_inside_its_namespace_prefix_is_accepted() -> None:
    ok = monitor("s3://brandmon/tenant-a/acme/posts.jsonl")
    assert tenancy.s3_refusal(ok, KEYED) is None


def test_another_tenants_recording_is_refused_naming_the_field() -> None:
    attack = monitor(
        "s3://brandmon/tenant-a/ok.jsonl", "s3://brandmon/tenant-b/acme/recordings/private.jsonl"
    )
    refusal = tenancy.s3_refusal(attack, KEYED)
    assert refusal is not None
    assert (refusal.type, refusal.reason, refusal.ok, refusal.stalled) == (
        "S3Scoped", "S3UriOutsideNamespace", False, True,
    )  # fmt: skip
    assert refusal.message.startswith(
        "spec.sources[1].replay.s3Uri: s3://brandmon/tenant-b/acme/recordings/private.jsonl "
        "is outside s3://brandmon/tenant-a/"
    )
    assert "sources[0]" not in refusal.message


@pytest.mark.parametrize(
    "uri",
    [
        "s3://brandmon/tenant-a-evil/x.jsonl",
        "s3://brandmon/tenant-a",
        "s3://other/tenant-a/x.jsonl",
        "s3://brandmon/tenant-a/../tenant-b/x.jsonl",
        "s3://brandmon/tenant-a/%2e%2e/tenant-b/x.jsonl",
    ],
)
def test_near_misses_are_refused(uri: str) -> None:
    assert tenancy.s3_violations(monitor(uri), OperatorSettings()) != []


def test_the_admin_allow_list_opens_prefixes_per_namespace() -> None:
    settings = OperatorSettings(
        s3_allowed_prefixes={
            "*": ["s3://shared/recordings"],
            "tenant-a": ["s3://brandmon/tenant-b/public/"],
        },
        s3_ambient_identity=True,
    )
    assert settings.s3_read_prefixes("tenant-a") == [
        "s3://brandmon/tenant-b/public/", "s3://shared/recordings/",
    ]  # fmt: skip
    assert settings.s3_read_prefixes("tenant-c") == ["s3://shared/recordings/"]
    allowed = monitor("s3://shared/recordings/x.jsonl", "s3://brandmon/tenant-b/public/x.jsonl")
    assert tenancy.s3_refusal(allowed, settings) is None
    other = monitor("s3://brandmon/tenant-b/public/x.jsonl", namespace="tenant-c")
    assert tenancy.s3_violations(other, settings) != []
    assert tenancy.s3_violations(monitor("s3://shared/recordings-evil/x"), settings) != []


def test_a_malformed_allow_list_entry_stops_the_operator_at_start() -> None:
    with pytest.raises(ValidationError):
        OperatorSettings(s3_allowed_prefixes={"*": ["s3://shared/../other/"]})


def test_the_home_follows_the_monitors_bucket() -> None:
    own = monitor("s3://mybucket/tenant-a/x.jsonl", bucket="mybucket")
    assert tenancy.s3_refusal(own, KEYED) is None
    assert tenancy.s3_violations(
        monitor("s3://brandmon/tenant-a/x", bucket="mybucket"), OperatorSettings()
    )


def test_workers_without_s3_keys_are_refused_unless_the_administrator_allows_ambient() -> None:
    unkeyed = monitor("s3://brandmon/tenant-a/x.jsonl")
    refusal = tenancy.s3_refusal(unkeyed, OperatorSettings())
    assert refusal is not None
    assert (refusal.type, refusal.reason, refusal.stalled) == (
        "S3Scoped", "S3CredentialsNotConfigured", True,
    )  # fmt: skip
    assert "BRANDMON_OPERATOR_S3_CREDENTIALS_SECRET" in refusal.message
    assert "BRANDMON_OPERATOR_S3_AMBIENT_IDENTITY" in refusal.message
    assert tenancy.s3_refusal(unkeyed, OperatorSettings(s3_ambient_identity=True)) is None
    # A monitor's own connection (a profile's, resolved into the spec) may carry the Secret.
    own = api.BrandMonitorSpec.model_validate(
        {"brand": "ACME", "sources": [{"name": "ig", "instagram": {"profiles": ["acme"]}}],
         "connections": {"s3": {"bucket": "media", "credentialsSecretName": "k"}}}
    )  # fmt: skip
    keyed = builders.Monitor("tenant-a", "acme", "uid", 1, own)
    assert tenancy.s3_refusal(keyed, OperatorSettings()) is None
    env = {e["name"]: e for e in builders.build_deployment(keyed, KEYED, "archiver", "h")["spec"][
        "template"]["spec"]["containers"][0]["env"]}  # fmt: skip
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "k"


def test_workers_get_the_same_scope_from_the_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = OperatorSettings(s3_allowed_prefixes={"tenant-a": ["s3://shared/a"]})
    for name, value in builders.build_configmap(monitor(), settings)["data"].items():
        monkeypatch.setenv(name, value)
    scope = WorkerSettings().s3_scope()  # from the environment
    assert scope == tenancy.s3_scope(monitor(), settings)
    assert (scope.home, scope.read_only) == ("s3://brandmon/tenant-a/", ("s3://shared/a/",))


def with_connections(connections: dict[str, object], namespace: str = "shop") -> builders.Monitor:
    spec = {
        "brand": "ACME",
        "sources": [{"name": "ig", "instagram": {"profiles": ["acme"]}}],
        "connections": connections,
    }
    return builders.Monitor(namespace, "acme", "uid", 1, api.BrandMonitorSpec.model_validate(spec))


PROFILES = OperatorSettings(
    connection_profiles={
        "eu": {
            "kafka": {"bootstrapServers": "kafka.eu.svc:9092"},
            "s3": {"bucket": "media-eu"},
            "namespaces": ["shop"],
        },
        "shared": {"ksqldb": {"url": "https://ksqldb.infra.svc:8088"}},
    }
)


def test_a_profile_replaces_the_connections_with_the_administrators() -> None:
    resolved = tenancy.resolve_connections(with_connections({"profile": "eu"}), PROFILES)
    assert isinstance(resolved, builders.Monitor)
    chosen = resolved.spec.connections
    assert chosen.profile == "eu"
    assert chosen.kafka is not None
    assert chosen.kafka.bootstrap_servers == "kafka.eu.svc:9092"
    assert chosen.ksqldb is None  # unset parts stay the defaults
    # Workers and the S3 scope follow the profile's endpoints.
    worker = builders.worker_settings(resolved, PROFILES)
    assert worker.kafka_bootstrap_servers == "kafka.eu.svc:9092"
    assert worker.s3_scope().home == "s3://media-eu/shop/"


def test_a_profile_is_only_for_the_namespaces_it_lists() -> None:
    refused = tenancy.resolve_connections(with_connections({"profile": "eu"}, "other"), PROFILES)
    assert isinstance(refused, status.Concern)
    assert (refused.type, refused.reason, refused.stalled) == (
        "ConnectionsAllowed", "ConnectionNotAllowed", True,
    )  # fmt: skip
    assert refused.message.startswith(
        "spec.connections.profile: no connection profile 'eu' for namespace other "
        "(its profiles: shared)"
    )
    unknown = tenancy.resolve_connections(with_connections({"profile": "nope"}), PROFILES)
    assert isinstance(unknown, status.Concern)
    assert "(its profiles: eu, shared)" in unknown.message


@pytest.mark.parametrize(
    ("connections", "field"),
    [
        ({"kafka": {"bootstrapServers": "evil.example:9092"}}, "spec.connections.kafka"),
        ({"ksqldb": {"url": "http://127.0.0.1:1"}}, "spec.connections.ksqldb"),
        ({"s3": {"bucket": "other-tenant"}}, "spec.connections.s3"),
    ],
)
def test_endpoints_a_tenant_names_need_the_administrators_consent(
    connections: dict[str, object], field: str
) -> None:
    monitor = with_connections(connections)
    refused = tenancy.resolve_connections(monitor, OperatorSettings())
    assert isinstance(refused, status.Concern)
    assert refused.message.startswith(f"{field}: monitors may not name their own endpoints")
    allowed = OperatorSettings(allow_custom_endpoints=True)
    assert tenancy.resolve_connections(monitor, allowed) is monitor


def test_the_defaults_need_no_consent() -> None:
    monitor = with_connections({})
    assert tenancy.resolve_connections(monitor, OperatorSettings()) is monitor
