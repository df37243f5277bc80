"""One daemon thread that fires alarms at their deadlines.

Socket timeouts bound each read, not a whole call: an upstream that sends one byte every
half second never trips them. An alarm can end such a call from outside, at its deadline.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable

# Cancelled alarms stay in the heap until due; past this many entries they are swept out.
_SWEEP_AT = 4096


class Alarm:
    """A callback due at a :func:`time.monotonic` time, unless cancelled first."""

    __slots__ = ("action", "cancelled", "when")

    def __init__(self, when: float, action: Callable[[], object]) -> None:
        self.when = when
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        """Make sure the action does not run (if it has not started yet)."""
        self.cancelled = True


class Watchdog:
    """Run each scheduled :class:`Alarm`'s action at its time, on one thread per process."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._wakeup = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, when: float, action: Callable[[], object]) -> Alarm:
        """Run ``action`` at ``when`` unless the returned alarm is cancelled before."""
        alarm = Alarm(when, action)
        with self._wakeup:
            heap = self._heap
            if len(heap) >= _SWEEP_AT:
                heap[:] = [entry for entry in heap if not entry[2].cancelled]
                heapq.heapify(heap)
            heapq.heappush(heap, (when, next(self._order), alarm))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="flask-guard-watchdog", daemon=True
                )
                self._thread.start()
            elif heap[0][2] is alarm:
                self._wakeup.notify()
        return alarm

    def _run(self) -> None:
        while True:
            due = self._next_due()
            if not due.cancelled:
                # An action failing must not stop the thread that fires every other one.
                with contextlib.suppress(Exception):
                    due.action()

    def _next_due(self) -> Alarm:
        with self._wakeup:
            heap = self._heap
            while True:
                while heap and heap[0][2].cancelled:
                    heapq.heappop(heap)
                if not heap:
                    self._wakeup.wait()
                    continue
                wait = heap[0][0] - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(heap)[2]
                self._wakeup.wait(wait)


#: The process's watchdog.
WATCHDOG = Watchdog()
