"""Fixtures for tests that run the real operator against the local platform."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from brandmon_devtools.platform import runtime
from tests.ksqldb_double import KsqlDbDouble

OPERATOR_AGENTS = ("kopf/", "brandmon-operator/")
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


class _Receiver(BaseHTTPRequestHandler):
    deliveries: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.deliveries.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Run a local webhook receiver standing in for the PR team's endpoint; yield URL, bodies."""
    deliveries: list[dict[str, Any]] = []
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), type("R", (_Receiver,), {"deliveries": deliveries})
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pr-team", deliveries
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    """Return a loopback port that is free now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class OperatorProcess:
    """A `brandmon-operator` process watching one namespace (or several, comma-separated)."""

    namespace: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    def start(self) -> None:
        """Start (or restart) the operator."""
        self.starts += 1
        with self.log.open("a") as sink:
            sink.write(f"--- start {self.starts} ---\n")
            sink.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "brandmon_operator",
                 *[a for ns in self.namespace.split(",") for a in ("--namespace", ns)],
                 "--liveness", f"http://127.0.0.1:{free_port()}/healthz"],
                env=self.env, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM and wait, as Kubernetes would."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def ksqldb(platform_env: dict[str, str]) -> Iterator[KsqlDbDouble]:
    """A ksqlDB contract double (ksqlDB cannot run here) backed by the real Kafka."""
    with KsqlDbDouble(kafka_bootstrap=platform_env["KAFKA_BOOTSTRAP_SERVERS"]) as double:
        yield double


@pytest.fixture
def run_operator(
    platform: runtime.Platform,
    platform_env: dict[str, str],
    brandmonitor_crd: str,
    ksqldb: KsqlDbDouble,
    topic_prefix: str,
    tmp_path: Path,
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start operators for a namespace; every one is stopped after the test.

    Topics get the test's own prefix (deleted after the test), and monitors with engine
    ksqldb talk to the test's ksqlDB double.
    """
    started: list[OperatorProcess] = []

    def start(namespace: str, resync_seconds: float = 3.0, **settings: str) -> OperatorProcess:
        operator_env = {
            "RESYNC_SECONDS": str(resync_seconds),
            "KAFKA_BOOTSTRAP_SERVERS": platform_env["KAFKA_BOOTSTRAP_SERVERS"],
            "S3_ENDPOINT_URL": platform_env["S3_ENDPOINT_URL"],
            "KSQLDB_URL": ksqldb.url,
            "TOPIC_PREFIX": topic_prefix.rstrip("."),
            # The samples replay from s3://brandmon/brands/; tests run in namespaces of their
            # own, so an administrator's allow-list entry lets every namespace read there.
            "S3_ALLOWED_PREFIXES": json.dumps({"*": ["s3://brandmon/brands/"]}),
            # The harness's workers take MinIO's keys from the environment (the harness is
            # the administrator); tests of tenants' own keys use test_tenancy_s3.py's.
            "S3_AMBIENT_IDENTITY": "true",
        } | {k.upper(): v for k, v in settings.items()}
        env = dict(os.environ) | platform_env
        env |= {f"BRANDMON_OPERATOR_{k}": v for k, v in operator_env.items()}
        operator = OperatorProcess(namespace, env, tmp_path / f"operator-{namespace}.log")
        operator.start()
        started.append(operator)
        return operator

    yield start
    for operator in started:
        operator.stop()


def eventually(check: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    """Poll until check() returns something truthy, and return it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.25)


def audit_events(platform: runtime.Platform, offset: int, namespace: str) -> list[dict[str, Any]]:
    """Return the operator's audited requests about `namespace` logged after `offset`."""
    events = []
    with platform.audit_log.open() as log:
        log.seek(offset)
        for line in log:
            event = json.loads(line)
            if not str(event.get("userAgent", "")).startswith(OPERATOR_AGENTS):
                continue
            if event.get("objectRef", {}).get("namespace") == namespace:
                events.append(event)
    return events
