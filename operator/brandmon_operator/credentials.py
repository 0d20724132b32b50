"""Pure rules for the credentials a monitor names: where they may go and what they may set.

A BrandMonitor names its Kafka or ksqlDB endpoint and a Secret with credentials for it,
and the operator reads Secrets its tenants may not. Without rules, a tenant pointed a
monitor at their own listener and named a Secret they could not read: the operator sent
it to them. So:

- a Secret is sent only to the endpoints its owner listed in its `brandmon.io/release-to`
  annotation (`host:port`, comma-separated): a tenant who cannot edit the Secret cannot
  add their own listener;
- credentials travel over HTTP only to hosts inside the cluster or on loopback; anywhere
  else the URL must be https, and Kafka's security.protocol SSL or SASL_SSL;
- Kafka credentials become librdkafka properties only from an allow-list: a Secret's lines
  could otherwise load plugins (`plugin.library.paths`), read the operator's files
  (`ssl.*.location`), POST to token endpoints or flood the logs (`debug`).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Iterable, Mapping

RELEASE_ANNOTATION = "brandmon.io/release-to"
KAFKA_PROPERTIES = frozenset(
    {
        "security.protocol",
        "sasl.mechanism",
        "sasl.mechanisms",
        "sasl.username",
        "sasl.password",
        "ssl.ca.pem",
        "ssl.certificate.pem",
        "ssl.key.pem",
        "ssl.key.password",
        "ssl.endpoint.identification.algorithm",
    }
)
_CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_.]{0,63}")


class CredentialsRefused(ValueError):  # noqa: N818 - a verdict, not a bug
    """The credentials may not be used this way; the message names no secret value."""


def _normalised(endpoint: str) -> str:
    host, sep, port = endpoint.strip().lower().rpartition(":")
    if not sep or not host or not port.isdigit():
        msg = f"{endpoint.strip()!r} is not host:port"
        raise CredentialsRefused(msg)
    return f"{host}:{int(port)}"


def released_to(annotations: Mapping[str, str] | None) -> frozenset[str]:
    """Return the endpoints (host:port, lower case) a Secret's owner released it to."""
    listed = (annotations or {}).get(RELEASE_ANNOTATION, "")
    return frozenset(_normalised(e) for e in listed.split(",") if e.strip())


def url_endpoint(url: str) -> str:
    """Return the host:port a URL connects to."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)}"


def check_release(
    secret: str, annotations: Mapping[str, str] | None, endpoints: Iterable[str]
) -> None:
    """Raise CredentialsRefused unless the Secret was released to every endpoint."""
    released = released_to(annotations)
    refused = sorted({_normalised(e) for e in endpoints} - released)
    if refused:
        msg = (
            f"Secret {secret} is not released to {', '.join(refused)}: its owner lists the "
            f"endpoints its credentials may go to in the annotation {RELEASE_ANNOTATION}"
        )
        raise CredentialsRefused(msg)


def _inside(host: str) -> bool:
    """Return whether a host is loopback or a name inside the cluster."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    return host == "localhost" or "." not in host or host.endswith(_CLUSTER_SUFFIXES)


def check_transport(url: str) -> None:
    """Raise CredentialsRefused when credentials would cross the network in clear text."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" and not _inside((parts.hostname or "").lower()):
        msg = f"credentials go to {parts.hostname} only over https"
        raise CredentialsRefused(msg)


def host_of(endpoint: str) -> str:
    """Return the host of `host:port` (brackets of an IPv6 address removed), lower case."""
    host = endpoint.strip().lower().rpartition(":")[0]
    return host.removeprefix("[").removesuffix("]")


def check_kafka_transport(bootstrap_servers: Iterable[str], properties: Mapping[str, str]) -> None:
    """Raise CredentialsRefused when Kafka credentials would cross the network unencrypted.

    SASL/PLAIN sends the password itself, and even SCRAM over plain TCP lets anyone on the
    path take over the session after sign-in or try passwords offline: outside the cluster
    and loopback, a Secret's credentials travel only over TLS.
    """
    protocol = properties.get("security.protocol", "PLAINTEXT").strip().upper()
    if protocol in {"SSL", "SASL_SSL"}:
        return
    outside = sorted({h for e in bootstrap_servers if not _inside(h := host_of(e))})
    if outside:
        msg = (
            f"Kafka credentials go to {', '.join(outside)} only over TLS (security.protocol "
            f"SASL_SSL or SSL, not {protocol})"
        )
        raise CredentialsRefused(msg)


def kafka_properties(text: str) -> dict[str, str]:
    """Parse `key=value` lines into librdkafka properties, refusing any not allowed.

    The error names the property, never a value.
    """
    properties: dict[str, str] = {}
    for line in text.splitlines():
        if "=" not in line or line.lstrip().startswith("#"):
            continue
        name, value = (part.strip() for part in line.split("=", 1))
        if name not in KAFKA_PROPERTIES:
            # Named only when it looks like a property name: a misplaced value must not
            # reach status through the message.
            shown = repr(name) if _PROPERTY_NAME.fullmatch(name) else "a line"
            allowed = ", ".join(sorted(KAFKA_PROPERTIES))
            msg = f"librdkafka property {shown} is not allowed in credentials (allowed: {allowed})"
            raise CredentialsRefused(msg)
        properties[name] = value
    return properties
