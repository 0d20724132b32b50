"""Pure builders: the Kubernetes children of one BrandMonitor, as plain manifests.

Nothing here talks to the API server. `desired_children()` is what a reconcile applies;
everything it returns is a function of the monitor (name, uid, spec) and the operator's
settings, so the same input always yields the same manifests.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from brandmon_operator import api, principals
from brandmon_operator.settings import OperatorSettings
from brandmon_workers.contract.settings import (
    INSTAGRAM_SESSION_PATH,
    KAFKA_PASSWORD_ENV,
    MASTODON_TOKEN_ENV,
    REDDIT_CLIENT_ID_ENV,
    REDDIT_CLIENT_SECRET_ENV,
    S3Settings,
    SourceSettings,
    WebhookTarget,
    WorkerSettings,
)
from brandmon_workers.contract.topics import TopicNames

Manifest = dict[str, Any]

MANAGED_BY = "brandmon-operator"
APP = "brandmon"
CONFIG_HASH = "brandmon.io/config-hash"
HEALTH_PORT = 8080
METRICS_PORT = 9102
RUN_AS = 65532  # the image's non-root user


@dataclass(frozen=True)
class Monitor:
    """What the builders need to know about one BrandMonitor."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: api.BrandMonitorSpec


# --- naming and metadata ----------------------------------------------------------------


def child_name(monitor: Monitor, component: str) -> str:
    """Return the name of a Deployment or ConfigMap of the monitor."""
    return f"{monitor.name}-{component}"


def cronjob_name(monitor: Monitor, source: str) -> str:
    """Return the name of a source's CronJob (at most 52 characters, see api)."""
    return f"{monitor.name}-src-{source}"


def selector_labels(monitor: Monitor, component: str) -> dict[str, str]:
    """Return the labels that select one component's pods; they never change."""
    return {
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/instance": monitor.name,
        "app.kubernetes.io/component": component,
    }


def labels(monitor: Monitor, component: str) -> dict[str, str]:
    """Return the recommended labels of every child."""
    return selector_labels(monitor, component) | {
        "app.kubernetes.io/part-of": APP,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def children_selector(monitor_name: str) -> str:
    """Return the label selector matching every child of a monitor."""
    return f"app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/instance={monitor_name}"


def owner_reference(monitor: Monitor) -> Manifest:
    """Return the owner reference making the monitor a child's controller (GC deletes it)."""
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "name": monitor.name,
        "uid": monitor.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(monitor: Monitor, name: str, component: str) -> Manifest:
    return {
        "name": name,
        "namespace": monitor.namespace,
        "labels": labels(monitor, component),
        "ownerReferences": [owner_reference(monitor)],
    }


# --- settings -------------------------------------------------------------------------


def _duration_seconds(text: str) -> int:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return int(sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d)", text)))


def webhook_env(name: str, what: str = "URL") -> str:
    """Return the environment variable carrying one webhook's URL or signing key (a Secret's)."""
    return f"BRANDMON_WEBHOOK_{what}_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def topic_names(monitor: Monitor, settings: OperatorSettings) -> TopicNames:
    """Return the monitor's topic names (the one naming rule, with the operator's prefix)."""
    return TopicNames(
        prefix=settings.topic_prefix, namespace=monitor.namespace, monitor=monitor.name
    )


def worker_settings(monitor: Monitor, settings: OperatorSettings) -> WorkerSettings:
    """Return the settings every worker of the monitor shares."""
    spec = monitor.spec
    connections = spec.connections
    s3 = connections.s3
    return WorkerSettings(
        namespace=monitor.namespace,
        monitor=monitor.name,
        brand=spec.brand,
        kafka_bootstrap_servers=(
            connections.kafka.bootstrap_servers
            if connections.kafka
            else settings.kafka_bootstrap_servers
        ),
        kafka_auth=(
            principals.worker_auth(found, settings.kafka_sasl.security_protocol)
            if (found := monitor_principal(monitor, settings)) and settings.kafka_sasl
            else None
        ),
        topics=topic_names(monitor, settings),
        analysis=spec.analysis,
        scoring=spec.scoring,
        alert_cooldown_seconds=_duration_seconds(spec.alerts.cooldown),
        webhooks=[
            WebhookTarget(
                name=w.name,
                format=w.format,
                url_env=webhook_env(w.name),
                secret_env=webhook_env(w.name, "SECRET") if w.signing_secret_ref else None,
                min_severity=w.min_severity,
            )
            for w in spec.alerts.webhooks
        ],
        s3=S3Settings(
            endpoint_url=s3.endpoint_url if s3 else settings.s3_endpoint_url,
            bucket=s3.bucket if s3 else settings.s3_bucket,
            region=s3.region if s3 else settings.s3_region,
            read_prefixes=settings.s3_read_prefixes(monitor.namespace),
        ),
    )


def monitor_principal(monitor: Monitor, settings: OperatorSettings) -> principals.Principal | None:
    """Return the monitor's own Kafka principal, or None when it signs in as nobody.

    Only the default cluster has one (with operator setting kafka_sasl): a cluster a
    profile or the monitor names is not the operator's to hand out identities on.
    """
    if settings.kafka_sasl is None or monitor.spec.connections.kafka is not None:
        return None
    return principals.principal(topic_names(monitor, settings), settings.kafka_sasl.sasl_mechanism)


def kafka_secret_name(monitor: Monitor) -> str:
    """Return the name of the Secret holding the monitor's Kafka password."""
    return child_name(monitor, principals.KAFKA_CHILD)


def build_kafka_secret(monitor: Monitor, found: principals.Principal, password: str) -> Manifest:
    """Build the monitor's Kafka Secret (never logged: it holds the password)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(monitor, kafka_secret_name(monitor), principals.KAFKA_CHILD),
        "type": "Opaque",
        "stringData": {principals.USERNAME_KEY: found.user, principals.PASSWORD_KEY: password},
    }


def build_configmap(monitor: Monitor, settings: OperatorSettings) -> Manifest:
    """Build the ConfigMap holding the shared worker settings (mounted with envFrom)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(monitor, child_name(monitor, "settings"), "settings"),
        "data": worker_settings(monitor, settings).to_env(),
    }


def config_hash(configmap: Manifest) -> str:
    """Return a hash of the settings; a change rolls the workers' pods."""
    text = json.dumps(configmap["data"], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- pods -----------------------------------------------------------------------------

COLLECTOR = "collector"
TEXT_ANALYZER = "text-analyzer"
IMAGE_ANALYZER = "image-analyzer"
AGGREGATOR = "aggregator"
NOTIFIER = "notifier"
ARCHIVER = "archiver"
# Roles that read or write S3 get its credentials.
_S3_ROLES = {COLLECTOR, IMAGE_ANALYZER, ARCHIVER}


def _secret_env(name: str, secret: str, key: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def s3_credentials_secret(monitor: Monitor, settings: OperatorSettings) -> str | None:
    """Return the Secret holding the S3 keys of the monitor's workers (None: ambient)."""
    s3 = monitor.spec.connections.s3
    return (s3.credentials_secret_name if s3 else None) or settings.s3_credentials_secret


def _s3_credentials(monitor: Monitor, settings: OperatorSettings) -> list[Manifest]:
    secret = s3_credentials_secret(monitor, settings)
    if secret is None:
        return []
    return [
        _secret_env("AWS_ACCESS_KEY_ID", secret, "AWS_ACCESS_KEY_ID"),
        _secret_env("AWS_SECRET_ACCESS_KEY", secret, "AWS_SECRET_ACCESS_KEY"),
    ]


def _kafka_credentials(monitor: Monitor, settings: OperatorSettings) -> list[Manifest]:
    if monitor_principal(monitor, settings) is None:
        return []
    secret = kafka_secret_name(monitor)
    return [_secret_env(KAFKA_PASSWORD_ENV, secret, principals.PASSWORD_KEY)]


def _container(
    monitor: Monitor,
    settings: OperatorSettings,
    role: str,
    env: list[Manifest],
    serves_health: bool,
) -> Manifest:
    container: Manifest = {
        "name": role,
        "image": settings.worker_image,
        "imagePullPolicy": settings.worker_image_pull_policy,
        "args": [role],
        "envFrom": [{"configMapRef": {"name": child_name(monitor, "settings")}}],
        "env": env
        + _kafka_credentials(monitor, settings)
        + (_s3_credentials(monitor, settings) if role in _S3_ROLES else []),
        "resources": settings.worker_resources.manifest(),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
        # The collector reports its run summary here; the operator reads it into status.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if serves_health:
        container["ports"] = [
            {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ]
        container["livenessProbe"] = {
            "httpGet": {"path": "/healthz", "port": "health"},
            "periodSeconds": 20,
            "failureThreshold": 3,
        }
        container["readinessProbe"] = {
            "httpGet": {"path": "/readyz", "port": "health"},
            "periodSeconds": 10,
        }
    return container


def _pod_spec(containers: list[Manifest], extra_volumes: list[Manifest], restart: str) -> Manifest:
    return {
        "restartPolicy": restart,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}, *extra_volumes],
    }


# --- workloads ------------------------------------------------------------------------


def deployment_roles(spec: api.BrandMonitorSpec) -> list[str]:
    """Return the long-running workers a monitor needs."""
    roles = [TEXT_ANALYZER]
    if spec.analysis.image.provider != "none":
        roles.append(IMAGE_ANALYZER)
    if spec.processing.engine == "builtin":
        roles.append(AGGREGATOR)
    return [*roles, NOTIFIER, ARCHIVER]


def build_deployment(
    monitor: Monitor, settings: OperatorSettings, role: str, hash_: str
) -> Manifest:
    """Build one worker Deployment."""
    env: list[Manifest] = []
    if role == NOTIFIER:
        for w in monitor.spec.alerts.webhooks:
            env.append(
                _secret_env(webhook_env(w.name), w.url_secret_ref.name, w.url_secret_ref.key)
            )
            if w.signing_secret_ref is not None:
                ref = w.signing_secret_ref
                env.append(_secret_env(webhook_env(w.name, "SECRET"), ref.name, ref.key))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(monitor, child_name(monitor, role), role),
        "spec": {
            # Suspending scales workers to zero; their consumer offsets wait in Kafka.
            "replicas": 0 if monitor.spec.suspend else 1,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector_labels(monitor, role)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": labels(monitor, role),
                    "annotations": {CONFIG_HASH: hash_},
                },
                "spec": _pod_spec(
                    [_container(monitor, settings, role, env, serves_health=True)], [], "Always"
                )
                | {"terminationGracePeriodSeconds": 30},
            },
        },
    }


def _source_env(source: api.Source) -> list[Manifest]:
    """Return the collector's source settings and its Secret references, as env vars."""
    source_settings = SourceSettings(
        name=source.name,
        instagram=source.instagram,
        replay=source.replay,
        rss=source.rss,
        mastodon=source.mastodon,
        reddit=source.reddit,
        bluesky=source.bluesky,
    )
    env = [{"name": "BRANDMON_SOURCE", "value": source_settings.model_dump_json(exclude_none=True)}]
    if source.mastodon is not None and source.mastodon.token_secret_ref is not None:
        ref = source.mastodon.token_secret_ref
        env.append(_secret_env(MASTODON_TOKEN_ENV, ref.name, ref.key))
    if source.reddit is not None:
        secret = source.reddit.credentials_secret_name
        env.append(_secret_env(REDDIT_CLIENT_ID_ENV, secret, REDDIT_CLIENT_ID_ENV))
        env.append(_secret_env(REDDIT_CLIENT_SECRET_ENV, secret, REDDIT_CLIENT_SECRET_ENV))
    return env


def build_source_deployment(
    monitor: Monitor, settings: OperatorSettings, source: api.Source, hash_: str
) -> Manifest:
    """Build the Deployment that follows a streaming source (one replica, never two).

    Two replicas would send every post twice and race on the saved cursor, so the
    strategy is Recreate: the old pod stops (and saves its cursor) before the new starts.
    """
    container = _container(monitor, settings, COLLECTOR, _source_env(source), serves_health=True)
    container["args"] = [COLLECTOR, "--stream"]
    pod_labels = labels(monitor, COLLECTOR) | {"brandmon.io/source": source.name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(monitor, cronjob_name(monitor, source.name), COLLECTOR)
        | {"annotations": {"brandmon.io/source": source.name}},
        "spec": {
            "replicas": 0 if monitor.spec.suspend or source.suspend else 1,
            "revisionHistoryLimit": 3,
            "selector": {
                "matchLabels": selector_labels(monitor, COLLECTOR)
                | {"brandmon.io/source": source.name}
            },
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        CONFIG_HASH: hash_,
                        "brandmon.io/source": source.name,
                        "brandmon.io/source-mode": "stream",
                    },
                },
                "spec": _pod_spec([container], [], "Always")
                | {"terminationGracePeriodSeconds": 30},
            },
        },
    }


def build_cronjob(
    monitor: Monitor, settings: OperatorSettings, source: api.Source, hash_: str
) -> Manifest:
    """Build the collector CronJob of one source."""
    container = _container(monitor, settings, COLLECTOR, _source_env(source), serves_health=False)
    volumes: list[Manifest] = []
    session = source.instagram.session_secret_ref if source.instagram else None
    if session is not None:
        # A session file is binary: a Secret volume (by reference), not an env var.
        volumes.append(
            {
                "name": "instagram-session",
                "secret": {
                    "secretName": session.name,
                    "items": [{"key": session.key, "path": "session"}],
                    "defaultMode": 0o400,
                },
            }
        )
        container["volumeMounts"].append(
            {
                "name": "instagram-session",
                "mountPath": INSTAGRAM_SESSION_PATH.rsplit("/", 1)[0],
                "readOnly": True,
            }
        )
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _metadata(monitor, cronjob_name(monitor, source.name), COLLECTOR)
        | {"annotations": {"brandmon.io/source": source.name}},
        "spec": {
            "schedule": source.schedule,
            "suspend": monitor.spec.suspend or source.suspend,
            # Two runs of one source would race on its "already sent" state.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 300,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels(monitor, COLLECTOR)},
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": 3600,
                    "ttlSecondsAfterFinished": 86400,
                    "template": {
                        "metadata": {
                            "labels": labels(monitor, COLLECTOR),
                            "annotations": {CONFIG_HASH: hash_, "brandmon.io/source": source.name},
                        },
                        "spec": _pod_spec([container], volumes, "Never"),
                    },
                },
            },
        },
    }


def desired_children(monitor: Monitor, settings: OperatorSettings) -> list[Manifest]:
    """Return every child the monitor should have, ConfigMap first (workers mount it)."""
    configmap = build_configmap(monitor, settings)
    hash_ = config_hash(configmap)
    return [
        configmap,
        *(
            build_source_deployment(monitor, settings, s, hash_)
            if s.streaming
            else build_cronjob(monitor, settings, s, hash_)
            for s in monitor.spec.sources
        ),
        *(build_deployment(monitor, settings, r, hash_) for r in deployment_roles(monitor.spec)),
    ]
