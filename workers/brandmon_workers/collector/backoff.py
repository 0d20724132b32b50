"""Bounded retries: exponential backoff with jitter under one time budget per run.

Instagram throttles by answering 429 (or 401 "Please wait a few minutes"); the collector
waits and tries again, a few times, each wait longer. Every wait of a run, whether a retry
here or instaloader's own pacing, draws on one budget, so a run never spends more than a
bounded time asleep: once the budget is spent, operations fail fast and the next scheduled
run carries on where this one stopped (sent posts are remembered). A failure that says
when to come back (an HTTP 429 or 503 with Retry-After or a rate-limit reset, see
`collector.http`) is retried after exactly that wait, still drawn from the budget.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from brandmon_workers.collector.items import describe_error

log = logging.getLogger(__name__)
T = TypeVar("T")
_JITTER = random.SystemRandom().random


@dataclass(frozen=True)
class BackoffPolicy:
    """How long to wait before each retry, and how long a run may wait in total."""

    first_delay: float = 5.0
    """Wait before the first retry (before jitter)."""

    factor: float = 2.0
    """Growth of the wait per attempt."""

    max_delay: float = 180.0
    """Longest single wait (before jitter)."""

    max_attempts: int = 4
    """Attempts per operation, the first included."""

    budget: float = 600.0
    """Total seconds a run may spend waiting."""


def backoff_delay(policy: BackoffPolicy, retry: int, jitter: float) -> float:
    """Return the wait before retry number `retry` (1-based); `jitter` is uniform in [0, 1).

    The wait grows exponentially up to `max_delay` and is scaled into [50%, 100%] of it,
    so concurrent clients spread out but none retries almost at once.
    """
    base = min(policy.max_delay, policy.first_delay * policy.factor ** (retry - 1))
    return base * (0.5 + 0.5 * jitter)


class BackoffExhaustedError(Exception):
    """The run's waiting budget cannot cover a wait."""


class Retrier:
    """Run operations with retries, every wait drawn from one budget."""

    def __init__(
        self,
        policy: BackoffPolicy,
        retryable: Callable[[BaseException], bool],
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = _JITTER,
    ) -> None:
        self.policy = policy
        self._retryable = retryable
        self._sleep = sleep
        self._jitter = jitter
        self.waited = 0.0
        """Seconds waited so far."""

    @property
    def remaining(self) -> float:
        """Return the seconds of waiting left in the budget."""
        return max(0.0, self.policy.budget - self.waited)

    def next_delay(self, retry: int) -> float:
        """Return a jittered wait for retry number `retry`."""
        return backoff_delay(self.policy, retry, self._jitter())

    def wait(self, seconds: float, reason: str) -> None:
        """Sleep `seconds` from the budget; raise BackoffExhaustedError if it cannot cover it."""
        if seconds <= 0:
            return
        if seconds > self.remaining:
            raise BackoffExhaustedError(
                f"{reason}: waiting {seconds:.0f}s would exceed the run's backoff budget "
                f"({self.policy.budget:.0f}s, {self.remaining:.0f}s left)"
            )
        self.waited += seconds
        self._sleep(seconds)

    def call(self, what: str, action: Callable[[], T]) -> T:
        """Return action(), retrying retryable failures with backoff; re-raise the last one."""
        for attempt in range(1, self.policy.max_attempts + 1):
            try:
                return action()
            except Exception as error:
                if not self._retryable(error) or attempt == self.policy.max_attempts:
                    raise
                # The platform's own word on when to come back beats our guess.
                told = getattr(error, "retry_after", None)
                delay = float(told) if isinstance(told, int | float) else self.next_delay(attempt)
                log.warning(
                    "retrying after a transient failure",
                    extra={
                        "fields": {
                            "what": what,
                            "attempt": attempt,
                            "delay_seconds": round(delay, 1),
                            "error": describe_error(error),
                        }
                    },
                )
                try:
                    self.wait(delay, what)
                except BackoffExhaustedError as exhausted:
                    raise exhausted from error
        raise AssertionError("unreachable: the last attempt returns or raises")
