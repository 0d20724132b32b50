"""The kind cluster's pure parts: its config, the node image's recipe and tag, the sysctls.

The cluster itself runs in tests/kind; here only what can be checked without Docker.
"""

from __future__ import annotations

import json
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

from brandmon_devtools.containers.images import AptSource
from brandmon_devtools.kind import cluster, nodeimage
from brandmon_devtools.platform import build, pins

# `kubeadm config images list --kubernetes-version v1.34.4`
KUBEADM_V1_34_4 = """registry.k8s.io/kube-apiserver:v1.34.4
registry.k8s.io/kube-controller-manager:v1.34.4
registry.k8s.io/kube-scheduler:v1.34.4
registry.k8s.io/kube-proxy:v1.34.4
registry.k8s.io/coredns/coredns:v1.12.1
registry.k8s.io/pause:3.10.1
registry.k8s.io/etcd:3.6.5-0
"""
SOURCES = [AptSource("http://deb.debian.org/debian", "bookworm", ("main",))]
INPUTS = nodeimage.NodeInputs(
    kube=Path("/cache/bin/kube-v1"),
    kubelet=Path("/cache/bin/kubelet-v1"),
    kubeadm=Path("/cache/bin/kubeadm-v1"),
    kube_proxy=Path("/cache/bin/kube-proxy-v1"),
    etcd=Path("/cache/bin/etcd-v1"),
    coredns=Path("/cache/bin/coredns-v1.12.1"),
    pause=Path("/cache/bin/pause-v1"),
)


def test_the_config_disables_the_default_cni_and_mirrors_every_registry_to_a_closed_port() -> None:
    config = yaml.safe_load(cluster.render_config())
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["networking"] == {"disableDefaultCNI": True, "apiServerAddress": "127.0.0.1"}
    (patch,) = config["containerdConfigPatches"]
    mirrors = tomllib.loads(patch)["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["mirrors"]
    assert mirrors == {"*": {"endpoint": ["http://127.0.0.1:1"]}}


def test_sysctls_are_recorded_once_and_only_the_changed_ones_restored(tmp_path: Path) -> None:
    root = tmp_path / "proc-sys"
    for name, value in zip(cluster.KUBELET_SYSCTLS, ("0", "1", "0"), strict=True):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(value + "\n")
    record = tmp_path / "state" / "sysctls.json"
    cluster.record_sysctls(record, root)
    # What a kubelet does to the host.
    (root / "vm/overcommit_memory").write_text("1\n")
    (root / "kernel/panic").write_text("10\n")
    # A second record while one is pending keeps the host's values, not the kubelet's.
    cluster.record_sysctls(record, root)
    assert json.loads(record.read_text())["kernel/panic"] == "1"
    restored = cluster.restore_sysctls(record, root)
    assert restored == {"vm/overcommit_memory": "0", "kernel/panic": "1"}
    assert cluster.read_sysctls(root) == {
        "vm/overcommit_memory": "0", "kernel/panic": "1", "kernel/panic_on_oops": "0",
    }  # fmt: skip
    assert not record.exists()
    assert cluster.restore_sysctls(record, root) == {}


def test_to_restore_keeps_what_differs() -> None:
    assert cluster.to_restore({"a": "0", "b": "1"}, {"a": "0", "b": "10"}) == {"b": "1"}


def test_kubeadms_image_list_names_every_component() -> None:
    refs = nodeimage.parse_image_list(KUBEADM_V1_34_4)
    assert nodeimage.by_name(refs, "coredns").tag == "v1.12.1"
    assert nodeimage.by_name(refs, "etcd").tag == "3.6.5-0"
    assert nodeimage.by_name(refs, "pause").ref == "registry.k8s.io/pause:3.10.1"
    with pytest.raises(nodeimage.NodeImageError):
        nodeimage.parse_image_list(KUBEADM_V1_34_4 + "registry.k8s.io/kindnetd:v1\n")
    with pytest.raises(nodeimage.NodeImageError):
        nodeimage.parse_image_list(KUBEADM_V1_34_4.replace("registry.k8s.io/pause:3.10.1\n", ""))


def test_the_node_containerd_runs_the_pause_image_kubeadm_expects() -> None:
    config = (nodeimage.node_files() / "etc/containerd/config.toml").read_text()
    pause = nodeimage.by_name(nodeimage.parse_image_list(KUBEADM_V1_34_4), "pause")
    assert nodeimage.sandbox_image(config) == pause.ref
    parsed = tomllib.loads(config)["plugins"]["io.containerd.grpc.v1.cri"]
    assert parsed["restrict_oom_score_adj"] is True


def test_the_node_files_kind_runs_are_executable() -> None:
    files = nodeimage.node_files()
    for name in (
        "usr/local/bin/entrypoint",
        *(f"kind/bin/{p.name}" for p in (files / "kind/bin").iterdir()),
    ):
        assert (files / name).stat().st_mode & 0o111, name
    cni = json.loads((files / "etc/cni/net.d/10-ptp.conflist").read_text())
    assert [plugin["type"] for plugin in cni["plugins"]] == ["ptp", "portmap"]


def test_the_node_recipe_installs_the_binaries_and_enables_the_units() -> None:
    argv = nodeimage.node_mmdebstrap_argv(SOURCES, Path("/files"), INPUTS, "v1.34.4", Path("o.tar"))
    hooks = [a.removeprefix("--customize-hook=") for a in argv if a.startswith("--customize-hook=")]
    assert 'install -m 0755 /cache/bin/kube-v1 "$1"/usr/bin/kubectl' in hooks
    assert 'echo v1.34.4 > "$1"/kind/version' in hooks
    assert any("systemctl enable kubelet.service containerd.service" in hook for hook in hooks)
    assert any("/kind/bin/mount-product-files.sh" in hook for hook in hooks)
    include = next(a for a in argv if a.startswith("--include="))
    assert {"systemd", "containerd", "runc", "containernetworking-plugins"} <= set(
        include.removeprefix("--include=").split(",")
    )


def test_the_node_tag_follows_its_inputs_and_not_where_they_are() -> None:
    refs = nodeimage.parse_image_list(KUBEADM_V1_34_4)
    tag = nodeimage.node_image_tag("v1.34.4", SOURCES, INPUTS, refs)
    assert tag.startswith("brandmon-kind-node:v1.34.4-")
    assert tag == nodeimage.node_image_tag("v1.34.4", SOURCES, INPUTS, refs)
    moved = nodeimage.NodeInputs(*(Path("/elsewhere") / p.name for p in nodeimage._paths(INPUTS)))  # noqa: SLF001
    assert nodeimage.node_image_tag("v1.34.4", SOURCES, moved, refs) == tag
    for name in ("kubelet", "coredns", "etcd", "pause"):
        rebuilt = nodeimage.NodeInputs(**{**INPUTS.__dict__, name: Path(f"/cache/bin/{name}-v2")})
        assert nodeimage.node_image_tag("v1.34.4", SOURCES, rebuilt, refs) != tag, name


def test_a_binary_rootfs_holds_the_binary_its_links_and_tmp(tmp_path: Path) -> None:
    binary = tmp_path / "kube"
    binary.write_bytes(b"\x7fELF")
    out = tmp_path / "rootfs.tar"
    nodeimage.binary_rootfs(
        out, {"usr/local/bin/kube": binary}, {"usr/local/bin/kube-apiserver": "kube"}
    )
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["usr/local/bin/kube"].mode == 0o755
    assert members["usr/local/bin/kube-apiserver"].linkname == "kube"
    assert members["tmp"].mode == 0o1777


def test_kind_is_pinned_and_the_kube_wrapper_builds_the_node_commands() -> None:
    assert pins.load_pins().kind == "v0.30.0"
    gomod = (pins.repo_root() / "platform/go/kube-node/go.mod").read_text()
    for command in pins.KIND_NODE_COMMANDS:
        assert f"\tk8s.io/kubernetes/cmd/{command}\n" in gomod


def test_the_coredns_wrapper_pins_the_release_kubeadm_expects() -> None:
    gomod = (pins.repo_root() / "platform/go/coredns/go.mod").read_text()
    expected = nodeimage.by_name(nodeimage.parse_image_list(KUBEADM_V1_34_4), "coredns").tag
    assert build._required_version(gomod, "github.com/coredns/coredns") == expected  # noqa: SLF001
