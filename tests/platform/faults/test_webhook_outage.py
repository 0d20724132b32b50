"""The PR team's webhook failing (500s), then hanging past the timeout, then back.

The notifier runs as a real process on the real Kafka. Alerts raised during a receiver
outage longer than one alert's retry budget must still reach the receiver once it is
back: each exactly once, none dead-lettered, the notifier alive throughout.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from brandmon_workers.contract.settings import WorkerSettings
from brandmon_workers.contract.topics import TopicRole
from tests.platform.conftest import eventually
from tests.platform.faults.support import FlakyReceiver, alert, delivery_id, stop_processes
from tests.platform.test_pipeline import produce, read_all, settings, worker_process

__all__ = ["settings"]  # the pipeline's worker settings fixture, used here with this webhook

ALERTS = {"a-1": "jamie", "a-2": "techwatch", "a-3": "jamie"}


@pytest.fixture
def webhook(receiver: FlakyReceiver) -> tuple[str, list[dict[str, Any]]]:
    """Overrides the pipeline's always-healthy receiver."""
    return receiver.url, receiver.deliveries


def test_alerts_raised_during_a_webhook_outage_are_delivered_once_when_it_is_back(
    settings: WorkerSettings, receiver: FlakyReceiver, tmp_path: Path
) -> None:
    receiver.set_mode("error")
    notifier = worker_process(settings, "notifier", tmp_path / "notifier.log")
    try:
        produce(settings, TopicRole.ALERTS,
                [(post, alert(post, user).model_dump_json().encode()) for post, user in ALERTS.items()])  # fmt: skip
        eventually(lambda: receiver.attempts["error"] >= 3, timeout=90, what="retries on 500s")
        outage_started = time.monotonic()
        # Past one alert's retry budget (five attempts, 15 s of backoff): 500s, then silence.
        time.sleep(8)
        receiver.set_mode("hang")
        eventually(lambda: receiver.attempts["hang"] >= 1, timeout=60, what="a request held")
        time.sleep(12)  # the notifier's 10 s timeout fires at least once
        assert time.monotonic() - outage_started > 15
        receiver.set_mode("ok")
        expected = {delivery_id(settings, post) for post in ALERTS}
        eventually(lambda: set(receiver.delivery_ids) == expected, timeout=90,
                   what="every alert delivered after the outage")  # fmt: skip
        time.sleep(3)  # a duplicate would arrive now
        assert notifier.poll() is None, "the notifier died"
    finally:
        stop_processes(notifier)
    assert sorted(receiver.delivery_ids) == sorted(expected)  # each exactly once
    posts = [d["alert"]["post_id"] for d in receiver.deliveries]
    assert [delivery_id(settings, post) for post in posts] == receiver.delivery_ids
    assert read_all(settings, TopicRole.DEAD_LETTERS) == []
    log = (tmp_path / "notifier.log").read_text()
    assert receiver.url not in log  # the URL is a secret
