"""The kind node image for the platform's Kubernetes version, built from Debian packages.

No registry is reachable on the project's machines, so `kindest/node` cannot be pulled and
no image a kubeadm cluster starts can be either. This module builds the equivalent:

- a Debian bookworm root filesystem (mmdebstrap) with systemd, Debian's containerd and runc,
  the CNI plugins and iptables, overlaid with `platform/kind/node/` (the project's versions
  of kind v0.30.0's base-image files; platform/kind/README.md) and the kubelet, kubeadm and
  kubectl of the platform's Kubernetes build;
- the images kubeadm expects (`kubeadm config images list`), made from the same builds:
  the control plane from the multi-call binary, kube-proxy on a small Debian root with
  iptables, the platform's etcd under kubeadm's etcd tag, CoreDNS at kubeadm's tag from the
  Go module proxy, and a pause program; they are imported into the node's containerd
  (`ctr images import --no-unpack`, kind's own method) and the container is committed.

The tag is a digest of all of it, so an unchanged recipe is never built twice.
`KIND_NODE_IMAGE` names another image instead (e.g. the official `kindest/node:v1.34.0` on
a machine with internet access).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from brandmon_devtools.containers import images
from brandmon_devtools.platform import build
from brandmon_devtools.platform.pins import Pins, repo_root

OVERRIDE_ENV = "KIND_NODE_IMAGE"
REPOSITORY = "brandmon-kind-node"
# What kind v0.30.0's base image installs, from Debian instead of its own builds (containerd,
# runc and the CNI plugins included); jq runs containerd's createContainer hook.
NODE_PACKAGES = (
    "systemd", "dbus", "containerd", "runc", "containernetworking-plugins",
    "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux", "mount",
    "kmod", "libseccomp2", "pigz", "bash", "ca-certificates", "jq", "procps",
)  # fmt: skip
KUBE_PROXY_PACKAGES = ("iptables", "nftables", "conntrack")
# kind's node container: systemd as PID 1 behind the entrypoint. (kind's image also sets
# STOPSIGNAL SIGRTMIN+3, which `docker commit --change` does not accept; kind deletes its
# nodes with `docker rm --force`, so no stop signal is ever sent.)
NODE_CHANGES = (
    "ENV container=docker",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
    "CMD []",
)
_PATH = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUILD_LABEL = "brandmon.kind=node-image-build"
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


class NodeImageError(RuntimeError):
    """The node image could not be built; the message names the step and its log."""


def _say(message: str) -> None:
    print(f"[kind-node] {message}", file=sys.stderr, flush=True)


def node_files() -> Path:
    """Return the tree laid over the node's root filesystem."""
    return repo_root() / "platform" / "kind" / "node"


# --- what kubeadm expects -------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRef:
    """One image reference kubeadm names: `registry/.../name:tag`."""

    ref: str

    @property
    def name(self) -> str:
        """The last path element (kube-apiserver, etcd, coredns, pause...)."""
        return self.ref.rsplit(":", 1)[0].rsplit("/", 1)[-1]

    @property
    def tag(self) -> str:
        """The tag (v1.34.4, 3.6.5-0, v1.12.1, 3.10.1...)."""
        return self.ref.rsplit(":", 1)[1]


KNOWN_COMPONENTS = frozenset((*CONTROL_PLANE, "kube-proxy", "etcd", "coredns", "pause"))


def parse_image_list(text: str) -> list[ImageRef]:
    """Parse `kubeadm config images list` output; fail on an image nothing here builds."""
    refs = [ImageRef(line.strip()) for line in text.splitlines() if line.strip()]
    unknown = [ref.ref for ref in refs if ref.name not in KNOWN_COMPONENTS]
    if unknown or {ref.name for ref in refs} != KNOWN_COMPONENTS:
        msg = f"kubeadm expects images this build does not make: {text.strip()}"
        raise NodeImageError(msg)
    return refs


def kubeadm_images(kubeadm: Path, version: str) -> list[ImageRef]:
    """Return the images this kubeadm pulls for `version` (it looks nothing up online)."""
    listed = subprocess.run(
        [str(kubeadm), "config", "images", "list", "--kubernetes-version", version],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return parse_image_list(listed.stdout)


def by_name(refs: list[ImageRef], name: str) -> ImageRef:
    """Return the reference of one component."""
    return next(ref for ref in refs if ref.name == name)


def sandbox_image(containerd_config: str) -> str:
    """Return the sandbox (pause) image the node's containerd configuration names."""
    for line in containerd_config.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "sandbox_image":
            return value.strip().strip('"')
    msg = "the node's containerd config names no sandbox_image"
    raise NodeImageError(msg)


# --- recipes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeInputs:
    """Every binary that goes into the node image, by its cached (versioned) path."""

    kube: Path
    kubelet: Path
    kubeadm: Path
    kube_proxy: Path
    etcd: Path
    coredns: Path
    pause: Path


def node_mmdebstrap_argv(
    sources: list[images.AptSource], files: Path, inputs: NodeInputs, version: str, output: Path
) -> list[str]:
    """Return the mmdebstrap command for the node's root filesystem (before the preload)."""
    root = '"$1"'
    hook = '[{"path": "/kind/bin/mount-product-files.sh"}]'
    jq = f".hooks.createContainer += {hook} | del(.process.rlimits)"
    hooks = [
        # Owned by root whoever owns the checkout; modes as git keeps them.
        f"cp -R {files}/. {root}/",
        f"install -m 0755 {inputs.kubelet} {root}/usr/bin/kubelet",
        f"install -m 0755 {inputs.kubeadm} {root}/usr/bin/kubeadm",
        # The multi-call binary answers as kubectl under that name (kind runs it in the node).
        f"install -m 0755 {inputs.kube} {root}/usr/bin/kubectl",
        f"mkdir -p {root}/opt/cni {root}/etc/kubernetes/manifests",
        f"ln -s /usr/lib/cni {root}/opt/cni/bin",
        f"ln -sf /lib/systemd/systemd {root}/sbin/init",
        f"echo {version} > {root}/kind/version",
        # As kind's base image: only the units a node needs start.
        f"rm -f {root}/lib/systemd/system/multi-user.target.wants/* "
        f"{root}/etc/systemd/system/*.wants/* {root}/lib/systemd/system/local-fs.target.wants/* "
        f"{root}/lib/systemd/system/sockets.target.wants/*udev* "
        f"{root}/lib/systemd/system/sockets.target.wants/*initctl* "
        f"{root}/lib/systemd/system/basic.target.wants/* "
        f"{root}/lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service",
        f"echo ReadKMsg=no >> {root}/etc/systemd/journald.conf",
        f"chroot {root} systemctl enable kubelet.service containerd.service "
        "undo-mount-hacks.service",
        f"chroot {root} systemctl mask systemd-binfmt.service",
        # containerd's default OCI spec with kind's product-files hook and no rlimits.
        f"chroot {root} ctr oci spec | chroot {root} jq {shlex.quote(jq)} "
        f"> {root}/etc/containerd/cri-base.json",
    ]
    return images._mmdebstrap(sources, NODE_PACKAGES, output, hooks)  # noqa: SLF001 - shared recipe


def kube_proxy_mmdebstrap_argv(
    sources: list[images.AptSource], kube_proxy: Path, output: Path
) -> list[str]:
    """Return the mmdebstrap command for the kube-proxy image (Debian's iptables, nft backend)."""
    hook = f'install -m 0755 {kube_proxy} "$1/usr/local/bin/kube-proxy"'
    return images._mmdebstrap(sources, KUBE_PROXY_PACKAGES, output, [hook])  # noqa: SLF001


def binary_rootfs(output: Path, files: dict[str, Path], links: dict[str, str]) -> None:
    """Write a root filesystem holding static binaries (and symlinks to them) and /tmp."""
    with tarfile.open(output, "w") as tar:
        dirs = {"tmp"} | {str(Path(name).parent) for name in (*files, *links)} - {"."}
        for name in sorted(dirs):
            entry = tarfile.TarInfo(name)
            entry.type, entry.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(entry)
        for name, path in files.items():
            entry = tar.gettarinfo(str(path), arcname=name)
            entry.uid = entry.gid = 0
            entry.uname = entry.gname = ""
            entry.mode = 0o755
            with path.open("rb") as source:
                tar.addfile(entry, source)
        for name, target in links.items():
            entry = tarfile.TarInfo(name)
            entry.type, entry.linkname = tarfile.SYMTYPE, target
            tar.addfile(entry)


def node_image_tag(
    version: str, sources: list[images.AptSource], inputs: NodeInputs, refs: list[ImageRef]
) -> str:
    """Return the node image's tag: the version and a digest of the whole recipe.

    Binaries count by their cached names, which carry their version and build-input key.
    """
    files = node_files()
    parts: list[str | bytes] = [
        *node_mmdebstrap_argv(
            sources,
            Path("f"),
            NodeInputs(*(Path(p.name) for p in _paths(inputs))),
            version,
            Path("-"),
        ),
        *kube_proxy_mmdebstrap_argv(sources, Path(inputs.kube_proxy.name), Path("-")),
        *NODE_CHANGES,
        *(ref.ref for ref in refs),
        # Every binary, also those only the component images hold (etcd, CoreDNS, pause).
        *(path.name for path in _paths(inputs)),
    ]
    for path in sorted(p for p in files.rglob("*") if p.is_file()):
        parts += [str(path.relative_to(files)), oct(path.stat().st_mode & 0o111), path.read_bytes()]
    return f"{REPOSITORY}:{version}-{images._digest(*parts)}"  # noqa: SLF001 - same digest


def _paths(inputs: NodeInputs) -> list[Path]:
    return [
        inputs.kube, inputs.kubelet, inputs.kubeadm, inputs.kube_proxy,
        inputs.etcd, inputs.coredns, inputs.pause,
    ]  # fmt: skip


# --- the build ------------------------------------------------------------------------------


def _run(argv: list[str], what: str, *, timeout: float = 600) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        output = result.stderr[-3000:] + result.stdout[-2000:]
        msg = f"{what} failed (exit {result.returncode}): {output}"
        raise NodeImageError(msg)
    return result.stdout


def ensure_inputs(pins: Pins, logs: Path) -> tuple[NodeInputs, list[ImageRef]]:
    """Build (or find) every binary of the node, and list what kubeadm expects."""
    node = build.ensure_node_binaries(pins, logs)
    refs = kubeadm_images(node.kubeadm, pins.kubernetes)
    inputs = NodeInputs(
        kube=build.ensure_kube(pins, logs),
        kubelet=node.kubelet,
        kubeadm=node.kubeadm,
        kube_proxy=node.kube_proxy,
        etcd=build.ensure_etcd(pins, logs),
        coredns=build.ensure_coredns(by_name(refs, "coredns").tag, logs),
        pause=node.pause,
    )
    return inputs, refs


@dataclass(frozen=True)
class _Build:
    docker: str
    sources: list[images.AptSource]
    inputs: NodeInputs
    refs: list[ImageRef]
    work: Path
    logs: Path


def _component_images(job: _Build, made: list[str]) -> None:
    """Import the images kubeadm expects into Docker under kubeadm's names, adding to `made`."""
    docker, sources, inputs, refs, work, logs = (
        job.docker, job.sources, job.inputs, job.refs, job.work, job.logs,
    )  # fmt: skip

    def imported(rootfs: Path, ref_names: list[str], changes: list[str]) -> None:
        words = [word for change in changes for word in ("--change", change)]
        _run([docker, "import", *words, str(rootfs), ref_names[0]], f"docker import {ref_names[0]}")
        for other in ref_names[1:]:
            _run([docker, "tag", ref_names[0], other], f"docker tag {other}")
        made.extend(ref_names)
        rootfs.unlink()

    control = work / "control-plane.tar"
    binary_rootfs(
        control, {"usr/local/bin/kube": inputs.kube},
        {f"usr/local/bin/{name}": "kube" for name in CONTROL_PLANE},
    )  # fmt: skip
    imported(control, [by_name(refs, name).ref for name in CONTROL_PLANE], [_PATH])
    etcd = work / "etcd.tar"
    binary_rootfs(etcd, {"usr/local/bin/etcd": inputs.etcd}, {})
    imported(etcd, [by_name(refs, "etcd").ref], [_PATH])
    coredns = work / "coredns.tar"
    binary_rootfs(coredns, {"coredns": inputs.coredns}, {})
    imported(coredns, [by_name(refs, "coredns").ref], ['ENTRYPOINT ["/coredns"]'])
    pause = work / "pause.tar"
    binary_rootfs(pause, {"pause": inputs.pause}, {})
    imported(pause, [by_name(refs, "pause").ref], ['ENTRYPOINT ["/pause"]'])
    proxy = work / "kube-proxy.tar"
    argv = kube_proxy_mmdebstrap_argv(sources, inputs.kube_proxy, proxy)
    images._logged("mmdebstrap kube-proxy", argv, work, logs / "build-kind-kube-proxy.log")  # noqa: SLF001
    imported(proxy, [by_name(refs, "kube-proxy").ref], [_PATH])


PRELOAD_SCRIPT = """
set -eu
containerd >/tmp/containerd.log 2>&1 &
pid=$!
# Poll until containerd answers (at most 60 s).
for _ in $(seq 300); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
ctr --namespace=k8s.io images import --no-unpack --all-platforms /kind/images.tar
ctr --namespace=k8s.io images list --quiet
kill "$pid"
wait "$pid" || true
rm -f /kind/images.tar /tmp/containerd.log
"""


def ensure_node_image(docker: str, pins: Pins, logs: Path) -> str:
    """Return the node image to create clusters with: KIND_NODE_IMAGE, or ours (built once)."""
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        return override
    sources = images.suite_sources(images.host_sources(), images.BASE_SUITE)
    if not sources:
        msg = f"no {images.BASE_SUITE} source in /etc/apt: the node image needs a Debian mirror"
        raise NodeImageError(msg)
    config = (node_files() / "etc" / "containerd" / "config.toml").read_text()
    inputs, refs = ensure_inputs(pins, logs)
    if sandbox_image(config) != by_name(refs, "pause").ref:
        msg = f"containerd's sandbox_image is not kubeadm's {by_name(refs, 'pause').ref}"
        raise NodeImageError(msg)
    tag = node_image_tag(pins.kubernetes, sources, inputs, refs)
    if images.image_exists(docker, tag):
        return tag
    if shutil.which("mmdebstrap") is None:
        images._apt_install("mmdebstrap")  # noqa: SLF001
    work = build.cache_dir() / "images" / "kind-node"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rootfs_tag = f"{tag}-rootfs"
    builder = f"brandmon-kind-build-{uuid.uuid4().hex[:8]}"
    made: list[str] = []
    _say(f"building {tag} (Debian packages + Kubernetes {pins.kubernetes}; first time only)")
    try:
        rootfs = work / "rootfs.tar"
        argv = node_mmdebstrap_argv(sources, node_files(), inputs, pins.kubernetes, rootfs)
        images._logged("mmdebstrap kind node", argv, work, logs / "build-kind-node.log")  # noqa: SLF001
        _run([docker, "import", str(rootfs), rootfs_tag], "docker import node rootfs")
        rootfs.unlink()
        _component_images(_Build(docker, sources, inputs, refs, work, logs), made)
        archive = work / "images.tar"
        _run([docker, "save", "--output", str(archive), *made], "docker save component images")
        # kind's own node-image build: containerd runs in the node's filesystem just long
        # enough to import the images, then the container is committed.
        _run(
            [docker, "run", "--detach", "--privileged", "--name", builder, "--label", BUILD_LABEL,
             "--entrypoint", "sleep", rootfs_tag, "infinity"],
            "start the preload container",
        )  # fmt: skip
        _run([docker, "cp", str(archive), f"{builder}:/kind/images.tar"], "copy the images in")
        archive.unlink()
        loaded = _run([docker, "exec", builder, "bash", "-c", PRELOAD_SCRIPT], "preload images")
        missing = [ref for ref in made if ref not in loaded.split()]
        if missing:
            msg = f"containerd did not list the preloaded {missing}: {loaded}"
            raise NodeImageError(msg)
        words = [word for change in NODE_CHANGES for word in ("--change", change)]
        _run([docker, "commit", *words, builder, tag], "docker commit node image")
    finally:
        subprocess.run([docker, "rm", "--force", builder], capture_output=True, check=False)
        # The component images live on inside the node image; Docker keeps no image under
        # an official name that is not the official image.
        for name in [*made, rootfs_tag]:
            subprocess.run([docker, "rmi", name], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return tag
