"""Checks for option and config values, shared so that every option says the same thing.

Each check returns the value when it is valid and otherwise raises ``error`` (``ValueError``
unless the caller names a subclass, such as :class:`~flask_guard.GuardConfigError`) with a
message naming the option, the value and what is allowed: ``"failure_threshold must be a
whole number of at least 1, got 0"``. ``True`` and ``False`` are never numbers here.
"""

from __future__ import annotations

import math
from typing import TypeVar

ExceptionClasses = tuple[type[BaseException], ...]
E = TypeVar("E", bound=ValueError)


def invalid(name: str, value: object, allowed: str, error: type[E]) -> E:
    """Return the error saying that ``name`` must be ``allowed``, not ``value``."""
    return error(f"{name} must be {allowed}, got {value!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def whole_number(
    name: str, value: object, minimum: int = 1, error: type[ValueError] = ValueError
) -> int:
    """Return ``value`` if it is an ``int`` (not a ``bool``) of at least ``minimum``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise invalid(name, value, f"a whole number of at least {minimum}", error)


def optional_whole_number(
    name: str, value: object, minimum: int = 1, error: type[ValueError] = ValueError
) -> int | None:
    """Return ``value`` if it is None or an ``int`` (not a ``bool``) of at least ``minimum``."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise invalid(name, value, f"a whole number of at least {minimum}, or None", error)


def delay(name: str, value: object, error: type[ValueError] = ValueError) -> float:
    """Return ``value`` if it is a finite number, 0 or more (a wait that may be none)."""
    if _is_number(value) and value >= 0:  # type: ignore[operator]
        return value  # type: ignore[return-value]
    raise invalid(name, value, "a number of seconds, 0 or more", error)


def optional_seconds(
    name: str, value: object, error: type[ValueError] = ValueError
) -> float | None:
    """Return ``value`` if it is None or a finite number above 0."""
    if value is None or (_is_number(value) and value > 0):  # type: ignore[operator]
        return value  # type: ignore[return-value]
    raise invalid(name, value, "a number of seconds above 0, or None", error)


def timeout(
    name: str, value: object, error: type[ValueError] = ValueError
) -> float | tuple[float, float]:
    """Return ``value`` if it is seconds above 0, or a ``(connect, read)`` pair of them."""
    parts = value if isinstance(value, tuple) and len(value) == 2 else (value,)
    if all(_is_number(part) and part > 0 for part in parts):  # type: ignore[operator]
        return value  # type: ignore[return-value]
    raise invalid(name, value, "seconds above 0, or a (connect, read) pair of them", error)


def positive(name: str, value: object, error: type[ValueError] = ValueError) -> float:
    """Return ``value`` if it is a finite number above 0."""
    if _is_number(value) and value > 0:  # type: ignore[operator]
        return value  # type: ignore[return-value]
    raise invalid(name, value, "a number above 0", error)


def non_negative(name: str, value: object, error: type[ValueError] = ValueError) -> float:
    """Return ``value`` if it is a finite number, 0 or more."""
    if _is_number(value) and value >= 0:  # type: ignore[operator]
        return value  # type: ignore[return-value]
    raise invalid(name, value, "a number, 0 or more", error)


def optional_delay(name: str, value: object, error: type[ValueError] = ValueError) -> float | None:
    """Return ``value`` if it is None or a finite number, 0 or more."""
    if value is None or (_is_number(value) and value >= 0):  # type: ignore[operator]
        return value  # type: ignore[return-value]
    raise invalid(name, value, "a number of seconds, 0 or more, or None", error)


def seconds(name: str, value: object, error: type[ValueError] = ValueError) -> float:
    """Return ``value`` if it is a finite number above 0."""
    if _is_number(value) and value > 0:  # type: ignore[operator]
        return value  # type: ignore[return-value]
    raise invalid(name, value, "a number of seconds above 0", error)


def fraction(name: str, value: object, error: type[ValueError] = ValueError) -> float:
    """Return ``value`` if it is a number above 0 and at most 1 (a share that triggers)."""
    if _is_number(value) and 0 < value <= 1:  # type: ignore[operator]
        return value  # type: ignore[return-value]
    raise invalid(name, value, "a fraction above 0 and at most 1", error)


def rate(name: str, value: object, error: type[ValueError] = ValueError) -> float:
    """Return ``value`` as a float if it is a number from 0 to 1 (a sampling rate)."""
    if _is_number(value) and 0 <= value <= 1:  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    raise invalid(name, value, "a number from 0 to 1", error)


def flag(name: str, value: object, error: type[ValueError] = ValueError) -> bool:
    """Return ``value`` if it is ``True`` or ``False``."""
    if isinstance(value, bool):
        return value
    raise invalid(name, value, "True or False", error)


def exception_classes(
    name: str,
    value: object,
    error: type[ValueError] = ValueError,
    base: type[BaseException] = BaseException,
) -> ExceptionClasses:
    """Return ``value`` if it is a tuple of subclasses of ``base``."""
    if isinstance(value, tuple) and all(
        isinstance(cls, type) and issubclass(cls, base) for cls in value
    ):
        return value
    kind = "exception" if base is BaseException else base.__name__
    raise invalid(name, value, f"a tuple of {kind} classes", error)
