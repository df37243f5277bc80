"""Wait strategies: how long to wait before each retry, as small immutable values.

Each strategy is called with the number of the retry about to happen (1 for the first) and
the wait before the previous one (0 before the first), and returns seconds. They compose::

    from flask_guard import waits

    waits.Exponential(0.1, jitter="full", maximum=10)    # AWS "full jitter"
    waits.Decorrelated(0.1, maximum=5)                    # AWS "decorrelated jitter"
    waits.Fixed(0.5) + waits.Linear(0, step=0.1)          # sums
    waits.Chain(waits.Fixed(0), waits.Exponential(0.5))   # the first retry at once
    waits.Linear(0.2, step=0.2).up_to(1)                  # capped

:func:`~flask_guard.retry_with_backoff`, :func:`~flask_guard.robust_session` and the httpx
client take one as ``wait=``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Literal

from .. import validators

# An instance of its own: jitter drawn in any thread leaves the global generator alone.
_random = random.Random()

Jitter = Literal["full", "equal"] | None

# An exponent past this would overflow a float; the delay is capped long before.
_MAX_EXPONENT = 512
#: urllib3's cap on a backoff it computes (``Retry.DEFAULT_BACKOFF_MAX``).
URLLIB3_BACKOFF_MAX = 120.0


class Wait:
    """A wait strategy: ``wait(retry, previous)`` returns the seconds to wait."""

    __slots__ = ()

    def __call__(self, retry: int, previous: float) -> float:
        """Return the seconds to wait before retry number ``retry`` (1-based)."""
        raise NotImplementedError

    def __add__(self, other: Wait) -> Wait:
        return Sum((self, other))

    def up_to(self, maximum: float) -> Wait:
        """Return this strategy with each wait capped at ``maximum`` seconds."""
        return Capped(self, validators.delay("maximum", maximum))


@dataclass(frozen=True, slots=True)
class Fixed(Wait):
    """The same wait before every retry."""

    seconds: float

    def __post_init__(self) -> None:
        validators.delay("seconds", self.seconds)

    def __call__(self, retry: int, previous: float) -> float:
        return self.seconds


@dataclass(frozen=True, slots=True)
class Linear(Wait):
    """``initial``, then ``step`` more before each further retry."""

    initial: float
    step: float

    def __post_init__(self) -> None:
        validators.delay("initial", self.initial)
        validators.delay("step", self.step)

    def __call__(self, retry: int, previous: float) -> float:
        return self.initial + self.step * (retry - 1)


@dataclass(frozen=True, slots=True)
class Exponential(Wait):
    """A ceiling of ``initial * multiplier ** (retry - 1)``, at most ``maximum``, with
    ``jitter``: ``"full"`` waits uniformly between 0 and the ceiling (the least total work
    under contention), ``"equal"`` between half the ceiling and the ceiling, None the
    ceiling itself. The cap applies before the jitter, so waits stay spread once capped."""

    initial: float
    multiplier: float = 2.0
    jitter: Jitter = None
    maximum: float = math.inf

    def __post_init__(self) -> None:
        validators.delay("initial", self.initial)
        validators.positive("multiplier", self.multiplier)
        _check_maximum(self.maximum)
        if self.jitter not in ("full", "equal", None):
            raise validators.invalid("jitter", self.jitter, '"full", "equal" or None', ValueError)

    def __call__(self, retry: int, previous: float) -> float:
        exponent = min(retry - 1, _MAX_EXPONENT)
        ceiling = min(self.maximum, self.initial * self.multiplier**exponent)
        if self.jitter == "full":
            return _random.uniform(0, ceiling)
        if self.jitter == "equal":
            return ceiling / 2 + _random.uniform(0, ceiling / 2)
        return ceiling

    def up_to(self, maximum: float) -> Wait:
        """Return this strategy with its ceiling capped at ``maximum`` (before the jitter)."""
        return replace(self, maximum=min(self.maximum, validators.delay("maximum", maximum)))


@dataclass(frozen=True, slots=True)
class Decorrelated(Wait):
    """AWS's "decorrelated jitter": uniform between ``initial`` and three times the
    previous wait, at most ``maximum``; each wait grows from the last, not from a count."""

    initial: float
    maximum: float = math.inf

    def __post_init__(self) -> None:
        validators.delay("initial", self.initial)
        _check_maximum(self.maximum)

    def __call__(self, retry: int, previous: float) -> float:
        start = self.initial
        return min(self.maximum, _random.uniform(start, max(start, (previous or start) * 3)))

    def up_to(self, maximum: float) -> Wait:
        """Return this strategy with each wait capped at ``maximum``."""
        return replace(self, maximum=min(self.maximum, validators.delay("maximum", maximum)))


@dataclass(frozen=True, slots=True)
class Capped(Wait):
    """Another strategy's waits, each at most ``maximum`` seconds."""

    wait: Wait
    maximum: float

    def __call__(self, retry: int, previous: float) -> float:
        return min(self.maximum, self.wait(retry, previous))


@dataclass(frozen=True, slots=True)
class Sum(Wait):
    """The sum of several strategies' waits (``a + b``)."""

    waits: tuple[Wait, ...]

    def __call__(self, retry: int, previous: float) -> float:
        return sum(wait(retry, previous) for wait in self.waits)

    def __add__(self, other: Wait) -> Wait:
        return Sum((*self.waits, other))


@dataclass(frozen=True, slots=True, init=False)
class Chain(Wait):
    """One strategy per retry, the last for every retry after: ``Chain(Fixed(0),
    Exponential(0.5))`` retries once at once, then backs off. Each strategy is given the
    retry's own number."""

    steps: tuple[Wait, ...]

    def __init__(self, first: Wait, *then: Wait) -> None:
        object.__setattr__(self, "steps", (first, *then))

    def __call__(self, retry: int, previous: float) -> float:
        steps = self.steps
        return steps[min(retry, len(steps)) - 1](retry, previous)


def from_backoff_factor(backoff_factor: float) -> Wait:
    """Return urllib3's schedule for ``backoff_factor``, as :func:`~flask_guard.robust_session`
    and the httpx client use by default: the first retry at once, then
    ``backoff_factor * 2 ** (retry - 1)`` seconds, at most 120."""
    return Chain(Fixed(0), Exponential(backoff_factor, maximum=URLLIB3_BACKOFF_MAX))


def from_jitter(base_delay: float, max_delay: float, jitter: str | None) -> Wait:
    """Return the strategy :func:`~flask_guard.retry_with_backoff` uses for its ``base_delay``,
    ``max_delay`` and ``jitter`` (``"full"``, ``"equal"``, ``"decorrelated"`` or None)."""
    if jitter == "decorrelated":
        return Decorrelated(base_delay, maximum=max_delay)
    return Exponential(base_delay, jitter=jitter, maximum=max_delay)  # type: ignore[arg-type]


def check_wait(wait: object) -> Wait | None:
    """Return ``wait`` if it is None or a strategy; raise ``TypeError`` saying what is."""
    if wait is None or isinstance(wait, Wait):
        return wait
    raise TypeError(
        f"wait must be a flask_guard.waits strategy such as waits.Fixed(0.5), or None, "
        f"got {wait!r}"
    )


def _check_maximum(value: float) -> None:
    if value != math.inf:
        validators.delay("maximum", value)
