"""Run `brandmon-operator` with its Kafka admin call counters written to a file.

`KafkaTopics.calls` counts every admin request the operator sends (the counter
tests/platform/test_kafka_topics.py asserts on). The operator keeps those objects to
itself, so the scale benchmark runs the operator through this wrapper: it notes every
KafkaTopics the operator creates and writes the sum of their counters as JSON to
`--counters` twice a second, and once more at exit. Nothing else changes.

    python -m bench.operator_probe --counters FILE -- [brandmon-operator arguments]
"""

from __future__ import annotations

import argparse
import atexit
import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from brandmon_operator import __main__ as operator_main
from brandmon_operator import kafka_admin

_INTERVAL_S = 0.5


def main() -> None:
    """Install the counting hook and run the operator."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counters", type=Path, required=True)
    parser.add_argument("operator_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    clients: list[kafka_admin.KafkaTopics] = []
    original = kafka_admin.KafkaTopics.__init__

    def init(self: kafka_admin.KafkaTopics, *a: Any, **kw: Any) -> None:
        original(self, *a, **kw)
        clients.append(self)

    kafka_admin.KafkaTopics.__init__ = init  # type: ignore[method-assign]

    def write() -> None:
        total: Counter[str] = Counter()
        for client in list(clients):
            total.update(client.calls)
        partial = args.counters.with_suffix(".tmp")
        partial.write_text(json.dumps(dict(total)))
        partial.replace(args.counters)

    def keep_writing() -> None:
        while True:
            write()
            time.sleep(_INTERVAL_S)

    threading.Thread(target=keep_writing, daemon=True).start()
    atexit.register(write)
    rest = args.operator_args[1:] if args.operator_args[:1] == ["--"] else args.operator_args
    operator_main.main(rest)


if __name__ == "__main__":
    main()
