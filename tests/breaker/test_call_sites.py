"""A breaker that fits every call site: blocks, a success signal, a time window, and
exception groups."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_guard import ApiError, CircuitBreaker, CircuitOpenError, CircuitState
from flask_guard.breaker.window import TimeWindow
from flask_guard.signals import breaker_call_succeeded
from flask_guard.storage.redis import RedisStorage

from ..conftest import FakeClock


def test_a_with_block_is_a_call_its_exception_a_failure_and_an_open_breaker_refuses_it(
    clock: FakeClock,
) -> None:
    breaker = CircuitBreaker("db", failure_threshold=2, clock=clock)
    ran: list[int] = []
    with breaker:
        ran.append(1)
    for _ in range(2):
        with pytest.raises(ConnectionError), breaker:
            raise ConnectionError("db down")
    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError), breaker:
        ran.append(2)
    assert ran == [1]
    assert breaker.stats.total_failures == 2


def test_a_block_that_succeeds_after_failures_resets_the_count(clock: FakeClock) -> None:
    breaker = CircuitBreaker("db", failure_threshold=2, clock=clock)
    with pytest.raises(ConnectionError), breaker:
        raise ConnectionError("db down")
    with breaker:
        pass
    with pytest.raises(ConnectionError), breaker:
        raise ConnectionError("db down")
    assert breaker.state is CircuitState.CLOSED


def test_a_client_error_in_a_block_counts_as_nothing(clock: FakeClock) -> None:
    breaker = CircuitBreaker("db", failure_threshold=1, clock=clock)
    with pytest.raises(ApiError), breaker:
        raise ApiError.not_found("Order")
    assert breaker.state is CircuitState.CLOSED


def test_a_half_open_block_is_the_trial_and_its_success_closes_the_breaker(
    clock: FakeClock,
) -> None:
    breaker = CircuitBreaker("db", failure_threshold=1, recovery_timeout=10, clock=clock)
    with pytest.raises(ConnectionError), breaker:
        raise ConnectionError("db down")
    clock.advance(10)
    entered = threading.Barrier(2)
    leave = threading.Event()
    refused: list[BaseException] = []

    def trial() -> None:
        with breaker:
            entered.wait()
            leave.wait()

    thread = threading.Thread(target=trial)
    thread.start()
    entered.wait()
    try:
        with breaker:
            pass
    except CircuitOpenError as error:
        refused.append(error)
    leave.set()
    thread.join()
    assert len(refused) == 1
    assert breaker.state is CircuitState.CLOSED


def test_a_cancelled_async_block_gives_its_trial_permit_back(clock: FakeClock) -> None:
    breaker = CircuitBreaker("db", failure_threshold=1, recovery_timeout=10, clock=clock)
    with pytest.raises(ConnectionError), breaker:
        raise ConnectionError("db down")
    clock.advance(10)

    async def scenario() -> None:
        started = asyncio.Event()

        async def trial() -> None:
            async with breaker:
                started.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(trial())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with breaker:  # the permit came back: this is the next trial
            pass

    asyncio.run(scenario())
    assert breaker.state is CircuitState.CLOSED


def test_nested_blocks_of_two_breakers_each_report_their_own_outcome(clock: FakeClock) -> None:
    outer = CircuitBreaker("outer", failure_threshold=1, clock=clock)
    inner = CircuitBreaker("inner", failure_threshold=1, clock=clock)
    with outer, pytest.raises(ConnectionError), inner:
        raise ConnectionError("inner down")
    assert inner.state is CircuitState.OPEN
    assert outer.state is CircuitState.CLOSED


def test_a_block_shares_its_outcome_with_the_fleet(redis_url: str, redis_prefix: str) -> None:
    first = CircuitBreaker(
        "db", failure_threshold=2, storage=RedisStorage.from_url(redis_url, redis_prefix)
    )
    second = CircuitBreaker(
        "db", failure_threshold=2, storage=RedisStorage.from_url(redis_url, redis_prefix)
    )
    for breaker in (first, second):
        with pytest.raises(ConnectionError), breaker:
            raise ConnectionError("db down")
    assert second.state is CircuitState.OPEN  # one failure each: two for the fleet
    with pytest.raises(CircuitOpenError), second:
        pass


def test_every_success_is_signalled_with_its_duration(clock: FakeClock) -> None:
    breaker = CircuitBreaker("db", clock=clock)
    seen: list[tuple[object, dict[str, Any]]] = []

    def receiver(sender: object, **kwargs: Any) -> None:
        seen.append((sender, kwargs))

    def slow() -> str:
        clock.advance(0.25)
        return "ok"

    async def slow_async() -> str:
        clock.advance(0.5)
        return "ok"

    with breaker_call_succeeded.connected_to(receiver):
        breaker.call(slow)
        breaker(slow)()
        asyncio.run(breaker.call_async(slow_async))
        with breaker:
            clock.advance(1.0)
        with pytest.raises(ConnectionError), breaker:
            raise ConnectionError("no success")
    assert seen == [
        (breaker, {"duration": 0.25}),
        (breaker, {"duration": 0.25}),
        (breaker, {"duration": 0.5}),
        (breaker, {"duration": 1.0}),
    ]


def test_a_time_window_opens_on_the_failure_rate_of_the_last_seconds_only(
    clock: FakeClock,
) -> None:
    breaker = CircuitBreaker(
        "db", window_duration=10, minimum_calls=4, failure_rate_threshold=0.5, clock=clock
    )
    for _ in range(3):
        with pytest.raises(ConnectionError), breaker:
            raise ConnectionError("db down")
    clock.advance(11)  # those three are forgotten
    for _ in range(3):
        with breaker:
            pass
    states = []
    for _ in range(3):
        with pytest.raises(ConnectionError), breaker:
            raise ConnectionError("db down")
        states.append(breaker.state.value)
    # 1 failure of 4 calls in the window, 2 of 5, then 3 of 6: half
    assert states == ["closed", "closed", "open"]


def test_a_time_window_and_a_count_window_cannot_both_be_given() -> None:
    with pytest.raises(ValueError, match="not both"):
        CircuitBreaker("db", window_size=10, window_duration=10)


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 6),
    outcomes=st.lists(
        st.tuples(st.floats(0, 4, allow_nan=False), st.booleans(), st.booleans()), max_size=40
    ),
)
def test_a_time_window_counts_what_a_list_of_timestamps_counts(
    size: int, outcomes: list[tuple[float, bool, bool]]
) -> None:
    window = TimeWindow(size)
    now = 0.0
    recorded: list[tuple[int, bool, bool]] = []
    for step, failed, slow in outcomes:
        now += step
        window.record(failed, slow, now)
        second = int(now // 1)
        recorded.append((second, failed, slow))
        alive = [r for r in recorded if r[0] > second - size]
        assert window.calls == len(alive)
        assert window.failures == sum(r[1] for r in alive)
        assert window.slow_calls == sum(r[2] for r in alive)


def test_an_exception_group_with_a_counted_failure_counts_once(clock: FakeClock) -> None:
    breaker = CircuitBreaker("db", failure_threshold=2, ignore=(KeyError,), clock=clock)
    group = ExceptionGroup("both", [ConnectionError("a"), ConnectionError("b"), KeyError("c")])
    with pytest.raises(ExceptionGroup), breaker:
        raise group
    assert breaker.stats.failures == 1
    assert breaker.state is CircuitState.CLOSED


def test_an_exception_group_of_uncounted_errors_counts_as_nothing(clock: FakeClock) -> None:
    breaker = CircuitBreaker("db", failure_threshold=1, ignore=(KeyError,), clock=clock)
    nested = ExceptionGroup("outer", [KeyError("a"), ExceptionGroup("inner", [KeyError("b")])])
    with pytest.raises(ExceptionGroup), breaker:
        raise nested
    with pytest.raises(ExceptionGroup), breaker:
        raise ExceptionGroup("client", [ApiError.not_found("Order")])
    assert breaker.state is CircuitState.CLOSED
    assert breaker.stats.total_failures == 0
