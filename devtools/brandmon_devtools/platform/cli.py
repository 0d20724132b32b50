"""`brandmon-platform`: the command behind `make platform-up`, `platform-down` and friends."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from brandmon_devtools.platform import build, pins, runtime


def _gomod() -> None:
    """Re-render the Go wrapper modules from versions.env and refresh their go.sum."""
    current = pins.load_pins()
    root = pins.repo_root() / "platform" / "go"
    env = build._go_env()  # noqa: SLF001 - same Go settings as the build itself
    info = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{current.kubernetes}"],
        env=env, check=True, capture_output=True, text=True, cwd=root / "kube",
    )  # fmt: skip
    kubernetes_gomod = Path(json.loads(info.stdout)["GoMod"]).read_text()
    staging = pins.staging_modules_from_gomod(kubernetes_gomod)
    (root / "kube" / "go.mod").write_text(pins.render_kube_gomod(current, staging))
    (root / "kube-node" / "go.mod").write_text(pins.render_kube_node_gomod(current, staging))
    (root / "etcd" / "go.mod").write_text(pins.render_etcd_gomod(current))
    (root / "helm" / "go.mod").write_text(pins.render_helm_gomod(current))
    (root / "kube-score" / "go.mod").write_text(pins.render_kube_score_gomod(current))
    for module in ("kube", "kube-node", "etcd", "helm", "kube-score"):
        subprocess.run(["go", "mod", "tidy"], env=env, check=True, cwd=root / module)
        print(f"rendered platform/go/{module}/go.mod")


def main(argv: list[str] | None = None) -> int:
    """Run one platform command."""
    parser = argparse.ArgumentParser(prog="brandmon-platform", description=__doc__)
    parser.add_argument(
        "--dir", type=Path, default=None, help="platform directory (default: <checkout>/.platform)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="build what is missing, start everything, write the env file")
    commands.add_parser("down", help="stop every process of the platform")
    commands.add_parser("status", help="show each component's health; exit 1 if any is down")
    build_cmd = commands.add_parser(
        "build", help="build and cache the binaries without starting anything"
    )
    build_cmd.add_argument(
        "--tools", action="store_true", help="also build the chart tools (helm, kube-score)"
    )
    commands.add_parser("gomod", help="re-render the Go wrapper modules from versions.env")
    args = parser.parse_args(argv)

    platform = runtime.Platform(args.dir.resolve()) if args.dir else None
    try:
        if args.command == "up":
            runtime.up(platform)
        elif args.command == "down":
            runtime.down(platform)
        elif args.command == "status":
            health = runtime.status(platform)
            for name, ok in health.items():
                print(f"{name:26} {'ready' if ok else 'DOWN'}")
            return 0 if all(health.values()) else 1
        elif args.command == "build":
            logs = (platform or runtime.Platform(runtime.default_dir())).logs
            print(build.ensure_all(pins.load_pins(), logs))
            if args.tools:
                print(build.ensure_tools(pins.load_pins(), logs))
        elif args.command == "gomod":
            _gomod()
    except (runtime.PlatformError, build.BuildError) as error:
        print(f"brandmon-platform: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
