"""The common runtime of every long-running worker: consume, process, produce, commit.

A functional core (a `Processor` turns a batch of typed input records into typed outputs)
in an imperative shell (`Worker`): poll a batch, decode it at the edge (malformed or
oversized input goes to the dead-letter topic with the reason and the original payload),
process, produce, wait until Kafka acknowledged every output, and only then commit the
input offsets. That makes every worker at-least-once; downstream state is idempotent by
key, so a replay adds no duplicate results. The wait for acknowledgements overlaps with
consuming and decoding the next batch (never with processing it, so a processor always
learns what was delivered before it sees more input), and offsets are committed
asynchronously once acknowledged. A failing batch is retried with backoff; one
that keeps failing is split to find the poison record, which is dead-lettered. SIGTERM
stops polling, finishes the batch in hand, flushes, commits and closes.

Each worker serves `/healthz` and `/readyz` and Prometheus metrics (consumed, produced,
failed, dead-lettered, lag, processing latency).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from pydantic import ValidationError

from brandmon_workers.contract.messages import MESSAGE_OF_ROLE, DeadLetter, MessageModel
from brandmon_workers.contract.settings import WorkerSettings
from brandmon_workers.contract.topics import TopicRole, consumer_group

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_INPUT_BYTES = 512 * 1024
"""Larger inputs are dead-lettered: no brandmon message is legitimately this big."""
_DLQ_PAYLOAD_BYTES = 64 * 1024
_MAX_BATCH_ATTEMPTS = 5
_MAX_BACKOFF_S = 30.0
_STUCK_AFTER_S = 120.0


@dataclass(frozen=True)
class Record:
    """A decoded input message."""

    role: TopicRole
    topic: str
    partition: int
    offset: int
    key: str | None
    value: Any
    timestamp_ms: int


@dataclass(frozen=True)
class Output:
    """A message to produce."""

    role: TopicRole
    key: str
    value: MessageModel


@dataclass
class _Batch:
    """Consumed input on its way through the worker, until its offsets are committed."""

    messages: list[Message]
    records: list[Record]
    rejects: list[tuple[Message, str]]
    started: float
    outputs: list[Output] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    """Delivery errors reported by the producer for this batch's messages."""
    attempt: int = 0


class Unprocessable(Exception):  # noqa: N818 - names what the record is, like KeyError
    """A record that can never be processed: dead-letter it and go on."""

    def __init__(self, reason: str, record: Record | None = None) -> None:
        super().__init__(reason)
        self.record = record


class Pause(Exception):  # noqa: N818 - a request, not a bug
    """Stop consuming for a while (e.g. a call budget is spent); the batch is retried."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"pause {seconds:.0f}s")
        self.seconds = seconds


class Processor(Protocol):
    """The functional core of a worker."""

    inputs: Mapping[TopicRole, type[MessageModel]]

    def start(self, context: Context) -> None:
        """Prepare before the first batch (e.g. rebuild state from Kafka)."""

    def process(self, records: Sequence[Record]) -> list[Output]:
        """Turn a batch of inputs into outputs; raise Unprocessable/Pause as documented.

        Must not record the outputs as done: a batch is processed again when producing fails.
        """
        ...

    def delivered(self, outputs: Sequence[Output]) -> None:
        """Record outputs Kafka acknowledged (called before the inputs are committed)."""


class Context:
    """What a processor may use at start-up: settings and a way to read a whole topic."""

    def __init__(
        self,
        settings: WorkerSettings,
        consumer_config: Mapping[str, Any],
        group: str,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.group = group
        """The worker's own consumer group."""
        self.metrics = metrics
        self._consumer_config = dict(consumer_config)

    def records(self, role: TopicRole, handled_only: bool = False) -> Iterator[Record]:
        """Yield a whole topic's messages decoded as the worker decodes its input.

        A rebuild must survive anything a topic holds, so what cannot be decoded (too large,
        not the role's schema, a key that is not UTF-8) is skipped: logged with its reason
        and counted in `brandmon_skipped_on_rebuild`. It is not dead-lettered again: the
        worker that consumed it first already did that.
        """
        model = MESSAGE_OF_ROLE[role]
        for message in self.read_topic(role, handled_only):
            decoded = decode(message, role, model)
            if isinstance(decoded, Record):
                yield decoded
                continue
            topic = message.topic() or ""
            self.metrics.skipped.labels(self.metrics.worker, topic).inc()
            log.warning(
                "skipped a malformed message while rebuilding state",
                extra={"fields": {"worker": self.metrics.worker, "topic": topic,
                                  "partition": message.partition(), "offset": message.offset(),
                                  "error": decoded}},
            )  # fmt: skip

    def read_topic(self, role: TopicRole, handled_only: bool = False) -> Iterator[Message]:
        """Yield every message of a topic from the beginning up to its current end.

        With `handled_only`, stop at this worker's committed offsets instead: what the
        worker had already handled before it (re)started.
        """
        until_committed_by = self.group if handled_only else None
        topic = self.settings.topics.of(role)
        reader = Consumer(
            self._consumer_config
            | {
                "group.id": f"{topic}.reader",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )
        try:
            metadata = reader.list_topics(topic, timeout=10).topics[topic]
            partitions = [TopicPartition(topic, p) for p in metadata.partitions]
            ends = {tp.partition: _high_watermark(reader, tp) for tp in partitions}
            if until_committed_by is not None:
                group = Consumer(self._consumer_config | {"group.id": until_committed_by})
                try:
                    for tp in _committed(group, partitions):
                        ends[tp.partition] = max(tp.offset, 0)
                finally:
                    group.close()
            remaining = {p for p, end in ends.items() if end > 0}
            reader.assign([TopicPartition(topic, p, 0) for p in remaining])
            while remaining:
                message = reader.poll(1.0)
                if message is None or message.error():
                    continue
                partition, offset = message.partition(), message.offset()
                if partition is None or offset is None or partition not in remaining:
                    continue
                if offset < ends[partition]:
                    yield message
                if offset + 1 >= ends[partition]:
                    remaining.discard(partition)
        finally:
            reader.close()


_SETTLING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TIMED_OUT,  # noqa: SLF001 - librdkafka's local error codes
    KafkaError._TRANSPORT,  # noqa: SLF001
    # The group coordinator moves or loads (e.g. a broker just started).
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
}


def _while_settling(action: Callable[[], T], within_s: float = 60.0) -> T:
    """Return action(), retrying while Kafka settles (a new topic's leader, a coordinator)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return action()
        except KafkaException as error:
            if time.monotonic() > deadline or error.args[0].code() not in _SETTLING:
                raise
            time.sleep(0.5)


def _high_watermark(consumer: Consumer, tp: TopicPartition) -> int:
    """Return a partition's end offset, waiting while Kafka settles."""
    return _while_settling(lambda: int(consumer.get_watermark_offsets(tp, timeout=10)[1]))


def _committed(group: Consumer, partitions: list[TopicPartition]) -> list[TopicPartition]:
    """Return a group's committed offsets, waiting while its coordinator settles."""
    return _while_settling(lambda: list(group.committed(partitions, timeout=10)))


def decode(message: Message, role: TopicRole, model: type[MessageModel]) -> Record | str:
    """Decode one consumed message into a Record, or return why it cannot be one.

    The one place where bytes from Kafka become typed values, for the poll loop and for
    start-up rebuilds alike: nothing a producer writes may raise past it.
    """
    topic, partition, offset = message.topic() or "", message.partition(), message.offset()
    raw = message.value() or b""
    if len(raw) > MAX_INPUT_BYTES:
        return f"message of {len(raw)} bytes exceeds {MAX_INPUT_BYTES}"
    try:
        value = model.model_validate_json(raw)
    except ValidationError as invalid:
        return f"invalid {role.value} message: {_short(invalid)}"
    key = message.key()
    try:
        text_key = key.decode() if key is not None else None
    except UnicodeDecodeError:
        return "key is not UTF-8"
    return Record(role, topic, partition or 0, offset or 0, text_key, value, message.timestamp()[1])


def dead_letter(message: Message, error: str, worker: str) -> DeadLetter:
    """Build the dead letter of an input message, keeping its payload readable."""
    raw = message.value() or b""
    truncated = raw[:_DLQ_PAYLOAD_BYTES]
    try:
        payload, encoding = truncated.decode(), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(truncated).decode(), "base64"
    if len(raw) > len(truncated):
        error = f"{error} (payload truncated from {len(raw)} bytes)"
    key = message.key()
    return DeadLetter(
        source_topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=key.decode(errors="replace") if key is not None else None,
        error=error,
        payload=payload,
        payload_encoding="utf-8" if encoding == "utf-8" else "base64",
        worker=worker,
        failed_at=datetime.now(UTC),
    )


def group_id(settings: WorkerSettings, role: str) -> str:
    """Return the consumer group of one role of one monitor."""
    return consumer_group(settings.namespace, settings.monitor, role)


def record_dead_letter(record: Record, error: str, worker: str) -> DeadLetter:
    """Build the dead letter of a decoded record that could not be processed."""
    value = record.value
    payload = value.model_dump_json() if isinstance(value, MessageModel) else str(value)
    return DeadLetter(
        source_topic=record.topic, partition=record.partition, offset=record.offset,
        key=record.key, error=error, payload=payload, worker=worker, failed_at=datetime.now(UTC),
    )  # fmt: skip


class Metrics:
    """The worker's Prometheus metrics, in a registry of its own."""

    def __init__(self, worker: str) -> None:
        self.registry = CollectorRegistry()
        labels = ["worker"]
        self.consumed = Counter(
            "brandmon_consumed", "Input messages consumed", labels, registry=self.registry
        )
        self.produced = Counter(
            "brandmon_produced", "Output messages acknowledged", labels, registry=self.registry
        )
        self.failed = Counter(
            "brandmon_failed_batches",
            "Batches that failed and were retried",
            labels,
            registry=self.registry,
        )
        self.dead = Counter(
            "brandmon_dead_lettered",
            "Messages sent to the dead-letter topic",
            labels,
            registry=self.registry,
        )
        self.skipped = Counter(
            "brandmon_skipped_on_rebuild",
            "Malformed messages skipped while rebuilding state at start-up",
            [*labels, "topic"],
            registry=self.registry,
        )
        self.second_opinions = Counter(
            "brandmon_second_opinions",
            "Unsure captions the brand-risk embedding head was asked about (asked) or was"
            " not, for the text analyzer's budget (over_budget)",
            [*labels, "outcome"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "brandmon_consumer_lag",
            "Messages behind the end of the input topics",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "brandmon_batch_seconds",
            "Time to process, produce and commit a batch",
            labels,
            registry=self.registry,
        )
        self.worker = worker


class _Health(BaseHTTPRequestHandler):
    worker: Worker

    def do_GET(self) -> None:
        ok = self.worker.alive() if self.path == "/healthz" else self.worker.ready()
        if self.path not in ("/healthz", "/readyz"):
            self.send_response(404)
        else:
            self.send_response(200 if ok else 503)
        self.end_headers()
        self.wfile.write(b"ok\n" if ok else b"not ok\n")

    def log_message(self, *_: object) -> None:
        """Keep probes out of the logs."""


class Worker:
    """The imperative shell around a Processor."""

    def __init__(
        self,
        name: str,
        settings: WorkerSettings,
        processor: Processor,
        *,
        batch_size: int = 500,
        poll_timeout_s: float = 0.2,
        health_port: int | None = 8080,
        metrics_port: int | None = 9102,
        client_config: Mapping[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.settings = settings
        self.processor = processor
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s
        self.health_port = health_port
        self.metrics_port = metrics_port
        self.metrics = Metrics(name)
        self._sleep = sleep
        base = {**settings.kafka_client_config(), **(client_config or {})}
        self.consumer_config = base | {
            "group.id": group_id(settings, name),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "max.partition.fetch.bytes": 4 * MAX_INPUT_BYTES,
        }
        self.producer_config = base | {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
        }
        self._roles = {settings.topics.of(role): role for role in processor.inputs}
        self._heartbeat = time.monotonic()
        self._assigned = False
        self._servers: list[Any] = []
        self._producer: Producer | None = None
        self._in_flight: _Batch | None = None

    # --- probes -----------------------------------------------------------------------

    def alive(self) -> bool:
        """Whether the poll loop turned recently (a stuck loop fails the liveness probe)."""
        return time.monotonic() - self._heartbeat < _STUCK_AFTER_S

    def ready(self) -> bool:
        """Whether the worker has partitions to work on."""
        return self._assigned

    def _serve(self) -> None:
        if self.health_port is not None:
            handler = type("Health", (_Health,), {"worker": self})
            server = ThreadingHTTPServer(("0.0.0.0", self.health_port), handler)  # noqa: S104 - pod probes
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)
        if self.metrics_port is not None:
            metrics_server, _thread = start_http_server(
                self.metrics_port, registry=self.metrics.registry
            )
            self._servers.append(metrics_server)

    # --- the loop ---------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set, then finish the batch in hand and close cleanly."""
        self._serve()
        self.processor.start(
            Context(
                self.settings,
                self.settings.kafka_client_config(),
                self.consumer_config["group.id"],
                self.metrics,
            )
        )
        consumer = Consumer(self.consumer_config)
        producer = Producer(self.producer_config)
        self._producer = producer
        consumer.subscribe(list(self._roles), on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info(
            "worker started", extra={"fields": {"worker": self.name, "topics": list(self._roles)}}
        )
        try:
            while not stop.is_set():
                self._heartbeat = time.monotonic()
                # With a batch in flight, take only what is already fetched: if nothing is,
                # settle that batch now rather than after a poll timeout.
                waiting = self.poll_timeout_s if self._in_flight is None else 0
                messages = consumer.consume(self.batch_size, waiting)
                batch = self._decode(messages) if messages else None
                # The previous batch's acknowledgements arrived while this one was read.
                if self._in_flight is not None and not self._settle(
                    consumer, producer, self._in_flight, stop
                ):
                    # Stopped while retrying: the next owner starts at the uncommitted input.
                    self._rewind(
                        consumer, self._in_flight.messages + (batch.messages if batch else [])
                    )
                    self._in_flight = None
                    return
                self._in_flight = None
                if batch is not None:
                    if not self._send(producer, batch, stop):
                        self._rewind(consumer, batch.messages)
                        return
                    self._in_flight = batch
                    self._update_lag(consumer)
        finally:
            if self._in_flight is not None:
                # Finish the batch in hand: one flush, and commit only what Kafka acknowledged.
                self._settle(consumer, producer, self._in_flight, stop, retry=False)
                self._in_flight = None
            producer.flush(30)
            consumer.close()
            for server in self._servers:
                server.shutdown()
                server.server_close()
            log.info("worker stopped", extra={"fields": {"worker": self.name}})

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = True

    def _on_revoke(self, consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        # The batch in flight belongs to partitions that are leaving: commit it now if Kafka
        # acknowledged its outputs, or leave it uncommitted for the next owner to redo.
        batch, self._in_flight = self._in_flight, None
        if batch is not None and self._producer is not None:
            self._settle(consumer, self._producer, batch, threading.Event(), retry=False)

    def _decode(self, messages: list[Message]) -> _Batch:
        started = time.monotonic()
        self.metrics.consumed.labels(self.name).inc(len(messages))
        records: list[Record] = []
        rejects: list[tuple[Message, str]] = []
        for message in messages:
            error = message.error()
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            if error is not None or topic is None or partition is None or offset is None:
                if error is not None and error.code() != KafkaError._PARTITION_EOF:  # noqa: SLF001
                    log.warning("consume error", extra={"fields": {"error": str(error)}})
                continue
            role = self._roles[topic]
            decoded = decode(message, role, self.processor.inputs[role])
            if isinstance(decoded, Record):
                records.append(decoded)
            else:
                rejects.append((message, decoded))
        return _Batch(messages, records, rejects, started)

    def _send(self, producer: Producer, batch: _Batch, stop: threading.Event) -> bool:
        """Process a batch and hand its outputs to the producer; False if stopped first."""
        while True:
            try:
                outputs, poison = self._process(batch.records, batch.attempt)
                batch.outputs = outputs
                batch.dead = [dead_letter(m, why, self.name) for m, why in batch.rejects] + poison
                batch.failures = []
                self._produce(producer, batch)
                return True
            except Pause as pause:
                log.warning(
                    "pausing", extra={"fields": {"worker": self.name, "seconds": pause.seconds}}
                )
                self._wait(pause.seconds, stop)
            except Exception:  # a transient failure (I/O): retry the whole batch
                log.exception(
                    "batch failed; retrying",
                    extra={"fields": {"worker": self.name, "attempt": batch.attempt + 1}},
                )
                self._failed(batch, stop)
            if stop.is_set():
                return False

    def _settle(
        self,
        consumer: Consumer,
        producer: Producer,
        batch: _Batch,
        stop: threading.Event,
        *,
        retry: bool = True,
    ) -> bool:
        """Wait for the batch's acknowledgements, then record and commit it.

        A batch whose outputs Kafka did not all acknowledge is processed and produced again
        (with backoff) unless `retry` is False; False means it was left uncommitted.
        """
        while True:
            remaining = producer.flush(30)
            if not batch.failures and not remaining:
                break
            if not retry:
                return False
            failures = f"{len(batch.failures)} deliveries failed, {remaining} unacknowledged"
            log.error(
                "batch not acknowledged; retrying",
                extra={
                    "fields": {"worker": self.name, "error": f"{failures}: {batch.failures[:3]}"}
                },
            )
            self._failed(batch, stop)
            if stop.is_set() or not self._send(producer, batch, stop):
                return False
        self.metrics.produced.labels(self.name).inc(len(batch.outputs))
        self.metrics.dead.labels(self.name).inc(len(batch.dead))
        self.processor.delivered(batch.outputs)
        # Asynchronous while running: a lost commit only means the batch is redone. The last
        # commit, at shutdown or on revocation, waits for the coordinator's answer.
        if retry:
            consumer.commit(offsets=_next_offsets(batch.messages), asynchronous=True)
        else:
            consumer.commit(offsets=_next_offsets(batch.messages), asynchronous=False)
        self.metrics.latency.labels(self.name).observe(time.monotonic() - batch.started)
        return True

    def _failed(self, batch: _Batch, stop: threading.Event) -> None:
        """Count a failed attempt and back off before the next."""
        batch.attempt += 1
        self.metrics.failed.labels(self.name).inc()
        self._wait(min(_MAX_BACKOFF_S, 0.5 * 2**batch.attempt), stop)

    def _process(
        self, records: list[Record], attempt: int
    ) -> tuple[list[Output], list[DeadLetter]]:
        """Process a batch; after repeated failures, one by one to isolate poison records."""
        if not records:
            return [], []
        if attempt < _MAX_BATCH_ATTEMPTS:
            try:
                return self.processor.process(records), []
            except Unprocessable as bad:
                if bad.record is None:
                    raise
            # One record is bad: fall through and isolate it.
        outputs: list[Output] = []
        dead: list[DeadLetter] = []
        for record in records:
            try:
                outputs += self.processor.process([record])
            except Pause:
                raise
            except Exception as error:  # after retries, anything left is poison
                if attempt < _MAX_BATCH_ATTEMPTS and not isinstance(error, Unprocessable):
                    raise
                dead.append(record_dead_letter(record, str(error), self.name))
        return outputs, dead

    def _produce(self, producer: Producer, batch: _Batch) -> None:
        """Hand every output and dead letter to the producer; `_settle` awaits the answers."""
        failures = batch.failures

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                failures.append(str(error))

        for output in batch.outputs:
            producer.produce(
                self.settings.topics.of(output.role),
                key=output.key.encode(),
                value=output.value.model_dump_json().encode(),
                on_delivery=delivered,
            )
        dead_topic = self.settings.topics.of(TopicRole.DEAD_LETTERS)
        for letter in batch.dead:
            producer.produce(
                dead_topic,
                key=(letter.key or "").encode(),
                value=letter.model_dump_json().encode(),
                on_delivery=delivered,
            )
            log.warning(
                "dead-lettered",
                extra={
                    "fields": {
                        "worker": self.name,
                        "topic": letter.source_topic,
                        "offset": letter.offset,
                        "error": letter.error,
                    }
                },
            )

    def _wait(self, seconds: float, stop: threading.Event) -> None:
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            self._heartbeat = time.monotonic()
            self._sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    @staticmethod
    def _rewind(consumer: Consumer, messages: list[Message]) -> None:
        for tp in _first_offsets(messages):
            consumer.seek(tp)

    def _update_lag(self, consumer: Consumer) -> None:
        lag = 0
        for tp in consumer.assignment():
            _low, high = consumer.get_watermark_offsets(tp, cached=True) or (0, 0)
            position = consumer.position([tp])[0].offset
            if high >= 0 and position >= 0:
                lag += max(0, high - position)
        self.metrics.lag.labels(self.name).set(lag)


def _next_offsets(messages: Sequence[Message]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for message in messages:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is not None and partition is not None and offset is not None and offset >= 0:
            last[topic, partition] = max(offset, last.get((topic, partition), -1))
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def _first_offsets(messages: Sequence[Message]) -> list[TopicPartition]:
    first: dict[tuple[str, int], int] = {}
    for message in messages:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is not None and partition is not None and offset is not None and offset >= 0:
            first[topic, partition] = min(offset, first.get((topic, partition), offset))
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]


def _short(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3])


def json_line(value: MessageModel) -> str:
    """Return a message as one JSON line (archives, webhook bodies)."""
    return json.dumps(value.model_dump(mode="json"), separators=(",", ":"), sort_keys=True)
