"""`python -m brandmon_devtools.containers`: the commands behind `make docker` and `make image`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from brandmon_devtools.containers import docker, images
from brandmon_devtools.platform import build, pins, runtime


def main(argv: list[str] | None = None) -> int:
    """Run one command; print what it made (the docker client, or an image tag)."""
    parser = argparse.ArgumentParser(
        prog="python -m brandmon_devtools.containers", description=__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("docker", help="make a Docker daemon answer (install, start)")
    commands.add_parser("base", help="build the Python base images (Debian packages)")
    wheelhouse = commands.add_parser("wheelhouse", help="fill wheelhouse/ from uv.lock")
    image = commands.add_parser("image", help="build the brandmon image on the local base")
    commands.add_parser("kafka", help="build the Kafka image (platform jars, Debian JRE)")
    commands.add_parser("minio", help="build the MinIO image (the platform's binary)")
    for command in (wheelhouse, image):
        command.add_argument("--uv", type=Path, default=None, help="uv (default: the Makefile's)")
    args = parser.parse_args(argv)
    logs = runtime.Platform(runtime.default_dir()).logs
    uv = getattr(args, "uv", None) or images.default_uv()
    try:
        client = docker.ensure_docker() if args.command != "wheelhouse" else ""
        if args.command == "docker":
            print(client)
        elif args.command == "base":
            bases = images.ensure_base_images(client, logs)
            print(f"{bases.builder}\n{bases.runtime}")
        elif args.command == "wheelhouse":
            print(images.ensure_wheelhouse(uv, logs))
        elif args.command == "image":
            bases = images.ensure_base_images(client, logs)
            house = images.ensure_wheelhouse(uv, logs)
            print(images.ensure_brandmon_image(client, bases, house, logs))
        elif args.command == "kafka":
            print(images.ensure_kafka_image(client, pins.load_pins(), logs))
        elif args.command == "minio":
            print(images.ensure_minio_image(client, pins.load_pins(), logs))
    except (docker.DockerError, images.ImageError, build.BuildError) as error:
        print(f"containers: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
