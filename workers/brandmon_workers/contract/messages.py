"""Kafka message schemas: one model per topic role, defined once for every producer and consumer.

Values are JSON with snake_case fields; every topic is keyed by a stable id (the post id,
or the username for profiles). `schema_version` lets consumers refuse what they do not
understand (dead letter, not a crash), and `provenance` says where a post came from. The
ksqlDB column declarations are generated from these models, so the stream processor reads
exactly what the workers write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from brandmon_workers.contract.topics import TopicRole

SCHEMA_VERSION: Literal[1] = 1

Severity = Literal["low", "medium", "high", "critical"]
"""How urgent an alert is, by the reach of the post that raised it (see `impact.py`)."""
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
"""Severities from least to most urgent."""


class MessageModel(BaseModel):
    """Base of every message and message part."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class KsqlRow(MessageModel):
    """A message ksqlDB may write: `null` in a column that has a default reads as the default.

    ksqlDB's JSON serializer writes SQL NULL as `null` for every column (and for every
    field of a STRUCT), and a LEFT JOIN or an aggregate over missing input yields NULL.
    A null in a required column still fails validation (a dead letter).
    """

    @model_validator(mode="before")
    @classmethod
    def _nulls_as_defaults(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            k: v
            for k, v in data.items()
            if v is not None or k not in fields or fields[k].is_required()
        }


class Provenance(MessageModel):
    """Where and when a record was collected."""

    source: str
    """Name of the BrandMonitor source that collected it."""

    collected_at: datetime
    """When the collector read it."""

    collector_version: str
    """Version of the collector that produced it."""


class Message(MessageModel):
    """Fields every message carries."""

    schema_version: Literal[1] = SCHEMA_VERSION
    """Version of this schema."""


class Profile(Message):
    """An account's public profile (the reference design's user_basic_info). Key: username."""

    username: str
    user_id: str
    full_name: str = ""
    biography: str = ""
    external_url: str | None = None
    followers: int = Field(ge=0)
    following: int = Field(ge=0)
    post_count: int = Field(ge=0)
    is_verified: bool = False
    is_private: bool = False
    provenance: Provenance


class Post(Message):
    """A public post. Key: post_id. Media are in S3; only their URIs travel in Kafka."""

    post_id: str
    shortcode: str
    username: str
    url: str
    caption: str = ""
    hashtags: list[str] = []
    mentions: list[str] = []
    posted_at: datetime
    likes: int = Field(default=0, ge=0)
    comments: int = Field(default=0, ge=0)
    media_uris: list[str] = []
    platform: str = "instagram"
    """Where the post was published."""
    author_followers: int | None = Field(default=None, ge=0)
    """The author's followers when the post was collected (None: not known). Where a
    platform has no followers (news feeds; Reddit, where a subreddit's subscribers are the
    audience), the audience the post reaches, or None."""
    language: str = ""
    """Language the platform declares for the post (BCP 47 tag as given, e.g. "en" or
    "pt-BR"); empty when it declares none."""
    provenance: Provenance


class PostContext(KsqlRow):
    """What a PR person needs to act on an alert about a post, carried with its scores."""

    platform: str = ""
    url: str = ""
    excerpt: str = ""
    """The start of the post's text (whole words, at most 280 characters)."""
    author_followers: int | None = None
    likes: int = 0
    comments: int = 0
    posted_at: datetime | None = None


class Media(Message):
    """One image of a post, stored in S3. Key: post_id."""

    post_id: str
    username: str
    index: int = Field(ge=0)
    s3_uri: str
    content_type: str
    sha256: str
    size_bytes: int = Field(ge=0)
    provenance: Provenance


class KeywordHit(MessageModel):
    """A configured keyword found in a post."""

    term: str
    weight: float
    count: int = Field(ge=1)


class RiskCategory(MessageModel):
    """A built-in brand-risk category found in a post, with the words that show it."""

    category: str
    """Category name (e.g. data_security)."""

    label: str
    """Category in words, for alerts (e.g. "data security")."""

    score: float = Field(ge=0.0, le=1.0)
    """What the category contributes to the text score."""

    strong: bool
    """A strong cue was found (else weak cues, weighed by negativity or toxicity)."""

    evidence: list[str] = []
    """The matched words, as the analyzer read them (folded, de-obfuscated)."""


class TextScore(Message):
    """Text risk of a post, with what produced it. Key: post_id."""

    post_id: str
    username: str
    score: float = Field(ge=0.0, le=1.0)
    keyword_score: float = Field(ge=0.0, le=1.0)
    negativity: float = Field(ge=0.0, le=1.0)
    toxicity: float = Field(ge=0.0, le=1.0)
    sentiment_compound: float = Field(ge=-1.0, le=1.0)
    keyword_hits: list[KeywordHit] = []
    keywords: list[str] = []
    risk_score: float = Field(default=0.0, ge=0.0, le=1.0)
    """Combined score of the built-in brand-risk categories found."""
    risk_categories: list[RiskCategory] = []
    """Built-in brand-risk categories found, with evidence."""
    learned_risk: float = Field(default=0.0, ge=0.0, le=1.0)
    """P(damaging brand post) of the learned brand-risk head."""
    language: str = ""
    """Language of the caption (ISO 639-1, "und" if it has no words)."""
    media_count: int = Field(default=0, ge=0)
    """Images the post has: a post is complete once that many image scores arrived."""
    post: PostContext | None = None
    """The post itself, for the alert (link, excerpt, reach)."""
    severity: Severity = "low"
    """Urgency by the post's reach and engagement."""
    analyzer_version: str
    scored_at: datetime


class ModerationLabel(MessageModel):
    """A moderation label as the provider returned it (Rekognition's shape)."""

    name: str
    parent_name: str = ""
    confidence: float = Field(ge=0.0, le=100.0)
    taxonomy_level: int = Field(default=1, ge=1)
    category: str
    """The label's top-level category (the root of its parent chain)."""


class ImageScore(Message):
    """Image risk of one image of a post. Key: post_id."""

    post_id: str
    username: str
    s3_uri: str
    sha256: str
    score: float = Field(ge=0.0, le=1.0)
    categories: list[str] = []
    """Top-level categories found (each counted once, whatever its label chain)."""
    labels: list[ModerationLabel] = []
    provider: str
    model_version: str = ""
    scored_at: datetime


class ScoredPost(Message, KsqlRow):
    """A post's combined score (written by ksqlDB or the builtin engine). Key: post_id.

    A post without images has no image row, so ksqlDB writes `null` for its image columns:
    as a `KsqlRow`, every null column with a default reads as that default (no keywords,
    no categories, no negativity or toxicity, low severity; `image_score` and `post` stay
    None). A null id, account or score is not a scored post at all and fails validation.
    """

    post_id: str
    username: str
    text_score: float
    image_score: float | None = None
    final_score: float
    keywords: list[str] = []
    negativity: float = 0.0
    toxicity: float = 0.0
    categories: list[str] = []
    post: PostContext | None = None
    """The post itself: platform, link, excerpt, reach, when it was posted."""
    severity: Severity = "low"
    """Urgency by the post's reach and engagement."""
    risk_categories: list[RiskCategory] = []
    """Built-in brand-risk categories found in the text, with their evidence."""
    language: str = ""
    """Language of the post's text (ISO 639-1)."""


class Alert(ScoredPost):
    """A scored post whose final score reached the threshold. Key: post_id."""


class DeadLetter(MessageModel):
    """A message a worker could not process, with the reason. Key: the original key."""

    source_topic: str
    partition: int
    offset: int
    key: str | None
    error: str
    payload: str
    """The original value, decoded as UTF-8 with replacement (base64 if it was binary)."""
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    worker: str
    failed_at: datetime


MESSAGE_OF_ROLE: dict[TopicRole, type[MessageModel]] = {
    TopicRole.PROFILES: Profile,
    TopicRole.POSTS: Post,
    TopicRole.MEDIA: Media,
    TopicRole.TEXT_SCORES: TextScore,
    TopicRole.IMAGE_SCORES: ImageScore,
    TopicRole.SCORED_POSTS: ScoredPost,
    TopicRole.ALERTS: Alert,
    TopicRole.DEAD_LETTERS: DeadLetter,
}
