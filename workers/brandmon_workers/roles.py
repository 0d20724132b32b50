"""The worker roles: each turns WorkerSettings into a configured Worker (or runs the collector).

The analyzers adapt the pure scorers in `text` and `image` to the runtime; the engine,
notifier and archiver are processors of their own modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3

from brandmon_workers import impact
from brandmon_workers.contract.messages import Media, MessageModel, Post, TextScore
from brandmon_workers.contract.settings import WorkerSettings
from brandmon_workers.contract.topics import TopicRole
from brandmon_workers.runtime import (
    Context,
    Metrics,
    Output,
    Pause,
    Record,
    Worker,
    record_dead_letter,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class TextAnalyzer:
    """Score the text of posts, a whole batch at a time."""

    inputs: Mapping[TopicRole, type[MessageModel]] = {TopicRole.POSTS: Post}

    def __init__(self, settings: WorkerSettings) -> None:
        from brandmon_workers import text  # noqa: PLC0415 - loads models: role only

        budget = text.SecondOpinionBudget(text.SECOND_OPINION_SHARE, text.SECOND_OPINIONS_PER_CALL)
        self.scorer = text.TextScorer(settings.analysis, budget)
        self._metrics: Metrics | None = None

    def start(self, context: Context) -> None:
        """Nothing to rebuild: scoring is stateless. Keeps the metrics to count with."""
        self._metrics = context.metrics

    def process(self, records: Sequence[Record]) -> list[Output]:
        """Score a batch (one offensive-language call for all of it), with each post's impact."""
        posts: list[Post] = [r.value for r in records]
        asked, refused = self.scorer.second_opinions, self.scorer.over_budget
        scores = self.scorer.score_batch(posts, datetime.now(UTC))
        if self._metrics is not None:
            counter = self._metrics.second_opinions
            worker = self._metrics.worker
            counter.labels(worker, "asked").inc(self.scorer.second_opinions - asked)
            counter.labels(worker, "over_budget").inc(self.scorer.over_budget - refused)
        return [
            Output(TopicRole.TEXT_SCORES, score.post_id, with_impact(score, post))
            for post, score in zip(posts, scores, strict=True)
        ]

    def delivered(self, outputs: Sequence[Output]) -> None:
        """Nothing to record."""


def with_impact(score: TextScore, post: Post) -> TextScore:
    """Return the text score carrying what an alert needs of its post, and its severity."""
    return score.model_copy(
        update={
            "post": impact.post_context(post),
            "severity": impact.severity(
                post.author_followers,
                post.likes,
                post.comments,
                serious=impact.is_serious(score.risk_categories),
            ),
        }
    )


class ImageAnalyzer:
    """Score images with the monitor's moderation provider."""

    inputs: Mapping[TopicRole, type[MessageModel]] = {TopicRole.MEDIA: Media}

    def __init__(self, settings: WorkerSettings, rekognition: Any = None) -> None:
        from brandmon_workers import image  # noqa: PLC0415 - provider clients: role only

        self.image = image
        if rekognition is None and settings.analysis.image.provider == "rekognition":
            rekognition = boto3.client("rekognition", region_name=settings.s3.region)
        self.scorer = image.ImageScorer(
            settings.analysis.image, rekognition=rekognition, scope=settings.s3_scope()
        )

    def start(self, context: Context) -> None:
        """Nothing to rebuild: the content-hash cache warms up as images arrive."""

    def process(self, records: Sequence[Record]) -> list[Output]:
        """Score each image; dead-letter the ones the provider cannot read."""
        outputs = []
        for record in records:
            media: Media = record.value
            try:
                score = self.scorer.score(media, datetime.now(UTC))
            except self.image.BudgetExhausted as spent:
                raise Pause(spent.retry_after_s) from None
            except self.image.UnscorableImage as bad:
                letter = record_dead_letter(record, f"unscorable image: {bad}", "image-analyzer")
                outputs.append(Output(TopicRole.DEAD_LETTERS, media.post_id, letter))
                continue
            outputs.append(Output(TopicRole.IMAGE_SCORES, media.post_id, score))
        return outputs

    def delivered(self, outputs: Sequence[Output]) -> None:
        """Nothing to record."""


def s3_client(settings: WorkerSettings) -> S3Client:
    """Return an S3 client for the monitor's bucket (credentials from the environment)."""
    return boto3.client("s3", endpoint_url=settings.s3.endpoint_url, region_name=settings.s3.region)


def build(role: str, settings: WorkerSettings, **worker_options: Any) -> Worker:
    """Return the configured long-running worker of a role."""
    from brandmon_workers.archiver import Archiver  # noqa: PLC0415
    from brandmon_workers.engine import Engine  # noqa: PLC0415
    from brandmon_workers.notifier import Notifier  # noqa: PLC0415

    processors: dict[str, Any] = {
        "text-analyzer": lambda: TextAnalyzer(settings),
        "image-analyzer": lambda: ImageAnalyzer(settings),
        "aggregator": lambda: Engine(settings),
        "notifier": lambda: Notifier(settings),
        "archiver": lambda: Archiver(settings, s3_client(settings)),
    }
    options = {
        "health_port": settings.health_port or None,
        "metrics_port": settings.metrics_port or None,
    } | dict(worker_options)
    if role == "archiver":
        # Fewer, larger archive objects: wait longer for a fuller batch.
        options.setdefault("batch_size", 5000)
        options.setdefault("poll_timeout_s", 2.0)
    return Worker(role, settings, processors[role](), **options)
