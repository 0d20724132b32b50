"""Pure checks that keep a monitor inside its tenant, run before anything is built for it.

Connections: a monitor reaches the operator's default endpoints or a connection profile the
administrator allowed its namespace (`BRANDMON_OPERATOR_CONNECTION_PROFILES`); naming its own
Kafka, ksqlDB or S3 endpoint needs `BRANDMON_OPERATOR_ALLOW_CUSTOM_ENDPOINTS`. A profile is
resolved here into the spec's connections, so everything downstream (clients, worker
settings, the S3 scope, cleanup) sees the endpoints the administrator wrote.

S3: every s3:// URI a spec names must lie in the scope its workers get (the same
`WorkerSettings.s3_scope()` the builders render): the monitor's own
`s3://<bucket>/<namespace>/`, plus the prefixes an administrator allowed its namespace
(`BRANDMON_OPERATOR_S3_ALLOWED_PREFIXES`). A monitor naming anything else is refused as a
whole, `S3Scoped=False` and Stalled, with the field at fault: retrying cannot help, a spec
change or an allow-list entry does. The workers check the same scope again at run time,
for what only they see (image references inside recordings, media URIs in Kafka).
Workers need S3 keys of their own too: a monitor whose workers would fall back to an
ambient identity (the node's, the operator's environment) is refused unless the
administrator opted in with `BRANDMON_OPERATOR_S3_AMBIENT_IDENTITY`.
"""

from __future__ import annotations

import dataclasses

from brandmon_operator import api, builders, status
from brandmon_operator.settings import OperatorSettings
from brandmon_workers.contract.storage import S3Scope

S3_SCOPED = "S3Scoped"
S3_REFUSED = "S3UriOutsideNamespace"
S3_NO_CREDENTIALS = "S3CredentialsNotConfigured"
CONNECTIONS_ALLOWED = "ConnectionsAllowed"
CONNECTION_REFUSED = "ConnectionNotAllowed"


def resolve_connections(
    monitor: builders.Monitor, settings: OperatorSettings
) -> builders.Monitor | status.Concern:
    """Return the monitor with its profile's connections in place, or the refusal."""
    chosen = monitor.spec.connections
    if chosen.profile is not None:
        profile = settings.connection_profiles.get(chosen.profile)
        if profile is None or not profile.allows(monitor.namespace):
            usable = sorted(
                name
                for name, p in settings.connection_profiles.items()
                if p.allows(monitor.namespace)
            )
            return _refused(
                f"spec.connections.profile: no connection profile {chosen.profile!r} for "
                f"namespace {monitor.namespace} (its profiles: {', '.join(usable) or 'none'})"
            )
        resolved = api.ConnectionsSpec(
            profile=chosen.profile, kafka=profile.kafka, ksqldb=profile.ksqldb, s3=profile.s3
        )
        spec = monitor.spec.model_copy(update={"connections": resolved})
        return dataclasses.replace(monitor, spec=spec)
    named = [kind for kind in ("kafka", "ksqldb", "s3") if getattr(chosen, kind) is not None]
    if named and not settings.allow_custom_endpoints:
        return _refused(
            "; ".join(f"spec.connections.{kind}" for kind in named)
            + ": monitors may not name their own endpoints here; use the defaults or "
            "spec.connections.profile (the administrator's connection profiles)"
        )
    return monitor


def _refused(message: str) -> status.Concern:
    return status.Concern(
        CONNECTIONS_ALLOWED, False, CONNECTION_REFUSED, message + "; nothing was built",
        stalled=True,
    )  # fmt: skip


def s3_uris(monitor: builders.Monitor) -> list[tuple[str, str]]:
    """Return (field path, URI) for every s3:// URI in the spec."""
    found = []
    for index, source in enumerate(monitor.spec.sources):
        if source.replay is not None and source.replay.s3_uri is not None:
            found.append((f"spec.sources[{index}].replay.s3Uri", source.replay.s3_uri))
    return found


def s3_scope(monitor: builders.Monitor, settings: OperatorSettings) -> S3Scope:
    """Return the scope the monitor's workers are given."""
    return builders.worker_settings(monitor, settings).s3_scope()


def s3_violations(monitor: builders.Monitor, settings: OperatorSettings) -> list[str]:
    """Return one message per URI outside the monitor's scope (none: the spec is fine)."""
    scope = s3_scope(monitor, settings)
    return [
        f"{path}: {uri} is outside {scope.home}"
        for path, uri in s3_uris(monitor)
        if not scope.readable(uri)
    ]


def s3_refusal(monitor: builders.Monitor, settings: OperatorSettings) -> status.Concern | None:
    """Return the Stalled concern refusing the monitor, or None when its S3 use is allowed."""
    if builders.s3_credentials_secret(monitor, settings) is None and not (
        settings.s3_ambient_identity
    ):
        message = (
            "no S3 credentials for this monitor's workers: the administrator names a Secret "
            "in each namespace (BRANDMON_OPERATOR_S3_CREDENTIALS_SECRET, chart "
            "s3.credentialsSecret, or a connection profile's s3.credentialsSecretName) or "
            "lets workers use their ambient identity (BRANDMON_OPERATOR_S3_AMBIENT_IDENTITY, "
            "chart s3.ambientIdentity); nothing was built"
        )
        return status.Concern(S3_SCOPED, False, S3_NO_CREDENTIALS, message, stalled=True)
    violations = s3_violations(monitor, settings)
    if not violations:
        return None
    message = (
        "; ".join(violations)
        + f" (namespace {monitor.namespace} may use only its own prefix and the prefixes its "
        "administrator allowed in BRANDMON_OPERATOR_S3_ALLOWED_PREFIXES; nothing was built)"
    )
    return status.Concern(S3_SCOPED, False, S3_REFUSED, message, stalled=True)
