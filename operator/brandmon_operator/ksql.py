"""Pure generation of a monitor's ksqlDB statements (engine `ksqldb`).

Follows the reference design: streams over the text-score and image-score topics, a table
of per-post text risk, a table of per-post image risk (the maximum over the post's images;
each image's score already counts every moderation category once), the scored-posts join
with the spec's weights written to the scored-posts topic, an alerts stream above the
threshold, a per-account aggregate and a `final_output` table joining it with the profile
table (the reference `final_output`).

Column declarations are generated from the message models in `brandmon_workers.contract.
messages`, so ksqlDB reads exactly what the workers write. Every `Statement` knows what it
reads (`sources`) and its `shape`: the parts ksqlDB's `CREATE OR REPLACE` cannot change
(sources, joins, grouping, aggregations). The reconciler sends `CREATE ... IF NOT EXISTS`
for new objects, `CREATE OR REPLACE` when only the rest changed, and drops and recreates
(in dependency order) when the shape changed.
"""

from __future__ import annotations

import hashlib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from brandmon_operator import api
from brandmon_workers.contract import messages
from brandmon_workers.contract.topics import TopicNames, TopicRole

Kind = Literal["STREAM", "TABLE"]
CreateMode = Literal["plain", "if-not-exists", "or-replace"]

EMPTY_STRING_ARRAY = "ARRAY_REMOVE(ARRAY[''], '')"
"""An empty ARRAY<STRING>. SQL NULL would reach the topics as JSON `null` (ksqlDB's JSON
serializer), and ksqlDB refuses the empty constructor `ARRAY[]` (it cannot infer the element
type), so the one element a typed constructor needs is removed again."""


@dataclass(frozen=True)
class Statement:
    """One ksqlDB object of a monitor and the statement that creates it."""

    name: str
    kind: Kind
    body: str
    """Everything after `CREATE [OR REPLACE] STREAM|TABLE [IF NOT EXISTS]`, ending in ';'."""
    sources: tuple[str, ...]
    shape: str
    topic: str
    query: bool
    """Whether the object is written by a persistent query (CSAS/CTAS)."""
    owns_topic: bool
    """Whether its Kafka topic is ksqlDB's own (deleted with it under deletionPolicy Delete)."""
    upgradable: bool = False
    """Whether CREATE OR REPLACE can change it in place; ksqlDB refuses for joins and
    table aggregations whatever changed, so those are always dropped and recreated."""

    @property
    def digest(self) -> str:
        """Hash of the full statement: unchanged statements are never resent."""
        return hashlib.sha256(self.body.encode()).hexdigest()[:16]

    @property
    def shape_digest(self) -> str:
        """Hash of the parts CREATE OR REPLACE cannot change."""
        return hashlib.sha256(self.shape.encode()).hexdigest()[:16]

    def create(self, mode: CreateMode) -> str:
        """Return the CREATE statement in the given mode."""
        replace = "OR REPLACE " if mode == "or-replace" else ""
        guard = " IF NOT EXISTS" if mode == "if-not-exists" else ""
        return f"CREATE {replace}{self.kind}{guard} {self.body}"

    def drop(self, delete_topic: bool) -> str:
        """Return the DROP statement (DROP also terminates the object's own query)."""
        suffix = " DELETE TOPIC" if delete_topic and self.owns_topic else ""
        return f"DROP {self.kind} IF EXISTS {self.name}{suffix};"


# --- naming ---------------------------------------------------------------------------


def object_prefix(namespace: str, monitor: str) -> str:
    """Return the prefix of a monitor's ksqlDB objects: BM_<16 hex digits>_.

    The digits are a hash of "<namespace>/<name>". Readable prefixes collided: with '-'
    mapped to '_' (ksqlDB names have no '-') and '__' between namespace and name, monitor
    `eu--web` in `shop` got exactly the prefix of `web` in `shop--eu`, and one prefix
    could begin another. A fixed-length hash is never the start of another, and 64 bits
    cannot be matched on purpose; the names stay stable for a monitor's lifetime, and its
    status lists them.
    """
    digest = hashlib.sha256(f"{namespace}/{monitor}".encode()).hexdigest()[:16].upper()
    return f"BM_{digest}_"


# --- column types from the message models ----------------------------------------------


def ksql_type(annotation: object) -> str:
    """Map a message field's type to its ksqlDB type."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        if len(args) != 1:
            msg = f"only Optional[X] unions map to ksqlDB: {annotation}"
            raise TypeError(msg)
        return ksql_type(args[0])
    if origin is list:
        return f"ARRAY<{ksql_type(args[0])}>"
    if origin is Literal:
        return ksql_type(type(typing.get_args(annotation)[0]))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"STRUCT<{', '.join(columns(annotation))}>"
    simple = {str: "STRING", int: "BIGINT", float: "DOUBLE", bool: "BOOLEAN", datetime: "STRING"}
    if annotation in simple:
        return simple[annotation]
    msg = f"no ksqlDB type for {annotation}"
    raise TypeError(msg)


def columns(model: type[BaseModel]) -> list[str]:
    """Return `name TYPE` for every field; names are backquoted to keep JSON's lower case."""
    return [f"`{name}` {ksql_type(field.annotation)}" for name, field in model.model_fields.items()]


# --- statements -----------------------------------------------------------------------


def _number(value: float) -> str:
    return repr(float(value))


def _source(name: str, kind: Kind, *, key: str, model: type[BaseModel], topic: str) -> Statement:
    key_kind = "PRIMARY KEY" if kind == "TABLE" else "KEY"
    cols = ",\n  ".join([f"`{key}` STRING {key_kind}", *columns(model)])
    # No PARTITIONS: the topics reconciler owns these topics (they exist before this runs),
    # and a sizing change must not look like a schema change.
    body = (
        f"{name} (\n  {cols}\n) WITH (KAFKA_TOPIC='{topic}', KEY_FORMAT='KAFKA', "
        "VALUE_FORMAT='JSON');"
    )
    # Plain sources have no query to upgrade: any change means drop and recreate.
    return Statement(name, kind, body, (), body, topic, query=False, owns_topic=False)


def _query(
    name: str,
    kind: Kind,
    *,
    select: str,
    rest: str,
    sources: Sequence[str],
    shape_parts: Sequence[str],
    topic: str,
    owns_topic: bool,
    upgradable: bool,
) -> Statement:
    body = (
        f"{name} WITH (KAFKA_TOPIC='{topic}', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON') AS SELECT\n"
        f"  {select}\n{rest}\nEMIT CHANGES;"
    )
    shape = "\n".join([kind, *shape_parts])
    return Statement(
        name, kind, body, tuple(sources), shape, topic,
        query=True, owns_topic=owns_topic, upgradable=upgradable,
    )  # fmt: skip


def _per_post(name: str, source: Statement, aggregates: list[str], topic: str) -> Statement:
    """Return a table with one row per post, aggregated from a stream of its scores."""
    rest = f"FROM {source.name}\nGROUP BY `post_id`"
    return _query(
        name, "TABLE",
        select=",\n  ".join(
            ["`post_id` AS `post_key`", "AS_VALUE(`post_id`) AS `post_id`", *aggregates]
        ),
        # A stream aggregation upgrades in place only with the same aggregates: they are shape.
        rest=rest, sources=[source.name], shape_parts=[rest, *aggregates],
        topic=topic, owns_topic=True, upgradable=True,
    )  # fmt: skip


def statements(
    namespace: str, monitor: str, spec: api.BrandMonitorSpec, topics: TopicNames
) -> list[Statement]:
    """Return the monitor's statements in dependency order (creation order)."""
    p = object_prefix(namespace, monitor)
    image = spec.analysis.image.provider != "none"
    tw, iw = spec.scoring.text_weight, spec.scoring.image_weight
    threshold = _number(spec.scoring.alert_threshold)
    # ksqlDB's own sink topics live beside the monitor's topics, under the same prefix.
    own = f"{topics.prefix}.{topics.namespace}.{topics.monitor}.ksql."

    profiles = _source(f"{p}PROFILES", "TABLE", key="username_key", model=messages.Profile,
        topic=topics.of(TopicRole.PROFILES))  # fmt: skip
    text_scores = _source(f"{p}TEXT_SCORES", "STREAM", key="post_key", model=messages.TextScore,
        topic=topics.of(TopicRole.TEXT_SCORES))  # fmt: skip
    text_aggregates = [
        "LATEST_BY_OFFSET(`username`) AS `username`",
        "LATEST_BY_OFFSET(`score`) AS `text_score`",
        "LATEST_BY_OFFSET(`keywords`) AS `keywords`",
        "LATEST_BY_OFFSET(`negativity`) AS `negativity`",
        "LATEST_BY_OFFSET(`toxicity`) AS `toxicity`",
        "LATEST_BY_OFFSET(`media_count`) AS `media_count`",
        # Passed through for the alert: the post (link, excerpt, reach) and its severity.
        "LATEST_BY_OFFSET(`post`) AS `post`",
        "LATEST_BY_OFFSET(`severity`) AS `severity`",
        "LATEST_BY_OFFSET(`risk_categories`) AS `risk_categories`",
        "LATEST_BY_OFFSET(`language`) AS `language`",
    ]
    text_risk = _per_post(f"{p}TEXT_RISK", text_scores, text_aggregates, own + "text-risk")
    result = [profiles, text_scores, text_risk]

    if image:
        image_scores = _source(f"{p}IMAGE_SCORES", "STREAM", key="post_key",
            model=messages.ImageScore,
        topic=topics.of(TopicRole.IMAGE_SCORES))  # fmt: skip
        image_aggregates = [
            # An image's score already takes each category once (max, never a sum of a
            # label and its parents); a post is as risky as its riskiest image.
            "MAX(`score`) AS `image_score`",
            "LATEST_BY_OFFSET(`categories`) AS `categories`",
            # Re-scored images (at-least-once delivery) must not count twice.
            "COUNT_DISTINCT(`s3_uri`) AS `image_count`",
        ]
        image_risk = _per_post(f"{p}IMAGE_RISK", image_scores, image_aggregates, own + "image-risk")
        result += [image_scores, image_risk]
        join = (
            f"FROM {text_risk.name} t\nLEFT JOIN {image_risk.name} i ON t.`post_key` = i.`post_key`"
        )
        # A post is scored once, when its text and all its images are: one result per post.
        complete = "\nWHERE t.`media_count` = 0 OR i.`image_count` >= t.`media_count`"
        # Weights are normalised over the signals a post has: no image, text decides alone.
        final = (
            f"CASE WHEN i.`image_score` IS NULL THEN t.`text_score` "
            f"ELSE ({_number(tw)} * t.`text_score` + {_number(iw)} * i.`image_score`)"
            f" / {_number(tw + iw)} END"
        )
        image_cols = [
            "i.`image_score` AS `image_score`",
            f"COALESCE(i.`categories`, {EMPTY_STRING_ARRAY}) AS `categories`",
        ]
        scored_sources = [text_risk.name, image_risk.name]
    else:
        join = f"FROM {text_risk.name} t"
        complete = ""
        final = "t.`text_score`"
        image_cols = [
            "CAST(NULL AS DOUBLE) AS `image_score`",
            f"{EMPTY_STRING_ARRAY} AS `categories`",
        ]
        scored_sources = [text_risk.name]

    scored = _query(
        f"{p}SCORED_POSTS", "TABLE",
        select=",\n  ".join([
            "t.`post_key` AS `post_key`",
            f"{messages.SCHEMA_VERSION} AS `schema_version`",
            "t.`post_id` AS `post_id`",
            "t.`username` AS `username`",
            "t.`text_score` AS `text_score`",
            image_cols[0],
            f"{final} AS `final_score`",
            f"COALESCE(t.`keywords`, {EMPTY_STRING_ARRAY}) AS `keywords`",
            "t.`negativity` AS `negativity`",
            "t.`toxicity` AS `toxicity`",
            image_cols[1],
            "t.`post` AS `post`",
            "t.`severity` AS `severity`",
            "t.`risk_categories` AS `risk_categories`",
            "t.`language` AS `language`",
        ]),
        rest=join + complete, sources=scored_sources, shape_parts=[join],
        topic=topics.of(TopicRole.SCORED_POSTS), owns_topic=False, upgradable=not image,
    )  # fmt: skip
    scored_stream = _source(f"{p}SCORED_STREAM", "STREAM", key="post_key",
        model=messages.ScoredPost,
        topic=topics.of(TopicRole.SCORED_POSTS))  # fmt: skip
    alert_cols = [f"`{name}`" for name in messages.Alert.model_fields]
    alerts = _query(
        f"{p}ALERTS", "STREAM",
        select=",\n  ".join(["`post_key`", *alert_cols]),
        rest=f"FROM {scored_stream.name}\nWHERE `final_score` >= {threshold}",
        sources=[scored_stream.name], shape_parts=[f"FROM {scored_stream.name}"],
        topic=topics.of(TopicRole.ALERTS), owns_topic=False, upgradable=True,
    )  # fmt: skip
    aggregates = [
        "COUNT(*) AS `scored_posts`",
        f"SUM(CASE WHEN `final_score` >= {threshold} THEN 1 ELSE 0 END) AS `alerting_posts`",
        "MAX(`final_score`) AS `max_score`",
        "LATEST_BY_OFFSET(`keywords`) AS `latest_keywords`",
        "LATEST_BY_OFFSET(`categories`) AS `latest_categories`",
    ]
    account_from = f"FROM {scored_stream.name}\nGROUP BY `username`"
    account = _query(
        f"{p}ACCOUNT_RISK", "TABLE",
        select=",\n  ".join(
            ["`username` AS `username_key`", "AS_VALUE(`username`) AS `username`", *aggregates]
        ),
        rest=account_from, sources=[scored_stream.name], shape_parts=[account_from, *aggregates],
        topic=own + "account-risk", owns_topic=True, upgradable=True,
    )  # fmt: skip
    final_join = (
        f"FROM {account.name} a\n"
        f"LEFT JOIN {profiles.name} pr ON a.`username_key` = pr.`username_key`"
    )
    final_output = _query(
        f"{p}FINAL_OUTPUT", "TABLE",
        select=",\n  ".join([
            "a.`username_key` AS `username_key`",
            "a.`username` AS `username`",
            "pr.`full_name` AS `full_name`",
            "pr.`followers` AS `followers`",
            "pr.`following` AS `following`",
            "pr.`post_count` AS `post_count`",
            "pr.`biography` AS `biography`",
            "pr.`external_url` AS `external_url`",
            "a.`scored_posts` AS `scored_posts`",
            "a.`alerting_posts` AS `alerting_posts`",
            "a.`max_score` AS `max_score`",
            "a.`latest_keywords` AS `keyword_hits`",
            "a.`latest_categories` AS `moderation_labels`",
        ]),
        rest=final_join, sources=[account.name, profiles.name], shape_parts=[final_join],
        topic=own + "final-output", owns_topic=True, upgradable=False,
    )  # fmt: skip
    return [*result, scored, scored_stream, alerts, account, final_output]


def render(statements_: Sequence[Statement]) -> str:
    """Return the statements as one reviewable SQL script (the golden files)."""
    return "\n\n".join(s.create("if-not-exists") for s in statements_) + "\n"
