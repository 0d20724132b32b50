"""Pure checks that keep a monitor inside its tenant, run before anything is built for it.

S3: every s3:// URI a spec names must lie in the scope its workers get (the same
`WorkerSettings.s3_scope()` the builders render): the monitor's own
`s3://<bucket>/<namespace>/`, plus the prefixes an administrator allowed its namespace
(`BRANDMON_OPERATOR_S3_ALLOWED_PREFIXES`). A monitor naming anything else is refused as a
whole, `S3Scoped=False` and Stalled, with the field at fault: retrying cannot help, a spec
change or an allow-list entry does. The workers check the same scope again at run time,
for what only they see (image references inside recordings, media URIs in Kafka).
"""

from __future__ import annotations

from brandmon_operator import builders, status
from brandmon_operator.settings import OperatorSettings
from brandmon_workers.contract.storage import S3Scope

S3_SCOPED = "S3Scoped"
S3_REFUSED = "S3UriOutsideNamespace"


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
    """Return the Stalled concern refusing the monitor, or None when its S3 URIs are in scope."""
    violations = s3_violations(monitor, settings)
    if not violations:
        return None
    message = (
        "; ".join(violations)
        + f" (namespace {monitor.namespace} may use only its own prefix and the prefixes its "
        "administrator allowed in BRANDMON_OPERATOR_S3_ALLOWED_PREFIXES; nothing was built)"
    )
    return status.Concern(S3_SCOPED, False, S3_REFUSED, message, stalled=True)
