"""What a breaker should do, written as plainly as possible, and calls kept in flight.

The model is the reference the breaker is checked against (``test_breaker_model.py``), over
both storages: the Python rules and the Lua rules answer to this one model.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_guard import CircuitBreaker, CircuitOpenError, CircuitState

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
RECOVERY = 10.0
SLOW = 2.0
WAIT = 10


@dataclass
class Ticket:
    """What the model admitted: in which state, as which trial, when."""

    generation: int
    trial: int | None
    start: float


@dataclass
class Model:
    failure_threshold: int
    half_open_max_calls: int
    success_threshold: int
    window_size: int | None
    minimum_calls: int
    failure_rate: float
    slow_rate: float | None
    state: CircuitState = CLOSED
    forced: bool = False
    failures: int = 0
    window: list[tuple[bool, bool]] = field(default_factory=list)
    until: float = 0.0
    leases: dict[int, float] = field(default_factory=dict)
    successes: int = 0
    generation: int = 0
    rejections: int = 0
    _trial_ids: itertools.count[int] = field(default_factory=itertools.count)

    def observe(self, now: float) -> None:
        if self.state is OPEN and not self.forced and now >= self.until:
            self.move(HALF_OPEN)

    def admit(self, now: float) -> Ticket | None:
        self.observe(now)
        if self.state is CLOSED:
            return Ticket(self.generation, None, now)
        if self.state is HALF_OPEN:
            live = sum(1 for expiry in self.leases.values() if expiry >= now)
            if live < self.half_open_max_calls:
                trial = next(self._trial_ids)
                self.leases[trial] = now + RECOVERY
                return Ticket(self.generation, trial, now)
        self.rejections += 1
        return None

    def succeed(self, ticket: Ticket, now: float) -> None:
        slow = self.slow_rate is not None and now - ticket.start >= SLOW
        if ticket.generation != self.generation:
            return
        if ticket.trial is not None:
            if self.leases.pop(ticket.trial, None) is None:
                return
            if slow:
                self.open(now)
                return
            self.successes += 1
            if self.successes >= self.success_threshold:
                self.move(CLOSED)
        elif self.window_size is None:
            self.failures = 0
        else:
            self.record(False, slow, now)

    def fail(self, ticket: Ticket, now: float) -> None:
        slow = self.slow_rate is not None and now - ticket.start >= SLOW
        if ticket.generation != self.generation:
            return
        if ticket.trial is not None:
            if self.leases.pop(ticket.trial, None) is not None:
                self.open(now)
        elif self.window_size is None:
            self.failures += 1
            if self.failures >= self.failure_threshold:
                self.open(now)
        else:
            self.record(True, slow, now)

    def neutral(self, ticket: Ticket) -> None:
        if ticket.trial is not None and ticket.generation == self.generation:
            self.leases.pop(ticket.trial, None)

    def record(self, failed: bool, slow: bool, now: float) -> None:
        assert self.window_size is not None
        self.window = [*self.window, (failed, slow)][-self.window_size :]
        calls = len(self.window)
        if calls < self.minimum_calls:
            return
        failed_share = sum(f for f, _ in self.window) / calls
        slow_share = sum(s for _, s in self.window) / calls
        if failed_share >= self.failure_rate or (
            self.slow_rate is not None and slow_share >= self.slow_rate
        ):
            self.open(now)

    def open(self, now: float) -> None:
        self.until = now + RECOVERY
        self.move(OPEN)

    def force_open(self, now: float) -> None:
        if self.state is not OPEN:
            self.until = now
        self.forced = True
        self.state = OPEN
        self.generation += 1

    def close(self) -> None:
        self.forced = False
        self.failures = 0
        self.window = []
        if self.state is not CLOSED:
            self.move(CLOSED)

    def move(self, state: CircuitState) -> None:
        self.state = state
        self.generation += 1
        self.leases = {}
        self.successes = 0
        if state is CLOSED:
            self.failures = 0
            self.window = []

    def retry_after(self, now: float) -> float:
        if self.state is not OPEN:
            return 0.0
        if self.forced:
            return RECOVERY
        return max(0.0, self.until - now)


class Interrupted(BaseException):
    """Stands for KeyboardInterrupt in a synchronous call."""


class Flight:
    """One call through the breaker, held inside the protected function until finished.

    Synchronous calls run in a thread of their own, asynchronous ones as a task on ``loop``;
    either way the test learns whether the call was admitted before it goes on.
    """

    def __init__(self, breaker: CircuitBreaker, path: str, loop: asyncio.AbstractEventLoop):
        self.events: queue.Queue[str] = queue.Queue()
        self.outcome = ""
        self.escaped: BaseException | None = None
        self._release = threading.Event()
        self._loop = loop
        self._future: asyncio.Future[str] | None = None
        self._task: asyncio.Task[Any] | None = None
        if path == "async":
            asyncio.run_coroutine_threadsafe(self._run_async(breaker), loop)
        else:
            run = breaker.call if path == "call" else lambda f: breaker(f)()
            threading.Thread(target=self._run_sync, args=(run,), daemon=True).start()

    def admitted(self) -> bool:
        event = self.events.get(timeout=WAIT)
        if event == "done":
            assert isinstance(self.escaped, CircuitOpenError), self.escaped
            return False
        return True

    def finish(self, outcome: str) -> BaseException | None:
        """Let the call end with ``outcome``; return what escaped the breaker."""
        self.outcome = outcome
        if self._task is not None:
            if outcome == "interrupt":
                self._loop.call_soon_threadsafe(self._task.cancel)
            else:
                future = self._future
                assert future is not None
                self._loop.call_soon_threadsafe(future.set_result, outcome)
        self._release.set()
        assert self.events.get(timeout=WAIT) == "done"
        return self.escaped

    def _protected_sync(self) -> str:
        self.events.put("entered")
        assert self._release.wait(WAIT)
        return _outcome(self.outcome, Interrupted())

    def _run_sync(self, run: Callable[[Callable[[], str]], str]) -> None:
        try:
            run(self._protected_sync)
        except BaseException as error:
            self.escaped = error
        self.events.put("done")

    async def _protected_async(self) -> str:
        self._future = asyncio.get_running_loop().create_future()
        self.events.put("entered")
        return _outcome(await self._future, asyncio.CancelledError())

    async def _run_async(self, breaker: CircuitBreaker) -> None:
        self._task = asyncio.current_task()
        try:
            await breaker.call_async(self._protected_async)
        except BaseException as error:
            self.escaped = error
        self.events.put("done")


class Boom(Exception):
    pass


def _outcome(outcome: str, interruption: BaseException) -> str:
    from flask_guard import ApiError

    if outcome == "fail":
        raise Boom()
    if outcome == "ignored":
        raise KeyError("ignored")
    if outcome == "client_error":
        raise ApiError.not_found("Order")
    if outcome == "interrupt":
        raise interruption
    return "ok"
