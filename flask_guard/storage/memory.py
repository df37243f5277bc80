"""Breaker state in this process's memory: the default storage."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..breaker.policy import BreakerPolicy
from ..breaker.states import BreakerMachine, Permit, Transition
from .base import BreakerHooks, Command, FleetCounts, Remote


class MemoryStorage:
    """Keep each breaker's state in this process only; nothing is shared."""

    name = "memory"

    def bind(self, name: str, policy: BreakerPolicy, hooks: BreakerHooks) -> MemoryStore:
        """Return a fresh state for breaker ``name``."""
        return MemoryStore(policy, hooks.announce)

    def healthy(self) -> bool:
        """Return True: memory always answers."""
        return True


class MemoryStore:
    """One breaker's state machine behind a lock that guards state changes only."""

    shared = False

    def __init__(self, policy: BreakerPolicy, listener: Callable[[Transition], None]) -> None:
        self.machine = BreakerMachine(policy)
        self.lock = threading.Lock()
        self._listener = listener

    def step(self, change: Callable[[], Transition | None]) -> None:
        """Run ``change`` under the lock, then announce its transition (lock released)."""
        with self.lock:
            transition = change()
        if transition is not None:
            self._listener(transition)

    def admit(self, now: float) -> Permit | None:
        """Go half-open if due, then try to take a permit."""
        machine = self.machine
        with self.lock:
            transition = machine.observe(now)
            permit = machine.try_acquire(now)
        if transition is not None:
            self._listener(transition)
        return permit

    def succeed(self, permit: Permit, now: float, duration: float) -> Remote | None:
        """Record a call that returned."""
        self.step(lambda: self.machine.on_success(permit, now, duration))
        return None

    def fail(self, permit: Permit, now: float, duration: float) -> Remote | None:
        """Record a call that failed in a way that counts."""
        self.step(lambda: self.machine.on_failure(permit, now, duration))
        return None

    def release(self, permit: Permit) -> Remote | None:
        """Give a trial's permit back."""
        with self.lock:
            self.machine.on_neutral(permit)
        return None

    def command(self, command: Command, now: float) -> bool:
        """Force open, force close or reset the breaker; False: nothing else shares it."""
        machine = self.machine
        if command == "force_open":
            self.step(lambda: machine.force_open(now))
        else:
            reason = "forced_close" if command == "force_close" else command
            self.step(lambda: machine.close(reason))
        return False

    def observe(self, now: float) -> None:
        """Move an open breaker that is due to half-open."""
        self.step(lambda: self.machine.observe(now))

    def fleet_counts(self) -> FleetCounts | None:
        """Return None: the state is not shared."""
        return None
