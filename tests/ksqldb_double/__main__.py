"""Run the ksqlDB double: `python -m tests.ksqldb_double --port N --kafka-bootstrap h:p`."""

from __future__ import annotations

from tests.ksqldb_double.server import main

raise SystemExit(main())
