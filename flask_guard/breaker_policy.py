"""The options of a circuit breaker, validated once, and how they classify an outcome."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import is_client_error

ExceptionClasses = tuple[type[BaseException], ...]


class CircuitState(enum.Enum):
    """The state of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(Exception):
    """Raised instead of calling the protected function while its breaker rejects calls.

    ``CircuitOpenError(name, retry_after)``; both are kept in ``args`` only, which keeps
    raising it cheap during a storm of rejected calls.
    """

    args: tuple[str, float]

    @property
    def name(self) -> str:
        """The name of the breaker that rejected the call."""
        return self.args[0]

    @property
    def retry_after(self) -> float:
        """Seconds until the breaker admits a trial call (0 if it is half-open and busy)."""
        return self.args[1]

    def __str__(self) -> str:
        return f"Circuit breaker {self.name!r} is open; retry in {self.retry_after:.1f} s"


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
    failure_rate_threshold: float | None = None
    minimum_calls: int | None = None
    slow_call_duration: float | None = None
    slow_call_rate_threshold: float | None = None
    failure_on: ExceptionClasses = (Exception,)
    ignore: ExceptionClasses = ()
    is_failure: Callable[[BaseException], bool] | None = None

    def __post_init__(self) -> None:
        _positive_int("failure_threshold", self.failure_threshold)
        _positive_int("half_open_max_calls", self.half_open_max_calls)
        _positive_int("success_threshold", self.success_threshold)
        _positive_number("recovery_timeout", self.recovery_timeout)
        _exception_classes("failure_on", self.failure_on)
        _exception_classes("ignore", self.ignore)
        if self.window_size is None:
            self._check_window_options_absent()
        else:
            self._complete_window_options(self.window_size)

    def _check_window_options_absent(self) -> None:
        for option in _WINDOW_OPTIONS:
            if getattr(self, option) is not None:
                raise ValueError(f"{option} needs window_size (a count of recent calls)")

    def _complete_window_options(self, window_size: int) -> None:
        _positive_int("window_size", window_size)
        if self.slow_call_duration is not None:
            _positive_number("slow_call_duration", self.slow_call_duration)
            self._default("slow_call_rate_threshold", 1.0)
        elif self.slow_call_rate_threshold is not None:
            raise ValueError("slow_call_rate_threshold needs slow_call_duration")
        self._default("failure_rate_threshold", 0.5)
        self._default("minimum_calls", window_size)
        for option in ("failure_rate_threshold", "slow_call_rate_threshold"):
            _fraction(option, getattr(self, option))
        minimum_calls = self.minimum_calls
        if not isinstance(minimum_calls, int) or not 1 <= minimum_calls <= window_size:
            raise ValueError(f"minimum_calls must be 1 to window_size, got {minimum_calls!r}")

    def _default(self, option: str, value: object) -> None:
        if getattr(self, option) is None:
            object.__setattr__(self, option, value)

    def is_counted_failure(self, error: BaseException) -> bool:
        """Return whether ``error`` counts as a failure; other exceptions pass uncounted.

        Client errors (an :class:`~flask_guard.ApiError` or ``HTTPException`` below 500)
        never count: a 404 says nothing about the health of what the breaker protects.
        """
        return (
            not is_client_error(error)
            and isinstance(error, self.failure_on)
            and not isinstance(error, self.ignore)
            and (self.is_failure is None or self.is_failure(error))
        )


OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(BreakerPolicy))
_WINDOW_OPTIONS = (
    "failure_rate_threshold",
    "minimum_calls",
    "slow_call_duration",
    "slow_call_rate_threshold",
)


def policy_from(options: Mapping[str, object]) -> BreakerPolicy:
    """Build a policy from keyword options, naming any unknown option."""
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        raise TypeError(
            f"Unknown circuit breaker options {unknown}; known: {sorted(OPTION_NAMES)}"
        )
    return BreakerPolicy(**options)  # type: ignore[arg-type]


def _positive_int(option: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{option} must be a whole number of at least 1, got {value!r}")


def _positive_number(option: str, value: object) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{option} must be a number of seconds above 0, got {value!r}")


def _fraction(option: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 1:
        raise ValueError(f"{option} must be a fraction above 0 and at most 1, got {value!r}")


def _exception_classes(option: str, value: object) -> None:
    if not isinstance(value, tuple) or not all(
        isinstance(cls, type) and issubclass(cls, BaseException) for cls in value
    ):
        raise ValueError(f"{option} must be a tuple of exception classes, got {value!r}")
