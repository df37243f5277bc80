"""The breaker against a simple model: a hypothesis state machine with calls in flight.

Calls go through ``call``, the decorator and ``call_async``, stay in flight across steps,
and end in success, failure, an ignored or a client error, or an interruption, possibly after
the clock moved (slow calls). Breakers count consecutively or over a sliding window, and
keep their state in memory or in a real Redis: one model for the Python and the Lua rules.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from flask_guard import CircuitBreaker
from flask_guard.storage import BreakerStorage, MemoryStorage
from flask_guard.storage import redis as redis_storage
from flask_guard.storage.redis import RedisStorage

from ..conftest import FakeClock
from .breaker_model import CLOSED, HALF_OPEN, OPEN, RECOVERY, SLOW, Flight, Model, Ticket

STEPS = {"count": 0}
PATHS = st.sampled_from(["call", "decorated", "async"])
OUTCOMES = ["ok", "fail", "ignored", "client_error", "interrupt"]


class BreakerMachine(RuleBasedStateMachine):
    storage: BreakerStorage = MemoryStorage()
    clock = FakeClock()
    loop: asyncio.AbstractEventLoop

    @initialize(
        failure_threshold=st.integers(1, 3),
        half_open_max_calls=st.integers(1, 3),
        success_threshold=st.integers(1, 3),
        window=st.sampled_from([None, (4, 2, 0.5, None), (3, 3, 0.6, 0.6), (2, 1, 1.0, 0.5)]),
    )
    def build(
        self,
        failure_threshold: int,
        half_open_max_calls: int,
        success_threshold: int,
        window: tuple[int, int, float, float | None] | None,
    ) -> None:
        options: dict[str, Any] = {}
        size, minimum, failure_rate, slow_rate = window or (None, 1, 1.0, None)
        if window is not None:
            options = {
                "window_size": size,
                "minimum_calls": minimum,
                "failure_rate_threshold": failure_rate,
            }
            if slow_rate is not None:
                options |= {"slow_call_duration": SLOW, "slow_call_rate_threshold": slow_rate}
        self.breaker = CircuitBreaker(
            f"model-{uuid.uuid4().hex[:8]}",
            failure_threshold=failure_threshold,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            recovery_timeout=RECOVERY,
            ignore=(KeyError,),
            clock=self.clock,
            storage=self.storage,
            **options,
        )
        self.model = Model(
            failure_threshold,
            half_open_max_calls,
            success_threshold,
            size,
            minimum,
            failure_rate,
            slow_rate,
        )
        self.running: list[tuple[Flight, Ticket]] = []

    def teardown(self) -> None:
        for flight, _ in getattr(self, "running", []):
            flight.finish("ok")

    @rule(path=PATHS)
    def start_call(self, path: str) -> None:
        STEPS["count"] += 1
        ticket = self.model.admit(self.clock.now)
        flight = Flight(self.breaker, path, self.loop)
        if not flight.admitted():
            assert ticket is None, "the breaker rejected a call the model admits"
            return
        assert ticket is not None, "the breaker admitted a call the model rejects"
        self.running.append((flight, ticket))

    @rule(count=st.integers(2, 4), path=PATHS)
    def start_many(self, count: int, path: str) -> None:
        """Start several calls that stay in flight together, as concurrent callers would."""
        for _ in range(count):
            self.start_call(path)

    @rule(path=PATHS, outcome=st.sampled_from(["ok", "fail", "fail", "fail", "ignored"]))
    def complete_call(self, path: str, outcome: str) -> None:
        """Start a call and finish it at once: reaches the interesting states sooner."""
        before = len(self.running)
        self.start_call(path)
        if len(self.running) > before:
            self.finish_call(len(self.running) - 1, outcome)

    @precondition(lambda self: self.model.state is CLOSED and not self.running)
    @rule(path=PATHS)
    def trip(self, path: str) -> None:
        """Fail calls until the model opens: half-open episodes come sooner."""
        for _ in range(8):
            if self.model.state is not CLOSED:
                return
            self.complete_call(path, "fail")

    @precondition(lambda self: self.model.state is OPEN and not self.model.forced)
    @rule(path=PATHS, count=st.integers(1, 4))
    def probe(self, path: str, count: int) -> None:
        """Wait out the recovery timeout, then start trials that stay in flight."""
        self.advance(RECOVERY)
        for _ in range(count):
            self.start_call(path)

    @precondition(lambda self: self.model.state is HALF_OPEN and self.running)
    @rule(path=PATHS, seconds=st.sampled_from([RECOVERY, RECOVERY + 0.5]))
    def outlive_leases(self, path: str, seconds: float) -> None:
        """Let the trials in flight outlast their leases, then ask for another."""
        self.advance(seconds)
        self.start_call(path)

    @precondition(lambda self: self.running)
    @rule(index=st.integers(0, 10), outcome=st.sampled_from(OUTCOMES))
    def finish_call(self, index: int, outcome: str) -> None:
        STEPS["count"] += 1
        flight, ticket = self.running.pop(index % len(self.running))
        now = self.clock.now
        if outcome == "ok":
            self.model.succeed(ticket, now)
        elif outcome == "fail":
            self.model.fail(ticket, now)
        else:
            self.model.neutral(ticket)
        escaped = flight.finish(outcome)
        assert (escaped is None) is (outcome == "ok"), escaped

    @rule(seconds=st.sampled_from([0.5, 3.0, 9.5, 10.0, 25.0]))
    def advance(self, seconds: float) -> None:
        STEPS["count"] += 1
        self.clock.advance(seconds)

    @rule()
    def read_state(self) -> None:
        STEPS["count"] += 1
        self.model.observe(self.clock.now)
        assert self.breaker.state is self.model.state

    @precondition(lambda self: not self.model.forced)
    @rule()
    def force_open(self) -> None:
        STEPS["count"] += 1
        self.model.force_open(self.clock.now)
        self.breaker.force_open()

    @precondition(lambda self: self.model.state is not CLOSED)
    @rule()
    def force_close(self) -> None:
        STEPS["count"] += 1
        self.model.close()
        self.breaker.force_close()

    @rule()
    def reset(self) -> None:
        STEPS["count"] += 1
        self.model.close()
        self.model.rejections = 0
        self.breaker.reset()

    @invariant()
    def matches_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        stats, model = self.breaker.stats, self.model
        assert stats.state is model.state
        assert stats.forced is model.forced
        assert stats.rejections == model.rejections
        if model.state is CLOSED and model.window_size is None:
            assert stats.failures == model.failures
        if model.state is CLOSED and model.window_size is not None:
            assert stats.window_calls == len(model.window)
            assert stats.failures == sum(failed for failed, _ in model.window)
        if model.state is OPEN:
            assert stats.retry_after == model.retry_after(self.clock.now)


@pytest.fixture
def event_loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def run_model(storage: BreakerStorage, clock: FakeClock, loop: Any, examples: int) -> None:
    machine = type(
        "Machine", (BreakerMachine,), {"storage": storage, "clock": clock, "loop": loop}
    )
    run_state_machine_as_test(
        machine, settings=settings(max_examples=examples, stateful_step_count=40, deadline=None)
    )


def test_memory_breaker_matches_the_model_over_many_steps(
    event_loop_thread: asyncio.AbstractEventLoop,
) -> None:
    STEPS["count"] = 0
    run_model(MemoryStorage(), FakeClock(), event_loop_thread, examples=300)
    assert STEPS["count"] >= 10_000, f"only {STEPS['count']} steps ran"


def test_redis_breaker_matches_the_model(
    event_loop_thread: asyncio.AbstractEventLoop,
    redis_url: str,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only the steps re-read the state: a periodic re-read racing a step is another test's.
    monkeypatch.setattr(redis_storage, "RESYNC_INTERVAL", 1e9)
    clock = FakeClock()
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    STEPS["count"] = 0
    run_model(RedisStorage(client, redis_prefix, clock=clock), clock, event_loop_thread, 100)
    assert STEPS["count"] >= 2_000, f"only {STEPS['count']} steps ran"
