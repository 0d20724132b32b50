"""Administrator caps on the real API server and the real operator (issue 16).

The chart's ValidatingAdmissionPolicy, as `helm template` renders it, refuses a tenant's
monitor over a cap with a message naming the field, and its verdict is the operator's own
(`caps.violations`) on every case; the chart's ResourceQuota bounds monitors per namespace;
and the operator refuses what got past admission (the policy not installed, a cap lowered
later), building nothing for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from brandmon_operator import api, caps
from tests.conftest import unique
from tests.platform.conftest import OperatorProcess, eventually
from tests.platform.test_chart import CHART, Helm, helm  # noqa: F401 - the helm fixture
from tests.platform.test_operator import condition, get_monitor, is_ready
from tests.platform.test_tenancy import Tenant, ksqldb_monitor, tenants  # noqa: F401

FEED = {"feeds": ["https://news.example/feed.xml"]}


def _source(name: str, schedule: str = "*/30 * * * *", **kind: Any) -> dict[str, Any]:
    return {"name": name, "schedule": schedule, **(kind or {"rss": FEED})}


# (what, spec changes, text both refusals must name; None: within every default cap)
CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("the defaults", {}, None),
    ("partitions at the cap", {"topics": {"partitions": 12}}, None),
    ("partitions over", {"topics": {"partitions": 13}}, "spec.topics.partitions: 13"),
    ("replicas over", {"topics": {"replicationFactor": 4}}, "spec.topics.replicationFactor: 4"),
    ("retention at the cap", {"topics": {"retention": "30d"}}, None),
    ("retention in minutes", {"topics": {"retention": "43200m"}}, None),
    ("retention one ms over", {"topics": {"retention": "30d1ms"}}, "spec.topics.retention: 30d1ms"),
    ("retention in hours over", {"topics": {"retention": "721h"}}, "spec.topics.retention: 721h"),
    ("ten sources", {"sources": [_source(f"s{i}") for i in range(10)]}, None),
    ("eleven sources", {"sources": [_source(f"s{i}") for i in range(11)]}, "spec.sources: 11"),
    ("every 5 minutes", {"sources": [_source("a", "*/5 * * * *")]}, None),
    ("every 4 minutes", {"sources": [_source("often", "*/4 * * * *")]}, "often"),
    ("a stepped range", {"sources": [_source("a", "0-58/5 9-17 * * 1-5")]}, None),
    ("a list of 13", {"sources": [_source("lst", ",".join(map(str, range(13))) + " * * * *")]}, "lst"),
    ("a list of 12", {"sources": [_source("a", ",".join(map(str, range(0, 60, 5))) + " * * * *")]}, None),
    ("an offset step", {"sources": [_source("a", "5/15 * * * *")]}, None),
    ("every minute of one hour", {"sources": [_source("night", "*/1 3 * * *")]}, "night"),
    ("tab-separated", {"sources": [_source("tab", "*/4\t* * * *")]}, "tab"),
    ("a macro", {"sources": [_source("a", "@hourly")]}, None),
    ("unreadable minutes", {"sources": [_source("odd", "L * * * *")]}, "odd"),
    ("a zero step", {"sources": [_source("zero", "*/0 * * * *")]}, "zero"),
    ("a stream ignores its schedule", {"sources": [_source("sky", "* * * * *", bluesky={"terms": ["acme"]})]}, None),
    ("image budget at the cap", {"analysis": {"image": {"maxCallsPerHour": 2000}}}, None),
    ("image budget over", {"analysis": {"image": {"maxCallsPerHour": 2001}}}, "spec.analysis.image.maxCallsPerHour: 2001"),
]  # fmt: skip


def monitor(name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """The tenancy tests' monitor with one RSS source, then the case's changes merged in."""
    body = ksqldb_monitor(name)
    spec = body["spec"]
    spec["sources"] = [_source("feed")]
    for key, value in changes.items():
        spec[key] = value if key == "sources" else spec.get(key, {}) | value
    return body


def refusal(tenant: Tenant, body: dict[str, Any], *, dry_run: bool = True) -> str | None:
    """Create the monitor as the tenant; return the API server's refusal, or None."""
    try:
        client.CustomObjectsApi(tenant.api).create_namespaced_custom_object(
            api.GROUP, api.VERSION, tenant.namespace, api.PLURAL, body,
            dry_run="All" if dry_run else None,
        )  # fmt: skip
    except ApiException as error:
        if error.status in (403, 422):
            return str(json.loads(error.body or "{}").get("message", error.reason))
        raise
    return None


@pytest.fixture
def admission(
    kube: client.ApiClient, helm: Helm, brandmonitor_crd: str,  # noqa: F811
) -> Callable[..., None]:  # fmt: skip
    """Install the chart's admission objects for some namespaces, as helm renders them."""
    admission_api = client.AdmissionregistrationV1Api(kube)
    core = client.CoreV1Api(kube)
    installed: list[tuple[str, str]] = []

    def install(namespaces: list[str], *values: str) -> None:
        release = unique("caps")
        rendered = helm(
            "template", release, str(CHART), "--namespace", namespaces[0],
            "--show-only", "templates/admission.yaml",
            "--set-json", f"watchNamespaces={json.dumps(namespaces)}",
            *(arg for value in values for arg in ("--set-json", value)),
        )  # fmt: skip
        for manifest in yaml.safe_load_all(rendered.stdout):
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            if kind == "ConfigMap":
                core.create_namespaced_config_map(manifest["metadata"]["namespace"], manifest)
            elif kind == "ResourceQuota":
                core.create_namespaced_resource_quota(manifest["metadata"]["namespace"], manifest)
            elif kind == "ValidatingAdmissionPolicy":
                admission_api.create_validating_admission_policy(manifest)
            else:
                assert kind == "ValidatingAdmissionPolicyBinding"
                admission_api.create_validating_admission_policy_binding(manifest)
            installed.append((kind, name))

        def checked() -> bool:
            policy = next(name for kind, name in installed if kind == "ValidatingAdmissionPolicy")
            found = admission_api.read_validating_admission_policy(policy)
            return bool(found.status and found.status.observed_generation)

        eventually(checked, what="the API server to type-check the policy")

        def counted() -> bool:
            # Until the quota controller has counted, the API server refuses every monitor.
            quotas = [
                core.read_namespaced_resource_quota(name, namespace)
                for namespace in namespaces
                for kind, name in installed
                if kind == "ResourceQuota"
            ]
            return all(q.status and q.status.used is not None for q in quotas)

        eventually(counted, what="the quota controller to count monitors")

    # The cluster-wide policies stay until the platform goes: their bindings match only the
    # test's namespaces, which are deleted. Deleting the last policy with a ConfigMap
    # paramKind stops the API server's ConfigMap informer, and in our runs one started again
    # for a later test did not see its parameters for over a minute (the policy then lets
    # everything through: parameterNotFoundAction Allow).
    return install


def test_the_policy_type_checks_against_the_crd(
    kube: client.ApiClient, tenants: Callable[..., Tenant],  # noqa: F811
    admission: Callable[..., None],
) -> None:  # fmt: skip
    tenant = tenants(unique("t"))
    admission([tenant.namespace])
    listed = client.AdmissionregistrationV1Api(kube).list_validating_admission_policy(
        _preload_content=False
    )
    policies = json.loads(listed.data)["items"]  # type: ignore[attr-defined]
    ours = [p for p in policies if p["metadata"]["name"].startswith("caps-")]
    assert ours
    for policy in ours:
        # Warnings mean an expression does not fit the CRD's schema (a typo'd field).
        assert not policy["status"].get("typeChecking", {}).get("expressionWarnings")


def test_the_api_server_and_the_operator_agree_on_every_cap(
    tenants: Callable[..., Tenant],  # noqa: F811
    admission: Callable[..., None],
) -> None:  # fmt: skip
    tenant = tenants(unique("t"))
    admission([tenant.namespace])

    def enforced() -> bool:
        # Until the API server sees the parameters, the policy refuses everything.
        found = refusal(tenant, monitor("probe", {"topics": {"partitions": 13}}))
        return found is not None and "administrator's cap" in found

    eventually(enforced, what="the policy to be enforced")
    defaults = caps.Caps()
    for what, changes, named in CASES:
        body = monitor("acme", changes)
        found = caps.violations(api.BrandMonitorSpec.model_validate(body["spec"]), defaults)
        refused = refusal(tenant, body)
        if named is None:
            assert refused is None, what
            assert found == [], what
            continue
        assert refused is not None, what
        assert named in refused, what
        assert "administrator's cap" in refused, what
        assert found, what
        assert named in found[0], what


def test_a_tenant_cannot_create_more_monitors_than_the_quota(
    kube: client.ApiClient, tenants: Callable[..., Tenant],  # noqa: F811
    admission: Callable[..., None],
) -> None:  # fmt: skip
    tenant = tenants(unique("t"))
    admission(
        [tenant.namespace], "caps.maxMonitorsPerNamespace=1", "admissionPolicy.namespaceQuotas=true"
    )
    assert refusal(tenant, monitor("first", {}), dry_run=False) is None
    refused = refusal(tenant, monitor("second", {}), dry_run=False)
    assert refused is not None
    assert "exceeded quota" in refused
    assert "count/brandmonitors.brandmon.io" in refused


def test_the_operator_refuses_a_monitor_over_its_caps_and_builds_nothing(
    kube: client.ApiClient, tenants: Callable[..., Tenant],  # noqa: F811
    run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    tenant = tenants(unique("t"))  # no admission policy: the operator is the last line
    run_operator(
        tenant.namespace, resync_seconds=2,
        caps=json.dumps({"maxPartitions": 2, "maxMonitorsPerNamespace": 1}),
    )  # fmt: skip
    tenant.create_monitor(monitor("big", {"topics": {"partitions": 3}}))

    def refused() -> dict[str, Any] | None:
        return condition(get_monitor(kube, tenant.namespace, "big"), caps.WITHIN_CAPS)

    found = eventually(refused, what="the operator to refuse the monitor")
    assert (found["status"], found["reason"]) == ("False", caps.CAP_EXCEEDED)
    assert found["message"].startswith("spec.topics.partitions: 3 is above")
    stalled = condition(get_monitor(kube, tenant.namespace, "big"), "Stalled")
    assert stalled is not None
    assert stalled["status"] == "True"
    apps, batch = client.AppsV1Api(kube), client.BatchV1Api(kube)
    assert apps.list_namespaced_deployment(tenant.namespace).items == []
    assert batch.list_namespaced_cron_job(tenant.namespace).items == []


def test_the_operator_runs_only_the_oldest_monitors_of_a_namespace(
    kube: client.ApiClient, tenants: Callable[..., Tenant],  # noqa: F811
    run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    tenant = tenants(unique("t"))
    run_operator(
        tenant.namespace, resync_seconds=2, caps=json.dumps({"maxMonitorsPerNamespace": 1})
    )
    tenant.create_monitor(monitor("first", {}))
    eventually(lambda: is_ready(kube, tenant.namespace, "first"), what="the first monitor")
    tenant.create_monitor(monitor("second", {}))

    def reason_of_second() -> str | None:
        found = condition(get_monitor(kube, tenant.namespace, "second"), caps.WITHIN_CAPS)
        return str(found["reason"]) if found else None

    eventually(lambda: reason_of_second() == caps.CAP_EXCEEDED, what="the second refused")
    message = condition(get_monitor(kube, tenant.namespace, "second"), caps.WITHIN_CAPS)
    assert message is not None
    assert message["message"].startswith("metadata.namespace: namespace")
    assert is_ready(kube, tenant.namespace, "first")  # the older one is not pushed out
    tenant.delete_monitor("first")
    eventually(lambda: is_ready(kube, tenant.namespace, "second"), what="the second to run")


def test_a_monitor_may_name_only_secrets_its_author_can_read(
    kube: client.ApiClient, tenants: Callable[..., Tenant],  # noqa: F811
    admission: Callable[..., None],
) -> None:  # fmt: skip
    editor = tenants(unique("t"), edit=False)  # BrandMonitors only: no Secrets
    admission([editor.namespace])
    core = client.CoreV1Api(kube)
    for name in ("pr-webhook", "platform-hook"):  # the platform team's, in the tenant's namespace
        core.create_namespaced_secret(editor.namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(name=name), string_data={"url": "https://hooks.example/x"}
        ))  # fmt: skip
    hooked = monitor("acme", {})
    hooked["spec"]["alerts"] = {"webhooks": [
        {"name": "pr", "urlSecretRef": {"name": "pr-webhook", "key": "url"}}]}  # fmt: skip

    def enforced() -> str | None:
        # Until the API server sees the caps' parameters, that policy refuses everything.
        found = refusal(editor, hooked)
        return found if found and "newly names" in found else None

    refused = eventually(enforced, what="the Secret-access policy to be enforced")
    assert f"{editor.user} may not read every Secret this monitor newly names" in refused
    assert f"namespace {editor.namespace} (pr-webhook)" in refused
    # Set up by someone who may read it, the monitor stays editable by the tenant ...
    client.CustomObjectsApi(kube).create_namespaced_custom_object(
        api.GROUP, api.VERSION, editor.namespace, api.PLURAL, hooked
    )
    objects = client.CustomObjectsApi(editor.api)
    objects.patch_namespaced_custom_object(
        api.GROUP, api.VERSION, editor.namespace, api.PLURAL, "acme", {"spec": {"brand": "Acme 2"}}
    )
    # ... but a Secret it newly names must be readable by the tenant.
    hooks = hooked["spec"]["alerts"]["webhooks"] + [
        {"name": "ops", "urlSecretRef": {"name": "platform-hook", "key": "url"}}]  # fmt: skip
    with pytest.raises(ApiException) as denied:
        objects.patch_namespaced_custom_object(
            api.GROUP, api.VERSION, editor.namespace, api.PLURAL, "acme",
            {"spec": {"alerts": {"webhooks": hooks}}},
        )  # fmt: skip
    assert denied.value.status == 403
    assert "(platform-hook)" in str(denied.value.body)  # only what this write adds
    # Someone who may read Secrets there may name them.
    reader = tenants(unique("r"))
    admission([reader.namespace])
    many = monitor("many", {})
    many["spec"]["alerts"] = {"webhooks": []}
    for i in range(5):  # several Secrets: one authorizer call covers them (CEL's cost budget)
        core.create_namespaced_secret(reader.namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(name=f"hook-{i}"), string_data={"url": "https://h.example/"}
        ))  # fmt: skip
        many["spec"]["alerts"]["webhooks"].append(
            {"name": f"w{i}", "urlSecretRef": {"name": f"hook-{i}", "key": "url"}}
        )
    assert refusal(reader, many) is None
