"""The circuit breaker's rules: a pure state machine, without lock, clock, I/O or signals.

Each state is a small object owning its own counters (:class:`Closed`, :class:`Open`,
:class:`ForcedOpen`, :class:`HalfOpen`); a transition replaces the object. A permit to run a
call is the :class:`Closed` state it was admitted in, or a :class:`Trial` of a
:class:`HalfOpen` episode, so an outcome that arrives after the state it belongs to has gone
is recognised by identity and ignored. The caller passes ``now``, holds whatever lock it
needs around each method, and announces the :class:`Transition` a method returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .policy import BreakerPolicy, CircuitState
from .window import Window

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of the breaker's public state, to announce once no lock is held."""

    old: CircuitState
    new: CircuitState
    reason: str


class Closed:
    """Every call runs; failures are counted consecutively or in a sliding window."""

    __slots__ = ("failures", "window")
    public = CLOSED

    def __init__(self, window: Window | None, failures: int = 0) -> None:
        self.failures = failures
        self.window = window


class Open:
    """No call runs until ``until``; then the next call asks for a trial."""

    __slots__ = ("opened_at", "until")
    public = OPEN

    def __init__(self, opened_at: float, until: float) -> None:
        self.opened_at = opened_at
        self.until = until


class ForcedOpen:
    """No call runs until an operator closes the breaker.

    ``until`` is when to look again whether the fleet still holds it open (never, in memory).
    """

    __slots__ = ("opened_at", "until")
    public = OPEN

    def __init__(self, opened_at: float, until: float = math.inf) -> None:
        self.opened_at = opened_at
        self.until = until


class HalfOpen:
    """Trial calls run, at most ``half_open_max_calls`` of them on unexpired leases."""

    __slots__ = ("leases", "successes")
    public = HALF_OPEN

    def __init__(self) -> None:
        # A lease that expired frees its permit but stays until the episode ends, so that a
        # trial slower than its lease still reports its outcome.
        self.leases: dict[Trial, float] = {}
        self.successes = 0


class Trial:
    """A permit to run one trial call in a half-open ``episode``."""

    __slots__ = ("episode", "lease")

    def __init__(self, episode: HalfOpen | None, lease: str) -> None:
        self.episode = episode
        self.lease = lease
        """The lease's name in a shared storage ("" when the storage did not grant it)."""


State = Closed | Open | ForcedOpen | HalfOpen
Permit = Closed | Trial


class BreakerMachine:
    """One breaker's state and the rules that move it; not thread-safe by design.

    ``fast`` is the :class:`Closed` state while failures are counted consecutively, else
    None: a call path may run a call on it without asking the machine first. Calls are
    rejected outright while ``now < reject_until``. ``counts`` is the latest closed state:
    what it counted stays readable after the breaker opened.
    """

    __slots__ = ("counts", "fast", "policy", "reject_until", "state")

    def __init__(self, policy: BreakerPolicy) -> None:
        self.policy = policy
        self.counts = Closed(policy.new_window())
        self.state: State = self.counts
        self.fast: Closed | None = self.counts if policy.consecutive else None
        self.reject_until = -math.inf

    # Reading

    def retry_after(self, now: float) -> float:
        """Return seconds until a trial is admitted: ``recovery_timeout`` at most."""
        state = self.state
        if state.__class__ is HalfOpen or state.__class__ is Closed:
            return 0.0
        longest = self.policy.recovery_timeout
        if state.__class__ is ForcedOpen:
            return longest
        remaining = self.reject_until - now
        return longest if remaining > longest else remaining if remaining > 0.0 else 0.0

    def failures(self) -> int:
        """Return the failures counted toward opening, by the latest closed state."""
        counts = self.counts
        return counts.failures if counts.window is None else counts.window.failures

    # Admission

    def observe(self, now: float) -> Transition | None:
        """Move an open breaker whose recovery timeout has passed to half-open."""
        state = self.state
        if state.__class__ is Open and now >= state.until:
            return self._enter(HalfOpen(), "recovery_timeout")
        return None

    def try_acquire(self, now: float, lease: str = "") -> Permit | None:
        """Return a permit to run a call now, or None if the call must be rejected."""
        state = self.state
        if state.__class__ is Closed:
            return state
        if state.__class__ is not HalfOpen:
            return None
        assert isinstance(state, HalfOpen)
        live = sum(1 for expiry in state.leases.values() if expiry >= now)
        if live >= self.policy.half_open_max_calls:
            return None
        trial = Trial(state, lease)
        state.leases[trial] = now + self.policy.recovery_timeout
        return trial

    # Outcomes

    def on_success(self, permit: Permit, now: float, duration: float) -> Transition | None:
        """Record a call that returned after ``duration`` seconds."""
        slow = self.policy.is_slow(duration)
        if permit.__class__ is Trial:
            assert isinstance(permit, Trial)
            episode = self._held(permit)
            if episode is None:
                return None
            if slow:
                return self.open(now, "slow_trial")
            episode.successes += 1
            if episode.successes >= self.policy.success_threshold:
                return self._enter(Closed(self.policy.new_window()), "trial_succeeded")
            return None
        if permit is not self.state:
            return None
        assert isinstance(permit, Closed)
        if permit.window is None:
            permit.failures = 0
            return None
        permit.window.record(False, slow, now)
        return self._open_if_rates_exceeded(permit.window, now)

    def on_failure(self, permit: Permit, now: float, duration: float) -> Transition | None:
        """Record a call that failed (in a way that counts) after ``duration`` seconds."""
        if permit.__class__ is Trial:
            assert isinstance(permit, Trial)
            return None if self._held(permit) is None else self.open(now, "trial_failed")
        if permit is not self.state:
            return None
        assert isinstance(permit, Closed)
        if permit.window is None:
            permit.failures += 1
            if permit.failures >= self.policy.failure_threshold:
                return self.open(now, "failure_threshold")
            return None
        permit.window.record(True, self.policy.is_slow(duration), now)
        return self._open_if_rates_exceeded(permit.window, now)

    def on_neutral(self, permit: Permit) -> None:
        """Give back the permit of a call that counts as neither success nor failure."""
        if permit.__class__ is Trial:
            self._held(permit)

    def _held(self, trial: Trial) -> HalfOpen | None:
        """Take ``trial``'s lease back; return its episode if that is still the state."""
        episode = trial.episode
        if episode is not self.state or episode is None or episode.leases.pop(trial, None) is None:
            return None
        return episode

    def _open_if_rates_exceeded(self, window: Window, now: float) -> Transition | None:
        policy = self.policy
        if window.calls < (policy.minimum_calls or 0):
            return None
        failure_rate, slow_rate = policy.failure_rate_threshold, policy.slow_call_rate_threshold
        if failure_rate is not None and window.failure_rate >= failure_rate:
            return self.open(now, "failure_rate")
        if slow_rate is not None and window.slow_call_rate >= slow_rate:
            return self.open(now, "slow_call_rate")
        return None

    # Commands

    def open(self, now: float, reason: str) -> Transition | None:
        """Open for ``recovery_timeout`` (a forced-open breaker stays forced)."""
        if self.state.__class__ is ForcedOpen:
            return None
        return self._enter(Open(now, now + self.policy.recovery_timeout), reason)

    def force_open(self, now: float) -> Transition | None:
        """Open until :meth:`close`; an open breaker keeps its opening time."""
        state = self.state
        opened_at = state.opened_at if isinstance(state, Open | ForcedOpen) else now
        return self._enter(ForcedOpen(opened_at), "forced_open")

    def close(self, reason: str) -> Transition | None:
        """Close, forgetting every count (a closed breaker stays the same state)."""
        state = self.state
        if isinstance(state, Closed):
            state.failures = 0
            if state.window is not None:
                state.window.clear()
            return None
        return self._enter(Closed(self.policy.new_window()), reason)

    def adopt(
        self,
        public: CircuitState,
        forced: bool,
        failures: int,
        retry_after: float,
        now: float,
        reason: str,
    ) -> Transition | None:
        """Take a state learned from a shared storage as this breaker's own.

        An open state whose recovery timeout has passed is taken as half-open unless this
        breaker is open already: trials are what comes next, not a fresh opening.
        """
        state = self.state
        until = now + retry_after
        if self.counts.window is None:
            self.counts.failures = failures  # what the fleet counted, open or not
        if public is OPEN and forced:
            if isinstance(state, ForcedOpen):
                state.until = until
                return None
            opened_at = state.opened_at if isinstance(state, Open) else now
            return self._enter(ForcedOpen(opened_at, until), reason)
        if public is OPEN and isinstance(state, Open):
            state.until = until
            self.reject_until = until
            return None
        if public is OPEN and retry_after > 0:
            opened_at = now - (self.policy.recovery_timeout - retry_after)
            return self._enter(Open(opened_at, until), reason)
        if public is CLOSED:
            if isinstance(state, Closed):
                return None
            return self._enter(Closed(self.policy.new_window(), failures), reason)
        if isinstance(state, HalfOpen):
            return None
        return self._enter(HalfOpen(), reason)

    def _enter(self, new: State, reason: str) -> Transition | None:
        old = self.state.public
        self.state = new
        self.fast = None
        if isinstance(new, Closed):
            self.counts = new
            self.fast = new if new.window is None else None
        self.reject_until = new.until if isinstance(new, Open | ForcedOpen) else -math.inf
        return None if old is new.public else Transition(old, new.public, reason)
