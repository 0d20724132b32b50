"""The Argo CD health check (gitops/argocd/brandmonitor-health.lua), run by a real Lua.

Argo CD embeds gopher-lua (Lua 5.1), so the script runs here in lupa's Lua 5.1 with `obj`
set the way Argo CD sets it. Three sources of cases: the fixtures (every health state,
tests/unit/fixtures/argocd-health/cases.yaml), statuses produced by the operator's own
status logic from random reconcile outcomes, and the reasons the operator marks terminal.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from lupa.lua51 import LuaRuntime  # type: ignore[import-untyped]

from brandmon_operator import status

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "gitops" / "argocd" / "brandmonitor-health.lua"
ARGOCD_CM = ROOT / "gitops" / "argocd" / "argocd-cm.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "argocd-health" / "cases.yaml").read_text()
)
# What Argo CD accepts from a health script.
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def health(obj: dict[str, Any], script: str | None = None) -> tuple[str, str]:
    """Run the health script on one object and return (status, message)."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script if script is not None else SCRIPT.read_text())
    return str(result["status"]), str(result["message"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture(case: dict[str, Any]) -> None:
    got_status, got_message = health(case["object"])
    assert got_status == case["expect"]["status"]
    assert case["expect"]["message"] in got_message


def test_fixtures_cover_every_health_the_script_can_return() -> None:
    shown = {c["expect"]["status"] for c in CASES}
    returned = set(re.findall(r'hs\.status = "(\w+)"', SCRIPT.read_text()))
    assert shown == returned == {"Healthy", "Progressing", "Degraded", "Suspended"}
    assert returned <= ARGO_STATUSES


def test_argocd_cm_snippet_carries_the_same_script() -> None:
    config = yaml.safe_load(ARGOCD_CM.read_text())
    assert config["metadata"]["name"] == "argocd-cm"
    assert config["data"]["resource.customizations.health.brandmon.io_BrandMonitor"] == (
        SCRIPT.read_text()
    )


@functools.cache
def _stalled_reasons_in_operator() -> frozenset[str]:
    """Every reason the operator passes to a Concern with stalled=True (read from source)."""
    reasons = set()
    for path in (ROOT / "operator" / "brandmon_operator").glob("*.py"):
        tree = ast.parse(path.read_text())
        # Reasons are literals or module constants (REASON = "...") passed by name.
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("Concern")):
                continue
            stalled = any(
                k.arg == "stalled" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            )
            if not stalled or len(node.args) < 3:
                continue
            reason = node.args[2]
            if isinstance(reason, ast.Constant):
                reasons.add(str(reason.value))
            elif isinstance(reason, ast.Name) and reason.id in constants:
                reasons.add(str(constants[reason.id]))
    return frozenset(reasons)


def _terminal_reasons_in_script() -> set[str]:
    block = re.search(r"local terminal = \{(.*?)\n\}", SCRIPT.read_text(), re.DOTALL)
    assert block is not None
    return set(re.findall(r"(\w+) = true", block.group(1)))


def test_terminal_reasons_are_the_ones_the_operator_stalls_on() -> None:
    operator = _stalled_reasons_in_operator()
    assert {"TopicChangeRefused", "WorkloadRejected", "StatementRejected"} <= operator
    assert _terminal_reasons_in_script() == operator


@pytest.mark.parametrize("reason", sorted(_stalled_reasons_in_operator()))
def test_each_terminal_reason_on_ready_alone_is_degraded(reason: str) -> None:
    obj = {
        "metadata": {"generation": 1},
        "spec": {},
        "status": {
            "observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "False", "reason": reason, "message": "x"}],
        },
    }
    assert health(obj)[0] == "Degraded"


def test_a_broken_script_is_caught_by_the_fixtures() -> None:
    """Swapping two branches (suspend before stalled) must fail a fixture: the cases bite."""
    script = SCRIPT.read_text()
    broken = script.replace('stalled.status == "True"', 'stalled.status == "Never"')
    assert broken != script
    failing = [c["name"] for c in CASES if health(c["object"], broken)[0] != c["expect"]["status"]]
    assert failing


# --- statuses the operator's own code writes ----------------------------------------------

_CONCERNS = ("TopicsReady", "WorkloadsReady", "QueriesReady")
_RETRYABLE = ("KafkaUnavailable", "ApiError", "ApiUnreachable", "KsqlDbUnavailable")


@st.composite
def concern(draw: st.DrawFn) -> status.Concern:
    """One reconcile outcome as the operator builds it: terminal reasons are stalled."""
    ok, stalled = draw(st.booleans()), draw(st.booleans())
    if ok:
        reason = "Reconciled"
    elif stalled:
        reason = draw(st.sampled_from(sorted(_stalled_reasons_in_operator())))
    else:
        reason = draw(st.sampled_from(_RETRYABLE))
    return status.Concern(
        draw(st.sampled_from(_CONCERNS)), ok, reason, draw(st.text(max_size=20)), stalled and not ok
    )


@settings(max_examples=200, deadline=None)
@given(
    concerns=st.lists(concern(), min_size=1, max_size=3, unique_by=lambda c: c.type),
    suspend=st.booleans(),
    behind=st.booleans(),
)
def test_health_of_statuses_the_operator_writes(
    concerns: list[status.Concern], suspend: bool, behind: bool
) -> None:
    generation = 7
    observed = generation - 1 if behind else generation
    conditions = status.merge([], status.conditions(concerns), observed, "2026-11-26T09:00:00Z")
    obj = {
        "metadata": {"name": "acme", "generation": generation},
        "spec": {"brand": "ACME", "suspend": suspend},
        "status": {"observedGeneration": observed, "conditions": conditions},
    }
    failing = [c for c in concerns if not c.ok]
    if behind:
        expected = "Progressing"
    elif any(c.stalled for c in failing):
        expected = "Degraded"
    elif suspend:
        expected = "Suspended"
    elif not failing:
        expected = "Healthy"
    else:
        expected = "Progressing"
    assert health(obj)[0] == expected
