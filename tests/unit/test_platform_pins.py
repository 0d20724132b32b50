"""versions.env is the one source of the platform's versions; the Go modules follow it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from brandmon_devtools.platform import pins
from brandmon_devtools.platform.runtime import Platform, State, _apiserver_ready, _kafka_cluster_id

ROOT = pins.repo_root()


def test_versions_env_parses_into_pins() -> None:
    current = pins.load_pins()
    assert re.fullmatch(r"v1\.(3[2-9]|[4-9]\d)\.\d+", current.kubernetes)
    assert current.kubernetes_staging == "v0" + current.kubernetes[2:]
    assert re.fullmatch(r"(3\.9|4\.\d+)\.\d+", current.kafka)


def test_bad_versions_line_names_the_line() -> None:
    with pytest.raises(ValueError, match="line 2: expected KEY=VALUE"):
        pins.parse_versions("A=1\nnot a pin\n")


def test_kube_wrapper_gomod_matches_versions_env() -> None:
    committed = (ROOT / "platform/go/kube/go.mod").read_text()
    staging = pins.staging_modules_in_wrapper(committed)
    # The staging set is derived from k8s.io/kubernetes' own go.mod by `brandmon-platform gomod`.
    assert {"k8s.io/api", "k8s.io/client-go", "k8s.io/apiserver", "k8s.io/kubectl"} <= set(staging)
    drift = pins.gomod_drift(committed, pins.render_kube_gomod(pins.load_pins(), staging))
    assert drift == [], "platform/go/kube/go.mod is stale: run `brandmon-platform gomod`"


def test_kube_node_wrapper_is_the_same_kubernetes_build() -> None:
    committed = (ROOT / "platform/go/kube-node/go.mod").read_text()
    staging = pins.staging_modules_in_wrapper(committed)
    kube = pins.staging_modules_in_wrapper((ROOT / "platform/go/kube/go.mod").read_text())
    assert staging == kube
    drift = pins.gomod_drift(committed, pins.render_kube_node_gomod(pins.load_pins(), staging))
    assert drift == [], "platform/go/kube-node/go.mod is stale: run `brandmon-platform gomod`"


def test_etcd_wrapper_gomod_matches_versions_env() -> None:
    committed = (ROOT / "platform/go/etcd/go.mod").read_text()
    drift = pins.gomod_drift(committed, pins.render_etcd_gomod(pins.load_pins()))
    assert drift == [], "platform/go/etcd/go.mod is stale: run `brandmon-platform gomod`"


def test_drift_detects_a_version_bump_not_yet_rendered() -> None:
    bumped = pins.Pins(**{**pins.load_pins().__dict__, "etcd": "v3.6.99"})
    committed = (ROOT / "platform/go/etcd/go.mod").read_text()
    assert pins.gomod_drift(committed, pins.render_etcd_gomod(bumped)) == [
        "require go.etcd.io/etcd/server/v3 v3.6.99"
    ]


def test_staging_modules_are_read_from_the_kubernetes_gomod() -> None:
    gomod = (
        "replace (\n"
        "\tk8s.io/api => ./staging/src/k8s.io/api\n"
        "\tk8s.io/client-go => ./staging/src/k8s.io/client-go\n"
        ")\n"
        "replace k8s.io/kube-openapi => k8s.io/kube-openapi v0.0.0\n"
    )
    assert pins.staging_modules_from_gomod(gomod) == ["k8s.io/api", "k8s.io/client-go"]


def test_kafka_cluster_id_has_kafkas_uuid_shape() -> None:
    # One random id in 64 would start with '-'; 2,000 draws miss that bug once in 10^14.
    ids = {_kafka_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids)


@pytest.mark.parametrize("content", [b"", b"-----BEGIN CERTIFICATE-----\nMIIB"])
def test_a_half_written_apiserver_certificate_means_not_ready_yet(
    tmp_path: Path, content: bytes
) -> None:
    platform = Platform(tmp_path)
    platform.ca_file.parent.mkdir(parents=True)
    platform.ca_file.write_bytes(content)  # the API server is still writing it
    state = State(ports={"kube-apiserver": 1}, admin_token="t", s3_access_key="a",
                  s3_secret_key="s")  # fmt: skip
    assert _apiserver_ready(platform, state) is False
