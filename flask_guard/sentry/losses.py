"""The account of events Sentry did not get: one INFO line per id, one WARNING per storm.

No SDK import here: the metrics endpoint reads the totals without loading Sentry.

* each event not delivered is logged at INFO with its id, its level and the reason, so every
  error id a client got is either an event in Sentry or written in a log line saying why not;
* delivery failures are counted by reason (``flask_guard_sentry_events_lost`` with
  Prometheus metrics on) and form a *storm*: the first one starts it; it ends, with one
  WARNING carrying the counts, when the transport has caught up (nothing left queued) or an
  event queued after the last loss reaches Sentry, or when the client closes; a storm that
  goes on is summed up once a minute. Events queued before the last loss and delivered
  later do not end it: a slow Sentry that drops one event in two is one storm, not one
  WARNING per event delivered.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

# The name the operators' logging configuration already knows.
_log = logging.getLogger("flask_guard.sentry_delivery")

#: Why an event did not reach Sentry, as the SDK names it, in words for the log.
REASONS = {
    "queue_overflow": "the Sentry transport queue was full",
    "network_error": "Sentry could not be reached",
    "send_error": "Sentry refused it",
    "ratelimit_backoff": "Sentry is rate-limiting this project",
    "rate_limited": "Sentry rate-limited it",
    "sample_rate": "it was sampled out",
    "before_send": "before_send dropped it",
    "event_processor": "an event processor dropped it",
    "dropped": "the Sentry settings dropped it (sampling, before_send, ignore_errors or an "
    "event processor)",
    "shutdown": "it was still queued when the Sentry client closed",
}
#: The reasons that are a failure to deliver, not a decision of the app.
DELIVERY_FAILURES = frozenset(
    {
        "queue_overflow",
        "network_error",
        "send_error",
        "ratelimit_backoff",
        "rate_limited",
        "shutdown",
    }
)
STORM_SUMMARY_INTERVAL = 60.0


class LostEvents:
    """The events of this process that did not reach Sentry, and the current storm."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._totals: collections.Counter[str] = collections.Counter()
        self._storm: collections.Counter[str] = collections.Counter()
        self._storm_levels: collections.Counter[str] = collections.Counter()
        self._storm_in_flight = 0
        self._storm_reported_at = 0.0
        self._losses = 0  # delivery failures so far: events queued since the last are fresh

    def totals(self) -> dict[str, int]:
        """Return the count of events Sentry failed to get, by reason, since the process
        started (those the app's own settings dropped are not counted)."""
        with self._lock:
            return dict(self._totals)

    @property
    def losses(self) -> int:
        """The number of delivery failures so far (a mark for :meth:`delivered`)."""
        return self._losses

    def lost(
        self, reason: str, event_id: str | None, level: str | None = None, quantity: int = 1
    ) -> None:
        """Record ``quantity`` events lost for ``reason`` (one, when ``event_id`` is known)."""
        why = REASONS.get(reason, reason)
        kind = f"{level} event" if level else "event"
        if event_id is not None:
            _log.info("Sentry did not get %s %s: %s (%s)", kind, event_id, why, reason)
        elif reason in DELIVERY_FAILURES:
            _log.info("Sentry did not get %d %s(s): %s (%s)", quantity, kind, why, reason)
        else:  # the SDK names no id when the app's own settings drop an event
            _log.debug("Sentry did not get %d %s(s): %s (%s)", quantity, kind, why, reason)
        if reason not in DELIVERY_FAILURES:
            # A decision, not a loss: the guard's own dedupe drops the logging integration's
            # copy of every error it reports, and the app's sampling or before_send chose so.
            return
        with self._lock:
            self._losses += 1
            self._totals[reason] += quantity
            self._storm_levels[level or "other"] += quantity
            due = self._add_to_storm(reason, quantity)
        if due:
            self._report(ended=False)

    def in_flight(self, event_id: str, level: str | None) -> None:
        """Record an event that was being sent when its client closed: Sentry may have it."""
        _log.info(
            "Sentry may not have got %s %s: it was being sent when the Sentry client closed "
            "(in_flight)",
            f"{level} event" if level else "event",
            event_id,
        )
        with self._lock:
            self._storm_in_flight += 1
            if not self._storm:
                self._storm_reported_at = self._clock()

    def delivered(self, queued_after: int, caught_up: bool) -> None:
        """Note that an event queued when :attr:`losses` was ``queued_after`` reached Sentry:
        that ends the storm if its transport ``caught_up`` (nothing left queued) or no event
        was lost since it was queued."""
        if (self._storm or self._storm_in_flight) and (caught_up or queued_after >= self._losses):
            self._report(ended=True)

    def report_pending(self) -> None:
        """Sum up a storm under way now (when the client flushes or closes)."""
        if self._storm or self._storm_in_flight:
            self._report(ended=False)

    def _add_to_storm(self, reason: str, quantity: int) -> bool:
        """Count a loss in the storm (the lock held); return whether a summary is due."""
        now = self._clock()
        if not self._storm and not self._storm_in_flight:
            self._storm_reported_at = now
        self._storm[reason] += quantity
        return now - self._storm_reported_at >= STORM_SUMMARY_INTERVAL

    def _report(self, ended: bool) -> None:
        with self._lock:
            storm, self._storm = self._storm, collections.Counter()
            levels, self._storm_levels = self._storm_levels, collections.Counter()
            in_flight, self._storm_in_flight = self._storm_in_flight, 0
            self._storm_reported_at = self._clock()
        if not storm and not in_flight:
            return
        reasons = ", ".join(f"{reason}={count}" for reason, count in sorted(storm.items()))
        unsure = (
            f"{in_flight} more {'was' if in_flight == 1 else 'were'} being sent when the "
            "client closed and may have reached it"
            if in_flight
            else ""
        )
        said = (
            f"Sentry did not get {count_in_words(levels)} ({reasons})"
            f"{'' if ended else ' so far'}{'; ' + unsure if unsure else ''}"
            if storm
            else f"Sentry may not have got {in_flight} event(s) being sent when the client closed"
        )
        _log.warning(
            "%s; each id is logged at INFO by %s",
            said,
            _log.name,
            extra={"lost_events": dict(storm), "lost_event_levels": dict(levels)},
        )


def count_in_words(levels: collections.Counter[str]) -> str:
    """Say how many events of which levels: ``37 error events``, ``1 warning event``,
    ``3 events (2 error, 1 warning)``."""
    total = sum(levels.values())
    plural = "" if total == 1 else "s"
    known = {level: count for level, count in levels.items() if level != "other"}
    if len(known) == 1 and len(levels) == 1:
        return f"{total} {next(iter(known))} event{plural}"
    if not known:
        return f"{total} event{plural}"
    parts = ", ".join(f"{count} {level}" for level, count in sorted(levels.items()))
    return f"{total} event{plural} ({parts})"


#: The process's account (Sentry has one client per process).
LOST = LostEvents()
