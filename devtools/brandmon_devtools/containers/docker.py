"""Make sure a Docker daemon answers, for the image builds and container tests.

Where `docker info` already works nothing changes. Otherwise, as root on Debian (the
project's machines and CI), Debian's `docker.io` is installed when dockerd is missing, and
dockerd is started in its own session with its log under the build cache; it keeps running
for the next build or test run. On hosts whose capability bounding set lacks
CAP_SYS_RESOURCE (the project's machines), privileged containers cannot start under plain
runc, so dockerd gets `runc_wrapper.py` as its default runtime; on ordinary hosts it does
not. Anywhere else the error says what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from brandmon_devtools.platform.build import cache_dir

CAP_SYS_RESOURCE = 24
WRAPPER_RUNTIME = "brandmon-runc"
_WRAPPER_SOURCE = Path(__file__).with_name("runc_wrapper.py")
_DAEMON_START_S = 90.0
_POLL_S = 0.5


class DockerError(RuntimeError):
    """No Docker daemon could be made to answer; the message says why and what to do."""


def _say(message: str) -> None:
    print(f"[docker] {message}", file=sys.stderr, flush=True)


def bounding_set_has(status: str, capability: int) -> bool:
    """Return whether /proc/<pid>/status text lists `capability` in its bounding set."""
    for line in status.splitlines():
        if line.startswith("CapBnd:"):
            return bool(int(line.split()[1], 16) >> capability & 1)
    msg = "no CapBnd line in the process status"
    raise ValueError(msg)


def needs_runc_wrapper() -> bool:
    """Return whether this host's bounding set lacks CAP_SYS_RESOURCE."""
    return not bounding_set_has(Path("/proc/self/status").read_text(), CAP_SYS_RESOURCE)


def dockerd_argv(dockerd: str, wrapper: Path | None) -> list[str]:
    """Return dockerd's command line; with `wrapper`, it is the default runtime.

    Everything else stays at dockerd's defaults: in particular never `--bridge none`,
    which deletes the host's docker0.
    """
    argv = [dockerd]
    if wrapper is not None:
        argv += [
            "--add-runtime", f"{WRAPPER_RUNTIME}={wrapper}",
            "--default-runtime", WRAPPER_RUNTIME,
        ]  # fmt: skip
    return argv


def docker_cli() -> str | None:
    """Return the docker client to use, or None when there is none."""
    return shutil.which("docker")


def answers(docker: str) -> bool:
    """Return whether the daemon behind `docker` answers `docker info`."""
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def _can_install() -> bool:
    return (
        os.geteuid() == 0 and Path("/etc/debian_version").exists() and bool(shutil.which("apt-get"))
    )


def _install() -> None:
    """Install Debian's docker.io (dockerd, containerd, runc, the client)."""
    _say("dockerd is missing: installing Debian's docker.io (apt-get)")
    started = time.monotonic()
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "docker.io"],
    ):
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            msg = f"{' '.join(argv)} failed (exit {result.returncode}):\n{result.stdout[-2000:]}"
            raise DockerError(msg + result.stderr[-2000:])
    _say(f"installed docker.io in {time.monotonic() - started:.0f}s")


def _install_wrapper(directory: Path) -> Path:
    """Copy the runc wrapper to a stable path under the cache, run by the system Python.

    The copy outlives any one checkout (dockerd keeps running after it); the shebang names
    an interpreter outside every virtual environment.
    """
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else shutil.which("python3")
    if python is None:
        msg = "python3 is needed to run the runc wrapper"
        raise DockerError(msg)
    body = _WRAPPER_SOURCE.read_text().split("\n", 1)[1]
    text = f"#!{python}\n{body}"
    target = directory / "runc-wrapper"
    if not target.exists() or target.read_text() != text:
        partial = target.with_suffix(".partial")
        partial.write_text(text)
        partial.chmod(0o755)
        partial.replace(target)
    return target


def _daemon_alive() -> bool:
    """Return whether a dockerd is running already (its pid file names a live process)."""
    try:
        pid = int(Path("/var/run/docker.pid").read_text().strip())
    except (OSError, ValueError):
        return False
    return Path(f"/proc/{pid}").exists()


def _start(dockerd: str, directory: Path) -> subprocess.Popen[bytes]:
    wrapper = _install_wrapper(directory) if needs_runc_wrapper() else None
    argv = dockerd_argv(dockerd, wrapper)
    log = directory / "dockerd.log"
    _say(f"starting {' '.join(argv)} (log: {log})")
    with log.open("ab") as sink:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _wait(docker: str, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    deadline = time.monotonic() + _DAEMON_START_S
    while not answers(docker):
        if process is not None and process.poll() is not None:
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:])
            msg = f"dockerd exited with {process.returncode}; log {log}:\n{tail}"
            raise DockerError(msg)
        if time.monotonic() > deadline:
            msg = f"dockerd did not answer within {_DAEMON_START_S:.0f}s; log: {log}"
            raise DockerError(msg)
        time.sleep(_POLL_S)


def ensure_docker() -> str:
    """Return a docker client whose daemon answers, installing and starting what is missing."""
    directory = cache_dir() / "docker"
    if needs_runc_wrapper() and os.geteuid() == 0:
        # A dockerd we started earlier runs the wrapper from the cache: put it back if the
        # cache was cleared meanwhile, or every container start fails ("fork/exec
        # .../runc-wrapper: no such file or directory").
        directory.mkdir(parents=True, exist_ok=True)
        _install_wrapper(directory)
    docker = docker_cli()
    if docker is not None and answers(docker):
        return docker
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        if not _can_install():
            msg = (
                "no Docker daemon answers and dockerd is not installed. Install Docker "
                "(Debian/Ubuntu: apt-get install docker.io; elsewhere Docker Engine or "
                "Docker Desktop), start it, and make sure `docker info` works for this user."
            )
            raise DockerError(msg)
        _install()
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            msg = "docker.io installed, but dockerd is not on PATH"
            raise DockerError(msg)
    docker = docker_cli()
    if docker is None:
        msg = "dockerd is installed but no docker client is on PATH"
        raise DockerError(msg)
    directory.mkdir(parents=True, exist_ok=True)
    if _daemon_alive():
        # Another dockerd is starting (or is stuck): wait for it, never start a second one.
        _say("a dockerd is running but does not answer yet; waiting for it")
        _wait(docker, None, directory / "dockerd.log")
        return docker
    if os.geteuid() != 0:
        msg = f"{dockerd} is installed but not running; start it (as root) and retry"
        raise DockerError(msg)
    started = time.monotonic()
    _wait(docker, _start(dockerd, directory), directory / "dockerd.log")
    _say(f"dockerd answers after {time.monotonic() - started:.1f}s")
    return docker
