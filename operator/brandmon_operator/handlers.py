"""kopf handlers: thin entry points that parse the body and delegate to `reconcile`.

Create, update, resume and a periodic timer all run the same level-based reconcile; the
timer repairs drift (a child edited or deleted by hand). Handlers are registered on a
registry built from the operator's settings, so importing this module has no side effects.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
from kubernetes import client, config
from pydantic import ValidationError

from brandmon_operator import api, builders, reconcile, status
from brandmon_operator.cluster import Cluster
from brandmon_operator.settings import OperatorSettings

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


def run_reconcile(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    retry: int,
) -> None:
    """Reconcile one monitor and record the outcome in its status."""
    settings: OperatorSettings = memo["settings"]
    cluster: Cluster = memo["cluster"]
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
    outcome = reconcile.reconcile_workloads(cluster, monitor, settings, logging.getLogger(__name__))
    for verb, keys in (
        ("Created", outcome.created),
        ("Updated", outcome.updated),
        ("Deleted", outcome.deleted),
    ):
        for kind, name in keys:
            kopf.event(body, type="Normal", reason=verb, message=f"{verb} {kind} {name}")
    desired = reconcile.desired_status(monitor, outcome, current, status.now())
    changes = status.status_patch(current, desired)
    if changes:
        patch.status.update(changes)
    if not outcome.concern.ok:
        logger.warning("%s: %s", outcome.concern.reason, outcome.concern.message)
    if outcome.retry:
        raise kopf.TemporaryError(
            outcome.concern.message, delay=min(_MAX_BACKOFF_S, 2 ** min(retry, 8))
        )


def make_registry(settings: OperatorSettings) -> kopf.OperatorRegistry:
    """Register every handler on a fresh registry."""
    registry = kopf.OperatorRegistry()
    resource = (api.GROUP, api.VERSION, api.PLURAL)

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
        # Our own Created/Updated/Deleted events are explicit; kopf's chatter stays in logs.
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 300
        memo["settings"] = operator_settings
        memo["cluster"] = Cluster(_api_client())

    operator_settings = settings

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # A custom registry starts without kopf's default login handlers.
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.resume(*resource, registry=registry, id="reconcile")
    @kopf.on.create(*resource, registry=registry, id="reconcile")
    @kopf.on.update(*resource, registry=registry, id="reconcile")
    def on_change(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Any, retry: int, **_: Any
    ) -> None:
        run_reconcile(body, patch, memo, logger, retry)

    @kopf.timer(
        *resource,
        registry=registry,
        id="resync",
        interval=settings.resync_seconds,
        initial_delay=settings.resync_seconds,
    )
    def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Any, **_: Any) -> None:
        run_reconcile(body, patch, memo, logger, retry=0)

    return registry
