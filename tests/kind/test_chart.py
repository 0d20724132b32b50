"""The Helm chart's life on kind: the operator under the chart's RBAC, an upgrade, an uninstall.

The package's release (`brandmon` in brandmon-system, installed by the demo stack) runs the
operator from the brandmon image with in-cluster configuration. Here: a monitor gets Ready
with nothing the operator asked refused; an upgrade that changes the workers' memory limit
rolls the operator (Recreate) and the new one resizes the workers; an uninstall removes the
operator and every RBAC object and keeps the CRD and the monitor (and its workloads); a
fresh install adopts the monitor again.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from brandmon_devtools.kind import demo as stack_demo
from brandmon_devtools.platform.pins import repo_root
from tests.kind.flow import Flow, monitor_manifest, post_line
from tests.platform.conftest import eventually

RELEASE = stack_demo.RELEASE
# The chart names objects after the release ("brandmon" already says brandmon).
FULLNAME = RELEASE
OPERATOR = "app.kubernetes.io/component=operator"


def _exists(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _operator_uid(kube: client.ApiClient) -> str | None:
    pods = client.CoreV1Api(kube).list_namespaced_pod(stack_demo.SYSTEM, label_selector=OPERATOR)
    running = [
        p for p in pods.items
        if p.metadata and not p.metadata.deletion_timestamp and p.status and p.status.phase == "Running"
    ]  # fmt: skip
    return str(running[0].metadata.uid) if len(running) == 1 and running[0].metadata else None


def _helm(stack: stack_demo.Stack, *args: str) -> str:
    done = subprocess.run(
        [str(stack.helm), *args, "--kubeconfig", str(stack.kubeconfig), "-n", stack_demo.SYSTEM],
        capture_output=True, text=True, timeout=360, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_upgrade_resizes_workers_and_uninstall_keeps_the_crd_and_monitors(flow: Flow) -> None:
    stack, kube = flow.stack, flow.kube
    apps, rbac = client.AppsV1Api(kube), client.RbacAuthorizationV1Api(kube)
    flow.record(post_line("c-01", "Lovely afternoon tea with the Northwind teapot."))
    flow.apply(monitor_manifest(flow.name))
    flow.wait_ready()
    # The chart's RBAC is all the operator needs: nothing it asked for was refused.
    assert "Forbidden" not in flow.operator_log(), flow.operator_log()

    def memory_limit() -> str:
        deployment: Any = apps.read_namespaced_deployment(
            f"{flow.name}-text-analyzer", flow.namespace
        )
        (container,) = deployment.spec.template.spec.containers
        return str(container.resources.limits["memory"])

    first = _operator_uid(kube)
    assert first is not None
    assert memory_limit() != "600Mi"
    try:
        _helm(stack, "upgrade", RELEASE, str(repo_root() / "charts" / "brandmon"),
              "--reuse-values", "--set", "workers.resources.limits.memory=600Mi",
              "--wait", "--timeout", "300s")  # fmt: skip
        eventually(lambda: _operator_uid(kube) not in (None, first), 120, "a new operator")
        eventually(lambda: memory_limit() == "600Mi", 120, "workers resized by the new operator")
        flow.wait_ready()

        _helm(stack, "uninstall", RELEASE, "--wait", "--timeout", "300s")
        gone = {
            "Deployment": lambda: apps.read_namespaced_deployment(FULLNAME, stack_demo.SYSTEM),
            "ClusterRole": lambda: rbac.read_cluster_role(f"{FULLNAME}-operator"),
            "ClusterRoleBinding": lambda: rbac.read_cluster_role_binding(f"{FULLNAME}-operator"),
            "editor": lambda: rbac.read_cluster_role(f"{FULLNAME}-editor"),
            "viewer": lambda: rbac.read_cluster_role(f"{FULLNAME}-viewer"),
        }
        assert [kind for kind, read in gone.items() if _exists(read)] == []
        extensions = client.ApiextensionsV1Api(kube)
        assert _exists(
            lambda: extensions.read_custom_resource_definition("brandmonitors.brandmon.io")
        )
        assert flow.monitor_names() == [flow.name]  # helm.sh/resource-policy: keep
        assert memory_limit() == "600Mi"  # the workers were the monitor's, not the release's
    finally:
        # A fresh install (the stack's values) adopts the monitor and resizes its workers back.
        try:
            stack.install_chart(stack_demo.chart_values(stack.images.brandmon))
        except stack_demo.DemoError as error:
            pytest.fail(str(error))
    eventually(
        lambda: memory_limit() != "600Mi", 120, "workers resized by the reinstalled operator"
    )
    flow.wait_ready()
