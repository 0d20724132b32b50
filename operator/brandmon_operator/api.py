"""The BrandMonitor API, brandmon.io/v1alpha1: the single source of truth for the CRD.

The CRD YAML in crds/ is generated from these models by `make crds` (see `crd.py`); field
docstrings become the descriptions `kubectl explain` shows, Field constraints become the
OpenAPI schema, and `x-kubernetes-validations` entries are CEL rules the API server runs.
Handlers parse every body into `BrandMonitorSpec` first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from brandmon_workers.contract.analysis import AnalysisSpec, ScoringSpec
from brandmon_workers.contract.base import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    DURATION,
    ApiModel,
    SecretKeyRef,
)
from brandmon_workers.contract.messages import Severity
from brandmon_workers.contract.sources import (
    ANONYMOUS_POST_LIMIT,
    BlueskySource,
    InstagramSource,
    MastodonSource,
    RedditSource,
    ReplaySource,
    RssSource,
    SourceResult,
)

GROUP = "brandmon.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "BrandMonitor"
PLURAL = "brandmonitors"
SINGULAR = "brandmonitor"
SHORT_NAMES = ("bm",)
CATEGORIES = ("brandmon",)

# Child names are built from the monitor and source names and must stay within the
# 52 characters a CronJob name may have: "<monitor>-src-<source>".
MAX_MONITOR_NAME = 24
MAX_SOURCE_NAME = 20

CRON = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    r"|(\S+\s+){4}\S+)$"
)


def _rules(*rules: tuple[str, str] | tuple[str, str, str]) -> dict[str, Any]:
    """CEL rules as schema extras: (rule, message[, fieldPath])."""
    out = []
    for rule in rules:
        entry = {"rule": rule[0], "message": rule[1]}
        if len(rule) == 3:  # noqa: PLR2004 - (rule, message, fieldPath)
            entry["fieldPath"] = rule[2]
        out.append(entry)
    return {"x-kubernetes-validations": out}


SOURCE_KINDS = ("instagram", "replay", "rss", "mastodon", "reddit", "bluesky")
# Kinds collected by a long-running Deployment (a stream) rather than a CronJob (polling).
STREAMING_KINDS = ("bluesky",)


def _nonempty(path: str) -> str:
    return f"(has(self.{path}) && size(self.{path}) > 0)"


class Source(ApiModel):
    """One place posts come from, polled by a CronJob or (bluesky) followed by a Deployment."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": _rules(
            (
                " + ".join(f"(has(self.{kind}) ? 1 : 0)" for kind in SOURCE_KINDS) + " == 1",
                "exactly one of instagram, replay, rss, mastodon, reddit or bluesky must be set",
            ),
            (
                "!has(self.instagram) || has(self.instagram.sessionSecretRef) || "
                "!has(self.instagram.hashtags) || size(self.instagram.hashtags) == 0",
                "instagram.hashtags need instagram.sessionSecretRef: Instagram serves "
                "hashtags only to logged-in sessions",
                ".instagram.hashtags",
            ),
            (
                "!has(self.instagram) || has(self.instagram.sessionSecretRef) || "
                f"self.instagram.maxPostsPerProfile <= {ANONYMOUS_POST_LIMIT}",
                f"instagram.maxPostsPerProfile above {ANONYMOUS_POST_LIMIT} needs "
                "instagram.sessionSecretRef: anonymous access serves about "
                f"{ANONYMOUS_POST_LIMIT} posts",
                ".instagram.maxPostsPerProfile",
            ),
            (
                "!has(self.replay) || (has(self.replay.s3Uri) ? 1 : 0) + "
                "(has(self.replay.path) ? 1 : 0) == 1",
                "replay needs exactly one of s3Uri or path",
                ".replay",
            ),
            (
                f"!has(self.rss) || {_nonempty('rss.feeds')} || "
                f"{_nonempty('rss.searchTerms')} || (has(self.rss.searchBrand) && "
                "self.rss.searchBrand)",
                "rss needs at least one of rss.feeds, rss.searchTerms or rss.searchBrand",
                ".rss",
            ),
            (
                f"!has(self.mastodon) || {_nonempty('mastodon.hashtags')} || "
                f"{_nonempty('mastodon.searchTerms')}",
                "mastodon needs at least one of mastodon.hashtags or mastodon.searchTerms",
                ".mastodon",
            ),
            (
                f"!has(self.mastodon) || !{_nonempty('mastodon.searchTerms')} || "
                "has(self.mastodon.tokenSecretRef)",
                "mastodon.searchTerms need mastodon.tokenSecretRef: Mastodon serves status "
                "search only to authenticated clients",
                ".mastodon.searchTerms",
            ),
            (
                f"!has(self.reddit) || {_nonempty('reddit.subreddits')} || "
                f"{_nonempty('reddit.searchQueries')}",
                "reddit needs at least one of reddit.subreddits or reddit.searchQueries",
                ".reddit",
            ),
            (
                "!has(self.reddit) || !has(self.reddit.includeComments) || "
                f"!self.reddit.includeComments || {_nonempty('reddit.subreddits')}",
                "reddit.includeComments needs reddit.subreddits: comments are read per subreddit",
                ".reddit.includeComments",
            ),
            (
                f"!has(self.bluesky) || {_nonempty('bluesky.terms')} || "
                f"{_nonempty('bluesky.handles')} || {_nonempty('bluesky.domains')} || "
                "!has(self.bluesky.matchBrand) || self.bluesky.matchBrand",
                "bluesky needs at least one of bluesky.terms, bluesky.handles, "
                "bluesky.domains or bluesky.matchBrand",
                ".bluesky",
            ),
        ),
    }

    name: str = Field(pattern=DNS_LABEL, min_length=1, max_length=MAX_SOURCE_NAME)
    """Unique name of the source (a DNS label); part of its CronJob's name."""

    schedule: str = Field(default="*/30 * * * *", pattern=CRON, max_length=100)
    """Cron schedule of collection runs (five fields, or @hourly and friends); streaming
    kinds (bluesky) run continuously and ignore it."""

    suspend: bool = False
    """Stop scheduling runs of this source only (a streaming source scales to zero)."""

    instagram: InstagramSource | None = None
    """Collect public Instagram profiles and posts."""

    replay: ReplaySource | None = None
    """Replay recorded posts (backtesting, demos)."""

    rss: RssSource | None = None
    """Collect news and blog articles from RSS and Atom feeds and news searches."""

    mastodon: MastodonSource | None = None
    """Collect statuses from hashtag and search timelines of Mastodon instances."""

    reddit: RedditSource | None = None
    """Collect Reddit posts (and comments) from subreddits and searches."""

    bluesky: BlueskySource | None = None
    """Follow Bluesky's public firehose (Jetstream) for posts about the brand."""

    def kind(self) -> str:
        """Return the source's kind (the one kind field that is set)."""
        return next((k for k in SOURCE_KINDS if getattr(self, k) is not None), "")

    @property
    def streaming(self) -> bool:
        """Return whether a Deployment (not a CronJob) collects this source."""
        return self.kind() in STREAMING_KINDS


class ProcessingSpec(ApiModel):
    """Where weighted scores are aggregated."""

    engine: Literal["ksqldb", "builtin"] = "ksqldb"
    """ksqldb (statements reconciled through its REST API) or builtin (an aggregator Deployment)."""


class Webhook(ApiModel):
    """An alert receiver whose URL is kept in a Secret."""

    name: str = Field(pattern=DNS_LABEL, min_length=1, max_length=63)
    """Unique name of the receiver."""

    url_secret_ref: SecretKeyRef
    """Secret key holding the webhook URL (URLs of chat webhooks are credentials)."""

    format: Literal["slack", "generic"] = "generic"
    """Payload format: slack (Slack incoming webhook) or generic (the alert as JSON)."""

    signing_secret_ref: SecretKeyRef | None = None
    """Secret key holding the HMAC-SHA256 key that signs generic payloads: header
    X-Brandmon-Signature: v1=<hex> over "<X-Brandmon-Timestamp>.<X-Brandmon-Delivery>.<body>"
    (README: verifying signed webhooks)."""

    min_severity: Severity = "low"
    """Send only alerts of at least this severity (low, medium, high, critical), e.g. high
    for a pager. Severity is by the post's reach: the author's followers and the post's
    likes and comments."""


class AlertsSpec(ApiModel):
    """Who is told about damaging posts, and how often."""

    cooldown: str = Field(default="15m", pattern=DURATION, max_length=32)
    """Minimum time between two alerts about the same account."""

    webhooks: list[Webhook] = Field(
        default=[],
        max_length=20,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """Receivers of every alert."""


class KafkaConnection(ApiModel):
    """Kafka cluster override."""

    bootstrap_servers: str = Field(
        pattern=r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}(,[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5})*$",
        max_length=1024,
    )
    """Comma-separated host:port list."""

    credentials_secret_ref: SecretKeyRef | None = None
    """Secret key holding librdkafka client properties (SASL etc.) as key=value lines. The
    Secret must list every bootstrap server in its brandmon.io/release-to annotation."""


class KsqlDbConnection(ApiModel):
    """ksqlDB server override."""

    url: str = Field(pattern=r"^https?://[^\s/]+(/.*)?$", max_length=1024)
    """Base URL of the ksqlDB REST API."""

    credentials_secret_ref: SecretKeyRef | None = None
    """Secret key holding user:password for HTTP basic authentication. The Secret must list
    the server's host:port in its brandmon.io/release-to annotation."""


class S3Connection(ApiModel):
    """S3 override for media and archives."""

    endpoint_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/.*)?$")
    """S3 endpoint; unset means AWS's regional endpoint."""

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    """Bucket for media and archives."""

    region: str = Field(default="us-east-1", pattern=r"^[a-z0-9-]+$", max_length=32)
    """Region of the bucket (Rekognition must run in the same region)."""

    credentials_secret_name: str | None = Field(default=None, pattern=DNS_SUBDOMAIN, max_length=253)
    """Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; unset uses the defaults."""


class ConnectionsSpec(ApiModel):
    """Overrides of the operator's default connections; unset parts use the defaults."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": _rules(
            (
                "!has(self.profile) || (!has(self.kafka) && !has(self.ksqldb) && !has(self.s3))",
                "connections.profile cannot be combined with kafka, ksqldb or s3: the "
                "administrator's profile names every connection",
                ".profile",
            ),
        ),
    }

    profile: str | None = Field(default=None, pattern=DNS_LABEL, max_length=63)
    """Name of a connection profile the administrator defined (the operator's
    connectionProfiles): its Kafka, ksqlDB and S3 connections replace the defaults. The only
    way to leave the defaults unless the administrator allows custom endpoints."""

    kafka: KafkaConnection | None = None
    """Kafka cluster."""

    ksqldb: KsqlDbConnection | None = None
    """ksqlDB server (engine ksqldb only)."""

    s3: S3Connection | None = None
    """S3 for media and archives."""


class TopicsSpec(ApiModel):
    """Sizing of the monitor's Kafka topics."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": _rules(
            (
                "self.partitions >= oldSelf.partitions",
                "partitions cannot be decreased: Kafka cannot remove partitions",
                ".partitions",
            ),
            (
                "self.replicationFactor == oldSelf.replicationFactor",
                "replicationFactor is immutable",
                ".replicationFactor",
            ),
        ),
    }

    partitions: int = Field(default=3, ge=1, le=1000)
    """Partitions of every topic; may grow, never shrink."""

    replication_factor: int = Field(default=3, ge=1, le=10)
    """Replicas of every topic; fixed at creation."""

    retention: str = Field(default="7d", pattern=DURATION, max_length=32)
    """How long Kafka keeps messages."""


class BrandMonitorSpec(ApiModel):
    """Desired state of one monitored brand."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": _rules(
            (
                "self.scoring.textWeight + self.scoring.imageWeight > 0.0",
                "scoring.textWeight and scoring.imageWeight cannot both be 0",
                ".scoring",
            ),
        ),
    }

    brand: str = Field(min_length=1, max_length=200)
    """Display name of the brand, used in alerts."""

    suspend: bool = False
    """Pause the whole pipeline: collector CronJobs stop scheduling, workers scale to zero."""

    sources: list[Source] = Field(
        min_length=1,
        max_length=20,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """Where posts come from; source names are unique."""

    analysis: AnalysisSpec = AnalysisSpec()
    """How posts are analysed."""

    scoring: ScoringSpec = ScoringSpec()
    """How scores combine and when to alert."""

    processing: ProcessingSpec = ProcessingSpec()
    """Where scores are aggregated."""

    alerts: AlertsSpec = AlertsSpec()
    """Alert delivery."""

    connections: ConnectionsSpec = ConnectionsSpec()
    """Connection overrides (defaults come from the operator's settings)."""

    topics: TopicsSpec = TopicsSpec()
    """Kafka topic sizing."""

    deletion_policy: Literal["Retain", "Delete"] = "Retain"
    """What happens to topics and ksqlDB objects when the monitor is deleted."""


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """A kstatus-style condition (metav1.Condition)."""

    type: str = Field(max_length=316)
    """Ready, Reconciling, Stalled, or one per concern (WorkloadsReady, ...)."""

    status: ConditionStatus
    """True, False or Unknown."""

    reason: str = Field(max_length=1024)
    """CamelCase reason for the last transition."""

    message: str = Field(default="", max_length=32768)
    """Human-readable details."""

    observed_generation: int = Field(default=0, ge=0)
    """The generation of the spec this condition was computed from."""

    last_transition_time: datetime
    """When status last changed (not when the condition was last computed)."""


class SourceStatus(ApiModel):
    """Health of one source as seen from its CronJob's runs."""

    name: str
    """Source name."""

    healthy: bool
    """Whether the last finished run succeeded."""

    last_schedule_time: datetime | None = None
    """When the CronJob last started a run."""

    last_successful_time: datetime | None = None
    """When a run last succeeded."""

    last_result: SourceResult | None = None
    """Numbers from the last finished run."""


class TopicStatus(ApiModel):
    """A Kafka topic of the monitor as last seen."""

    name: str
    """Topic name."""

    role: str
    """What the topic carries (posts, text-scores, alerts, ...)."""

    topic_id: str
    """Kafka's id of the topic; a new id means the topic was deleted and recreated."""

    partitions: int
    """Partition count."""

    replication_factor: int
    """Replicas per partition."""


class QueryStatus(ApiModel):
    """A ksqlDB stream or table of the monitor and the statement that made it."""

    name: str
    """ksqlDB object name."""

    kind: Literal["STREAM", "TABLE"]
    """STREAM or TABLE."""

    query_id: str | None = None
    """Id of the persistent query writing it (CSAS_/CTAS_...), if any."""

    digest: str
    """Hash of the statement; an unchanged statement is never resent."""

    shape: str
    """Hash of what CREATE OR REPLACE cannot change; a new shape means drop and recreate."""

    sources: list[str] = Field(default=[])
    """Objects it reads from (for dropping in reverse dependency order)."""


class BrandMonitorStatus(ApiModel):
    """Observed state, written only by the operator."""

    observed_generation: int = Field(default=0, ge=0)
    """The spec generation the status describes."""

    conditions: list[Condition] = Field(
        default=[],
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready, Reconciling and Stalled (kstatus) plus one condition per concern."""

    source_count: int = Field(default=0, ge=0)
    """Number of sources (printer column)."""

    last_collection_time: datetime | None = None
    """When any source last finished a successful run."""

    sources: list[SourceStatus] = Field(
        default=[],
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """Per-source health."""

    workloads: dict[str, str] = Field(default={})
    """Child workload name -> kind, for inspection."""

    topics: list[TopicStatus] = Field(
        default=[],
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """The monitor's Kafka topics."""

    queries: list[QueryStatus] = Field(
        default=[],
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """The monitor's ksqlDB objects (engine ksqldb), in creation order."""
