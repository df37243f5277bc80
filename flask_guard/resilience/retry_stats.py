"""What a :func:`~flask_guard.retry_with_backoff` function did: ``func.retry.statistics``."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .retry import RetryPolicy


@dataclass(frozen=True, slots=True)
class RetryStatistics:
    """A snapshot of one retried function's calls, taken at once (never half updated)."""

    calls: int
    """Calls finished."""
    attempts: int
    """Attempts in all, first ones included."""
    retries: int
    """Attempts beyond the first."""
    failures: int
    """Calls that ended raising."""
    waited: float
    """Seconds spent waiting between attempts, in all."""


class RetryRecord:
    """The ``retry`` attribute of a function decorated with
    :func:`~flask_guard.retry_with_backoff`: its policy and its statistics. Thread-safe:
    each call is counted once, whole, when it ends.
    """

    __slots__ = ("_attempts", "_calls", "_failures", "_lock", "_waited", "policy")

    def __init__(self, policy: RetryPolicy) -> None:
        #: The validated options of the decorator.
        self.policy = policy
        self._lock = threading.Lock()
        self._calls = self._attempts = self._failures = 0
        self._waited = 0.0

    @property
    def statistics(self) -> RetryStatistics:
        """The calls finished so far, their attempts, failures and waits."""
        with self._lock:
            calls, attempts = self._calls, self._attempts
            return RetryStatistics(calls, attempts, attempts - calls, self._failures, self._waited)

    def reset_statistics(self) -> None:
        """Start counting again from zero."""
        with self._lock:
            self._calls = self._attempts = self._failures = 0
            self._waited = 0.0

    def count(self, attempts: int, waited: float, failed: bool) -> None:
        """Count one finished call."""
        with self._lock:
            self._calls += 1
            self._attempts += attempts
            self._waited += waited
            if failed:
                self._failures += 1
