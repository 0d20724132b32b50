"""The ksqlDB client's view of live objects while another client's command lands."""

from __future__ import annotations

from typing import Any

import pytest

from brandmon_operator.ksqldb import KsqlDbClient
from brandmon_operator.queries import LiveObject

NAME = "BM_NS__ACME_SCORED_POSTS"


class LandingMidListing(KsqlDbClient):
    """A ksqlDB whose CTAS (sent by a client that died) completes after `lands_after` calls."""

    def __init__(self, lands_after: int) -> None:
        super().__init__("http://ksqldb.invalid")
        self.lands_after = lands_after
        self.answered = 0

    def execute(self, statement: str) -> list[dict[str, Any]]:
        landed = self.answered >= self.lands_after
        self.answered += 1
        if statement == "SHOW TABLES;":
            return [{"tables": [{"name": NAME, "type": "TABLE"}] if landed else []}]
        if statement == "SHOW STREAMS;":
            return [{"streams": []}]
        assert statement == "SHOW QUERIES;"
        query = {"id": "CTAS_1", "sinks": [NAME], "queryString": "CREATE TABLE ...",
                 "state": "RUNNING"}  # fmt: skip
        return [{"queries": [query] if landed else []}]


@pytest.mark.parametrize("lands_after", range(4))
def test_a_command_landing_mid_listing_never_shows_an_object_without_its_query(
    lands_after: int,
) -> None:
    found = LandingMidListing(lands_after).live_objects({NAME})
    # Either not there yet (created IF NOT EXISTS: a no-op), or there with its query
    # (adopted); never there without it (which the planner would drop and rebuild).
    assert found in ({}, {NAME: LiveObject(NAME, "TABLE", ("CTAS_1",), "CREATE TABLE ...")})
