"""The options of a circuit breaker, validated once, and how they classify an outcome."""

from __future__ import annotations

import dataclasses
import difflib
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors.exceptions import CircuitOpenError, is_client_error
from ..validators import (
    ExceptionClasses,
    exception_classes,
    fraction,
    seconds,
    whole_number,
)
from .window import OutcomeWindow, TimeWindow, Window

__all__ = [
    "OPTION_NAMES",
    "BreakerPolicy",
    "CircuitOpenError",
    "CircuitState",
    "ExceptionClasses",
    "policy_from",
]


class CircuitState(enum.Enum):
    """The state of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    """The validated options of a :class:`~flask_guard.CircuitBreaker`.

    See :class:`~flask_guard.CircuitBreaker` for what each option means.
    """

    failure_threshold: int = 5
    recovery_timeout: float = 30.0
    half_open_max_calls: int = 1
    success_threshold: int = 1
    window_size: int | None = None
    window_duration: int | None = None
    failure_rate_threshold: float | None = None
    minimum_calls: int | None = None
    slow_call_duration: float | None = None
    slow_call_rate_threshold: float | None = None
    failure_on: ExceptionClasses = (Exception,)
    ignore: ExceptionClasses = ()
    is_failure: Callable[[BaseException], bool] | None = None

    def __post_init__(self) -> None:
        whole_number("failure_threshold", self.failure_threshold)
        whole_number("half_open_max_calls", self.half_open_max_calls)
        whole_number("success_threshold", self.success_threshold)
        seconds("recovery_timeout", self.recovery_timeout)
        exception_classes("failure_on", self.failure_on)
        exception_classes("ignore", self.ignore)
        if self.window_size is not None and self.window_duration is not None:
            raise ValueError("give window_size (calls) or window_duration (seconds), not both")
        if self.window_size is not None:
            whole_number("window_size", self.window_size)
            self._complete_window_options(self.window_size, self.window_size)
        elif self.window_duration is not None:
            whole_number("window_duration", self.window_duration)
            self._complete_window_options(TIME_WINDOW_MINIMUM_CALLS, None)
        else:
            self._check_window_options_absent()

    def _check_window_options_absent(self) -> None:
        for option in _WINDOW_OPTIONS:
            if getattr(self, option) is not None:
                raise ValueError(
                    f"{option} needs window_size (a count of recent calls) or "
                    "window_duration (seconds)"
                )

    def _complete_window_options(self, minimum: int, most: int | None) -> None:
        if self.slow_call_duration is not None:
            seconds("slow_call_duration", self.slow_call_duration)
            self._default("slow_call_rate_threshold", 1.0)
        elif self.slow_call_rate_threshold is not None:
            raise ValueError("slow_call_rate_threshold needs slow_call_duration")
        self._default("failure_rate_threshold", 0.5)
        self._default("minimum_calls", minimum)
        fraction("failure_rate_threshold", self.failure_rate_threshold)
        if self.slow_call_rate_threshold is not None:
            fraction("slow_call_rate_threshold", self.slow_call_rate_threshold)
        minimum_calls = self.minimum_calls
        if most is None:
            whole_number("minimum_calls", minimum_calls)
        elif not isinstance(minimum_calls, int) or not 1 <= minimum_calls <= most:
            raise ValueError(f"minimum_calls must be 1 to window_size, got {minimum_calls!r}")

    def _default(self, option: str, value: object) -> None:
        if getattr(self, option) is None:
            object.__setattr__(self, option, value)

    @property
    def consecutive(self) -> bool:
        """Whether failures are counted consecutively (no sliding window)."""
        return self.window_size is None and self.window_duration is None

    def new_window(self) -> Window | None:
        """Return an empty sliding window for a closed state, or None (consecutive)."""
        if self.window_size is not None:
            return OutcomeWindow(self.window_size)
        if self.window_duration is not None:
            return TimeWindow(self.window_duration)
        return None

    def is_slow(self, duration: float) -> bool:
        """Return whether a call that took ``duration`` seconds counts as slow."""
        limit = self.slow_call_duration
        return limit is not None and duration >= limit

    def is_counted_failure(self, error: BaseException) -> bool:
        """Return whether ``error`` counts as a failure; other exceptions pass uncounted.

        Client errors (an :class:`~flask_guard.ApiError` or ``HTTPException`` below 500)
        never count: a 404 says nothing about the health of what the breaker protects. They
        are not successes either: they reset no count and close no half-open breaker. An
        exception group counts (once) if any exception in it counts.
        """
        if isinstance(error, BaseExceptionGroup):
            return any(self.is_counted_failure(part) for part in error.exceptions)
        return (
            not is_client_error(error)
            and isinstance(error, self.failure_on)
            and not isinstance(error, self.ignore)
            and (self.is_failure is None or self.is_failure(error))
        )


#: ``minimum_calls`` of a time window unless given: fewer calls in the window say too little.
TIME_WINDOW_MINIMUM_CALLS = 10

OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(BreakerPolicy))
_WINDOW_OPTIONS = (
    "failure_rate_threshold",
    "minimum_calls",
    "slow_call_duration",
    "slow_call_rate_threshold",
)


def policy_from(options: Mapping[str, object]) -> BreakerPolicy:
    """Build a policy from keyword options, naming any unknown option."""
    refuse_unknown(options, OPTION_NAMES)
    return BreakerPolicy(**options)  # type: ignore[arg-type]


def refuse_unknown(options: Mapping[str, object], known: frozenset[str]) -> None:
    """Raise a ``TypeError`` naming each unknown option, and the known one it is close to."""
    unknown = sorted(set(options) - known)
    if not unknown:
        return
    hints = [
        f"{name!r} -> {close[0]!r}"
        for name in unknown
        if (close := difflib.get_close_matches(name, known, n=1))
    ]
    said = f" (did you mean: {', '.join(hints)}?)" if hints else ""
    raise TypeError(f"Unknown circuit breaker options {unknown}{said}; known: {sorted(known)}")
