"""A count-based sliding window of call outcomes, for rate-based circuit breaking."""

from __future__ import annotations


class OutcomeWindow:
    """Remember whether each of the last ``size`` calls failed and whether it was slow.

    Not thread-safe: the breaker updates it under its lock.
    """

    __slots__ = ("_failed", "_next", "_slow", "calls", "failures", "size", "slow_calls")

    _failed: list[bool]
    _slow: list[bool]
    _next: int
    calls: int
    failures: int
    slow_calls: int

    def __init__(self, size: int) -> None:
        self.size = size
        self.clear()

    def record(self, failed: bool, slow: bool) -> None:
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

    @property
    def failure_rate(self) -> float:
        """Return the share of recorded calls that failed (0 when empty)."""
        return self.failures / self.calls if self.calls else 0.0

    @property
    def slow_call_rate(self) -> float:
        """Return the share of recorded calls that were slow (0 when empty)."""
        return self.slow_calls / self.calls if self.calls else 0.0
