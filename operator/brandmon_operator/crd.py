"""Generate the BrandMonitor CustomResourceDefinition from the pydantic models in `api`.

pydantic emits JSON Schema (2020-12 flavour: $refs, anyOf-with-null for optional fields,
numeric exclusive bounds); the API server wants a structural OpenAPI v3 schema (everything
inline, boolean exclusive bounds, no additionalProperties=false). `structural()` converts
one into the other; `build_crd()` wraps it in the CRD. `make crds` writes the result to
crds/, and a unit test fails when the committed file differs from what this produces.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import yaml

from brandmon_operator import api

Schema = dict[str, Any]

# Keys pydantic emits that have no meaning (or a different one) in a structural schema.
_DROPPED = {"title", "$defs"}


def _resolve(schema: Schema, defs: dict[str, Schema]) -> Schema:
    """Inline a $ref and collapse Optional (anyOf [X, null]) into X."""
    if "$ref" in schema:
        target = copy.deepcopy(defs[schema["$ref"].rsplit("/", 1)[1]])
        # The referring property's own keys (its description, default) win over the model's.
        target.update({k: v for k, v in schema.items() if k != "$ref"})
        return _resolve(target, defs)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(options) != 1:
            msg = f"unions other than Optional[X] have no structural schema: {schema}"
            raise ValueError(msg)
        merged = {k: v for k, v in schema.items() if k != "anyOf"}
        if merged.get("default", "missing") is None:
            del merged["default"]
        return _resolve({**options[0], **merged}, defs)
    return schema


def _without_nulls(value: Any) -> Any:
    """Drop unset optionals from a default: the API server reads null as a wrong type."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def structural(schema: Schema, defs: dict[str, Schema] | None = None) -> Schema:
    """Convert one pydantic JSON Schema node (and its children) to a structural schema."""
    defs = schema.get("$defs", {}) if defs is None else defs
    node = _resolve(schema, defs)
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "additionalProperties" and value is False):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "properties":
            out[key] = _properties(value, set(node.get("required", [])), defs)
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = structural(value, defs)
        elif key == "default":
            out[key] = _without_nulls(value)
        else:
            out[key] = value
    return out


def _properties(
    properties: dict[str, Schema], required: set[str], defs: dict[str, Schema]
) -> Schema:
    return {name: structural(prop, defs) for name, prop in properties.items()}


PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Brand", "type": "string", "jsonPath": ".spec.brand", "priority": 1},
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    },
    {
        "name": "Reason",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
    },
    {"name": "Sources", "type": "integer", "jsonPath": ".status.sourceCount"},
    {"name": "Engine", "type": "string", "jsonPath": ".spec.processing.engine"},
    {"name": "Suspended", "type": "boolean", "jsonPath": ".spec.suspend", "priority": 1},
    {"name": "Last Collection", "type": "date", "jsonPath": ".status.lastCollectionTime"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def build_crd() -> Schema:
    """Return the BrandMonitor CRD as a plain dict."""
    spec = structural(api.BrandMonitorSpec.model_json_schema(by_alias=True))
    status = structural(api.BrandMonitorStatus.model_json_schema(by_alias=True))
    # A new monitor reads back observedGeneration 0 < generation, so kstatus (Flux, `kubectl
    # wait`) sees it in progress before the operator's first status write, not Current.
    status["default"] = {"observedGeneration": 0}
    root = {
        "type": "object",
        "description": "BrandMonitor declares one monitored brand: where its posts come from, "
        "how they are scored, and who is alerted. The brandmon operator turns it into "
        "collector CronJobs, analyzer Deployments, Kafka topics and ksqlDB queries.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "brandmon.io/v1alpha1"},
            "kind": {"type": "string", "description": "BrandMonitor"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        "x-kubernetes-validations": [
            {
                "rule": "self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
                "message": "metadata.name must be a DNS label (no dots): it names Kafka topics "
                "and ksqlDB objects",
            },
            {
                "rule": f"self.metadata.name.size() <= {api.MAX_MONITOR_NAME}",
                "message": f"metadata.name must be at most {api.MAX_MONITOR_NAME} characters: "
                "the names of the monitor's CronJobs and Deployments are built from it",
            },
        ],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{api.PLURAL}.{api.GROUP}",
            "labels": {
                "app.kubernetes.io/name": "brandmon",
                "app.kubernetes.io/part-of": "brandmon",
            },
        },
        "spec": {
            "group": api.GROUP,
            "names": {
                "kind": api.KIND,
                "listKind": f"{api.KIND}List",
                "plural": api.PLURAL,
                "singular": api.SINGULAR,
                "shortNames": list(api.SHORT_NAMES),
                "categories": list(api.CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": api.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


HEADER = "# Generated from brandmon_operator.api by `make crds`; do not edit.\n"


def render() -> str:
    """Return the CRD as the YAML committed in crds/."""
    return HEADER + yaml.safe_dump(build_crd(), sort_keys=False, width=100, allow_unicode=True)


def main() -> None:
    """Print the CRD YAML (`make crds` redirects it into crds/)."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
