"""Random BrandMonitor specs (hypothesis) against the real API server and a running operator.

Each example starts from a sample and changes or removes one or two fields, found by walking the
generated CRD schema, to values of the field's type, its enum, edge values, or values of
another type altogether. The API server must refuse a bad one with 422 naming a field
under `spec`; whatever it accepts, the operator must handle: it stays up, logs no
traceback, and gives the monitor a status at its generation (Stalled with a message when
it refuses it). `connections` is left alone: unreachable servers only add timeouts, which
tests/platform/test_topics_queries.py covers. The fixed table of invalid objects is
tests/platform/test_api_validation.py.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from brandmon_operator import api, crd
from tests.platform.conftest import OperatorProcess, eventually
from tests.platform.test_operator import condition, objects, sample

EXAMPLES = 60
Path_ = tuple[str | int, ...]


def leaf_fields() -> list[tuple[Path_, dict[str, Any]]]:
    """Every leaf (and array) of the CRD's spec schema, with its schema node."""
    version = crd.build_crd()["spec"]["versions"][0]
    found: list[tuple[Path_, dict[str, Any]]] = []

    def walk(node: dict[str, Any], path: Path_) -> None:
        if path[:1] == ("connections",):
            return
        if node.get("type") == "object" and "properties" in node:
            for key, child in node["properties"].items():
                walk(child, (*path, key))
            return
        found.append((path, node))
        if node.get("type") == "array" and "items" in node:
            walk(node["items"], (*path, 0))

    walk(version["schema"]["openAPIV3Schema"]["properties"]["spec"], ())
    return found


FIELDS = leaf_fields()
ANY_TYPE = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=8),
    st.lists(st.integers(0, 3), max_size=2), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)  # fmt: skip
EDGE_STRINGS = ["", " ", "x" * 300, "61 * * * *", "@hourly", "*/5 * * * *", "s3://b/k.jsonl",
                "7d", "15m", "-1", "Ünïcode ✓", "a_b", "UPPER", "acme"]  # fmt: skip


def value_for(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for one schema node: mostly of its type, sometimes of any type."""
    kind = node.get("type")
    # (likely valid, anything of the type): the first is drawn more often.
    typed: tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]
    if node.get("enum"):
        typed = st.sampled_from(node["enum"]), st.text(max_size=6)
    elif kind == "string":
        typed = st.sampled_from(EDGE_STRINGS), st.text(max_size=20)
    elif kind == "integer":
        typed = st.sampled_from([0, 1, 2, 3, 12, 13, 50, 2**31]), st.integers(-5, 10**7)
    elif kind == "number":
        typed = (
            st.sampled_from([0.0, 0.3, 0.7, 1.0, 1.5, -0.1, 60.0]),
            st.floats(-2, 200, allow_nan=False),
        )
    elif kind == "boolean":
        typed = st.booleans(), st.booleans()
    elif kind == "array":
        typed = st.just([]), st.lists(st.text(max_size=6), max_size=3)
    else:
        typed = (
            st.dictionaries(st.sampled_from(["Violence", "Alcohol", "Nope"]), st.floats(0, 2)),
            st.just({}),
        )
    likely, anything = typed
    # Mostly likely values, so that enough specs get past the API server to the operator.
    return st.integers(0, 9).flatmap(lambda n: likely if n < 7 else anything if n < 9 else ANY_TYPE)


@st.composite
def mutated_specs(draw: st.DrawFn) -> dict[str, Any]:
    body = sample(draw(st.sampled_from(["acme.yaml", "replay-builtin.yaml"])))
    spec: dict[str, Any] = body["spec"]
    for _ in range(draw(st.integers(1, 2))):
        path, node = draw(st.sampled_from(FIELDS))
        remove = draw(st.integers(0, 9)) == 0
        set_path(spec, path, None if remove else draw(value_for(node)), remove=remove)
    return spec


def set_path(spec: dict[str, Any], path: Path_, value: Any, remove: bool) -> None:
    """Set (or remove) the value at `path`, creating what is missing on the way."""
    node: Any = spec
    for step, following in itertools.pairwise(path):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(node, list):
            if not node:
                node.append(empty)
            node = node[0] if isinstance(step, int) else node
            continue
        if not isinstance(node.get(step), (dict, list)):
            node[step] = empty
        node = node[step]
    last = path[-1]
    if isinstance(node, list):
        if remove:
            node.clear()
        elif node:
            node[0] = value
        else:
            node.append(value)
    elif remove:
        node.pop(last, None)
    else:
        node[last] = value


def test_random_specs_are_refused_cleanly_or_handled_without_crashing(
    kube: client.ApiClient, namespace: str, run_operator: Callable[..., OperatorProcess]
) -> None:
    operator = run_operator(namespace, resync_seconds=30)
    custom = objects(kube)
    accepted: list[str] = []
    refused: list[str] = []

    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(spec=mutated_specs())
    def create(spec: dict[str, Any]) -> None:
        name = f"r{len(accepted) + len(refused):03d}"
        body = {"apiVersion": f"{api.GROUP}/{api.VERSION}", "kind": api.KIND,
                "metadata": {"name": name}, "spec": copy.deepcopy(spec)}  # fmt: skip
        try:
            custom.create_namespaced_custom_object(
                api.GROUP, api.VERSION, namespace, api.PLURAL, body
            )
        except ApiException as error:
            refusal = (error.status, json.loads(error.body or "{}").get("message", ""))
        else:
            accepted.append(name)
            return
        assert refusal[0] == 422, (refusal, spec)
        assert "spec" in refusal[1], refusal  # names the field
        refused.append(refusal[1])

    create()
    assert accepted, "no random spec was valid: the strategy only tests the schema"
    assert refused, "no random spec was invalid: the strategy is too tame"

    def handled(name: str) -> dict[str, Any] | None:
        body = custom.get_namespaced_custom_object(
            api.GROUP, api.VERSION, namespace, api.PLURAL, name
        )
        assert isinstance(body, dict)
        status = body.get("status") or {}
        ready = condition(body, "Ready")
        if status.get("observedGeneration") != body["metadata"]["generation"] or ready is None:
            return None
        return body

    for name in accepted:
        body = eventually(lambda name=name: handled(name), timeout=120, what=f"status of {name}")  # type: ignore[misc]
        stalled = condition(body, "Stalled")
        if stalled and stalled["status"] == "True":
            assert stalled["message"], body["status"]
            assert stalled["reason"], body["status"]
    assert operator.process is not None
    assert operator.process.poll() is None, "the operator died"
    log = Path(operator.log).read_text()
    assert "Traceback" not in log, log[
        log.index("Traceback") - 2000 : log.index("Traceback") + 3000
    ]
