"""`brandmon-worker <role>`: run one pipeline worker.

Every worker is configured only by environment variables rendered by the operator. The
roles are listed in `ROLES`; each is implemented in its own module.
"""

from __future__ import annotations

import argparse
import sys

ROLES = ("collector", "text-analyzer", "image-analyzer", "aggregator", "notifier", "archiver")


def main(argv: list[str] | None = None) -> int:
    """Parse the role and run it."""
    parser = argparse.ArgumentParser(prog="brandmon-worker", description=__doc__)
    parser.add_argument("role", choices=ROLES)
    args = parser.parse_args(argv)
    print(f"brandmon-worker: role {args.role!r} is not implemented yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
