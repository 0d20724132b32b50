"""The Dockerfile, checked without Docker (none runs on the project's machines).

A small parser (instructions, line continuations, comments, flags, exec form) and the
hadolint-like rules that matter for this image: pinned bases, a named builder stage whose
interpreter the runtime shares, a numeric non-root final user, no ADD of URLs, tidy apt-get,
no secret-looking ENV/ARG names, root-owned code, exec-form ENTRYPOINT, OCI labels, a
locked install with compiled bytecode, a .dockerignore that keeps local state out and the
sources in, and console scripts that exist for what the operator and chart run. Every rule
is shown to pass on the real Dockerfile and to fail on a copy broken in that one respect.
The kind end-to-end path (tests/e2e/kind) is the test of the built image itself.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from brandmon_operator import api, builders
from brandmon_operator.settings import OperatorSettings
from brandmon_workers.__main__ import ROLES

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"
CHART = ROOT / "charts" / "brandmon"

RUN_AS = str(builders.RUN_AS)
REQUIRED_LABELS = {
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
}
# Words that make an ENV or ARG name look like it carries a secret (baked into the image).
SECRET_WORDS = {
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "KEY",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
}
MUST_IGNORE = (".git", ".venv", ".platform")


# --- parser ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: keyword, flags (--name=value) and the rest of the line."""

    line: int
    keyword: str
    flags: dict[str, str]
    args: str

    def exec_form(self) -> list[str] | None:
        """Return the JSON array of an exec-form instruction, or None (shell form)."""
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        return None

    def pairs(self) -> dict[str, str]:
        """Return the key=value pairs of ENV, ARG or LABEL (ARG without default: empty)."""
        out = {}
        for word in shlex.split(self.args):
            key, _, value = word.partition("=")
            out[key] = value
        return out


@dataclass
class Stage:
    """One build stage: FROM image, optional name, and its instructions."""

    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions, joining continuations and dropping comments."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        # Comment lines are removed even in the middle of a continuation, as Docker does.
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        joined = " ".join(part for part in pending if part)
        pending = []
        keyword, _, rest = joined.partition(" ")
        flags: dict[str, str] = {}
        rest = rest.strip()
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            name, _, value = flag[2:].partition("=")
            flags[name] = value
            rest = rest.strip()
        instructions.append(Instruction(start, keyword.upper(), flags, rest))
    if pending:
        msg = f"line {start}: continuation runs past the end of the file"
        raise ValueError(msg)
    return instructions


def expand(text: str, values: dict[str, str]) -> str:
    """Replace $NAME and ${NAME} with their values; unknown names stay as they are."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), text)


def global_args(instructions: list[Instruction]) -> dict[str, str]:
    """Return the ARGs declared before the first FROM, with their (expanded) defaults."""
    found: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            found |= {k: expand(v, found) for k, v in instruction.pairs().items()}
    return found


def stages(instructions: list[Instruction]) -> list[Stage]:
    """Group instructions by FROM, whose ${ARG}s take their global defaults.

    A user's plain `docker build .` uses those defaults, so the rules check them.
    """
    defaults = global_args(instructions)
    found: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = expand(instruction.args, defaults).split()
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            found.append(Stage(words[0], name, []))
        elif found:
            found[-1].instructions.append(instruction)
    return found


# --- rules ---------------------------------------------------------------------------------

Rule = Callable[[list[Stage], str], list[str]]


def rule_bases_pinned(parsed: list[Stage], _: str) -> list[str]:
    """Every FROM names a tag (not latest) or a digest, or an earlier stage."""
    problems = []
    names = set()
    for stage in parsed:
        image = stage.image
        if image in names or image == "scratch" or "@sha256:" in image:
            pass
        elif ":" not in image.rsplit("/", 1)[-1]:
            problems.append(f"FROM {image}: no tag")
        elif image.rsplit(":", 1)[1] == "latest":
            problems.append(f"FROM {image}: latest is not a pin")
        if stage.name:
            names.add(stage.name)
    return problems


def rule_named_builder(parsed: list[Stage], _: str) -> list[str]:
    """Multi-stage: a stage named builder, and the final stage copies from it."""
    if len(parsed) < 2:
        return ["single stage: build tools would ship in the image"]
    if "builder" not in {s.name for s in parsed[:-1]}:
        return ["no stage named builder"]
    if not any(i.flags.get("from") == "builder" for i in parsed[-1].all("COPY")):
        return ["the final stage copies nothing from builder"]
    return []


def rule_same_base(parsed: list[Stage], _: str) -> list[str]:
    """The runtime shares the builder's base: the venv links to the builder's interpreter."""
    builder = next((s for s in parsed if s.name == "builder"), None)
    if builder is not None and builder.image != parsed[-1].image:
        return [f"builder {builder.image} and runtime {parsed[-1].image} differ"]
    return []


def rule_python_matches_project(parsed: list[Stage], _: str) -> list[str]:
    """The base image's Python is the one pyproject.toml requires."""
    required = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    minor = re.search(r">=\s*(3\.\d+)", required)
    assert minor is not None
    problems = []
    for stage in parsed:
        tag = stage.image.split("@")[0].rsplit(":", 1)[-1]
        if stage.image.startswith("python:") and not tag.startswith(minor.group(1) + "."):
            problems.append(f"FROM {stage.image}: pyproject requires {required}")
    return problems


def rule_numeric_user(parsed: list[Stage], _: str) -> list[str]:
    """The final USER is the numeric uid the operator's pods run as (runAsNonRoot needs it)."""
    users = parsed[-1].all("USER")
    if not users:
        return ["the final stage has no USER: it would run as root"]
    user, _, group = users[-1].args.partition(":")
    if user != RUN_AS or (group and group != RUN_AS):
        return [f"USER {users[-1].args}: expected {RUN_AS} (numeric, as builders.RUN_AS)"]
    return []


def rule_no_add_urls(parsed: list[Stage], _: str) -> list[str]:
    """ADD never fetches URLs (unverified downloads); COPY is for local files."""
    return [
        f"line {i.line}: ADD {i.args}"
        for s in parsed
        for i in s.all("ADD")
        if re.search(r"(https?|git)://|git@", i.args)
    ]


def rule_apt_get(parsed: list[Stage], _: str) -> list[str]:
    """apt-get install: -y, --no-install-recommends, and the lists removed in the same RUN."""
    problems = []
    for stage in parsed:
        for run in stage.all("RUN"):
            if "apt-get install" not in run.args:
                continue
            if "--no-install-recommends" not in run.args:
                problems.append(f"line {run.line}: apt-get install without --no-install-recommends")
            if not re.search(r"apt-get install[^&;]*\s-y\b|apt-get -y install", run.args):
                problems.append(f"line {run.line}: apt-get install without -y")
            if "rm -rf /var/lib/apt/lists" not in run.args:
                problems.append(f"line {run.line}: apt lists not removed in the same layer")
    return problems


def rule_no_secret_names(parsed: list[Stage], _: str) -> list[str]:
    """No ENV or ARG looks like a secret: both end up in the image's history."""
    problems = []
    for stage in parsed:
        for instruction in stage.all("ENV") + stage.all("ARG"):
            for name in instruction.pairs():
                if set(re.split(r"[_\W]+", name.upper())) & SECRET_WORDS:
                    problems.append(f"line {instruction.line}: {instruction.keyword} {name}")
    return problems


def rule_code_root_owned(parsed: list[Stage], _: str) -> list[str]:
    """The runtime user cannot change its code: no --chown/--chmod into the final stage."""
    return [
        f"line {i.line}: COPY --{flag}"
        for i in parsed[-1].all("COPY") + parsed[-1].all("ADD")
        for flag in ("chown", "chmod")
        if flag in i.flags
    ]


def rule_entrypoint(parsed: list[Stage], _: str) -> list[str]:
    """ENTRYPOINT is brandmon-worker in exec form (signals reach it; pods set only args)."""
    entrypoints = parsed[-1].all("ENTRYPOINT")
    if not entrypoints:
        return ["no ENTRYPOINT"]
    form = entrypoints[-1].exec_form()
    if form is None:
        return ["ENTRYPOINT in shell form: /bin/sh would get SIGTERM, not the worker"]
    if form != ["brandmon-worker"]:
        return [f"ENTRYPOINT {form}: the operator's pods set only args, the role"]
    cmds = parsed[-1].all("CMD")
    if cmds and cmds[-1].exec_form() is None:
        return ["CMD in shell form"]
    return []


def rule_oci_labels(parsed: list[Stage], _: str) -> list[str]:
    """OCI labels on the final image; version and revision come from build args."""
    labels: dict[str, str] = {}
    for instruction in parsed[-1].all("LABEL"):
        labels |= instruction.pairs()
    problems = [f"label {name} missing" for name in sorted(REQUIRED_LABELS - set(labels))]
    args = {name for i in parsed[-1].all("ARG") for name in i.pairs()}
    for label, arg in (("version", "VERSION"), ("revision", "REVISION")):
        value = labels.get(f"org.opencontainers.image.{label}", "")
        if f"${{{arg}}}" not in value or arg not in args:
            problems.append(f"label {label} is not the build arg {arg} of the final stage")
    return problems


def rule_locked_install(parsed: list[Stage], _: str) -> list[str]:
    """The builder installs from uv.lock (no dev, not editable) with the Makefile's uv."""
    makefile = (ROOT / "Makefile").read_text()
    pinned = re.search(r"^UV_VERSION\s*:=\s*(\S+)", makefile, re.MULTILINE)
    assert pinned is not None
    # One shell command per item: a RUN's commands split on && ; and |, without the keyword
    # of an if's branch in front.
    commands = [
        re.sub(r"^(?:then|else)\s+", "", c.strip())
        for s in parsed
        if s.name == "builder"
        for r in s.all("RUN")
        for c in re.split(r"&&|;|\|", r.args)
    ]
    runs = "\n".join(commands)
    problems = []
    if f"uv=={pinned.group(1)}" not in runs:
        problems.append(f"uv is not pinned to the Makefile's {pinned.group(1)}")
    syncs = [c for c in commands if c.startswith("uv sync")]
    final_sync = syncs[-1] if syncs else ""
    for flag in ("--locked", "--no-dev", "--no-editable"):
        if flag not in final_sync:
            problems.append(f"the last uv sync lacks {flag}")
    for pip in re.findall(r"pip (?:--python \S+ )?install (.*)", runs):
        words = pip.split()
        # Option values (a requirements file, the wheelhouse) and local paths are not packages.
        values = {words[i + 1] for i, w in enumerate(words[:-1]) if w in _PIP_VALUE_OPTIONS}
        problems += [
            f"pip install {w}: unpinned"
            for w in words
            if not w.startswith(("-", "/", ".")) and w not in values and "==" not in w
        ]
        if "--requirement" in words and not {"--no-index", "--require-hashes"} <= set(words):
            problems.append("the wheelhouse install lacks --no-index or --require-hashes")
    return problems


_PIP_VALUE_OPTIONS = {"--requirement", "-r", "--find-links", "-f", "--python"}


def rule_read_only_friendly(parsed: list[Stage], _: str) -> list[str]:
    """Bytecode compiled at build time, none written at run time; HOME and TMPDIR in /tmp."""
    builder_env = {k: v for s in parsed[:-1] for i in s.all("ENV") for k, v in i.pairs().items()}
    runs = " ".join(r.args for s in parsed[:-1] for r in s.all("RUN"))
    problems = []
    if builder_env.get("UV_COMPILE_BYTECODE") != "1" and "--compile-bytecode" not in runs:
        problems.append("bytecode is not compiled in the builder")
    env = {k: v for i in parsed[-1].all("ENV") for k, v in i.pairs().items()}
    if env.get("PYTHONDONTWRITEBYTECODE") != "1":
        problems.append("PYTHONDONTWRITEBYTECODE is not 1 in the final stage")
    for name in ("HOME", "TMPDIR"):
        if not env.get(name, "").startswith("/tmp"):
            problems.append(f"{name} is not under /tmp (the only writable path)")
    return problems


def rule_ports(parsed: list[Stage], _: str) -> list[str]:
    """EXPOSE documents the ports the worker containers declare."""
    exposed = {p for i in parsed[-1].all("EXPOSE") for p in i.args.split()}
    wanted = {str(builders.HEALTH_PORT), str(builders.METRICS_PORT)}
    return [f"port {p} not exposed" for p in sorted(wanted - exposed)]


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") or path == p
        for p in patterns
    )


def rule_dockerignore(parsed: list[Stage], ignore: str) -> list[str]:
    """Local state stays out of the context; every COPY source from it stays in."""
    patterns = [
        line.strip() for line in ignore.splitlines() if line.strip() and not line.startswith("#")
    ]
    problems = [
        f".dockerignore: {p} not excluded" for p in MUST_IGNORE if not _ignored(p, patterns)
    ]
    problems += [
        f".dockerignore: negation {p} is not understood here" for p in patterns if p.startswith("!")
    ]
    for stage in parsed:
        for copy in stage.all("COPY"):
            if "from" in copy.flags:
                continue
            for source in shlex.split(copy.args)[:-1]:
                if not (ROOT / source).exists():
                    problems.append(f"line {copy.line}: COPY {source}: no such path")
                elif _ignored(source, patterns):
                    problems.append(f"line {copy.line}: COPY {source}: excluded by .dockerignore")
    return problems


RULES: dict[str, Rule] = {
    "bases_pinned": rule_bases_pinned,
    "named_builder": rule_named_builder,
    "same_base": rule_same_base,
    "python_matches_project": rule_python_matches_project,
    "numeric_user": rule_numeric_user,
    "no_add_urls": rule_no_add_urls,
    "apt_get": rule_apt_get,
    "no_secret_names": rule_no_secret_names,
    "code_root_owned": rule_code_root_owned,
    "entrypoint": rule_entrypoint,
    "oci_labels": rule_oci_labels,
    "locked_install": rule_locked_install,
    "read_only_friendly": rule_read_only_friendly,
    "ports": rule_ports,
    "dockerignore": rule_dockerignore,
}

_APT = (
    "RUN apt-get update && apt-get install -y --no-install-recommends tini "
    "&& rm -rf /var/lib/apt/lists/*\n"
)

# One edit of the real Dockerfile (or .dockerignore) per rule that breaks only that rule.
# (old text, new text, which file). An old text that is gone fails the test, so the
# mutations follow the Dockerfile as it changes.
BREAKS: dict[str, tuple[str, str, str]] = {
    "bases_pinned": (
        "ARG BASE_IMAGE=python:3.11.14-slim-bookworm",
        "ARG BASE_IMAGE=python",
        "Dockerfile",
    ),
    "named_builder": ("COPY --from=builder /opt/brandmon", "COPY ./operator", "Dockerfile"),
    "same_base": (
        "FROM ${RUNTIME_IMAGE} AS runtime",
        "FROM python:3.11.14-slim-trixie AS runtime",
        "Dockerfile",
    ),
    "python_matches_project": (
        "FROM ${RUNTIME_IMAGE} AS runtime",
        "FROM python:3.12.12-slim-bookworm AS runtime",
        "Dockerfile",
    ),
    "numeric_user": ("USER 65532:65532", "USER brandmon", "Dockerfile"),
    "no_add_urls": (
        "WORKDIR /src\n",
        "WORKDIR /src\nADD https://example.com/uv.tar.gz /tmp/\n",
        "Dockerfile",
    ),
    "apt_get": (_APT, "RUN apt-get update && apt-get install tini\n", "Dockerfile+apt"),
    "no_secret_names": (
        "ARG REVISION=unknown",
        "ARG REVISION=unknown\nARG GITHUB_TOKEN",
        "Dockerfile",
    ),
    "code_root_owned": (
        "COPY --from=builder",
        "COPY --chown=65532:65532 --from=builder",
        "Dockerfile",
    ),
    "entrypoint": ('ENTRYPOINT ["brandmon-worker"]', "ENTRYPOINT brandmon-worker", "Dockerfile"),
    "oci_labels": (
        'org.opencontainers.image.revision="${REVISION}"',
        'org.opencontainers.image.revision="main"',
        "Dockerfile",
    ),
    "locked_install": ("--locked --no-dev --no-editable", "--no-dev --no-editable", "Dockerfile"),
    "read_only_friendly": ("PYTHONDONTWRITEBYTECODE=1", "PYTHONDONTWRITEBYTECODE=0", "Dockerfile"),
    "ports": ("EXPOSE 8080 9102", "EXPOSE 8080", "Dockerfile"),
    "dockerignore": ("\n.venv\n", "\n", ".dockerignore"),
}


def check(dockerfile: str, ignore: str) -> dict[str, list[str]]:
    """Return every rule's problems with a Dockerfile text and a .dockerignore text."""
    parsed = stages(parse(dockerfile))
    return {name: rule(parsed, ignore) for name, rule in RULES.items()}


def _real() -> tuple[str, str]:
    return DOCKERFILE.read_text(), DOCKERIGNORE.read_text()


# --- tests ---------------------------------------------------------------------------------


def test_parser_joins_continuations_and_skips_comments() -> None:
    text = (
        "# syntax comment\nFROM python:3.11.14-slim AS builder\n"
        "RUN a \\\n    # a comment inside the continuation\n    && b \\\n    && c\n"
        'COPY --from=builder --chown=1:1 /a /b\nENTRYPOINT ["x", "y"]\n'
    )
    parsed = parse(text)
    assert [(i.line, i.keyword) for i in parsed] == [
        (2, "FROM"),
        (3, "RUN"),
        (7, "COPY"),
        (8, "ENTRYPOINT"),
    ]
    assert parsed[1].args == "a && b && c"
    assert parsed[2].flags == {"from": "builder", "chown": "1:1"}
    assert parsed[2].args == "/a /b"
    assert parsed[3].exec_form() == ["x", "y"]
    with pytest.raises(ValueError, match="continuation"):
        parse("FROM x:1\nRUN a \\\n")


@pytest.mark.parametrize("name", sorted(RULES))
def test_the_dockerfile_follows_the_rule(name: str) -> None:
    assert check(*_real())[name] == []


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_the_rule_rejects_a_dockerfile_broken_in_that_respect(name: str) -> None:
    old, new, target = BREAKS[name]
    dockerfile, ignore = _real()
    if target == "Dockerfile+apt":
        # The image installs no OS packages; add a good apt-get line, then break it.
        dockerfile = dockerfile.replace("WORKDIR /src\n", "WORKDIR /src\n" + _APT)
        assert check(dockerfile, ignore)[name] == []
        target = "Dockerfile"
    if target == "Dockerfile":
        assert old in dockerfile, f"mutation for {name} no longer applies"
        dockerfile = dockerfile.replace(old, new, 1)
    else:
        assert old in ignore, f"mutation for {name} no longer applies"
        ignore = ignore.replace(old, new, 1)
    problems = check(dockerfile, ignore)
    assert problems[name], f"rule {name} accepted the broken file"
    others = {rule: found for rule, found in problems.items() if found and rule != name}
    # python_matches_project and same_base both see a changed runtime base; that is fine.
    assert set(others) <= {"same_base", "python_matches_project"} - {name}, others


def test_a_careless_dockerfile_breaks_most_rules() -> None:
    careless = (
        "FROM python:latest\n"
        "ADD https://example.com/app.tar.gz /app/\n"
        "RUN apt-get update && apt-get install curl\n"
        "ENV DB_PASSWORD=hunter2\n"
        "COPY --chown=1000 . /app\n"
        "USER root\n"
        "ENTRYPOINT python -m app\n"
    )
    failing = {name for name, found in check(careless, "").items() if found}
    assert failing >= {
        "bases_pinned", "named_builder", "numeric_user", "no_add_urls", "apt_get",
        "no_secret_names", "code_root_owned", "entrypoint", "oci_labels", "locked_install",
        "read_only_friendly", "ports", "dockerignore",
    }  # fmt: skip


def _console_scripts() -> dict[str, str]:
    scripts: dict[str, str] = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    return scripts


def test_worker_pods_set_only_a_role_for_the_image_entrypoint() -> None:
    """The operator's containers rely on the ENTRYPOINT: no command, args = [a known role]."""
    spec = api.BrandMonitorSpec.model_validate(
        {
            "brand": "Acme",
            "sources": [{"name": "r", "replay": {"s3Uri": "s3://bucket/p.jsonl"}}],
            "analysis": {"image": {"provider": "rekognition"}},
            "processing": {"engine": "builtin"},
        }
    )
    monitor = builders.Monitor("ns", "acme", "uid", 1, spec)
    containers = []
    for child in builders.desired_children(monitor, OperatorSettings()):
        template = child.get("spec", {}).get("template") or (
            child.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template")
        )
        if template:
            containers += template["spec"]["containers"]
    assert len(containers) == 6  # collector + five Deployments
    for container in containers:
        assert "command" not in container
        assert len(container["args"]) == 1
        assert container["args"][0] in ROLES
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    entrypoint = stages(parse(DOCKERFILE.read_text()))[-1].all("ENTRYPOINT")[-1].exec_form()
    assert entrypoint is not None
    assert entrypoint[0] in _console_scripts()


def test_commands_the_chart_runs_are_console_scripts() -> None:
    """brandmon-operator (the chart's command) and brandmon-worker exist in the wheel."""
    scripts = _console_scripts()
    assert scripts["brandmon-operator"] == "brandmon_operator.__main__:main"
    assert scripts["brandmon-worker"] == "brandmon_workers.__main__:main"
    # The chart is written alongside this image; every brandmon-* command it names must exist.
    used = set()
    for template in sorted(CHART.rglob("*.yaml")) + sorted(CHART.rglob("*.tpl")):
        used |= set(re.findall(r"\bbrandmon-(?:operator|worker|platform)\b", template.read_text()))
    assert used <= set(scripts), used - set(scripts)


@pytest.mark.parametrize("flag", [" --require-hashes", " --no-index"])
def test_the_wheelhouse_install_is_hash_checked_with_no_index(flag: str) -> None:
    dockerfile, ignore = _real()
    assert flag in dockerfile, f"mutation {flag!r} no longer applies"
    assert check(dockerfile.replace(flag, "", 1), ignore)["locked_install"]
