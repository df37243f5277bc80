"""The storage protocol: what a breaker asks of the place its state lives in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from ..breaker.policy import BreakerPolicy
from ..breaker.states import BreakerMachine, Permit, Transition

Command = Literal["force_open", "force_close", "reset"]
#: The part of a step that waits on a shared storage; run it outside the event loop.
Remote = Callable[[], None]
RemoteAdmission = Callable[[], Permit | None]


@dataclass(frozen=True, slots=True)
class BreakerHooks:
    """What a store may call on its breaker's side: plain callables, never the breaker."""

    announce: Callable[[Transition], None]
    """Log and signal a transition; called once no lock is held."""
    degraded: Callable[[Exception | None], None]
    """Tell that the shared storage cannot be reached (once per outage)."""
    counts: Callable[[], tuple[int, int]]
    """Return the failures and the rejections this process counted."""
    clock: Callable[[], float]
    """The breaker's clock."""


class CorruptStateError(Exception):
    """A breaker's state in a shared storage holds a value that no step could have written
    (not a number, negative, infinite, absurdly large or far in the future, unknown text).

    It is what ``breaker_storage_degraded`` carries when a breaker stops trusting its shared
    state and goes on with local state.
    """

    def __init__(self, breaker: str, field: str, value: object) -> None:
        shown = repr(value)
        super().__init__(
            f"circuit breaker {breaker!r}: field {field!r} holds {shown[:60]}, "
            "which no step writes"
        )
        self.breaker = breaker
        self.field = field
        self.value = value


@dataclass(frozen=True, slots=True)
class FleetCounts:
    """Counts of every process sharing a breaker, as the storage last knew them."""

    failures: int
    rejections: int


class BreakerStore(Protocol):
    """One breaker's state in a storage."""

    @property
    def machine(self) -> BreakerMachine:
        """The local view of the state, read without a lock by the call path."""

    @property
    def shared(self) -> bool:
        """Whether other processes share this state."""

    def admit(self, now: float) -> Permit | RemoteAdmission | None:
        """Return a permit to run a call, None to reject it, or the remote step that decides."""

    def succeed(self, permit: Permit, now: float, duration: float) -> Remote | None:
        """Record a call that returned."""

    def fail(self, permit: Permit, now: float, duration: float) -> Remote | None:
        """Record a call that failed in a way that counts."""

    def release(self, permit: Permit) -> Remote | None:
        """Give back the permit of a call that counts as neither success nor failure."""

    def command(self, command: Command, now: float) -> bool:
        """Run an operator command; return whether every process sharing the state took it."""

    def observe(self, now: float) -> None:
        """Bring the local view up to ``now`` (an open breaker that is due goes half-open)."""

    def fleet_counts(self) -> FleetCounts | None:
        """Return the fleet-wide counts, or None where the state is not shared."""


class BreakerStorage(Protocol):
    """A place where breakers keep their state: memory, or Redis for a fleet."""

    name: str
    """``"memory"`` or ``"redis"``."""

    def bind(self, name: str, policy: BreakerPolicy, hooks: BreakerHooks) -> BreakerStore:
        """Return the state of breaker ``name``, which hears of transitions through ``hooks``."""

    def healthy(self) -> bool:
        """Return whether the storage answered last time it was asked."""
