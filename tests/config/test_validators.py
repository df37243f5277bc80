"""The shared option checks: one wording, and True is never a number."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from flask_guard import (
    Bulkhead,
    CircuitBreaker,
    GuardConfigError,
    retry_with_backoff,
    robust_session,
)
from flask_guard.validators import (
    exception_classes,
    flag,
    fraction,
    rate,
    seconds,
    whole_number,
)


@pytest.mark.parametrize("value", [True, False, 0, -1, 1.5, "3", None])
def test_whole_number_refuses_bools_and_anything_below_the_minimum(value: object) -> None:
    with pytest.raises(ValueError, match=r"max_attempts must be a whole number of at least 1"):
        whole_number("max_attempts", value)


@pytest.mark.parametrize("value", [True, 0, -0.5, math.inf, math.nan, "1"])
def test_seconds_must_be_finite_and_above_zero(value: object) -> None:
    with pytest.raises(ValueError, match=r"timeout must be a number of seconds above 0, got "):
        seconds("timeout", value)


def test_valid_values_come_back_unchanged() -> None:
    assert whole_number("n", 3) == 3
    assert whole_number("n", 0, minimum=0) == 0
    assert seconds("s", 0.25) == 0.25
    assert fraction("f", 1) == 1
    assert rate("r", 0) == 0.0
    assert flag("b", False) is False
    assert exception_classes("e", (KeyError,)) == (KeyError,)


def test_fractions_exclude_zero_and_rates_include_it() -> None:
    with pytest.raises(ValueError, match="a fraction above 0 and at most 1"):
        fraction("failure_rate_threshold", 0)
    with pytest.raises(ValueError, match="a number from 0 to 1"):
        rate("GUARD_SENTRY_SAMPLE_RATE", 1.5)


def test_the_error_class_is_the_callers_choice() -> None:
    with pytest.raises(GuardConfigError, match="GUARD_LOG_JSON must be True or False, got 'yes'"):
        flag("GUARD_LOG_JSON", "yes", GuardConfigError)
    with pytest.raises(ValueError, match="ignore must be a tuple of exception classes"):
        exception_classes("ignore", KeyError)


# One rule set: every count and every duration of every part refuses the same values.
COUNT_OPTIONS: dict[str, Callable[[object], object]] = {
    "max_attempts": lambda v: retry_with_backoff(max_attempts=v),  # type: ignore[arg-type]
    "failure_threshold": lambda v: CircuitBreaker("c", failure_threshold=v),  # type: ignore[arg-type]
    "retries": lambda v: robust_session(retries=v),  # type: ignore[arg-type]
    "pool_maxsize": lambda v: robust_session(pool_maxsize=v),  # type: ignore[arg-type]
    "max_concurrent": lambda v: Bulkhead("b", v),  # type: ignore[arg-type]
}
DURATION_OPTIONS: dict[str, Callable[[object], object]] = {
    "base_delay": lambda v: retry_with_backoff(base_delay=v),  # type: ignore[arg-type]
    "max_time": lambda v: retry_with_backoff(max_time=v),  # type: ignore[arg-type]
    "recovery_timeout": lambda v: CircuitBreaker("c", recovery_timeout=v),  # type: ignore[arg-type]
    "total_timeout": lambda v: robust_session(total_timeout=v),  # type: ignore[arg-type]
    "backoff_factor": lambda v: robust_session(backoff_factor=v),  # type: ignore[arg-type]
    "max_wait": lambda v: Bulkhead("b", 1, max_wait=v),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("value", [True, False, -1, 2.0, math.nan, "3"])
@pytest.mark.parametrize("option", sorted(COUNT_OPTIONS))
def test_retry_breaker_session_and_bulkhead_refuse_the_same_counts(
    option: str, value: object
) -> None:
    with pytest.raises(ValueError, match=rf"^{option} must be a whole number"):
        COUNT_OPTIONS[option](value)


@pytest.mark.parametrize("value", [True, -1, math.nan, math.inf, "1"])
@pytest.mark.parametrize("option", sorted(DURATION_OPTIONS))
def test_retry_breaker_session_and_bulkhead_refuse_the_same_durations(
    option: str, value: object
) -> None:
    with pytest.raises(ValueError, match=rf"^{option} must be a number of seconds"):
        DURATION_OPTIONS[option](value)
