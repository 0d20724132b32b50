"""The node agent finds a container's service-account mount and builds its kubeconfig."""

from __future__ import annotations

from brandmon_devtools.node import spec

POD = {
    "spec": {
        "volumes": [
            {"name": "kube-api-access-x", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            ]}},
            {"name": "data", "emptyDir": {}},
        ]
    }
}  # fmt: skip
DIRS = {"kube-api-access-x": "/pods/p/volumes/kube-api-access-x", "data": "/pods/p/volumes/data"}


def _container(mount_path: str) -> spec.Manifest:
    return {"volumeMounts": [{"name": "data", "mountPath": "/data"},
                             {"name": "kube-api-access-x", "mountPath": mount_path}]}  # fmt: skip


def test_token_file_of_the_service_account_mount() -> None:
    container = _container(spec.SERVICE_ACCOUNT_DIR)
    found = spec.service_account_token_file(POD, container, DIRS)
    assert found == "/pods/p/volumes/kube-api-access-x/token"


def test_no_token_file_without_the_mount_at_its_path() -> None:
    assert spec.service_account_token_file(POD, _container("/elsewhere"), DIRS) is None
    assert spec.service_account_token_file(POD, {}, DIRS) is None


def test_kubeconfig_names_the_account_and_both_token_forms() -> None:
    config = spec.service_account_kubeconfig(
        server="https://127.0.0.1:6443", ca_data="Q0E=", namespace="ns", account="reader",
        token_file="/t/token", token="jwt",
    )  # fmt: skip
    context = config["contexts"][0]["context"]
    assert config["current-context"] == config["contexts"][0]["name"]
    assert context["namespace"] == "ns"
    assert context["user"] == "system:serviceaccount:ns:reader"
    assert config["users"][0]["user"] == {"tokenFile": "/t/token", "token": "jwt"}
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
