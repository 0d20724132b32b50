"""The pure parts of the container tooling: the runc wrapper's spec edits, the capability
check, dockerd's command line, the apt mirror parsing, the base image's recipe and tag, and
the wheelhouse's platform tags and key. tests/containers runs the real thing.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from brandmon_devtools.containers import bytecode, docker, images, runc_wrapper

ROOT = Path(__file__).resolve().parents[2]

# What the project's machines report (CAP_SYS_RESOURCE, bit 24, missing) and a full set.
STATUS_WITHOUT = "Name:\tpython3\nCapPrm:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\n"
STATUS_FULL = "Name:\tpython3\nCapBnd:\t000001ffffffffff\n"
CAPS = ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"]


def oci_config() -> dict[str, object]:
    """The part of a privileged container's config.json the wrapper reads."""
    kinds = ("bounding", "effective", "inheritable", "permitted", "ambient")
    return {
        "ociVersion": "1.0.2-dev",
        "process": {"args": ["/sbin/init"], "capabilities": {k: list(CAPS) for k in kinds}},
        "root": {"path": "rootfs"},
    }


# --- runc wrapper ---------------------------------------------------------------------------


def test_strip_capability_removes_it_from_every_list_and_keeps_the_rest() -> None:
    config = oci_config()
    process = config["process"]
    assert isinstance(process, dict)
    assert runc_wrapper.strip_capability(process) is True
    for values in process["capabilities"].values():
        assert values == ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"]
    assert runc_wrapper.strip_capability(process) is False
    assert runc_wrapper.strip_capability({"args": ["true"]}) is False


@pytest.mark.parametrize(
    ("args", "command", "rest"),
    [
        (["create", "--bundle", "/b", "id"], "create", ["--bundle", "/b", "id"]),
        # containerd's shim passes global options, some with values, before the command.
        (
            ["--root", "/run/runc", "--log", "/l.json", "--log-format", "json", "--systemd-cgroup",
             "create", "--bundle", "/b", "--pid-file", "/p", "id"],
            "create",
            ["--bundle", "/b", "--pid-file", "/p", "id"],
        ),
        (["--debug", "exec", "--process", "/p.json", "id"], "exec", ["--process", "/p.json", "id"]),
        (["--version"], None, []),
    ],
)  # fmt: skip
def test_split_command_skips_global_options(
    args: list[str], command: str | None, rest: list[str]
) -> None:
    assert runc_wrapper.split_command(args) == (command, rest)


def test_option_value_reads_every_spelling() -> None:
    assert runc_wrapper.option_value(["--bundle", "/b"], "--bundle", "-b") == "/b"
    assert runc_wrapper.option_value(["--bundle=/b"], "--bundle", "-b") == "/b"
    assert runc_wrapper.option_value(["-b", "/b", "id"], "--bundle", "-b") == "/b"
    assert runc_wrapper.option_value(["id"], "--bundle", "-b") is None
    assert runc_wrapper.option_value(["--bundle"], "--bundle", "-b") is None


def test_spec_to_edit_names_the_file_runc_reads_capabilities_from(tmp_path: Path) -> None:
    edit = runc_wrapper.spec_to_edit
    assert edit(["create", "--bundle", "/b", "id"], tmp_path) == (Path("/b/config.json"), True)
    assert edit(["--root", "/r", "run", "-b", "/b", "id"], tmp_path) == (
        Path("/b/config.json"),
        True,
    )
    # Without --bundle runc uses the working directory.
    assert edit(["create", "id"], tmp_path) == (tmp_path / "config.json", True)
    assert edit(["exec", "--process", "/p.json", "id"], tmp_path) == (Path("/p.json"), False)
    assert edit(["exec", "id", "true"], tmp_path) is None
    assert edit(["start", "id"], tmp_path) is None
    assert edit(["delete", "--force", "id"], tmp_path) is None


def test_rewrite_edits_a_bundle_config_and_a_process_spec_in_place(tmp_path: Path) -> None:
    bundle = tmp_path / "config.json"
    bundle.write_text(json.dumps(oci_config()))
    assert runc_wrapper.rewrite(bundle, bundle=True) is True
    rewritten = json.loads(bundle.read_text())
    assert "CAP_SYS_RESOURCE" not in json.dumps(rewritten)
    assert rewritten["root"] == {"path": "rootfs"}
    assert runc_wrapper.rewrite(bundle, bundle=True) is False

    process_file = tmp_path / "process.json"
    process = oci_config()["process"]
    process_file.write_text(json.dumps(process))
    assert runc_wrapper.rewrite(process_file, bundle=False) is True
    assert json.loads(process_file.read_text())["args"] == ["/sbin/init"]
    assert "CAP_SYS_RESOURCE" not in process_file.read_text()


def test_the_wrapper_uses_only_the_standard_library() -> None:
    """dockerd runs it with the system Python, outside brandmon's virtual environment."""
    source = Path(runc_wrapper.__file__).read_text()
    imports = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= {"__future__", "json", "os", "sys", "pathlib", "typing"}
    assert source.startswith("#!/usr/bin/python3\n")


# --- docker ---------------------------------------------------------------------------------


def test_bounding_set_has_reads_capbnd() -> None:
    assert docker.bounding_set_has(STATUS_WITHOUT, docker.CAP_SYS_RESOURCE) is False
    assert docker.bounding_set_has(STATUS_WITHOUT, 21) is True  # CAP_SYS_ADMIN
    assert docker.bounding_set_has(STATUS_FULL, docker.CAP_SYS_RESOURCE) is True
    with pytest.raises(ValueError, match="CapBnd"):
        docker.bounding_set_has("Name:\tx\n", 24)


def test_dockerd_gets_the_wrapper_as_default_runtime_only_when_given() -> None:
    plain = docker.dockerd_argv("/usr/sbin/dockerd", None)
    assert plain == ["/usr/sbin/dockerd"]
    wrapped = docker.dockerd_argv("/usr/sbin/dockerd", Path("/c/runc-wrapper"))
    assert wrapped == [
        "/usr/sbin/dockerd",
        "--add-runtime", "brandmon-runc=/c/runc-wrapper",
        "--default-runtime", "brandmon-runc",
    ]  # fmt: skip
    # --bridge none would delete the host's docker0.
    assert not any(arg.startswith("--bridge") for arg in plain + wrapped)


# --- the base image -------------------------------------------------------------------------

DEB822 = """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main

Types: deb
Enabled: no
URIs: http://old.example/debian
Suites: bookworm
Components: main
"""
ONE_LINE = """# comment
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib
deb-src http://mirror.example/debian bookworm main
deb https://deb.nodesource.com/node_20.x nodistro main
"""


def test_deb822_sources_keep_enabled_binary_entries() -> None:
    assert [s.line() for s in images.parse_deb822_sources(DEB822)] == [
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    ]


def test_one_line_sources_drop_options_and_deb_src() -> None:
    assert images.parse_one_line_sources(ONE_LINE) == [
        images.AptSource("http://mirror.example/debian", "bookworm", ("main", "contrib")),
        images.AptSource("https://deb.nodesource.com/node_20.x", "nodistro", ("main",)),
    ]


def test_host_sources_reads_both_formats_and_suite_sources_keeps_the_release(
    tmp_path: Path,
) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(ONE_LINE)
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "node.sources.disabled").write_text(DEB822)
    found = images.host_sources(tmp_path)
    assert len(found) == 5
    kept = images.suite_sources(found, "bookworm")
    assert {s.suite for s in kept} == {"bookworm", "bookworm-updates", "bookworm-security"}
    assert images.suite_sources(found, "trixie") == []


def test_the_base_recipe_uses_the_mirrors_and_makes_both_bases_in_one_run() -> None:
    sources = images.parse_deb822_sources(DEB822)
    argv = images.mmdebstrap_argv(sources, Path("/c/runtime.tar"), Path("/c/builder.tar"))
    assert argv[0] == "mmdebstrap"
    assert (
        "--include=python3,python3-venv,python3-pip,tzdata,ca-certificates,libstdc++6,passwd"
        in argv
    )
    assert argv[-5:] == ["bookworm", "/c/runtime.tar", *(s.line() for s in sources)]
    hooks = [a.split("=", 1)[1] for a in argv if a.startswith("--customize-hook=")]
    assert any("/usr/local/bin/python3.11" in hook for hook in hooks)
    assert any("EXTERNALLY-MANAGED" in hook for hook in hooks)
    # The builder's tree is archived before the builder-only packages are purged.
    archive = next(i for i, hook in enumerate(hooks) if "/c/builder.tar" in hook)
    purge = next(i for i, hook in enumerate(hooks) if "dpkg --purge" in hook)
    assert archive < purge
    assert "python3-pip " in hooks[purge]
    assert "python3.11 " not in hooks[purge] + " "


def test_the_base_tags_name_their_recipe() -> None:
    sources = images.parse_deb822_sources(DEB822)
    tags = images.base_image_tags(sources)
    assert tags.builder.startswith("brandmon-python:3.11-bookworm-")
    assert tags.runtime == f"{tags.builder}-runtime"
    assert tags == images.base_image_tags(list(sources))
    other = [images.AptSource("http://mirror.example/debian", "bookworm", ("main",))]
    assert images.base_image_tags(other).builder != tags.builder


# --- the wheelhouse -------------------------------------------------------------------------


def test_platform_tags_cover_every_manylinux_the_glibc_runs() -> None:
    tags = images.platform_tags((2, 36), "x86_64")
    assert tags[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_5_x86_64" in tags
    assert "manylinux_2_37_x86_64" not in tags
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux2014_x86_64" not in images.platform_tags((2, 12), "x86_64")


def test_pip_download_targets_the_image_not_this_machine() -> None:
    argv = images.pip_download_argv(Path("/pip"), Path("/w"), ["-r", "req.txt"])
    pairs = set(itertools.pairwise(argv))
    assert {("--python-version", "3.11"), ("--abi", "cp311"), ("--dest", "/w")} <= pairs
    assert ("--platform", "manylinux_2_36_x86_64") in pairs
    assert "--only-binary=:all:" in argv
    assert argv[-2:] == ["-r", "req.txt"]


def test_the_wheelhouse_key_follows_the_lock_file(tmp_path: Path) -> None:
    for name in ("uv.lock", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    key = images.wheelhouse_key(tmp_path)
    assert key == images.wheelhouse_key(ROOT)
    (tmp_path / "uv.lock").write_text((ROOT / "uv.lock").read_text() + "\n# changed\n")
    assert images.wheelhouse_key(tmp_path) != key
    assert images.build_requirements((ROOT / "pyproject.toml").read_text()) == ["hatchling>=1.27"]


def test_default_uv_is_the_makefiles(tmp_path: Path) -> None:
    assert images.default_uv(ROOT).parent.parent.name.startswith("uv-")
    (tmp_path / "Makefile").write_text("PYTHON ?= python3\n")
    with pytest.raises(images.ImageError, match="UV_VERSION"):
        images.default_uv(tmp_path)


# --- bytecode -------------------------------------------------------------------------------


def make_site(root: Path) -> Path:
    """A small site-packages: brandmon's own package, a library, kubernetes' client."""
    site = root / "site-packages"
    files = {
        "brandmon_workers/__init__.py": "",
        "brandmon_workers/rarely.py": "VALUE = 1\n",
        "lib/__init__.py": "",
        "lib/used.py": "def f() -> int:\n    return 2\n",
        "lib/unused.py": "X = 3\n",
        "kubernetes/__init__.py": "",
        "kubernetes/client/__init__.py": "from .models import Model\n",
        "kubernetes/client/models.py": "class Model:\n    pass\n",
    }
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    # Stale bytecode from the install, which the plan replaces.
    (site / "lib" / "__pycache__").mkdir()
    (site / "lib" / "__pycache__" / "unused.cpython-311.pyc").write_bytes(b"stale")
    return site


def test_bytecode_for_imported_and_own_modules_and_sourceless_kubernetes(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    imported = {site / "lib" / "__init__.py", site / "lib" / "used.py"}
    imported |= {
        site / "kubernetes" / "client" / "models.py",
        site / "brandmon_workers/__init__.py",
    }
    keep, sourceless = bytecode.plan(site, imported)
    assert keep == {site / "brandmon_workers/__init__.py", site / "brandmon_workers/rarely.py"}
    assert sourceless == {
        site / "lib/__init__.py",
        site / "lib/used.py",
        site / "kubernetes/client/__init__.py",
        site / "kubernetes/client/models.py",
    }

    bytecode.apply(site, keep, sourceless)
    compiled = {p.relative_to(site).as_posix() for p in site.rglob("*.pyc")}
    tag = sys.implementation.cache_tag
    assert compiled == {
        f"brandmon_workers/__pycache__/__init__.{tag}.pyc",
        f"brandmon_workers/__pycache__/rarely.{tag}.pyc",
        "lib/__init__.pyc",
        "lib/used.pyc",
        "kubernetes/client/__init__.pyc",
        "kubernetes/client/models.pyc",
    }
    sources = {p.relative_to(site).as_posix() for p in site.rglob("*.py")}
    assert sources == {
        "brandmon_workers/__init__.py",
        "brandmon_workers/rarely.py",
        "lib/unused.py",
        "kubernetes/__init__.py",
    }

    # The sourceless package still imports, from its bytecode alone.
    script = "import kubernetes.client as c, lib.used as u; print(c.Model.__name__, u.f())"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=site, capture_output=True, text=True, check=False,
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert result.stdout.strip() == "Model 2", result.stderr


# --- Kafka and MinIO ------------------------------------------------------------------------


def test_the_kafka_recipe_adds_the_jars_config_and_entry_point() -> None:
    sources = images.parse_deb822_sources(DEB822)
    argv = images.kafka_mmdebstrap_argv(
        sources, Path("/j"), Path("/c"), Path("/r/kafka-run"), Path("/o.tar")
    )
    assert "--include=openjdk-17-jre-headless" in argv
    assert '--essential-hook=mkdir -p "$1/usr/share/man/man1"' in argv
    hooks = " ".join(a for a in argv if a.startswith("--customize-hook="))
    assert 'cp /j/*.jar "$1/opt/kafka/libs/"' in hooks
    assert "/c/server.properties" in hooks
    assert 'install -m 0755 /r/kafka-run "$1/opt/kafka/bin/kafka-run"' in hooks
    assert 'chown -R 65532:65532 "$1/var/lib/kafka"' in hooks
    assert argv[-4:] == ["/o.tar", *(s.line() for s in sources)]
    properties = images.KAFKA_SERVER_PROPERTIES
    assert properties["log.dirs"].startswith("/var/lib/kafka/")
    assert properties["auto.create.topics.enable"] == "false"


def test_the_minio_rootfs_holds_the_binary_and_a_data_directory_for_65532(tmp_path: Path) -> None:
    binary = tmp_path / "minio-v1"
    binary.write_bytes(b"\x7fELF static")
    output = tmp_path / "rootfs.tar"
    images.minio_rootfs(binary, output)
    with tarfile.open(output) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"tmp", "data", "usr", "usr/bin", "usr/bin/minio"}
        assert members["tmp"].mode == 0o1777
        assert (members["data"].uid, members["data"].gid) == (65532, 65532)
        minio = members["usr/bin/minio"]
        assert (minio.uid, minio.mode) == (0, 0o755)
        extracted = tar.extractfile(minio)
        assert extracted is not None
        assert extracted.read() == b"\x7fELF static"
