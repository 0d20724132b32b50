"""`python -m brandmon_devtools.node`: run the local node agent until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from kubernetes import client, config

from brandmon_devtools.node.agent import (
    DEFAULT_CAPACITY,
    DEFAULT_NAME,
    Agent,
    Settings,
    parse_taint,
)
from brandmon_devtools.node.spec import parse_entrypoint
from brandmon_devtools.platform import runtime


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        msg = f"expected KEY=VALUE, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return key, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m brandmon_devtools.node",
        description="Register a Node and run the Pods bound to it as local processes.",
    )
    parser.add_argument(
        "--kubeconfig", type=Path, default=None,
        help="admin kubeconfig (default: $KUBECONFIG, else the local platform's)",
    )  # fmt: skip
    parser.add_argument("--name", default=DEFAULT_NAME, help="Node name (default: %(default)s)")
    parser.add_argument(
        "--state-dir", type=Path, default=None,
        help="logs, termination messages and volumes (default: <platform dir>/nodes/<name>)",
    )  # fmt: skip
    parser.add_argument(
        "--entrypoint", action="append", default=[], metavar="IMAGE_PREFIX=COMMAND",
        help="run COMMAND (plus the container's args) for images starting with IMAGE_PREFIX",
    )  # fmt: skip
    parser.add_argument(
        "--label", action="append", default=[], type=_pair, metavar="KEY=VALUE",
        help="extra Node label (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--taint", action="append", default=[], metavar="KEY[=VALUE]:EFFECT",
        help="Node taint (repeatable): only Pods that tolerate it are scheduled here",
    )  # fmt: skip
    for resource, default in DEFAULT_CAPACITY.items():
        parser.add_argument(f"--{resource}", default=default, help=f"capacity (default: {default})")
    parser.add_argument(
        "--no-log-server", action="store_true",
        help="do not serve the kubelet log endpoint (kubectl logs)",
    )  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the agent until SIGTERM or SIGINT."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("urllib3").setLevel(logging.WARNING)
    platform_dir = runtime.default_dir()
    kubeconfig = args.kubeconfig or Path(
        os.environ.get("KUBECONFIG") or runtime.Platform(platform_dir).kubeconfig
    )
    try:
        entrypoints = tuple(parse_entrypoint(e) for e in args.entrypoint)
        taints = tuple(parse_taint(t) for t in args.taint)
    except ValueError as error:
        print(f"brandmon node: {error}", file=sys.stderr)
        return 2
    settings = Settings(
        state_dir=(args.state_dir or platform_dir / "nodes" / args.name).resolve(),
        name=args.name,
        labels=dict(args.label),
        taints=taints,
        capacity={r: getattr(args, r.replace("-", "_")) for r in DEFAULT_CAPACITY},
        entrypoints=entrypoints,
        serve_logs=not args.no_log_server,
    )
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)  # type: ignore[no-untyped-call]
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with client.ApiClient(configuration) as api:
        api.user_agent = f"brandmon-node/{settings.name}"
        Agent(api, settings).run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
