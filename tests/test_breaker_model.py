"""The breaker against a simple model: a hypothesis state machine with in-flight calls.

Calls are driven through ``call_async`` by hand (``coroutine.send``), so a call can stay in
flight across steps without threads: admission happens on the first ``send``, the outcome
when the test resolves the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any

import pytest
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

from flask_guard import CircuitBreaker, CircuitOpenError, CircuitState

from .conftest import FakeClock

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
RECOVERY = 10.0
STEPS = {"count": 0}


class Boom(Exception):
    pass


class Gate:
    """An awaitable that suspends once and then returns or raises what the test sends."""

    def __await__(self) -> Generator[Gate, object, str]:
        outcome = yield self
        return str(outcome)


@dataclass
class Model:
    """What the breaker should do, written as plainly as possible."""

    failure_threshold: int
    half_open_max_calls: int
    success_threshold: int
    state: CircuitState = CLOSED
    failures: int = 0
    opened_at: float = 0.0
    forced: bool = False
    trials: int = 0
    successes: int = 0
    generation: int = 0
    rejections: int = 0

    def observe(self, now: float) -> None:
        if self.state is OPEN and not self.forced and now >= self.opened_at + RECOVERY:
            self.move(HALF_OPEN)
            self.trials = self.successes = 0

    def admit(self, now: float) -> tuple[int, bool] | None:
        self.observe(now)
        if self.state is CLOSED:
            return (self.generation, False)
        if self.state is HALF_OPEN and self.trials < self.half_open_max_calls:
            self.trials += 1
            return (self.generation, True)
        self.rejections += 1
        return None

    def succeed(self, generation: int, trial: bool) -> None:
        if generation != self.generation:
            return
        if not trial:
            self.failures = 0
            return
        self.trials -= 1
        self.successes += 1
        if self.successes >= self.success_threshold:
            self.close()

    def fail(self, generation: int, trial: bool, now: float) -> None:
        if generation != self.generation:
            return
        if not trial:
            self.failures += 1
        if trial or self.failures >= self.failure_threshold:
            self.open(now)

    def neutral(self, generation: int, trial: bool) -> None:
        if trial and generation == self.generation:
            self.trials -= 1

    def open(self, now: float) -> None:
        self.opened_at = now
        self.move(OPEN)

    def close(self) -> None:
        self.forced = False
        self.failures = 0
        if self.state is not CLOSED:
            self.move(CLOSED)

    def move(self, state: CircuitState) -> None:
        self.state = state
        self.generation += 1


@dataclass
class InFlight:
    coroutine: Coroutine[Any, Any, str]
    ticket: tuple[int, bool]


@dataclass
class Calls:
    running: list[InFlight] = field(default_factory=list)


class BreakerMachine(RuleBasedStateMachine):
    @initialize(
        failure_threshold=st.integers(1, 3),
        half_open_max_calls=st.integers(1, 3),
        success_threshold=st.integers(1, 3),
    )
    def build(
        self, failure_threshold: int, half_open_max_calls: int, success_threshold: int
    ) -> None:
        self.clock = FakeClock()
        self.breaker = CircuitBreaker(
            "model",
            failure_threshold=failure_threshold,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            recovery_timeout=RECOVERY,
            ignore=(KeyError,),
            clock=self.clock,
        )
        self.model = Model(failure_threshold, half_open_max_calls, success_threshold)
        self.calls = Calls()

    def teardown(self) -> None:
        for call in getattr(self, "calls", Calls()).running:
            call.coroutine.close()

    @rule()
    def start_call(self) -> None:
        STEPS["count"] += 1
        ticket = self.model.admit(self.clock.now)
        coroutine = self.breaker.call_async(self._protected)
        try:
            coroutine.send(None)
        except CircuitOpenError:
            assert ticket is None, "the breaker rejected a call the model admits"
            return
        assert ticket is not None, "the breaker admitted a call the model rejects"
        self.calls.running.append(InFlight(coroutine, ticket))

    @rule(count=st.integers(2, 5))
    def start_many(self, count: int) -> None:
        """Start several calls that stay in flight together, as concurrent callers would."""
        for _ in range(count):
            self.start_call()

    @rule(outcome=st.sampled_from(["ok", "fail", "fail", "fail", "ignored"]))
    def complete_call(self, outcome: str) -> None:
        """Start a call and finish it at once: reaches the interesting states sooner."""
        self.start_call()
        if self.calls.running:
            self.calls.running.insert(0, self.calls.running.pop())
            self.finish_call(0, outcome)

    async def _protected(self) -> str:
        return await Gate()

    @precondition(lambda self: self.calls.running)
    @rule(index=st.integers(0, 10), outcome=st.sampled_from(["ok", "fail", "ignored", "cancel"]))
    def finish_call(self, index: int, outcome: str) -> None:
        STEPS["count"] += 1
        call = self.calls.running.pop(index % len(self.calls.running))
        generation, trial = call.ticket
        if outcome == "ok":
            self.model.succeed(generation, trial)
            with pytest.raises(StopIteration) as stop:
                call.coroutine.send("ok")
            assert stop.value.value == "ok"
        elif outcome == "fail":
            self.model.fail(generation, trial, self.clock.now)
            self._throw(call, Boom())
        elif outcome == "ignored":
            self.model.neutral(generation, trial)
            self._throw(call, KeyError("ignored"))
        else:
            self.model.neutral(generation, trial)
            self._throw(call, asyncio.CancelledError())

    @staticmethod
    def _throw(call: InFlight, error: BaseException) -> None:
        try:
            call.coroutine.throw(error)
        except type(error):
            return
        raise AssertionError("the breaker swallowed an exception")

    @precondition(lambda self: self.model.state is OPEN)
    @rule(seconds=st.sampled_from([3.0, 9.99, 10.0, 25.0]))
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
        self.model.forced = True
        if self.model.state is not OPEN:
            self.model.open(self.clock.now)
        self.breaker.force_open()

    @precondition(lambda self: self.model.state is not CLOSED)
    @rule()
    def force_close(self) -> None:
        STEPS["count"] += 1
        self.model.close()
        self.breaker.force_close()

    @invariant()
    def matches_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        stats = self.breaker.stats
        assert stats.state is self.model.state
        assert stats.forced is self.model.forced
        assert stats.rejections == self.model.rejections
        if self.model.state is CLOSED:
            assert stats.failures == self.model.failures
        if self.model.state is OPEN and not self.model.forced:
            expected = max(0.0, self.model.opened_at + RECOVERY - self.clock.now)
            assert stats.retry_after == expected


def test_breaker_matches_the_model_over_many_steps() -> None:
    STEPS["count"] = 0
    run_state_machine_as_test(
        BreakerMachine,
        settings=settings(max_examples=300, stateful_step_count=50, deadline=None),
    )
    assert STEPS["count"] >= 10_000, f"only {STEPS['count']} steps ran"
