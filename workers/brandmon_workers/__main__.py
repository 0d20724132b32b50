"""`brandmon-worker <role>`: run one pipeline worker.

Every worker is configured only by BRANDMON_* environment variables that the operator
renders (`WorkerSettings`). `collector` runs once and exits (a CronJob), or with
`--stream` follows a streaming source until SIGTERM (a Deployment); the other roles
run until SIGTERM, then finish the batch in hand, flush, commit and exit.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from brandmon_workers import logs

ROLES = ("collector", "text-analyzer", "image-analyzer", "aggregator", "notifier", "archiver")


def main(argv: list[str] | None = None) -> int:
    """Parse the role and run it."""
    parser = argparse.ArgumentParser(prog="brandmon-worker", description=__doc__)
    parser.add_argument("role", choices=ROLES)
    parser.add_argument(
        "--stream",
        action="store_true",
        help="collector only: follow a streaming source (bluesky) until SIGTERM",
    )
    args = parser.parse_args(argv)
    logs.setup()
    if args.role == "collector":
        from brandmon_workers.collector import run  # noqa: PLC0415 - instaloader: collector only

        return run.main(stream=args.stream)

    from brandmon_workers import roles  # noqa: PLC0415
    from brandmon_workers.contract.settings import WorkerSettings  # noqa: PLC0415

    settings = WorkerSettings()  # every field comes from the environment
    worker = roles.build(args.role, settings)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
