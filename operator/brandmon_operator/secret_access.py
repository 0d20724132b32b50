"""Which Secrets a BrandMonitor names, and the admission rule that its author may read them.

A monitor names Secrets by reference (an Instagram session, a Mastodon token, Reddit app
credentials, webhook URLs and signing keys, connection credentials), and its workers and
the operator then use them. Someone allowed to write BrandMonitors but not to read a Secret
of their namespace (the chart's editor role alone) could otherwise have the pipeline use it
for them. The chart's second ValidatingAdmissionPolicy asks the API server's authorizer, for
the user making the request, whether they may `get` each Secret the spec names (what a
SubjectAccessReview answers), and refuses the write otherwise, naming the Secrets. On update
only newly named Secrets are checked, so editing a monitor an administrator set up with
Secrets one cannot read still works as long as those references stay.

The paths are found by walking the API models, so a new Secret reference is covered
without touching this module; `tests/unit/test_secret_access.py` pins the current list.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from brandmon_operator.api import BrandMonitorSpec
from brandmon_operator.caps import MONITOR_SPEC_WRITES
from brandmon_workers.contract.base import SecretKeyRef


@dataclass(frozen=True)
class SecretPath:
    """Where a spec names a Secret: the fields down to it, and a list on the way if any."""

    before: tuple[str, ...]
    """camelCase fields from spec down to a list (or to the name when there is no list)."""

    after: tuple[str, ...]
    """camelCase fields from a list item down to the name (empty without a list)."""

    @property
    def listed(self) -> bool:
        """Return whether the path goes through a list (sources, webhooks)."""
        return bool(self.after)

    def __str__(self) -> str:
        return ".".join(("spec", *self.before)) + (
            "[]." + ".".join(self.after) if self.after else ""
        )


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """Return the model a field holds (through Optional and list) and whether it is a list."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _model_of(arg)
    if origin is list:
        model, _ = _model_of(typing.get_args(annotation)[0])
        return model, True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def secret_paths(model: type[BaseModel] = BrandMonitorSpec) -> list[SecretPath]:
    """Return every path in the model to a Secret's name, in field order."""
    found: list[SecretPath] = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        nested, is_list = _model_of(field.annotation)
        if nested is SecretKeyRef:
            found.append(SecretPath((alias, "name"), ()))
        elif name.endswith("_secret_name"):
            found.append(SecretPath((alias,), ()))
        elif nested is not None:
            for sub in secret_paths(nested):
                if not is_list:
                    found.append(SecretPath((alias, *sub.before), sub.after))
                elif sub.listed:
                    raise TypeError(f"a list inside the list {alias}: not supported")
                else:
                    found.append(SecretPath((alias,), sub.before))
    return found


def secret_names(spec: dict[str, Any]) -> list[str]:
    """Return the Secret names a spec (as JSON) names, each once, in path order."""
    names: list[str] = []
    for path in secret_paths():
        items: list[Any] = [spec]
        for step in path.before:
            items = [item[step] for item in items if isinstance(item, dict) and step in item]
        if path.listed:
            items = [entry for item in items if isinstance(item, list) for entry in item]
            for step in path.after:
                items = [item[step] for item in items if isinstance(item, dict) and step in item]
        names.extend(str(item) for item in items if item not in names)
    return list(dict.fromkeys(names))


# -- the policy ----------------------------------------------------------------------------


def _present(root: str, fields: tuple[str, ...]) -> str:
    """CEL: every field on the way is set (the last one included)."""
    checks = [f"has({root}.{'.'.join(fields[: i + 1])})" for i in range(len(fields))]
    return " && ".join(checks)


def _names_cel(root: str) -> str:
    """CEL: the list of Secret names an object (`root` is object or oldObject) names."""
    parts = []
    for path in secret_paths():
        spec = f"{root}.spec"
        if path.listed:
            lists = ".".join(path.before)
            leading = _present(spec, path.before)
            inner = _present("x", path.after[:-1]) if len(path.after) > 1 else "true"
            name = "x." + ".".join(path.after)
            chosen = f"{spec}.{lists}.filter(x, {inner} && has({name})).map(x, {name})"
            parts.append(f"({leading} ? {chosen} : [])")
        else:
            parts.append(f"({_present(spec, path.before)} ? [{spec}.{'.'.join(path.before)}] : [])")
    return " + ".join(parts)


def admission_policy() -> dict[str, Any]:
    """Return the ValidatingAdmissionPolicy spec refusing Secrets the requester cannot read."""
    secrets = "authorizer.group('').resource('secrets').namespace(request.namespace)"
    # Each authorizer call is costly in CEL's budget (a write naming three Secrets went over
    # it on Kubernetes 1.34): one call for the whole namespace first, which is the common
    # answer (`edit` may read every Secret there); names one by one only when it says no.
    readable = (
        f"{secrets}.check('get').allowed() || "
        f"variables.added.all(n, {secrets}.name(n).check('get').allowed())"
    )
    return MONITOR_SPEC_WRITES | {
        "variables": [
            {"name": "named", "expression": _names_cel("object")},
            {
                "name": "before",
                "expression": f"oldObject == null ? [] : {_names_cel('oldObject')}",
            },
            {
                "name": "added",
                "expression": "variables.named.filter(n, !(n in variables.before))",
            },
        ],
        "validations": [
            {
                "expression": f"size(variables.added) == 0 || {readable}",
                # A message cannot ask the authorizer again: it names every added Secret.
                "messageExpression": (
                    "request.userInfo.username + ' may not read every Secret this monitor newly "
                    "names in namespace ' + request.namespace + ' (' + variables.added.join(', ') "
                    "+ '): a monitor may use only Secrets its author can get'"
                ),
                "reason": "Forbidden",
            }
        ],
    }
