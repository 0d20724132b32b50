"""`python -m brandmon_devtools.kind`: the commands behind `make kind-node-image`, `kind-up`..."""

from __future__ import annotations

import argparse
import sys

from brandmon_devtools.containers import docker, images
from brandmon_devtools.kind import cluster, nodeimage
from brandmon_devtools.platform import build, pins, runtime


def main(argv: list[str] | None = None) -> int:
    """Run one command; print what it made (the kind binary, the image tag, the kubeconfig)."""
    parser = argparse.ArgumentParser(prog="python -m brandmon_devtools.kind", description=__doc__)
    parser.add_argument("--name", default=cluster.DEFAULT_NAME, help="the cluster's name")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("kind", help="build the pinned kind CLI; print its path")
    commands.add_parser("node-image", help="build the node image (or take KIND_NODE_IMAGE)")
    up = commands.add_parser("up", help="create the cluster (node image built if missing)")
    up.add_argument("--load", nargs="*", default=[], help="Docker images to load into the node")
    commands.add_parser("down", help="delete the cluster and put the host's sysctls back")
    args = parser.parse_args(argv)
    logs = runtime.Platform(runtime.default_dir()).logs
    current = pins.load_pins()
    try:
        if args.command == "kind":
            print(build.ensure_kind(current, logs))
            return 0
        client = docker.ensure_docker()
        if args.command == "node-image":
            print(nodeimage.ensure_node_image(client, current, logs))
            return 0
        handle = cluster.Cluster(args.name, build.ensure_kind(current, logs), client)
        if args.command == "up":
            handle.up(nodeimage.ensure_node_image(client, current, logs), tuple(args.load))
            print(handle.kubeconfig)
        elif args.command == "down":
            handle.down()
    except (
        docker.DockerError, images.ImageError, build.BuildError,
        nodeimage.NodeImageError, cluster.KindError,
    ) as error:  # fmt: skip
        print(f"kind: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
