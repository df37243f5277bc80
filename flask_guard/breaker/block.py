"""``with breaker:`` and ``async with breaker:``: a block of code as the protected call.

Entering admits the block (or raises :class:`~flask_guard.CircuitOpenError`); leaving
reports its outcome with the breaker's rules: no exception is a success, a counted one a
failure, a cancellation gives a trial permit back. The exception itself always propagates:
a block has no value for a ``fallback`` to stand in for, so ``fallback`` does not apply.

The permit of each block that is running lives in a context variable, so threads, asyncio
tasks and blocks nested in one another each leave with their own.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..errors.exceptions import CircuitOpenError
from ..signals import breaker_call_succeeded

if TYPE_CHECKING:
    from ..storage import Remote, RemoteAdmission
    from .states import BreakerMachine, Permit

T = TypeVar("T")

# The blocks running in this context, innermost last: (breaker, permit, start).
_RUNNING: ContextVar[tuple[tuple[object, Permit, float], ...]] = ContextVar(
    "flask_guard_breaker_blocks", default=()
)


def settled() -> None:
    """The remote part of a step that had none."""


async def in_thread(func: Callable[[], T]) -> T:
    """Return ``func()`` run in a thread; asyncio is imported here, not with flask_guard."""
    import asyncio

    return await asyncio.to_thread(func)


class _Breaker(Protocol):
    """What a block needs of its :class:`~flask_guard.CircuitBreaker`."""

    _machine: BreakerMachine
    _clock: Callable[[], float]

    def _reject(self, wait: float) -> CircuitOpenError: ...
    def _admit(self, now: float) -> Permit | CircuitOpenError | RemoteAdmission: ...
    def _admitted(self, permit: Permit | None, now: float) -> Permit | CircuitOpenError: ...
    def _on_success(self, permit: Permit, duration: float) -> Remote: ...
    def _on_error(
        self, permit: Permit, error: Exception, duration: float
    ) -> tuple[Remote, bool]: ...
    def _on_interrupt(self, permit: Permit) -> Remote: ...
    def _succeeded(self, duration: float) -> None: ...


class BlockGuard:
    """The context manager side of :class:`~flask_guard.CircuitBreaker`."""

    def __enter__(self: _Breaker) -> None:
        admission = _admission(self)
        if callable(admission):
            admission = self._admitted(admission(), self._clock())
        _enter(self, admission)

    def __exit__(
        self: _Breaker,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _completion(self, exc)()

    async def __aenter__(self: _Breaker) -> None:
        admission = _admission(self)
        if callable(admission):
            admission = self._admitted(await in_thread(admission), self._clock())
        _enter(self, admission)

    async def __aexit__(
        self: _Breaker,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        remote = _completion(self, exc)
        if remote is settled:
            return
        import asyncio  # loaded by now: this runs in its event loop

        # Shielded: a second cancellation cannot keep a permit from coming back.
        await asyncio.shield(asyncio.to_thread(remote))


def _admission(breaker: _Breaker) -> Permit | CircuitOpenError | RemoteAdmission:
    machine = breaker._machine
    closed = machine.fast
    if closed is not None:
        return closed
    now = breaker._clock()
    wait = machine.reject_until - now
    return breaker._reject(wait) if wait > 0.0 else breaker._admit(now)


def _enter(breaker: _Breaker, admission: Permit | CircuitOpenError) -> None:
    if isinstance(admission, CircuitOpenError):
        raise admission
    _RUNNING.set((*_RUNNING.get(), (breaker, admission, breaker._clock())))


def _completion(breaker: _Breaker, exc: BaseException | None) -> Remote:
    """Take the innermost block of ``breaker`` off the stack; return its report's remote part."""
    running = _RUNNING.get()
    for index in range(len(running) - 1, -1, -1):
        if running[index][0] is breaker:
            _, permit, start = running[index]
            _RUNNING.set(running[:index] + running[index + 1 :])
            break
    else:
        raise RuntimeError("a circuit breaker was left without being entered in this context")
    duration = breaker._clock() - start
    if exc is None:
        if permit is breaker._machine.fast and not permit.failures:
            if breaker_call_succeeded.receivers:  # nothing to record: the signal only
                breaker._succeeded(duration)
            return settled
        return breaker._on_success(permit, duration)
    if isinstance(exc, Exception):
        return breaker._on_error(permit, exc, duration)[0]
    return breaker._on_interrupt(permit)
