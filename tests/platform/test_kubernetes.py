"""The local Kubernetes control plane is real: API server, RBAC, controllers, GC."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from brandmon_devtools.platform import runtime
from brandmon_devtools.platform.pins import load_pins


def eventually(check: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    """Poll until check() holds; controllers act asynchronously."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.25)


def meta(obj: Any) -> client.V1ObjectMeta:
    """Return an object's metadata, which the server always sets."""
    metadata = obj.metadata
    assert isinstance(metadata, client.V1ObjectMeta)
    return metadata


def _configmap(name: str, owner: client.V1ConfigMap | None = None) -> client.V1ConfigMap:
    refs = None
    if owner is not None:
        refs = [
            client.V1OwnerReference(
                api_version="v1", kind="ConfigMap", name=meta(owner).name, uid=meta(owner).uid
            )
        ]
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, owner_references=refs), data={"k": name}
    )


def test_version_is_the_pinned_release(kube: client.ApiClient) -> None:
    info = client.VersionApi(kube).get_code()
    assert info.git_version == load_pins().kubernetes
    assert info.major == "1"


def test_create_and_read_objects(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespaced_config_map(namespace, _configmap("settings"))
    read = core.read_namespaced_config_map("settings", namespace)
    assert read.data == {"k": "settings"}
    assert meta(read).uid


def test_rbac_denies_until_a_role_allows(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    rbac = client.RbacAuthorizationV1Api(kube)
    # The admin is system:masters and may impersonate anyone; "jane" has no bindings.
    jane = client.ApiClient(kube.configuration, header_name="Impersonate-User", header_value="jane")
    with pytest.raises(ApiException) as denied:
        client.CoreV1Api(jane).list_namespaced_config_map(namespace)
    assert denied.value.status == 403
    assert (
        'User "jane" cannot list resource "configmaps"'
        in json.loads(str(denied.value.body))["message"]
    )

    rbac.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="cm-reader"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["list"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="jane-reads"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="cm-reader"
            ),
            subjects=[
                client.RbacV1Subject(
                    kind="User", name="jane", api_group="rbac.authorization.k8s.io"
                )
            ],
        ),
    )
    core.create_namespaced_config_map(namespace, _configmap("visible"))
    # The authorizer's cache catches up within moments of the binding.
    eventually(
        lambda: _can_list(jane, namespace), timeout=60, what="the RoleBinding to take effect"
    )
    with pytest.raises(ApiException) as still_denied:
        client.CoreV1Api(jane).list_namespaced_secret(namespace)
    assert still_denied.value.status == 403


def _can_list(api: client.ApiClient, namespace: str) -> bool:
    try:
        client.CoreV1Api(api).list_namespaced_config_map(namespace)
    except ApiException as error:
        if error.status == 403:
            return False
        raise
    return True


def test_deployment_gets_a_replicaset(kube: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(kube)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        containers=[client.V1Container(name="web", image="web:1")]
                    ),
                ),
            ),
        ),
    )

    def replicaset_with_pods() -> bool:
        sets = apps.list_namespaced_replica_set(namespace).items
        if not sets:
            return False
        owner = (meta(sets[0]).owner_references or [])[0]
        pods = client.CoreV1Api(kube).list_namespaced_pod(namespace).items
        return owner.kind == "Deployment" and owner.name == "web" and len(pods) == 2

    eventually(replicaset_with_pods, what="the ReplicaSet and its 2 pods")


def test_deleting_an_owner_garbage_collects_dependents(
    kube: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube)
    owner = core.create_namespaced_config_map(namespace, _configmap("owner"))
    core.create_namespaced_config_map(namespace, _configmap("dependent", owner))
    core.create_namespaced_config_map(namespace, _configmap("bystander"))
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")

    def dependent_gone() -> bool:
        names = {meta(cm).name for cm in core.list_namespaced_config_map(namespace).items}
        return "dependent" not in names

    eventually(dependent_gone, what="the garbage collector to delete the dependent")
    names = {meta(cm).name for cm in core.list_namespaced_config_map(namespace).items}
    assert "bystander" in names


def test_deleting_a_namespace_removes_it(kube: client.ApiClient) -> None:
    core = client.CoreV1Api(kube)
    name = "t-doomed-" + str(time.monotonic_ns())[-8:]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(name, _configmap("content"))
    core.delete_namespace(name)

    def gone() -> bool:
        return name not in {meta(ns).name for ns in core.list_namespace().items}

    eventually(gone, timeout=90, what="the namespace controller to finish deleting")


def test_kubectl_from_the_env_file_reaches_the_cluster(
    platform: runtime.Platform, platform_env: dict[str, str]
) -> None:
    kubectl = platform.bin / "kubectl"
    out = subprocess.run(
        [str(kubectl), "get", "namespace", "kube-system", "-o", "name"],
        env={"KUBECONFIG": platform_env["KUBECONFIG"], "HOME": str(platform.root)},
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.strip() == "namespace/kube-system"
    env_text = platform.env_file.read_text()
    for variable in platform_env:
        assert f"export {variable}=" in env_text
    assert f"export PATH={platform.bin}:" in env_text
