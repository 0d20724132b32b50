"""Create and delete a kind cluster, and leave the host as it was found.

`up` creates a single-node cluster from the node image (nodeimage.py) with a kind config
that disables kind's default CNI (the node image carries its own) and points every
registry at a closed local port, so an image that was not loaded fails at once instead of
reaching for the network. It waits for the node to be Ready by polling the API server
(published by kind on 127.0.0.1 only) and loads the given images with `kind load
docker-image`. The kubeconfig is written under the cache, never to ~/.kube/config.

Any kubelet sets host-wide sysctls (vm.overcommit_memory, kernel.panic,
kernel.panic_on_oops), and a kind node's kubelet is no exception: their values are
recorded in a file before the cluster is created and written back by `down` after it is
deleted, even by a later process when the one that created the cluster died.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brandmon_devtools.platform import build

DEFAULT_NAME = "brandmon"
# The sysctls a kubelet changes on the host (kubelet's setupKernelTunables).
KUBELET_SYSCTLS = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
# Nothing listens on port 1: a pull that misses the preloaded images is refused at once.
CLOSED_MIRROR = "http://127.0.0.1:1"
_READY_TIMEOUT_S = 240.0
_POLL_S = 1.0


class KindError(RuntimeError):
    """A cluster could not be created, loaded or deleted; the message says which and why."""


def _say(message: str) -> None:
    print(f"[kind] {message}", file=sys.stderr, flush=True)


def render_config(registries: tuple[str, ...] = ("*",)) -> str:
    """Return the kind config: one node, no default CNI, every registry a closed local port.

    containerd 1.6 still tries a registry's own host after its mirrors; the node's resolver
    answers nothing (platform/kind/README.md), so that attempt fails locally too.
    """
    mirrors = "".join(
        f'  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."{registry}"]\n'
        f'    endpoint = ["{CLOSED_MIRROR}"]\n'
        for registry in registries
    )
    patch = "".join(f"    {line}\n" for line in mirrors.splitlines())
    return (
        "kind: Cluster\n"
        "apiVersion: kind.x-k8s.io/v1alpha4\n"
        "networking:\n"
        "  disableDefaultCNI: true\n"
        "  apiServerAddress: 127.0.0.1\n"
        "containerdConfigPatches:\n"
        "  - |-\n" + patch
    )


# --- the host's sysctls ---------------------------------------------------------------------


def read_sysctls(root: Path = Path("/proc/sys")) -> dict[str, str]:
    """Return the current values of the sysctls a kubelet changes."""
    return {name: (root / name).read_text().strip() for name in KUBELET_SYSCTLS}


def to_restore(recorded: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """Return the sysctls whose value differs from the recorded one, with that value."""
    return {name: value for name, value in recorded.items() if current.get(name) != value}


def record_sysctls(state: Path, root: Path = Path("/proc/sys")) -> None:
    """Record the sysctls before a cluster exists, unless a record is pending already.

    A pending record means an earlier cluster was never torn down: its values are the
    host's own, the current ones may already be the kubelet's.
    """
    if state.exists():
        return
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps(read_sysctls(root), indent=1) + "\n")


def restore_sysctls(state: Path, root: Path = Path("/proc/sys")) -> dict[str, str]:
    """Write back the recorded sysctls that changed, drop the record; return what changed."""
    if not state.exists():
        return {}
    recorded: dict[str, str] = json.loads(state.read_text())
    changed = to_restore(recorded, read_sysctls(root))
    for name, value in changed.items():
        (root / name).write_text(value + "\n")
    state.unlink()
    return changed


def qualified(tag: str) -> str:
    """Return an image reference as containerd names it (`brandmon:x` is docker.io/library/...)."""
    first, _, rest = tag.partition("/")
    if not rest:
        return f"docker.io/library/{tag}"
    if "." in first or ":" in first or first == "localhost":
        return tag
    return f"docker.io/{tag}"


def _ready(conditions: list[Any] | None) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in conditions or [])


# --- the cluster ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """A kind cluster as the project runs it: its name, tools and files under the cache."""

    name: str
    kind: Path
    docker: str

    @property
    def directory(self) -> Path:
        """Where this cluster's kubeconfig, config and sysctl record live."""
        return build.cache_dir() / "kind" / self.name

    @property
    def kubeconfig(self) -> Path:
        """The cluster's kubeconfig (the API server on 127.0.0.1)."""
        return self.directory / "kubeconfig"

    @property
    def sysctl_record(self) -> Path:
        """The host's sysctls as they were before any kind cluster existed.

        One record for every cluster on the host: a second cluster created while another
        runs would otherwise record the first one's kubelet's values as the host's.
        """
        return self.directory.parent / "sysctls.json"

    def _kind(self, *args: str, timeout: float = 600) -> str:
        argv = [str(self.kind), *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            msg = f"{' '.join(argv)} failed (exit {result.returncode}):\n{result.stderr[-4000:]}"
            raise KindError(msg)
        return result.stdout

    def exists(self) -> bool:
        """Return whether kind knows a cluster of this name."""
        return self.name in self._kind("get", "clusters").split()

    def containers(self) -> list[str]:
        """Return the Docker containers of this cluster (running or not)."""
        listed = subprocess.run(
            [self.docker, "ps", "--all", "--quiet", "--filter",
             f"label=io.x-k8s.kind.cluster={self.name}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return listed.stdout.split()

    def other_clusters(self) -> list[str]:
        """Return the kind clusters on this host other than this one (any creator)."""
        listed = subprocess.run(
            [self.docker, "ps", "--all", "--format", '{{.Label "io.x-k8s.kind.cluster"}}',
             "--filter", "label=io.x-k8s.kind.cluster"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return sorted({name for name in listed.stdout.split() if name != self.name})

    def up(self, node_image: str, load: tuple[str, ...] = ()) -> None:
        """Create the cluster unless it exists, wait for its node, load `load` into it."""
        if self.exists():
            _say(f"cluster {self.name} exists; reusing it")
            self.write_kubeconfig()
        else:
            record_sysctls(self.sysctl_record)
            self.directory.mkdir(parents=True, exist_ok=True)
            config = self.directory / "kind-config.yaml"
            config.write_text(render_config())
            started = time.monotonic()
            _say(f"creating cluster {self.name} from {node_image}")
            self._kind(
                "create", "cluster", "--name", self.name, "--image", node_image,
                "--config", str(config), "--kubeconfig", str(self.kubeconfig), "--wait", "0s",
            )  # fmt: skip
            _say(f"created in {time.monotonic() - started:.0f}s")
        started = time.monotonic()
        self.wait_ready()
        _say(f"node Ready after {time.monotonic() - started:.0f}s more")
        if load:
            self.load_missing(*load)

    def write_kubeconfig(self) -> None:
        """(Re)write the kubeconfig of an existing cluster."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.write_text(self._kind("get", "kubeconfig", "--name", self.name))

    def wait_ready(self, timeout: float = _READY_TIMEOUT_S) -> None:
        """Poll the API server until every node reports Ready."""
        from kubernetes import client, config  # noqa: PLC0415 - only clusters need it

        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            try:
                api = client.CoreV1Api(config.new_client_from_config(str(self.kubeconfig)))  # type: ignore[no-untyped-call]
                nodes = api.list_node(_request_timeout=5).items
                ready = [_ready(node.status.conditions if node.status else None) for node in nodes]
                if nodes and all(ready):
                    return
                last = f"{sum(ready)}/{len(nodes)} nodes Ready"
            except Exception as error:  # noqa: BLE001 - the API server may not answer yet
                last = str(error).splitlines()[0]
            time.sleep(_POLL_S)
        msg = f"cluster {self.name}: nodes not Ready within {timeout:.0f}s ({last})"
        raise KindError(msg)

    def load(self, *tags: str) -> None:
        """Load Docker images into the node (`kind load docker-image`)."""
        started = time.monotonic()
        self._kind("load", "docker-image", "--name", self.name, *tags)
        _say(f"loaded {', '.join(tags)} in {time.monotonic() - started:.0f}s")

    @property
    def node(self) -> str:
        """The node container's name (kind's `<cluster>-control-plane`)."""
        return f"{self.name}-control-plane"

    def loaded(self) -> set[str]:
        """Return the image references the node's containerd holds."""
        listed = subprocess.run(
            [self.docker, "exec", self.node, "ctr", "-n", "k8s.io", "images", "ls", "-q"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return set(listed.stdout.split())

    def load_missing(self, *tags: str) -> list[str]:
        """Load the images the node lacks; return those loaded.

        The project's tags name a digest of what each image was built from, so a tag the
        node holds is the same image: a reused cluster loads only what changed.
        """
        have = self.loaded()
        missing = [tag for tag in tags if qualified(tag) not in have]
        if missing:
            self.load(*missing)
        return missing

    def down(self) -> dict[str, str]:
        """Delete the cluster, check no container is left, put the sysctls back."""
        if self.exists():
            started = time.monotonic()
            self._kind(
                "delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig)
            )
            _say(f"deleted cluster {self.name} in {time.monotonic() - started:.1f}s")
        left = self.containers()
        others = self.other_clusters()
        if others:
            # Their kubelets still rely on the values; the last delete puts them back.
            _say(f"sysctls left as they are while kind clusters {others} run")
            restored: dict[str, str] = {}
        else:
            restored = restore_sysctls(self.sysctl_record)
        if restored:
            _say(f"restored sysctls {restored}")
        # The kubeconfig, the kind config and what tests kept beside them (the sysctl
        # record is one level up).
        shutil.rmtree(self.directory, ignore_errors=True)
        if left:
            msg = f"containers of cluster {self.name} left after delete: {left}"
            raise KindError(msg)
        return restored
