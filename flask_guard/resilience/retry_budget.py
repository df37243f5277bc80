"""A retry budget: retries may add only a share of the traffic, so they cannot cause a storm."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .. import validators


class RetryBudget:
    """A token bucket that every first attempt fills and every retry drains.

    Each first attempt deposits ``ratio`` tokens and each retry takes one, so retries add
    at most ``ratio`` (20% by default) on top of first attempts. The bucket also refills by
    ``min_retries_per_second`` so a quiet client can still retry, and holds at most
    ``max_tokens`` so a long calm spell does not bank a storm. Thread-safe.

    One budget, :data:`DEFAULT_BUDGET`, is shared by every
    :func:`~flask_guard.retry_with_backoff` in the process unless given another; give each
    dependency its own budget when one failing dependency should not use up another's.
    """

    def __init__(
        self,
        ratio: float = 0.2,
        min_retries_per_second: float = 1.0,
        max_tokens: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        validators.positive("ratio", ratio)
        validators.positive("max_tokens", max_tokens)
        validators.non_negative("min_retries_per_second", min_retries_per_second)
        self.ratio = ratio
        self.min_retries_per_second = min_retries_per_second
        self.max_tokens = max_tokens
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = max_tokens
        self._refilled_at = clock()

    @property
    def tokens(self) -> float:
        """The retries the budget would allow right now."""
        with self._lock:
            self._refill()
            return self._tokens

    def deposit(self) -> None:
        """Record a first attempt."""
        if self._tokens >= self.max_tokens:
            return  # full: the common case needs no lock
        with self._lock:
            self._tokens = min(self.max_tokens, self._tokens + self.ratio)

    def try_withdraw(self) -> bool:
        """Take one retry from the budget; return False (and take nothing) when it is empty."""
        with self._lock:
            self._refill()
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True

    def _refill(self) -> None:
        now = self._clock()
        earned = (now - self._refilled_at) * self.min_retries_per_second
        self._tokens = min(self.max_tokens, self._tokens + earned)
        self._refilled_at = now


#: The budget retries share unless given their own.
DEFAULT_BUDGET = RetryBudget()
