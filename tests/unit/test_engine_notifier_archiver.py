"""The builtin engine, the notifier and the archiver, without Kafka."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from brandmon_workers import archiver, engine, notifier
from brandmon_workers.contract.analysis import AnalysisSpec, ImageAnalysisSpec, ScoringSpec
from brandmon_workers.contract.messages import (
    Alert,
    DeadLetter,
    ImageScore,
    PostContext,
    RiskCategory,
    ScoredPost,
    TextScore,
)
from brandmon_workers.contract.settings import S3Settings, WebhookTarget, WorkerSettings
from brandmon_workers.contract.topics import TopicNames, TopicRole
from brandmon_workers.runtime import Output, Pause, Record

CASES = json.loads((Path(__file__).parents[1] / "fixtures" / "engine_cases.json").read_text())
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def settings(**changes: Any) -> WorkerSettings:
    base: dict[str, Any] = {
        "namespace": "brands", "monitor": "acme", "brand": "ACME", "kafka_bootstrap_servers": "k:9092",
        "topics": TopicNames(namespace="brands", monitor="acme"), "s3": S3Settings(bucket="archive"),
        "analysis": AnalysisSpec(image=ImageAnalysisSpec(provider="rekognition")),
        "scoring": ScoringSpec.model_validate(CASES["scoring"]), "alert_cooldown_seconds": 0,
    }  # fmt: skip
    return WorkerSettings(**(base | changes))


def text(post: str, score: float, media_count: int) -> TextScore:
    return TextScore(post_id=post, username="u", score=score, keyword_score=score, negativity=0.0,
                     toxicity=0.0, sentiment_compound=0.0, keywords=["recall"], media_count=media_count,
                     analyzer_version="t", scored_at=NOW)  # fmt: skip


def image(post: str, uri: str, score: float, categories: list[str]) -> ImageScore:
    return ImageScore(post_id=post, username="u", s3_uri=uri, sha256=uri, score=score,
                      categories=categories, provider="rekognition", scored_at=NOW)  # fmt: skip


def record(role: TopicRole, value: Any, offset: int = 0, partition: int = 0) -> Record:
    return Record(
        role,
        "t",
        partition,
        offset,
        getattr(value, "post_id", None),
        value,
        int(NOW.timestamp() * 1000),
    )


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_engine_matches_the_shared_expectations(case: dict[str, Any]) -> None:
    worker = engine.Engine(settings())
    texts = [
        record(
            TopicRole.TEXT_SCORES, text("p1", case["text"]["score"], case["text"]["media_count"])
        )
    ]
    images = [record(TopicRole.IMAGE_SCORES, image("p1", i["s3_uri"], i["score"], i["categories"]))
              for i in case["images"]]  # fmt: skip
    outputs: list[Output] = []
    for batch in [*images, *texts] if case.get("text_last") else [*texts, *images]:
        outputs += worker.process([batch])
        worker.delivered(outputs)
    scored = [o.value for o in outputs if o.role is TopicRole.SCORED_POSTS]
    alerts = [o.value for o in outputs if o.role is TopicRole.ALERTS]
    if case["expected"] is None:
        assert scored == []
        return
    assert len(scored) == 1
    result = scored[0]
    assert isinstance(result, ScoredPost)
    assert result.image_score == case["expected"]["image_score"]
    assert result.final_score == pytest.approx(case["expected"]["final_score"])
    assert len(alerts) == int(case["expected"]["alert"])


def test_engine_emits_each_post_once_even_when_inputs_replay() -> None:
    worker = engine.Engine(settings())
    first = worker.process([record(TopicRole.TEXT_SCORES, text("p1", 0.9, 0))])
    worker.delivered(first)
    again = worker.process([record(TopicRole.TEXT_SCORES, text("p1", 0.9, 0), offset=1)])
    assert [o.role for o in first] == [TopicRole.SCORED_POSTS, TopicRole.ALERTS]
    assert again == []


def test_engine_re_emits_when_the_batch_was_not_delivered() -> None:
    worker = engine.Engine(settings())
    lost = worker.process([record(TopicRole.TEXT_SCORES, text("p1", 0.2, 0))])
    retried = worker.process([record(TopicRole.TEXT_SCORES, text("p1", 0.2, 0))])
    assert lost == retried  # nothing was marked done before Kafka acknowledged it


def test_without_image_analysis_the_text_decides_alone() -> None:
    worker = engine.Engine(settings(analysis=AnalysisSpec()))
    out = worker.process([record(TopicRole.TEXT_SCORES, text("p1", 0.75, 2))])
    assert isinstance(out[0].value, ScoredPost)
    assert out[0].value.final_score == 0.75


class Hook:
    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, bytes, Mapping[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> notifier.Response:
        self.calls.append((url, body, headers))
        return notifier.Response(self.answers.pop(0) if self.answers else 200)


def alert(post: str, username: str = "u") -> Alert:
    return Alert(post_id=post, username=username, text_score=0.9, final_score=0.9, keywords=["recall"],
                 toxicity=0.8)  # fmt: skip


def make_notifier(
    hook: Hook, cooldown: int = 0, fmt: Literal["slack", "generic"] = "generic"
) -> notifier.Notifier:
    webhooks = [WebhookTarget(name="pr", format=fmt, url_env="URL_PR", secret_env="KEY_PR")]
    return notifier.Notifier(
        settings(webhooks=webhooks, alert_cooldown_seconds=cooldown), post=hook, sleep=lambda _s: None,
        clock=lambda: 1000.0, environ={"URL_PR": "http://hook.local/x", "KEY_PR": "k3y"},
    )  # fmt: skip


def test_notifier_signs_generic_payloads_and_dedupes_per_post() -> None:
    hook = Hook([])
    n = make_notifier(hook)
    assert (
        n.process([record(TopicRole.ALERTS, alert("p1")), record(TopicRole.ALERTS, alert("p1"), 1)])
        == []
    )
    assert len(hook.calls) == 1
    url, body, headers = hook.calls[0]
    assert url == "http://hook.local/x"
    assert headers["X-Brandmon-Delivery"] == notifier.delivery_id("brands", "acme", "pr", "p1")
    assert headers["X-Brandmon-Timestamp"] == "1000"
    assert headers["X-Brandmon-Signature"] == notifier.signature(
        "k3y", 1000, headers["X-Brandmon-Delivery"], body
    )
    assert notifier.verify("k3y", headers, body, now=1000.0)
    assert json.loads(body)["alert"]["post_id"] == "p1"


def test_notifier_cooldown_is_per_account() -> None:
    hook = Hook([])
    n = make_notifier(hook, cooldown=900)
    n.process([record(TopicRole.ALERTS, alert("p1", "a")), record(TopicRole.ALERTS, alert("p2", "a"), 1),
               record(TopicRole.ALERTS, alert("p3", "b"), 2)])  # fmt: skip
    assert [json.loads(c[1])["alert"]["post_id"] for c in hook.calls] == ["p1", "p3"]


def test_notifier_retries_then_dead_letters() -> None:
    hook = Hook([503, 503, 200])
    n = make_notifier(hook)
    assert n.process([record(TopicRole.ALERTS, alert("p1"))]) == []
    assert len(hook.calls) == 3
    # Still down after the retries: pause and retry the batch later, never dead-letter.
    hook = Hook([503] * 5 + [200])
    n = make_notifier(hook)
    with pytest.raises(Pause):
        n.process([record(TopicRole.ALERTS, alert("p2"))])
    assert n.process([record(TopicRole.ALERTS, alert("p2"))]) == []
    assert len(hook.calls) == 6
    hook = Hook([404])
    gone = make_notifier(hook).process([record(TopicRole.ALERTS, alert("p3"))])
    assert len(hook.calls) == 1
    assert isinstance(gone[0].value, DeadLetter)
    assert "not retried" in gone[0].value.error


def test_a_paused_batch_resends_nothing_and_keeps_its_dead_letters() -> None:
    hook = Hook([404] + [503] * 5)
    n = make_notifier(hook)
    batch = [record(TopicRole.ALERTS, alert("p1")), record(TopicRole.ALERTS, alert("p2"), 1)]
    with pytest.raises(Pause):
        n.process(batch)
    retried = n.process(batch)  # p1 is not sent again; its dead letter comes with the retry
    assert [json.loads(c[1])["alert"]["post_id"] for c in hook.calls] == ["p1"] + ["p2"] * 6
    assert [(o.role, o.key) for o in retried] == [(TopicRole.DEAD_LETTERS, "p1")]
    n.delivered(retried)
    assert n.process(batch) == []


POST = PostContext(platform="instagram", url="https://www.instagram.com/p/C1/",
                   excerpt="ACME <kettle> exploded & burned me", author_followers=120400,
                   likes=950, comments=310, posted_at=NOW)  # fmt: skip


def test_slack_payload_lays_out_what_a_pr_person_acts_on() -> None:
    hook = Hook([])
    critical = alert("p1").model_copy(update={"post": POST, "severity": "critical"})
    make_notifier(hook, fmt="slack").process([record(TopicRole.ALERTS, critical)])
    message = json.loads(hook.calls[0][1])
    assert "ACME" in message["text"]  # the notification's fallback
    assert "keywords: recall" in message["text"]
    assert "offensive language (0.80)" in message["text"]
    blocks = message["blocks"]
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"].startswith("CRITICAL: a post about ACME by @u")
    # The post's opening, escaped for mrkdwn.
    assert blocks[1]["text"]["text"] == "> ACME &lt;kettle&gt; exploded &amp; burned me"
    fields = " ".join(f["text"] for f in blocks[2]["fields"])
    for shown in ("@u (120,400 followers)", "instagram", "0.90 (severity critical)",
                  "950 likes, 310 comments", f"<!date^{int(NOW.timestamp())}^"):  # fmt: skip
        assert shown in fields
    assert "offensive language (0.80)" in blocks[3]["text"]["text"]
    assert blocks[4]["elements"][0]["url"] == POST.url
    assert len(blocks[0]["text"]["text"]) <= 150
    assert "X-Brandmon-Signature" not in hook.calls[0][2]


def test_slack_payload_of_an_alert_without_its_post() -> None:
    hook = Hook([])
    make_notifier(hook, fmt="slack").process([record(TopicRole.ALERTS, alert("p1"))])
    blocks = json.loads(hook.calls[0][1])["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context"]
    assert "followers unknown" in blocks[1]["fields"][0]["text"]


def test_generic_payload_carries_the_post_and_why() -> None:
    body = json.loads(
        notifier.generic_payload(alert("p1").model_copy(update={"post": POST}), "ACME", "acme")
    )
    assert body["alert"]["post"]["url"] == POST.url
    assert body["alert"]["post"]["author_followers"] == 120400
    assert body["why"] == ["mentions your keywords: recall", "offensive language (0.80)"]


def test_a_webhook_with_a_minimum_severity_gets_only_the_urgent_alerts() -> None:
    hook = Hook([])
    webhooks = [WebhookTarget(name="pr", format="generic", url_env="URL_PR"),
                WebhookTarget(name="pager", format="generic", url_env="URL_PAGER", min_severity="high")]  # fmt: skip
    n = notifier.Notifier(
        settings(webhooks=webhooks), post=hook, sleep=lambda _s: None, clock=lambda: 1000.0,
        environ={"URL_PR": "http://pr.local/", "URL_PAGER": "http://pager.local/"},
    )  # fmt: skip
    alerts = [alert(f"p-{level}", f"u-{level}").model_copy(update={"severity": level})
              for level in ("low", "medium", "high", "critical")]  # fmt: skip
    assert n.process([record(TopicRole.ALERTS, a, i) for i, a in enumerate(alerts)]) == []
    sent = [(url, json.loads(body)["alert"]["post_id"]) for url, body, _ in hook.calls]
    assert [p for url, p in sent if url == "http://pr.local/"] == [
        "p-low",
        "p-medium",
        "p-high",
        "p-critical",
    ]
    assert [p for url, p in sent if url == "http://pager.local/"] == ["p-high", "p-critical"]


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:  # noqa: N803 - boto3's names
        self.objects[f"{Bucket}/{Key}"] = Body


class FailingS3:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def put_object(self, **_: Any) -> None:
        raise self.error


def client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutObject")


def test_archiver_pauses_while_s3_is_unavailable_and_raises_other_errors() -> None:
    batch = [record(TopicRole.SCORED_POSTS, scored("p1"))]
    for error in (
        EndpointConnectionError(endpoint_url="http://s3.local"),
        client_error("SlowDown", 503),
    ):
        with pytest.raises(Pause):
            archiver.Archiver(settings(), FailingS3(error)).process(batch)  # type: ignore[arg-type]
    with pytest.raises(ClientError):
        archiver.Archiver(settings(), FailingS3(client_error("AccessDenied", 403))).process(batch)  # type: ignore[arg-type]


def scored(post: str) -> ScoredPost:
    return ScoredPost(post_id=post, username="u", text_score=0.1, final_score=0.1)


def test_archive_keys_depend_only_on_where_a_batch_starts() -> None:
    s3 = FakeS3()
    worker = archiver.Archiver(settings(), s3)  # type: ignore[arg-type]
    worker.process([record(TopicRole.SCORED_POSTS, scored(f"p{i}"), offset=i) for i in range(3)])
    # After a crash the same start is consumed again with more records: the object is replaced.
    worker.process([record(TopicRole.SCORED_POSTS, scored(f"p{i}"), offset=i) for i in range(5)])
    assert list(s3.objects) == [
        "archive/brands/acme/archive/date=2026-11-01/partition=0/00000000000000000000.jsonl.gz"
    ]
    lines = gzip.decompress(next(iter(s3.objects.values()))).decode().splitlines()
    assert [json.loads(line)["post_id"] for line in lines] == [f"p{i}" for i in range(5)]
    assert archiver.encode([record(TopicRole.SCORED_POSTS, scored("x"))]) == archiver.encode(
        [record(TopicRole.SCORED_POSTS, scored("x"))]
    )


# What ksqlDB's JSON serializer writes for a SCORED_POSTS/ALERTS row: every column present,
# SQL NULL as `null` (a text-only post has no image row, so no image score or categories).
KSQLDB_ROW_ALL_NULL = (
    '{"schema_version":1,"post_id":"k-1","username":"u","text_score":0.9,"image_score":null,'
    '"final_score":0.9,"keywords":null,"negativity":null,"toxicity":null,"categories":null}'
)


@pytest.mark.parametrize("model", [ScoredPost, Alert])
def test_ksqldb_nulls_read_as_neutral_values(model: type[ScoredPost]) -> None:
    row = model.model_validate_json(KSQLDB_ROW_ALL_NULL)
    assert (row.keywords, row.categories, row.negativity, row.toxicity) == ([], [], 0.0, 0.0)
    assert row.image_score is None
    # The archive and webhooks see the neutral values, never null.
    assert json.loads(row.model_dump_json())["categories"] == []


@pytest.mark.parametrize("column", ["post_id", "username", "text_score", "final_score"])
def test_a_ksqldb_row_without_identity_or_score_is_refused(column: str) -> None:
    document = json.loads(KSQLDB_ROW_ALL_NULL) | {column: None}
    with pytest.raises(ValueError, match=column):
        Alert.model_validate(document)


def test_engine_passes_the_post_and_its_severity_to_the_alert() -> None:
    worker = engine.Engine(settings(analysis=AnalysisSpec()))
    scored = text("p1", 0.9, 0).model_copy(update={"post": POST, "severity": "high"})
    out = worker.process([record(TopicRole.TEXT_SCORES, scored)])
    assert [o.role for o in out] == [TopicRole.SCORED_POSTS, TopicRole.ALERTS]
    for output in out:
        assert isinstance(output.value, ScoredPost)
        assert (output.value.post, output.value.severity) == (POST, "high")


def test_why_names_each_category_with_its_evidence_strongest_first() -> None:
    found = [RiskCategory(category="boycott", label="boycott", score=0.4, strong=False,
                          evidence=["boycott"]),
             RiskCategory(category="product_safety", label="product safety", score=0.85,
                          strong=True, evidence=["caught fire", "recall"])]  # fmt: skip
    spanish = alert("p1").model_copy(update={"risk_categories": found, "language": "es"})
    why = notifier.explain(spanish)
    assert why[:2] == ['product safety: "caught fire", "recall"', 'boycott: "boycott"']
    assert why[-1] == "written in Spanish"


def test_delivery_ids_are_stable_per_alert_and_receiver_and_distinct_otherwise() -> None:
    one = notifier.delivery_id("brands", "acme", "pr", "p1")
    assert one == notifier.delivery_id("brands", "acme", "pr", "p1")
    others = {
        notifier.delivery_id("other", "acme", "pr", "p1"),  # a same-named monitor elsewhere
        notifier.delivery_id("brands", "acme2", "pr", "p1"),
        notifier.delivery_id("brands", "acme", "pager", "p1"),
        notifier.delivery_id("brands", "acme", "pr", "p2"),
        notifier.delivery_id("brands", "acm", "epr", "p1"),  # no ambiguity from joining
    }
    assert one not in others
    assert len(others) == 5


def test_a_retry_keeps_the_delivery_id_and_signs_a_fresh_timestamp() -> None:
    hook = Hook([503, 200])
    now = iter([1000.0, 1000.0, 1042.0, 1042.0])
    webhooks = [WebhookTarget(name="pr", format="generic", url_env="U", secret_env="K")]
    n = notifier.Notifier(
        settings(webhooks=webhooks), post=hook, sleep=lambda _s: None, clock=lambda: next(now),
        environ={"U": "http://hook.local/x", "K": "k3y"},
    )  # fmt: skip
    n.process([record(TopicRole.ALERTS, alert("p1"))])
    (_, body, first), (_, _, second) = hook.calls
    assert first["X-Brandmon-Delivery"] == second["X-Brandmon-Delivery"]
    assert (first["X-Brandmon-Timestamp"], second["X-Brandmon-Timestamp"]) == ("1000", "1042")
    assert notifier.verify("k3y", second, body, now=1042.0)


def signed(body: bytes, timestamp: int = 1000, delivery: str = "d1") -> dict[str, str]:
    return {
        "X-Brandmon-Timestamp": str(timestamp),
        "X-Brandmon-Delivery": delivery,
        "X-Brandmon-Signature": notifier.signature("k3y", timestamp, delivery, body),
    }


def test_verification_refuses_tampering_replays_and_stale_requests() -> None:
    body = b'{"alert":1}'
    good = signed(body)
    assert notifier.verify("k3y", good, body, now=1000.0)
    assert notifier.verify("k3y", good, body, now=1300.0)  # 5 minutes: still fresh
    assert not notifier.verify("k3y", good, body, now=1301.0)  # a replay after 5 minutes
    assert not notifier.verify("k3y", good, body, now=699.0)  # from the future
    assert not notifier.verify("wrong", good, body, now=1000.0)
    assert not notifier.verify("k3y", good, body + b" ", now=1000.0)
    # Timestamp and delivery id are inside the signed bytes: neither can be swapped.
    assert not notifier.verify("k3y", good | {"X-Brandmon-Timestamp": "1200"}, body, now=1200.0)
    assert not notifier.verify("k3y", good | {"X-Brandmon-Delivery": "d2"}, body, now=1000.0)
    assert not notifier.verify("k3y", good | {"X-Brandmon-Timestamp": "soon"}, body, now=1000.0)
    assert not notifier.verify("k3y", {}, body, now=1000.0)
    # The old body-only scheme is not accepted.
    legacy = "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert not notifier.verify("k3y", good | {"X-Brandmon-Signature": legacy}, body, now=1000.0)
