"""A monitor's own Kafka principal: its name, its ACLs, and what its workers are given."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from brandmon_operator import builders, principals
from brandmon_operator.principals import Grant, Operation, Resource
from brandmon_operator.settings import KafkaSasl, OperatorSettings
from brandmon_workers.contract.settings import (
    KAFKA_PASSWORD_ENV,
    KafkaAuthMissing,
    WorkerSettings,
)
from brandmon_workers.contract.topics import TopicNames, TopicRole, consumer_group
from tests.unit.test_builders import SETTINGS, monitor, pod_specs

SASL = OperatorSettings(
    kafka_bootstrap_servers=SETTINGS.kafka_bootstrap_servers,
    s3_credentials_secret=SETTINGS.s3_credentials_secret,
    kafka_sasl=KafkaSasl(security_protocol="SASL_SSL", username="brandmon-operator"),
    kafka_sasl_password="admin-password",
)


def names(namespace: str, monitor_name: str, prefix: str = "brandmon") -> TopicNames:
    return TopicNames(prefix=prefix, namespace=namespace, monitor=monitor_name)


def test_the_principal_may_read_write_and_describe_its_topics_and_use_its_groups_only() -> None:
    found = principals.principal(names("shop", "acme"), "SCRAM-SHA-512")
    assert found.user == "brandmon.shop.acme"
    assert found.acl_principal == "User:brandmon.shop.acme"
    assert set(found.grants) == {
        Grant(Resource.TOPIC, "brandmon.shop.acme.", Operation.READ),
        Grant(Resource.TOPIC, "brandmon.shop.acme.", Operation.WRITE),
        Grant(Resource.TOPIC, "brandmon.shop.acme.", Operation.DESCRIBE),
        Grant(Resource.GROUP, "brandmon.shop.acme.", Operation.READ),
        Grant(Resource.GROUP, "brandmon.shop.acme.", Operation.DESCRIBE),
    }


def test_every_topic_and_group_of_the_monitor_is_covered() -> None:
    topic_names = names("shop", "acme", prefix="corp.bm")
    found = principals.principal(topic_names, "SCRAM-SHA-256")
    prefixes = {(g.resource, g.prefix) for g in found.grants}
    for role in TopicRole:
        assert any(r is Resource.TOPIC and topic_names.of(role).startswith(p) for r, p in prefixes)
    for group in (
        consumer_group("shop", "acme", "notifier"),
        topic_names.of(TopicRole.POSTS) + ".reader",  # the start-up rebuild's reader
    ):
        assert any(r is Resource.GROUP and group.startswith(p) for r, p in prefixes)


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [
        (("shop", "eu"), ("shop", "eu-web")),  # a name that extends another
        (("shop", "web"), ("shop-eu", "web")),  # a namespace that extends another
        (("a-b", "c"), ("a", "b-c")),  # dashes moved between the two
    ],
)
def test_no_grant_reaches_another_monitors_topic_or_group(
    mine: tuple[str, str], theirs: tuple[str, str]
) -> None:
    found = principals.principal(names(*mine), "SCRAM-SHA-512")
    other = names(*theirs)
    foreign = [other.of(role) for role in TopicRole]
    foreign += [consumer_group(*theirs, "aggregator"), other.of(TopicRole.POSTS) + ".reader"]
    for grant in found.grants:
        assert not any(name.startswith(grant.prefix) for name in foreign), grant
    assert found.user != principals.principal(other, "SCRAM-SHA-512").user


def test_passwords_are_fresh_and_long() -> None:
    first, second = principals.new_password(), principals.new_password()
    assert first != second
    assert len(first) >= 40


def test_workers_get_the_principal_in_settings_and_the_password_by_reference() -> None:
    acme = monitor(processing={"engine": "builtin"})
    settings = builders.worker_settings(acme, SASL)
    assert settings.kafka_auth is not None
    assert settings.kafka_auth.username == "brandmon.brands.acme"
    assert settings.kafka_auth.security_protocol == "SASL_SSL"
    rendered = builders.build_configmap(acme, SASL)["data"]
    assert "admin-password" not in json.dumps(rendered)
    specs = pod_specs(builders.desired_children(acme, SASL))
    assert specs
    for spec in specs:
        for container in spec["containers"]:
            env = {e["name"]: e for e in container["env"]}
            assert env[KAFKA_PASSWORD_ENV]["valueFrom"]["secretKeyRef"] == {
                "name": "acme-kafka",
                "key": "password",
            }


def test_a_monitor_on_another_cluster_or_without_sasl_has_no_principal() -> None:
    acme = monitor(processing={"engine": "builtin"})
    assert builders.monitor_principal(acme, SETTINGS) is None
    assert builders.worker_settings(acme, SETTINGS).kafka_auth is None
    elsewhere = monitor(
        processing={"engine": "builtin"}, connections={"kafka": {"bootstrapServers": "k:9092"}}
    )
    assert builders.monitor_principal(elsewhere, SASL) is None
    for spec in pod_specs(builders.desired_children(elsewhere, SASL)):
        for container in spec["containers"]:
            assert KAFKA_PASSWORD_ENV not in {e["name"] for e in container["env"]}


def test_the_secret_is_the_monitors_child_and_names_the_user() -> None:
    acme = monitor()
    found = principals.principal(names("brands", "acme"), "SCRAM-SHA-512")
    secret = builders.build_kafka_secret(acme, found, "pw")
    assert secret["metadata"]["name"] == "acme-kafka"
    assert secret["metadata"]["ownerReferences"][0]["controller"] is True
    assert secret["stringData"] == {"username": "brandmon.brands.acme", "password": "pw"}


def test_a_worker_signs_in_with_the_password_from_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = builders.worker_settings(monitor(processing={"engine": "builtin"}), SASL)
    parsed = WorkerSettings.model_validate_json(settings.model_dump_json())
    monkeypatch.delenv(KAFKA_PASSWORD_ENV, raising=False)
    with pytest.raises(KafkaAuthMissing, match=KAFKA_PASSWORD_ENV):
        parsed.kafka_client_config()
    monkeypatch.setenv(KAFKA_PASSWORD_ENV, "s3cret")
    assert parsed.kafka_client_config() == {
        "bootstrap.servers": "kafka.infra:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "brandmon.brands.acme",
        "sasl.password": "s3cret",
    }


def test_operator_sasl_needs_a_password() -> None:
    with pytest.raises(ValidationError, match="kafka_sasl_password"):
        OperatorSettings(kafka_sasl=KafkaSasl(username="op"))
    assert "admin-password" not in repr(SASL)
