"""Base model for everything that appears in the Kubernetes API or in worker settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CONFIG_KEY = r"^[-._a-zA-Z0-9]+$"  # what a Secret allows as a key name
# Go-style durations as Kubernetes users write them: 30s, 15m, 1h30m, 7d.
DURATION = r"^([0-9]+(ms|s|m|h|d))+$"


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; attribute docstrings become descriptions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        frozen=True,
    )


class SecretKeyRef(ApiModel):
    """A key of a Secret in the monitor's namespace. Secrets are only ever referenced."""

    name: str = Field(pattern=DNS_SUBDOMAIN, min_length=1, max_length=253)
    """Name of the Secret."""

    key: str = Field(pattern=CONFIG_KEY, min_length=1, max_length=253)
    """Key within the Secret."""
