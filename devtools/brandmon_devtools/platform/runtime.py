"""Start, check and stop the local platform's processes.

A platform lives in one directory (default `<checkout>/.platform`): its state file, its
certificates, each component's data and log, the admin kubeconfig and the shell-sourceable
`env` file. Ports are picked fresh for every `up` from a range below the kernel's ephemeral
ports, so two platforms (or a developer's own Kafka on 9092) never collide. Every process
is started in its own session and carries BRANDMON_PLATFORM_DIR in its environment, which
lets `down` find and stop strays that the state file does not know about.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from pathlib import Path

from brandmon_devtools.platform.build import Binaries, ensure_all
from brandmon_devtools.platform.pins import Pins, load_pins, repo_root

MARKER = "BRANDMON_PLATFORM_DIR"
REGION = "us-east-1"
# Order matters: start in this order, stop in reverse.
COMPONENTS = (
    "etcd",
    "kafka",
    "minio",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
)
# Ports besides each component's own (state files from older checkouts lack the later ones).
_EXTRA_PORTS = ("etcd-peer", "kafka-controller", "minio-console", "kafka-sasl")
_PORT_RANGE = (20000, 32000)  # below Linux's default ephemeral range (32768-60999)
_PORT_ATTEMPTS = 200


class PlatformError(RuntimeError):
    """A component failed; the message names it and its log."""


def default_dir() -> Path:
    """Return the platform directory (BRANDMON_PLATFORM_DIR, default <checkout>/.platform)."""
    override = os.environ.get(MARKER)
    return Path(override).resolve() if override else repo_root() / ".platform"


def _say(message: str) -> None:
    print(f"[platform] {message}", file=sys.stderr, flush=True)


def _kafka_cluster_id() -> str:
    # Kafka's own format: 16 random bytes, URL-safe base64 without padding. Like Kafka's
    # Uuid.randomUuid, never one that starts with '-': `kafka-storage format -t -Ab…` reads
    # it as an option and fails (one platform start in 64).
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


@dataclass
class State:
    """What a running platform is: its ports, credentials and process ids."""

    ports: dict[str, int]
    admin_token: str
    s3_access_key: str
    s3_secret_key: str
    pids: dict[str, int] = field(default_factory=dict)
    # Kept so a restarted broker finds its formatted log directory its own.
    kafka_cluster_id: str = field(default_factory=_kafka_cluster_id)


@dataclass(frozen=True)
class Platform:
    """A handle on a platform directory; every path and address clients need."""

    root: Path

    @property
    def state_file(self) -> Path:
        """Where ports, credentials and pids are kept."""
        return self.root / "state.json"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (system:masters token)."""
        return self.root / "kubeconfig"

    @property
    def env_file(self) -> Path:
        """The shell-sourceable environment for clients."""
        return self.root / "env"

    @property
    def logs(self) -> Path:
        """Each component's log lives here as <component>.log."""
        return self.root / "logs"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log: one JSON event per request."""
        return self.logs / "audit.log"

    @property
    def pki(self) -> Path:
        """Keys, tokens and the API server's self-signed certificate."""
        return self.root / "pki"

    @property
    def ca_file(self) -> Path:
        """The API server's serving certificate bundle, used as the CA by clients."""
        return self.pki / "apiserver" / "apiserver.crt"

    @property
    def bin(self) -> Path:
        """Client tools (kubectl, later helm) for the PATH line of the env file."""
        return self.root / "bin"

    def data(self, component: str) -> Path:
        """Return a component's data directory."""
        return self.root / "data" / component

    def load_state(self) -> State | None:
        """Return the recorded state, or None when the platform was never started."""
        try:
            return State(**json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return None

    def save_state(self, state: State) -> None:
        """Write the state atomically so a crash never leaves half a file."""
        partial = self.state_file.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(state), indent=2))
        partial.replace(self.state_file)

    def client_env(self, state: State) -> dict[str, str]:
        """Return the environment variables a client of this platform needs."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{state.ports['kafka']}",
            # The SASL/SCRAM listener (PLAINTEXT inside: loopback only).
            "KAFKA_SASL_BOOTSTRAP_SERVERS": f"127.0.0.1:{state.ports['kafka-sasl']}",
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{state.ports['minio']}",
            "AWS_ACCESS_KEY_ID": state.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": state.s3_secret_key,
            "AWS_DEFAULT_REGION": REGION,
        }


# --- processes ------------------------------------------------------------------------


def _proc_marker(pid: int) -> str | None:
    """Return the platform dir a process belongs to, or None if it is not one of ours."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    prefix = f"{MARKER}=".encode()
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode()
    return None


# Children started by this process. Holding the Popen objects keeps their finalizers from
# warning about processes that are meant to outlive the call that started them, and lets
# us reap them when they stop.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _alive(pid: int) -> bool:
    """Return whether pid runs (zombies count as dead; we reap our own children)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _ancestors() -> set[int]:
    """Return this process and its ancestors (a shell that exported the marker is one)."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            # Field 4 of /proc/<pid>/stat, after the parenthesised command name.
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


def processes(root: Path) -> list[int]:
    """Return every live process that carries this platform's marker, except our ancestors."""
    mine = str(root)
    pids = []
    spared = _ancestors()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in spared:
            pid = int(entry.name)
            if _proc_marker(pid) == mine and _alive(pid):
                pids.append(pid)
    return pids


def _spawn(
    platform: Platform, name: str, argv: list[str], env: dict[str, str], append: bool = False
) -> int:
    log = platform.logs / f"{name}.log"
    with log.open("a" if append else "w") as sink:
        sink.write(f"# {shlex.join(argv)}\n")
        sink.flush()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=os.environ | env | {MARKER: str(platform.root)},
            cwd=platform.root,
            # Own session: outlives `make platform-up`, and stops as a group.
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    return process.pid


def stop_processes(*processes: subprocess.Popen[bytes]) -> None:
    """SIGTERM each child, then reap it (SIGKILL what does not end in 30 s): no zombies."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _stop_pids(pids: list[int], grace: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for pid in pids:
        child = _CHILDREN.pop(pid, None)
        if child is not None:
            child.wait()


# --- health checks --------------------------------------------------------------------


def _http_ok(url: str, context: ssl.SSLContext | None = None, token: str | None = None) -> bool:
    request = urllib.request.Request(url)  # noqa: S310 - loopback URLs we built ourselves
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:  # noqa: S310
            return bool(response.status == HTTPStatus.OK)
    except (urllib.error.URLError, OSError):
        return False


def _insecure() -> ssl.SSLContext:
    # Controller-manager and scheduler serve /healthz with a throwaway self-signed cert.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _kafka_ready(port: int) -> bool:
    # Readiness means the broker answers a metadata request, not just an open port.
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - only when probing Kafka

    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 0})
    try:
        admin.list_topics(timeout=2)
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    return True


def _apiserver_ready(platform: Platform, state: State) -> bool:
    # The API server writes its self-signed certificate only once it starts serving.
    if not platform.ca_file.exists():
        return False
    try:
        context = ssl.create_default_context(cafile=str(platform.ca_file))
    except ssl.SSLError:
        # The file exists but is still being written (seen on a busy machine): not yet.
        return False
    return _http_ok(
        f"https://127.0.0.1:{state.ports['kube-apiserver']}/readyz", context, state.admin_token
    )


def health_checks(platform: Platform, state: State) -> dict[str, Callable[[], bool]]:
    """Return one readiness probe per component."""
    ports = state.ports
    checks: dict[str, Callable[[], bool]] = {
        "etcd": lambda: _http_ok(f"http://127.0.0.1:{ports['etcd']}/health"),
        "kafka": lambda: _kafka_ready(ports["kafka"]),
        "minio": lambda: _http_ok(f"http://127.0.0.1:{ports['minio']}/minio/health/live"),
        "kube-apiserver": lambda: _apiserver_ready(platform, state),
        "kube-controller-manager": lambda: _http_ok(
            f"https://127.0.0.1:{ports['kube-controller-manager']}/healthz", _insecure()
        ),
        "kube-scheduler": lambda: _http_ok(
            f"https://127.0.0.1:{ports['kube-scheduler']}/healthz", _insecure()
        ),
    }
    return checks


def _wait_healthy(
    platform: Platform, state: State, names: list[str], timeout: float = 120.0
) -> None:
    checks = health_checks(platform, state)
    pending = list(names)
    deadline = time.monotonic() + timeout
    while pending:
        for name in list(pending):
            pid = state.pids[name]
            if not _alive(pid):
                raise _failure(platform, name, "exited during start-up")
            if checks[name]():
                pending.remove(name)
                _say(f"  {name} ready (port {state.ports[name]})")
        if pending and time.monotonic() > deadline:
            raise _failure(platform, pending[0], f"not ready after {timeout:.0f}s")
        if pending:
            time.sleep(0.2)


def _failure(platform: Platform, name: str, why: str) -> PlatformError:
    log = platform.logs / f"{name}.log"
    try:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:])
    except FileNotFoundError:
        tail = "(no log written)\n"
    return PlatformError(f"{name} {why}; log: {log}\n--- last lines ---\n{tail}")


# --- set-up ---------------------------------------------------------------------------


def _free_port(taken: set[int]) -> int:
    rng = random.SystemRandom()
    for _ in range(_PORT_ATTEMPTS):
        port = rng.randrange(*_PORT_RANGE)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    msg = f"no free port found in {_PORT_RANGE}"
    raise PlatformError(msg)


def _new_state() -> State:
    taken: set[int] = set()
    names = [*COMPONENTS, *_EXTRA_PORTS]
    return State(
        ports={name: _free_port(taken) for name in names},
        admin_token=secrets.token_urlsafe(32),
        s3_access_key="brandmon",
        s3_secret_key=secrets.token_urlsafe(24),
    )


def _write_pki(platform: Platform, state: State) -> None:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    (platform.pki / "apiserver").mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # One RSA key both signs service-account tokens and verifies them.
    (platform.pki / "sa.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    (platform.pki / "tokens.csv").write_text(
        f'{state.admin_token},brandmon-admin,brandmon-admin,"system:masters"\n'
    )
    # Every request is audited (metadata only) so tests and benchmarks can count exactly
    # what a client such as the operator asked of the API server.
    (platform.pki / "audit-policy.json").write_text(
        json.dumps(
            {
                "apiVersion": "audit.k8s.io/v1",
                "kind": "Policy",
                "omitStages": ["RequestReceived"],
                "rules": [{"level": "Metadata"}],
            }
        )
    )
    for path in platform.pki.rglob("*"):
        path.chmod(0o600 if path.is_file() else 0o700)


def _write_kubeconfig(platform: Platform, state: State) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "brandmon-local",
                "cluster": {
                    "server": f"https://127.0.0.1:{state.ports['kube-apiserver']}",
                    "certificate-authority": str(platform.ca_file),
                },
            }
        ],
        "users": [{"name": "brandmon-admin", "user": {"token": state.admin_token}}],
        "contexts": [
            {
                "name": "brandmon-local",
                "context": {"cluster": "brandmon-local", "user": "brandmon-admin"},
            }
        ],
        "current-context": "brandmon-local",
    }
    # JSON is YAML, so every kubeconfig reader accepts it.
    platform.kubeconfig.write_text(json.dumps(config, indent=2))
    platform.kubeconfig.chmod(0o600)


def _write_env(platform: Platform, state: State) -> None:
    lines = [f"export {k}={shlex.quote(v)}" for k, v in platform.client_env(state).items()]
    lines.append(f'export PATH={shlex.quote(str(platform.bin))}:"$PATH"')
    platform.env_file.write_text(
        "# Written by brandmon-platform up; source it.\n" + "\n".join(lines) + "\n"
    )
    platform.env_file.chmod(0o600)


# A single-node KRaft broker's settings apart from its addresses and log directory; the
# Kafka image (brandmon_devtools.containers.images) uses them too.
KAFKA_SINGLE_NODE = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    # One node: every internal topic must be satisfiable by a single replica.
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "num.partitions": "1",
    # Tests start consumers constantly; the default 3 s delay would slow every one.
    "group.initial.rebalance.delay.ms": "0",
    # Topics are the operator's job; a typo must not silently create one.
    "auto.create.topics.enable": "false",
}
# The platform's broker also checks ACLs (KRaft's StandardAuthorizer) and has a SASL/SCRAM
# listener, where monitors' principals sign in (tests/platform/test_kafka_principals.py).
# The loopback PLAINTEXT listener is the test harness's administrator door: its clients
# are ANONYMOUS, a super user, so every other test works as before.
KAFKA_SASL_LISTENER = {
    "listener.security.protocol.map": (
        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL:SASL_PLAINTEXT"
    ),
    "listener.name.sasl.sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256",
    **{
        f"listener.name.sasl.{mechanism}.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        )
        for mechanism in ("scram-sha-512", "scram-sha-256")
    },
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "super.users": "User:ANONYMOUS",
    "allow.everyone.if.no.acl.found": "false",
}
KAFKA_LOG4J = (
    "appender.out.type = Console\n"
    "appender.out.name = OUT\n"
    "appender.out.layout.type = PatternLayout\n"
    "appender.out.layout.pattern = [%d] %p %m (%c)%n\n"
    "rootLogger.level = INFO\n"
    "rootLogger.appenderRef.out.ref = OUT\n"
    "logger.kafka.name = kafka\n"
    "logger.kafka.level = INFO\n"
    "logger.state.name = state.change.logger\n"
    "logger.state.level = WARN\n"
)


def _kafka_files(platform: Platform, state: State) -> tuple[Path, Path]:
    ports = state.ports
    data = platform.data("kafka")
    properties = {
        "controller.quorum.voters": f"1@127.0.0.1:{ports['kafka-controller']}",
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{ports['kafka']},"
            f"CONTROLLER://127.0.0.1:{ports['kafka-controller']},"
            f"SASL://127.0.0.1:{ports['kafka-sasl']}"
        ),
        "advertised.listeners": (
            f"PLAINTEXT://127.0.0.1:{ports['kafka']},SASL://127.0.0.1:{ports['kafka-sasl']}"
        ),
        "log.dirs": str(data / "logs"),
        **KAFKA_SINGLE_NODE,
        **KAFKA_SASL_LISTENER,
    }
    server = data / "server.properties"
    server.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
    log4j = data / "log4j2.properties"
    log4j.write_text(KAFKA_LOG4J)
    return server, log4j


def _argv(platform: Platform, state: State, binaries: Binaries) -> dict[str, list[str]]:
    ports = state.ports
    pki = platform.pki
    kubeconfig = str(platform.kubeconfig)
    server, log4j = _kafka_files(platform, state)
    java = ["java", "-Xms128m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{binaries.kafka_libs}/*"]  # fmt: skip
    kafka_format = [*java, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                    "-t", state.kafka_cluster_id, "-c", str(server)]  # fmt: skip
    kafka_run = [*java, "kafka.Kafka", str(server)]
    return {
        "etcd": [
            str(binaries.etcd),
            "--name=brandmon",
            f"--data-dir={platform.data('etcd')}",
            f"--listen-client-urls=http://127.0.0.1:{ports['etcd']}",
            f"--advertise-client-urls=http://127.0.0.1:{ports['etcd']}",
            f"--listen-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-cluster=brandmon=http://127.0.0.1:{ports['etcd-peer']}",
            # A throwaway test cluster: durability is not worth the fsync latency.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        # Formatting needs a JVM of its own; chaining it keeps the start asynchronous.
        "kafka": ["sh", "-c", f"{shlex.join(kafka_format)} && exec {shlex.join(kafka_run)}"],
        "minio": [
            str(binaries.minio),
            "server",
            str(platform.data("minio")),
            f"--address=127.0.0.1:{ports['minio']}",
            f"--console-address=127.0.0.1:{ports['minio-console']}",
            "--quiet",
        ],
        "kube-apiserver": [
            str(binaries.kube),
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            # Loopback only: there may be no default route to derive an address from.
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['kube-apiserver']}",
            f"--cert-dir={pki / 'apiserver'}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.key'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            f"--audit-policy-file={pki / 'audit-policy.json'}",
            f"--audit-log-path={platform.audit_log}",
            "--audit-log-format=json",
            # 0 would mean lumberjack's 100 MB default: rotating mid-test loses events.
            "--audit-log-maxsize=100000",
        ],
        "kube-controller-manager": [
            str(binaries.kube),
            "kube-controller-manager",
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kube-controller-manager']}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={platform.ca_file}",
            "--use-service-account-credentials=false",
            # Quotas on a CRD created moments before are counted at the next full resync
            # (5 minutes by default); tests of the chart's BrandMonitor quota wait for it.
            "--resource-quota-sync-period=10s",
            "--profiling=false",
        ],
        "kube-scheduler": [
            str(binaries.kube),
            "kube-scheduler",
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kube-scheduler']}",
            "--profiling=false",
        ],
    }


def _link_tools(platform: Platform, binaries: Binaries) -> None:
    platform.bin.mkdir(parents=True, exist_ok=True)
    kubectl = platform.bin / "kubectl"
    kubectl.unlink(missing_ok=True)
    kubectl.symlink_to(binaries.kube)


# --- public operations ----------------------------------------------------------------


def _component_env(state: State) -> dict[str, dict[str, str]]:
    return {
        "minio": {
            "MINIO_ROOT_USER": state.s3_access_key,
            "MINIO_ROOT_PASSWORD": state.s3_secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
        }
    }


def _running_state(platform: Platform, name: str) -> State:
    if name not in COMPONENTS:
        msg = f"unknown component {name!r}; one of {', '.join(COMPONENTS)}"
        raise PlatformError(msg)
    state = platform.load_state()
    if state is None:
        msg = f"no platform is running in {platform.root}"
        raise PlatformError(msg)
    return state


def stop_component(platform: Platform, name: str, kill: bool = False) -> None:
    """Stop one component (SIGKILL with kill=True, as a crash), keeping its data and port.

    For fault tests: clients see the outage, and start_component brings the same
    component back at the same address with the data it had.
    """
    state = _running_state(platform, name)
    pid = state.pids[name]
    if kill:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    _stop_pids([pid], grace=15)


def start_component(platform: Platform, name: str, timeout: float = 120.0) -> None:
    """Start a stopped component again on its port and data, and wait until it is healthy."""
    state = _running_state(platform, name)
    if _alive(state.pids[name]):
        msg = f"{name} is still running (pid {state.pids[name]})"
        raise PlatformError(msg)
    binaries = ensure_all(load_pins(), platform.logs)
    argv = _argv(platform, state, binaries)[name]
    state.pids[name] = _spawn(
        platform, name, argv, _component_env(state).get(name, {}), append=True
    )
    platform.save_state(state)
    _wait_healthy(platform, state, [name], timeout)


def is_running(platform: Platform) -> bool:
    """Return whether every component of this platform is up and healthy."""
    state = platform.load_state()
    if state is None or set(state.pids) != set(COMPONENTS):
        return False
    if not {*COMPONENTS, *_EXTRA_PORTS} <= set(state.ports):
        return False  # started by an older checkout, without a listener this one needs
    if not all(_alive(pid) for pid in state.pids.values()):
        return False
    return all(check() for check in health_checks(platform, state).values())


def up(platform: Platform | None = None, pins: Pins | None = None) -> Platform:
    """Build what is missing, start every component and wait until all are healthy."""
    platform = platform or Platform(default_dir())
    if is_running(platform):
        _say(f"already running: source {platform.env_file}")
        return platform
    down(platform, quiet=True)
    started = time.monotonic()
    platform.root.mkdir(parents=True, exist_ok=True)
    platform.logs.mkdir(exist_ok=True)
    binaries = ensure_all(pins or load_pins(), platform.logs)
    # Each `up` is a fresh cluster: stale data from an earlier run would confuse tests.
    for stale in ("data", "pki"):
        shutil.rmtree(platform.root / stale, ignore_errors=True)
    for component in ("etcd", "kafka", "minio"):
        platform.data(component).mkdir(parents=True)
    state = _new_state()
    _write_pki(platform, state)
    _write_kubeconfig(platform, state)
    _link_tools(platform, binaries)
    argv = _argv(platform, state, binaries)
    env = _component_env(state)
    try:
        _say("starting etcd, Kafka and MinIO")
        for name in ("etcd", "kafka", "minio"):
            state.pids[name] = _spawn(platform, name, argv[name], env.get(name, {}))
            platform.save_state(state)
        _wait_healthy(platform, state, ["etcd"])
        _say("starting kube-apiserver")
        state.pids["kube-apiserver"] = _spawn(
            platform, "kube-apiserver", argv["kube-apiserver"], {}
        )
        platform.save_state(state)
        _wait_healthy(platform, state, ["kube-apiserver"])
        _say("starting kube-controller-manager and kube-scheduler")
        for name in ("kube-controller-manager", "kube-scheduler"):
            state.pids[name] = _spawn(platform, name, argv[name], {})
            platform.save_state(state)
        _wait_healthy(
            platform, state, ["kube-controller-manager", "kube-scheduler", "kafka", "minio"]
        )
    except BaseException:
        down(platform, quiet=True)
        raise
    _write_env(platform, state)
    _say(f"platform up in {time.monotonic() - started:.1f}s; run: source {platform.env_file}")
    return platform


def down(platform: Platform | None = None, quiet: bool = False) -> None:
    """Stop every process of this platform, including strays the state file missed."""
    platform = platform or Platform(default_dir())
    state = platform.load_state()
    recorded = [state.pids[n] for n in reversed(COMPONENTS) if state and n in state.pids]
    recorded = [pid for pid in recorded if _proc_marker(pid) == str(platform.root)]
    _stop_pids(recorded, grace=15)
    strays = processes(platform.root)
    if strays:
        _say(f"stopping {len(strays)} stray process(es): {strays}")
        _stop_pids(strays, grace=5)
    platform.state_file.unlink(missing_ok=True)
    platform.env_file.unlink(missing_ok=True)
    if not quiet:
        _say("platform down")


def status(platform: Platform | None = None) -> dict[str, bool]:
    """Return each component's health."""
    platform = platform or Platform(default_dir())
    state = platform.load_state()
    if state is None:
        return dict.fromkeys(COMPONENTS, False)
    checks = health_checks(platform, state)
    return {n: n in state.pids and _alive(state.pids[n]) and checks[n]() for n in COMPONENTS}


@contextlib.contextmanager
def running(platform: Platform | None = None) -> Iterator[Platform]:
    """Reuse a running platform, or start one and stop it afterwards."""
    platform = platform or Platform(default_dir())
    if is_running(platform):
        yield platform
        return
    up(platform)
    try:
        yield platform
    finally:
        down(platform)
