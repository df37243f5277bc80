"""Deterministic concurrency: barriers and counters, no sleeps and no timing thresholds."""

from __future__ import annotations

import contextlib
import threading

import pytest

from flask_guard import CircuitBreaker, CircuitOpenError, CircuitState, signals

from ..conftest import FakeClock

WAIT = 10  # seconds a barrier waits before declaring the test broken


class Inside:
    """Count the callers inside the protected function, and the most seen at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.total = 0

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


def run_threads(count: int, target: object) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]  # type: ignore[arg-type]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()


@pytest.mark.parametrize("permits", [1, 3])
def test_half_open_admits_exactly_k_of_50_concurrent_callers(
    clock: FakeClock, permits: int
) -> None:
    breaker = CircuitBreaker(
        "b", failure_threshold=1, recovery_timeout=10, half_open_max_calls=permits, clock=clock
    )
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    clock.advance(10)

    callers = 50
    start = threading.Barrier(callers)
    inside = Inside()
    outcomes: list[str] = []
    settled = threading.Condition()

    def protected() -> None:
        inside.enter()
        with settled:  # stay inside until every caller was admitted or rejected
            settled.wait_for(lambda: inside.total + outcomes.count("rejected") == callers, WAIT)
        inside.leave()

    def caller() -> None:
        start.wait(WAIT)
        try:
            breaker.call(protected)
            result = "admitted"
        except CircuitOpenError:
            result = "rejected"
        with settled:
            outcomes.append(result)
            settled.notify_all()

    run_threads(callers, caller)
    assert inside.total == permits
    assert inside.peak == permits
    assert outcomes.count("admitted") == permits
    assert outcomes.count("rejected") == callers - permits
    assert breaker.state is CircuitState.CLOSED


def test_closed_breaker_runs_8_callers_at_once() -> None:
    breaker = CircuitBreaker("b")
    callers = 8
    all_inside = threading.Barrier(callers)
    inside = Inside()

    @breaker
    def protected() -> None:
        inside.enter()
        all_inside.wait(WAIT)  # breaks (and fails the test) unless all 8 get in together
        inside.leave()

    run_threads(callers, protected)
    assert inside.peak == callers
    assert not all_inside.broken


def test_window_breaker_runs_8_callers_at_once() -> None:
    breaker = CircuitBreaker("b", window_size=10, slow_call_duration=60)
    all_inside = threading.Barrier(8)
    inside = Inside()

    def protected() -> None:
        inside.enter()
        all_inside.wait(WAIT)
        inside.leave()

    run_threads(8, lambda: breaker.call(protected))
    assert inside.peak == 8
    assert breaker.stats.window_calls == 8


def test_concurrent_failures_open_once_and_count_every_failure() -> None:
    breaker = CircuitBreaker("b", failure_threshold=5)
    opened: list[str] = []
    callers = 20
    start = threading.Barrier(callers)

    def count_openings(sender: CircuitBreaker, **kwargs: object) -> None:
        if kwargs["new"] is CircuitState.OPEN:
            opened.append(str(kwargs["reason"]))

    def caller() -> None:
        start.wait(WAIT)
        with contextlib.suppress(ZeroDivisionError, CircuitOpenError):
            breaker.call(lambda: 1 / 0)

    signals.breaker_state_changed.connect(count_openings, breaker)
    try:
        run_threads(callers, caller)
    finally:
        signals.breaker_state_changed.disconnect(count_openings, breaker)
    stats = breaker.stats
    assert opened == ["failure_threshold"]
    assert stats.total_failures + stats.rejections == callers
