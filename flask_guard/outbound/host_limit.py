"""The adaptive per-host limit of a session without ``max_concurrent``: a host that answers
is never limited; a host that stalls keeps one call in flight per process.

A dependency that hangs holds every thread that calls it for as long as its timeouts allow
(20 s by default), and routes that never touch it wait behind them. A fixed bulkhead bounds
that, but a number small enough to protect the other routes turns calls away while the host
is healthy. This limit needs no number. Per host, per process:

* A call is **overdue** once it has run :data:`OVERDUE_FACTOR` times the host's usual time
  (at least :data:`MIN_OVERDUE`; before the host has answered once, its read timeout).
* :data:`STALL_OVERDUE` calls overdue at once make the host **stalled**: its limit drops to
  one call in flight. The overdue calls beyond it are cut (``TotalTimeout``: a 504 in a
  view), and new calls beyond it are turned away at once (``BulkheadFullError``: a 503 with
  ``Retry-After``). The call that stays is the probe that sees the host come back.
* Each call answered in time raises the limit by one; once it is above the number of calls
  that were in flight when the host stalled, the limit is lifted.
* The usual time follows the calls answered: it rises a quarter of the way toward a slower
  answer and falls a fiftieth of the way toward a faster one, so it stays near the slow end
  of normal and a host that has become slow but answers is soon not overdue.

A lone slow call is never cut, whatever its time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..errors.exceptions import BulkheadFullError

#: A call is overdue after this many times its host's usual time...
OVERDUE_FACTOR = 10.0
#: ...and never before this many seconds.
MIN_OVERDUE = 1.0
#: Overdue calls at once that make a host stalled.
STALL_OVERDUE = 2

_RISE, _FALL = 0.25, 0.02

_log = logging.getLogger(__name__)


class HostCall:
    """One call admitted by a :class:`HostLimit`; :meth:`finish` it exactly once."""

    __slots__ = ("_finished", "_host", "_is_overdue", "overdue_after", "started")

    def __init__(self, host: HostLimit, started: float, overdue_after: float) -> None:
        self._host = host
        self.started = started
        #: Seconds after :attr:`started` at which the call is overdue.
        self.overdue_after = overdue_after
        self._is_overdue = False
        self._finished = False

    def overdue(self) -> bool:
        """Note that the call is overdue; return whether to cut it short."""
        return self._host._overdue(self)

    def finish(self, answered: bool) -> None:
        """Note the end of the call: ``answered`` if a response came back."""
        self._host._finish(self, answered)


class HostLimit:
    """The adaptive limit of calls in flight to one host (see the module docstring).

    :param name: ``http:<host[:port]>``, as the fixed per-host bulkheads are named.
    :param clock: seconds, :func:`time.monotonic` by default.
    """

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._overdue_now = 0
        self._limit: int | None = None
        self._stalled_at = 0
        self._usual: float | None = None
        self._rejections = 0

    @property
    def limit(self) -> int | None:
        """The calls allowed in flight now; None while the host answers in time."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """The calls in flight now."""
        return self._in_flight

    @property
    def rejections(self) -> int:
        """The calls turned away so far."""
        return self._rejections

    def admit(self, read_timeout: float) -> HostCall:
        """Admit a call whose read timeout is ``read_timeout`` seconds.

        :raises BulkheadFullError: while the host is stalled and its limit is reached.
        """
        with self._lock:
            limit = self._limit
            if limit is not None and self._in_flight >= limit:
                self._rejections += 1
                raise BulkheadFullError(self.name, limit)
            self._in_flight += 1
            usual = self._usual
        if usual is None:
            overdue_after = read_timeout
        else:
            overdue_after = min(max(MIN_OVERDUE, OVERDUE_FACTOR * usual), read_timeout)
        return HostCall(self, self._clock(), overdue_after)

    def _overdue(self, call: HostCall) -> bool:
        with self._lock:
            if call._finished or call._is_overdue:
                return False
            call._is_overdue = True
            self._overdue_now += 1
            if self._overdue_now < STALL_OVERDUE:
                return False
            newly = self._limit is None
            self._limit = 1
            self._stalled_at = max(self._stalled_at, self._in_flight)
            in_flight = self._in_flight
        if newly:
            _log.warning(
                "Upstream %s stalled: %d calls in flight, %d past %.1f s; one call at a "
                "time until one answers in time",
                self.name,
                in_flight,
                STALL_OVERDUE,
                call.overdue_after,
            )
        return in_flight > 1

    def _finish(self, call: HostCall, answered: bool) -> None:
        seconds = self._clock() - call.started
        lifted = False
        with self._lock:
            if call._finished:
                return
            call._finished = True
            self._in_flight -= 1
            if call._is_overdue:
                self._overdue_now -= 1
            if not answered:
                return
            usual = self._usual
            if usual is None:
                self._usual = seconds
            else:
                self._usual = usual + (seconds - usual) * (_RISE if seconds > usual else _FALL)
            if self._limit is not None and seconds <= call.overdue_after:
                self._limit += 1
                if self._limit > self._stalled_at:
                    self._limit, self._stalled_at, lifted = None, 0, True
        if lifted:
            _log.info("Upstream %s answers in time again: its limit is lifted", self.name)
