"""Wait strategies: their bounds, their composition, and urllib3's schedule kept exactly."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from urllib3.util.retry import Retry

from flask_guard import waits
from flask_guard.resilience.waits import from_backoff_factor

retries = st.integers(1, 40)
seconds = st.floats(0, 30)


def test_fixed_and_linear_waits() -> None:
    assert [waits.Fixed(0.5)(n, 0) for n in (1, 2, 9)] == [0.5, 0.5, 0.5]
    assert [waits.Linear(0.1, step=0.2)(n, 0) for n in (1, 2, 3)] == pytest.approx([0.1, 0.3, 0.5])


def test_exponential_without_jitter_doubles_up_to_its_maximum() -> None:
    wait = waits.Exponential(0.1, maximum=1)
    assert [wait(n, 0) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1, 1])


@given(retry=retries, initial=st.floats(0.001, 2), maximum=st.floats(0.01, 30))
def test_full_jitter_stays_under_the_capped_ceiling_and_equal_jitter_above_its_half(
    retry: int, initial: float, maximum: float
) -> None:
    ceiling = min(maximum, initial * 2 ** (retry - 1))
    assert 0 <= waits.Exponential(initial, jitter="full", maximum=maximum)(retry, 0) <= ceiling
    equal = waits.Exponential(initial, jitter="equal", maximum=maximum)(retry, 0)
    assert ceiling / 2 <= equal <= ceiling


def test_full_jitter_stays_spread_once_capped() -> None:
    wait = waits.Exponential(1, jitter="full").up_to(10)
    samples = [wait(30, 0) for _ in range(200)]
    assert max(samples) <= 10
    assert min(samples) < 5  # capped before the jitter: not pinned at the cap


@given(retry=retries, previous=seconds, initial=st.floats(0.001, 2), cap=st.floats(0.01, 30))
def test_decorrelated_jitter_grows_from_the_previous_wait_within_its_bounds(
    retry: int, previous: float, initial: float, cap: float
) -> None:
    wait = waits.Decorrelated(initial, maximum=cap)(retry, previous)
    assert min(cap, initial) <= wait <= min(cap, max(initial, 3 * (previous or initial)))


def test_strategies_compose() -> None:
    summed = waits.Fixed(1) + waits.Linear(0, step=0.5) + waits.Fixed(0.25)
    assert summed(3, 0) == pytest.approx(2.25)
    assert waits.Linear(1, step=1).up_to(2.5)(5, 0) == 2.5
    chain = waits.Chain(waits.Fixed(0), waits.Fixed(3), waits.Exponential(1))
    assert [chain(n, 0) for n in (1, 2, 3, 4)] == [0, 3, 4, 8]


@pytest.mark.parametrize("factor", [0, 0.1, 0.5, 2])
def test_the_default_schedule_is_urllib3s_for_the_same_backoff_factor(factor: float) -> None:
    ours = from_backoff_factor(factor)
    retry = Retry(total=20, backoff_factor=factor)
    for n in range(1, 15):
        retry = retry.increment(method="GET", url="/")
        assert ours(n, 0) == pytest.approx(retry.get_backoff_time()), n


def test_a_huge_retry_number_does_not_overflow() -> None:
    assert waits.Exponential(1, maximum=60)(10_000, 0) == 60
    assert math.isfinite(waits.Exponential(1, jitter="full", maximum=60)(10_000, 0))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: waits.Fixed(-1), "seconds must be a number of seconds, 0 or more"),
        (
            lambda: waits.Exponential(0.1, jitter="half"),  # type: ignore[arg-type]
            'jitter must be "full", "equal"',
        ),
        (lambda: waits.Exponential(0.1, multiplier=0), "multiplier must be"),
        (lambda: waits.Linear(0.1, step=-1), "step must be"),
        (lambda: waits.Fixed(1).up_to(-2), "maximum must be"),
    ],
)
def test_invalid_waits_are_explained(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_waits_are_immutable_values() -> None:
    wait = waits.Exponential(0.1, jitter="full")
    assert wait == waits.Exponential(0.1, jitter="full")
    with pytest.raises(AttributeError):
        wait.initial = 3  # type: ignore[misc]
