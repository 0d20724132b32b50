"""Worker settings: the one contract between what the operator renders and workers read.

The operator builds a `WorkerSettings` and renders it with `to_env()` into a ConfigMap
(plus role-specific variables on each workload); a worker calls `WorkerSettings()` and
pydantic-settings parses the same variables back. Nested models travel as JSON. Secret
values never pass through here: settings name the environment variables that Kubernetes
fills from `secretKeyRef`s.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from brandmon_workers.contract.analysis import AnalysisSpec, ScoringSpec
from brandmon_workers.contract.base import ApiModel
from brandmon_workers.contract.messages import Severity
from brandmon_workers.contract.sources import (
    BlueskySource,
    InstagramSource,
    MastodonSource,
    RedditSource,
    ReplaySource,
    RssSource,
)
from brandmon_workers.contract.storage import S3Scope, home_prefix, parse_prefix
from brandmon_workers.contract.topics import TopicNames

ENV_PREFIX = "BRANDMON_"
# Where the collector finds an instaloader session mounted from a Secret.
INSTAGRAM_SESSION_PATH = "/var/run/brandmon/instagram/session"
# Environment variables Kubernetes fills from a source's Secret references.
MASTODON_TOKEN_ENV = "BRANDMON_MASTODON_TOKEN"  # noqa: S105 - a variable's name, not a token
REDDIT_CLIENT_ID_ENV = "REDDIT_CLIENT_ID"
REDDIT_CLIENT_SECRET_ENV = "REDDIT_CLIENT_SECRET"  # noqa: S105 - a variable's name
# Kubernetes fills it from the monitor's Kafka Secret (the operator made it).
KAFKA_PASSWORD_ENV = "BRANDMON_KAFKA_SASL_PASSWORD"  # noqa: S105 - a variable's name

KafkaSecurityProtocol = Literal["SASL_PLAINTEXT", "SASL_SSL"]
ScramMechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaAuth(ApiModel):
    """How a worker signs in to Kafka: SASL/SCRAM as its monitor's own principal."""

    security_protocol: KafkaSecurityProtocol
    """SASL_SSL, or SASL_PLAINTEXT inside a trusted network."""

    sasl_mechanism: ScramMechanism
    """The SCRAM mechanism of the principal's credential."""

    username: str
    """The monitor's principal; its password is in the environment variable KAFKA_PASSWORD_ENV."""


class KafkaAuthMissing(RuntimeError):  # noqa: N818 - a state of the pod, not a bug
    """The settings name a Kafka principal but the pod has no password for it."""


class WebhookTarget(ApiModel):
    """An alert receiver; its URL is in the environment variable `url_env`."""

    name: str
    """Receiver name (from the BrandMonitor)."""

    format: Literal["slack", "generic"]
    """Payload format."""

    url_env: str
    """Environment variable that Kubernetes fills from the receiver's Secret."""

    secret_env: str | None = None
    """Environment variable holding the HMAC signing key, when one is configured."""

    min_severity: Severity = "low"
    """Least severity of the alerts this receiver gets."""


class SourceSettings(ApiModel):
    """The one source a collector run serves (set on its CronJob only)."""

    name: str
    """Source name."""

    instagram: InstagramSource | None = None
    """Instagram settings, for an Instagram source."""

    replay: ReplaySource | None = None
    """Replay settings, for a replay source."""

    rss: RssSource | None = None
    """Feed settings, for a news source."""

    mastodon: MastodonSource | None = None
    """Mastodon settings, for a Mastodon source."""

    reddit: RedditSource | None = None
    """Reddit settings, for a Reddit source."""

    bluesky: BlueskySource | None = None
    """Jetstream settings, for a Bluesky source."""

    record_path: str | None = None
    """Also write every post sent as a replay-format line to this file (recording)."""

    def kind(self) -> str:
        """Return which kind of source this is, or "" unless exactly one kind is set."""
        kinds = [
            name
            for name in ("instagram", "replay", "rss", "mastodon", "reddit", "bluesky")
            if getattr(self, name) is not None
        ]
        return kinds[0] if len(kinds) == 1 else ""


class S3Settings(ApiModel):
    """Where media and archives go."""

    endpoint_url: str | None = None
    """S3 endpoint; None means AWS."""

    bucket: str
    """Bucket for media and archives."""

    region: str = "us-east-1"
    """Bucket region."""

    read_prefixes: list[str] = Field(default=[])
    """s3:// prefixes an administrator lets this monitor read besides its home,
    s3://<bucket>/<namespace>/ (set by the operator from its allow-list, never the spec)."""


class WorkerSettings(BaseSettings):
    """Everything a worker knows, parsed from BRANDMON_* environment variables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    namespace: str
    """Namespace of the monitor."""

    monitor: str
    """Name of the monitor."""

    brand: str
    """Display name of the brand."""

    kafka_bootstrap_servers: str
    """Kafka bootstrap servers."""

    kafka_auth: KafkaAuth | None = None
    """SASL sign-in to Kafka (None: the cluster takes unauthenticated clients)."""

    topics: TopicNames
    """Topic names of this monitor."""

    analysis: AnalysisSpec = AnalysisSpec()
    """Text and image analysis."""

    scoring: ScoringSpec = ScoringSpec()
    """Weights and alert threshold."""

    alert_cooldown_seconds: int = Field(default=900, ge=0)
    """Minimum time between two alerts about the same account."""

    webhooks: list[WebhookTarget] = []
    """Alert receivers."""

    s3: S3Settings
    """Media and archive storage."""

    source: SourceSettings | None = None
    """The collector's source (CronJobs only)."""

    health_port: int = Field(default=8080, ge=0, le=65535)
    """Port of /healthz and /readyz (0: none)."""

    metrics_port: int = Field(default=9102, ge=0, le=65535)
    """Port of the Prometheus metrics (0: none)."""

    def s3_scope(self) -> S3Scope:
        """Return what this monitor may read and write in S3 (see contract.storage)."""
        return S3Scope(
            home=home_prefix(self.s3.bucket, self.namespace),
            read_only=tuple(parse_prefix(p) for p in self.s3.read_prefixes),
        )

    def kafka_client_config(self) -> dict[str, str]:
        """Return the librdkafka properties that reach this monitor's Kafka cluster as it."""
        config = {"bootstrap.servers": self.kafka_bootstrap_servers}
        if self.kafka_auth is None:
            return config
        password = os.environ.get(KAFKA_PASSWORD_ENV)
        if not password:
            msg = (
                f"kafka_auth names principal {self.kafka_auth.username} but "
                f"{KAFKA_PASSWORD_ENV} is not set (the monitor's Kafka Secret is not mounted)"
            )
            raise KafkaAuthMissing(msg)
        return config | {
            "security.protocol": self.kafka_auth.security_protocol,
            "sasl.mechanism": self.kafka_auth.sasl_mechanism,
            "sasl.username": self.kafka_auth.username,
            "sasl.password": password,
        }

    def to_env(self) -> dict[str, str]:
        """Render the settings as the environment variables `WorkerSettings()` parses."""
        env: dict[str, str] = {}
        for field, value in self.model_dump(mode="json", exclude_none=True).items():
            key = ENV_PREFIX + field.upper()
            env[key] = value if isinstance(value, str) else _json(value)
        return env


def _json(value: object) -> str:
    import json  # noqa: PLC0415 - keep the module's import surface small

    return json.dumps(value, separators=(",", ":"), sort_keys=True)
