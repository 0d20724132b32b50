"""Each monitor's own Kafka principal, on the platform's broker with SCRAM and ACLs.

The operator signs in over SASL/SCRAM as a least-privileged administrator (Alter on the
cluster, everything on its topic prefix) and gives each monitor a SCRAM user whose ACLs
cover exactly the monitor's topics and consumer groups. Two tenants' monitors carry the
same name in two namespaces: tenant A's credentials must not read, write or join B's.
A real worker process signs in with what the operator rendered (settings ConfigMap and
Secret) and does its work; deleting the monitor removes the principal.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from kubernetes import client

from brandmon_operator import api
from brandmon_workers.contract.messages import Post, Provenance
from brandmon_workers.contract.settings import KAFKA_PASSWORD_ENV
from brandmon_workers.contract.topics import TopicRole, consumer_group, topic_name
from tests.conftest import fresh_namespace, unique
from tests.platform.conftest import OperatorProcess, eventually
from tests.platform.test_operator import (
    children,
    condition,
    create_monitor,
    get_monitor,
    objects,
    sample,
)

MECHANISM = "SCRAM-SHA-512"


def sasl(platform_env: dict[str, str], user: str, password: str) -> dict[str, Any]:
    """librdkafka properties signing in to the platform's SASL listener."""
    return {
        "bootstrap.servers": platform_env["KAFKA_SASL_BOOTSTRAP_SERVERS"],
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": MECHANISM,
        "sasl.username": user,
        "sasl.password": password,
    }


def acls_of(user: str) -> AclBindingFilter:
    """Every ACL of the user (None: any name or host; the stubs say str only)."""
    return AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{user}", None,  # type: ignore[arg-type]
        AclOperation.ANY, AclPermissionType.ANY,
    )  # fmt: skip


@pytest.fixture
def operator_admin(kafka_admin: AdminClient, topic_prefix: str) -> Iterator[tuple[str, str]]:
    """A SCRAM user with only what the operator needs: Alter on the cluster, its prefix."""
    user, password = unique("operator"), secrets.token_urlsafe(24)
    upsert = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
    for future in kafka_admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=30)
    bindings = [
        AclBinding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL,
                   f"User:{user}", "*", op, AclPermissionType.ALLOW)
        for op in (AclOperation.ALTER, AclOperation.DESCRIBE)
    ] + [
        AclBinding(ResourceType.TOPIC, topic_prefix, ResourcePatternType.PREFIXED,
                   f"User:{user}", "*", AclOperation.ALL, AclPermissionType.ALLOW)
    ]  # fmt: skip
    for future in kafka_admin.create_acls(bindings).values():
        future.result(timeout=30)
    yield user, password
    for future in kafka_admin.delete_acls([acls_of(user)]).values():
        future.result(timeout=30)
    # Overwritten, not deleted, as the operator revokes (kafka_admin.KafkaTopics.revoke).
    unknown = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), secrets.token_bytes(24)
    )
    for future in kafka_admin.alter_user_scram_credentials([unknown]).values():
        future.result(timeout=30)


@pytest.fixture
def two_namespaces(kube: client.ApiClient) -> Iterator[tuple[str, str]]:
    """Tenant A's and tenant B's namespaces."""
    for a in fresh_namespace(kube, "ta"):
        for b in fresh_namespace(kube, "tb"):
            yield a, b


def secret_data(kube: client.ApiClient, namespace: str, name: str) -> dict[str, str]:
    secret = client.CoreV1Api(kube).read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def delivery_error(config: dict[str, Any], topic: str) -> KafkaError | None:
    """Produce one record; return the error of its delivery (None: delivered)."""
    outcome: list[KafkaError | None] = []
    producer = Producer(config | {"message.timeout.ms": 15000})
    producer.produce(topic, b"x", on_delivery=lambda error, _msg: outcome.append(error))
    producer.flush(30)
    assert outcome, "no delivery report"
    return outcome[0]


def consume_error(config: dict[str, Any], group: str, topic: str) -> KafkaError | None:
    """Subscribe as `group`; return the first error (None: a record arrived instead)."""
    consumer = Consumer(
        config | {"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error: KafkaError | None = message.error()
            return error
        pytest.fail(f"neither a record nor an error from {topic} as {group}")
    finally:
        consumer.close()


def operator_env(platform_env: dict[str, str], user: str, password: str) -> dict[str, str]:
    """The operator's settings for the SASL listener, signed in as `user`."""
    sign_in = {"securityProtocol": "SASL_PLAINTEXT", "saslMechanism": MECHANISM, "username": user}
    return {
        "kafka_bootstrap_servers": platform_env["KAFKA_SASL_BOOTSTRAP_SERVERS"],
        "kafka_sasl": json.dumps(sign_in),
        "kafka_sasl_password": password,
    }


def topics_ready(kube: client.ApiClient, namespace: str) -> bool:
    found = condition(get_monitor(kube, namespace, "acme"), "TopicsReady")
    return bool(found and found["status"] == "True")


def assert_isolated(a: dict[str, Any], ns_a: str, ns_b: str, prefix: str) -> None:
    """A's credentials reach A's topics and groups, and nothing of B's."""
    posts = {ns: topic_name(prefix, ns, "acme", TopicRole.POSTS) for ns in (ns_a, ns_b)}
    group = {ns: consumer_group(ns, "acme", "text-analyzer") for ns in (ns_a, ns_b)}
    assert delivery_error(a, posts[ns_a]) is None
    assert consume_error(a, group[ns_a], posts[ns_a]) is None
    refused = delivery_error(a, posts[ns_b])
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    joined = consume_error(a, group[ns_b], posts[ns_a])
    assert joined is not None
    assert joined.code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    read = consume_error(a, group[ns_a], posts[ns_b])
    assert read is not None
    assert read.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # A sees no topic but its own, and cannot make one (under B's name or any other).
    tenant_admin = AdminClient(a)
    visible = {t for t in tenant_admin.list_topics(timeout=10).topics if t.startswith(prefix)}
    assert visible
    assert all(t.startswith(f"{prefix}.{ns_a}.acme.") for t in visible)
    new = topic_name(prefix, ns_b, "acme", TopicRole.ALERTS) + "-x"
    with pytest.raises(KafkaException) as made:
        tenant_admin.create_topics([NewTopic(new, 1, 1)])[new].result(timeout=30)
    assert made.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    with pytest.raises(KafkaException):
        AdminClient(a | {"sasl.password": "wrong"}).list_topics(timeout=5)


def has_records(bootstrap: str, topic: str) -> bool:
    """Whether the topic holds a record (read through the harness's listener)."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reader")})
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        return any(
            reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] > 0
            for p in partitions
        )
    finally:
        reader.close()


def run_text_analyzer(
    settings: dict[str, str], a: dict[str, Any], names: tuple[str, str], log: Path, bootstrap: str
) -> None:
    """Run a worker process with the rendered settings and A's password; see it score a post."""
    posts, scores = names
    worker_env = dict(os.environ) | settings
    worker_env |= {
        KAFKA_PASSWORD_ENV: a["sasl.password"],
        "BRANDMON_HEALTH_PORT": "0",
        "BRANDMON_METRICS_PORT": "0",
    }
    with log.open("ab") as sink:
        worker = subprocess.Popen(
            [sys.executable, "-m", "brandmon_workers", "text-analyzer"],
            env=worker_env, stdout=sink, stderr=sink,
        )  # fmt: skip
    try:
        now = datetime.now(UTC)
        post = Post(post_id="p1", shortcode="s", username="u", url="https://x.invalid/p1",
                    caption="a data breach at acme", posted_at=now,
                    provenance=Provenance(source="t", collected_at=now, collector_version="t"))  # fmt: skip
        producer = Producer(a)
        producer.produce(posts, key=b"p1", value=post.model_dump_json().encode())
        assert producer.flush(30) == 0
        eventually(
            lambda: has_records(bootstrap, scores), timeout=90, what=f"a text score (log: {log})"
        )
    finally:
        worker.terminate()
        worker.wait(30)


def principal_revoked(kafka_admin: AdminClient, config: dict[str, Any]) -> bool:
    """Whether the user has no ACL left and its password no longer signs in."""
    if kafka_admin.describe_acls(acls_of(config["sasl.username"])).result(timeout=30):
        return False
    try:
        AdminClient(config).list_topics(timeout=5)
    except KafkaException:
        return True
    return False


def test_each_monitor_signs_in_as_itself_and_reaches_only_its_own_topics(
    kube: client.ApiClient,
    platform_env: dict[str, str],
    kafka_admin: AdminClient,
    operator_admin: tuple[str, str],
    two_namespaces: tuple[str, str],
    topic_prefix: str,
    run_operator: Callable[..., OperatorProcess],
    tmp_path: Path,
) -> None:
    ns_a, ns_b = two_namespaces
    run_operator(f"{ns_a},{ns_b}", **operator_env(platform_env, *operator_admin))
    body = sample()
    body["spec"]["processing"] = {"engine": "builtin"}
    for namespace in (ns_a, ns_b):
        create_monitor(kube, namespace, body)
        eventually(functools.partial(topics_ready, kube, namespace), timeout=90, what="topics")
    prefix = topic_prefix.rstrip(".")
    creds = {}
    for namespace in (ns_a, ns_b):
        data = secret_data(kube, namespace, "acme-kafka")
        assert data["username"] == f"{prefix}.{namespace}.acme"
        creds[namespace] = sasl(platform_env, data["username"], data["password"])
    a, b = creds[ns_a], creds[ns_b]

    # What the workers are given: the principal in the settings, the password by reference.
    settings = client.CoreV1Api(kube).read_namespaced_config_map("acme-settings", ns_a).data
    assert settings is not None
    assert json.loads(settings["BRANDMON_KAFKA_AUTH"])["username"] == a["sasl.username"]
    assert a["sasl.password"] not in json.dumps(settings)
    deployment = children(kube, ns_a, "acme")["acme-text-analyzer"]
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    reference = env[KAFKA_PASSWORD_ENV]["valueFrom"]["secretKeyRef"]
    assert reference == {"name": "acme-kafka", "key": "password"}

    assert_isolated(a, ns_a, ns_b, prefix)
    topics = (
        topic_name(prefix, ns_a, "acme", TopicRole.POSTS),
        topic_name(prefix, ns_a, "acme", TopicRole.TEXT_SCORES),
    )
    bootstrap = platform_env["KAFKA_BOOTSTRAP_SERVERS"]
    run_text_analyzer(settings, a, topics, tmp_path / "text-analyzer.log", bootstrap)

    # Deleting the monitor takes its principal away; B's stays.
    objects(kube).delete_namespaced_custom_object(api.GROUP, api.VERSION, ns_a, api.PLURAL, "acme")
    eventually(lambda: principal_revoked(kafka_admin, a), what="A's principal revoked")
    # Overwritten, never deleted: a deletion in the metadata log can make a restarted broker
    # lose every SCRAM user (kafka_admin.KafkaTopics.revoke).
    user = a["sasl.username"]
    assert kafka_admin.describe_user_scram_credentials([user])[user].result(timeout=10)  # type: ignore[index]
    assert delivery_error(b, topic_name(prefix, ns_b, "acme", TopicRole.POSTS)) is None
