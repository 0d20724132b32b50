"""kopf handlers: thin entry points that parse the body and delegate to `reconcile`.

Create, update, resume and a periodic timer all run the same level-based reconcile; the
timer repairs drift (a child, topic or query changed or removed by hand). The delete
handler (behind the `brandmon.io/finalizer` finalizer) drops ksqlDB objects and, under
`deletionPolicy: Delete`, the topics. Handlers are registered on a registry built from the
operator's settings, so importing this module has no side effects.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from typing import Any

import kopf
from kubernetes import client, config
from pydantic import ValidationError

from brandmon_operator import (
    api,
    builders,
    caps,
    credentials,
    principals,
    reconcile,
    status,
    tenancy,
)
from brandmon_operator.cluster import Cluster, SecretUnavailable
from brandmon_operator.kafka_admin import KafkaTopics, KafkaUnavailable
from brandmon_operator.ksqldb import KsqlDbClient, KsqlDbRejected, KsqlDbUnavailable
from brandmon_operator.outbound import CircuitBreaker, NamespaceSlots, SlotsTaken
from brandmon_operator.settings import OperatorSettings
from brandmon_workers.contract.topics import TopicNames

USER_AGENT = "brandmon-operator/0.1.0"
_MAX_BACKOFF_S = 300


def _api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    api_client = client.ApiClient()
    api_client.user_agent = USER_AGENT
    return api_client


def _monitor(body: kopf.Body) -> builders.Monitor:
    return builders.Monitor(
        namespace=str(body.metadata.namespace),
        name=str(body.metadata.name),
        uid=str(body.metadata.uid),
        generation=int(body.metadata.get("generation", 0)),
        spec=api.BrandMonitorSpec.model_validate(dict(body.spec)),
    )


def _backoff(retry: int) -> float:
    return float(min(_MAX_BACKOFF_S, 2 ** min(retry + 1, 9)))


class Connections:
    """Shared, thread-safe clients per Kafka cluster and ksqlDB server (one snapshot each)."""

    def __init__(self, cluster: Cluster, settings: OperatorSettings) -> None:
        self.cluster = cluster
        self.settings = settings
        self._lock = threading.Lock()
        self._kafka: dict[tuple[str, str], KafkaTopics] = {}
        self._ksqldb: dict[tuple[str, str], KsqlDbClient] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self.slots = NamespaceSlots(settings.endpoint_slots_per_namespace)

    def kafka(self, monitor: builders.Monitor) -> KafkaTopics:
        """Return the topic client of the monitor's Kafka cluster.

        Raises SecretUnavailable when its credentials cannot be read or used.
        """
        override = monitor.spec.connections.kafka
        bootstrap = (
            override.bootstrap_servers if override else self.settings.kafka_bootstrap_servers
        )
        properties: dict[str, str] = {}
        sasl, password = self.settings.kafka_sasl, self.settings.kafka_sasl_password
        if override is None and sasl is not None and password is not None:
            properties = {
                "security.protocol": sasl.security_protocol,
                "sasl.mechanism": sasl.sasl_mechanism,
                "sasl.username": sasl.username,
                "sasl.password": password.get_secret_value(),
            }
        if override and override.credentials_secret_ref:
            ref = override.credentials_secret_ref
            text, annotations = self.cluster.read_secret(monitor.namespace, ref.name, ref.key)
            try:
                credentials.check_release(
                    f"{monitor.namespace}/{ref.name}", annotations, bootstrap.split(",")
                )
                properties = credentials.kafka_properties(text)
                credentials.check_kafka_transport(bootstrap.split(","), properties)
            except credentials.CredentialsRefused as error:
                raise SecretUnavailable(str(error)) from None
        key = (bootstrap, _fingerprint(sorted(properties.items())))
        with self._lock:
            if key not in self._kafka:
                self._kafka[key] = KafkaTopics(
                    bootstrap, properties, prefix=self.settings.topic_prefix + "."
                )
            return self._kafka[key]

    def ksqldb(self, monitor: builders.Monitor) -> KsqlDbClient | None:
        """Return the client of the monitor's ksqlDB server, or None when none is configured.

        Raises SecretUnavailable when its credentials cannot be read or used.
        """
        override = monitor.spec.connections.ksqldb
        url = override.url if override else self.settings.ksqldb_url
        if url is None:
            return None
        auth: tuple[str, str] | None = None
        if override and override.credentials_secret_ref:
            ref = override.credentials_secret_ref
            text, annotations = self.cluster.read_secret(monitor.namespace, ref.name, ref.key)
            try:
                credentials.check_release(
                    f"{monitor.namespace}/{ref.name}", annotations, [credentials.url_endpoint(url)]
                )
                credentials.check_transport(url)
            except credentials.CredentialsRefused as error:
                raise SecretUnavailable(str(error)) from None
            user, _, password = text.partition(":")
            auth = (user, password)
        key = (url, _fingerprint(auth))
        with self._lock:
            if key not in self._ksqldb:
                # One breaker per server, whoever's credentials the client carries.
                breaker = self._breakers.setdefault(
                    url,
                    CircuitBreaker(
                        self.settings.outbound_failures_to_pause,
                        self.settings.outbound_pause_seconds,
                    ),
                )
                self._ksqldb[key] = KsqlDbClient(
                    url,
                    auth,
                    deadline_s=self.settings.outbound_deadline_seconds,
                    max_response_bytes=self.settings.outbound_max_response_bytes,
                    breaker=breaker,
                )
            return self._ksqldb[key]


def _fingerprint(value: object) -> str:
    # Cache keys must tell credentials apart without keeping them readable in memory dumps.
    return hashlib.sha256(repr(value).encode()).hexdigest()


def _manages_kafka(body: kopf.Body) -> bool:
    return body.metadata.annotations.get(reconcile.MANAGED_ANNOTATION, "true") != "false"


class Busy:
    """One lock per monitor (by uid), held while a reconcile works on it.

    kopf serializes a monitor's change handlers, but runs its resync timer beside them:
    on a busy machine a resync started during a slow update planned the same ksqlDB
    changes from the status the update had not yet written, and sent them again. A
    resync now skips a monitor that a reconcile holds (the next one sees the new status).
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def of(self, uid: str) -> threading.Lock:
        """Return the monitor's lock."""
        with self._guard:
            return self._locks.setdefault(uid, threading.Lock())

    def forget(self, uid: str) -> None:
        """Drop a deleted monitor's lock."""
        with self._guard:
            self._locks.pop(uid, None)


def run_reconcile(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    retry: int,
    *,
    siblings: list[tuple[str, str]],
) -> None:
    """Reconcile one monitor and record the outcome in its status.

    `siblings` are (creationTimestamp, name) of every monitor in its namespace (kopf's index).
    """
    settings: OperatorSettings = memo["settings"]
    connections: Connections = memo["connections"]
    current = dict(body.status)
    try:
        monitor = _monitor(body)
    except ValidationError as error:
        # The API server validated the spec, so this means a schema/operator version skew.
        concern = status.Concern(
            reconcile.WORKLOADS_READY, False, "InvalidSpec", str(error), stalled=True
        )
        generation = int(body.metadata.get("generation", 0))
        conditions = status.merge(
            current.get("conditions") or [], status.conditions([concern]), generation, status.now()
        )
        patch.status.update(
            status.status_patch(
                current, {"observedGeneration": generation, "conditions": conditions}
            )
        )
        return
    resolved = tenancy.resolve_connections(monitor, settings)
    if isinstance(resolved, status.Concern):
        refusal: status.Concern | None = resolved
    else:
        monitor = resolved
        refusal = tenancy.s3_refusal(monitor, settings) or _caps_refusal(
            monitor, body, settings, siblings
        )
    access = None if refusal else _kafka_access(connections.cluster, monitor, settings)
    if isinstance(access, status.Concern):
        # Its workers would read another object's password.
        refusal, access = access, None
    if refusal is not None:
        # Nothing is built or changed for a monitor reaching past its namespace or its caps.
        refused = [reconcile.Outcome(refusal)]
        desired = reconcile.desired_status(monitor, refused, current, status.now())
        if changes := status.status_patch(current, desired):
            patch.status.update(changes)
        logger.warning("%s %s: %s", refusal.type, refusal.reason, refusal.message)
        return
    names = builders.topic_names(monitor, settings)
    workloads = reconcile.reconcile_workloads(connections.cluster, monitor, settings)
    outcomes = [workloads]
    if _manages_kafka(body):
        try:
            with _endpoint_slot(connections, monitor):
                topics, queries = _reconcile_external(connections, monitor, names, current, access)
        except SlotsTaken as error:
            raise kopf.TemporaryError(str(error), delay=_backoff(retry)) from None
        outcomes = [topics, workloads, queries]
    events = [event for outcome in outcomes for event in outcome.events]
    for type_, reason, message in status.grouped_events(events):
        kopf.event(body, type=type_, reason=reason, message=message)
    changes = status.status_patch(
        current, reconcile.desired_status(monitor, outcomes, current, status.now())
    )
    if changes:
        patch.status.update(changes)
    failed = [o.concern for o in outcomes if not o.concern.ok]
    for concern in failed:
        logger.warning("%s %s: %s", concern.type, concern.reason, concern.message)
    if any(o.retry for o in outcomes):
        raise kopf.TemporaryError("; ".join(c.reason for c in failed), delay=_backoff(retry))


def _caps_refusal(
    monitor: builders.Monitor,
    body: kopf.Body,
    settings: OperatorSettings,
    siblings: list[tuple[str, str]],
) -> status.Concern | None:
    """Refuse a monitor over the administrator's caps, its namespace's count included."""
    problems = caps.violations(monitor.spec, settings.caps)
    if settings.caps.max_monitors_per_namespace is not None:
        created = str(body.metadata.get("creationTimestamp", ""))
        rank = caps.namespace_rank((created, monitor.name), siblings)
        if problem := caps.namespace_violation(rank, settings.caps, monitor.namespace):
            problems.append(problem)
    return caps.refusal(problems, monitor.namespace)


def _endpoint_slot(connections: Connections, monitor: builders.Monitor) -> Any:
    """Hold one of the namespace's slots while its own endpoints are called."""
    chosen = monitor.spec.connections
    if chosen.profile is not None or (chosen.kafka is None and chosen.ksqldb is None):
        # The operator's own endpoints or an administrator's profile: no tenant's choice.
        return contextlib.nullcontext()
    return connections.slots.slot(monitor.namespace)


def _kafka_access(
    cluster: Cluster, monitor: builders.Monitor, settings: OperatorSettings
) -> tuple[principals.Principal, str] | status.Concern | None:
    """Return the monitor's Kafka principal and password (its Secret made if missing).

    None when the monitor has no principal of its own; a refusal when the Secret's name is
    taken by an object the monitor does not control.
    """
    found = builders.monitor_principal(monitor, settings)
    if found is None:
        return None
    fresh = builders.build_kafka_secret(monitor, found, principals.new_password())
    password = cluster.owned_secret(fresh, principals.PASSWORD_KEY, monitor.uid)
    if password is None:
        return reconcile.secret_not_owned(builders.kafka_secret_name(monitor))
    return found, password


def _reconcile_external(
    connections: Connections,
    monitor: builders.Monitor,
    names: TopicNames,
    current: dict[str, Any],
    access: tuple[principals.Principal, str] | None,
) -> tuple[reconcile.Outcome, reconcile.Outcome]:
    """Reconcile the monitor's topics and principal, then its ksqlDB objects."""
    try:
        kafka = connections.kafka(monitor)
    except SecretUnavailable as error:
        return _credentials_missing(reconcile.TOPICS_READY, error), _waiting_for_topics()
    topics = reconcile.reconcile_topics(kafka, monitor, names, current)
    if topics.concern.ok and access is not None:
        topics = reconcile.grant_access(kafka, *access) or topics
    if not topics.concern.ok:
        return topics, _waiting_for_topics()
    try:
        ksqldb = connections.ksqldb(monitor)
    except SecretUnavailable as error:
        return topics, _credentials_missing(reconcile.QUERIES_READY, error)
    return topics, reconcile.reconcile_queries(ksqldb, monitor, names, current)


def _credentials_missing(condition: str, error: SecretUnavailable) -> reconcile.Outcome:
    # The message names the Secret and key, never a value.
    concern = status.Concern(condition, False, "CredentialsUnavailable", str(error), stalled=True)
    return reconcile.Outcome(concern)


def _waiting_for_topics() -> reconcile.Outcome:
    waiting = status.Concern(
        reconcile.QUERIES_READY, False, "WaitingForTopics", "topics are not ready"
    )
    return reconcile.Outcome(waiting)


def run_cleanup(body: kopf.Body, memo: kopf.Memo, logger: Any, retry: int) -> None:
    """Release what the monitor holds outside Kubernetes, honouring deletionPolicy."""
    if not _manages_kafka(body):
        logger.info(
            "%s=false: leaving Kafka topics and ksqlDB objects alone", reconcile.MANAGED_ANNOTATION
        )
        return
    settings: OperatorSettings = memo["settings"]
    connections: Connections = memo["connections"]
    try:
        monitor = _monitor(body)
    except ValidationError:
        logger.warning("unreadable spec: nothing to clean up outside Kubernetes")
        return
    resolved = tenancy.resolve_connections(monitor, settings)
    if isinstance(resolved, status.Concern):
        # A refused monitor built nothing; one whose profile was withdrawn since cannot be
        # reached any more: say so and let the deletion go.
        message = f"cleanup skipped, nothing outside Kubernetes released: {resolved.message}"
        logger.warning("%s", message)
        kopf.event(body, type="Warning", reason="CleanupSkipped", message=message)
        return
    monitor = resolved
    names = builders.topic_names(monitor, settings)
    try:
        kafka, ksqldb = connections.kafka(monitor), connections.ksqldb(monitor)
    except SecretUnavailable as error:
        # Without the credentials nothing outside Kubernetes can be released, and waiting
        # would hold the namespace's deletion forever: say what is left behind and go.
        message = f"cleanup skipped, Kafka topics and ksqlDB objects left behind: {error}"
        logger.warning("%s", message)
        kopf.event(body, type="Warning", reason="CleanupSkipped", message=message)
        return
    try:
        found = builders.monitor_principal(monitor, settings)
        done = reconcile.cleanup(kafka, ksqldb, monitor, names, dict(body.status), found=found)
    except (KafkaUnavailable, KsqlDbUnavailable) as error:
        # The finalizer stays until this succeeds (docs: "A stuck finalizer").
        raise kopf.TemporaryError(f"cleanup waits: {error}", delay=_backoff(retry)) from None
    except KsqlDbRejected as error:
        raise kopf.TemporaryError(
            f"ksqlDB refused a drop: {error}", delay=_backoff(retry)
        ) from None
    for item in done:
        logger.info("Cleanup: %s", item)


def make_registry(settings: OperatorSettings) -> kopf.OperatorRegistry:
    """Register every handler on a fresh registry."""
    registry = kopf.OperatorRegistry()
    resource = (api.GROUP, api.VERSION, api.PLURAL)
    operator_settings = settings

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # A custom registry starts without kopf's default login handlers.
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        # Keep kopf's bookkeeping under our own API group instead of kopf.zalando.org.
        settings.persistence.finalizer = "brandmon.io/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix="brandmon.io"
        )
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix="brandmon.io", key="last-handled-configuration"
        )
        # Our own events are explicit; kopf's chatter stays in the logs.
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 300
        # Handlers are synchronous and wait on the API server and Kafka, not the CPU; kopf's
        # default pool (CPUs + 4 threads) makes hundreds of new monitors queue.
        settings.execution.max_workers = operator_settings.concurrent_reconciles
        # A deleted monitor keeps its finalizer until its resync timer has exited, and kopf
        # polls an exiting timer every 60 s by default: one resync caught in a Kafka timeout
        # at deletion kept a monitor Terminating for a minute. Poll every second instead.
        settings.background.cancellation_polling = 1.0
        memo["settings"] = operator_settings
        memo["busy"] = Busy()
        memo["connections"] = Connections(Cluster(_api_client()), operator_settings)

    # Monitors per namespace, kept by kopf from its watch: counting them for the caps costs
    # no API call (a list per reconcile would be quadratic in a namespace's monitors).
    @kopf.index(*resource, registry=registry, id="monitors_by_namespace")
    def monitors_by_namespace(body: kopf.Body, **_: Any) -> dict[str, tuple[str, str]]:
        meta = body.metadata
        return {str(meta.namespace): (str(meta.get("creationTimestamp", "")), str(meta.name))}

    def siblings(body: kopf.Body, handler_kwargs: dict[str, Any]) -> list[tuple[str, str]]:
        index: kopf.Index[str, tuple[str, str]] = handler_kwargs["monitors_by_namespace"]
        return list(index.get(str(body.metadata.namespace), []))

    @kopf.on.resume(*resource, registry=registry, id="reconcile")
    @kopf.on.create(*resource, registry=registry, id="reconcile")
    @kopf.on.update(*resource, registry=registry, id="reconcile")
    def on_change(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Any, retry: int,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        with memo["busy"].of(str(body.metadata.uid)):
            run_reconcile(body, patch, memo, logger, retry, siblings=siblings(body, kwargs))

    @kopf.timer(*resource, registry=registry, id="resync", interval=settings.resync_seconds,
                initial_delay=settings.resync_seconds)  # fmt: skip
    def resync(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Any, **kwargs: Any
    ) -> None:
        lock = memo["busy"].of(str(body.metadata.uid))
        if not lock.acquire(blocking=False):
            logger.debug("resync skipped: a reconcile of this monitor is running")
            return
        try:
            run_reconcile(body, patch, memo, logger, 0, siblings=siblings(body, kwargs))
        finally:
            lock.release()

    @kopf.on.delete(*resource, registry=registry, id="cleanup")
    def on_delete(body: kopf.Body, memo: kopf.Memo, logger: Any, retry: int, **_: Any) -> None:
        run_cleanup(body, memo, logger, retry)
        memo["busy"].forget(str(body.metadata.uid))

    return registry
