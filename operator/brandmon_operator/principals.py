"""Pure rules for a monitor's own Kafka principal: its name, its Secret and its ACLs.

On a cluster with SASL (operator setting `kafka_sasl`), every monitor on the default
cluster signs in as a SCRAM user of its own, `<topic prefix>.<namespace>.<monitor>`, which
the operator creates with prefixed ACLs on exactly the monitor's topics
(`<prefix>.<namespace>.<monitor>.`) and consumer groups (`brandmon.<namespace>.<monitor>.`
and the topic prefix). Namespace and monitor names are DNS labels, so no other monitor's
topic or group starts with those prefixes: tenant A's credentials cannot read, write or
join B's. The password lives in a Secret the monitor controls (`<monitor>-kafka`, garbage
collected with it); workers get it by `secretKeyRef`, never through the settings.

Topics are created, resized and deleted by the operator alone, so the principal gets no
Create, Delete or Alter: a worker cannot make topics under someone else's name either.

No I/O here: `kafka_admin` applies the bindings, `cluster` writes the Secret.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from brandmon_workers.contract.settings import KafkaAuth, KafkaSecurityProtocol, ScramMechanism
from brandmon_workers.contract.topics import TopicNames, consumer_group

PASSWORD_KEY = "password"  # noqa: S105 - a Secret's key, not a password
USERNAME_KEY = "username"
KAFKA_CHILD = "kafka"
"""The component name of the monitor's Kafka Secret, `<monitor>-kafka`."""
# Kafka's default for SCRAM credentials made by its tools; 4096 is the least it accepts.
SCRAM_ITERATIONS = 8192


class Resource(StrEnum):
    """Kafka resource types a monitor's principal is granted on."""

    TOPIC = "topic"
    GROUP = "group"


class Operation(StrEnum):
    """Kafka ACL operations a monitor's principal is granted."""

    READ = "read"
    WRITE = "write"
    DESCRIBE = "describe"


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL on every resource whose name starts with `prefix`, from any host."""

    resource: Resource
    prefix: str
    operation: Operation


@dataclass(frozen=True)
class Principal:
    """A monitor's Kafka identity: its SCRAM user and what it may do."""

    user: str
    mechanism: ScramMechanism
    grants: tuple[Grant, ...]

    @property
    def acl_principal(self) -> str:
        """Return the principal as Kafka's ACLs name it."""
        return f"User:{self.user}"


def principal(names: TopicNames, mechanism: ScramMechanism) -> Principal:
    """Return the principal of the monitor whose topics are `names`."""
    topics = names.monitor_prefix()
    groups = sorted({consumer_group(names.namespace, names.monitor, ""), topics})
    grants = [
        *(Grant(Resource.TOPIC, topics, op) for op in Operation),
        # Joining a group and committing offsets is Read; reading its offsets is Describe.
        *(
            Grant(Resource.GROUP, group, op)
            for group in groups
            for op in (Operation.READ, Operation.DESCRIBE)
        ),
    ]
    return Principal(topics.removesuffix("."), mechanism, tuple(sorted(grants)))


def worker_auth(found: Principal, security_protocol: KafkaSecurityProtocol) -> KafkaAuth:
    """Return how the monitor's workers sign in (the password comes from its Secret)."""
    return KafkaAuth(
        security_protocol=security_protocol, sasl_mechanism=found.mechanism, username=found.user
    )


def new_password() -> str:
    """Return a fresh password for a monitor's principal (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)
