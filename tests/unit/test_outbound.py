"""The guards of the operator's outbound calls, without I/O."""

from __future__ import annotations

import pytest

from brandmon_operator import outbound


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_failures_in_a_row_and_one_trial_decides() -> None:
    clock = Clock()
    breaker = outbound.CircuitBreaker(failures=3, cooldown_s=30.0, clock=clock)
    breaker.failed()
    breaker.failed()
    breaker.succeeded()  # a success resets the streak
    breaker.failed()
    breaker.failed()
    assert breaker.allow()
    breaker.failed()
    assert breaker.open
    assert not breaker.allow()
    clock.now += 29.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.allow()  # the one trial call
    assert not breaker.allow()  # and only one
    breaker.failed()  # the trial failed: open again for a full cool-down
    clock.now += 29.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.allow()
    breaker.succeeded()
    assert not breaker.open
    assert breaker.allow()
    assert breaker.allow()


def test_namespace_slots_refuse_at_once_when_taken_and_free_on_exit() -> None:
    slots = outbound.NamespaceSlots(per_namespace=2)
    with slots.slot("a"), slots.slot("a"):
        with pytest.raises(outbound.SlotsTaken, match="namespace a"), slots.slot("a"):
            pass
        with slots.slot("b"):  # another namespace is not affected
            pass
    with slots.slot("a"):  # released, also after an error inside
        pass
    with pytest.raises(ValueError, match="inside"), slots.slot("a"), slots.slot("a"):
        raise ValueError("inside")
    with slots.slot("a"), slots.slot("a"):
        pass


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:secret@ksqldb.example:8088/", "http://ksqldb.example:8088/"),
        ("https://token@[::1]:9/x?key=1#f", "https://[::1]:9/x"),
        ("http://ksqldb:8088", "http://ksqldb:8088"),
    ],
)
def test_urls_are_shown_without_credentials_or_queries(url: str, shown: str) -> None:
    assert outbound.safe_url(url) == shown


def test_only_http_urls_with_a_host_are_called() -> None:
    for url in ("file:///etc/passwd", "gopher://x/", "http:///nohost"):
        with pytest.raises(outbound.OutboundError, match="only http and https"):
            outbound.post(url, b"", {}, deadline_s=1.0, max_bytes=10)
