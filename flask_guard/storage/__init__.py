"""Where breaker state lives when it is shared between processes: the storage protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from ..breaker_policy import CircuitState

if TYPE_CHECKING:
    from ..breaker import CircuitBreaker

TrialOutcome = Literal["ok", "fail", "neutral"]
Command = Literal["open", "force_open", "close", "reset"]


@dataclass(frozen=True, slots=True)
class SharedState:
    """A breaker's state as the shared storage holds it."""

    state: CircuitState
    epoch: str
    """Names the lineage of the stored state: new when it was lost (expiry, restart)."""
    version: int
    """Bumped by every transition, fleet-wide: within an epoch, a newer version wins."""
    failures: int
    retry_after: float
    """Seconds until a trial is admitted (0 unless open)."""
    forced: bool
    changed: bool
    """Whether the step that returned this state made a transition."""
    admitted: bool
    """For an admission: whether this process may run a trial call."""


class SharedStorage(Protocol):
    """Breaker state shared by every process: each step is one atomic operation.

    Every method returns None when the storage cannot be reached; the breaker then goes on
    with its local state and the storage resynchronises it later.
    """

    def attach(self, breaker: CircuitBreaker) -> None:
        """Start keeping ``breaker``'s local view in step with the shared state."""

    def record_failure(self, breaker: CircuitBreaker) -> SharedState | None:
        """Count a failed call made while closed; open for the fleet at the threshold."""

    def record_success(self, breaker: CircuitBreaker) -> SharedState | None:
        """Reset the shared failure count after a successful call made while closed."""

    def acquire_trial(self, breaker: CircuitBreaker, lease: str) -> SharedState | None:
        """Move an open breaker that is due to half-open, and try to take a trial lease."""

    def finish_trial(
        self, breaker: CircuitBreaker, lease: str, outcome: TrialOutcome
    ) -> SharedState | None:
        """Report a trial's outcome and give its lease back."""

    def command(self, breaker: CircuitBreaker, command: Command) -> SharedState | None:
        """Open, force open, close or reset the breaker for the fleet."""

    def healthy(self) -> bool:
        """Return whether the storage answered last time it was asked."""


def open_storage(setting: object, prefix: str) -> SharedStorage | None:
    """Return the storage ``GUARD_BREAKER_STORAGE`` names: None for ``"memory"``."""
    if setting == "memory":
        return None
    from .redis import RedisStorage  # redis is an optional extra

    if isinstance(setting, str):
        return RedisStorage.from_url(setting, prefix)
    return RedisStorage(setting, prefix)  # type: ignore[arg-type]
