"""One breaker's state in Redis, with a local view that carries on when Redis cannot."""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..breaker.policy import BreakerPolicy, CircuitState
from ..breaker.states import (
    BreakerMachine,
    Closed,
    ForcedOpen,
    HalfOpen,
    Open,
    Permit,
    Transition,
    Trial,
)
from .base import BreakerHooks, Command, CorruptStateError, FleetCounts, Remote, RemoteAdmission
from .redis_reply import Shared

_log = logging.getLogger("flask_guard.storage.redis")

#: Seconds a process rejects calls locally after the fleet's trial leases were all taken.
SHARED_RECHECK_INTERVAL = 0.1
#: Seconds before a breaker whose key could not be used tries it again.
UNUSABLE_RETRY_INTERVAL = 5.0

_COMMANDS: dict[Command, tuple[str, str]] = {
    "force_open": ("force_open", "forced_open"),
    "force_close": ("close", "forced_close"),
    "reset": ("reset", "reset"),
}


@dataclass(frozen=True, slots=True)
class Opening:
    """An opening this process made while it could not ask Redis, to share once it can."""

    opened_at: float
    reason: str
    forced: bool


class Runner(Protocol):
    """What a store needs of :class:`~flask_guard.storage.redis.RedisStorage`."""

    origin: str

    def reachable(self) -> bool: ...

    def run(
        self, store: RedisStore, script: str, cause: str, *extra: str | int
    ) -> Shared | None: ...


class RedisStore:
    """A breaker's shared state: each step that the fleet must agree on runs in Redis, and
    its answer is adopted by the local view; when Redis cannot answer, the local view goes
    on by itself and Redis' answer is adopted again once it can."""

    shared = True

    def __init__(
        self, runner: Runner, name: str, policy: BreakerPolicy, hooks: BreakerHooks
    ) -> None:
        self.name = name
        self.policy = policy
        self.hooks = hooks
        self.machine = BreakerMachine(policy)
        self._runner = runner
        self._lock = threading.Lock()
        self._epoch = ""
        self._version = 0
        self._fleet = FleetCounts(0, 0)
        self._sent = (0, 0)
        self._unusable_until = 0.0
        self._unusable = False
        self._offline: Opening | None = None

    # Steps

    def admit(self, now: float) -> Permit | RemoteAdmission | None:
        """Admit a call: the fleet decides on trials, unless Redis cannot be asked."""
        state = self.machine.state
        if state.__class__ is Closed:
            return state
        if not self._usable():
            return self._admit_locally(now)
        return functools.partial(self._acquire, os.urandom(16).hex())

    def succeed(self, permit: Permit, now: float, duration: float) -> Remote | None:
        """Report a success: a trial's to the fleet, a reset of the count if there was one."""
        machine = self.machine
        if permit.__class__ is Trial:
            if self.policy.is_slow(duration):
                return self._finish(permit, "fail", "slow_trial")
            return self._finish(permit, "ok", "trial_succeeded")
        if permit is not machine.state:
            return None  # admitted in a state that has gone since
        assert isinstance(permit, Closed)
        if permit.window is not None:
            return self._windowed(lambda: machine.on_success(permit, now, duration))
        if not permit.failures:
            return None
        return self._step("success", "", lambda: machine.on_success(permit, now, duration))

    def fail(self, permit: Permit, now: float, duration: float) -> Remote | None:
        """Report a failure: counted by the fleet, or judged by the local window."""
        machine = self.machine
        if permit.__class__ is Trial:
            return self._finish(permit, "fail", "trial_failed")
        if permit is not machine.state:
            return None
        assert isinstance(permit, Closed)
        if permit.window is not None:
            return self._windowed(lambda: machine.on_failure(permit, now, duration))
        threshold = self.policy.failure_threshold
        change = functools.partial(machine.on_failure, permit, now, duration)
        return self._step("failure", "failure_threshold", change, threshold)

    def release(self, permit: Permit) -> Remote | None:
        """Give a trial's lease back."""
        if permit.__class__ is Trial:
            return self._finish(permit, "neutral", "")
        return None

    def command(self, command: Command, now: float) -> bool:
        """Run an operator command for the fleet; False if it only reached this process."""
        machine = self.machine
        script_command, cause = _COMMANDS[command]

        def locally() -> Transition | None:
            return machine.force_open(now) if command == "force_open" else machine.close(cause)

        shared = None
        if self._runner.reachable():  # even past a corrupt key: a reset is its cure
            shared = self._runner.run(self, "command", cause, script_command)
        if shared is None:
            self._locally(locally)
            with self._lock:
                state = machine.state
                if isinstance(state, ForcedOpen):  # forced while open: no transition
                    self._offline = Opening(state.opened_at, "forced_open", True)
            return False
        with self._lock:
            transition = self._adopt(shared, now)
            if command != "force_open":
                machine.close(cause)  # forget this process's window as well
            if command == "reset":
                self._sent = (0, 0)
        if transition is not None:
            self.hooks.announce(transition)
        return True

    def observe(self, now: float) -> None:
        """Let the local view go half-open when due; the fleet does at the first trial."""
        self._locally(lambda: self.machine.observe(now))

    def sync(self) -> None:
        """Read the shared state and adopt it."""
        now = self.hooks.clock()
        shared = self._runner.run(self, "read", "")
        if shared is not None:
            self._apply(shared, now)

    # Counts

    def fleet_counts(self) -> FleetCounts:
        """Return the fleet's counts as last read, plus what this process has not sent."""
        failures, rejections = self.hooks.counts()
        sent_failures, sent_rejections = self._sent
        fleet = self._fleet
        return FleetCounts(
            fleet.failures + max(0, failures - sent_failures),
            fleet.rejections + max(0, rejections - sent_rejections),
        )

    def take_counts(self) -> tuple[int, int]:
        """Return what this process counted since it last told the fleet, as sent."""
        failures, rejections = self.hooks.counts()
        with self._lock:
            sent_failures, sent_rejections = self._sent
            self._sent = (max(failures, sent_failures), max(rejections, sent_rejections))
        return max(0, failures - sent_failures), max(0, rejections - sent_rejections)

    def return_counts(self, failures: int, rejections: int) -> None:
        """Take back counts that did not reach Redis."""
        with self._lock:
            self._sent = (self._sent[0] - failures, self._sent[1] - rejections)

    # Health of this breaker's key

    def _usable(self) -> bool:
        return self._runner.reachable() and self._unusable_until <= time.monotonic()

    def unusable(self, error: CorruptStateError) -> None:
        """Go on locally for a while: this breaker's keys hold values that cannot be true
        (Redis answers). Logged and signalled once, until the keys are usable again."""
        with self._lock:
            first, self._unusable = not self._unusable, True
            self._unusable_until = time.monotonic() + UNUSABLE_RETRY_INTERVAL
        if first:
            _log.warning(
                "Circuit breaker %r: its state in Redis is corrupt (field %r holds %s); this "
                "breaker goes on with local state until the key is deleted, expires, or the "
                "breaker is reset",
                self.name,
                error.field,
                repr(error.value)[:60],
            )
            self.hooks.degraded(error)

    def usable(self, opening: Opening | None) -> None:
        """Note that this breaker's keys answered, having been sent ``opening``."""
        if opening is not None:
            with self._lock:
                if self._offline is opening:
                    self._offline = None  # shared, or outdone by a later transition
        if self._unusable:
            self._unusable, self._unusable_until = False, 0.0
            _log.info("Circuit breaker %r: its state in Redis is readable again", self.name)

    def offline_opening(self) -> tuple[Opening | None, str]:
        """Return the opening made without Redis that the next step must share, and its
        script argument (``"<age ms> <reason> <forced>"``, or "" when there is none)."""
        opening = self._offline
        if opening is None:
            return None, ""
        age = max(0, round((self.hooks.clock() - opening.opened_at) * 1000))
        return opening, f"{age} {opening.reason} {int(opening.forced)}"

    def _note(self, transition: Transition | None) -> None:
        """Remember an opening made without Redis, or forget it once closed (under the
        lock, after a local change that made ``transition``)."""
        state = self.machine.state
        if isinstance(state, Closed):
            self._offline = None
        elif transition is not None and isinstance(state, Open | ForcedOpen):
            forced = isinstance(state, ForcedOpen)
            self._offline = Opening(state.opened_at, transition.reason, forced)

    # Internals

    def _admit_locally(self, now: float) -> Permit | None:
        machine = self.machine
        with self._lock:
            transition = machine.observe(now)
            permit = machine.try_acquire(now)
            self._note(transition)
        if transition is not None:
            self.hooks.announce(transition)
        return permit

    def _acquire(self, lease: str) -> Permit | None:
        now = self.hooks.clock()
        permits = self.policy.half_open_max_calls
        shared = self._runner.run(self, "acquire", "recovery_timeout", permits, lease)
        if shared is None:
            return self._admit_locally(now)
        machine = self.machine
        permit: Permit | None = None
        with self._lock:
            transition = self._adopt(shared, now)
            state = machine.state
            if shared.admitted and isinstance(state, Closed):
                permit = state
            elif shared.admitted:
                permit = Trial(state if isinstance(state, HalfOpen) else None, lease)
            elif isinstance(state, HalfOpen):
                # Every lease is taken: reject locally a moment instead of asking per call.
                machine.reject_until = now + SHARED_RECHECK_INTERVAL
        if transition is not None:
            self.hooks.announce(transition)
        return permit

    def _finish(self, trial: Trial, outcome: str, cause: str) -> Remote | None:
        machine = self.machine
        if not trial.lease:  # granted locally while Redis could not be asked
            now = self.hooks.clock()
            if outcome == "neutral":
                self._locally(lambda: machine.on_neutral(trial))
            elif outcome == "ok":
                self._locally(lambda: machine.on_success(trial, now, 0.0))
            else:
                self._locally(lambda: machine.on_failure(trial, now, 0.0))
            return None
        return functools.partial(self._finish_remotely, trial.lease, outcome, cause)

    def _finish_remotely(self, lease: str, outcome: str, cause: str) -> None:
        # Whether Redis took it or not (then the lease expires there), this process stops
        # rejecting locally for want of a lease.
        self._remote("finish", cause, _no_change, lease, outcome, self.policy.success_threshold)
        with self._lock:
            if isinstance(self.machine.state, HalfOpen):
                self.machine.reject_until = -math.inf

    def _step(
        self, script: str, cause: str, change: Callable[[], Transition | None], *extra: str | int
    ) -> Remote | None:
        """Return ``script`` as a remote step, or make ``change`` locally if Redis cannot be
        asked."""
        if not self._usable():
            self._locally(change)
            return None
        return functools.partial(self._remote, script, cause, change, *extra)

    def _remote(
        self, script: str, cause: str, change: Callable[[], Transition | None], *extra: str | int
    ) -> None:
        now = self.hooks.clock()
        shared = self._runner.run(self, script, cause, *extra)
        if shared is None:
            self._locally(change)
        else:
            self._apply(shared, now)

    def _windowed(self, change: Callable[[], Transition | None]) -> Remote | None:
        """Judge the rates locally; an opening they decide is then shared."""
        with self._lock:
            transition = change()
        if transition is None:
            return None
        if transition.new is not CircuitState.OPEN or not self._usable():
            with self._lock:
                self._note(transition)
            self.hooks.announce(transition)
            return None
        return functools.partial(self._share_opening, transition)

    def _share_opening(self, transition: Transition) -> None:
        now = self.hooks.clock()
        shared = self._runner.run(self, "command", transition.reason, "open")
        with self._lock:
            if shared is None:
                self._note(transition)  # to share once Redis answers
            else:
                self._adopt(shared, now)
        if shared is not None and not shared.changed:
            # Another process opened it first and reports it.
            transition = Transition(transition.old, transition.new, "synced")
        self.hooks.announce(transition)

    def _locally(self, change: Callable[[], Transition | None]) -> None:
        with self._lock:
            transition = change()
            self._note(transition)
        if transition is not None:
            self.hooks.announce(transition)

    def _apply(self, shared: Shared, now: float) -> None:
        with self._lock:
            transition = self._adopt(shared, now)
        if transition is not None:
            self.hooks.announce(transition)

    def _adopt(self, shared: Shared, now: float) -> Transition | None:
        """Take ``shared`` as the local view (under the lock). A transition is reported with
        its cause in the process that made it, and as ``synced`` everywhere else."""
        if shared.epoch == self._epoch and shared.version < self._version:
            return None  # older news than what this process knows
        self._epoch, self._version = shared.epoch, shared.version
        self._fleet = FleetCounts(shared.fleet_failures, shared.fleet_rejections)
        # An opening long due is taken as half-open: that move is this process's own view.
        due = shared.state is CircuitState.OPEN and not shared.forced and not shared.retry_after
        mine = shared.maker == self._runner.origin and shared.reason and not due
        return self.machine.adopt(
            shared.state,
            shared.forced,
            shared.failures,
            shared.retry_after,
            now,
            shared.reason if mine else "synced",
        )


def _no_change() -> None:
    """A trial whose outcome Redis did not take changes nothing locally."""
