"""What GitOps tools rely on, checked on the real control plane with the real operator.

A monitor applied the way Argo CD or Flux applies it, carrying Argo CD's tracking label and
annotation, is reconciled; then: the operator has written nothing under `spec` (the managed
fields say who owns what, and the generation never moved), a second apply by the GitOps
tool meets no conflict, `kubectl diff` (the comparison Argo CD's server-side diff and
Flux's dry run make) finds nothing to sync, and no child carries the tracking metadata
(Argo CD would otherwise count them as its own resources).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from kubernetes import client

from brandmon_devtools.platform import runtime
from tests.platform.conftest import OperatorProcess, eventually
from tests.platform.test_operator import (
    children,
    expected_names,
    get_monitor,
    is_ready,
    sample,
)

GITOPS_MANAGER = "argocd-controller"
APP = "my-app"
TRACKING_LABEL = "app.kubernetes.io/instance"
TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"


def _kubectl(
    platform: runtime.Platform, env: dict[str, str], *args: str, manifest: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(platform.bin / "kubectl"), *args, "-f", "-"],
        input=manifest,
        # kubectl diff runs the system's `diff`, found on PATH.
        env={"KUBECONFIG": env["KUBECONFIG"], "HOME": str(platform.root), "PATH": os.environ["PATH"]},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _tracked_monitor(namespace: str) -> dict[str, Any]:
    body = sample("replay-builtin.yaml")
    body["metadata"] |= {
        "namespace": namespace,
        "labels": {TRACKING_LABEL: APP},
        "annotations": {
            TRACKING_ANNOTATION: f"{APP}:brandmon.io/BrandMonitor:{namespace}/northwind"
        },
    }
    return body


def _metadata_of_every_template(child: dict[str, Any]) -> list[dict[str, Any]]:
    """The child's own metadata and that of every object template it carries."""
    found = [child["metadata"]]
    spec = child.get("spec", {})
    if "template" in spec:
        found.append(spec["template"].get("metadata", {}))
    if "jobTemplate" in spec:
        job = spec["jobTemplate"]
        found += [job.get("metadata", {}), job["spec"]["template"].get("metadata", {})]
    return found


def _owns_spec(entry: dict[str, Any]) -> bool:
    return "f:spec" in (entry.get("fieldsV1") or {})


APPLY = {
    # Argo CD with ServerSideApply=true, and Flux's kustomize-controller, apply server-side.
    "server-side": (
        ["apply", "--server-side", f"--field-manager={GITOPS_MANAGER}"],
        ["diff", "--server-side", f"--field-manager={GITOPS_MANAGER}"],
    ),
    # Argo CD's default: client-side apply (last-applied annotation) and a three-way diff.
    "client-side": (["apply", f"--field-manager={GITOPS_MANAGER}"], ["diff"]),
}


@pytest.mark.parametrize("mode", sorted(APPLY))
def test_operator_leaves_spec_and_tracking_metadata_to_the_gitops_tool(
    mode: str,
    kube: client.ApiClient,
    namespace: str,
    platform: runtime.Platform,
    platform_env: dict[str, str],
    run_operator: Callable[..., OperatorProcess],
) -> None:
    apply, diff = APPLY[mode]
    run_operator(namespace, resync_seconds=2)
    body = _tracked_monitor(namespace)
    manifest = yaml.safe_dump(body)
    applied = _kubectl(platform, platform_env, *apply, manifest=manifest)
    assert applied.returncode == 0, applied.stderr
    eventually(lambda: is_ready(kube, namespace, "northwind"), what="Ready")
    time.sleep(3)  # at least one timer reconcile after the first one

    # Children: the expected set, none carrying the Argo CD application's tracking metadata.
    live = children(kube, namespace, "northwind")
    assert {n: c["kind"] for n, c in live.items()} == expected_names(namespace, body)
    for name, child in live.items():
        for metadata in _metadata_of_every_template(child):
            assert metadata.get("labels", {}).get(TRACKING_LABEL) == "northwind", name
            annotations = metadata.get("annotations") or {}
            assert not [k for k in annotations if k.startswith("argocd.argoproj.io/")], name

    # The monitor: only the GitOps tool owns spec fields; the operator wrote status and
    # its own metadata, so the generation is still the one the apply created.
    monitor = get_monitor(kube, namespace, "northwind")
    assert monitor["metadata"]["generation"] == 1
    entries = monitor["metadata"]["managedFields"]
    gitops = [e for e in entries if e["manager"] == GITOPS_MANAGER]
    others = [e for e in entries if e["manager"] != GITOPS_MANAGER]
    assert gitops
    assert all(_owns_spec(e) for e in gitops if e.get("subresource") != "status")
    assert [e["manager"] for e in others if _owns_spec(e)] == []
    # The operator's writes are there (so the check above looked at something).
    assert any(e.get("subresource") == "status" for e in others), others
    assert any("f:finalizers" in e.get("fieldsV1", {}).get("f:metadata", {}) for e in others)
    assert monitor["metadata"]["labels"][TRACKING_LABEL] == APP

    # What the GitOps tool sees next: nothing to sync, and a re-sync conflicts with nothing.
    compared = _kubectl(platform, platform_env, *diff, manifest=manifest)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    edited = yaml.safe_load(manifest)
    edited["spec"]["sources"][0]["schedule"] = "*/7 * * * *"
    # The same comparison does see a real edit (exit code 1: differences found).
    assert _kubectl(platform, platform_env, *diff, manifest=yaml.safe_dump(edited)).returncode == 1
    again = _kubectl(platform, platform_env, *apply, manifest=manifest)
    assert again.returncode == 0, again.stderr
    assert get_monitor(kube, namespace, "northwind")["metadata"]["generation"] == 1
