"""The kubelet's log endpoint, so that `kubectl logs` works against the node agent.

`kubectl logs` asks the API server, which proxies to the node's kubelet endpoint (the
Node's InternalIP and status.daemonEndpoints.kubeletEndpoint.Port) at
`/containerLogs/<namespace>/<pod>/<container>`. The API server does not verify a kubelet's
serving certificate unless it is given a CA for it (the local platform gives none), so a
self-signed certificate under `<state-dir>/kubelet/` is enough. Only logs are served: no
exec, attach or port-forward.

A container's log file holds every run, each after a separator line; this endpoint
serves the last run (or, with `previous`, the one before) without the separators.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import re
import ssl
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from brandmon_devtools.node.spec import LOCALHOST

if TYPE_CHECKING:
    from brandmon_devtools.node.agent import Agent

log = logging.getLogger("brandmon.node.logs")

# The line ContainerProcess writes before each run: "--- <container> run <n>: <argv> at <t> ---".
SEPARATOR = re.compile(rb"^--- \S+ run \d+: .* ---$")
_FOLLOW_POLL = 0.25


def runs(log_bytes: bytes) -> list[bytes]:
    """Split a container's log into its runs (output only, separators dropped)."""
    segments: list[bytes] = []
    current: list[bytes] | None = None
    for line in log_bytes.splitlines(keepends=True):
        if SEPARATOR.match(line.rstrip(b"\r\n")):
            if current is not None:
                segments.append(b"".join(current))
            current = []
        elif current is not None:
            current.append(line)
        else:
            current = [line]  # output before any separator (not written by the agent)
    if current is not None:
        segments.append(b"".join(current))
    return segments


def select(
    log_bytes: bytes, previous: bool = False, tail_lines: int | None = None,
    limit_bytes: int | None = None,
) -> bytes | None:  # fmt: skip
    """Return one run's output as `kubectl logs` asks for it; None if there is no such run."""
    segments = runs(log_bytes)
    index = -2 if previous else -1
    if len(segments) < abs(index):
        return None
    output = segments[index]
    if tail_lines is not None:
        lines = output.splitlines(keepends=True)
        output = b"".join(lines[-tail_lines:]) if tail_lines > 0 else b""
    if limit_bytes is not None:
        output = output[:limit_bytes]
    return output


def find_log(pods_dir: Path, namespace: str, pod: str, container: str) -> Path | None:
    """Return a container's log file; the newest Pod of that name wins."""
    candidates = sorted(
        pods_dir.glob(f"{namespace}_{pod}_*/{container}.log"), key=lambda p: p.stat().st_mtime
    )
    return candidates[-1] if candidates else None


def ensure_certificate(directory: Path) -> tuple[Path, Path]:
    """Return a self-signed serving certificate and key for 127.0.0.1, made once."""
    cert, key = directory / "kubelet.crt", directory / "kubelet.key"
    if cert.exists() and key.exists():
        return cert, key
    from cryptography import x509  # noqa: PLC0415 - only when serving logs
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "brandmon-node")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOCALHOST))]),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert, key


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, agent: Agent, context: ssl.SSLContext) -> None:
        super().__init__((LOCALHOST, 0), _Handler)
        self.agent = agent
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS per connection, on the connection's own thread: a slow client never
        # blocks the accept loop.
        try:
            wrapped = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(wrapped, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def _reply(self, status: HTTPStatus, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """Serve /healthz and /containerLogs/<namespace>/<pod>/<container>."""
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if parts == ["healthz"]:
            self._reply(HTTPStatus.OK, b"ok")
            return
        if len(parts) != 4 or parts[0] != "containerLogs":  # noqa: PLR2004 - the path's shape
            self._reply(HTTPStatus.NOT_FOUND, b"only /containerLogs is served here\n")
            return
        _, namespace, pod, container = parts
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            tail = int(query["tailLines"]) if "tailLines" in query else None
            limit = int(query["limitBytes"]) if "limitBytes" in query else None
        except ValueError:
            self._reply(HTTPStatus.BAD_REQUEST, b"tailLines and limitBytes are numbers\n")
            return
        agent = self.server.agent
        path = find_log(agent.settings.pods_dir, namespace, pod, container)
        if path is None:
            message = f"no log of container {container} in pod {namespace}/{pod} on this node\n"
            self._reply(HTTPStatus.NOT_FOUND, message.encode())
            return
        previous = query.get("previous") == "true"
        output = select(path.read_bytes(), previous, tail, limit)
        if output is None:
            message = f'previous terminated container "{container}" in pod "{pod}" not found\n'
            self._reply(HTTPStatus.BAD_REQUEST, message.encode())
            return
        if query.get("follow") != "true" or previous:
            self._reply(HTTPStatus.OK, output)
            return
        self._follow(path, output, namespace, pod, container)

    def _follow(self, path: Path, output: bytes, namespace: str, pod: str, container: str) -> None:
        """Stream the current run's output until the process ends or a new run starts."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        agent = self.server.agent
        with (
            contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError),
            path.open("rb") as source,
        ):
            self.wfile.write(output)
            self.wfile.flush()
            source.seek(0, 2)
            while not agent.stopping.is_set():
                chunk = source.read()
                if chunk:
                    if any(SEPARATOR.match(line.rstrip(b"\r\n")) for line in chunk.splitlines()):
                        return
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    continue
                worker = agent.worker_for(namespace, pod)
                if worker is None or not worker.container_running(container):
                    return
                time.sleep(_FOLLOW_POLL)


class LogServer:
    """The HTTPS endpoint the API server proxies `kubectl logs` to."""

    def __init__(self, agent: Agent) -> None:
        cert, key = ensure_certificate(agent.settings.state_dir / "kubelet")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd = _Server(agent, context)
        self.port: int = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="kubelet-logs", daemon=True
        )

    def start(self) -> None:
        """Serve in the background."""
        self.thread.start()
        log.info("serving container logs on https://%s:%d", LOCALHOST, self.port)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join()
        self.httpd.server_close()
