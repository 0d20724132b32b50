"""A Pod run by the node agent acts as its ServiceAccount, with exactly that account's RBAC.

A local process cannot see /var/run/secrets/kubernetes.io/serviceaccount, so the agent
writes a kubeconfig holding the Pod's bound token and sets KUBECONFIG. Here an account
that may only `get` Pods in its namespace does that, and is refused everything else, both
through the Python client and through kubectl (client-go, which reads the tokenFile).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from kubernetes import client

from brandmon_devtools.platform import runtime
from tests.platform import test_node
from tests.platform.test_node import (
    NodeAgent,
    pod_in_phase,
    python,
    run_pod,
    statuses,
    wait_for,
)

# Prints, as JSON, the HTTP status of each call the Pod's identity makes (200 or 403).
PROBE = """
import json, os, sys
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
config.load_kube_config()
core = client.CoreV1Api()
namespace, pod = sys.argv[1], sys.argv[2]
calls = {
    "get own pod": lambda: core.read_namespaced_pod(pod, namespace),
    "list pods": lambda: core.list_namespaced_pod(namespace),
    "get secret": lambda: core.read_namespaced_secret("anything", namespace),
    "get pod elsewhere": lambda: core.read_namespaced_pod(pod, "kube-system"),
}
result = {}
for name, call in calls.items():
    try:
        call()
        result[name] = 200
    except ApiException as error:
        result[name] = error.status
with open(os.environ["BRANDMON_TERMINATION_LOG"], "w") as out:
    json.dump(result, out)
"""


# The node agent of tests/platform/test_node.py, one for this module.
node = test_node.node


def _pod_reader(kube: client.ApiClient, namespace: str) -> None:
    """Create account `reader`, allowed to get Pods in `namespace` and nothing else."""
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    # Plain manifests; the typed client accepts them as bodies.
    account: Any = {"metadata": {"name": "reader"}}
    role: Any = {
        "metadata": {"name": "pod-getter"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    binding: Any = {
        "metadata": {"name": "reader-gets-pods"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-getter"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
    }
    core.create_namespaced_service_account(namespace, account)
    rbac.create_namespaced_role(namespace, role)
    rbac.create_namespaced_role_binding(namespace, binding)


def test_pod_acts_as_its_service_account_with_its_rbac(
    platform: runtime.Platform, kube: client.ApiClient, node: NodeAgent, namespace: str
) -> None:
    _pod_reader(kube, namespace)
    kubectl = str(platform.bin / "kubectl")
    run_pod(kube, node, namespace, "who", [
        {"name": "python", "image": "python:3.11", "command": python(PROBE),
         "args": [namespace, "who"]},
        {"name": "kubectl", "image": "kubectl", "command": [kubectl, "get", "pod", "who", "-o", "name"]},
        {"name": "kubectl-denied", "image": "kubectl", "command": [kubectl, "get", "secrets"]},
    ], serviceAccountName="reader", restartPolicy="Never")  # fmt: skip
    pod = wait_for(
        node, lambda: pod_in_phase(kube, namespace, "who", "Succeeded", "Failed"), "the pod", 60
    )
    ended = {name: s["state"]["terminated"] for name, s in statuses(pod).items()}
    assert json.loads(ended["python"]["message"]) == {
        "get own pod": 200,
        "list pods": 403,
        "get secret": 403,
        "get pod elsewhere": 403,
    }
    assert ended["kubectl"]["exitCode"] == 0, (node.pod_dir(pod) / "kubectl.log").read_text()
    denied = (node.pod_dir(pod) / "kubectl-denied.log").read_text()
    assert ended["kubectl-denied"]["exitCode"] == 1
    assert f'"system:serviceaccount:{namespace}:reader" cannot list resource "secrets"' in denied

    kubeconfig = node.pod_dir(pod) / "kubeconfig"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    user = json.loads(kubeconfig.read_text())["users"][0]["user"]
    token_file = Path(user["tokenFile"])
    # The token is the one the projected kube-api-access volume holds, bound to this Pod.
    assert token_file.parent.parent == node.pod_dir(pod) / "volumes"
    assert token_file.read_text() == user["token"]
