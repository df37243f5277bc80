"""Sliding windows of call outcomes, for rate-based circuit breaking: the last N calls
(:class:`OutcomeWindow`), or the calls of the last N seconds (:class:`TimeWindow`)."""

from __future__ import annotations

import math


class _Counts:
    """What both windows count, and the rates the breaker judges."""

    __slots__ = ("calls", "failures", "size", "slow_calls")

    calls: int
    failures: int
    slow_calls: int

    def __init__(self, size: int) -> None:
        self.size = size
        self.clear()

    def clear(self) -> None:
        """Forget every outcome."""
        raise NotImplementedError

    @property
    def failure_rate(self) -> float:
        """Return the share of recorded calls that failed (0 when empty)."""
        return self.failures / self.calls if self.calls else 0.0

    @property
    def slow_call_rate(self) -> float:
        """Return the share of recorded calls that were slow (0 when empty)."""
        return self.slow_calls / self.calls if self.calls else 0.0


class OutcomeWindow(_Counts):
    """Remember whether each of the last ``size`` calls failed and whether it was slow.

    Not thread-safe: the breaker updates it under its lock.
    """

    __slots__ = ("_failed", "_next", "_slow")

    _failed: list[bool]
    _slow: list[bool]
    _next: int

    def record(self, failed: bool, slow: bool, now: float) -> None:
        """Add one outcome, forgetting the oldest once the window is full."""
        index = self._next
        if self.calls == self.size:
            self.failures -= self._failed[index]
            self.slow_calls -= self._slow[index]
        else:
            self.calls += 1
        self._failed[index] = failed
        self._slow[index] = slow
        self.failures += failed
        self.slow_calls += slow
        self._next = (index + 1) % self.size

    def clear(self) -> None:
        """Forget every outcome."""
        self._failed = [False] * self.size
        self._slow = [False] * self.size
        self._next = 0
        self.calls = 0
        self.failures = 0
        self.slow_calls = 0


class TimeWindow(_Counts):
    """Count the calls, failures and slow calls of the last ``size`` seconds.

    One bucket per second of the breaker's clock: an outcome is forgotten between ``size``
    and ``size + 1`` seconds after it was recorded. Not thread-safe either.
    """

    __slots__ = ("_calls_in", "_failures_in", "_second", "_slow_in")

    _calls_in: list[int]
    _failures_in: list[int]
    _slow_in: list[int]
    _second: float

    def clear(self) -> None:
        """Forget every outcome."""
        self._calls_in = [0] * self.size
        self._failures_in = [0] * self.size
        self._slow_in = [0] * self.size
        self._second = -math.inf
        self.calls = 0
        self.failures = 0
        self.slow_calls = 0

    def record(self, failed: bool, slow: bool, now: float) -> None:
        """Add one outcome at ``now``, forgetting those older than the window."""
        second = math.floor(now)
        if second > self._second:
            self._advance(second)
        else:  # a clock read before the last outcome's lands in its second
            second = int(self._second)
        index = second % self.size
        self._calls_in[index] += 1
        self._failures_in[index] += failed
        self._slow_in[index] += slow
        self.calls += 1
        self.failures += failed
        self.slow_calls += slow

    def _advance(self, second: int) -> None:
        """Empty the buckets of the seconds between the last outcome and ``second``."""
        if second - self._second >= self.size:
            self.clear()
            self._second = second
            return
        for passed in range(int(self._second) + 1, second + 1):
            index = passed % self.size
            self.calls -= self._calls_in[index]
            self.failures -= self._failures_in[index]
            self.slow_calls -= self._slow_in[index]
            self._calls_in[index] = self._failures_in[index] = self._slow_in[index] = 0
        self._second = second


#: Either window.
Window = OutcomeWindow | TimeWindow
