"""What a breaker counts: failures, what it ignores, client errors, interruptions, leases."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import NotFound

from flask_guard import ApiError, CircuitBreaker, CircuitOpenError

from ..conftest import FakeClock
from .test_breaker import CLOSED, HALF_OPEN, OPEN, UpstreamDown, _raiser, fail, fail_times, ok


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker("payments", failure_threshold=3, recovery_timeout=10, clock=clock)


def test_ignored_exceptions_pass_uncounted(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, ignore=(KeyError,), clock=clock)
    fail_times(breaker, 3, KeyError("sku"))
    assert breaker.state is CLOSED
    assert breaker.stats.total_failures == 0


def test_is_failure_false_passes_uncounted(clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        "b", failure_threshold=1, is_failure=lambda e: "retry" not in str(e), clock=clock
    )
    fail_times(breaker, 2, UpstreamDown("please retry"))
    assert breaker.state is CLOSED
    fail_times(breaker, 1, UpstreamDown("dead"))
    assert breaker.state is OPEN


def test_exceptions_outside_failure_on_pass_uncounted(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, failure_on=(ConnectionError,), clock=clock)
    fail_times(breaker, 2, ValueError("bad input"))
    assert breaker.state is CLOSED
    fail_times(breaker, 1, ConnectionError("refused"))
    assert breaker.state is OPEN


@pytest.mark.parametrize("error", [ApiError.not_found("Order"), NotFound(), ApiError.conflict()])
def test_client_errors_never_count(clock: FakeClock, error: Exception) -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, clock=clock)
    fail_times(breaker, 2, error)
    assert breaker.state is CLOSED


def test_server_api_errors_count(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, clock=clock)
    fail_times(breaker, 1, ApiError.bad_gateway())
    assert breaker.state is OPEN


def test_ignored_exception_does_not_reset_the_count(breaker: CircuitBreaker) -> None:
    guarded = CircuitBreaker("b", failure_threshold=2, ignore=(KeyError,))
    fail_times(guarded, 1)
    fail_times(guarded, 1, KeyError("x"))
    fail_times(guarded, 1)
    assert guarded.state is OPEN


@pytest.mark.parametrize("interruption", [KeyboardInterrupt(), SystemExit(1), GeneratorExit()])
def test_base_exceptions_count_as_nothing_and_return_the_permit(
    clock: FakeClock, interruption: BaseException
) -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, clock=clock)
    fail_times(breaker, 1, interruption)
    assert breaker.state is CLOSED
    fail_times(breaker, 1)
    clock.advance(30)
    fail_times(breaker, 1, interruption)
    assert breaker.state is HALF_OPEN
    assert breaker.call(ok) == "ok"  # the permit came back, so this trial is admitted
    assert breaker.state is CLOSED


def test_fallback_replaces_failures_and_rejections(clock: FakeClock) -> None:
    seen: list[Exception] = []

    def fallback(error: Exception) -> str:
        seen.append(error)
        return "cached"

    breaker = CircuitBreaker("b", failure_threshold=1, fallback=fallback, clock=clock)
    assert breaker.call(fail) == "cached"
    assert breaker.call(ok) == "cached"
    assert [type(e) for e in seen] == [UpstreamDown, CircuitOpenError]
    with pytest.raises(KeyError):
        CircuitBreaker("c", ignore=(KeyError,), fallback=fallback).call(_raiser(KeyError("k")))


def test_outcome_of_a_call_from_an_earlier_state_is_ignored(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, recovery_timeout=10, clock=clock)

    def slow_failure() -> None:
        fail_times(breaker, 1)  # meanwhile another call opens the breaker
        clock.advance(10)
        assert breaker.state is HALF_OPEN
        raise UpstreamDown("late")

    with pytest.raises(UpstreamDown, match="late"):
        breaker.call(slow_failure)
    assert breaker.state is HALF_OPEN


def test_a_hung_trial_frees_its_permit_when_its_lease_expires(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail_times(breaker, 3)
    clock.advance(10)

    def hang_until_a_second_trial_ran() -> str:
        with pytest.raises(CircuitOpenError):
            breaker.call(ok)  # the lease is live: the only permit is taken
        clock.advance(11)  # the lease expires (it lasts recovery_timeout)
        assert breaker.call(lambda: "second trial") == "second trial"
        return "late"

    assert breaker.call(hang_until_a_second_trial_ran) == "late"
    assert breaker.state is CLOSED


def test_a_trial_slower_than_its_lease_still_reports_its_failure(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail_times(breaker, 3)
    clock.advance(10)

    def slow_failure() -> None:
        clock.advance(15)
        raise UpstreamDown("still down")

    with pytest.raises(UpstreamDown):
        breaker.call(slow_failure)
    assert breaker.stats.state is OPEN


def test_client_errors_are_neither_failures_nor_successes(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", failure_threshold=2, clock=clock)
    fail_times(breaker, 1)
    fail_times(breaker, 1, ApiError.not_found("Order"))
    fail_times(breaker, 1, NotFound())
    assert breaker.stats.failures == 1  # not reset either
    fail_times(breaker, 1)
    assert breaker.state is OPEN
    assert breaker.stats.total_failures == 2


def test_a_client_error_in_a_trial_gives_the_permit_back(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, clock=clock)
    fail_times(breaker, 1)
    clock.advance(30)
    fail_times(breaker, 1, ApiError.bad_request())
    assert breaker.state is HALF_OPEN
    assert breaker.call(ok) == "ok"
    assert breaker.state is CLOSED


def test_client_errors_never_open_a_window_breaker(clock: FakeClock) -> None:
    breaker = CircuitBreaker("b", window_size=2, failure_rate_threshold=0.5, clock=clock)
    fail_times(breaker, 5, ApiError.validation_error())
    assert breaker.state is CLOSED
    assert breaker.stats.window_calls == 0
