"""Fault tests: real components stopped, killed or fed bad input on purpose.

They share the session's platform; a test that stops a component through `outage` gets it
started again after the test even when the test fails, so later tests find it healthy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from brandmon_devtools.platform import runtime
from tests.platform.faults.support import FlakyReceiver


@pytest.fixture
def outage(platform: runtime.Platform) -> Iterator[Callable[..., None]]:
    """Stop a component (kill=True: SIGKILL, as a crash); restarted after the test if still down."""
    stopped: list[str] = []

    def stop(name: str, kill: bool = False) -> None:
        runtime.stop_component(platform, name, kill=kill)
        stopped.append(name)

    yield stop
    for name in stopped:
        if not runtime.status(platform)[name]:
            runtime.start_component(platform, name)


@pytest.fixture
def receiver() -> Iterator[FlakyReceiver]:
    """A local webhook receiver the test switches between ok, 500 and hang."""
    with FlakyReceiver() as running:
        yield running
