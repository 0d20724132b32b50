"""Build (once) and cache the platform's binaries: kube, etcd, minio, and Kafka's jars.

Everything comes from registries this project can reach: Go modules through the module
proxy, Kafka through Maven Central. Outputs live under the cache directory keyed by the
pinned version and a hash of the build inputs, so a second run finds them and starts fast.

The chart tools (helm, kube-score) are built separately by `ensure_tools`: the platform and
`make demo` do not need them, so they never wait for them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from brandmon_devtools.platform.pins import Pins, repo_root

_PROGRESS_EVERY_S = 15


def cache_dir() -> Path:
    """Return where build outputs are kept (BRANDMON_CACHE, default ~/.cache/brandmon)."""
    override = os.environ.get("BRANDMON_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "brandmon"


@dataclass(frozen=True)
class Binaries:
    """Paths of everything the platform runs."""

    kube: Path
    etcd: Path
    minio: Path
    kafka_libs: Path


@dataclass(frozen=True)
class Tools:
    """Paths of the chart tools (not needed to run the platform)."""

    helm: Path
    kube_score: Path


class BuildError(RuntimeError):
    """A build step failed; the message names the step and its log."""


def _say(message: str) -> None:
    print(f"[platform] {message}", file=sys.stderr, flush=True)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CGO_ENABLED="0",
        # Build with the installed Go; never try to download another toolchain.
        GOTOOLCHAIN="local",
        # sum.golang.org is not reachable here; the committed go.sum files pin the modules
        # of our wrapper builds, and MinIO's own go.sum pins its dependencies.
        GOSUMDB="off",
    )
    return env


def _run_logged(step: str, argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    """Run a long build step, saving its output and printing progress while it runs."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    last_report = started
    lines = 0
    # The Popen context closes the pipe too (an unclosed one is a ResourceWarning in tests).
    with (
        log.open("w") as sink,
        subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            sink.write(line)
            lines += 1
            now = time.monotonic()
            if now - last_report >= _PROGRESS_EVERY_S:
                last_report = now
                _say(f"  {step}: {now - started:4.0f}s, {lines} packages/lines so far")
        code = process.wait()
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        msg = f"{step} failed (exit {code}); full log: {log}\n{tail}"
        raise BuildError(msg)
    _say(f"  {step}: done in {time.monotonic() - started:.0f}s")


def _require(tool: str, why: str) -> None:
    if shutil.which(tool) is None:
        msg = f"`{tool}` is not on PATH; it is needed to {why}"
        raise BuildError(msg)


def _prune(keep: Path) -> None:
    """Remove earlier builds of the same component; only the current inputs matter."""
    component = keep.name.split("-v", 1)[0]
    for old in keep.parent.glob(f"{component}-v*"):
        if old != keep:
            old.unlink(missing_ok=True)


def _inputs_hash(*paths: Path, extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _version_ldflags(pins: Pins) -> str:
    # Without these /version says v0.0.0-master and Helm's kubeVersion checks break.
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={pins.kubernetes}",
            f"-X {package}.gitMajor=1",
            f"-X {package}.gitMinor={pins.kubernetes_minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def _go_build(
    name: str, module_dir: Path, version: str, ldflags: str, logs: Path, *, package: str = "."
) -> Path:
    """Build `package` of the wrapper module (its own main, or a `tool` it requires)."""
    inputs = [module_dir / f for f in ("go.mod", "go.sum", "main.go")]
    # A tool-only wrapper has no main.go; the package joins the key so keys never collide,
    # while the kube and etcd keys stay what they were (no rebuild of existing caches).
    extra = ldflags if package == "." else f"{ldflags} {package}"
    key = _inputs_hash(*(path for path in inputs if path.exists()), extra=extra)
    out = cache_dir() / "bin" / f"{name}-{version}-{key}"
    if out.exists():
        return out
    _require("go", f"build {name} from the Go module proxy")
    _say(f"building {name} {version} from the Go module proxy (first time only; minutes)")
    partial = out.with_suffix(".partial")
    argv = ["go", "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(partial), package]
    _run_logged(f"go build {name}", argv, module_dir, _go_env(), logs / f"build-{name}.log")
    partial.rename(out)
    _prune(out)
    return out


def ensure_kube(pins: Pins, logs: Path) -> Path:
    """Return the multi-call kube binary (apiserver, controller-manager, scheduler, kubectl)."""
    module = repo_root() / "platform" / "go" / "kube"
    return _go_build("kube", module, pins.kubernetes, _version_ldflags(pins), logs)


def ensure_etcd(pins: Pins, logs: Path) -> Path:
    """Return the etcd server binary."""
    module = repo_root() / "platform" / "go" / "etcd"
    return _go_build("etcd", module, pins.etcd, "-s -w", logs)


def ensure_minio(pins: Pins, logs: Path) -> Path:
    """Return the MinIO server binary, installed from its published module."""
    return _go_install("minio", "github.com/minio/minio", pins.minio, "-s -w", logs)


def ensure_kafka(pins: Pins, logs: Path) -> Path:
    """Return a directory holding the Kafka broker's jars, collected by Maven."""
    pom = repo_root() / "platform" / "kafka" / "pom.xml"
    key = _inputs_hash(pom)
    libs = cache_dir() / f"kafka-{pins.kafka_scala}-{pins.kafka}-{key}"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    _require("mvn", "collect Kafka's jars from Maven Central")
    _require("java", "run the Kafka broker")
    _say(f"collecting Kafka {pins.kafka} jars from Maven Central (first time only)")
    shutil.rmtree(libs, ignore_errors=True)
    argv = [
        "mvn", "-B", "-q", "-f", str(pom),
        f"-Dkafka.version={pins.kafka}",
        f"-Dscala.binary.version={pins.kafka_scala}",
        "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={libs}",
    ]  # fmt: skip
    _run_logged("mvn kafka jars", argv, pom.parent, dict(os.environ), logs / "build-kafka.log")
    marker.touch()
    return libs


def _go_install(name: str, module: str, version: str, ldflags: str, logs: Path) -> Path:
    """Install `module@version` (a published main package) once and cache the binary."""
    out = cache_dir() / "bin" / f"{name}-{version}"
    if out.exists():
        return out
    _require("go", f"build {name} from the Go module proxy")
    _say(f"building {name} {version} from the Go module proxy (first time only; minutes)")
    gobin = cache_dir() / f"gobin-{name}"
    shutil.rmtree(gobin, ignore_errors=True)
    env = _go_env() | {"GOBIN": str(gobin), "GOFLAGS": "-trimpath -buildvcs=false"}
    argv = ["go", "install", "-v", "-ldflags", ldflags, f"{module}@{version}"]
    _run_logged(f"go install {name}", argv, repo_root(), env, logs / f"build-{name}.log")
    out.parent.mkdir(parents=True, exist_ok=True)
    (gobin / module.rsplit("/", 1)[-1]).rename(out)
    _prune(out)
    shutil.rmtree(gobin, ignore_errors=True)
    return out


def ensure_kind(pins: Pins, logs: Path) -> Path:
    """Return the kind CLI, installed from its published module."""
    return _go_install("kind", "sigs.k8s.io/kind", pins.kind, "-s -w", logs)


def ensure_coredns(version: str, logs: Path) -> Path:
    """Return CoreDNS at `version` (the tag kubeadm expects), from the platform/go/coredns wrapper.

    The wrapper links only the plugins kubeadm's Corefile uses (774 packages instead of
    1278), and must pin the release kubeadm expects.
    """
    module = repo_root() / "platform" / "go" / "coredns"
    pinned = _required_version((module / "go.mod").read_text(), "github.com/coredns/coredns")
    if pinned != version:
        msg = f"platform/go/coredns pins CoreDNS {pinned}, kubeadm expects {version}"
        raise BuildError(msg)
    return _go_build("coredns", module, version, "-s -w", logs)


@dataclass(frozen=True)
class NodeBinaries:
    """What a kind node runs outside containers (kubelet, kubeadm, kubectl) or as images."""

    kubelet: Path
    kubeadm: Path
    kube_proxy: Path
    pause: Path


def ensure_node_binaries(pins: Pins, logs: Path) -> NodeBinaries:
    """Build kubelet, kubeadm and kube-proxy, and the pause program.

    The kube-node wrapper pins what the kube wrapper pins (a unit test keeps them equal), so
    these are the same Kubernetes build as the multi-call binary and share its Go build cache.
    """
    module = repo_root() / "platform" / "go" / "kube-node"
    flags = _version_ldflags(pins)
    built = {
        name: _go_build(
            name, module, pins.kubernetes, flags, logs, package=f"k8s.io/kubernetes/cmd/{name}"
        )
        for name in ("kubelet", "kubeadm", "kube-proxy")
    }
    pause = _go_build("pause", repo_root() / "platform" / "go" / "pause", "v1", "-s -w", logs)
    return NodeBinaries(built["kubelet"], built["kubeadm"], built["kube-proxy"], pause)


def ensure_all(pins: Pins, logs: Path) -> Binaries:
    """Build whatever is missing and return the paths of all binaries."""
    return Binaries(
        kafka_libs=ensure_kafka(pins, logs),
        etcd=ensure_etcd(pins, logs),
        minio=ensure_minio(pins, logs),
        kube=ensure_kube(pins, logs),
    )


def _required_version(gomod: str, module: str) -> str:
    """Return the version the wrapper's go.mod requires of `module`."""
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)", gomod, re.MULTILINE)
    if match is None:
        msg = f"go.mod does not require {module}"
        raise BuildError(msg)
    return match.group(1)


def helm_ldflags(pins: Pins, gomod: str) -> str:
    """Return helm's release ldflags: `helm version` and the default kubeVersion are right.

    Like helm's own Makefile, the default Kubernetes version of `helm template` and
    `helm lint` follows the client-go helm links (v0.36.x -> 1.36).
    """
    client_go = _required_version(gomod, "k8s.io/client-go").removeprefix("v").split(".")
    major, minor = str(int(client_go[0]) + 1), client_go[1]
    internal = "helm.sh/helm/v3/internal/version"
    flags = [
        "-s", "-w",
        f"-X {internal}.version={pins.helm}",
        f"-X {internal}.metadata=",
        f"-X {internal}.gitTreeState=clean",
    ]  # fmt: skip
    for package in ("helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"):
        flags += [f"-X {package}.k8sVersionMajor={major}", f"-X {package}.k8sVersionMinor={minor}"]
    return " ".join(flags)


def ensure_helm(pins: Pins, logs: Path) -> Path:
    """Return the helm binary, built from the wrapper module platform/go/helm."""
    module = repo_root() / "platform" / "go" / "helm"
    ldflags = helm_ldflags(pins, (module / "go.mod").read_text())
    return _go_build("helm", module, pins.helm, ldflags, logs, package="helm.sh/helm/v3/cmd/helm")


def ensure_kube_score(pins: Pins, logs: Path) -> Path:
    """Return the kube-score binary, built from the wrapper module platform/go/kube-score."""
    module = repo_root() / "platform" / "go" / "kube-score"
    ldflags = f"-s -w -X main.version={pins.kube_score.removeprefix('v')}"
    package = "github.com/zegl/kube-score/cmd/kube-score"
    return _go_build("kube-score", module, pins.kube_score, ldflags, logs, package=package)


def ensure_tools(pins: Pins, logs: Path) -> Tools:
    """Build the chart tools if missing (`brandmon-platform build --tools`)."""
    return Tools(helm=ensure_helm(pins, logs), kube_score=ensure_kube_score(pins, logs))
