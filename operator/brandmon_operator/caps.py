"""Administrator caps on what one BrandMonitor (and one namespace) may ask for.

A namespace editor can create monitors, so the sizes a spec names are the tenant's choice
up to the CRD's own bounds (1000 partitions, 20 every-minute sources, 100,000 image calls an
hour). The administrator narrows them in the operator's settings (`BRANDMON_OPERATOR_CAPS`,
chart value `caps`), and they hold twice:

- at admission, by a ValidatingAdmissionPolicy whose parameters are a ConfigMap the chart
  renders from the same values: `admission_policy()` below writes its CEL, so a request
  over a cap is refused by the API server with a message naming the field;
- by the operator (`violations()`), for monitors admitted before a cap was lowered or where
  the policy is not installed: such a monitor is refused as a whole, `WithinCaps=False` and
  Stalled, and nothing is built for it.

Both sides compute the same numbers, and `tests/platform/test_caps.py` checks that the API
server and `violations()` agree on every case. Monitors per namespace cannot be counted by
CEL (a policy sees one object); the operator enforces that cap by creation order, and the
chart can add a ResourceQuota (`count/brandmonitors.brandmon.io`) to each watched namespace
(`admissionPolicy.namespaceQuotas`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import Field

from brandmon_operator import status, topics
from brandmon_operator.api import SOURCE_KINDS, STREAMING_KINDS, BrandMonitorSpec
from brandmon_workers.contract.base import ApiModel

WITHIN_CAPS = "WithinCaps"
CAP_EXCEEDED = "CapExceeded"
HOUR_MS = 3_600_000


class Caps(ApiModel):
    """Limits an administrator sets on every monitor; null lifts one (the CRD's bounds stay)."""

    max_partitions: int | None = Field(default=12, ge=1)
    """Most partitions a monitor's topics may have (spec.topics.partitions)."""

    max_replication_factor: int | None = Field(default=3, ge=1)
    """Highest replication factor (spec.topics.replicationFactor)."""

    max_retention_hours: int | None = Field(default=720, ge=1)
    """Longest topic retention, in hours (spec.topics.retention; 720 is 30 days)."""

    max_sources: int | None = Field(default=10, ge=1)
    """Most sources per monitor (spec.sources)."""

    max_runs_per_hour: int | None = Field(default=12, ge=1, le=60)
    """Most collection runs an hour of one polled source: the minutes of the hour its cron
    schedule's minute field selects (12 allows every 5 minutes)."""

    max_image_calls_per_hour: int | None = Field(default=2000, ge=0)
    """Largest image-moderation budget (spec.analysis.image.maxCallsPerHour)."""

    max_monitors_per_namespace: int | None = Field(default=20, ge=1)
    """Most monitors in one namespace; the newest beyond it are refused."""

    def params(self) -> dict[str, str]:
        """Return the admission policy's parameters: ConfigMap data, one key per set cap."""
        return {
            _CAMEL[name]: str(value)
            for name, value in self.model_dump().items()
            if value is not None and name != "max_monitors_per_namespace"
        }


_CAMEL = {
    name: field.alias or name for name, field in Caps.model_fields.items()
}  # the ConfigMap keys are the values' own (camelCase) names


# -- the schedule's frequency, as both sides count it --------------------------------------

# One item of a minute field: *, a number or a range, optionally stepped by a non-zero step.
# Kept in a form RE2 reads too: the policy's CEL uses the same pattern.
MINUTE_ITEM = r"^(\*|[0-9]+(-[0-9]+)?)(/0*[1-9][0-9]*)?$"
_ITEM = re.compile(MINUTE_ITEM)


def runs_per_hour(schedule: str) -> int:
    """Return how many minutes of an hour a cron schedule fires in (60 if unreadable).

    Only the minute field counts: it fixes the runs within every hour the schedule fires
    in. The @-macros fire at most hourly. An item that is not a number, a range or a step
    counts as every minute, so an unreadable schedule is refused rather than let through.
    """
    if schedule.startswith("@"):
        return 1
    minutes: set[int] = set()
    for item in schedule.split(maxsplit=1)[0].split(","):
        if not _ITEM.fullmatch(item):
            return 60
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            low, high = 0, 59
        elif "-" in base:
            low, high = (int(part) for part in base.split("-"))
        else:
            low = int(base)
            high = 59 if step_text else low
        minutes.update(m for m in range(low, min(high, 59) + 1) if (m - low) % step == 0)
    return len(minutes)


# -- the operator's side -------------------------------------------------------------------


def violations(spec: BrandMonitorSpec, caps: Caps) -> list[str]:
    """Return one message per cap the spec exceeds, each naming the field (none: within)."""
    found = []
    if caps.max_partitions is not None and spec.topics.partitions > caps.max_partitions:
        found.append(_over("spec.topics.partitions", spec.topics.partitions, caps.max_partitions))
    replicas = spec.topics.replication_factor
    if caps.max_replication_factor is not None and replicas > caps.max_replication_factor:
        found.append(_over("spec.topics.replicationFactor", replicas, caps.max_replication_factor))
    if caps.max_retention_hours is not None:
        retention = topics.retention_ms(spec.topics.retention)
        if retention > caps.max_retention_hours * HOUR_MS:
            found.append(
                f"spec.topics.retention: {spec.topics.retention} is above the administrator's "
                f"cap of {caps.max_retention_hours}h"
            )
    if caps.max_sources is not None and len(spec.sources) > caps.max_sources:
        found.append(_over("spec.sources", len(spec.sources), caps.max_sources, "sources"))
    if caps.max_runs_per_hour is not None:
        for index, source in enumerate(spec.sources):
            runs = runs_per_hour(source.schedule)
            if not source.streaming and runs > caps.max_runs_per_hour:
                found.append(
                    f"spec.sources[{index}].schedule: source {source.name} runs {runs} times "
                    f"an hour ({source.schedule}), above the administrator's cap of "
                    f"{caps.max_runs_per_hour}"
                )
    budget = spec.analysis.image.max_calls_per_hour
    if caps.max_image_calls_per_hour is not None and budget > caps.max_image_calls_per_hour:
        found.append(
            _over("spec.analysis.image.maxCallsPerHour", budget, caps.max_image_calls_per_hour)
        )
    return found


def _over(path: str, value: int, cap: int, unit: str = "") -> str:
    shown = f"{value} {unit}".strip()
    return f"{path}: {shown} is above the administrator's cap of {cap}"


def namespace_rank(monitor: tuple[str, str], monitors: Iterable[tuple[str, str]]) -> int:
    """Return how many monitors of a namespace came before this one.

    Monitors are (creationTimestamp, name): the oldest keep running when a namespace holds
    more than the cap, so a new monitor cannot push out one already working.
    """
    return sum(1 for other in monitors if other < monitor)


def namespace_violation(rank: int, caps: Caps, namespace: str) -> str | None:
    """Return the message refusing a monitor `rank` places into its namespace, if any."""
    cap = caps.max_monitors_per_namespace
    if cap is None or rank < cap:
        return None
    return (
        f"metadata.namespace: namespace {namespace} already has {cap} older monitors, the "
        "administrator's cap of monitors per namespace"
    )


def refusal(problems: list[str], namespace: str) -> status.Concern | None:
    """Return the Stalled concern refusing a monitor over its caps, or None within them."""
    if not problems:
        return None
    message = (
        "; ".join(problems)
        + f" (the administrator's caps for namespace {namespace}, BRANDMON_OPERATOR_CAPS; "
        "nothing was built or changed)"
    )
    return status.Concern(WITHIN_CAPS, False, CAP_EXCEEDED, message, stalled=True)


# -- the API server's side -----------------------------------------------------------------

# The minute field of a five-field schedule (the CRD's pattern starts it with a non-space).
_MINUTE_FIELD = r"s.schedule.find('^[^\\s]+')"


# What both of the chart's policies check: writes of a BrandMonitor's spec. Writes that keep
# the spec (the operator adding or removing its finalizer, labels, annotations) pass, so a
# monitor over a cap lowered since can still be cleaned up and deleted.
MONITOR_SPEC_WRITES: dict[str, Any] = {
    "failurePolicy": "Fail",
    "matchConstraints": {
        "resourceRules": [
            {
                "apiGroups": ["brandmon.io"],
                "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["brandmonitors"],
            }
        ]
    },
    "matchConditions": [
        {"name": "spec-written", "expression": "oldObject == null || object.spec != oldObject.spec"}
    ],
}


def _fires(item: str) -> str:
    """CEL: whether minute `x` is selected by one item of the minute field (`item`)."""
    base = f"{item}.split('/')[0]"
    stepped = f"{item}.contains('/')"
    step = f"({stepped} ? int({item}.split('/')[1]) : 1)"
    low = f"({base} == '*' ? 0 : int({base}.split('-')[0]))"
    high = (
        f"({base} == '*' ? 59 : {base}.contains('-') ? int({base}.split('-')[1]) : "
        f"{stepped} ? 59 : {low})"
    )
    return f"(x >= {low} && x <= {high} && (x - {low}) % {step} == 0)"


def _runs_per_hour_cel() -> str:
    """CEL: `runs_per_hour(s.schedule)` for a source `s`, unreadable items counted as 60."""
    minutes = ",".join(str(m) for m in range(60))
    items = f"{_MINUTE_FIELD}.split(',')"
    pattern = MINUTE_ITEM.replace("\\", "\\\\")
    return (
        f"(s.schedule.startsWith('@') ? 1 : !{items}.all(i, i.matches('{pattern}')) ? 60 : "
        f"[{minutes}].filter(x, {items}.exists(i, {_fires('i')})).size())"
    )


def _retention_ms_cel() -> str:
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": HOUR_MS, "d": 24 * HOUR_MS}
    # "ms" must be tested before "s" and "m".
    value = "0"
    for unit, ms in reversed(units.items()):
        cut = f"int(p.substring(0, size(p) - {len(unit)})) * {ms}"
        value = f"p.endsWith('{unit}') ? {cut} : ({value})"
    return f"object.spec.topics.retention.findAll('[0-9]+(ms|s|m|h|d)').map(p, {value}).sum()"


def _param(key: str) -> str:
    return f"int(params.data.{key})"


def admission_policy() -> dict[str, Any]:
    """Return the ValidatingAdmissionPolicy's spec minus its paramKind's binding details.

    Each validation passes when its parameter is absent (the cap is lifted). Messages name
    the field, the asked value and the cap, as the operator's do.
    """
    cap = _CAMEL
    checks: list[tuple[str, str, str, str]] = [
        (
            cap["max_partitions"],
            "object.spec.topics.partitions",
            "'spec.topics.partitions: ' + string(object.spec.topics.partitions)",
            "",
        ),
        (
            cap["max_replication_factor"],
            "object.spec.topics.replicationFactor",
            "'spec.topics.replicationFactor: ' + string(object.spec.topics.replicationFactor)",
            "",
        ),
        (
            cap["max_sources"],
            "size(object.spec.sources)",
            "'spec.sources: ' + string(size(object.spec.sources)) + ' sources'",
            "",
        ),
        (
            cap["max_image_calls_per_hour"],
            "object.spec.analysis.image.maxCallsPerHour",
            "'spec.analysis.image.maxCallsPerHour: ' + "
            "string(object.spec.analysis.image.maxCallsPerHour)",
            "",
        ),
    ]
    validations = [
        {
            "expression": f"!has(params.data.{key}) || {value} <= {_param(key)}",
            "messageExpression": (
                f'{shown} + " is above the administrator\'s cap of " + params.data.{key}{unit}'
            ),
            "reason": "Invalid",
        }
        for key, value, shown, unit in checks
    ]
    retention = cap["max_retention_hours"]
    validations.append(
        {
            "expression": (
                f"!has(params.data.{retention}) || "
                f"{_retention_ms_cel()} <= {_param(retention)} * {HOUR_MS}"
            ),
            "messageExpression": (
                "'spec.topics.retention: ' + object.spec.topics.retention + "
                f"\" is above the administrator's cap of \" + params.data.{retention} + 'h'"
            ),
            "reason": "Invalid",
        }
    )
    runs = cap["max_runs_per_hour"]
    validations.append(
        {
            "expression": "size(variables.tooFrequent) == 0",
            "messageExpression": (
                "'spec.sources: ' + variables.tooFrequent.join(', ') + \" runs more often than "
                f"the administrator's cap of \" + params.data.{runs} + ' runs an hour'"
            ),
            "reason": "Invalid",
        }
    )
    polled = " || ".join(f"has(s.{kind})" for kind in SOURCE_KINDS if kind not in STREAMING_KINDS)
    too_frequent = (
        f"!has(params.data.{runs}) ? [] : object.spec.sources.filter(s, ({polled}) && "
        f"{_runs_per_hour_cel()} > {_param(runs)}).map(s, s.name)"
    )
    return MONITOR_SPEC_WRITES | {
        "variables": [{"name": "tooFrequent", "expression": too_frequent}],
        "validations": validations,
    }
