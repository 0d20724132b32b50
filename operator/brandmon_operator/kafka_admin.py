"""Kafka admin I/O: topics (apply a `topics.TopicPlan`) and monitors' principals.

Reads come from one snapshot of every topic under a name prefix, shared by all monitors
and refreshed at most every `max_age_s`: a snapshot costs three admin calls (list_topics,
describe_topics, describe_configs) however many monitors reconcile from it, so a
resync of a hundred monitors does not send a hundred times the requests of one. Writes
are batched the same way: one request per kind of change, for all topics of a plan; what
they changed is read back for those topics alone (two calls) and merged into the snapshot.

Errors come out as two kinds the operator treats differently: `KafkaUnavailable` (the
broker cannot be reached or did not answer in time: retry with backoff) and
`TopicRejected` (Kafka answered no, e.g. a replication factor above the broker count:
only a spec change helps).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    TopicDescription,
    UserScramCredentialUpsertion,
)

from brandmon_operator import principals
from brandmon_operator.topics import MANAGED_CONFIG, LiveTopic, TopicPlan, config_changes

K = TypeVar("K")

# librdkafka's own failures to reach or hear from the cluster (the underscored codes are
# local to the client) and the broker's "try again" answers: retrying can help.
_UNAVAILABLE_CODES = frozenset(
    # The local codes start with an underscore but are librdkafka's public API.
    {
        getattr(KafkaError, name)
        for name in (
            "_TRANSPORT",
            "_TIMED_OUT",
            "_TIMED_OUT_QUEUE",
            "_ALL_BROKERS_DOWN",
            "_MSG_TIMED_OUT",
            "_RESOLVE",
            "_AUTHENTICATION",
            "_DESTROY",
        )
    }
    | {
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NOT_CONTROLLER,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
    }
)
# Extra time for librdkafka to report its own timeout before we stop waiting for it.
_GRACE_S = 2.0


class KafkaUnavailable(RuntimeError):  # noqa: N818 - a state, not a bug: "Kafka is unavailable"
    """Kafka could not be reached or did not answer in time; retrying may help."""


class TopicRejected(RuntimeError):  # noqa: N818 - what Kafka did, not a bug
    """Kafka refused a change to a topic; Kafka's own reason is kept.

    `topic` and `reason` describe the first refusal; `rejected` holds every refused topic
    of the same request (topic -> reason).
    """

    def __init__(self, rejected: Mapping[str, str]) -> None:
        self.rejected = dict(rejected)
        self.topic, self.reason = next(iter(self.rejected.items()))
        message = f"topic {self.topic}: {self.reason}"
        if len(self.rejected) > 1:
            message += f" (and {len(self.rejected) - 1} more topics)"
        super().__init__(message)


def _kafka_error(error: BaseException) -> KafkaError | None:
    """Return the KafkaError inside a KafkaException, if there is one."""
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0], KafkaError):
        return error.args[0]
    return None


def _is_unavailable(error: KafkaError) -> bool:
    """Return whether an error means "cannot reach Kafka now" rather than "Kafka says no"."""
    return error.code() in _UNAVAILABLE_CODES or error.retriable()


def _already_exists(error: KafkaError) -> bool:
    return error.code() == KafkaError.TOPIC_ALREADY_EXISTS


def _invalid_partitions(error: KafkaError) -> bool:
    # Kafka answers INVALID_PARTITIONS when a topic already has the requested count
    # (another reconcile, or a plan from lagging metadata) and for real refusals alike;
    # decreases never get here (the plan refuses them), and the count read back decides.
    return error.code() == KafkaError.INVALID_PARTITIONS


def _never(_error: KafkaError) -> bool:
    return False


def _unknown_topic(error: KafkaError) -> bool:
    return error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART


_SCRAM = {
    "SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
    "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512,
}
_ACL_RESOURCE = {
    principals.Resource.TOPIC: ResourceType.TOPIC,
    principals.Resource.GROUP: ResourceType.GROUP,
}
_ACL_OPERATION = {
    principals.Operation.READ: AclOperation.READ,
    principals.Operation.WRITE: AclOperation.WRITE,
    principals.Operation.DESCRIBE: AclOperation.DESCRIBE,
}


def _binding(found: principals.Principal, grant: principals.Grant) -> AclBinding:
    return AclBinding(
        _ACL_RESOURCE[grant.resource], grant.prefix, ResourcePatternType.PREFIXED,
        found.acl_principal, "*", _ACL_OPERATION[grant.operation], AclPermissionType.ALLOW,
    )  # fmt: skip


@dataclass(frozen=True)
class _Batch:
    """The per-topic futures of one admin request."""

    what: str
    futures: list[tuple[str, Future[Any]]]
    done: Callable[[KafkaError], bool]
    """Whether an error means the topic is already as requested."""
    doubtful: Callable[[KafkaError], bool] = _never
    """Whether an error may mean either; a fresh read decides."""


class KafkaTopics:
    """The topics under one name prefix of one Kafka cluster, read and changed in batches.

    Thread-safe: kopf runs synchronous handlers in a thread pool, and all of them share
    one instance (and so one snapshot) per cluster.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        client_config: Mapping[str, str] | None = None,
        request_timeout_s: float = 10.0,
        max_age_s: float = 5.0,
        *,
        prefix: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Connect lazily to `bootstrap_servers`; manage topics whose name starts with `prefix`.

        `prefix` is a plain string prefix of topic names, e.g. "brandmon." for the topics
        of `TopicNames(prefix="brandmon", ...)`. `client_config` holds extra librdkafka
        properties (SASL etc.); they never appear in errors.
        """
        if not prefix:
            raise ValueError("prefix must not be empty: it bounds what the snapshot reads")
        self.bootstrap_servers = bootstrap_servers
        self.prefix = prefix
        self.request_timeout_s = request_timeout_s
        self.max_age_s = max_age_s
        self.calls: Counter[str] = Counter()
        self._clock = clock
        config: dict[str, str | int | float | bool] = {
            "client.id": "brandmon-operator",
            # librdkafka logs every failed reconnect (every ~50 ms while a broker is down);
            # outages reach users as KafkaUnavailable and the TopicsReady condition instead.
            "log_level": 2,
        }
        config.update(client_config or {})
        config["bootstrap.servers"] = bootstrap_servers
        self._admin: AdminClient | None = AdminClient(config)
        self._lock = threading.Lock()
        self._calls_lock = threading.Lock()
        self._snapshot: dict[str, LiveTopic] = {}
        self._taken_at: float | None = None
        self._failure: KafkaUnavailable | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- reads ---------------------------------------------------------------------------

    def describe(self, names: Collection[str]) -> dict[str, LiveTopic]:
        """Return the live state of those of `names` that exist, from the shared snapshot."""
        outside = sorted(n for n in names if not n.startswith(self.prefix))
        if outside:
            # The snapshot cannot see them: they would look missing and be "recreated".
            raise ValueError(f"topics outside prefix {self.prefix!r}: {', '.join(outside)}")
        with self._lock:
            now = self._clock()
            if self._taken_at is None or now - self._taken_at >= self.max_age_s:
                try:
                    self._snapshot = self._read_all()
                except KafkaUnavailable as error:
                    self._failure, self._taken_at = error, now
                    raise
                except BaseException:
                    self._taken_at = None  # never serve the old snapshot as fresh
                    raise
                self._failure, self._taken_at = None, now
            elif self._failure is not None:
                # The threads that queued on the lock behind a refresh that failed get its
                # error now, instead of each waiting out another timeout.
                raise KafkaUnavailable(str(self._failure)) from self._failure.__cause__
            snapshot = self._snapshot
        return {n: snapshot[n] for n in names if n in snapshot}

    def invalidate(self) -> None:
        """Make the next describe() read Kafka again."""
        with self._lock:
            self._taken_at = None
            self._failure = None

    def _read_all(self) -> dict[str, LiveTopic]:
        """Return every topic under the prefix (three admin calls, or one if there is none)."""
        admin = self._client()
        with self._calls_lock:
            self.calls["list_topics"] += 1
        try:
            metadata = admin.list_topics(timeout=self.request_timeout_s)
        except KafkaException as error:
            raise self._unavailable("list_topics", error) from error
        return self._read(sorted(t for t in metadata.topics if t.startswith(self.prefix)))

    def _read(self, names: list[str]) -> dict[str, LiveTopic]:
        """Describe the named topics and their configs (two admin calls), absent ones left out."""
        if not names:
            return {}
        admin = self._client()
        timeout = self.request_timeout_s
        described = self._send(
            "describe_topics",
            lambda: admin.describe_topics(TopicCollection(names), request_timeout=timeout),
        )
        configured = self._send(
            "describe_configs",
            lambda: admin.describe_configs(
                [ConfigResource(ResourceType.TOPIC, n) for n in names], request_timeout=timeout
            ),
        )
        # A topic deleted between the listing and the describes is simply not there.
        descriptions: dict[str, TopicDescription] = self._results(
            _Batch("describe_topics", list(described.items()), _unknown_topic)
        )
        configs: dict[str, dict[str, ConfigEntry]] = self._results(
            _Batch("describe_configs", [(r.name, f) for r, f in configured.items()], _unknown_topic)
        )
        live = {}
        for name in names:
            description, config = descriptions.get(name), configs.get(name)
            if description is None or config is None:
                continue
            live[name] = LiveTopic(
                name=name,
                topic_id=str(description.topic_id),
                partitions=len(description.partitions),
                # During a reassignment a partition lists its old and new replicas; the
                # smallest count is the replication factor the topic had before it.
                replication_factor=min(
                    (len(p.replicas) for p in description.partitions), default=0
                ),
                config={
                    key: entry.value
                    for key in MANAGED_CONFIG
                    if (entry := config.get(key)) is not None and entry.value is not None
                },
            )
        return live

    # -- writes --------------------------------------------------------------------------

    def apply(self, plan: TopicPlan) -> None:
        """Send the plan's creates, partition increases and config changes, batched by kind.

        All requests are sent before any answer is awaited (they touch different topics).
        A topic that already exists counts as created, and a partition count that is
        already reached as grown: another reconcile, or a stale read, got there first.
        Returns once a fresh snapshot shows the changes (or after `request_timeout_s`).
        """
        if not plan.writes:
            return
        admin = self._client()
        timeout = self.request_timeout_s
        batches: list[_Batch] = []
        try:
            if plan.create:
                new = [
                    NewTopic(
                        t.name,
                        num_partitions=t.partitions,
                        replication_factor=t.replication_factor,
                        config=dict(t.config),
                    )
                    for t in plan.create
                ]
                futures = self._send(
                    "create_topics",
                    lambda: admin.create_topics(
                        new, operation_timeout=timeout / 2, request_timeout=timeout
                    ),
                )
                batches.append(_Batch("create_topics", list(futures.items()), _already_exists))
            if plan.grow:
                grown = [NewPartitions(name, count) for name, count in plan.grow.items()]
                futures = self._send(
                    "create_partitions",
                    lambda: admin.create_partitions(
                        grown, operation_timeout=timeout / 2, request_timeout=timeout
                    ),
                )
                batches.append(
                    _Batch(
                        "create_partitions",
                        list(futures.items()),
                        _never,
                        doubtful=_invalid_partitions,
                    )
                )
            if plan.alter:
                resources = [
                    ConfigResource(
                        ResourceType.TOPIC,
                        name,
                        incremental_configs=[
                            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                            for key, value in changes.items()
                        ],
                    )
                    for name, changes in plan.alter.items()
                ]
                by_resource = self._send(
                    "incremental_alter_configs",
                    lambda: admin.incremental_alter_configs(resources, request_timeout=timeout),
                )
                batches.append(
                    _Batch(
                        "incremental_alter_configs",
                        [(r.name, f) for r, f in by_resource.items()],
                        _never,
                    )
                )
            doubtful = self._settle(batches)
        except BaseException:
            self.invalidate()  # even a partly applied plan changed Kafka
            raise
        snapshot = self._await_visible(plan)
        if doubtful:
            if snapshot is None:
                raise KafkaUnavailable(
                    f"Kafka at {self.bootstrap_servers}: could not read partition counts back"
                )
            refused = {
                name: reason
                for name, reason in doubtful.items()
                if name not in snapshot or snapshot[name].partitions < plan.grow[name]
            }
            if refused:
                raise TopicRejected(refused)

    def delete(self, names: Collection[str]) -> None:
        """Delete topics in one request; a topic that does not exist counts as deleted."""
        if not names:
            return
        admin = self._client()
        try:
            futures = self._send(
                "delete_topics",
                lambda: admin.delete_topics(
                    sorted(names),
                    operation_timeout=self.request_timeout_s / 2,
                    request_timeout=self.request_timeout_s,
                ),
            )
            self._settle([_Batch("delete_topics", list(futures.items()), _unknown_topic)])
        finally:
            self.invalidate()

    # -- principals ----------------------------------------------------------------------

    def grant(self, found: principals.Principal, password: str) -> None:
        """Give the principal its SCRAM credential and its ACLs (both idempotent).

        The credential is set again on every call: Kubernetes holds the password, and a
        Secret replaced by hand must win over what Kafka had.
        """
        self._set_password(found, password)
        admin = self._client()
        bindings = [_binding(found, grant) for grant in found.grants]
        acls = self._send("create_acls", lambda: admin.create_acls(bindings))
        self._settle([_Batch("create_acls", [(str(b), f) for b, f in acls.items()], _never)])

    def revoke(self, found: principals.Principal) -> None:
        """Take the principal's ACLs away and leave it a password nobody holds.

        The credential is overwritten, not deleted: Kafka's ScramDelta.apply (4.3.1, 4.3.2
        and 4.4.0) drops a mechanism's whole user map when a deletion empties it part-way
        through applying a delta, so once a deletion is in the metadata log, a restarted
        broker may load no SCRAM user at all and refuse every client, its administrator
        too (seen on kind: DescribeUserScramCredentials on the broker answered nothing
        while its controller held every user). A user whose password is unknown and who
        has no ACL can do nothing; what is already gone counts as removed.
        """
        admin = self._client()
        # None matches any name and host (librdkafka's filter; the stubs say str only).
        every = AclBindingFilter(
            ResourceType.ANY, None, ResourcePatternType.ANY, found.acl_principal, None,  # type: ignore[arg-type]
            AclOperation.ANY, AclPermissionType.ANY,
        )  # fmt: skip
        acls = self._send("delete_acls", lambda: admin.delete_acls([every]))
        self._settle([_Batch("delete_acls", [(str(b), f) for b, f in acls.items()], _never)])
        self._set_password(found, principals.new_password())

    def _set_password(self, found: principals.Principal, password: str) -> None:
        admin = self._client()
        upsert = UserScramCredentialUpsertion(
            found.user,
            ScramCredentialInfo(_SCRAM[found.mechanism], principals.SCRAM_ITERATIONS),
            password.encode(),
        )
        credential = self._send(
            "alter_user_scram_credentials", lambda: admin.alter_user_scram_credentials([upsert])
        )
        self._settle([_Batch("alter_user_scram_credentials", list(credential.items()), _never)])

    def close(self) -> None:
        """Release the client (librdkafka's threads and connections)."""
        self._admin = None
        self.invalidate()

    def _await_visible(self, plan: TopicPlan) -> dict[str, LiveTopic] | None:
        """Read the plan's topics again until they show what it wrote (or the timeout passes).

        A broker serves reads from metadata the controller publishes a moment after a write
        succeeds; without this, the status written next would show the old state and the
        next reconcile would plan the same changes again. Only the plan's own topics are
        read and merged into the shared snapshot (its age stays that of its last full
        read): a full read after every write would cost each monitor time in proportion to
        all the topics there are. Return the plan's topics as last read, or None if reading
        failed.
        """
        names = sorted({t.name for t in plan.create} | plan.grow.keys() | plan.alter.keys())
        deadline = time.monotonic() + self.request_timeout_s
        delay = 0.05
        while True:
            try:
                snapshot = self._read(names)
            except (KafkaUnavailable, TopicRejected):
                # The writes went through; the next describe() reports what reading cannot.
                self.invalidate()
                return None
            with self._lock:
                # Copy on write: describe() hands out the snapshot outside the lock.
                merged = {n: t for n, t in self._snapshot.items() if n not in names}
                self._snapshot = merged | snapshot
            if _shows(snapshot, plan) or time.monotonic() + delay > deadline:
                return snapshot
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    # -- helpers -------------------------------------------------------------------------

    def _client(self) -> AdminClient:
        if self._admin is None:
            raise RuntimeError("KafkaTopics is closed")
        return self._admin

    def _send(self, what: str, send: Callable[[], dict[K, Future[Any]]]) -> dict[K, Future[Any]]:
        """Count and send one admin request; librdkafka refusing to queue it is an answer too."""
        with self._calls_lock:
            self.calls[what] += 1
        try:
            return send()
        except KafkaException as error:
            kafka_error = _kafka_error(error)
            if kafka_error is None or _is_unavailable(kafka_error):
                raise self._unavailable(what, error) from error
            raise

    def _results(self, batch: _Batch) -> dict[str, Any]:
        """Return each existing topic's result; a missing topic is left out."""
        deadline = time.monotonic() + self.request_timeout_s + _GRACE_S
        results: dict[str, Any] = {}
        rejected: dict[str, str] = {}
        for name, future in batch.futures:
            try:
                results[name] = self._wait(batch.what, future, deadline)
            except KafkaException as error:
                kafka_error = _kafka_error(error)
                if kafka_error is not None and batch.done(kafka_error):
                    continue
                if kafka_error is None or _is_unavailable(kafka_error):
                    raise self._unavailable(batch.what, error) from error
                rejected[name] = kafka_error.str()
        if rejected:
            raise TopicRejected(rejected)
        return results

    def _settle(self, batches: list[_Batch]) -> dict[str, str]:
        """Wait for every write; raise unavailability first, then Kafka's refusals.

        Return the errors that may mean "already done" (topic -> Kafka's message).
        """
        deadline = time.monotonic() + self.request_timeout_s + _GRACE_S
        unavailable: KafkaUnavailable | None = None
        rejected: dict[str, str] = {}
        doubtful: dict[str, str] = {}
        for batch in batches:
            for name, future in batch.futures:
                try:
                    self._wait(batch.what, future, deadline)
                except KafkaUnavailable as error:
                    unavailable = unavailable or error
                except KafkaException as error:
                    kafka_error = _kafka_error(error)
                    if kafka_error is not None and batch.done(kafka_error):
                        continue
                    if kafka_error is not None and batch.doubtful(kafka_error):
                        doubtful[name] = kafka_error.str()
                    elif (
                        kafka_error is None
                        or _is_unavailable(kafka_error)
                        # Deleted since the snapshot was read: the next reconcile recreates it.
                        or kafka_error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
                    ):
                        unavailable = unavailable or self._unavailable(batch.what, error)
                    else:
                        rejected[name] = kafka_error.str()
        if unavailable is not None:
            raise unavailable
        if rejected:
            raise TopicRejected(rejected)
        return doubtful

    def _wait(self, what: str, future: Future[Any], deadline: float) -> Any:
        """Return a future's result; no answer by the deadline means Kafka is unavailable."""
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError as error:
            raise KafkaUnavailable(
                f"Kafka at {self.bootstrap_servers}: {what} got no answer within "
                f"{self.request_timeout_s + _GRACE_S:g}s"
            ) from error

    def _unavailable(self, what: str, error: KafkaException) -> KafkaUnavailable:
        # Only the servers and librdkafka's message: client_config may hold credentials.
        kafka_error = _kafka_error(error)
        detail = f"{kafka_error.name()}: {kafka_error.str()}" if kafka_error else str(error)
        return KafkaUnavailable(f"Kafka at {self.bootstrap_servers}: {what} failed: {detail}")


def _shows(snapshot: Mapping[str, LiveTopic], plan: TopicPlan) -> bool:
    """Return whether a snapshot reflects every change of a plan."""
    for topic in plan.create:
        live = snapshot.get(topic.name)
        if live is None or config_changes(topic.config, live.config):
            return False
    for name, count in plan.grow.items():
        live = snapshot.get(name)
        if live is None or live.partitions < count:
            return False
    for name, changes in plan.alter.items():
        live = snapshot.get(name)
        if live is None or config_changes(changes, live.config):
            return False
    return True
