"""The Kafka and MinIO images the kind cluster will run, built from the platform's pins.

Each starts as uid 65532 on a read-only root filesystem, its port published on 127.0.0.1
only, and must answer there: Kafka creates and lists a topic, MinIO creates a bucket.
"""

from __future__ import annotations

import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable

import boto3
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from tests.containers.conftest import wait_until


def free_port() -> int:
    """Return a loopback port that is free now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def container_log(docker_cli: str, name: str) -> Callable[[], str]:
    def read() -> str:
        result = subprocess.run(
            [docker_cli, "logs", name], capture_output=True, text=True, check=False
        )
        return result.stdout + result.stderr

    return read


def test_kafka_answers_on_its_port(
    docker_cli: str, kafka_image: str, start_container: Callable[..., str]
) -> None:
    port = free_port()
    name = start_container(
        kafka_image,
        options=(
            "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/var/lib/kafka/data:uid=65532",
            "--publish", f"127.0.0.1:{port}:9092",
            "--env", f"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:{port}",
        ),
    )  # fmt: skip
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})

    def answers() -> bool:
        try:
            return bool(admin.list_topics(timeout=2).brokers)
        except KafkaException:
            return False

    wait_until(answers, 120, "the Kafka broker answering", container_log(docker_cli, name))
    admin.create_topics([NewTopic("brandmon.probe", 1, 1)])["brandmon.probe"].result(timeout=30)
    assert "brandmon.probe" in admin.list_topics(timeout=10).topics


def test_minio_answers_on_its_port(
    docker_cli: str, minio_image: str, start_container: Callable[..., str]
) -> None:
    port = free_port()
    name = start_container(
        minio_image,
        options=(
            "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/data:uid=65532",
            "--publish", f"127.0.0.1:{port}:9000",
            "--env", "MINIO_ROOT_USER=brandmon", "--env", "MINIO_ROOT_PASSWORD=brandmon-probe-1",
        ),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def live() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/minio/health/live", timeout=2) as response:  # noqa: S310 - our loopback port
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False

    wait_until(live, 60, "MinIO answering", container_log(docker_cli, name))
    s3 = boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="brandmon", aws_secret_access_key="brandmon-probe-1",
    )  # fmt: skip
    s3.create_bucket(Bucket="probe")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["probe"]
