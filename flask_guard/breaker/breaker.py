"""``CircuitBreaker``: stop calling what keeps failing, and probe it gently when it may be back.

This module is the call path: admission, the protected call, and the report of its outcome.
The rules live in :mod:`flask_guard.breaker_states`, the state in a storage
(:mod:`flask_guard.storage`). No lock is ever held while the protected call runs; a call in
the closed state with consecutive counting takes none at all unless it fails, or succeeds
right after a failure, and an open breaker rejects without one.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast, overload

from ..errors.exceptions import CircuitOpenError
from ..signals import (
    breaker_call_failed,
    breaker_call_rejected,
    breaker_call_succeeded,
    breaker_state_changed,
    breaker_storage_degraded,
    send_safely,
)
from ..storage import BreakerHooks, BreakerStorage, MemoryStorage, Remote, RemoteAdmission
from .async_calls import AsyncCalls
from .block import BlockGuard, settled
from .policy import BreakerPolicy, CircuitState, ExceptionClasses
from .states import ForcedOpen, Open, Permit, Transition
from .stats import BreakerStats as BreakerStats

_log = logging.getLogger("flask_guard.breaker")

P = ParamSpec("P")
R = TypeVar("R")

Admission = Permit | CircuitOpenError
_MEMORY = MemoryStorage()
#: The defaults, the one source for the signature below and the policy.
DEFAULT_POLICY = BreakerPolicy()


class CircuitBreaker(BlockGuard, AsyncCalls):
    """A thread-safe circuit breaker for sync and async callables.

    Closed, it runs every call and counts failures: ``failure_threshold`` consecutive ones,
    or, with ``window_size``, a failure rate of ``failure_rate_threshold`` (and/or a slow-call
    rate of ``slow_call_rate_threshold`` for calls lasting ``slow_call_duration`` seconds or
    more) over the last ``window_size`` calls, or with ``window_duration`` over the calls of
    the last ``window_duration`` seconds, once ``minimum_calls`` are recorded (10 by default
    for a time window). Then it
    opens: calls fail at once with :class:`CircuitOpenError` for ``recovery_timeout``
    seconds. Then it is half-open: at most ``half_open_max_calls`` concurrent trial calls run
    and every other caller is rejected at once; ``success_threshold`` successful trials close
    it, and any failed trial opens it again for a new ``recovery_timeout``. A trial's permit
    is a lease that expires after ``recovery_timeout``: a trial that hangs frees its permit.

    An exception counts as a failure if it is an instance of ``failure_on``, not of
    ``ignore``, and ``is_failure(exc)`` (when given) is true; any other exception passes
    through uncounted, as do client errors (4xx). A :class:`BaseException` that is not an
    :class:`Exception` (cancellation, ``KeyboardInterrupt``) counts as nothing and gives its
    trial permit back.

    With ``fallback``, ``fallback(exc)`` is returned instead of raising a counted failure or
    a :class:`CircuitOpenError`. ``storage`` is where the state lives: this process's memory
    by default, or a :class:`~flask_guard.storage.redis.RedisStorage` shared by a fleet.

    Use it as a decorator, through :meth:`call` and :meth:`call_async`, or around a block
    (``with`` / ``async with``, see :class:`~flask_guard.breaker.block.BlockGuard`)::

        payments = CircuitBreaker("payments", failure_threshold=3, recovery_timeout=10)

        @payments
        def charge(order): ...

        payments.call(charge, order)

        with payments:
            ...
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = DEFAULT_POLICY.failure_threshold,
        recovery_timeout: float = DEFAULT_POLICY.recovery_timeout,
        half_open_max_calls: int = DEFAULT_POLICY.half_open_max_calls,
        success_threshold: int = DEFAULT_POLICY.success_threshold,
        window_size: int | None = DEFAULT_POLICY.window_size,
        window_duration: int | None = DEFAULT_POLICY.window_duration,
        failure_rate_threshold: float | None = DEFAULT_POLICY.failure_rate_threshold,
        minimum_calls: int | None = DEFAULT_POLICY.minimum_calls,
        slow_call_duration: float | None = DEFAULT_POLICY.slow_call_duration,
        slow_call_rate_threshold: float | None = DEFAULT_POLICY.slow_call_rate_threshold,
        failure_on: ExceptionClasses = DEFAULT_POLICY.failure_on,
        ignore: ExceptionClasses = DEFAULT_POLICY.ignore,
        is_failure: Callable[[BaseException], bool] | None = DEFAULT_POLICY.is_failure,
        fallback: Callable[[Exception], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        storage: BreakerStorage = _MEMORY,
    ) -> None:
        self.policy = BreakerPolicy(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_timeout,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            window_size=window_size,
            window_duration=window_duration,
            failure_rate_threshold=failure_rate_threshold,
            minimum_calls=minimum_calls,
            slow_call_duration=slow_call_duration,
            slow_call_rate_threshold=slow_call_rate_threshold,
            failure_on=failure_on,
            ignore=ignore,
            is_failure=is_failure,
        )
        self._name = name
        self._recovery_timeout = self.policy.recovery_timeout
        self._fallback = fallback
        self._clock = clock
        # next() on a count is atomic: the counters need no lock. Each keeps the latest
        # value it handed out, for stats.
        self._rejection_count = itertools.count(1)
        self._rejections = 0
        self._failure_count = itertools.count(1)
        self._total_failures = 0
        self._last_failure: str | None = None
        self._last_failure_at: float | None = None
        hooks = BreakerHooks(self._announce, self._degraded, self._counts, clock)
        self._store = storage.bind(name, self.policy, hooks)
        self._machine = self._store.machine

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self._name!r} {self._machine.state.public.value}>"

    @property
    def name(self) -> str:
        """The breaker's name."""
        return self._name

    @property
    def state(self) -> CircuitState:
        """The current state; an open breaker whose recovery timeout has passed is half-open."""
        self._store.observe(self._clock())
        return self._machine.state.public

    @property
    def stats(self) -> BreakerStats:
        """A snapshot of the breaker's counters."""
        machine = self._machine
        state = machine.state
        window = machine.counts.window
        fleet = self._store.fleet_counts()
        return BreakerStats(
            name=self._name,
            state=state.public,
            forced=state.__class__ is ForcedOpen,
            failures=machine.failures(),
            window_calls=None if window is None else window.calls,
            total_failures=self._total_failures,
            rejections=self._rejections,
            last_failure=self._last_failure,
            last_failure_at=self._last_failure_at,
            opened_at=state.opened_at if isinstance(state, Open | ForcedOpen) else None,
            retry_after=machine.retry_after(self._clock()),
            fleet_failures=None if fleet is None else fleet.failures,
            fleet_rejections=None if fleet is None else fleet.rejections,
        )

    # Calling: three wrappers (decorated, call, call_async) around one admission routine
    # (_admit) and one completion routine (_on_success, _on_error, _on_interrupt). Each keeps
    # the closed fast path inline, and raises a rejection in the caller's frame: every frame
    # an exception unwinds costs time during a storm of rejections.

    def call(self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``func(*args, **kwargs)`` through the breaker.

        :raises CircuitOpenError: when the breaker rejects the call (unless ``fallback``).
        """
        machine = self._machine
        closed = machine.fast
        if closed is None:
            now = self._clock()
            wait = machine.reject_until - now
            if wait > 0.0:
                rejection = self._reject(wait)
                if self._fallback is None:
                    raise rejection
                return cast(R, self._fallback(rejection))
            return self._run(self._admit(now), func, args, kwargs)
        start = self._clock()
        try:
            result = func(*args, **kwargs)
        except Exception as error:
            if self._failed(closed, error, start):
                return cast(R, self._fallback(error))  # type: ignore[misc]
            raise
        if closed.failures:
            self._on_success(closed, self._clock() - start)()
        elif breaker_call_succeeded.receivers:
            self._succeeded(self._clock() - start)
        return result

    def _guard_sync(self, func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            machine = self._machine
            closed = machine.fast
            if closed is None:
                now = self._clock()
                wait = machine.reject_until - now
                if wait > 0.0:
                    rejection = self._reject(wait)
                    if self._fallback is None:
                        raise rejection
                    return cast(R, self._fallback(rejection))
                return self._run(self._admit(now), func, args, kwargs)
            start = self._clock()
            try:
                result = func(*args, **kwargs)
            except Exception as error:
                if self._failed(closed, error, start):
                    return cast(R, self._fallback(error))  # type: ignore[misc]
                raise
            if closed.failures:
                self._on_success(closed, self._clock() - start)()
            elif breaker_call_succeeded.receivers:
                self._succeeded(self._clock() - start)
            return result

        return guarded

    def _run(
        self,
        admission: Admission | RemoteAdmission,
        func: Callable[..., R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> R:
        """Run a call off the fast path, once its admission (maybe remote) is decided."""
        if callable(admission):
            admission = self._admitted(admission(), self._clock())
        if admission.__class__ is CircuitOpenError:
            if self._fallback is None:
                raise admission
            return cast(R, self._fallback(admission))
        permit = cast(Permit, admission)
        start = self._clock()
        try:
            result = func(*args, **kwargs)
        except Exception as error:
            if self._failed(permit, error, start):
                return cast(R, self._fallback(error))  # type: ignore[misc]
            raise
        except BaseException:
            self._on_interrupt(permit)()
            raise
        self._on_success(permit, self._clock() - start)()
        return result

    def _failed(self, permit: Permit, error: Exception, start: float) -> bool:
        """Report a call that raised; return whether to answer with the fallback."""
        remote, counted = self._on_error(permit, error, self._clock() - start)
        remote()
        return counted and self._fallback is not None

    @overload
    def __call__(
        self, func: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    @overload
    def __call__(self, func: Callable[P, R]) -> Callable[P, R]: ...
    def __call__(self, func: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate ``func`` (sync or async) so that every call goes through the breaker."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def guarded_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await self.call_async(func, *args, **kwargs)

            return guarded_async

        return self._guard_sync(func)

    # Admission and completion

    def _admit(self, now: float) -> Admission | RemoteAdmission:
        """Admit a call or reject it; a remote decision comes back as a callable."""
        admitted = self._store.admit(now)
        if callable(admitted):
            return admitted
        return self._admitted(admitted, now)

    def _admitted(self, permit: Permit | None, now: float) -> Admission:
        return self._reject(self._machine.reject_until - now) if permit is None else permit

    def _reject(self, wait: float) -> CircuitOpenError:
        """Count a rejection; return its error, retrying after ``wait`` seconds (clamped)."""
        self._rejections = next(self._rejection_count)
        if breaker_call_rejected.receivers:
            send_safely(breaker_call_rejected, self)
        # BreakerMachine.retry_after() inlined: this runs for every call of a storm.
        longest = self._recovery_timeout
        return CircuitOpenError(
            self._name, longest if wait > longest else wait if wait > 0.0 else 0.0
        )

    def _on_success(self, permit: Permit, duration: float) -> Remote:
        if breaker_call_succeeded.receivers:
            self._succeeded(duration)
        return self._store.succeed(permit, self._clock(), duration) or settled

    def _succeeded(self, duration: float) -> None:
        send_safely(breaker_call_succeeded, self, duration=duration)

    def _on_error(self, permit: Permit, error: Exception, duration: float) -> tuple[Remote, bool]:
        """Report a call that raised; return the remote part and whether it counted."""
        if not self.policy.is_counted_failure(error):
            return self._on_interrupt(permit), False
        now = self._clock()
        self._total_failures = next(self._failure_count)
        self._last_failure = type(error).__name__
        self._last_failure_at = now
        send_safely(breaker_call_failed, self, exception=error, duration=duration)
        return self._store.fail(permit, now, duration) or settled, True

    def _on_interrupt(self, permit: Permit) -> Remote:
        return self._store.release(permit) or settled

    # Operator controls

    def force_open(self) -> None:
        """Open the breaker and keep it open until :meth:`force_close` or :meth:`reset`."""
        self._store.command("force_open", self._clock())

    def force_close(self) -> None:
        """Close the breaker now, forgetting the failures counted so far."""
        self._store.command("force_close", self._clock())

    def reset(self) -> None:
        """Return the breaker to its initial state: closed, with every counter at zero."""
        self._store.command("reset", self._clock())
        self._rejection_count = itertools.count(1)
        self._failure_count = itertools.count(1)
        self._total_failures = self._rejections = 0
        self._last_failure = self._last_failure_at = None

    def _degraded(self, error: Exception | None) -> None:
        send_safely(breaker_storage_degraded, self, exception=error)

    def _counts(self) -> tuple[int, int]:
        return self._total_failures, self._rejections

    def _announce(self, transition: Transition) -> None:
        """Log and signal ``transition``; the store calls it once no lock is held.

        An opening this process caused is a WARNING; one it only learned from the fleet
        (``synced``) is INFO, like every other transition.
        """
        opened = transition.new is CircuitState.OPEN and transition.reason != "synced"
        _log.log(
            logging.WARNING if opened else logging.INFO,
            "Circuit breaker %r: %s -> %s (%s)",
            self._name,
            transition.old.value,
            transition.new.value,
            transition.reason,
        )
        send_safely(
            breaker_state_changed,
            self,
            old=transition.old,
            new=transition.new,
            reason=transition.reason,
        )
