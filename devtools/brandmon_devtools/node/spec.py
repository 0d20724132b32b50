"""How the node agent reads a Pod spec: commands, environment, volumes, ports and probes.

Everything here is pure: the agent fetches the ConfigMaps and Secrets a Pod references and
passes them in, so what a container runs and sees is a function of the manifests alone.
Pods are the API server's JSON (camelCase dicts), the same shape `kubectl get -o json` shows.

A local process cannot see a container's filesystem, so a few things are translated
(README-level documentation lives in the package docstring):

- an image is never pulled: a container with a `command` runs it, otherwise the image is
  mapped to a command by `Entrypoint`s (the brandmon image runs `brandmon-worker`);
- a volume is a directory under the Pod's directory; each mount's directory is exported as
  BRANDMON_NODE_MOUNT_<VOLUME>, and a mount at /tmp also sets TMPDIR;
- the termination message file is exported as BRANDMON_TERMINATION_LOG;
- a service-account mount at /var/run/secrets/kubernetes.io/serviceaccount becomes a
  kubeconfig (KUBECONFIG) that authenticates with the Pod's token;
- every Pod shares the host network, so `brandmon-worker` containers get free health and
  metrics ports (BRANDMON_HEALTH_PORT, BRANDMON_METRICS_PORT) and probes follow them.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath
from typing import Any, Literal

Manifest = dict[str, Any]

WORKER_SCRIPT = "brandmon-worker"
HEALTH_PORT_ENV = "BRANDMON_HEALTH_PORT"
METRICS_PORT_ENV = "BRANDMON_METRICS_PORT"
# The workers' defaults (brandmon_workers.contract.settings), used when the env is silent.
WORKER_PORT_DEFAULTS = {HEALTH_PORT_ENV: 8080, METRICS_PORT_ENV: 9102}
TERMINATION_LOG_ENV = "BRANDMON_TERMINATION_LOG"
MOUNT_ENV_PREFIX = "BRANDMON_NODE_MOUNT_"
LOCALHOST = "127.0.0.1"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Kubernetes keeps at most this much of a termination message.
TERMINATION_MESSAGE_LIMIT = 4096
_FALLBACK_LINES = 80
_FALLBACK_BYTES = 2048


class ImageNotMappedError(Exception):
    """No local command stands in for the container's image (reason ImageNotMapped)."""


class ConfigError(Exception):
    """A referenced ConfigMap, Secret or key is missing (reason CreateContainerConfigError)."""


# --- images -----------------------------------------------------------------------------


def image_repository(image: str) -> str:
    """Return an image reference without its tag and digest."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


@dataclass(frozen=True)
class Entrypoint:
    """A local command standing in for an image's entrypoint.

    It matches images starting with `prefix`, or (without a prefix) images whose
    repository's last path segment is `repository_name`.
    """

    command: tuple[str, ...]
    prefix: str | None = None
    repository_name: str | None = None

    def matches(self, image: str) -> bool:
        """Return whether this entrypoint stands in for the image."""
        if self.prefix is not None:
            return image.startswith(self.prefix)
        return image_repository(image).rsplit("/", 1)[-1] == self.repository_name


# Any brandmon image (ghcr.io/brandmon/brandmon:0.1.0, brandmon:dev, ...) is the workers'.
DEFAULT_ENTRYPOINTS = (Entrypoint(command=(WORKER_SCRIPT,), repository_name="brandmon"),)


def parse_entrypoint(text: str) -> Entrypoint:
    """Parse the CLI's `IMAGE_PREFIX=COMMAND` (COMMAND split like a shell would)."""
    import shlex  # noqa: PLC0415 - only the CLI parses entrypoints

    prefix, sep, command = text.partition("=")
    argv = tuple(shlex.split(command))
    if not sep or not prefix or not argv:
        msg = f"expected IMAGE_PREFIX=COMMAND, got {text!r}"
        raise ValueError(msg)
    return Entrypoint(command=argv, prefix=prefix)


def entrypoints(extra: Iterable[Entrypoint] = ()) -> list[Entrypoint]:
    """Return the lookup order: explicit prefixes (longest first), then the defaults."""
    explicit = sorted(extra, key=lambda e: len(e.prefix or ""), reverse=True)
    return [*explicit, *DEFAULT_ENTRYPOINTS]


def container_argv(container: Manifest, table: Sequence[Entrypoint]) -> list[str]:
    """Return what the container runs, before $(VAR) expansion.

    A `command` replaces the image's entrypoint, as in Kubernetes; without one the image's
    mapped command runs with the container's `args` (which replace the image's CMD).
    """
    command: list[str] = list(container.get("command") or [])
    args: list[str] = list(container.get("args") or [])
    if command:
        return command + args
    image = str(container.get("image", ""))
    for entry in table:
        if entry.matches(image):
            return [*entry.command, *args]
    msg = (
        f'image "{image}" is not mapped to a local command: start the node agent with '
        f"--entrypoint {image_repository(image)}=COMMAND, or set the container's command"
    )
    raise ImageNotMappedError(msg)


def resolve_executable(argv0: str, search_path: str) -> str | None:
    """Return the program to execute for argv[0], or None when there is none."""
    if "/" in argv0:
        return argv0 if shutil.which(argv0) else None
    return shutil.which(argv0, path=search_path)


def runs_worker(argv: Sequence[str]) -> bool:
    """Return whether the command is the workers' console script (its ports get remapped)."""
    return bool(argv) and PurePosixPath(argv[0]).name == WORKER_SCRIPT


# --- $(VAR) expansion -------------------------------------------------------------------


def expand(text: str, env: Mapping[str, str]) -> str:
    """Expand $(VAR) references the way Kubernetes does; `$$` escapes a `$`.

    Unknown variables and malformed references stay as written.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            end = text.find(")", i + 2)
            if end < 0:
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(env.get(name, f"$({name})"))
            i = end + 1
        else:
            out.append("$")
            i += 1
    return "".join(out)


# --- quantities -------------------------------------------------------------------------

_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")


def parse_quantity(text: str | int | float) -> Decimal:
    """Return a Kubernetes quantity ("500m", "8Gi", "2") as a number."""
    match = _QUANTITY.match(str(text).strip())
    if match is None:
        msg = f"not a quantity: {text!r}"
        raise ValueError(msg)
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as error:
        msg = f"not a quantity: {text!r}"
        raise ValueError(msg) from error
    return number * _SUFFIXES[match.group(2)]


# --- environment ------------------------------------------------------------------------


@dataclass(frozen=True)
class Objects:
    """The ConfigMaps and Secrets of a Pod's namespace that it references, by name.

    Values are bytes (Secrets and binaryData are); a name that is absent was not found.
    """

    config_maps: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)
    secrets: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)


def referenced_objects(pod: Manifest) -> tuple[set[str], set[str]]:
    """Return the names of the ConfigMaps and Secrets a Pod's containers and volumes use."""
    config_maps: set[str] = set()
    secrets: set[str] = set()
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                config_maps.add(source["configMapRef"]["name"])
            if "secretRef" in source:
                secrets.add(source["secretRef"]["name"])
        for var in container.get("env") or []:
            value_from = var.get("valueFrom") or {}
            if "configMapKeyRef" in value_from:
                config_maps.add(value_from["configMapKeyRef"]["name"])
            if "secretKeyRef" in value_from:
                secrets.add(value_from["secretKeyRef"]["name"])
    for volume in spec.get("volumes") or []:
        sources = [volume, *((volume.get("projected") or {}).get("sources") or [])]
        for source in sources:
            if "configMap" in source:
                config_maps.add(source["configMap"]["name"])
            if "secret" in source:
                # A Secret volume says secretName; a projected source says name.
                secret = source["secret"]
                secrets.add(secret.get("secretName") or secret.get("name"))
    return config_maps, secrets


def _text(value: bytes) -> str:
    # Environment values are strings; keep undecodable bytes through to the process.
    return value.decode("utf-8", "surrogateescape")


def _lookup(
    kind: str,
    objects: Mapping[str, Mapping[str, bytes]],
    namespace: str,
    ref: Manifest,
) -> bytes | None:
    name, key, optional = ref["name"], ref["key"], bool(ref.get("optional"))
    data = objects.get(name)
    if data is None:
        if optional:
            return None
        msg = f'{kind.lower()} "{name}" not found'
        raise ConfigError(msg)
    if key not in data:
        if optional:
            return None
        msg = f"couldn't find key {key} in {kind} {namespace}/{name}"
        raise ConfigError(msg)
    return data[key]


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


def field_value(pod: Manifest, path: str) -> str:
    """Return a downward-API field (fieldRef.fieldPath) of the Pod."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": metadata.get("name", ""),
        "metadata.namespace": metadata.get("namespace", ""),
        "metadata.uid": metadata.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        # Every Pod here lives in the host's network namespace.
        "status.hostIP": LOCALHOST,
        "status.hostIPs": LOCALHOST,
        "status.podIP": LOCALHOST,
        "status.podIPs": LOCALHOST,
    }
    if path in simple:
        return str(simple[path])
    subscript = _SUBSCRIPT.match(path)
    if subscript:
        return str((metadata.get(subscript.group(1)) or {}).get(subscript.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = sorted((metadata.get(path.split(".")[1]) or {}).items())
        return "".join(f'{k}="{v}"\n' for k, v in items)
    msg = f"unsupported fieldPath {path!r}"
    raise ConfigError(msg)


def resource_value(container: Manifest, ref: Manifest, allocatable: Mapping[str, str]) -> str:
    """Return a resourceFieldRef value: limits default to the node's allocatable."""
    resource = str(ref["resource"])
    section, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    given = (resources.get(section) or {}).get(name)
    if given is None and section == "limits":
        given = allocatable.get(name)
    value = parse_quantity(given if given is not None else 0)
    divisor = parse_quantity(ref.get("divisor") or "1")
    if divisor <= 0:
        msg = f"invalid divisor in resourceFieldRef {resource}"
        raise ConfigError(msg)
    return str(math.ceil(value / divisor))


def _env_from(container: Manifest, objects: Objects) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for kind, key, table in (
            ("ConfigMap", "configMapRef", objects.config_maps),
            ("Secret", "secretRef", objects.secrets),
        ):
            if key not in source:
                continue
            ref = source[key]
            data = table.get(ref["name"])
            if data is None:
                if ref.get("optional"):
                    continue
                msg = f'{kind.lower()} "{ref["name"]}" not found'
                raise ConfigError(msg)
            for name, value in data.items():
                # Keys that cannot be variable names are skipped, as the kubelet does.
                if name and "=" not in name:
                    env[prefix + name] = _text(value)
    return env


def resolve_env(
    pod: Manifest,
    container: Manifest,
    objects: Objects,
    allocatable: Mapping[str, str],
) -> dict[str, str]:
    """Return the container's environment as Kubernetes builds it: envFrom, then env.

    Raise ConfigError for a missing, non-optional ConfigMap, Secret or key.
    """
    namespace = str((pod.get("metadata") or {}).get("namespace", ""))
    env = _env_from(container, objects)
    for var in container.get("env") or []:
        name = var["name"]
        value_from = var.get("valueFrom")
        if value_from is None:
            env[name] = expand(str(var.get("value") or ""), env)
            continue
        found: bytes | str | None
        if "configMapKeyRef" in value_from:
            ref = value_from["configMapKeyRef"]
            found = _lookup("ConfigMap", objects.config_maps, namespace, ref)
        elif "secretKeyRef" in value_from:
            found = _lookup("Secret", objects.secrets, namespace, value_from["secretKeyRef"])
        elif "fieldRef" in value_from:
            found = field_value(pod, value_from["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in value_from:
            found = resource_value(container, value_from["resourceFieldRef"], allocatable)
        else:
            msg = f"unsupported valueFrom in env {name}: {sorted(value_from)}"
            raise ConfigError(msg)
        if found is not None:
            env[name] = found if isinstance(found, str) else _text(found)
    return env


def expand_argv(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """Expand $(VAR) in a command and its arguments."""
    return [expand(arg, env) for arg in argv]


# --- ports ------------------------------------------------------------------------------


def worker_ports(
    env: Mapping[str, str], allocate: Callable[[], int]
) -> tuple[dict[str, str], dict[int, int]]:
    """Pick free host ports for a worker's health and metrics servers.

    Return the environment overrides and the map from the port the container declares
    (what its probes name) to the port the process really listens on. A port set to 0
    (disabled) stays disabled.
    """
    overrides: dict[str, str] = {}
    remap: dict[int, int] = {}
    for name, default in WORKER_PORT_DEFAULTS.items():
        try:
            declared = int(env.get(name, default))
        except ValueError:
            declared = default
        if declared == 0:
            continue
        chosen = allocate()
        overrides[name] = str(chosen)
        remap[declared] = chosen
    return overrides, remap


def container_port(container: Manifest, port: int | str) -> int | None:
    """Return a probe's port as a number, resolving a named port; None if unknown."""
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    return None


# --- probes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One probe, with its target already translated to this host."""

    kind: Literal["http", "tcp", "exec", "invalid"]
    target: str = ""  # URL for http, host:port for tcp, the reason for invalid
    argv: tuple[str, ...] = ()
    initial_delay: float = 0
    period: float = 10
    timeout: float = 1
    success_threshold: int = 1
    failure_threshold: int = 3


def probe(manifest: Manifest | None, container: Manifest, remap: Mapping[int, int]) -> Probe | None:
    """Translate a container's probe; None when there is none (or its kind is unsupported)."""
    if not manifest:
        return None
    timed = Probe(
        "invalid",
        initial_delay=float(manifest.get("initialDelaySeconds") or 0),
        period=float(manifest.get("periodSeconds") or 10),
        timeout=float(manifest.get("timeoutSeconds") or 1),
        success_threshold=int(manifest.get("successThreshold") or 1),
        failure_threshold=int(manifest.get("failureThreshold") or 3),
    )
    if "exec" in manifest:
        return replace(timed, kind="exec", argv=tuple(manifest["exec"].get("command") or []))
    action = manifest.get("httpGet") or manifest.get("tcpSocket")
    if action is None:
        return None  # gRPC probes: nothing here speaks gRPC health
    port = container_port(container, action.get("port", 0))
    if port is None:
        return replace(timed, target=f"unknown port {action.get('port')!r}")
    port = remap.get(port, port)
    # Every process listens on this host; a probe's host field would name a pod IP,
    # which is this host anyway.
    if "httpGet" in manifest:
        scheme = str(action.get("scheme") or "HTTP").lower()
        path = str(action.get("path") or "/")
        if not path.startswith("/"):
            path = "/" + path
        return replace(timed, kind="http", target=f"{scheme}://{LOCALHOST}:{port}{path}")
    return replace(timed, kind="tcp", target=f"{LOCALHOST}:{port}")


# --- volumes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Volume:
    """A volume as files under the Pod's directory (or a host path, used as is)."""

    name: str
    files: Mapping[str, tuple[bytes, int]] = field(default_factory=dict)
    host_path: str | None = None


def _safe_path(path: str) -> str:
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or ".." in parts:
        msg = f"invalid volume item path {path!r}"
        raise ConfigError(msg)
    return path


def _project(
    kind: str,
    data: Mapping[str, bytes] | None,
    source: Manifest,
    default_mode: int,
) -> dict[str, tuple[bytes, int]]:
    name = source.get("name") or source.get("secretName")
    if data is None:
        if source.get("optional"):
            return {}
        msg = f'{kind.lower()} "{name}" not found'
        raise ConfigError(msg)
    items = source.get("items")
    if not items:
        return {_safe_path(key): (value, default_mode) for key, value in data.items()}
    files: dict[str, tuple[bytes, int]] = {}
    for item in items:
        key = item["key"]
        if key not in data:
            if source.get("optional"):
                continue
            msg = f"configmap/secret {name} has no key {key}"
            raise ConfigError(msg)
        files[_safe_path(item["path"])] = (data[key], int(item.get("mode") or default_mode))
    return files


def _downward(
    pod: Manifest, items: Sequence[Manifest], mode: int, allocatable: Mapping[str, str]
) -> dict[str, tuple[bytes, int]]:
    files: dict[str, tuple[bytes, int]] = {}
    for item in items:
        if "fieldRef" in item:
            value = field_value(pod, item["fieldRef"]["fieldPath"])
        else:
            ref = item["resourceFieldRef"]
            named = [
                c
                for c in (pod.get("spec") or {}).get("containers") or []
                if c.get("name") == ref.get("containerName")
            ]
            if not named:
                msg = f"resourceFieldRef names no container of the pod: {ref!r}"
                raise ConfigError(msg)
            value = resource_value(named[0], ref, allocatable)
        files[_safe_path(item["path"])] = (value.encode(), int(item.get("mode") or mode))
    return files


def plan_volumes(
    pod: Manifest,
    objects: Objects,
    allocatable: Mapping[str, str],
    token: str | None = None,
) -> list[Volume]:
    """Return every volume of the Pod as files to write; raise ConfigError if one is missing.

    emptyDir and unsupported kinds (persistentVolumeClaim, ...) are empty directories,
    hostPath is used as it is, and a projected service-account token is `token` (the
    agent requests one bound to the Pod).
    """
    volumes: list[Volume] = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume["name"]
        if "hostPath" in volume:
            volumes.append(Volume(name, host_path=str(volume["hostPath"]["path"])))
            continue
        files: dict[str, tuple[bytes, int]] = {}
        if "configMap" in volume:
            source = volume["configMap"]
            mode = int(source.get("defaultMode") or 0o644)
            files = _project("ConfigMap", objects.config_maps.get(source["name"]), source, mode)
        elif "secret" in volume:
            source = volume["secret"]
            mode = int(source.get("defaultMode") or 0o644)
            data = objects.secrets.get(source["secretName"])
            files = _project("Secret", data, source, mode)
        elif "downwardAPI" in volume:
            source = volume["downwardAPI"]
            mode = int(source.get("defaultMode") or 0o644)
            files = _downward(pod, source.get("items") or [], mode, allocatable)
        elif "projected" in volume:
            files = _projected(pod, volume["projected"], objects, allocatable, token)
        volumes.append(Volume(name, files=files))
    return volumes


def _projected(
    pod: Manifest,
    projected: Manifest,
    objects: Objects,
    allocatable: Mapping[str, str],
    token: str | None,
) -> dict[str, tuple[bytes, int]]:
    mode = int(projected.get("defaultMode") or 0o644)
    files: dict[str, tuple[bytes, int]] = {}
    for source in projected.get("sources") or []:
        if "configMap" in source:
            ref = source["configMap"]
            files |= _project("ConfigMap", objects.config_maps.get(ref["name"]), ref, mode)
        elif "secret" in source:
            ref = source["secret"]
            files |= _project("Secret", objects.secrets.get(ref["name"]), ref, mode)
        elif "downwardAPI" in source:
            files |= _downward(pod, source["downwardAPI"].get("items") or [], mode, allocatable)
        elif "serviceAccountToken" in source and token is not None:
            path = _safe_path(source["serviceAccountToken"]["path"])
            files[path] = (token.encode(), mode)
    return files


def mount_env_name(volume: str) -> str:
    """Return the variable that carries a volume's local directory."""
    return MOUNT_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", volume.upper())


def mount_env(container: Manifest, directories: Mapping[str, str]) -> dict[str, str]:
    """Return the variables telling a process where its mounts are (and TMPDIR for /tmp)."""
    env: dict[str, str] = {}
    for mount in container.get("volumeMounts") or []:
        directory = directories.get(mount["name"])
        if directory is None:
            continue
        sub_path = mount.get("subPath")
        path = str(PurePosixPath(directory) / sub_path) if sub_path else directory
        env[mount_env_name(mount["name"])] = path
        if mount.get("mountPath") == "/tmp":  # noqa: S108 - the container's path, mapped here
            env["TMPDIR"] = path
    return env


def service_account_token_file(
    pod: Manifest, container: Manifest, directories: Mapping[str, str]
) -> str | None:
    """Return the local token file of the container's service-account mount, if any.

    In-cluster clients look for the token at SERVICE_ACCOUNT_DIR, which a local process
    cannot see; the agent points them at this file through a kubeconfig instead.
    """
    volumes = {v["name"]: v for v in (pod.get("spec") or {}).get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        if str(mount.get("mountPath", "")).rstrip("/") != SERVICE_ACCOUNT_DIR:
            continue
        directory, volume = directories.get(mount["name"]), volumes.get(mount["name"])
        if directory is None or volume is None:
            continue
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "serviceAccountToken" in source:
                path = _safe_path(source["serviceAccountToken"]["path"])
                return str(PurePosixPath(directory) / path)
    return None


def service_account_kubeconfig(
    *, server: str, ca_data: str, namespace: str, account: str, token_file: str, token: str
) -> Manifest:
    """Return a kubeconfig that acts as the Pod's service account.

    `tokenFile` lets client-go tools (kubectl, helm) re-read a rotated token. The token is
    inline as well because kopf's kubeconfig login and the Python client's read only an
    inline token when both are present; both carry the same Pod-bound token.
    """
    user = f"system:serviceaccount:{namespace}:{account}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": server, "certificate-authority-data": ca_data}}
        ],
        "users": [{"name": user, "user": {"tokenFile": token_file, "token": token}}],
        "contexts": [
            {"name": "pod", "context": {"cluster": "local", "user": user, "namespace": namespace}}
        ],
        "current-context": "pod",
    }


# --- termination messages ---------------------------------------------------------------


def log_tail(log: bytes, lines: int = _FALLBACK_LINES, limit: int = _FALLBACK_BYTES) -> str:
    """Return the last lines of a log, at most `limit` bytes (the kubelet's fallback)."""
    tail = b"".join(log.splitlines(keepends=True)[-lines:])
    return tail[-limit:].decode("utf-8", "replace")


def termination_message(written: bytes, log: bytes, policy: str | None, exit_code: int) -> str:
    """Return a container's termination message.

    It is what the process wrote to its termination-message file (at most 4096 bytes);
    with FallbackToLogsOnError, a failed process that wrote nothing gets its log's tail.
    """
    message = written[:TERMINATION_MESSAGE_LIMIT].decode("utf-8", "replace")
    if not message and policy == "FallbackToLogsOnError" and exit_code != 0:
        return log_tail(log)
    return message
