"""Sending to Kafka with delivery reports grouped by what they belong to.

A post is several messages (its Media, then the Post); it counts as sent only when Kafka
acknowledged every one of them (acks=all, idempotent producer). `DeliveryTracker` does
that bookkeeping, purely; `KafkaSink` produces and, on `flush`, waits for the reports and
says which groups were delivered and which failed, so only delivered ones are recorded.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import partial

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from brandmon_workers.contract.settings import WorkerSettings

log = logging.getLogger(__name__)
_NUMBERS = re.compile(r"\d+")
_KINDS_REMEMBERED = 256


class RepeatFilter(logging.Filter):
    """Let each kind of message through once per window.

    librdkafka logs every reconnect attempt to a broker that is down, many per second;
    messages that differ only in numbers (timings, counters) are the same kind.
    """

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._window = window
        self._clock = clock
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Return whether the record is the first of its kind in the window."""
        kind = _NUMBERS.sub("#", record.getMessage())
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._window:
            return False
        if len(self._last) >= _KINDS_REMEMBERED:
            self._last.clear()
        self._last[kind] = now
        return True


kafka_log = logging.getLogger("brandmon.collector.kafka")
kafka_log.addFilter(RepeatFilter())

# Delivery gives up after this long; flush waits a little longer, so every message ends
# with a report before the run decides what was sent.
MESSAGE_TIMEOUT_MS = 60_000
FLUSH_TIMEOUT_SECONDS = MESSAGE_TIMEOUT_MS / 1000 + 15
NO_REPORT = "no delivery report before the flush timeout"


def producer_config(settings: WorkerSettings, client_id: str) -> dict[str, object]:
    """Return the collector's producer configuration: durable, idempotent, compressed."""
    return {
        **settings.kafka_client_config(),
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "zstd",
        "linger.ms": 20,
        "message.timeout.ms": MESSAGE_TIMEOUT_MS,
        "logger": kafka_log,
    }


class KafkaUnavailableError(Exception):
    """Kafka cannot take the run's messages (unreachable, or topics missing)."""


def check_topics(producer: Producer, topics: Sequence[str], timeout: float = 15.0) -> None:
    """Fail fast, before reading the source, when Kafka or a topic is not there."""
    try:
        metadata = producer.list_topics(timeout=timeout)
    except KafkaException as error:
        raise KafkaUnavailableError(f"Kafka is unreachable: {error.args[0]}") from error
    missing = [t for t in topics if t not in metadata.topics or metadata.topics[t].error]
    if missing:
        raise KafkaUnavailableError(f"Kafka topics missing: {', '.join(missing)}")


@dataclass
class Settled:
    """Groups whose messages all got a report since the last flush."""

    delivered: list[Hashable] = field(default_factory=list)
    failed: dict[Hashable, str] = field(default_factory=dict)


class DeliveryTracker:
    """Count outstanding acknowledgements per group; a group fails on its first error."""

    def __init__(self) -> None:
        self._outstanding: dict[Hashable, int] = {}
        self._failed: dict[Hashable, str] = {}

    def expect(self, group: Hashable, count: int) -> None:
        """Register a group of `count` messages about to be produced."""
        self._outstanding[group] = self._outstanding.get(group, 0) + count

    def report(self, group: Hashable, error: str | None) -> None:
        """Record one message's delivery report."""
        if group not in self._outstanding:
            return
        self._outstanding[group] -= 1
        if error is not None:
            self._failed.setdefault(group, error)

    def fail(self, group: Hashable, error: str) -> None:
        """Mark a group failed without waiting for its other reports."""
        if group in self._outstanding:
            self._failed.setdefault(group, error)

    def settle(self) -> Settled:
        """Return and forget every group; one still waiting for reports counts as failed."""
        settled = Settled()
        for group, outstanding in self._outstanding.items():
            if group in self._failed:
                settled.failed[group] = self._failed[group]
            elif outstanding > 0:
                settled.failed[group] = NO_REPORT
            else:
                settled.delivered.append(group)
        self._outstanding.clear()
        self._failed.clear()
        return settled


@dataclass(frozen=True)
class Outgoing:
    """One message to produce."""

    topic: str
    key: str
    value: str


class KafkaSink:
    """Produce groups of messages and settle their delivery on flush."""

    def __init__(self, producer: Producer, flush_timeout: float = FLUSH_TIMEOUT_SECONDS) -> None:
        self._producer = producer
        self._flush_timeout = flush_timeout
        self._tracker = DeliveryTracker()

    def send(self, group: Hashable, messages: Sequence[Outgoing]) -> None:
        """Produce a group's messages; their reports arrive during poll and flush."""
        self._tracker.expect(group, len(messages))
        for message in messages:
            try:
                self._produce(message, partial(self._delivered, group))
            except (KafkaException, BufferError) as error:
                self._tracker.fail(group, f"produce refused: {error}")
                return
        self._producer.poll(0)

    def _produce(self, message: Outgoing, on_delivery: partial[None]) -> None:
        key, value = message.key.encode(), message.value.encode()
        try:
            self._producer.produce(message.topic, value, key, on_delivery=on_delivery)
        except BufferError:
            # The local queue is full: let deliveries drain it, then try once more.
            self._producer.poll(1.0)
            self._producer.produce(message.topic, value, key, on_delivery=on_delivery)

    def _delivered(self, group: Hashable, error: KafkaError | None, _message: Message) -> None:
        self._tracker.report(group, None if error is None else error.str())

    def flush(self) -> Settled:
        """Wait for every outstanding report and return what was delivered and what failed."""
        remaining = self._producer.flush(self._flush_timeout)
        if remaining:
            log.warning(
                "messages still unacknowledged after flush",
                extra={"fields": {"messages": remaining}},
            )
        return self._tracker.settle()
