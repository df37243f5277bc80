"""The shared option checks: one wording, and True is never a number."""

from __future__ import annotations

import math

import pytest

from flask_guard import GuardConfigError
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
