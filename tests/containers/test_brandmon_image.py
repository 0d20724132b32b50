"""The brandmon image, checked from inside running containers.

It runs as uid 65532 on a read-only root filesystem (what the chart's pods ask for), its
console scripts start, and the packaged text model loads. The privileged-container test
covers the runc wrapper on hosts that need it (kind's nodes run privileged).
"""

from __future__ import annotations

import subprocess

import pytest

from brandmon_devtools.containers import images
from tests.containers.conftest import LABEL, container_name, docker_run

# The pod settings the chart renders, as docker options.
RESTRICTED = ("--read-only", "--tmpfs", "/tmp", "--user", "65532:65532", "--cap-drop", "ALL")

CHECK_USER_AND_FILESYSTEM = """
import os, pathlib, tempfile
print(os.getuid(), os.getgid(), os.environ["HOME"])
try:
    pathlib.Path("/opt/brandmon/written").write_text("x")
except OSError as error:
    print("read-only", error.errno)
with tempfile.NamedTemporaryFile() as scratch:
    print("tmp", scratch.name.startswith("/tmp/"))
"""


def test_runs_as_65532_with_a_read_only_root(docker_cli: str, brandmon_image: str) -> None:
    result = docker_run(
        docker_cli, brandmon_image, "-c", CHECK_USER_AND_FILESYSTEM,
        options=(*RESTRICTED, "--entrypoint", "python"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # 30 is EROFS: the write failed because the filesystem is read-only, not for permissions.
    assert result.stdout.split("\n")[:3] == ["65532 65532 /tmp", "read-only 30", "tmp True"]


@pytest.mark.parametrize(
    ("entrypoint", "expected"),
    [("brandmon-worker", "text-analyzer"), ("brandmon-operator", "usage")],
)
def test_console_scripts_start(
    docker_cli: str, brandmon_image: str, entrypoint: str, expected: str
) -> None:
    result = docker_run(
        docker_cli, brandmon_image, "--help", options=(*RESTRICTED, "--entrypoint", entrypoint)
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_the_packaged_text_model_loads(docker_cli: str, brandmon_image: str) -> None:
    code = "from brandmon_workers import signals; signals.load(); print('loaded')"
    result = docker_run(
        docker_cli, brandmon_image, "-c", code, options=(*RESTRICTED, "--entrypoint", "python")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("loaded")


def test_privileged_containers_start_and_exec(
    docker_cli: str, base_images: images.BaseImages
) -> None:
    """kind's nodes run privileged: create (config.json) and exec (process spec) both work."""
    name = container_name()
    started = subprocess.run(
        [docker_cli, "run", "--detach", "--privileged", "--name", name, "--label", LABEL,
         base_images.runtime, "sleep", "300"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    try:
        assert started.returncode == 0, started.stderr
        # docker run --detach returns once the container runs; exec needs nothing more.
        executed = subprocess.run(
            [docker_cli, "exec", "--privileged", name, "sh", "-c", "echo exec-ok"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert executed.returncode == 0, executed.stderr
        assert executed.stdout.strip() == "exec-ok"
    finally:
        subprocess.run([docker_cli, "rm", "--force", name], capture_output=True, check=False)


def test_the_image_stays_under_400_mb(docker_cli: str, brandmon_image: str) -> None:
    """Issue 15's goal; docs/containers.md lists what is in it and what was left out."""
    inspected = subprocess.run(
        [docker_cli, "image", "inspect", "--format", "{{.Size}}", brandmon_image],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert int(inspected.stdout) < 400_000_000
