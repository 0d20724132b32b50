"""The brandmon image as a pod on a real cluster: the chart's pod settings and in-cluster config.

The chart's security settings (read from its values.yaml, not restated) are checked from
inside the running container: uid and gid 65532, a read-only root filesystem, and no
service-account token where none is mounted. A second pod, under a service account whose
Role lets it list pods in its namespace only, uses the Kubernetes client the way the operator
does (in-cluster configuration through the kubernetes Service).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import yaml
from kubernetes import client

from brandmon_devtools.platform.pins import repo_root
from tests.kind.conftest import wait_for_pod

VALUES = yaml.safe_load((repo_root() / "charts" / "brandmon" / "values.yaml").read_text())
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

CHECK_FROM_INSIDE = f"""
import os, pathlib
print(os.getuid(), os.getgid())
try:
    pathlib.Path("/opt/brandmon/written").write_text("x")
except OSError as error:
    print("read-only", error.errno)
print("token", os.path.exists("{TOKEN_DIR}/token"))
"""

LIST_OWN_NAMESPACE = """
import os
from kubernetes import client, config
config.load_incluster_config()
api = client.CoreV1Api()
namespace = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
print("pods", *sorted(p.metadata.name for p in api.list_namespaced_pod(namespace).items))
try:
    api.list_namespaced_pod("kube-system")
except client.ApiException as error:
    print("kube-system", error.status)
"""


def _pod(name: str, image: str, command: list[str], **spec: Any) -> client.V1Pod:
    """A pod with the chart's pod and container security contexts and /tmp as emptyDir."""
    container = client.V1Container(
        name="main", image=image, image_pull_policy="Never", command=command,
        security_context=VALUES["securityContext"],
        volume_mounts=[client.V1VolumeMount(name="tmp", mount_path="/tmp")],
    )  # fmt: skip
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            containers=[container], restart_policy="Never",
            security_context=VALUES["podSecurityContext"],
            volumes=[client.V1Volume(name="tmp", empty_dir=client.V1EmptyDirVolumeSource())],
            **spec,
        ),
    )  # fmt: skip


def test_the_pod_runs_as_65532_read_only_without_a_token(
    core_api: client.CoreV1Api,
    namespace: str,
    brandmon_image: str,
    kubectl: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    pod = _pod(
        "restricted", brandmon_image, ["sleep", "600"], automount_service_account_token=False
    )
    core_api.create_namespaced_pod(namespace, pod)
    wait_for_pod(core_api, namespace, "restricted", {"Running"})
    result = kubectl("exec", "-n", namespace, "restricted", "--", "python", "-c", CHECK_FROM_INSIDE)
    assert result.returncode == 0, result.stderr
    # 30 is EROFS: the write failed because the root filesystem is read-only.
    assert result.stdout.split("\n")[:3] == ["65532 65532", "read-only 30", "token False"]


def test_the_in_cluster_client_reaches_the_api_with_its_own_rbac(
    core_api: client.CoreV1Api,
    rbac_api: client.RbacAuthorizationV1Api,
    namespace: str,
    brandmon_image: str,
) -> None:
    core_api.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="lister"))
    )
    rbac_api.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="list-pods"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["list"])],
        ),
    )
    rbac_api.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="list-pods"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="list-pods"
            ),
            subjects=[
                client.RbacV1Subject(kind="ServiceAccount", name="lister", namespace=namespace)
            ],
        ),
    )
    pod = _pod(
        "client",
        brandmon_image,
        ["python", "-c", LIST_OWN_NAMESPACE],
        service_account_name="lister",
    )
    core_api.create_namespaced_pod(namespace, pod)
    done = wait_for_pod(core_api, namespace, "client", {"Succeeded", "Failed"})
    log = core_api.read_namespaced_pod_log("client", namespace)
    assert done.status.phase == "Succeeded", log
    assert log.split("\n")[:2] == ["pods client", "kube-system 403"]
