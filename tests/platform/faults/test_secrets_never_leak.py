"""Secret values never appear in logs, Events or status, also on the failure paths.

Operator side: a monitor whose Kafka and ksqlDB credentials come from Secrets the operator
must read, pointing at servers that refuse or are absent, so the operator fails and
reports it. Worker side: the notifier with a webhook URL carrying a token, against a
receiver answering 500 then 200, and the archiver with a wrong S3 secret key. Afterwards
the operator log, every worker log, every Event in the namespace and the monitor's status
are searched for each secret value.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from brandmon_operator import credentials
from brandmon_workers.contract.messages import ScoredPost
from brandmon_workers.contract.settings import WorkerSettings
from brandmon_workers.contract.topics import TopicRole
from tests.platform.conftest import OperatorProcess, eventually
from tests.platform.faults.support import FlakyReceiver, alert, delivery_id, stop_processes
from tests.platform.test_operator import condition, create_monitor, get_monitor, sample
from tests.platform.test_pipeline import produce, settings, worker_process

__all__ = ["settings"]  # the pipeline's worker settings fixture

KAFKA_PASSWORD = "kafka-pw-Q7ZX41"
KSQL_PASSWORD = "ksql-pw-M3RT88"
WEBHOOK_TOKEN = "hook-token-W9PL26"
S3_SECRET = "s3-secret-J5KD03"


@pytest.fixture
def webhook(receiver: FlakyReceiver) -> tuple[str, list[dict[str, Any]]]:
    """The receiver's URL with a token in it, as webhook URLs usually carry one."""
    return f"{receiver.url}?token={WEBHOOK_TOKEN}", receiver.deliveries


def leaks(text: str) -> list[str]:
    return [s for s in (KAFKA_PASSWORD, KSQL_PASSWORD, WEBHOOK_TOKEN, S3_SECRET) if s in text]


def test_operator_failure_paths_never_show_secret_values(
    kube: client.ApiClient, namespace: str, run_operator: Callable[..., OperatorProcess]
) -> None:
    core = client.CoreV1Api(kube)
    for name, key, value in (
        ("kafka-creds", "client.properties",
         f"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=u\nsasl.password={KAFKA_PASSWORD}\n"),
        ("ksql-creds", "credentials", f"user:{KSQL_PASSWORD}"),
    ):  # fmt: skip
        # Released to the endpoints below, so the operator really uses them.
        released = {credentials.RELEASE_ANNOTATION: "127.0.0.1:1"}
        core.create_namespaced_secret(namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, annotations=released),
            string_data={key: value}))  # fmt: skip
    operator = run_operator(namespace, resync_seconds=5, allow_custom_endpoints="true")
    body = sample()
    body["spec"]["connections"] = {
        "kafka": {"bootstrapServers": "127.0.0.1:1",
                  "credentialsSecretRef": {"name": "kafka-creds", "key": "client.properties"}},
        "ksqldb": {"url": "http://127.0.0.1:1",
                   "credentialsSecretRef": {"name": "ksql-creds", "key": "credentials"}},
    }  # fmt: skip
    create_monitor(kube, namespace, body)

    def failed() -> bool:
        found = condition(get_monitor(kube, namespace, "acme"), "TopicsReady")
        return bool(found and found["reason"] == "KafkaUnavailable")

    eventually(failed, timeout=60, what="TopicsReady=False KafkaUnavailable")
    time.sleep(10)  # a few retries and resyncs, each a chance to log
    status = json.dumps(get_monitor(kube, namespace, "acme")["status"])
    events = json.dumps([kube.sanitize_for_serialization(e)  # type: ignore[no-untyped-call]
                         for e in core.list_namespaced_event(namespace).items])  # fmt: skip
    log = operator.log.read_text()
    assert "KafkaUnavailable" in status  # the failure is reported...
    assert leaks(status) == []  # ...without the secret
    assert leaks(events) == []
    assert leaks(log) == []


def test_worker_failure_paths_never_log_secret_values(
    settings: WorkerSettings, receiver: FlakyReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    receiver.set_mode("error")
    notifier = worker_process(settings, "notifier", tmp_path / "notifier.log")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)  # wrong: S3 refuses every upload
    archiver = worker_process(settings, "archiver", tmp_path / "archiver.log")
    try:
        produce(settings, TopicRole.ALERTS, [("p-1", alert("p-1", "u").model_dump_json().encode())])
        post = ScoredPost(post_id="p-1", username="u", text_score=0.9, final_score=0.9)
        produce(settings, TopicRole.SCORED_POSTS, [("p-1", post.model_dump_json().encode())])
        eventually(lambda: receiver.attempts["error"] >= 3, timeout=90, what="webhook retries")
        eventually(lambda: "SignatureDoesNotMatch" in (tmp_path / "archiver.log").read_text()
                   or "InvalidAccessKeyId" in (tmp_path / "archiver.log").read_text(),
                   timeout=90, what="the archiver failing on its key")  # fmt: skip
        receiver.set_mode("ok")
        expected = [delivery_id(settings, "p-1")]
        eventually(lambda: receiver.delivery_ids == expected, timeout=60, what="the delivery")
    finally:
        stop_processes(notifier, archiver)
    for log in ("notifier.log", "archiver.log"):
        text = (tmp_path / log).read_text()
        assert text, log
        assert leaks(text) == [], log
