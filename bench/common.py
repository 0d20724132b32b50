"""What every benchmark shares: the platform, topic sets, progress lines and result files."""

from __future__ import annotations

import json
import os
import platform as host
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic

from brandmon_devtools.platform import runtime
from brandmon_workers.contract.topics import TopicNames

RESULTS = Path(__file__).parent / "results"
_STARTED = time.monotonic()


def say(message: str) -> None:
    """Print a progress line to stderr, stamped with the seconds since the benchmark began."""
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


@contextmanager
def platform() -> Iterator[runtime.Platform]:
    """Use the platform of BRANDMON_PLATFORM_DIR if it runs, else start it and stop it after."""
    with runtime.running(runtime.Platform(runtime.default_dir())) as handle:
        yield handle


def client_env(handle: runtime.Platform) -> dict[str, str]:
    """Return the platform's client environment (KAFKA_BOOTSTRAP_SERVERS, KUBECONFIG, ...)."""
    state = handle.load_state()
    if state is None:
        raise SystemExit(f"no platform state in {handle.root}")
    return handle.client_env(state)


def create_topics(bootstrap: str, names: TopicNames, partitions: int) -> None:
    """Create every topic of a monitor's topic set."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [
        NewTopic(t, num_partitions=partitions, replication_factor=1) for t in names.all().values()
    ]
    for future in admin.create_topics(new).values():
        future.result(timeout=60)


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    """Delete topics (a benchmark leaves nothing behind)."""
    if not topics:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(topics, operation_timeout=60).values():
        future.result(timeout=120)


def machine() -> dict[str, Any]:
    """Return what the numbers depend on: CPUs, load, Python, when."""
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(load[0], 2),
        "python": host.python_version(),
        "system": f"{host.system()} {host.release()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def finish(name: str, parameters: dict[str, Any], results: dict[str, Any]) -> None:
    """Write bench/results/<name>.json and print the same as the final JSON line on stdout."""
    document = {
        "benchmark": name,
        "parameters": parameters,
        "results": results,
        "machine": machine(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, separators=(",", ":")), flush=True)


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of values (fraction in (0, 1])."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]
