"""CircuitBreaker: counting, opening, half-open trials, classification, controls, signals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from flask_guard import CircuitBreaker, CircuitOpenError, CircuitState, signals

from ..conftest import FakeClock

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class UpstreamDown(Exception):
    pass


def ok() -> str:
    return "ok"


def fail() -> None:
    raise UpstreamDown("boom")


def fail_times(breaker: CircuitBreaker, times: int, error: BaseException | None = None) -> None:
    for _ in range(times):
        with pytest.raises(type(error) if error else UpstreamDown):
            breaker.call(_raiser(error or UpstreamDown("boom")))


def _raiser(error: BaseException):  # type: ignore[no-untyped-def]
    def raise_it() -> None:
        raise error

    return raise_it


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker("payments", failure_threshold=3, recovery_timeout=10, clock=clock)


def test_opens_after_consecutive_failures(breaker: CircuitBreaker) -> None:
    fail_times(breaker, 2)
    assert breaker.state is CLOSED
    fail_times(breaker, 1)
    assert breaker.state is OPEN


def test_success_resets_the_consecutive_count(breaker: CircuitBreaker) -> None:
    fail_times(breaker, 2)
    assert breaker.call(ok) == "ok"
    fail_times(breaker, 2)
    assert breaker.state is CLOSED
    assert breaker.stats.failures == 2


def test_open_breaker_rejects_without_calling(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail_times(breaker, 3)
    clock.advance(4)
    calls: list[int] = []
    with pytest.raises(CircuitOpenError) as excinfo:
        breaker.call(calls.append, 1)
    assert calls == []
    assert excinfo.value.name == "payments"
    assert excinfo.value.retry_after == pytest.approx(6)
    assert "payments" in str(excinfo.value)
    assert breaker.stats.rejections == 1


def test_recovery_timeout_leads_to_half_open(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail_times(breaker, 3)
    clock.advance(9.99)
    assert breaker.state is OPEN
    clock.advance(0.01)
    assert breaker.state is HALF_OPEN
    assert breaker.stats.retry_after == 0


def test_successful_trial_closes(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail_times(breaker, 3)
    clock.advance(10)
    assert breaker.call(ok) == "ok"
    assert breaker.state is CLOSED
    assert breaker.stats.failures == 0


def test_failed_trial_reopens_and_restarts_the_timer(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail_times(breaker, 3)
    clock.advance(15)
    fail_times(breaker, 1)
    assert breaker.state is OPEN
    clock.advance(9)
    assert breaker.state is OPEN
    clock.advance(1)
    assert breaker.state is HALF_OPEN


def test_success_threshold_needs_that_many_trials(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, success_threshold=3, clock=clock)
    fail_times(breaker, 1)
    clock.advance(30)
    for _ in range(2):
        breaker.call(ok)
        assert breaker.state is HALF_OPEN
    breaker.call(ok)
    assert breaker.state is CLOSED


def test_force_open_holds_until_closed(breaker: CircuitBreaker, clock: FakeClock) -> None:
    breaker.force_open()
    clock.advance(3600)
    assert breaker.state is OPEN
    with pytest.raises(CircuitOpenError) as excinfo:
        breaker.call(ok)
    assert excinfo.value.retry_after == 10
    assert breaker.stats.forced
    breaker.force_close()
    assert breaker.state is CLOSED
    assert breaker.call(ok) == "ok"


def test_force_open_of_an_open_breaker_stops_recovery(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail_times(breaker, 3)
    breaker.force_open()
    clock.advance(60)
    assert breaker.state is OPEN


def test_reset_clears_everything(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail_times(breaker, 3)
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    breaker.reset()
    stats = breaker.stats
    assert (stats.state, stats.failures, stats.total_failures, stats.rejections) == (
        CLOSED,
        0,
        0,
        0,
    )
    assert stats.last_failure is None
    assert stats.opened_at is None


def test_stats_describe_the_last_failure(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail_times(breaker, 3)
    stats = breaker.stats
    assert stats.name == "payments"
    assert (stats.last_failure, stats.last_failure_at, stats.opened_at) == (
        "UpstreamDown",
        clock.now,
        clock.now,
    )
    assert stats.total_failures == 3
    assert stats.retry_after == 10
    assert stats.window_calls is None


def test_sliding_window_opens_on_failure_rate(clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        "b", window_size=4, failure_rate_threshold=0.5, minimum_calls=4, clock=clock
    )
    breaker.call(ok)
    fail_times(breaker, 1)
    breaker.call(ok)
    assert breaker.state is CLOSED  # 1 of 3: not enough calls yet
    fail_times(breaker, 1)
    assert breaker.state is OPEN  # 2 of 4
    assert breaker.stats.window_calls == 4


def test_sliding_window_forgets_old_outcomes(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", window_size=4, failure_rate_threshold=0.75, clock=clock)
    fail_times(breaker, 2)
    for _ in range(4):
        breaker.call(ok)
    fail_times(breaker, 2)
    assert breaker.state is CLOSED  # the window holds ok, ok, fail, fail
    fail_times(breaker, 1)
    assert breaker.state is OPEN


def test_slow_call_rate_opens(clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        "b", window_size=2, slow_call_duration=1.0, slow_call_rate_threshold=1.0, clock=clock
    )

    def slow() -> str:
        clock.advance(1.5)
        return "late"

    breaker.call(slow)
    assert breaker.state is CLOSED
    breaker.call(slow)
    assert breaker.state is OPEN
    clock.advance(30)
    assert breaker.call(slow) == "late"
    assert breaker.state is OPEN  # a slow trial reopens the breaker


def test_window_defaults() -> None:
    policy = CircuitBreaker("b", window_size=20).policy
    assert (policy.failure_rate_threshold, policy.minimum_calls) == (0.5, 20)
    slow = CircuitBreaker("b", window_size=20, slow_call_duration=2).policy
    assert (slow.failure_rate_threshold, slow.slow_call_rate_threshold) == (0.5, 1.0)


def test_slow_call_detection_keeps_failure_rate_opening(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", window_size=4, slow_call_duration=5, clock=clock)
    fail_times(breaker, 4)
    assert breaker.state is OPEN


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold must be a whole number of at least 1"),
        ({"half_open_max_calls": 1.5}, "half_open_max_calls must be a whole number"),
        ({"recovery_timeout": -1}, "recovery_timeout must be a number of seconds above 0"),
        ({"failure_rate_threshold": 0.5}, "failure_rate_threshold needs window_size"),
        ({"window_size": 10, "failure_rate_threshold": 50}, "must be a fraction above 0"),
        ({"window_size": 10, "minimum_calls": 11}, "minimum_calls must be 1 to window_size"),
        ({"window_size": 5, "slow_call_rate_threshold": 0.5}, "needs slow_call_duration"),
        ({"ignore": KeyError}, "ignore must be a tuple of exception classes"),
    ],
)
def test_invalid_options_are_explained(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CircuitBreaker("b", **options)  # type: ignore[arg-type]


def test_decorator_keeps_the_function_and_works_on_methods(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, clock=clock)

    class Client:
        @breaker
        def fetch(self, order_id: int) -> int:
            """Fetch an order."""
            return order_id * 2

    assert Client().fetch(21) == 42
    assert Client.fetch.__name__ == "fetch"
    assert Client.fetch.__doc__ == "Fetch an order."


@pytest.fixture
def events() -> Iterator[list[tuple[str, dict[str, object]]]]:
    seen: list[tuple[str, dict[str, object]]] = []
    receivers = {}
    for name in ("breaker_state_changed", "breaker_call_rejected", "breaker_call_failed"):

        def receiver(sender: object, _name: str = name, **kwargs: object) -> None:
            seen.append((_name, kwargs))

        receivers[name] = receiver
        getattr(signals, name).connect(receiver)
    yield seen
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


def test_signals_tell_the_story(
    breaker: CircuitBreaker, clock: FakeClock, events: list[tuple[str, dict[str, object]]]
) -> None:
    fail_times(breaker, 3)
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    clock.advance(10)
    breaker.call(ok)
    names = [name for name, _ in events]
    assert names == [
        "breaker_call_failed",
        "breaker_call_failed",
        "breaker_call_failed",
        "breaker_state_changed",
        "breaker_call_rejected",
        "breaker_state_changed",
        "breaker_state_changed",
    ]
    changes = [
        (k["old"], k["new"], k["reason"]) for n, k in events if n == "breaker_state_changed"
    ]
    assert changes == [
        (CLOSED, OPEN, "failure_threshold"),
        (OPEN, HALF_OPEN, "recovery_timeout"),
        (HALF_OPEN, CLOSED, "trial_succeeded"),
    ]
    failed = events[0][1]
    assert isinstance(failed["exception"], UpstreamDown)
    assert failed["duration"] == 0


def test_receivers_run_outside_the_lock_and_may_raise(
    breaker: CircuitBreaker, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[CircuitState] = []

    def reads_the_breaker(sender: CircuitBreaker, **kwargs: object) -> None:
        seen.append(sender.stats.state)  # takes the lock: would deadlock if held
        raise RuntimeError("receiver bug")

    signals.breaker_state_changed.connect(reads_the_breaker)
    try:
        fail_times(breaker, 3)
    finally:
        signals.breaker_state_changed.disconnect(reads_the_breaker)
    assert seen == [OPEN]
    assert "receiver of the breaker-state-changed signal raised" in caplog.text


def test_transitions_are_logged(
    breaker: CircuitBreaker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="flask_guard.breaker"):
        fail_times(breaker, 3)
        clock.advance(10)
        breaker.call(ok)
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert levels == [
        (logging.WARNING, "Circuit breaker 'payments': closed -> open (failure_threshold)"),
        (logging.INFO, "Circuit breaker 'payments': open -> half_open (recovery_timeout)"),
        (logging.INFO, "Circuit breaker 'payments': half_open -> closed (trial_succeeded)"),
    ]


async def _async_ok() -> str:
    return "ok"


async def _async_fail() -> None:
    raise UpstreamDown("async boom")


def test_async_calls(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, clock=clock)

    @breaker
    async def decorated() -> str:
        return "decorated"

    assert asyncio.run(breaker.call_async(_async_ok)) == "ok"
    assert asyncio.run(decorated()) == "decorated"
    with pytest.raises(UpstreamDown):
        asyncio.run(breaker.call_async(_async_fail))
    with pytest.raises(CircuitOpenError):
        asyncio.run(decorated())


def test_cancelled_async_trial_gives_its_permit_back(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, clock=clock)
    fail_times(breaker, 1)
    clock.advance(30)

    async def scenario() -> str:
        started = asyncio.Event()

        async def hang() -> None:
            started.set()
            await asyncio.sleep(3600)

        trial = asyncio.create_task(breaker.call_async(hang))
        await started.wait()
        with pytest.raises(CircuitOpenError):
            await breaker.call_async(_async_ok)  # the only permit is taken
        trial.cancel()
        with pytest.raises(asyncio.CancelledError):
            await trial
        assert breaker.state is HALF_OPEN
        return await breaker.call_async(_async_ok)

    assert asyncio.run(scenario()) == "ok"
    assert breaker.state is CLOSED


def test_stats_say_whether_an_operator_forced_the_breaker(breaker: CircuitBreaker) -> None:
    assert not breaker.stats.forced
    breaker.force_open()
    assert breaker.stats.forced
    assert breaker.stats.retry_after == 10
    breaker.force_close()
    assert not breaker.stats.forced
    assert (breaker.stats.fleet_failures, breaker.stats.fleet_rejections) == (None, None)


def test_exceptions_and_validators_have_one_home() -> None:
    from flask_guard import GuardConfigError, errors
    from flask_guard.breaker.policy import CircuitOpenError as FromPolicy
    from flask_guard.config.keys import GuardConfigError as FromConfig

    assert CircuitOpenError is errors.CircuitOpenError is FromPolicy
    assert GuardConfigError is errors.GuardConfigError is FromConfig
