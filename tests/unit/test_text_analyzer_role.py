"""The text-analyzer role: scores a batch and counts the brand-risk second opinions it asks."""

from __future__ import annotations

from datetime import UTC, datetime

from brandmon_workers.contract.analysis import AnalysisSpec
from brandmon_workers.contract.messages import Post, Provenance
from brandmon_workers.contract.settings import S3Settings, WorkerSettings
from brandmon_workers.contract.topics import TopicNames, TopicRole
from brandmon_workers.roles import TextAnalyzer
from brandmon_workers.runtime import Context, Metrics, Record

NOW = datetime(2026, 12, 1, tzinfo=UTC)
# The n-gram head is unsure of these (0.2 <= P < 0.8): the demo's abusive replies.
UNSURE = [
    "Northwind support are useless idiots, what a pathetic f***ing joke of a company",
    "shut up northwind, your products are garbage and so are you, stupid clowns",
]


def record(offset: int, caption: str) -> Record:
    post = Post(
        post_id=f"p{offset}", shortcode="sc", username="someone", url="https://x.invalid/p",
        caption=caption, posted_at=NOW,
        provenance=Provenance(source="ig", collected_at=NOW, collector_version="test"),
    )  # fmt: skip
    return Record(TopicRole.POSTS, "posts", 0, offset, post.post_id, post, 0)


def counted(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "brandmon_second_opinions_total", {"worker": "text-analyzer", "outcome": outcome}
    )
    return value or 0.0


def test_second_opinions_are_rationed_and_counted() -> None:
    settings = WorkerSettings(
        namespace="brands", monitor="acme", brand="Northwind", kafka_bootstrap_servers="k:9092",
        topics=TopicNames(namespace="brands", monitor="acme"), s3=S3Settings(bucket="archive"),
        analysis=AnalysisSpec(),
    )  # fmt: skip
    metrics = Metrics("text-analyzer")
    analyzer = TextAnalyzer(settings)
    analyzer.start(Context(settings, {}, "group", metrics))
    outputs = analyzer.process([record(i, c) for i, c in enumerate(UNSURE)])
    assert [o.key for o in outputs] == ["p0", "p1"]
    # The bucket has filled since the analyzer was made: both are asked, in one call.
    assert (counted(metrics, "asked"), counted(metrics, "over_budget")) == (2, 0)
    # That call overdrew the bucket: the next unsure post waits for it to refill.
    analyzer.process([record(9, UNSURE[0])])
    assert (counted(metrics, "asked"), counted(metrics, "over_budget")) == (2, 1)
