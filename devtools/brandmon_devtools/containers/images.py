"""The images brandmon builds locally, each tagged by a digest of what it was built from.

No container registry is reachable on the project's machines, and inside `docker build`
PyPI is reached only through a TLS-inspecting proxy the build does not trust. So:

- the Python base is a Debian bookworm root filesystem made by mmdebstrap from the host's
  own apt mirror, imported with `docker import`;
- the brandmon image's dependencies are resolved outside the build: uv.lock's runtime
  requirements with their hashes (`uv export`) and their wheels (`pip download`, checked
  against those hashes), plus the build backend's wheels, land in `wheelhouse/` in the
  build context, and the Dockerfile installs from there with no index.

A tag that exists is not built again: the images stay in Docker's store between runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from brandmon_devtools.platform import build, runtime
from brandmon_devtools.platform.pins import Pins, repo_root

BASE_SUITE = "bookworm"
# On top of Debian's essential set (no apt: nothing installs packages in the image): Python,
# pip and venv for the builder stage, what python:3.11-slim also has (time zones, CA
# certificates), libstdc++ (numpy's and scipy's wheels link it) and useradd.
BASE_PACKAGES = (
    "python3", "python3-venv", "python3-pip",
    "tzdata", "ca-certificates", "libstdc++6", "passwd",
)  # fmt: skip
# Documentation, manuals and translations are dead weight in an image; licences stay.
_DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
)
# What makes Debian's Python stand in for python:3.11-slim: the interpreter where the
# Dockerfile's virtual environment expects it, and pip allowed to install (only the
# builder stage does, into a virtual environment).
_BASE_HOOKS = (
    'ln -s /usr/bin/python3.11 "$1/usr/local/bin/python3.11"',
    'rm -f "$1/usr/lib/python3.11/EXTERNALLY-MANAGED"',
)
# The runtime base is the same root filesystem without what only the builder stage uses
# (pip, venv, setuptools and their kin: 28 MB), so both stages share one interpreter.
BUILDER_ONLY_PACKAGES = (
    "python3-pip", "python3-pip-whl", "python3-setuptools", "python3-setuptools-whl",
    "python3-pkg-resources", "python3-wheel", "python3-distutils", "python3-lib2to3",
    "python3-venv", "python3.11-venv",
)  # fmt: skip
_BASE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)
WHEELHOUSE = "wheelhouse"
_WHEELHOUSE_KEEP = "README.md"
_WHEELHOUSE_STAMP = ".inputs"
# The interpreter and C library of the image (Debian bookworm): wheels are picked for them,
# not for whatever machine runs the download.
IMAGE_PYTHON = "3.11"
IMAGE_GLIBC = (2, 36)
IMAGE_ARCH = "x86_64"
# The Dockerfile's context: what changes the image (see .dockerignore).
_IMAGE_INPUTS = (
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "uv.lock",
    "README.md",
    "operator",
    "workers",
    "devtools",
)


class ImageError(RuntimeError):
    """An image could not be built; the message names the step and its log."""


def _say(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def _logged(
    step: str, argv: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None
) -> None:
    """Run a long step with the platform build's runner: output to `log`, progress on stderr."""
    try:
        build._run_logged(step, argv, cwd, env or dict(os.environ), log)  # noqa: SLF001 - shared runner
    except build.BuildError as error:
        raise ImageError(str(error)) from error


def _digest(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:12]


# --- the host's apt mirror ------------------------------------------------------------------


@dataclass(frozen=True)
class AptSource:
    """One `deb` line: a mirror, a suite and its components."""

    uri: str
    suite: str
    components: tuple[str, ...]

    def line(self) -> str:
        """Return it as a one-line sources.list entry."""
        return f"deb {self.uri} {self.suite} {' '.join(self.components)}"


def parse_one_line_sources(text: str) -> list[AptSource]:
    """Parse sources.list (one-line format), skipping deb-src, options and comments."""
    found = []
    for raw in text.splitlines():
        line = re.sub(r"\[[^]]*\]", "", raw.split("#", 1)[0]).split()
        if len(line) >= 3 and line[0] == "deb":  # noqa: PLR2004 - deb, URI, suite
            found.append(AptSource(line[1], line[2], tuple(line[3:])))
    return found


def parse_deb822_sources(text: str) -> list[AptSource]:
    """Parse a .sources file (deb822 paragraphs), skipping disabled and deb-src entries."""
    found = []
    for paragraph in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for raw in paragraph.splitlines():
            if raw.startswith("#") or ":" not in raw:
                continue
            key, _, value = raw.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        components = tuple(fields.get("components", "").split())
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                found.append(AptSource(uri, suite, components))
    return found


def host_sources(apt_dir: Path = Path("/etc/apt")) -> list[AptSource]:
    """Return every enabled `deb` source this host's apt uses."""
    found = []
    if (apt_dir / "sources.list").is_file():
        found += parse_one_line_sources((apt_dir / "sources.list").read_text())
    for path in sorted((apt_dir / "sources.list.d").glob("*")):
        if path.suffix == ".list":
            found += parse_one_line_sources(path.read_text())
        elif path.suffix == ".sources":
            found += parse_deb822_sources(path.read_text())
    return found


def suite_sources(sources: Iterable[AptSource], suite: str) -> list[AptSource]:
    """Keep the sources of one Debian release (bookworm, bookworm-updates, -security)."""
    return [s for s in sources if s.suite == suite or s.suite.startswith(f"{suite}-")]


# --- the Python base image ------------------------------------------------------------------


@dataclass(frozen=True)
class BaseImages:
    """The two Python bases: the builder's (with pip and venv) and the runtime's (without)."""

    builder: str
    runtime: str


def mmdebstrap_argv(sources: list[AptSource], runtime: Path, builder: Path) -> list[str]:
    """Return the mmdebstrap command that makes both bases' root filesystems in one run.

    A customize hook archives the builder's tree, a second one purges the builder-only
    packages, and mmdebstrap writes what remains as the runtime's.
    """
    hooks = [
        *_BASE_HOOKS,
        f"tar --one-file-system --numeric-owner --exclude=./var/cache/apt "
        f'--exclude=./var/lib/apt/lists -C "$1" -cf {builder} .',
        f'chroot "$1" dpkg --purge {" ".join(BUILDER_ONLY_PACKAGES)}',
    ]
    return _mmdebstrap(sources, BASE_PACKAGES, runtime, hooks)


def _mmdebstrap(
    sources: list[AptSource],
    packages: tuple[str, ...],
    output: Path,
    hooks: list[str],
    essential_hooks: tuple[str, ...] = (),
) -> list[str]:
    """Return an mmdebstrap command: Debian's essential set plus `packages`, slimmed."""
    argv = [
        "mmdebstrap", "--variant=essential", "--mode=root", "--format=tar",
        "--aptopt=APT::Install-Recommends \"false\"",
        # usr-is-merged instead of usrmerge, which would pull in 46 MB of Perl.
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        f"--include={','.join(packages)}",
    ]  # fmt: skip
    argv += [f"--dpkgopt={option}" for option in _DPKG_OPTIONS]
    argv += [f"--essential-hook={hook}" for hook in essential_hooks]
    argv += [f"--customize-hook={hook}" for hook in hooks]
    return [*argv, BASE_SUITE, str(output), *(source.line() for source in sources)]


def base_image_tags(sources: list[AptSource]) -> BaseImages:
    """Return the bases' tags: the suite plus a digest of the whole recipe and its mirrors."""
    recipe = mmdebstrap_argv(sources, Path("runtime.tar"), Path("builder.tar"))
    tag = f"brandmon-python:{IMAGE_PYTHON}-{BASE_SUITE}-{_digest(*recipe, *_BASE_CHANGES)}"
    return BaseImages(builder=tag, runtime=f"{tag}-runtime")


def image_exists(docker: str, tag: str) -> bool:
    """Return whether Docker's store holds `tag`."""
    result = subprocess.run(
        [docker, "image", "inspect", "--format", "{{.Id}}", tag],
        capture_output=True, check=False,
    )  # fmt: skip
    return result.returncode == 0


def _apt_install(package: str) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        msg = f"`{package}` is missing; install it (Debian: apt-get install {package})"
        raise ImageError(msg)
    _say(f"installing {package} (apt-get)")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
    ):
        subprocess.run(argv, env=env, check=True, capture_output=True)


def ensure_base_images(docker: str, logs: Path) -> BaseImages:
    """Return the tags of the Python bases, building them from Debian packages if needed."""
    sources = suite_sources(host_sources(), BASE_SUITE)
    if not sources:
        msg = f"no {BASE_SUITE} source in /etc/apt: the base image needs a Debian mirror"
        raise ImageError(msg)
    tags = base_image_tags(sources)
    if image_exists(docker, tags.builder) and image_exists(docker, tags.runtime):
        return tags
    if shutil.which("mmdebstrap") is None:
        _apt_install("mmdebstrap")
    work = build.cache_dir() / "images"
    work.mkdir(parents=True, exist_ok=True)
    runtime, builder = work / "python-runtime.tar", work / "python-builder.tar"
    _say(f"building {tags.builder} with mmdebstrap from {sources[0].uri} (first time only)")
    changes = [word for change in _BASE_CHANGES for word in ("--change", change)]
    try:
        argv = mmdebstrap_argv(sources, runtime, builder)
        _logged("mmdebstrap", argv, work, logs / "build-base.log")
        for rootfs, tag in ((builder, tags.builder), (runtime, tags.runtime)):
            argv = [docker, "import", *changes, str(rootfs), tag]
            _logged("docker import", argv, work, logs / "import-base.log")
    finally:
        runtime.unlink(missing_ok=True)
        builder.unlink(missing_ok=True)
    return tags


# --- the wheelhouse -------------------------------------------------------------------------


def platform_tags(glibc: tuple[int, int] = IMAGE_GLIBC, arch: str = IMAGE_ARCH) -> list[str]:
    """Return the manylinux platform tags a wheel may carry to run on that glibc, newest first."""
    major, minor = glibc
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
    # The legacy names of manylinux_2_17, _2_12 and _2_5.
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    return tags + [f"{name}_{arch}" for m, name in legacy.items() if m <= minor]


def pip_download_argv(pip: Path, dest: Path, requirements: list[str]) -> list[str]:
    """Return a `pip download` of binary wheels for the image's Python, not this machine's."""
    argv = [
        str(pip), "download", "--quiet", "--only-binary=:all:", "--dest", str(dest),
        "--python-version", IMAGE_PYTHON, "--implementation", "cp",
        "--abi", f"cp{IMAGE_PYTHON.replace('.', '')}", "--abi", "abi3", "--abi", "none",
    ]  # fmt: skip
    for tag in [*platform_tags(), "any"]:
        argv += ["--platform", tag]
    return argv + requirements


def build_requirements(pyproject: str) -> list[str]:
    """Return the build backend's requirements (pyproject's build-system.requires)."""
    requires: list[str] = tomllib.loads(pyproject)["build-system"]["requires"]
    return requires


def wheelhouse_key(root: Path) -> str:
    """Return the digest of what the wheelhouse is made from."""
    return _digest(
        (root / "uv.lock").read_bytes(),
        *build_requirements((root / "pyproject.toml").read_text()),
        *pip_download_argv(Path("pip"), Path("-"), []),
    )


def default_uv(root: Path | None = None) -> Path:
    """Return the uv the Makefile installs (UV_VERSION, under the build cache)."""
    makefile = ((root or repo_root()) / "Makefile").read_text()
    pinned = re.search(r"^UV_VERSION\s*:=\s*(\S+)", makefile, re.MULTILINE)
    if pinned is None:
        msg = "the Makefile pins no UV_VERSION"
        raise ImageError(msg)
    return build.cache_dir() / f"uv-{pinned.group(1)}" / "bin" / "uv"


def ensure_wheelhouse(uv: Path, logs: Path, root: Path | None = None) -> Path:
    """Fill `wheelhouse/` with uv.lock's runtime wheels (hash-checked) and the build backend.

    `requirements.txt` in it (uv export: pinned, every hash) is what the Dockerfile looks for
    to install with no index.
    """
    root = root or repo_root()
    house = root / WHEELHOUSE
    stamp = house / _WHEELHOUSE_STAMP
    key = wheelhouse_key(root)
    if stamp.is_file() and stamp.read_text().strip() == key:
        return house
    _say(f"filling {house} from uv.lock (PyPI, outside the build)")
    for old in house.iterdir():
        if old.name != _WHEELHOUSE_KEEP:
            old.unlink()
    requirements = house / "requirements.txt"
    partial = house / "requirements.partial"
    pip = uv.parent / "pip"
    steps = [
        [
            str(uv), "export", "--locked", "--no-dev", "--no-emit-project", "--no-header",
            "--format", "requirements-txt", "--output-file", str(partial),
        ],
        pip_download_argv(pip, house, ["--no-deps", "--require-hashes", "-r", str(partial)]),
        pip_download_argv(pip, house, build_requirements((root / "pyproject.toml").read_text())),
    ]  # fmt: skip
    names = ("uv-export", "pip-download", "pip-download-backend")
    for step, argv in zip(names, steps, strict=True):
        _logged(step, argv, root, logs / f"wheelhouse-{step}.log")
    # Last: a wheelhouse interrupted half way has no requirements.txt and is not used.
    partial.rename(requirements)
    stamp.write_text(key + "\n")
    return house


# --- the brandmon image ---------------------------------------------------------------------


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def image_key(root: Path, bases: BaseImages, wheelhouse: Path) -> str:
    """Return the digest of the brandmon image's inputs: its bases, context and wheelhouse."""
    parts: list[str | bytes] = [bases.builder, bases.runtime]
    for name in _IMAGE_INPUTS:
        for path in _files(root / name):
            parts += [str(path.relative_to(root)), path.read_bytes()]
    stamp = wheelhouse / _WHEELHOUSE_STAMP
    parts.append(stamp.read_text() if stamp.is_file() else "no wheelhouse")
    return _digest(*parts)


def project_version(root: Path) -> str:
    """Return the version pyproject.toml declares."""
    version: str = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    return version


def ensure_brandmon_image(docker: str, bases: BaseImages, wheelhouse: Path, logs: Path) -> str:
    """Return the tag of the brandmon image for this checkout, building it if needed."""
    root = repo_root()
    version = project_version(root)
    tag = f"brandmon:{version}-{image_key(root, bases, wheelhouse)}"
    if image_exists(docker, tag):
        return tag
    revision = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    argv = [
        docker, "build", "--tag", tag, "--tag", "brandmon:dev",
        "--build-arg", f"BASE_IMAGE={bases.builder}",
        "--build-arg", f"RUNTIME_IMAGE={bases.runtime}",
        "--build-arg", f"VERSION={version}",
        "--build-arg", f"REVISION={revision or 'unknown'}",
        str(root),
    ]  # fmt: skip
    _say(f"building {tag} on {bases.runtime}")
    env = docker_build_env(docker)
    if env["DOCKER_BUILDKIT"] == "0":
        # The classic builder keeps a failed step's container unless told otherwise.
        argv.insert(2, "--force-rm")
    _logged("docker build", argv, root, logs / "build-image.log", env=env)
    return tag


def docker_build_env(docker: str) -> dict[str, str]:
    """Return the environment for `docker build`: BuildKit only where the client has it.

    Clients from Docker 23 on build through the buildx plugin and fail without it; the
    classic builder works with every client and daemon, so it is the fallback.
    """
    env = dict(os.environ)
    if "DOCKER_BUILDKIT" not in env:
        buildx = subprocess.run([docker, "buildx", "version"], capture_output=True, check=False)
        env["DOCKER_BUILDKIT"] = "1" if buildx.returncode == 0 else "0"
    return env


# --- Kafka and MinIO ------------------------------------------------------------------------

RUN_AS = 65532
KAFKA_PACKAGES = ("openjdk-17-jre-headless",)
# The platform's single-node KRaft settings, listening on every address of the container;
# KAFKA_* variables override them (platform/images/kafka-run).
KAFKA_SERVER_PROPERTIES = {
    "controller.quorum.voters": "1@localhost:9093",
    "listeners": "PLAINTEXT://:9092,CONTROLLER://:9093",
    "advertised.listeners": "PLAINTEXT://localhost:9092",
    "log.dirs": "/var/lib/kafka/data",
    **runtime.KAFKA_SINGLE_NODE,
}


def kafka_mmdebstrap_argv(
    sources: list[AptSource], jars: Path, config: Path, run: Path, output: Path
) -> list[str]:
    """Return the mmdebstrap command for the Kafka image's root filesystem.

    Debian's essential set and its headless JRE; hooks copy in the platform's jars, the
    configuration from `config` and the entry point `run`, and give uid 65532 the data
    directory.
    """
    hooks = [
        'mkdir -p "$1/opt/kafka/libs" "$1/opt/kafka/config" "$1/opt/kafka/bin" '
        '"$1/var/lib/kafka/data"',
        f'cp {jars}/*.jar "$1/opt/kafka/libs/"',
        f'cp {config}/server.properties {config}/log4j2.properties "$1/opt/kafka/config/"',
        f'install -m 0755 {run} "$1/opt/kafka/bin/kafka-run"',
        f'chown -R {RUN_AS}:{RUN_AS} "$1/var/lib/kafka"',
    ]
    # The JRE's postinst links its man pages with update-alternatives, which fails when the
    # directory is missing (man pages are excluded).
    man = 'mkdir -p "$1/usr/share/man/man1"'
    return _mmdebstrap(sources, KAFKA_PACKAGES, output, hooks, essential_hooks=(man,))


def _import(docker: str, rootfs: Path, tag: str, changes: list[str], logs: Path) -> None:
    words = [word for change in changes for word in ("--change", change)]
    _logged("docker import", [docker, "import", *words, str(rootfs), tag], rootfs.parent, logs)


def ensure_kafka_image(docker: str, pins: Pins, logs: Path) -> str:
    """Return the tag of the Kafka image, built from the platform's jars and a Debian JRE."""
    sources = suite_sources(host_sources(), BASE_SUITE)
    jars = build.ensure_kafka(pins, logs)
    run = repo_root() / "platform" / "images" / "kafka-run"
    properties = "".join(f"{k}={v}\n" for k, v in KAFKA_SERVER_PROPERTIES.items())
    # Placeholders for the paths: the same recipe in another checkout is the same image.
    recipe = kafka_mmdebstrap_argv(sources, Path("j"), Path("c"), Path("r"), Path("-"))
    key = _digest(*recipe, jars.name, properties, runtime.KAFKA_LOG4J, run.read_bytes())
    tag = f"brandmon-kafka:{pins.kafka}-{key}"
    if image_exists(docker, tag):
        return tag
    if shutil.which("mmdebstrap") is None:
        _apt_install("mmdebstrap")
    work = build.cache_dir() / "images" / "kafka"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "server.properties").write_text(properties)
    (work / "log4j2.properties").write_text(runtime.KAFKA_LOG4J)
    rootfs = work / "rootfs.tar"
    _say(f"building {tag} (Debian JRE + Kafka {pins.kafka} jars; first time only)")
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV HOME=/tmp",
        f"USER {RUN_AS}:{RUN_AS}",
        "WORKDIR /tmp",
        "EXPOSE 9092 9093",
        'ENTRYPOINT ["/opt/kafka/bin/kafka-run"]',
    ]
    try:
        argv = kafka_mmdebstrap_argv(sources, jars, work, run, rootfs)
        _logged("mmdebstrap kafka", argv, work, logs / "build-kafka-image.log")
        _import(docker, rootfs, tag, changes, logs / "import-kafka-image.log")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tag


def minio_rootfs(binary: Path, output: Path) -> None:
    """Write a root filesystem holding only the static MinIO binary, /tmp and /data."""
    with tarfile.open(output, "w") as tar:
        for name, mode in (("tmp", 0o1777), ("data", 0o755), ("usr", 0o755), ("usr/bin", 0o755)):
            entry = tarfile.TarInfo(name)
            entry.type, entry.mode = tarfile.DIRTYPE, mode
            if name == "data":
                entry.uid = entry.gid = RUN_AS
            tar.addfile(entry)
        entry = tar.gettarinfo(str(binary), arcname="usr/bin/minio")
        entry.uid = entry.gid = 0
        entry.uname = entry.gname = ""
        entry.mode = 0o755
        with binary.open("rb") as source:
            tar.addfile(entry, source)


def ensure_minio_image(docker: str, pins: Pins, logs: Path) -> str:
    """Return the tag of the MinIO image: the platform's MinIO binary and nothing else."""
    binary = build.ensure_minio(pins, logs)
    changes = [
        f"USER {RUN_AS}:{RUN_AS}",
        "ENV HOME=/tmp MINIO_BROWSER=off MINIO_UPDATE=off",
        "EXPOSE 9000",
        'ENTRYPOINT ["/usr/bin/minio"]',
        'CMD ["server", "/data", "--address", ":9000"]',
    ]
    tag = f"brandmon-minio:{pins.minio}-{_digest(binary.name, *changes)}"
    if image_exists(docker, tag):
        return tag
    work = build.cache_dir() / "images"
    work.mkdir(parents=True, exist_ok=True)
    rootfs = work / "minio-rootfs.tar"
    _say(f"building {tag} from {binary.name}")
    try:
        minio_rootfs(binary, rootfs)
        _import(docker, rootfs, tag, changes, logs / "import-minio-image.log")
    finally:
        rootfs.unlink(missing_ok=True)
    return tag
