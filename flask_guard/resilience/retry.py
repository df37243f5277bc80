"""``retry_with_backoff``: retry a flaky call, waiting as a :mod:`~flask_guard.waits` strategy
says (capped, jittered exponential backoff by default)."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from .. import validators
from ..errors.exceptions import (
    BulkheadFullError,
    CircuitOpenError,
    DeadlineExceeded,
    is_client_error,
)
from ..signals import retry_attempted, retry_exhausted, send_safely
from ..validators import ExceptionClasses
from .backoff import JITTERS, Jitter, retry_after_hint
from .request_budget import check_time_left
from .retry_budget import DEFAULT_BUDGET, RetryBudget
from .retry_log import log_retry
from .retry_stats import RetryRecord
from .waits import Wait, check_wait, from_jitter

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

Sleep = Callable[[float], object]


class Retried(Protocol[P, R_co]):
    """A function decorated with :func:`retry_with_backoff`; ``retry`` tells what it did."""

    retry: RetryRecord
    __name__: str
    __qualname__: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The validated options of one :func:`retry_with_backoff` decorator."""

    max_attempts: int
    base_delay: float
    max_delay: float
    max_time: float | None
    retry_on: ExceptionClasses
    retry_if_result: Callable[[Any], bool] | None
    jitter: Jitter
    budget: RetryBudget | None
    clock: Callable[[], float]
    wait: Wait | None
    waiting: Wait = field(init=False)
    """The strategy: ``wait`` if given, else the one ``base_delay``, ``max_delay`` and
    ``jitter`` describe."""

    def __post_init__(self) -> None:
        validators.whole_number("max_attempts", self.max_attempts)
        validators.delay("base_delay", self.base_delay)
        validators.delay("max_delay", self.max_delay)
        validators.optional_seconds("max_time", self.max_time)
        if self.jitter not in JITTERS:
            raise validators.invalid(
                "jitter", self.jitter, '"full", "equal", "decorrelated" or None', ValueError
            )
        validators.exception_classes("retry_on", self.retry_on, base=Exception)
        waiting = check_wait(self.wait) or from_jitter(
            self.base_delay, self.max_delay, self.jitter
        )
        object.__setattr__(self, "waiting", waiting)


class _Attempts:
    """The attempts of one call: decides whether and how long to wait before the next."""

    __slots__ = (
        "_budget_end",
        "_deadline",
        "_func",
        "_policy",
        "_previous",
        "_record",
        "_started",
        "_waited",
        "attempt",
    )

    def __init__(self, policy: RetryPolicy, func: Callable[..., Any], record: RetryRecord) -> None:
        left = check_time_left(f"calling {getattr(func, '__qualname__', func)!r}")
        self._policy = policy
        self._func = func
        now = policy.clock()
        self._started = now
        self._deadline = None if policy.max_time is None else now + policy.max_time
        # The request's budget, on the policy's clock.
        self._budget_end = None if left is None else now + left
        self._previous = 0.0
        self._waited = 0.0
        self._record = record
        self.attempt = 1
        if policy.budget is not None:
            policy.budget.deposit()

    def after_error(self, error: Exception) -> float | None:
        """Return the wait before retrying after ``error``, or None to re-raise it."""
        retryable = (
            isinstance(error, self._policy.retry_on)
            and not isinstance(error, CircuitOpenError | BulkheadFullError | DeadlineExceeded)
            and not is_client_error(error)
        )
        return self.next_delay(error) if retryable else None

    def after_result(self, result: object) -> float | None:
        """Return the wait before retrying after ``result``, or None to return it."""
        check = self._policy.retry_if_result
        return self.next_delay(None) if check is not None and check(result) else None

    def next_delay(self, error: BaseException | None) -> float | None:
        """Return the seconds to wait before the next attempt, or None to give up.

        Giving up adds a note to ``error`` saying how many attempts ran and why they stopped.
        """
        policy = self._policy
        if self.attempt >= policy.max_attempts:
            self._give_up(error, "no attempts left")
            return None
        hint = None if error is None else retry_after_hint(error)
        wanted = policy.waiting(self.attempt, self._previous) if hint is None else hint
        delay = min(wanted, policy.max_delay)
        now = policy.clock()
        if self._deadline is not None and now + delay > self._deadline:
            self._give_up(error, f"waiting would pass max_time={policy.max_time}s")
            return None
        # Another attempt is expected to take as long as the last one did.
        if self._budget_end is not None and now + delay + (now - self._started) > self._budget_end:
            self._give_up(error, "another attempt could not finish within the request's budget")
            return None
        if policy.budget is not None and not policy.budget.try_withdraw():
            self._give_up(error, "the retry budget is empty (too many retries lately)")
            return None
        send_safely(
            retry_attempted, self._func, attempt=self.attempt, delay=delay, exception=error
        )
        cause = "retry_if_result" if error is None else type(error).__name__
        log_retry(self._name(), self.attempt, policy.max_attempts, cause, delay)
        self.attempt += 1
        self._previous = delay
        self._waited += delay
        self._started = now + delay
        return delay

    def finish(self, failed: bool) -> None:
        """Count the call in its function's statistics."""
        self._record.count(self.attempt, self._waited, failed)

    def _name(self) -> str:
        return str(getattr(self._func, "__qualname__", self._func))

    def _give_up(self, error: BaseException | None, reason: str) -> None:
        if error is not None:
            plural = "" if self.attempt == 1 else "s"
            error.add_note(
                f"retry_with_backoff gave up after {self.attempt} attempt{plural}: {reason}"
            )
        send_safely(retry_exhausted, self._func, attempts=self.attempt, exception=error)


def retry_with_backoff(
    max_attempts: int = 3,
    base_delay: float = 0.1,
    max_delay: float = 10.0,
    max_time: float | None = None,
    retry_on: ExceptionClasses = (Exception,),
    retry_if_result: Callable[[Any], bool] | None = None,
    jitter: Jitter = "full",
    *,
    budget: RetryBudget | None = DEFAULT_BUDGET,
    sleep: Sleep | None = None,
    clock: Callable[[], float] = time.monotonic,
    wait: Wait | None = None,
) -> Callable[[Callable[P, R]], Retried[P, R]]:
    """Retry the decorated function (sync or async) when it raises, with backoff between tries.

    ::

        @retry_with_backoff(max_attempts=4, retry_on=(requests.ConnectionError,))
        def fetch_rates(): ...

    :param max_attempts: attempts in all, the first included.
    :param base_delay: the ceiling of the first wait, doubling after each attempt.
    :param max_delay: the most any single wait may be, whatever asked for it (``wait``
        or a retry-after hint).
    :param max_time: a deadline in seconds over all attempts: no wait runs past it.
        Inside a request with a budget (see :func:`~flask_guard.time_left`), no retry starts
        that could not finish within it (an attempt is expected to last as long as the one
        before), and a call made once the budget is spent raises
        :class:`~flask_guard.DeadlineExceeded` without running.
    :param retry_on: exception classes worth another attempt. :class:`CircuitOpenError`,
        :class:`~flask_guard.BulkheadFullError` and :class:`~flask_guard.DeadlineExceeded`
        are never retried.
    :param retry_if_result: ``retry_if_result(result)`` true asks for another attempt; when
        attempts run out the last result is returned.
    :param jitter: ``"full"``, ``"equal"``, ``"decorrelated"`` or None: the waits are then
        ``waits.Exponential(base_delay, jitter=jitter, maximum=max_delay)``, or
        ``waits.Decorrelated(base_delay, maximum=max_delay)``.
    :param budget: the :class:`RetryBudget` retries draw from (None: unlimited).
    :param sleep: the function that waits (``time.sleep`` / ``asyncio.sleep`` by default).
    :param clock: the time source for ``max_time``.
    :param wait: a :mod:`~flask_guard.waits` strategy, instead of ``base_delay`` and
        ``jitter``: ``wait=waits.Fixed(0.5)``.

    A failure that carries a retry-after hint (a ``retry_after`` attribute, or a requests
    ``HTTPError`` whose response has ``Retry-After``) waits that long instead, capped by
    ``max_delay``. When the attempts end, the last exception is re-raised unchanged, with a
    note saying how many attempts ran and why they stopped. Sends ``retry_attempted`` before
    each wait and ``retry_exhausted`` on giving up, and logs one INFO line per retry on the
    ``flask_guard.retry`` logger (attempt n of N, the wait, the cause, the request id).
    ``func.retry.statistics`` counts the calls, attempts, retries, failures and the time
    waited (a :class:`~flask_guard.resilience.retry_stats.RetryStatistics`).
    """
    policy = RetryPolicy(
        max_attempts,
        base_delay,
        max_delay,
        max_time,
        retry_on,
        retry_if_result,
        jitter,
        budget,
        clock,
        wait,
    )

    def decorate(func: Callable[P, Any]) -> Retried[P, Any]:
        record = RetryRecord(policy)
        if inspect.iscoroutinefunction(func):
            retried: Callable[P, Any] = _retry_async(policy, func, sleep, record)
        else:
            retried = _retry_sync(policy, func, sleep or time.sleep, record)
        retried.retry = record  # type: ignore[attr-defined]
        return cast("Retried[P, Any]", retried)

    return decorate


def _retry_sync(
    policy: RetryPolicy, func: Callable[P, R], sleep: Sleep, record: RetryRecord
) -> Callable[P, R]:
    @functools.wraps(func)
    def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        attempts = _Attempts(policy, func, record)
        while True:
            try:
                result = func(*args, **kwargs)
            except Exception as error:
                if (delay := attempts.after_error(error)) is None:
                    attempts.finish(failed=True)
                    raise
            else:
                if (delay := attempts.after_result(result)) is None:
                    attempts.finish(failed=False)
                    return result
            sleep(delay)

    return retried


def _retry_async(
    policy: RetryPolicy,
    func: Callable[P, Coroutine[Any, Any, R]],
    sleep: Sleep | None,
    record: RetryRecord,
) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(func)
    async def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        attempts = _Attempts(policy, func, record)
        while True:
            try:
                result = await func(*args, **kwargs)
            except Exception as error:
                if (delay := attempts.after_error(error)) is None:
                    attempts.finish(failed=True)
                    raise
            else:
                if (delay := attempts.after_result(result)) is None:
                    attempts.finish(failed=False)
                    return result
            await _wait(sleep, delay)

    return retried


async def _wait(sleep: Sleep | None, seconds: float) -> None:
    if sleep is None:
        import asyncio  # loaded by now: this runs in its event loop

        sleep = asyncio.sleep
    waited = sleep(seconds)
    if inspect.isawaitable(waited):
        await waited
