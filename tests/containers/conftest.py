"""Fixtures for tests that run real containers: a Docker daemon and the images, built once.

The daemon is made to answer (installed and started where the project may, see
brandmon_devtools.containers.docker) and the images are built on first use, then found by
their tags on later runs. Every container a test starts carries LABEL; at the end of the
session none may be left.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from brandmon_devtools.containers import docker, images
from brandmon_devtools.platform import pins, runtime

LABEL = "brandmon.test=containers"


@pytest.fixture(scope="session")
def docker_cli() -> Iterator[str]:
    """A docker client whose daemon answers; checks that no test container is left after."""
    try:
        cli = docker.ensure_docker()
    except docker.DockerError as error:
        pytest.fail(str(error))
    yield cli
    listed = subprocess.run(
        [cli, "ps", "--all", "--quiet", "--filter", f"label={LABEL}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    left = listed.stdout.split()
    if left:
        subprocess.run([cli, "rm", "--force", *left], capture_output=True, check=False)
        pytest.fail(f"containers left behind by the tests (now removed): {left}")


@pytest.fixture(scope="session")
def base_images(docker_cli: str) -> images.BaseImages:
    """The Python base images built from Debian packages."""
    logs = runtime.Platform(runtime.default_dir()).logs
    return images.ensure_base_images(docker_cli, logs)


@pytest.fixture(scope="session")
def brandmon_image(docker_cli: str, base_images: images.BaseImages) -> str:
    """The brandmon image of this checkout, built hermetically on the local bases."""
    logs = runtime.Platform(runtime.default_dir()).logs
    house = images.ensure_wheelhouse(images.default_uv(), logs)
    return images.ensure_brandmon_image(docker_cli, base_images, house, logs)


def container_name() -> str:
    """Return a container name no other test uses."""
    return f"brandmon-test-{uuid.uuid4().hex[:10]}"


def docker_run(
    cli: str, image: str, *args: str, options: tuple[str, ...] = (), timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a container to completion (removed afterwards) and return its result."""
    name = container_name()
    argv = [cli, "run", "--rm", "--name", name, "--label", LABEL, *options, image, *args]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        subprocess.run([cli, "rm", "--force", name], capture_output=True, check=False)
        raise


@pytest.fixture(scope="session")
def kafka_image(docker_cli: str) -> str:
    """The Kafka image: the platform's pinned jars on a Debian JRE."""
    logs = runtime.Platform(runtime.default_dir()).logs
    return images.ensure_kafka_image(docker_cli, pins.load_pins(), logs)


@pytest.fixture(scope="session")
def minio_image(docker_cli: str) -> str:
    """The MinIO image: the platform's MinIO binary."""
    logs = runtime.Platform(runtime.default_dir()).logs
    return images.ensure_minio_image(docker_cli, pins.load_pins(), logs)


@pytest.fixture
def start_container(docker_cli: str) -> Iterator[Callable[..., str]]:
    """Start detached containers (image, options, args) for one test; removed afterwards."""
    started: list[str] = []

    def start(image: str, *args: str, options: tuple[str, ...] = ()) -> str:
        name = container_name()
        argv = [docker_cli, "run", "--detach", "--name", name, "--label", LABEL, *options, image]
        subprocess.run([*argv, *args], capture_output=True, text=True, check=True, timeout=60)
        started.append(name)
        return name

    yield start
    if started:
        subprocess.run([docker_cli, "rm", "--force", *started], capture_output=True, check=False)


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, logs: Callable[[], str]
) -> None:
    """Poll `check` until it is true; fail with the container's log after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {timeout:.0f}s; log:\n{logs()[-3000:]}")
        time.sleep(0.25)
