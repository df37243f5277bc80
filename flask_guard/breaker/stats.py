"""``BreakerStats``: what a breaker tells health checks, metrics and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from .policy import CircuitState


@dataclass(frozen=True, slots=True)
class BreakerStats:
    """A snapshot of a breaker, for health checks, metrics and the CLI.

    Times are readings of the breaker's clock (``time.monotonic()`` unless injected).
    """

    name: str
    state: CircuitState
    forced: bool
    """Whether an operator forced the breaker open (it stays open until closed)."""
    failures: int
    """Failures counting toward opening: consecutive ones, or those in the window."""
    window_calls: int | None
    total_failures: int
    """Failures this process counted."""
    rejections: int
    """Calls this process rejected."""
    last_failure: str | None
    last_failure_at: float | None
    opened_at: float | None
    retry_after: float
    """Seconds until a trial call is admitted (0 unless open)."""
    fleet_failures: int | None = None
    """Failures counted by every process sharing the breaker (None when not shared)."""
    fleet_rejections: int | None = None
    """Calls rejected by every process sharing the breaker (None when not shared)."""
