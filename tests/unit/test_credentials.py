"""Where a monitor's credentials may go, and what they may set (no cluster, no I/O)."""

from __future__ import annotations

import re

import pytest

from brandmon_operator import credentials
from brandmon_operator.credentials import CredentialsRefused

RELEASED = {credentials.RELEASE_ANNOTATION: "ksqldb.infra.svc:8088, Kafka-0.kafka:9092,[::1]:9"}


def test_a_secret_goes_only_to_the_endpoints_its_owner_listed() -> None:
    credentials.check_release("ns/s", RELEASED, ["ksqldb.infra.svc:8088"])
    credentials.check_release("ns/s", RELEASED, ["kafka-0.kafka:9092", "[::1]:9"])
    with pytest.raises(CredentialsRefused, match=r"not released to evil\.example:8088"):
        credentials.check_release("ns/s", RELEASED, ["evil.example:8088"])
    # Every endpoint of a list must be released, not just one.
    with pytest.raises(CredentialsRefused, match=r"kafka-1\.kafka:9092"):
        credentials.check_release("ns/s", RELEASED, ["kafka-0.kafka:9092", "kafka-1.kafka:9092"])
    # Same host, another port: another listener.
    with pytest.raises(CredentialsRefused):
        credentials.check_release("ns/s", RELEASED, ["ksqldb.infra.svc:8089"])
    with pytest.raises(CredentialsRefused, match=r"brandmon\.io/release-to"):
        credentials.check_release("ns/s", None, ["ksqldb.infra.svc:8088"])
    with pytest.raises(CredentialsRefused, match="not host:port"):
        credentials.released_to({credentials.RELEASE_ANNOTATION: "ksqldb.infra.svc"})


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("http://ksqldb.infra.svc:8088", "ksqldb.infra.svc:8088"),
        ("https://ksql.example.com/", "ksql.example.com:443"),
        ("http://user:pw@ksqldb/", "ksqldb:80"),
        ("http://[::1]:9/x", "[::1]:9"),
    ],
)
def test_the_endpoint_of_a_url_is_where_it_connects(url: str, endpoint: str) -> None:
    assert credentials.url_endpoint(url) == endpoint


@pytest.mark.parametrize(
    "url",
    ["https://ksql.example.com", "http://ksqldb:8088", "http://ksqldb.infra.svc:8088",
     "http://ksqldb.infra.svc.cluster.local", "http://127.0.0.1:1", "http://[::1]:9",
     "http://localhost:8088"],
)  # fmt: skip
def test_credentials_travel_in_clear_only_inside_the_cluster(url: str) -> None:
    credentials.check_transport(url)


@pytest.mark.parametrize("url", ["http://ksql.example.com", "http://10.0.0.5:8088"])
def test_credentials_to_other_hosts_need_https(url: str) -> None:
    with pytest.raises(CredentialsRefused, match="only over https"):
        credentials.check_transport(url)


@pytest.mark.parametrize(
    ("servers", "protocol"),
    [(["kafka.infra.svc:9092", "127.0.0.1:9092", "[::1]:9092", "kafka:9092"], "SASL_PLAINTEXT"),
     (["kafka.example.com:9093"], "SASL_SSL"), (["10.0.0.5:9093"], "ssl")],
)  # fmt: skip
def test_kafka_credentials_go_in_clear_only_inside_the_cluster(
    servers: list[str], protocol: str
) -> None:
    credentials.check_kafka_transport(servers, {"security.protocol": protocol})


@pytest.mark.parametrize(
    ("servers", "properties", "named"),
    [(["kafka.infra.svc:9092", "kafka.example.com:9092"], {"security.protocol": "SASL_PLAINTEXT"},
      "kafka.example.com only over TLS (security.protocol SASL_SSL or SSL, not SASL_PLAINTEXT)"),
     (["10.0.0.5:9092"], {"sasl.password": "p"}, "10.0.0.5 only over TLS"),
     (["[2001:db8::1]:9092"], {"security.protocol": "sasl_plaintext"}, "2001:db8::1 only")],
)  # fmt: skip
def test_kafka_credentials_to_other_hosts_need_tls(
    servers: list[str], properties: dict[str, str], named: str
) -> None:
    with pytest.raises(CredentialsRefused, match=re.escape(named)):
        credentials.check_kafka_transport(servers, properties)


def test_kafka_credentials_set_only_allowed_properties() -> None:
    text = "# SASL\nsecurity.protocol=SASL_SSL\nsasl.mechanism = SCRAM-SHA-512\n\nsasl.username=u\nsasl.password=p=q\n"
    assert credentials.kafka_properties(text) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "u",
        "sasl.password": "p=q",
    }
    for line in ("plugin.library.paths=/tmp/x.so", "debug=all", "ssl.ca.location=/etc/shadow",
                 "sasl.oauthbearer.token.endpoint.url=http://evil"):  # fmt: skip
        with pytest.raises(CredentialsRefused, match=re.escape(repr(line.split("=")[0]))):
            credentials.kafka_properties(line)


def test_a_refused_line_that_is_not_a_property_name_is_not_echoed() -> None:
    with pytest.raises(CredentialsRefused) as refused:
        credentials.kafka_properties("Hunter2-Secret=x")
    assert "Hunter2" not in str(refused.value)
