"""`brandmon-operator`: run the kopf operator.

By default it watches every namespace; `--namespace` (repeatable) or
BRANDMON_OPERATOR_NAMESPACES restricts it to the listed ones (the Helm chart's
namespaced-RBAC mode).
"""

from __future__ import annotations

import argparse

import kopf

from brandmon_operator import handlers
from brandmon_operator.settings import OperatorSettings


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run the operator until it is signalled to stop."""
    parser = argparse.ArgumentParser(prog="brandmon-operator", description=__doc__)
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable; default: all namespaces)",
    )
    parser.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="liveness endpoint served by kopf (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    settings = OperatorSettings()
    namespaces = args.namespace or settings.namespaces
    kopf.configure(verbose=False)
    kopf.run(
        registry=handlers.make_registry(settings),
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=args.liveness,
        # One active replica (Recreate strategy); peering would only add API traffic.
        standalone=True,
    )


if __name__ == "__main__":
    main()
