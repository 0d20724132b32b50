"""The node agent's pure parts: spec translation, status computation, log selection."""

from __future__ import annotations

import os
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from brandmon_devtools.node import agent, logserver, spec, status
from brandmon_devtools.node.spec import ConfigError, Entrypoint, ImageNotMappedError, Objects
from brandmon_devtools.node.status import Backoff, Container, ProbeTracker, Terminated

ALLOCATABLE = {"cpu": "2", "memory": "8Gi", "pods": "110"}


def _pod(containers: list[dict[str, Any]], **spec_fields: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "uid": "u-1",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"note": "hi"},
        },
        "spec": {"nodeName": "n1", "serviceAccountName": "sa", "containers": containers}
        | spec_fields,
    }


# --- images -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("ghcr.io/brandmon/brandmon:0.1.0", "ghcr.io/brandmon/brandmon"),
        ("brandmon", "brandmon"),
        ("localhost:5000/brandmon:dev", "localhost:5000/brandmon"),
        ("localhost:5000/brandmon", "localhost:5000/brandmon"),
        ("ghcr.io/brandmon/brandmon@sha256:abc", "ghcr.io/brandmon/brandmon"),
        ("ghcr.io/x/brandmon:1@sha256:abc", "ghcr.io/x/brandmon"),
    ],
)
def test_image_repository_drops_tag_and_digest(image: str, repository: str) -> None:
    assert spec.image_repository(image) == repository


def test_brandmon_images_run_the_worker_with_the_containers_args() -> None:
    table = spec.entrypoints()
    container = {"image": "ghcr.io/brandmon/brandmon:0.1.0", "args": ["notifier"]}
    assert spec.container_argv(container, table) == ["brandmon-worker", "notifier"]
    assert spec.container_argv({"image": "brandmon:dev"}, table) == ["brandmon-worker"]
    # Only the last path segment counts: brandmon/other is not the workers' image.
    with pytest.raises(ImageNotMappedError):
        spec.container_argv({"image": "ghcr.io/brandmon/other:1"}, table)


def test_a_command_replaces_any_mapping() -> None:
    container = {"image": "nginx:1.27", "command": ["python", "-c"], "args": ["print(1)"]}
    assert spec.container_argv(container, spec.entrypoints()) == ["python", "-c", "print(1)"]


def test_an_unmapped_image_says_how_to_map_it() -> None:
    with pytest.raises(ImageNotMappedError, match=r"--entrypoint docker.io/nginx=COMMAND"):
        spec.container_argv({"image": "docker.io/nginx:1.27"}, spec.entrypoints())


def test_explicit_entrypoints_win_longest_prefix_first() -> None:
    table = spec.entrypoints(
        [
            spec.parse_entrypoint("example.com/=generic"),
            spec.parse_entrypoint("example.com/echo=python -c 'print(1)'"),
            spec.parse_entrypoint("ghcr.io/brandmon/brandmon=custom-worker"),
        ]
    )
    assert spec.container_argv({"image": "example.com/echo:1", "args": ["a"]}, table) == [
        "python", "-c", "print(1)", "a",
    ]  # fmt: skip
    assert spec.container_argv({"image": "example.com/other"}, table) == ["generic"]
    assert spec.container_argv({"image": "ghcr.io/brandmon/brandmon:1"}, table) == ["custom-worker"]
    assert table[-1] == spec.DEFAULT_ENTRYPOINTS[0]


@pytest.mark.parametrize("text", ["nocommand", "=cmd", "prefix=", "prefix=  "])
def test_malformed_entrypoints_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="IMAGE_PREFIX=COMMAND"):
        spec.parse_entrypoint(text)


def test_entrypoint_matches_by_prefix_or_repository_name() -> None:
    assert Entrypoint(("x",), prefix="reg/app").matches("reg/app:1")
    assert not Entrypoint(("x",), prefix="reg/app").matches("other/app:1")
    assert Entrypoint(("x",), repository_name="brandmon").matches("a/b/brandmon:2")


def test_executables_are_found_in_the_given_path(tmp_path: Path) -> None:
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert spec.resolve_executable("tool", str(tmp_path)) == str(script)
    assert spec.resolve_executable("missing-tool", str(tmp_path)) is None
    assert spec.resolve_executable(str(script), "") == str(script)
    assert spec.resolve_executable(str(tmp_path / "nope"), "") is None


def test_only_the_worker_script_gets_its_ports_remapped() -> None:
    assert spec.runs_worker(["brandmon-worker", "notifier"])
    assert spec.runs_worker(["/venv/bin/brandmon-worker"])
    assert not spec.runs_worker(["python", "-m", "brandmon_workers"])
    assert not spec.runs_worker([])


# --- expansion and quantities -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$(A)", "1"),
        ("x-$(A)-$(B)", "x-1-two"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$", "$"),
        ("cost $5", "cost $5"),
        ("trailing $", "trailing $"),
        ("$(A", "$(A"),
        ("", ""),
    ],
)
def test_expansion_follows_kubernetes(text: str, expanded: str) -> None:
    assert spec.expand(text, {"A": "1", "B": "two"}) == expanded


@pytest.mark.parametrize(
    ("quantity", "value"),
    [("2", Decimal(2)), ("500m", Decimal("0.5")), ("8Gi", Decimal(8 * 2**30)),
     ("1k", Decimal(1000)), ("1.5", Decimal("1.5")), (3, Decimal(3)), ("1e3", Decimal(1000))],
)  # fmt: skip
def test_quantities_parse(quantity: str | int, value: Decimal) -> None:
    assert spec.parse_quantity(quantity) == value


def test_bad_quantities_are_rejected() -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        spec.parse_quantity("lots")


# --- environment ------------------------------------------------------------------------

OBJECTS = Objects(
    config_maps={"settings": {"LEVEL": b"debug", "bad=key": b"x", "URL": b"http://x"}},
    secrets={"creds": {"TOKEN": b"s3cret", "KEY": b"k"}},
)


def test_environment_is_built_from_env_from_then_env() -> None:
    container = {
        "name": "main",
        "envFrom": [
            {"configMapRef": {"name": "settings"}},
            {"secretRef": {"name": "creds"}, "prefix": "S_"},
            {"configMapRef": {"name": "absent", "optional": True}},
        ],
        "env": [
            {"name": "LEVEL", "value": "info"},  # env overrides envFrom
            {"name": "GREETING", "value": "hello $(LEVEL) $$(LEVEL) $(NOPE)"},
            {"name": "URL2", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "URL"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}}},
            {
                "name": "OPT",
                "valueFrom": {"secretKeyRef": {"name": "creds", "key": "no", "optional": True}},
            },
            {
                "name": "OPT2",
                "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": True}},
            },
            {"name": "EMPTY"},
        ],
    }
    env = spec.resolve_env(_pod([container]), container, OBJECTS, ALLOCATABLE)
    assert env == {
        "LEVEL": "info",
        "URL": "http://x",
        "S_TOKEN": "s3cret",
        "S_KEY": "k",
        "GREETING": "hello info $(LEVEL) $(NOPE)",
        "URL2": "http://x",
        "TOKEN": "s3cret",
        "EMPTY": "",
    }


@pytest.mark.parametrize(
    ("env", "env_from", "message"),
    [
        ([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}], [],
         'configmap "gone" not found'),
        ([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}], [],
         'secret "gone" not found'),
        ([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "k"}}}], [],
         "couldn't find key k in ConfigMap shop/settings"),
        ([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}], [],
         "couldn't find key k in Secret shop/creds"),
        ([], [{"secretRef": {"name": "gone"}}], 'secret "gone" not found'),
        ([{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}], [],
         "unsupported fieldPath"),
    ],
)  # fmt: skip
def test_missing_references_are_configuration_errors(
    env: list[dict[str, Any]], env_from: list[dict[str, Any]], message: str
) -> None:
    container = {"name": "main", "env": env, "envFrom": env_from}
    with pytest.raises(ConfigError, match=re.escape(message)):
        spec.resolve_env(_pod([container]), container, OBJECTS, ALLOCATABLE)


def test_field_and_resource_references() -> None:
    container = {
        "name": "main",
        "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "250m"}},
        "env": [
            {"name": n, "valueFrom": {"fieldRef": {"fieldPath": p}}}
            for n, p in [
                ("NAME", "metadata.name"), ("NS", "metadata.namespace"), ("UID", "metadata.uid"),
                ("NODE", "spec.nodeName"), ("SA", "spec.serviceAccountName"),
                ("IP", "status.podIP"), ("HOST", "status.hostIP"),
                ("APP", "metadata.labels['app']"), ("NOTE", "metadata.annotations['note']"),
                ("NONE", "metadata.labels['none']"),
            ]
        ]
        + [
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
            {"name": "REQ1", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
            {"name": "NOREQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory"}}},
        ],
    }  # fmt: skip
    env = spec.resolve_env(_pod([container]), container, Objects(), ALLOCATABLE)
    assert env == {
        "NAME": "web-1", "NS": "shop", "UID": "u-1", "NODE": "n1", "SA": "sa",
        "IP": "127.0.0.1", "HOST": "127.0.0.1", "APP": "web", "NOTE": "hi", "NONE": "",
        "MEM": "256", "CPU": "2", "REQ": "250", "REQ1": "1", "NOREQ": "0",
    }  # fmt: skip


def test_all_labels_render_as_the_downward_api_file() -> None:
    assert spec.field_value(_pod([]), "metadata.labels") == 'app="web"\ntier="front"\n'


def test_referenced_objects_cover_env_and_volumes() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "a"}}, {"secretRef": {"name": "b"}}],
        "env": [
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
            {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "d", "key": "k"}}},
            {"name": "Z", "value": "literal"},
        ],
    }
    volumes = [
        {"name": "v1", "configMap": {"name": "e"}},
        {"name": "v2", "secret": {"secretName": "f"}},
        {"name": "v3", "projected": {"sources": [{"configMap": {"name": "g"}}, {"secret": {"name": "h"}}]}},
        {"name": "v4", "emptyDir": {}},
    ]  # fmt: skip
    pod = _pod([container], volumes=volumes)
    assert spec.referenced_objects(pod) == ({"a", "c", "e", "g"}, {"b", "d", "f", "h"})


def test_undecodable_secret_bytes_survive_into_the_environment() -> None:
    container = {"env": [{"name": "RAW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}
    env = spec.resolve_env(_pod([container]), container, Objects(secrets={"s": {"k": b"\xff"}}), {})
    assert os.fsencode(env["RAW"]) == b"\xff"


# --- ports and probes -------------------------------------------------------------------


def test_worker_ports_are_remapped_to_free_ones() -> None:
    ports = iter([31000, 31001])
    overrides, remap = spec.worker_ports({"BRANDMON_HEALTH_PORT": "8080"}, lambda: next(ports))
    assert overrides == {"BRANDMON_HEALTH_PORT": "31000", "BRANDMON_METRICS_PORT": "31001"}
    assert remap == {8080: 31000, 9102: 31001}


def test_a_disabled_worker_port_stays_disabled() -> None:
    overrides, remap = spec.worker_ports(
        {"BRANDMON_HEALTH_PORT": "7000", "BRANDMON_METRICS_PORT": "0"}, lambda: 32000
    )
    assert overrides == {"BRANDMON_HEALTH_PORT": "32000"}
    assert remap == {7000: 32000}


WORKER = {
    "name": "notifier",
    "ports": [
        {"name": "health", "containerPort": 8080},
        {"name": "metrics", "containerPort": 9102},
    ],
}


def test_http_probes_follow_named_and_remapped_ports() -> None:
    manifest = {"httpGet": {"path": "/readyz", "port": "health"}, "periodSeconds": 10}
    probe = spec.probe(manifest, WORKER, {8080: 31000})
    assert probe is not None
    assert (probe.kind, probe.target) == ("http", "http://127.0.0.1:31000/readyz")
    assert (probe.period, probe.timeout, probe.failure_threshold) == (10, 1, 3)
    unmapped = spec.probe(
        {"httpGet": {"port": 9102, "path": "metrics", "scheme": "HTTPS"}}, WORKER, {}
    )
    assert unmapped is not None
    assert unmapped.target == "https://127.0.0.1:9102/metrics"


def test_tcp_exec_invalid_and_missing_probes() -> None:
    tcp = spec.probe({"tcpSocket": {"port": "metrics"}, "initialDelaySeconds": 5}, WORKER, {})
    assert tcp is not None
    assert (tcp.kind, tcp.target, tcp.initial_delay) == ("tcp", "127.0.0.1:9102", 5)
    command = spec.probe({"exec": {"command": ["true"]}, "successThreshold": 2}, WORKER, {})
    assert command is not None
    assert (command.kind, command.argv, command.success_threshold) == ("exec", ("true",), 2)
    invalid = spec.probe({"httpGet": {"port": "nope"}}, WORKER, {})
    assert invalid is not None
    assert invalid.kind == "invalid"
    assert spec.probe(None, WORKER, {}) is None
    assert spec.probe({"grpc": {"port": 1}}, WORKER, {}) is None


def test_container_ports_resolve_numbers_and_names() -> None:
    assert spec.container_port(WORKER, 80) == 80
    assert spec.container_port(WORKER, "81") == 81
    assert spec.container_port(WORKER, "metrics") == 9102
    assert spec.container_port(WORKER, "nope") is None


# --- volumes ----------------------------------------------------------------------------


def test_volumes_become_files() -> None:
    volumes = [
        {"name": "tmp", "emptyDir": {}},
        {"name": "conf", "configMap": {"name": "settings", "items": [{"key": "LEVEL", "path": "sub/level"}]}},
        {"name": "session", "secret": {"secretName": "creds", "defaultMode": 0o400,
                                       "items": [{"key": "TOKEN", "path": "session"}]}},
        {"name": "all", "secret": {"secretName": "creds"}},
        {"name": "host", "hostPath": {"path": "/srv/data"}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "main", "resource": "limits.memory", "divisor": "1Gi"}},
        ]}},
        {"name": "api", "projected": {"sources": [
            {"serviceAccountToken": {"path": "token"}},
            {"configMap": {"name": "settings", "items": [{"key": "URL", "path": "url"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
        ]}},
        {"name": "claim", "persistentVolumeClaim": {"claimName": "x"}},
        {"name": "maybe", "configMap": {"name": "absent", "optional": True}},
    ]  # fmt: skip
    pod = _pod([{"name": "main"}], volumes=volumes)
    planned = {v.name: v for v in spec.plan_volumes(pod, OBJECTS, ALLOCATABLE, token="tok")}
    assert planned["tmp"].files == {}
    assert planned["conf"].files == {"sub/level": (b"debug", 0o644)}
    assert planned["session"].files == {"session": (b"s3cret", 0o400)}
    assert set(planned["all"].files) == {"TOKEN", "KEY"}
    assert planned["host"].host_path == "/srv/data"
    assert planned["info"].files == {"name": (b"web-1", 0o644), "mem": (b"8", 0o644)}
    assert planned["api"].files == {
        "token": (b"tok", 0o644), "url": (b"http://x", 0o644), "namespace": (b"shop", 0o644),
    }  # fmt: skip
    assert planned["claim"].files == {}
    assert planned["maybe"].files == {}


@pytest.mark.parametrize(
    "volume",
    [
        {"name": "v", "configMap": {"name": "absent"}},
        {"name": "v", "secret": {"secretName": "absent"}},
        {"name": "v", "configMap": {"name": "settings", "items": [{"key": "nope", "path": "p"}]}},
        {
            "name": "v",
            "configMap": {"name": "settings", "items": [{"key": "LEVEL", "path": "../p"}]},
        },
        {"name": "v", "configMap": {"name": "settings", "items": [{"key": "LEVEL", "path": "/p"}]}},
    ],
)
def test_missing_or_unsafe_volume_sources_are_configuration_errors(volume: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        spec.plan_volumes(_pod([], volumes=[volume]), OBJECTS, ALLOCATABLE)


def test_mounts_are_exported_and_tmp_sets_tmpdir() -> None:
    container = {
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "instagram-session", "mountPath": "/var/run/brandmon/instagram"},
            {"name": "conf", "mountPath": "/etc/app/level", "subPath": "sub/level"},
            {"name": "unknown", "mountPath": "/x"},
        ]
    }
    directories = {
        "tmp": "/pod/volumes/tmp",
        "instagram-session": "/pod/volumes/s",
        "conf": "/pod/volumes/conf",
    }
    assert spec.mount_env(container, directories) == {
        "BRANDMON_NODE_MOUNT_TMP": "/pod/volumes/tmp",
        "TMPDIR": "/pod/volumes/tmp",
        "BRANDMON_NODE_MOUNT_INSTAGRAM_SESSION": "/pod/volumes/s",
        "BRANDMON_NODE_MOUNT_CONF": "/pod/volumes/conf/sub/level",
    }


# --- termination messages ---------------------------------------------------------------


def test_the_written_message_wins_and_is_capped() -> None:
    assert spec.termination_message(b"report", b"log\n", "FallbackToLogsOnError", 1) == "report"
    assert len(spec.termination_message(b"x" * 5000, b"", None, 0)) == 4096


def test_failed_processes_fall_back_to_their_logs_tail() -> None:
    log = b"".join(f"line {i}\n".encode() for i in range(100))
    message = spec.termination_message(b"", log, "FallbackToLogsOnError", 2)
    assert message.startswith("line 20\n")
    assert message.endswith("line 99\n")
    assert spec.termination_message(b"", log, "File", 2) == ""
    assert spec.termination_message(b"", log, "FallbackToLogsOnError", 0) == ""
    assert len(spec.log_tail(b"y" * 5000)) == 2048


# --- container and pod status -----------------------------------------------------------


def test_a_container_counts_restarts_and_keeps_its_last_run() -> None:
    container = Container("main", "img")
    assert container.manifest()["state"] == {"waiting": {"reason": "ContainerCreating"}}
    container.run("local://10", "local:///bin/x", started_at="T0")
    running = container.manifest()
    assert running["state"] == {"running": {"startedAt": "T0"}}
    assert (running["containerID"], running["restartCount"], running["started"]) == (
        "local://10",
        0,
        True,
    )
    first = Terminated.ended(1, "boom", "T0", "T1", "local://10")
    container.end(first)
    ended = container.manifest()
    assert ended["state"] == {"terminated": {
        "exitCode": 1, "reason": "Error", "message": "boom", "startedAt": "T0", "finishedAt": "T1",
        "containerID": "local://10",
    }}  # fmt: skip
    container.wait("CrashLoopBackOff", "back-off 1s")
    waiting = container.manifest()
    assert waiting["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1s"}}
    assert waiting["lastState"]["terminated"]["exitCode"] == 1
    assert "containerID" not in waiting
    container.run("local://11", "local:///bin/x", started_at="T2")
    assert container.restart_count == 1
    assert container.last == first


def test_exit_codes_of_signalled_processes() -> None:
    assert status.exit_code(0) == 0
    assert status.exit_code(3) == 3
    assert status.exit_code(-15) == 143
    assert status.exit_code(-9) == 137


def test_adopting_a_lost_running_container_counts_it_as_ended() -> None:
    previous = {
        "name": "main", "restartCount": 2, "containerID": "local://9",
        "state": {"running": {"startedAt": "T0"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
    }  # fmt: skip
    container = status.adopt("main", "img", previous, now="T9")
    assert container.state == "terminated"
    assert container.terminated == Terminated(
        137, "ContainerStatusUnknown", "the node agent restarted and lost the process",
        "T0", "T9", "local://9",
    )  # fmt: skip
    assert container.restart_count == 2
    assert container.last == Terminated(1, "Error")
    container.run("local://10", "x")
    assert container.restart_count == 3


def test_adopting_terminated_waiting_and_new_containers() -> None:
    done = status.adopt("c", "i", {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}})
    assert done.terminated == Terminated(0, "Completed")
    waiting = status.adopt("c", "i", {"state": {"waiting": {"reason": "ContainerCreating"}}})
    assert waiting.state == "waiting"
    assert status.adopt("c", "i", None) == Container("c", "i")


def _container(state: str, code: int = 0, last: bool = False) -> Container:
    container = Container("c", "i")
    if last:
        container.last = Terminated(code, "Error")
    if state == "running":
        container.run("id", "img")
    elif state == "terminated":
        container.end(Terminated(code, "Completed" if code == 0 else "Error"))
    return container


@pytest.mark.parametrize(
    ("policy", "states", "terminal", "phase"),
    [
        ("Always", [("waiting", 0, False)], False, "Pending"),
        ("Always", [("running", 0, False), ("waiting", 0, False)], False, "Pending"),
        ("Always", [("running", 0, False)], False, "Running"),
        ("Always", [("running", 0, False), ("terminated", 0, False)], False, "Running"),
        ("Always", [("terminated", 0, False)], False, "Running"),
        ("Always", [("waiting", 1, True)], False, "Running"),
        ("Always", [("terminated", 0, False)], True, "Succeeded"),
        ("Always", [("terminated", 143, False)], True, "Failed"),
        ("Never", [("terminated", 0, False), ("terminated", 0, False)], False, "Succeeded"),
        ("Never", [("terminated", 0, False), ("terminated", 1, False)], False, "Failed"),
        ("OnFailure", [("terminated", 0, False)], False, "Succeeded"),
        ("OnFailure", [("waiting", 1, True)], False, "Running"),
        ("OnFailure", [("terminated", 2, False)], False, "Running"),
        ("Never", [], False, "Pending"),
    ],
)  # fmt: skip
def test_pod_phase_follows_the_kubelet(
    policy: str, states: list[tuple[str, int, bool]], terminal: bool, phase: str
) -> None:
    containers = [_container(*s) for s in states]
    assert status.pod_phase(policy, containers, terminal) == phase


def test_conditions_name_unready_containers() -> None:
    ready, unready = Container("a", "i", ready=True), Container("b", "i")
    conditions = status.pod_conditions("Running", [ready, unready])
    assert conditions["Ready"] == (
        False,
        "ContainersNotReady",
        "containers with unready status: [b]",
    )
    assert conditions["ContainersReady"] == conditions["Ready"]
    assert conditions["PodScheduled"] == (True, "", "")
    assert status.pod_conditions("Running", [ready])["Ready"] == (True, "", "")
    assert status.pod_conditions("Succeeded", [ready])["Ready"] == (False, "PodCompleted", "")


def test_transition_times_move_only_on_a_change() -> None:
    before = {"Ready": {"type": "Ready", "status": "False", "lastTransitionTime": "T0"},
              "PodScheduled": {"type": "PodScheduled", "status": "True", "lastTransitionTime": "T-1"}}  # fmt: skip
    after = status.condition_manifests(
        {"Ready": (True, "", ""), "PodScheduled": (True, "", "")}, before, "T5"
    )
    assert after == [
        {"type": "Ready", "status": "True", "lastTransitionTime": "T5"},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "T-1"},
    ]


def test_pod_status_and_its_patch() -> None:
    tracker = status.PodStatus(start_time="T0")
    running = _container("running")
    running.ready = True
    built = tracker.build("Always", [running], now="T1")
    assert built["phase"] == "Running"
    assert (built["podIP"], built["hostIP"], built["startTime"]) == ("127.0.0.1", "127.0.0.1", "T0")
    assert built["podIPs"] == [{"ip": "127.0.0.1"}]
    assert {c["type"]: c["status"] for c in built["conditions"]}["Ready"] == "True"
    assert status.status_patch(None, built) == {"status": built}
    assert status.status_patch(built, tracker.build("Always", [running], now="T2")) is None
    running.ready = False
    changed = tracker.build("Always", [running], now="T3")
    assert status.status_patch(built, changed) == {"status": changed}
    ready = next(c for c in changed["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == "T3"


@pytest.mark.parametrize(
    ("policy", "code", "restart"),
    [("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 1, True),
     ("Never", 1, False), ("Never", 0, False)],
)  # fmt: skip
def test_restart_policies(policy: str, code: int, restart: bool) -> None:
    assert status.should_restart(policy, code) is restart


def test_backoff_doubles_to_its_cap_and_resets_after_a_long_run() -> None:
    backoff = Backoff()
    assert [backoff.delay(1) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay(600) == 1
    assert backoff.delay(0) == 2


def test_probe_thresholds() -> None:
    probe = spec.Probe("http", initial_delay=5, period=10, success_threshold=2, failure_threshold=2)
    tracker = ProbeTracker.start(probe, now=100)
    assert not tracker.due(104)
    assert tracker.due(105)
    assert tracker.record(ok=True, now=105) is None
    assert tracker.next_at == 115
    assert tracker.record(ok=True, now=115) is True
    assert tracker.record(ok=False, now=125) is True
    assert tracker.record(ok=False, now=135) is False
    assert tracker.record(ok=True, now=145) is False
    assert tracker.record(ok=True, now=155) is True


def test_times_are_rfc3339() -> None:
    assert status.rfc3339(0) == "1970-01-01T00:00:00Z"
    assert agent.micro_time(1.5) == "1970-01-01T00:00:01.500000Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status.rfc3339())


# --- the Node ---------------------------------------------------------------------------


def test_node_manifest_labels_and_taints() -> None:
    taint = agent.parse_taint("brandmon.io/test=n1:NoSchedule")
    node = agent.node_manifest("n1", {"team": "a"}, [taint])
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "n1"
    assert labels["team"] == "a"
    assert node["spec"] == {
        "unschedulable": False,
        "taints": [{"key": "brandmon.io/test", "value": "n1", "effect": "NoSchedule"}],
    }
    assert agent.node_manifest("n1", {})["spec"] == {"unschedulable": False}


@pytest.mark.parametrize("text", ["key", "key=value", "key:Sometimes", ":NoSchedule"])
def test_malformed_taints_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="KEY"):
        agent.parse_taint(text)


def test_taints_without_values() -> None:
    assert agent.parse_taint("dedicated:NoExecute") == {"key": "dedicated", "effect": "NoExecute"}


def test_node_status_is_ready_with_capacity_and_version() -> None:
    body = agent.node_status(
        "n1", capacity=ALLOCATABLE, kubelet_version="v1.34.4", kubelet_port=10250,
        ready_since="T0", now="T1",
    )  # fmt: skip
    node = body["status"]
    assert node["capacity"] == node["allocatable"] == ALLOCATABLE
    ready = next(c for c in node["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["lastHeartbeatTime"], ready["lastTransitionTime"]) == (
        "True",
        "T1",
        "T0",
    )
    assert node["addresses"] == [{"type": "InternalIP", "address": "127.0.0.1"}]
    assert node["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert node["nodeInfo"]["kubeletVersion"] == "v1.34.4"


def test_lease_is_owned_by_the_node() -> None:
    lease = agent.lease_manifest("n1", "uid-1", 40, now="T")
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"][0] == {
        "apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "uid-1",
    }  # fmt: skip
    assert lease["spec"] == {"holderIdentity": "n1", "leaseDurationSeconds": 40, "renewTime": "T"}


def test_grace_period_prefers_the_deletions() -> None:
    pod = _pod([], terminationGracePeriodSeconds=20)
    assert agent.grace_seconds(pod) == 20
    pod["metadata"]["deletionGracePeriodSeconds"] = 0
    assert agent.grace_seconds(pod) == 0
    assert agent.grace_seconds(_pod([])) == 30


def test_pod_directories(tmp_path: Path) -> None:
    settings = agent.Settings(state_dir=tmp_path)
    assert settings.pod_dir("ns", "p", "u") == tmp_path / "pods" / "ns_p_u"
    assert settings.name == "brandmon-local"


# --- logs -------------------------------------------------------------------------------

LOG = (
    b"--- main run 1: python -c x at T0 ---\n"
    b"first 1\nfirst 2\n"
    b"--- main run 2: python -c x at T1 ---\n"
    b"second 1\nsecond 2\nsecond 3\n"
)


def test_logs_are_served_per_run() -> None:
    assert logserver.runs(LOG) == [b"first 1\nfirst 2\n", b"second 1\nsecond 2\nsecond 3\n"]
    assert logserver.select(LOG) == b"second 1\nsecond 2\nsecond 3\n"
    assert logserver.select(LOG, previous=True) == b"first 1\nfirst 2\n"
    assert logserver.select(LOG, tail_lines=1) == b"second 3\n"
    assert logserver.select(LOG, tail_lines=0) == b""
    assert logserver.select(LOG, limit_bytes=4) == b"seco"
    assert logserver.select(LOG.split(b"--- main run 2")[0], previous=True) is None
    assert logserver.select(b"") is None
    assert logserver.runs(b"stray\n--- c run 1: x at T ---\nout\n") == [b"stray\n", b"out\n"]


def test_the_newest_pod_of_a_name_has_the_log(tmp_path: Path) -> None:
    old = tmp_path / "ns_web_uid1" / "main.log"
    new = tmp_path / "ns_web_uid2" / "main.log"
    for path in (old, new):
        path.parent.mkdir()
        path.write_bytes(b"x")
    os.utime(old, (time.time() - 60, time.time() - 60))
    assert logserver.find_log(tmp_path, "ns", "web", "main") == new
    assert logserver.find_log(tmp_path, "ns", "web", "other") is None
