"""``CircuitBreaker``: stop calling what keeps failing, and probe it gently when it may be back.

The lock guards state changes only; it is never held while the protected call runs. A call
in the closed state with consecutive counting takes no lock at all unless it fails, or
succeeds right after a failure.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import math
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast, overload

from .breaker_policy import BreakerPolicy, CircuitOpenError, CircuitState, ExceptionClasses
from .signals import breaker_call_failed, breaker_call_rejected, breaker_state_changed, send_safely
from .storage import Command, SharedState, SharedStorage
from .window import OutcomeWindow

_log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN

#: Seconds a process rejects calls locally after the fleet's trial leases were all taken.
SHARED_RECHECK_INTERVAL = 0.1


def _invoke(func: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
    return func(*args, **kwargs)


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of state, announced (logged and signalled) once the lock is released."""

    old: CircuitState
    new: CircuitState
    reason: str


@dataclass(frozen=True, slots=True)
class BreakerStats:
    """A snapshot of a breaker, for health checks, metrics and the CLI.

    Times are readings of the breaker's clock (``time.monotonic()`` unless injected).
    """

    name: str
    state: CircuitState
    forced: bool
    failures: int
    """Failures counting toward opening: consecutive ones, or those in the window."""
    window_calls: int | None
    total_failures: int
    rejections: int
    last_failure: str | None
    last_failure_at: float | None
    opened_at: float | None
    retry_after: float
    """Seconds until a trial call is admitted (0 unless open)."""


@dataclass(frozen=True, slots=True)
class _Admission:
    generation: int
    trial: bool
    lease: str | None = None


class CircuitBreaker:
    """A thread-safe circuit breaker for sync and async callables.

    Closed, it runs every call and counts failures: ``failure_threshold`` consecutive ones,
    or, with ``window_size``, a failure rate of ``failure_rate_threshold`` (and/or a slow-call
    rate of ``slow_call_rate_threshold`` for calls lasting ``slow_call_duration`` seconds or
    more) over the last ``window_size`` calls, once ``minimum_calls`` are recorded. Then it
    opens: calls fail at once with :class:`CircuitOpenError` for ``recovery_timeout``
    seconds. Then it is half-open: exactly ``half_open_max_calls`` concurrent trial calls run
    and every other caller is rejected at once; ``success_threshold`` successful trials close
    it, and any failed trial opens it again for a new ``recovery_timeout``.

    An exception counts as a failure if it is an instance of ``failure_on``, not of
    ``ignore``, and ``is_failure(exc)`` (when given) is true; any other exception passes
    through uncounted. A :class:`BaseException` that is not an :class:`Exception`
    (cancellation, ``KeyboardInterrupt``) counts as nothing and gives its trial permit back.

    With ``fallback``, ``fallback(exc)`` is returned instead of raising a counted failure or
    a :class:`CircuitOpenError`.

    Use it as a decorator, or through :meth:`call` and :meth:`call_async`::

        payments = CircuitBreaker("payments", failure_threshold=3, recovery_timeout=10)

        @payments
        def charge(order): ...

        payments.call(charge, order)
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        window_size: int | None = None,
        failure_rate_threshold: float | None = None,
        minimum_calls: int | None = None,
        slow_call_duration: float | None = None,
        slow_call_rate_threshold: float | None = None,
        failure_on: ExceptionClasses = (Exception,),
        ignore: ExceptionClasses = (),
        is_failure: Callable[[BaseException], bool] | None = None,
        fallback: Callable[[Exception], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        storage: SharedStorage | None = None,
    ) -> None:
        self.policy = BreakerPolicy(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_timeout,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            window_size=window_size,
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
        self._call = self._guard_sync(_invoke)
        self._lock = threading.Lock()
        self._window = OutcomeWindow(window_size) if window_size is not None else None
        self._consecutive = self._window is None
        self._state = CLOSED
        self._generation = 0
        # The generation while closed with consecutive counting, else None: one read tells
        # the lock-free fast path both whether it applies and which generation it runs in.
        self._closed_generation: int | None = 0 if self._consecutive else None
        self._failures = 0
        self._forced = False
        self._opened_at: float | None = None
        self._open_until = -math.inf
        self._trials_in_flight = 0
        self._trial_successes = 0
        self._total_failures = 0
        # next() on a count is atomic, so rejections are counted exactly without the lock;
        # _rejections keeps the latest value handed out, for stats.
        self._rejection_count = itertools.count(1)
        self._rejections = 0
        self._last_failure: str | None = None
        self._last_failure_at: float | None = None
        self._shared_epoch = ""
        self._shared_version = 0
        self._storage = storage
        if storage is not None:
            storage.attach(self)

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self._name!r} {self._state.value}>"

    @property
    def name(self) -> str:
        """The breaker's name."""
        return self._name

    @property
    def state(self) -> CircuitState:
        """The current state; an open breaker whose recovery timeout has passed is half-open."""
        with self._lock:
            transition = self._half_open_if_due(self._clock())
        self._announce(transition)
        return self._state

    @property
    def stats(self) -> BreakerStats:
        """A consistent snapshot of the breaker's counters."""
        with self._lock:
            window = self._window
            return BreakerStats(
                name=self._name,
                state=self._state,
                forced=self._forced,
                failures=self._failures if window is None else window.failures,
                window_calls=None if window is None else window.calls,
                total_failures=self._total_failures,
                rejections=self._rejections,
                last_failure=self._last_failure,
                last_failure_at=self._last_failure_at,
                opened_at=self._opened_at,
                retry_after=self._retry_after(self._clock()),
            )

    # Calling

    def call(self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``func(*args, **kwargs)`` through the breaker.

        :raises CircuitOpenError: when the breaker rejects the call (unless ``fallback``).
        """
        return self._call(func, *args, **kwargs)

    def _guard_sync(self, func: Callable[P, R]) -> Callable[P, R]:
        """Return ``func`` wrapped in the breaker; the one place the sync call path lives."""

        @functools.wraps(func)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            generation = self._closed_generation
            if generation is None:
                now = self._clock()
                # Open and not yet due for a trial: reject without taking the lock.
                admission = self._reject(now) if now < self._open_until else self._admit(now)
                if admission.__class__ is CircuitOpenError:
                    # Raised here, in the caller's frame: each frame it unwinds costs time.
                    if self._fallback is None:
                        raise admission
                    return cast(R, self._fallback(admission))
                return self._run_admitted(admission, func, args, kwargs)  # type: ignore[arg-type]
            # Closed with consecutive counting: no lock unless this call changes a count.
            start = self._clock()
            try:
                result = func(*args, **kwargs)
            except Exception as error:
                if self._on_error(generation, False, error, self._clock() - start):
                    return cast(R, self._fallback(error))  # type: ignore[misc]
                raise
            if self._failures:
                self._on_success(generation, False, 0.0)
            return result

        return guarded

    def _run_admitted(
        self,
        admission: _Admission,
        func: Callable[..., R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> R:
        start = self._clock()
        try:
            result = func(*args, **kwargs)
        except Exception as error:
            duration = self._clock() - start
            if self._on_error(
                admission.generation, admission.trial, error, duration, admission.lease
            ):
                return cast(R, self._fallback(error))  # type: ignore[misc]
            raise
        except BaseException:
            self._on_neutral(admission.generation, admission.trial, admission.lease)
            raise
        duration = self._clock() - start
        self._on_success(admission.generation, admission.trial, duration, admission.lease)
        return result

    async def call_async(
        self, func: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``func(*args, **kwargs)`` through the breaker.

        :raises CircuitOpenError: when the breaker rejects the call (unless ``fallback``).
        """
        now = self._clock()
        admission = self._reject(now) if now < self._open_until else self._admit(now)
        if isinstance(admission, CircuitOpenError):
            if self._fallback is None:
                raise admission
            return cast(R, self._fallback(admission))
        start = self._clock()
        try:
            result = await func(*args, **kwargs)
        except Exception as error:
            duration = self._clock() - start
            if self._on_error(
                admission.generation, admission.trial, error, duration, admission.lease
            ):
                return cast(R, self._fallback(error))  # type: ignore[misc]
            raise
        except BaseException:
            self._on_neutral(admission.generation, admission.trial, admission.lease)
            raise
        duration = self._clock() - start
        self._on_success(admission.generation, admission.trial, duration, admission.lease)
        return result

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

    # Operator controls

    def force_open(self) -> None:
        """Open the breaker and keep it open until :meth:`force_close` or :meth:`reset`."""
        if self._shared_command("force_open", "forced_open"):
            return
        with self._lock:
            self._forced = True
            if self._state is OPEN:
                self._open_until = math.inf
                transition = None
            else:
                transition = self._open(self._clock(), "forced_open")
        self._announce(transition)

    def force_close(self) -> None:
        """Close the breaker now, forgetting the failures counted so far."""
        if self._shared_command("close", "forced_close"):
            return
        with self._lock:
            transition = self._close("forced_close")
        self._announce(transition)

    def reset(self) -> None:
        """Return the breaker to its initial state: closed, with every counter at zero."""
        self._shared_command("reset", "reset")
        with self._lock:
            transition = self._close("reset")
            self._total_failures = self._rejections = 0
            self._rejection_count = itertools.count(1)
            self._last_failure = self._last_failure_at = None
        self._announce(transition)

    # Shared state: every step the fleet must agree on goes to the storage, when there is one.

    def sync(self, shared: SharedState) -> None:
        """Adopt ``shared``, learned from the storage (a change another process made)."""
        self._announce(self._adopt(shared, "synced"))

    def _adopt(self, shared: SharedState, cause: str) -> Transition | None:
        """Take ``shared`` as the state; a transition is reported with ``cause`` when this
        process made it, else as ``synced``."""
        with self._lock:
            if shared.epoch == self._shared_epoch and shared.version < self._shared_version:
                return None  # older news than what this process knows
            self._shared_epoch, self._shared_version = shared.epoch, shared.version
            self._failures = shared.failures
            self._forced = shared.forced
            transition = None
            if shared.state is not self._state:
                reason = cause if shared.changed else "synced"
                if shared.state is CLOSED and self._window is not None:
                    self._window.clear()
                transition = self._change(shared.state, reason)
            if shared.state is OPEN:
                now = self._clock()
                if transition is not None or self._opened_at is None:
                    self._opened_at = now - (self._recovery_timeout - shared.retry_after)
                # Forced open: look again after a recovery timeout, not never, in case the
                # message that closes it for the fleet is lost.
                self._open_until = now + shared.retry_after
            elif shared.state is CLOSED:
                self._opened_at = None
            return transition

    def _admit_shared(
        self, storage: SharedStorage, now: float
    ) -> _Admission | CircuitOpenError | None:
        """Ask the storage for one of the fleet's trial leases (None: it did not answer)."""
        lease = uuid.uuid4().hex
        shared = storage.acquire_trial(self, lease)
        if shared is None:
            return None
        self._announce(self._adopt(shared, "recovery_timeout"))
        if shared.admitted:
            trial = shared.state is HALF_OPEN
            return _Admission(self._generation, trial, lease if trial else None)
        if shared.state is HALF_OPEN:
            with self._lock:
                if self._state is HALF_OPEN:
                    # Every lease is taken: reject locally a moment instead of asking per call.
                    self._open_until = now + SHARED_RECHECK_INTERVAL
        return self._reject(now)

    def _share_outcome(
        self, trial: bool, lease: str | None, failed: bool
    ) -> tuple[bool, Transition | None]:
        """Report an outcome the fleet counts; return whether the storage took it, and the
        transition it brought."""
        storage = self._storage
        if storage is None:
            return False, None
        if trial:
            if lease is None:
                return False, None  # admitted locally while the storage was unreachable
            shared = storage.finish_trial(self, lease, "fail" if failed else "ok")
            cause = "trial_failed" if failed else "trial_succeeded"
        elif not self._consecutive:
            return False, None  # rates are judged locally; an opening is then shared
        elif failed:
            shared, cause = storage.record_failure(self), "failure_threshold"
        elif self._failures:
            shared, cause = storage.record_success(self), "synced"
        else:
            return True, None
        if shared is None:
            return False, None
        return True, self._adopt(shared, cause)

    def _share_opening(self, transition: Transition | None) -> Transition | None:
        """Tell the fleet about an opening decided here (by rates, or while degraded); if
        another process opened it first, report this one as ``synced``."""
        if self._storage is not None and transition is not None and transition.new is OPEN:
            shared = self._storage.command(self, "open")
            if shared is not None:
                self._adopt(shared, transition.reason)
                if not shared.changed:
                    return Transition(transition.old, transition.new, "synced")
        return transition

    def _shared_command(self, command: Command, reason: str) -> bool:
        """Run an operator command for the fleet; return whether the storage took it."""
        if self._storage is None:
            return False
        shared = self._storage.command(self, command)
        if shared is None:
            return False
        self._announce(self._adopt(shared, reason))
        return True

    # State machine: every method below runs under the lock, except _announce.

    def _admit(self, now: float) -> _Admission | CircuitOpenError:
        """Admit a call, or return the error that rejects it; announce any transition."""
        if self._storage is not None and self._state is not CLOSED:
            shared = self._admit_shared(self._storage, now)
            if shared is not None:
                return shared
        with self._lock:
            transition = self._half_open_if_due(now)
            admission = self._try_acquire()
        if transition is not None:
            self._announce(transition)
        return self._reject(now) if admission is None else admission

    def _reject(self, now: float) -> CircuitOpenError:
        self._rejections = next(self._rejection_count)
        if breaker_call_rejected.receivers:
            send_safely(breaker_call_rejected, self)
        # _retry_after() inlined: this runs for every call during a storm of rejections.
        remaining, longest = self._open_until - now, self._recovery_timeout
        retry_after = longest if remaining > longest else remaining if remaining > 0.0 else 0.0
        return CircuitOpenError(self._name, retry_after)

    def _try_acquire(self) -> _Admission | None:
        if self._state is CLOSED:
            return _Admission(self._generation, False)
        if self._state is HALF_OPEN and self._trials_in_flight < self.policy.half_open_max_calls:
            self._trials_in_flight += 1
            return _Admission(self._generation, True)
        return None

    def _on_error(
        self,
        generation: int,
        trial: bool,
        error: Exception,
        duration: float,
        lease: str | None = None,
    ) -> bool:
        """Record the outcome of a call that raised; return whether to use the fallback."""
        if not self.policy.is_counted_failure(error):
            self._on_neutral(generation, trial, lease)
            return False
        with self._lock:
            now = self._clock()
            self._total_failures += 1
            self._last_failure = type(error).__name__
            self._last_failure_at = now
        shared, transition = self._share_outcome(trial, lease, failed=True)
        if not shared:
            with self._lock:
                transition = self._on_failure(generation, trial, now, duration)
            transition = self._share_opening(transition)
        send_safely(breaker_call_failed, self, exception=error, duration=duration)
        self._announce(transition)
        return self._fallback is not None

    def _on_failure(
        self, generation: int, trial: bool, now: float, duration: float
    ) -> Transition | None:
        if generation != self._generation:
            return None  # the call began before the last transition; its outcome is stale
        if trial:
            return self._open(now, "trial_failed")
        if self._window is None:
            self._failures += 1
            if self._failures >= self.policy.failure_threshold:
                return self._open(now, "failure_threshold")
            return None
        self._window.record(True, self._is_slow(duration))
        return self._open_if_rates_exceeded(now)

    def _on_success(
        self, generation: int, trial: bool, duration: float, lease: str | None = None
    ) -> None:
        slow = self._is_slow(duration)
        shared, transition = self._share_outcome(trial, lease, failed=trial and slow)
        if not shared:
            with self._lock:
                transition = self._record_success(generation, trial, slow)
            transition = self._share_opening(transition)
        self._announce(transition)

    def _record_success(self, generation: int, trial: bool, slow: bool) -> Transition | None:
        if generation != self._generation:
            return None
        if trial:
            self._trials_in_flight = max(0, self._trials_in_flight - 1)
            if slow:
                return self._open(self._clock(), "slow_trial")
            self._trial_successes += 1
            if self._trial_successes >= self.policy.success_threshold:
                return self._close("trial_succeeded")
            return None
        if self._window is None:
            self._failures = 0
            return None
        self._window.record(False, slow)
        return self._open_if_rates_exceeded(self._clock())

    def _on_neutral(self, generation: int, trial: bool, lease: str | None = None) -> None:
        """Give back the permit of a call that counts as neither success nor failure."""
        if trial and lease is not None and self._storage is not None:
            shared = self._storage.finish_trial(self, lease, "neutral")
            if shared is not None:
                self._announce(self._adopt(shared, "synced"))
                return
        if trial:
            with self._lock:
                if generation == self._generation:
                    self._trials_in_flight = max(0, self._trials_in_flight - 1)

    def _is_slow(self, duration: float) -> bool:
        limit = self.policy.slow_call_duration
        return limit is not None and duration >= limit

    def _open_if_rates_exceeded(self, now: float) -> Transition | None:
        window, policy = self._window, self.policy
        assert window is not None
        assert policy.minimum_calls is not None
        if window.calls < policy.minimum_calls:
            return None
        failure_rate, slow_rate = policy.failure_rate_threshold, policy.slow_call_rate_threshold
        if failure_rate is not None and window.failure_rate >= failure_rate:
            return self._open(now, "failure_rate")
        if slow_rate is not None and window.slow_call_rate >= slow_rate:
            return self._open(now, "slow_call_rate")
        return None

    def _half_open_if_due(self, now: float) -> Transition | None:
        if self._state is not OPEN or now < self._open_until:
            return None
        if self._storage is not None and self._storage.healthy():
            return None  # the fleet goes half-open in the storage, when a call asks for a trial
        return self._change(HALF_OPEN, "recovery_timeout")

    def _retry_after(self, now: float) -> float:
        """Return seconds until a trial is admitted: at most ``recovery_timeout`` when forced."""
        if self._state is not OPEN:
            return 0.0
        remaining = self._open_until - now
        if remaining > self._recovery_timeout:
            return self._recovery_timeout
        return remaining if remaining > 0.0 else 0.0

    def _open(self, now: float, reason: str) -> Transition:
        self._opened_at = now
        self._open_until = math.inf if self._forced else now + self._recovery_timeout
        return self._change(OPEN, reason)

    def _close(self, reason: str) -> Transition | None:
        self._forced = False
        self._opened_at = None
        self._failures = 0
        if self._window is not None:
            self._window.clear()
        if self._state is CLOSED:
            return None
        return self._change(CLOSED, reason)

    def _change(self, new: CircuitState, reason: str) -> Transition:
        old, self._state = self._state, new
        self._generation += 1
        if new is HALF_OPEN:
            self._trials_in_flight = self._trial_successes = 0
        if new is not OPEN:
            self._open_until = -math.inf
        fast = new is CLOSED and self._consecutive
        self._closed_generation = self._generation if fast else None
        return Transition(old, new, reason)

    def _announce(self, transition: Transition | None) -> None:
        """Log and signal ``transition``; call it after releasing the lock."""
        if transition is None:
            return
        level = logging.WARNING if transition.new is OPEN else logging.INFO
        _log.log(
            level,
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
