"""Operator-wide settings, read once at start-up from BRANDMON_OPERATOR_* variables.

These are the defaults a BrandMonitor's `connections` overrides, the worker image, and
how the operator runs. The Helm chart renders exactly these variables.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from brandmon_operator.api import KafkaConnection, KsqlDbConnection, S3Connection
from brandmon_operator.caps import Caps
from brandmon_workers.contract.base import ApiModel
from brandmon_workers.contract.settings import KafkaSecurityProtocol, ScramMechanism
from brandmon_workers.contract.storage import parse_prefix
from brandmon_workers.contract.topics import DEFAULT_PREFIX, TOPIC_PREFIX


class Resources(ApiModel):
    """Requests and limits of one worker container."""

    cpu_request: str = "50m"
    """CPU request."""

    memory_request: str = "128Mi"
    """Memory request."""

    cpu_limit: str = "1"
    """CPU limit."""

    memory_limit: str = "512Mi"
    """Memory limit."""

    def manifest(self) -> dict[str, dict[str, str]]:
        """Return the container `resources` block."""
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


class ConnectionProfile(ApiModel):
    """Connections an administrator defines, which monitors use by name.

    Monitors choose one with spec.connections.profile; unset parts are the defaults.
    """

    kafka: KafkaConnection | None = None
    """Kafka cluster."""

    ksqldb: KsqlDbConnection | None = None
    """ksqlDB server."""

    s3: S3Connection | None = None
    """S3 for media and archives."""

    namespaces: list[str] = Field(default=["*"], min_length=1)
    """Namespaces whose monitors may use the profile ("*": every namespace)."""

    def allows(self, namespace: str) -> bool:
        """Return whether monitors in `namespace` may use the profile."""
        return "*" in self.namespaces or namespace in self.namespaces


class KafkaSasl(ApiModel):
    """The operator's SASL/SCRAM sign-in to the default Kafka cluster (an administrator).

    It must be a super user, or hold Alter on the cluster (SCRAM credentials and ACLs)
    and the topic rights the operator needs.
    """

    security_protocol: KafkaSecurityProtocol = "SASL_SSL"
    """SASL_SSL, or SASL_PLAINTEXT inside a trusted network."""

    sasl_mechanism: ScramMechanism = "SCRAM-SHA-512"
    """SCRAM mechanism of the operator's and the monitors' credentials."""

    username: str = Field(min_length=1)
    """The operator's principal."""


class OperatorSettings(BaseSettings):
    """Everything the operator is configured with."""

    model_config = SettingsConfigDict(
        env_prefix="BRANDMON_OPERATOR_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    kafka_bootstrap_servers: str = "kafka:9092"
    """Default Kafka bootstrap servers."""

    kafka_sasl: KafkaSasl | None = None
    """SASL/SCRAM on the default Kafka cluster (JSON), e.g. {"securityProtocol":
    "SASL_SSL", "saslMechanism": "SCRAM-SHA-512", "username": "brandmon-operator"}. The
    operator signs in as that administrator and gives each monitor a principal of its own,
    allowed only the monitor's topics and consumer groups; unset, the cluster must take
    unauthenticated clients."""

    kafka_sasl_password: SecretStr | None = None
    """The administrator's password for kafka_sasl (the chart fills it from a Secret)."""

    ksqldb_url: str | None = None
    """Default ksqlDB REST URL (monitors with engine ksqldb need one)."""

    s3_endpoint_url: str | None = None
    """Default S3 endpoint; unset means AWS."""

    s3_bucket: str = "brandmon"
    """Default bucket for media and archives."""

    s3_region: str = "us-east-1"
    """Default S3 region."""

    s3_credentials_secret: str | None = None
    """Default Secret (in each monitor's namespace) with AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY. Give each namespace its own key, allowed only its prefix."""

    s3_ambient_identity: bool = False
    """Let workers of monitors without an S3 credentials Secret use their ambient AWS
    identity (IRSA, an instance profile, the environment). Off: such monitors are refused,
    so no identity shared by every namespace is used without the administrator saying so."""

    s3_allowed_prefixes: dict[str, list[str]] = {}
    """S3 prefixes monitors may read besides their own s3://<bucket>/<namespace>/, by
    namespace (key "*": every namespace), e.g. {"*": ["s3://recordings/shared/"]}. Read-only:
    workers write only under their namespace. An entry always means a whole folder."""

    topic_prefix: str = Field(default=DEFAULT_PREFIX, pattern=TOPIC_PREFIX)
    """Prefix of every topic name."""

    worker_image: str = "ghcr.io/brandmon/brandmon:0.1.0"
    """Image of every worker (the operator's own image)."""

    worker_image_pull_policy: str = "IfNotPresent"
    """Pull policy of worker containers."""

    worker_resources: Resources = Resources()
    """Requests and limits of each worker container."""

    namespaces: list[str] = []
    """Namespaces to watch; empty watches all."""

    resync_seconds: float = Field(default=60.0, gt=0)
    """Period of the drift-repair timer."""

    concurrent_reconciles: int = Field(default=20, ge=1, le=200)
    """Monitors reconciled at the same time (threads: they mostly wait on I/O)."""

    outbound_deadline_seconds: float = Field(default=15.0, gt=0, le=300)
    """Longest an HTTP call to a ksqlDB server may take, connect to last byte."""

    outbound_max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    """Largest answer read from a ksqlDB server; a larger one fails the call."""

    outbound_failures_to_pause: int = Field(default=3, ge=1)
    """Failed calls in a row after which calls to that endpoint pause (circuit open)."""

    outbound_pause_seconds: float = Field(default=30.0, gt=0)
    """How long calls to a failing endpoint pause before one trial call."""

    endpoint_slots_per_namespace: int = Field(default=2, ge=1)
    """Reconciles of one namespace that may wait on Kafka or ksqlDB endpoints its monitors
    name (spec.connections) at the same time; more are retried later, so one tenant's
    slow endpoints hold at most this many of the operator's threads."""

    connection_profiles: dict[str, ConnectionProfile] = {}
    """Named connections monitors may choose with spec.connections.profile, e.g.
    {"eu": {"kafka": {"bootstrapServers": "kafka.eu.svc:9092"}, "namespaces": ["shop"]}}."""

    allow_custom_endpoints: bool = False
    """Let monitors name their own Kafka, ksqlDB and S3 endpoints in spec.connections. Off,
    a monitor reaches only the defaults and the profiles it is allowed; one naming an
    endpoint is refused (ConnectionsAllowed=False, Stalled) and nothing is called."""

    caps: Caps = Caps()
    """Limits on what each monitor and namespace may ask for, enforced at admission (the
    chart's ValidatingAdmissionPolicy) and by the operator; JSON with camelCase keys, null
    lifts a cap."""

    @model_validator(mode="after")
    def _sasl_has_password(self) -> OperatorSettings:
        if self.kafka_sasl is not None and self.kafka_sasl_password is None:
            msg = "kafka_sasl is set but kafka_sasl_password is not"
            raise ValueError(msg)
        return self

    @field_validator("s3_allowed_prefixes")
    @classmethod
    def _canonical_prefixes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        # A malformed entry must stop the operator at start-up, not widen or break a scope.
        return {
            namespace: [parse_prefix(p) for p in prefixes] for namespace, prefixes in value.items()
        }

    def s3_read_prefixes(self, namespace: str) -> list[str]:
        """Return the extra prefixes monitors in `namespace` may read (canonical, sorted)."""
        allowed = self.s3_allowed_prefixes
        return sorted({*allowed.get("*", []), *allowed.get(namespace, [])})


def render_docs() -> str:
    """Return docs/operator-settings.md, generated from this model (`make docs`)."""
    prefix = OperatorSettings.model_config.get("env_prefix", "")
    lines = [
        "<!-- Generated from brandmon_operator.settings by `make docs`; do not edit. -->",
        "# Operator settings",
        "",
        "The operator reads these environment variables once at start-up. Lists and objects",
        "are JSON (`BRANDMON_OPERATOR_NAMESPACES='[\"brands\"]'`).",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    defaults = OperatorSettings.model_construct()
    for name, field in OperatorSettings.model_fields.items():
        value = getattr(defaults, name)
        shown = value.model_dump_json() if isinstance(value, ApiModel) else value
        description = " ".join((field.description or "").split())
        lines.append(f"| `{prefix}{name.upper()}` | `{shown}` | {description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_docs())
