"""The watchdog fires alarms in time order, never a cancelled one, and survives a failing one."""

from __future__ import annotations

import threading
import time

from flask_guard.outbound.watchdog import Watchdog

WAIT = 10.0


def test_alarms_fire_in_time_order_whatever_the_order_they_were_set() -> None:
    watchdog = Watchdog()
    fired: list[str] = []
    done = threading.Event()
    now = time.monotonic()

    def last() -> None:
        fired.append("late")
        done.set()

    watchdog.schedule(now + 0.2, last)
    watchdog.schedule(now + 0.1, lambda: fired.append("early"))
    assert done.wait(WAIT)
    assert fired == ["early", "late"]


def test_a_cancelled_alarm_never_fires() -> None:
    watchdog = Watchdog()
    fired: list[str] = []
    done = threading.Event()
    now = time.monotonic()
    watchdog.schedule(now + 0.05, lambda: fired.append("cancelled")).cancel()
    watchdog.schedule(now + 0.1, done.set)
    assert done.wait(WAIT)
    assert fired == []


def test_an_alarm_that_raises_does_not_stop_the_next() -> None:
    watchdog = Watchdog()
    done = threading.Event()
    now = time.monotonic()
    watchdog.schedule(now, lambda: 1 / 0)
    watchdog.schedule(now + 0.05, done.set)
    assert done.wait(WAIT)


def test_cancelled_alarms_are_swept_so_the_heap_stays_bounded() -> None:
    watchdog = Watchdog()
    later = time.monotonic() + 3600
    for _ in range(10_000):
        watchdog.schedule(later, lambda: None).cancel()
    assert len(watchdog._heap) <= 4096
