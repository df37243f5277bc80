"""The asynchronous call path of :class:`~flask_guard.CircuitBreaker`: ``call_async``, which
async views and decorated coroutine functions go through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from ..errors.exceptions import CircuitOpenError
from ..signals import breaker_call_succeeded
from ..storage import RemoteAdmission
from .block import _Breaker, in_thread, settled
from .states import Permit

P = ParamSpec("P")
R = TypeVar("R")

Admission = Permit | CircuitOpenError


class _AsyncBreaker(_Breaker, Protocol):
    _fallback: Callable[[Exception], Any] | None


class AsyncCalls:
    """The coroutine side of :class:`~flask_guard.CircuitBreaker`."""

    async def call_async(
        self: _AsyncBreaker, func: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``func(*args, **kwargs)`` through the breaker.

        A step that waits on a shared storage runs in a thread: the event loop never waits.

        :raises CircuitOpenError: when the breaker rejects the call (unless ``fallback``).
        """
        permit: Admission | RemoteAdmission | None = self._machine.fast
        if permit is None:
            now = self._clock()
            wait = self._machine.reject_until - now
            permit = self._reject(wait) if wait > 0.0 else self._admit(now)
            if callable(permit):
                permit = self._admitted(await in_thread(permit), now)
            if permit.__class__ is CircuitOpenError:
                if self._fallback is None:
                    raise permit
                return cast(R, self._fallback(permit))
        admitted = cast(Permit, permit)
        start = self._clock()
        try:
            result = await func(*args, **kwargs)
        except Exception as error:
            remote, counted = self._on_error(admitted, error, self._clock() - start)
            if remote is not settled:
                await in_thread(remote)
            if counted and self._fallback is not None:
                return cast(R, self._fallback(error))
            raise
        except BaseException as interruption:
            remote = self._on_interrupt(admitted)
            if remote is not settled:
                import asyncio  # loaded by now: this runs in its event loop

                if isinstance(interruption, asyncio.CancelledError):
                    # Shielded: a second cancellation cannot keep the permit from coming back.
                    await asyncio.shield(asyncio.to_thread(remote))
                else:
                    remote()  # the program is stopping: there is no loop left to spare
            raise
        if admitted is not self._machine.fast or admitted.failures:
            remote = self._on_success(admitted, self._clock() - start)
            if remote is not settled:
                await in_thread(remote)
        elif breaker_call_succeeded.receivers:
            self._succeeded(self._clock() - start)
        return result
