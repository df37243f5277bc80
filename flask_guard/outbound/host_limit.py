"""The adaptive per-host limit of a session without ``max_concurrent``: a host that answers
is never limited; a host that stalls keeps one call in flight per process.

A dependency that hangs holds every thread that calls it for as long as its timeouts allow
(20 s by default), and routes that never touch it wait behind them. A fixed bulkhead bounds
that, but a number small enough to protect the other routes turns calls away while the host
is healthy. This limit needs no number. Per host, per process:

* A call is **overdue** once it has run :data:`OVERDUE_FACTOR` times the host's usual time
  (at least :data:`MIN_OVERDUE`; before the host has answered once, its read timeout).
* :data:`STALL_OVERDUE` calls overdue at once make the host **stalled**: its limit drops to
  one call in flight. The overdue calls other than the oldest are cut (``TotalTimeout``: a
  504 in a view), and new calls beyond the limit are turned away at once
  (``BulkheadFullError``: a 503 with ``Retry-After``). The oldest call stays: it is the
  probe that sees the host come back.
* Each call answered in time raises the limit by one; once it is above the number of calls
  that were in flight when the host stalled, the limit is lifted.
* The usual time follows the calls answered: it rises a quarter of the way toward a slower
  answer and falls a fiftieth of the way toward a faster one, so it stays near the slow end
  of normal and a host that has become slow but answers is soon not overdue.

A lone slow call is never cut, whatever its time.
"""

from __future__ import annotations

import itertools
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

    __slots__ = ("_host", "alone", "number", "overdue_after", "started")

    def __init__(
        self, host: HostLimit, number: int, started: float, overdue_after: float, alone: bool
    ) -> None:
        self._host = host
        #: The order of admission: the lowest number in flight is the oldest call.
        self.number = number
        self.started = started
        #: Seconds after :attr:`started` at which the call is overdue.
        self.overdue_after = overdue_after
        #: Whether no other call to the host was in flight when this one was admitted. Such a
        #: call is never cut (it is the oldest), so it needs no alarm: a later call's alarm
        #: counts it overdue when it is.
        self.alone = alone

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
        self._calls: set[HostCall] = set()
        self._numbers = itertools.count()
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
        return len(self._calls)

    @property
    def rejections(self) -> int:
        """The calls turned away so far."""
        return self._rejections

    def admit(self, read_timeout: float) -> HostCall:
        """Admit a call whose read timeout is ``read_timeout`` seconds.

        :raises BulkheadFullError: while the host is stalled and its limit is reached.
        """
        started = self._clock()
        with self._lock:
            calls, limit = self._calls, self._limit
            if limit is not None and len(calls) >= limit:
                self._rejections += 1
                raise BulkheadFullError(self.name, limit)
            usual = self._usual
            if usual is None:
                overdue_after = read_timeout
            else:
                overdue_after = min(max(MIN_OVERDUE, OVERDUE_FACTOR * usual), read_timeout)
            call = HostCall(self, next(self._numbers), started, overdue_after, alone=not calls)
            calls.add(call)
        return call

    def _overdue(self, call: HostCall) -> bool:
        now = self._clock()
        with self._lock:
            calls = self._calls
            if call not in calls:
                return False
            overdue = sum(
                1 for other in calls if other is call or now - other.started >= other.overdue_after
            )
            if overdue < STALL_OVERDUE:
                return False
            newly = self._limit is None
            self._limit = 1
            in_flight = len(calls)
            self._stalled_at = max(self._stalled_at, in_flight)
            probe = min(calls, key=_number)
        if newly:
            _log.warning(
                "Upstream %s stalled: %d calls in flight, %d of them past %.1f s; one call at "
                "a time until one answers in time",
                self.name,
                in_flight,
                overdue,
                call.overdue_after,
            )
        return call is not probe

    def _finish(self, call: HostCall, answered: bool) -> None:
        seconds = self._clock() - call.started
        lifted = False
        with self._lock:
            if call not in self._calls:
                return
            self._calls.discard(call)
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


def _number(call: HostCall) -> int:
    return call.number
