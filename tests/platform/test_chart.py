"""The Helm chart: lint, kube-score, server-side dry-run and the CRD's keep policy.

helm and kube-score are built by `brandmon_devtools.platform.build.ensure_tools` (Go module
proxy, cached). kube-linter cannot be fetched here (the module proxy refuses it), so
kube-score is the manifest linter; its exceptions are in charts/brandmon/.kube-score-ignore,
one comment each.

The BrandMonitor CRD is cluster-scoped and shared by every test of the session (the
`brandmonitor_crd` fixture installs it), so the CRD template's keep policy is checked on a
copy of the chart whose CRD has a group of its own (`<unique>.brandmon.io`): a broken keep
policy can only delete that copy. Installing the chart for real, its operator running as a
pod under the chart's RBAC, upgraded and uninstalled, is tests/kind/test_chart.py's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from brandmon_devtools.platform import build, pins, runtime
from brandmon_operator import api
from brandmon_operator.api import KafkaConnection
from brandmon_operator.caps import Caps
from brandmon_operator.settings import ConnectionProfile, KafkaSasl, OperatorSettings, Resources
from tests.conftest import unique
from tests.platform.conftest import eventually

ROOT = pins.repo_root()
CHART = ROOT / "charts" / "brandmon"
Manifest = dict[str, Any]


@dataclass(frozen=True)
class Helm:
    """The built helm and kube-score, and an environment that keeps helm's files in a tmp dir."""

    helm: Path
    kube_score: Path
    env: dict[str, str]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run helm; a failure shows its output."""
        done = subprocess.run(
            [str(self.helm), *args],
            check=False,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and done.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done

    def template(self, *args: str) -> list[Manifest]:
        """Render the chart; return its objects."""
        rendered = self("template", "rel", str(CHART), "--namespace", "ops", *args).stdout
        return [doc for doc in yaml.safe_load_all(rendered) if doc]

    def score(self, manifests: str, ignore: list[str]) -> subprocess.CompletedProcess[str]:
        """Run kube-score on rendered manifests: non-zero on any warning or critical."""
        argv = [
            str(self.kube_score), "score", "--kubernetes-version", "v1.34",
            "--enable-optional-test", "container-seccomp-profile",
            "--enable-optional-test", "container-ports-check",
            "--exit-one-on-warning", "--output-format", "ci",
        ]  # fmt: skip
        for check in ignore:
            argv += ["--ignore-test", check]
        return subprocess.run(
            [*argv, "-"], check=False, input=manifests, capture_output=True, text=True
        )


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """helm and kube-score (built once, cached), with helm's state in a tmp dir."""
    home = tmp_path_factory.mktemp("helm")
    tools = build.ensure_tools(pins.load_pins(), home / "logs")
    env = dict(os.environ) | {
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    return Helm(tools.helm, tools.kube_score, env)


def _ignored_checks() -> list[str]:
    lines = (CHART / ".kube-score-ignore").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def _of_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind]


# Value sets that switch every template branch on at least once.
VARIANTS = {
    "defaults": [],
    "namespaced": ["--set", "watchNamespaces={brands,more-brands}",
                   "--set", "metrics.serviceMonitor.enabled=true"],
    "minimal": ["--set", "crds.install=false", "--set", "rbac.create=false",
                "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=existing"],
}  # fmt: skip


# --- rendering (no cluster needed) --------------------------------------------------------


def test_helm_reports_the_pinned_version(helm: Helm) -> None:
    assert helm("version", "--short").stdout.strip() == pins.load_pins().helm


@pytest.mark.parametrize("variant", VARIANTS)
def test_chart_passes_strict_lint(helm: Helm, variant: str) -> None:
    done = helm("lint", "--strict", str(CHART), *VARIANTS[variant])
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("bogus=1", "additional properties 'bogus' not allowed"),
        ("s3.secretAccessKey=abc", "additional properties 'secretAccessKey' not allowed"),
        ("resyncSeconds=often", "'/resyncSeconds': got string, want number"),
        ("image.pullPolicy=Sometimes", "'/image/pullPolicy': value must be one of"),
        ("watchNamespaces[0]=1", "'/watchNamespaces/0': got number, want string"),
    ],
)
def test_bad_values_fail_lint_and_template(helm: Helm, setting: str, complaint: str) -> None:
    lint = helm("lint", "--strict", str(CHART), "--set", setting, check=False)
    assert lint.returncode != 0
    assert complaint in lint.stdout + lint.stderr
    template = helm("template", "x", str(CHART), "--set", setting, check=False)
    assert template.returncode != 0
    assert complaint in template.stderr


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendered_manifests_pass_kube_score(helm: Helm, variant: str) -> None:
    manifests = helm("template", "rel", str(CHART), "-n", "ops", *VARIANTS[variant]).stdout
    done = helm.score(manifests, _ignored_checks())
    assert done.returncode == 0, done.stdout


def test_kube_score_exceptions_are_still_needed(helm: Helm) -> None:
    manifests = helm("template", "rel", str(CHART), "-n", "ops").stdout
    for check in _ignored_checks():
        others = [c for c in _ignored_checks() if c != check]
        done = helm.score(manifests, others)
        assert done.returncode != 0, f"{check} no longer fires: drop it from .kube-score-ignore"


def test_operator_environment_is_exactly_the_operator_settings(
    helm: Helm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {
        "image": {"repository": "registry.example/brandmon", "tag": "1.2.3",
                  "pullPolicy": "Always"},
        "kafka": {"bootstrapServers": "k1:9092,k2:9092",
                  "sasl": {"securityProtocol": "SASL_SSL", "username": "op",
                           "passwordSecret": {"name": "kafka-op", "key": "pw"}}},
        "ksqldb": {"url": "http://ksqldb:8088"},
        "s3": {"endpointUrl": "http://s3:9000", "bucket": "media", "region": "eu-west-1",
               "credentialsSecret": "s3-credentials",
               "allowedPrefixes": {"*": ["s3://shared/recordings/"]}},
        "operator": {"outbound": {"deadlineSeconds": 7, "maxResponseBytes": 2048,
                                  "failuresToPause": 4, "pauseSeconds": 45},
                     "endpointSlotsPerNamespace": 3},
        "topicPrefix": "acme",
        "resyncSeconds": 12.5,
        "workers": {"resources": {"requests": {"cpu": "100m", "memory": "200Mi"},
                                  "limits": {"cpu": 2, "memory": "1Gi"}}},
        "watchNamespaces": ["brands", "more-brands"],
        "connectionProfiles": {"eu": {"kafka": {"bootstrapServers": "kafka.eu:9092"},
                                      "namespaces": ["brands"]}},
        "allowCustomEndpoints": True,
        "caps": {"maxPartitions": None, "maxSources": 4},
    }  # fmt: skip
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    objects = helm.template("-f", str(tmp_path / "values.yaml"))
    (deployment,) = _of_kind(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    # The password only by reference; here the test fills it in, as Kubernetes would.
    (password,) = (e for e in container["env"] if "valueFrom" in e)
    assert password == {
        "name": "BRANDMON_OPERATOR_KAFKA_SASL_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "kafka-op", "key": "pw"}},
    }
    env[password["name"]] = "from-the-secret"
    prefix = OperatorSettings.model_config.get("env_prefix", "")
    assert set(env) == {prefix + name.upper() for name in OperatorSettings.model_fields}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert OperatorSettings() == OperatorSettings(
        kafka_bootstrap_servers="k1:9092,k2:9092", ksqldb_url="http://ksqldb:8088",
        kafka_sasl=KafkaSasl(security_protocol="SASL_SSL", username="op"),
        kafka_sasl_password="from-the-secret",
        s3_endpoint_url="http://s3:9000", s3_bucket="media", s3_region="eu-west-1",
        s3_credentials_secret="s3-credentials", topic_prefix="acme",
        worker_image="registry.example/brandmon:1.2.3", worker_image_pull_policy="Always",
        worker_resources=Resources(cpu_request="100m", memory_request="200Mi",
                                   cpu_limit="2", memory_limit="1Gi"),
        namespaces=["brands", "more-brands"], resync_seconds=12.5,
        s3_allowed_prefixes={"*": ["s3://shared/recordings/"]},
        outbound_deadline_seconds=7, outbound_max_response_bytes=2048,
        outbound_failures_to_pause=4, outbound_pause_seconds=45,
        endpoint_slots_per_namespace=3,
        connection_profiles={"eu": ConnectionProfile(
            kafka=KafkaConnection(bootstrap_servers="kafka.eu:9092"), namespaces=["brands"])},
        allow_custom_endpoints=True,
        # null lifts a cap although Helm drops null keys; the other caps keep their defaults
        caps=Caps(max_partitions=None, max_sources=4),
    )  # fmt: skip
    assert container["command"] == ["brandmon-operator"]
    assert container["image"] == "registry.example/brandmon:1.2.3"


def test_namespaced_mode_grants_namespaced_rules_only_in_the_listed_namespaces(
    helm: Helm,
) -> None:
    objects = helm.template("--set", "watchNamespaces={brands,more-brands}")
    roles = _of_kind(objects, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["brands", "more-brands"]
    assert sorted(b["metadata"]["namespace"] for b in _of_kind(objects, "RoleBinding")) == [
        "brands", "more-brands",
    ]  # fmt: skip
    (operator_role,) = [
        r for r in _of_kind(objects, "ClusterRole") if r["metadata"]["name"].endswith("-operator")
    ]
    assert [r["resources"] for r in operator_role["rules"]] == [
        ["customresourcedefinitions"], ["namespaces"],
    ]  # fmt: skip
    cluster_wide = helm.template()
    assert _of_kind(cluster_wide, "Role") == []
    (role,) = [
        r
        for r in _of_kind(cluster_wide, "ClusterRole")
        if r["metadata"]["name"].endswith("-operator")
    ]
    assert role["rules"][1:] == roles[0]["rules"]


def test_user_roles_aggregate_to_the_default_roles(helm: Helm) -> None:
    labels = {
        r["metadata"]["name"]: r["metadata"]["labels"]
        for r in _of_kind(helm.template(), "ClusterRole")
    }
    assert labels["rel-brandmon-editor"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert labels["rel-brandmon-viewer"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    off = helm.template("--set", "rbac.aggregateToDefaultRoles=false")
    assert not any(
        key.startswith("rbac.authorization.k8s.io/aggregate")
        for role in _of_kind(off, "ClusterRole")
        for key in role["metadata"]["labels"]
    )


# --- on the platform ----------------------------------------------------------------------


def _kubectl(platform: runtime.Platform, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [str(platform.bin / "kubectl"), "--kubeconfig", str(platform.kubeconfig), *args],
        check=False, input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_rendered_manifests_pass_server_side_dry_run(
    helm: Helm, platform: runtime.Platform, namespace: str, mode: str
) -> None:
    watch = ["--set", f"watchNamespaces={{{namespace}}}"] if mode == "namespaced" else []
    manifests = helm("template", "dry", str(CHART), "-n", namespace, *watch).stdout
    out = _kubectl(
        platform, "apply", "--server-side", "--dry-run=server", "--force-conflicts",
        "--field-manager=chart-dry-run", "-n", namespace, "-f", "-", stdin=manifests,
    )  # fmt: skip
    applied = [line for line in out.splitlines() if "(server dry run)" in line]
    assert len(applied) == len([d for d in yaml.safe_load_all(manifests) if d])


def _exists(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _crd_chart_copy(tmp_path: Path, group: str) -> Path:
    """Copy the chart with only its CRD template, renamed to `group`."""
    copy = tmp_path / "brandmon"
    shutil.copytree(CHART, copy)
    for template in (copy / "templates").iterdir():
        if template.name not in ("crd.yaml", "_helpers.tpl"):
            template.unlink()
    crd = (copy / "templates" / "crd.yaml").read_text()
    renamed = crd.replace(f"name: {api.PLURAL}.{api.GROUP}\n", f"name: {api.PLURAL}.{group}\n")
    renamed = renamed.replace(f"group: {api.GROUP}\n", f"group: {group}\n")
    assert renamed.count(group) == 2
    (copy / "templates" / "crd.yaml").write_text(renamed)
    return copy


def _established(kube: client.ApiClient, name: str) -> bool:
    try:
        status = client.ApiextensionsV1Api(kube).read_custom_resource_definition(name).status
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    conditions = (status.conditions if status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def test_crd_keep_policy_keeps_the_crd_and_monitors_on_uninstall(
    helm: Helm, platform: runtime.Platform, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    group = f"{unique('keep')}.{api.GROUP}"
    crd_name = f"{api.PLURAL}.{group}"
    chart = _crd_chart_copy(tmp_path, group)
    run = Helm(helm.helm, helm.kube_score, helm.env | {"KUBECONFIG": str(platform.kubeconfig)})
    extensions = client.ApiextensionsV1Api(kube)
    sample = yaml.safe_load((ROOT / "crds" / "samples" / "replay-builtin.yaml").read_text())
    sample["apiVersion"] = f"{group}/{api.VERSION}"
    try:
        run("install", "keep", str(chart), "-n", namespace, "--wait")
        eventually(lambda: _established(kube, crd_name), what="the CRD")
        time.sleep(1)  # discovery lags Established by a moment
        objects = client.CustomObjectsApi(kube)
        objects.create_namespaced_custom_object(group, api.VERSION, namespace, api.PLURAL, sample)
        run("uninstall", "keep", "-n", namespace, "--wait")
        assert _established(kube, crd_name)
        assert objects.get_namespaced_custom_object(
            group, api.VERSION, namespace, api.PLURAL, "northwind"
        )
        # The control: the same release with crds.keep=false adopts the kept CRD, and its
        # uninstall deletes it.
        run("install", "keep", str(chart), "-n", namespace, "--set", "crds.keep=false", "--wait")
        run("uninstall", "keep", "-n", namespace, "--wait")
        eventually(
            lambda: not _exists(lambda: extensions.read_custom_resource_definition(crd_name)),
            what="the CRD deleted",
        )
    finally:
        run("uninstall", "keep", "-n", namespace, "--ignore-not-found", check=False)
        with contextlib.suppress(ApiException):
            extensions.delete_custom_resource_definition(crd_name)


def test_installed_crd_is_the_generated_one(helm: Helm) -> None:
    (crd,) = _of_kind(helm.template(), "CustomResourceDefinition")
    from brandmon_operator.crd import build_crd  # noqa: PLC0415

    assert crd["spec"] == build_crd()["spec"]
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    (kept_off,) = _of_kind(helm.template("--set", "crds.keep=false"), "CustomResourceDefinition")
    assert "annotations" not in kept_off["metadata"]
    assert _of_kind(helm.template("--set", "crds.install=false"), "CustomResourceDefinition") == []
    assert crd["metadata"]["labels"]["app.kubernetes.io/part-of"] == "brandmon"
