"""Pinned versions of the local platform, read from platform/versions.env.

versions.env is the one place versions live. The Go wrapper modules' go.mod files are
rendered from it here (`brandmon-platform gomod`), and a unit test fails when they drift.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=(\S+)$")


def repo_root() -> Path:
    """Return the checkout this package runs from (overridable with BRANDMON_ROOT)."""
    override = os.environ.get("BRANDMON_ROOT")
    if override:
        return Path(override).resolve()
    # devtools/brandmon_devtools/platform/pins.py -> four levels up is the checkout.
    return Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Pins:
    """The versions of every platform component."""

    kubernetes: str
    etcd: str
    minio: str
    kafka: str
    kafka_scala: str
    helm: str
    kube_score: str
    kind: str

    @property
    def kubernetes_staging(self) -> str:
        """Version of the k8s.io staging modules published with this release (v1.X.Y -> v0.X.Y)."""
        return "v0" + self.kubernetes.removeprefix("v1")

    @property
    def kubernetes_minor(self) -> str:
        """The minor version number, as `/version` reports it."""
        return self.kubernetes.split(".")[1]


def parse_versions(text: str) -> dict[str, str]:
    """Parse KEY=VALUE lines, skipping blanks and comments."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            msg = f"versions.env line {number}: expected KEY=VALUE, got {raw!r}"
            raise ValueError(msg)
        values[match.group(1)] = match.group(2)
    return values


def load_pins(root: Path | None = None) -> Pins:
    """Read platform/versions.env."""
    path = (root or repo_root()) / "platform" / "versions.env"
    values = parse_versions(path.read_text())
    try:
        return Pins(
            kubernetes=values["KUBERNETES_VERSION"],
            etcd=values["ETCD_VERSION"],
            minio=values["MINIO_VERSION"],
            kafka=values["KAFKA_VERSION"],
            kafka_scala=values["KAFKA_SCALA_VERSION"],
            helm=values["HELM_VERSION"],
            kube_score=values["KUBE_SCORE_VERSION"],
            kind=values["KIND_VERSION"],
        )
    except KeyError as missing:
        msg = f"{path}: missing {missing.args[0]}"
        raise ValueError(msg) from None


# Kubernetes commands built from the kube wrapper for the kind node image.
KIND_NODE_COMMANDS = ("kubeadm", "kube-proxy", "kubelet")

GENERATED_HEADER = (
    "// Generated from platform/versions.env by brandmon-platform gomod; do not edit.\n"
)


def _staging_replaces(pins: Pins, staging_modules: list[str]) -> str:
    staging = pins.kubernetes_staging
    lines = "".join(f"\t{m} => {m} {staging}\n" for m in sorted(staging_modules))
    return f"replace (\n{lines})\n"


def render_kube_gomod(pins: Pins, staging_modules: list[str]) -> str:
    """Render the kube wrapper's go.mod.

    k8s.io/kubernetes requires its staging modules at v0.0.0 and maps them to ./staging with
    replace directives that only count in the main module, so the wrapper replaces each one
    with the version published alongside the release.
    """
    staging = pins.kubernetes_staging
    return (
        GENERATED_HEADER
        + "module brandmon.io/platform/kube\n\n"
        + "go 1.24.0\n\n"
        + "require (\n"
        + "\tgithub.com/spf13/cobra v1.9.1\n"
        + f"\tk8s.io/component-base {staging}\n"
        + f"\tk8s.io/kubectl {staging}\n"
        + f"\tk8s.io/kubernetes {pins.kubernetes}\n"
        + ")\n\n"
        + _staging_replaces(pins, staging_modules)
    )


def render_kube_node_gomod(pins: Pins, staging_modules: list[str]) -> str:
    """Render the kube-node wrapper's go.mod: the kind node's kubelet, kubeadm and kube-proxy.

    The same Kubernetes release and staging replacements as the kube wrapper, so the same
    build; a module of its own so that the kube binary's inputs (its cache key) stay as they
    are. Its `tool` lines make `go mod tidy` keep the go.sum entries those commands need,
    and tidy marks the module they come from indirect, so the rendered line says so too.
    """
    tools = "".join(f"\tk8s.io/kubernetes/cmd/{name}\n" for name in KIND_NODE_COMMANDS)
    return (
        GENERATED_HEADER
        + "module brandmon.io/platform/kube-node\n\n"
        + "go 1.24.0\n\n"
        + f"tool (\n{tools})\n\n"
        + f"require (\n\tk8s.io/kubernetes {pins.kubernetes} // indirect\n)\n\n"
        + _staging_replaces(pins, staging_modules)
    )


def render_etcd_gomod(pins: Pins) -> str:
    """Render the etcd wrapper's go.mod."""
    return (
        GENERATED_HEADER
        + "module brandmon.io/platform/etcd\n\n"
        + "go 1.26.0\n\n"
        + f"require go.etcd.io/etcd/server/v3 {pins.etcd}\n"
    )


def render_tool_gomod(name: str, package: str, module: str, version: str) -> str:
    """Render a wrapper go.mod that builds one `tool` (helm, kube-score) at a pinned version.

    The wrapper's committed go.sum pins every module hash (GOSUMDB is off here); `go mod
    tidy` marks the tool's module indirect, so the rendered line says so too.
    """
    return (
        GENERATED_HEADER
        + f"module brandmon.io/platform/{name}\n\n"
        + "go 1.26.0\n\n"
        + f"tool {package}\n\n"
        + f"require (\n\t{module} {version} // indirect\n)\n"
    )


def render_helm_gomod(pins: Pins) -> str:
    """Render the helm wrapper's go.mod."""
    return render_tool_gomod("helm", "helm.sh/helm/v3/cmd/helm", "helm.sh/helm/v3", pins.helm)


def render_kube_score_gomod(pins: Pins) -> str:
    """Render the kube-score wrapper's go.mod."""
    package = "github.com/zegl/kube-score/cmd/kube-score"
    return render_tool_gomod("kube-score", package, "github.com/zegl/kube-score", pins.kube_score)


def staging_modules_from_gomod(kubernetes_gomod: str) -> list[str]:
    """List the modules k8s.io/kubernetes maps to ./staging (its own go.mod says which)."""
    pattern = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", re.MULTILINE)
    return sorted(set(pattern.findall(kubernetes_gomod)))


def staging_modules_in_wrapper(wrapper_gomod: str) -> list[str]:
    """List the modules the committed wrapper go.mod replaces."""
    pattern = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\S+\s+v\S+$", re.MULTILINE)
    return sorted(set(pattern.findall(wrapper_gomod)))


def gomod_drift(committed: str, rendered: str) -> list[str]:
    """Return the lines `rendered` pins that `committed` lacks.

    `go mod tidy` adds indirect requirements to the rendered go.mod, so the committed file
    is a superset: every pinned line of the rendered one must appear in it unchanged.
    """
    have = {line.strip() for line in committed.splitlines()}
    pinned = (line.strip() for line in rendered.splitlines())
    return [line for line in pinned if line and line not in ("(", ")") and line not in have]
