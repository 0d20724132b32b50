"""The builtin engine: the aggregation of the generated ksqlDB statements, as a worker.

For clusters without ksqlDB (and the local stack) it computes what `ksql.py`'s statements
compute, with the same rules (shared test fixtures check both):
- text risk per post is its latest text score; image risk is the maximum over the post's
  images (each image counted once, by S3 URI, however often it was re-scored);
- a post is scored once it is complete (its text and all `media_count` images scored);
- the final score normalises the weights over the signals the post has (no images, or no
  image analysis: the text score alone);
- an alert is a scored post whose final score reaches the threshold.

State survives restarts: `start()` rebuilds it from Kafka (the inputs this engine already
consumed, and the posts it already scored), so a replay emits nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from brandmon_workers.contract.analysis import ScoringSpec
from brandmon_workers.contract.messages import (
    Alert,
    ImageScore,
    MessageModel,
    ScoredPost,
    TextScore,
)
from brandmon_workers.contract.settings import WorkerSettings
from brandmon_workers.contract.topics import TopicRole
from brandmon_workers.runtime import Context, Output, Record

log = logging.getLogger(__name__)


@dataclass
class PostState:
    """What the engine knows of one post."""

    text: TextScore | None = None
    images: dict[str, float] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    scored: bool = False


def final_score(text_score: float, image_score: float | None, scoring: ScoringSpec) -> float:
    """Combine text and image risk with weights normalised over the signals present."""
    if image_score is None:
        return text_score
    total = scoring.text_weight + scoring.image_weight
    return (scoring.text_weight * text_score + scoring.image_weight * image_score) / total


def score_post(state: PostState, scoring: ScoringSpec, images_enabled: bool) -> ScoredPost | None:
    """Return the post's scored result once it is complete, else None."""
    text = state.text
    if text is None:
        return None
    if images_enabled and len(state.images) < text.media_count:
        return None
    image = max(state.images.values()) if images_enabled and state.images else None
    return ScoredPost(
        post_id=text.post_id,
        username=text.username,
        text_score=text.score,
        image_score=image,
        final_score=final_score(text.score, image, scoring),
        keywords=text.keywords,
        negativity=text.negativity,
        toxicity=text.toxicity,
        categories=state.categories if images_enabled else [],
        post=text.post,
        severity=text.severity,
        risk_categories=text.risk_categories,
        language=text.language,
    )


class Engine:
    """The aggregator role."""

    inputs: Mapping[TopicRole, type[MessageModel]] = {
        TopicRole.TEXT_SCORES: TextScore,
        TopicRole.IMAGE_SCORES: ImageScore,
    }

    def __init__(self, settings: WorkerSettings) -> None:
        self.scoring = settings.scoring
        self.images_enabled = settings.analysis.image.provider != "none"
        self.posts: dict[str, PostState] = {}

    def start(self, context: Context) -> None:
        """Rebuild state: inputs already consumed, and posts already scored.

        Malformed records are skipped (and counted) by the context, so nothing a topic
        holds can stop the aggregator from starting.
        """
        rebuilt = 0
        for role in (TopicRole.TEXT_SCORES, TopicRole.IMAGE_SCORES):
            for record in context.records(role, handled_only=True):
                self._absorb(record.value)
                rebuilt += 1
        for record in context.records(TopicRole.SCORED_POSTS):
            self.posts.setdefault(record.value.post_id, PostState()).scored = True
        log.info(
            "engine state rebuilt", extra={"fields": {"inputs": rebuilt, "posts": len(self.posts)}}
        )

    def _absorb(self, value: MessageModel) -> str:
        if isinstance(value, TextScore):
            state = self.posts.setdefault(value.post_id, PostState())
            state.text = value
            return value.post_id
        assert isinstance(value, ImageScore)
        state = self.posts.setdefault(value.post_id, PostState())
        state.images[value.s3_uri] = value.score
        state.categories = value.categories
        return value.post_id

    def process(self, records: Sequence[Record]) -> list[Output]:
        """Absorb a batch; emit every post it completed (and its alert), once."""
        touched: list[str] = []
        for record in records:
            post_id = self._absorb(record.value)
            if post_id not in touched:
                touched.append(post_id)
        outputs: list[Output] = []
        for post_id in touched:
            state = self.posts[post_id]
            if state.scored:
                continue  # idempotent by key: a replayed input changes nothing
            scored = score_post(state, self.scoring, self.images_enabled)
            if scored is None:
                continue
            outputs.append(Output(TopicRole.SCORED_POSTS, post_id, scored))
            if scored.final_score >= self.scoring.alert_threshold:
                outputs.append(Output(TopicRole.ALERTS, post_id, Alert(**scored.model_dump())))
        return outputs

    def delivered(self, outputs: Sequence[Output]) -> None:
        """Remember scored posts only once Kafka has them, so a failed batch re-emits them."""
        for output in outputs:
            if output.role is TopicRole.SCORED_POSTS:
                self.posts[output.key].scored = True
