"""Bulkheads: at most ``max_concurrent`` calls to one dependency at a time, the rest turned away.

A hung dependency can then hold at most ``max_concurrent`` worker threads; routes that do
not use it keep theirs.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from .. import validators
from ..errors.exceptions import BulkheadFullError
from ..signals import bulkhead_rejected, send_safely
from ..web.misuse import refuse_views

P = ParamSpec("P")
R = TypeVar("R")

# An async caller with max_wait polls: a threading condition would block the event loop.
_ASYNC_POLL_FIRST = 0.001
_ASYNC_POLL_MAX = 0.05


@dataclass(frozen=True, slots=True)
class BulkheadStats:
    """A snapshot of one bulkhead."""

    name: str
    max_concurrent: int
    in_flight: int
    rejections: int


class Bulkhead:
    """Let at most ``max_concurrent`` calls run at once; reject the next at once.

    Use it as a decorator (sync or async functions and views) or a context manager
    (``with`` or ``async with``)::

        ledger = Bulkhead("ledger", max_concurrent=4)

        @ledger
        def post_entry(entry): ...

        with ledger:
            ...

    :param name: the name shown in health, metrics and the CLI.
    :param max_concurrent: calls allowed in flight at once.
    :param max_wait: seconds a caller may wait for a free slot before it is rejected
        (None: rejected at once).
    :raises BulkheadFullError: from a call made while the bulkhead is full.
    """

    def __init__(self, name: str, max_concurrent: int, max_wait: float | None = None) -> None:
        validators.whole_number("max_concurrent", max_concurrent)
        validators.optional_delay("max_wait", max_wait)
        self.name = name
        self.max_concurrent = max_concurrent
        self.max_wait = max_wait
        # Slots are tokens in a deque: pop and append are atomic, so admission takes no lock.
        self._slots: deque[None] = deque([None] * max_concurrent)
        self._waiting = 0
        self._freed = threading.Condition(threading.Lock())
        self._rejections = 0

    @property
    def stats(self) -> BulkheadStats:
        """How many calls are in flight and how many were rejected so far."""
        return BulkheadStats(
            self.name,
            self.max_concurrent,
            self.max_concurrent - len(self._slots),
            self._rejections,
        )

    def options(self) -> dict[str, object]:
        """Return the options the bulkhead was made with."""
        return {"max_concurrent": self.max_concurrent, "max_wait": self.max_wait}

    def acquire(self) -> None:
        """Take a slot, waiting up to ``max_wait``; raise :class:`BulkheadFullError` if none."""
        try:
            self._slots.pop()
        except IndexError:
            self._acquire_when_full()

    def release(self) -> None:
        """Give a slot back."""
        self._slots.append(None)
        if self._waiting:
            self._wake_one()

    def _acquire_when_full(self) -> None:
        if not self._wait_for_slot():
            self._reject()

    def _wake_one(self) -> None:
        with self._freed:
            self._freed.notify()

    async def acquire_async(self) -> None:
        """Take a slot without blocking the event loop; see :meth:`acquire`."""
        try:
            self._slots.pop()
            return
        except IndexError:
            pass
        if self.max_wait:
            import asyncio  # loaded by now: this runs in its event loop

            end = time.monotonic() + self.max_wait
            pause = _ASYNC_POLL_FIRST
            while (left := end - time.monotonic()) > 0:
                await asyncio.sleep(min(pause, left))
                try:
                    self._slots.pop()
                    return
                except IndexError:
                    pause = min(pause * 2, _ASYNC_POLL_MAX)
        self._reject()

    def _wait_for_slot(self) -> bool:
        if not self.max_wait:
            return False
        end = time.monotonic() + self.max_wait
        with self._freed:
            self._waiting += 1
            try:
                while True:
                    try:
                        self._slots.pop()
                        return True
                    except IndexError:
                        left = end - time.monotonic()
                        if left <= 0:
                            return False
                        self._freed.wait(left)
            finally:
                self._waiting -= 1

    def _reject(self) -> None:
        with self._freed:
            self._rejections += 1
        send_safely(bulkhead_rejected, self)
        raise BulkheadFullError(self.name, self.max_concurrent)

    def __enter__(self) -> Bulkhead:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    async def __aenter__(self) -> Bulkhead:
        await self.acquire_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Run ``func`` (sync or async) inside the bulkhead."""
        refuse_views(func, f"@guard.bulkhead({self.name!r})")
        if inspect.iscoroutinefunction(func):
            return _guard_async(self, func)  # type: ignore[return-value]

        # The hot path inlined, with the deque's methods bound once: admission stays a
        # fraction of a microsecond.
        take, give = self._slots.pop, self._slots.append

        @functools.wraps(func)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                take()
            except IndexError:
                self._acquire_when_full()
            try:
                return func(*args, **kwargs)
            finally:
                give(None)
                if self._waiting:
                    self._wake_one()

        return guarded

    def __repr__(self) -> str:
        stats = self.stats
        return f"<Bulkhead {self.name!r} {stats.in_flight}/{self.max_concurrent} in flight>"


def _guard_async(
    bulkhead: Bulkhead, func: Callable[P, Coroutine[Any, Any, R]]
) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(func)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        await bulkhead.acquire_async()
        try:
            return await func(*args, **kwargs)
        finally:
            bulkhead.release()

    return guarded
