#!/usr/bin/python3
"""A runc wrapper for hosts whose capability bounding set lacks CAP_SYS_RESOURCE.

On such hosts runc cannot grant a capability it does not hold, so `docker run --privileged`
(what kind does for its nodes) fails with "unable to apply caps: operation not permitted".
`brandmon_devtools.containers.docker` registers this file as dockerd's default runtime, only
on those hosts: it removes CAP_SYS_RESOURCE from the capability lists of the OCI bundle's
config.json (create, run) or of the process spec (exec), then execs the real runc with the
same arguments. dockerd runs it with the system Python, so it uses the standard library
only and nothing else of brandmon.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

RUNC = "/usr/sbin/runc"
CAPABILITY = "CAP_SYS_RESOURCE"
# runc's global options that take a value; any other option before the command is a flag.
_GLOBAL_VALUE_OPTIONS = frozenset({"--root", "--log", "--log-format", "--criu", "--rootless"})


def strip_capability(process: dict[str, Any], capability: str = CAPABILITY) -> bool:
    """Remove `capability` from every list of an OCI process spec; return whether any changed."""
    lists = process.get("capabilities")
    if not isinstance(lists, dict):
        return False
    changed = False
    for kind, values in lists.items():
        if isinstance(values, list) and capability in values:
            lists[kind] = [value for value in values if value != capability]
            changed = True
    return changed


def split_command(args: list[str]) -> tuple[str | None, list[str]]:
    """Return runc's command (create, exec, ...) and the arguments after it."""
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("-"):
            return arg, args[index + 1 :]
        index += 2 if arg in _GLOBAL_VALUE_OPTIONS else 1
    return None, []


def option_value(args: list[str], long: str, short: str) -> str | None:
    """Return the value of an option given as `--name value`, `--name=value` or `-n value`."""
    for index, arg in enumerate(args):
        if arg in (long, short) and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(long + "="):
            return arg.split("=", 1)[1]
    return None


def spec_to_edit(args: list[str], cwd: Path) -> tuple[Path, bool] | None:
    """Return the JSON file this runc call reads capabilities from, and whether it is a bundle.

    create and run read `<bundle>/config.json` (the bundle defaults to the working
    directory); exec reads a process spec file. Other commands grant no capabilities.
    """
    command, rest = split_command(args)
    if command in ("create", "run"):
        bundle = option_value(rest, "--bundle", "-b")
        return (Path(bundle) if bundle else cwd) / "config.json", True
    if command == "exec":
        process = option_value(rest, "--process", "-p")
        if process:
            return Path(process), False
    return None


def rewrite(path: Path, *, bundle: bool) -> bool:
    """Strip the capability from the spec file in place; return whether it changed."""
    spec = json.loads(path.read_text())
    process = spec.get("process") if bundle else spec
    if not isinstance(process, dict) or not strip_capability(process):
        return False
    path.write_text(json.dumps(spec))
    return True


def main() -> None:
    """Rewrite the spec this call will read, then become runc."""
    args = sys.argv[1:]
    target = spec_to_edit(args, Path.cwd())
    if target is not None and target[0].is_file():
        rewrite(target[0], bundle=target[1])
    os.execv(RUNC, [RUNC, *args])  # noqa: S606 - the real runc, with the caller's arguments


if __name__ == "__main__":
    main()
