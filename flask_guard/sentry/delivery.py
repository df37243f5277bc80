"""Sentry under storms: every event that does not reach Sentry is counted and its id logged.

The SDK's transport sends from one background thread through a bounded queue; when the
queue is full, the network fails or Sentry rate-limits, events are dropped and only a
client report (seen by whoever reads Sentry's stats) says so. Here each such event is:

* counted, by reason (``flask_guard_sentry_events_lost`` with Prometheus metrics on);
* logged at INFO with its id and the reason, so every error id a client got is either an
  event in Sentry or written in a log line saying why it is not;
* part of a *storm*: the first loss starts one, the next delivered event (or a flush) ends
  it with one WARNING carrying the count; a storm that goes on is summed up once a minute.

urllib3's "Retrying ..." WARNING lines from Sentry's sending thread are dropped: with
Sentry down they were three lines per error, and the storm WARNING says it once.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sentry_sdk
from sentry_sdk.scope import add_global_event_processor
from sentry_sdk.transport import Transport

from ..compat.sentry import AnsweredTransport

if TYPE_CHECKING:
    from sentry_sdk.envelope import Envelope, Item
    from sentry_sdk.types import Event

_log = logging.getLogger("flask_guard.sentry_delivery")

#: Why an event did not reach Sentry, as the SDK names it, in words for the log.
REASONS = {
    "queue_overflow": "the Sentry transport queue was full",
    "network_error": "Sentry could not be reached",
    "send_error": "Sentry refused it",
    "ratelimit_backoff": "Sentry is rate-limiting this project",
    "rate_limited": "Sentry rate-limited it",
    "sample_rate": "it was sampled out (GUARD_SENTRY_SAMPLE_RATE)",
    "before_send": "before_send dropped it",
    "event_processor": "an event processor dropped it",
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
_SENTRY_THREAD_PREFIX = "sentry-sdk."


class LostEvents:
    """The events of this process that did not reach Sentry, and the current storm."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._totals: collections.Counter[str] = collections.Counter()
        self._storm: collections.Counter[str] = collections.Counter()
        self._storm_reported_at = 0.0

    def totals(self) -> dict[str, int]:
        """Return the count of events Sentry failed to get, by reason, since the process
        started (those the app's own settings dropped are not counted)."""
        with self._lock:
            return dict(self._totals)

    def lost(self, reason: str, event_id: str | None, quantity: int = 1) -> None:
        """Record ``quantity`` events lost for ``reason`` (one, when ``event_id`` is known)."""
        why = REASONS.get(reason, reason)
        if event_id is not None:
            _log.info("Sentry did not get error %s: %s (%s)", event_id, why, reason)
        elif reason in DELIVERY_FAILURES:
            _log.info("Sentry did not get %d event(s): %s (%s)", quantity, why, reason)
        else:  # the SDK names no id when the app's own settings drop an event
            _log.debug("Sentry did not get %d event(s): %s (%s)", quantity, why, reason)
        if reason not in DELIVERY_FAILURES:
            # A decision, not a loss: the guard's own dedupe drops the logging integration's
            # copy of every error it reports, and the app's sampling or before_send chose so.
            return
        with self._lock:
            self._totals[reason] += quantity
            starting = not self._storm
            self._storm[reason] += quantity
            now = self._clock()
            if starting:
                self._storm_reported_at = now
            due = now - self._storm_reported_at >= STORM_SUMMARY_INTERVAL
        if due:
            self._report(ended=False)

    def delivered(self) -> None:
        """End the storm, if any: an event reached Sentry."""
        if self._storm:
            self._report(ended=True)

    def report_pending(self) -> None:
        """Sum up a storm under way now (when the client flushes or closes)."""
        if self._storm:
            self._report(ended=False)

    def _report(self, ended: bool) -> None:
        with self._lock:
            storm, self._storm = self._storm, collections.Counter()
            self._storm_reported_at = self._clock()
        if not storm:
            return
        reasons = ", ".join(f"{reason}={count}" for reason, count in sorted(storm.items()))
        _log.warning(
            "Sentry did not get %d error event(s) (%s)%s; each id is logged at INFO by %s",
            sum(storm.values()),
            reasons,
            "" if ended else " so far",
            __name__,
            extra={"lost_events": dict(storm)},
        )


#: The process's account (Sentry has one client per process).
LOST = LostEvents()


def note_loss(
    reason: str,
    data_category: str | None = None,
    item: Item | None = None,
    quantity: int = 1,
) -> None:
    """Account for what the SDK reports lost; only error events count, by id when known."""
    if item is not None:
        event = item.get_event()
        if event is None:
            return  # a session, a client report, a transaction: not an error id
        LOST.lost(reason, str(event.get("event_id")))
    elif data_category == "error":
        LOST.lost(reason, None, quantity)


class GuardTransport(AnsweredTransport):
    """The SDK's HTTP transport, accounting for every error event it does not deliver.

    It also keeps the ids of the error events it has queued but not yet settled: when the
    client closes (a deploy's SIGTERM) while Sentry is slow, the SDK drops its queue without
    a word, and those ids are logged as lost instead.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self._unsettled: dict[str, None] = {}
        self._unsettled_lock = threading.Lock()

    def capture_envelope(self, envelope: Envelope) -> None:
        """Queue ``envelope``, remembering its error event's id until it is settled."""
        event_id = _event_id(envelope)
        if event_id is not None:
            with self._unsettled_lock:
                self._unsettled[event_id] = None
        super().capture_envelope(envelope)

    def _settle(self, envelope: Envelope | None) -> None:
        event_id = _event_id(envelope)
        if event_id is not None:
            with self._unsettled_lock:
                self._unsettled.pop(event_id, None)

    def kill(self) -> None:
        """Stop sending; log every error id still queued as lost (``shutdown``)."""
        super().kill()
        with self._unsettled_lock:
            unsettled, self._unsettled = list(self._unsettled), {}
        for event_id in unsettled:
            LOST.lost("shutdown", event_id)
        LOST.report_pending()

    def record_lost_event(
        self,
        reason: str,
        data_category: Any = None,
        item: Item | None = None,
        *,
        quantity: int = 1,
    ) -> None:
        """Report the loss to Sentry (client reports) and to the operator."""
        super().record_lost_event(reason, data_category, item, quantity=quantity)
        if item is not None and (event := item.get_event()) is not None:
            with self._unsettled_lock:
                self._unsettled.pop(str(event.get("event_id")), None)
        note_loss(reason, data_category, item, quantity)

    def answered(self, status: int, envelope: Envelope | None) -> None:
        """Settle ``envelope``; account for a rate-limited one, count a delivered event."""
        self._settle(envelope)
        if status == 429 and envelope is not None:
            # The SDK leaves this loss to Sentry's own books; the operator hears of it here.
            for item in envelope.items:
                note_loss("rate_limited", item=item)
        elif 200 <= status < 300 and envelope is not None and envelope.get_event():
            LOST.delivered()

    def flush(self, timeout: float, callback: Any = None) -> None:
        """Send what is queued, then report a storm still under way."""
        super().flush(timeout, callback)
        LOST.report_pending()


def _event_id(envelope: Envelope | None) -> str | None:
    event = envelope.get_event() if envelope is not None else None
    return None if event is None or not event.get("event_id") else str(event["event_id"])


def watch_transport(transport: Transport | None) -> None:
    """Account for the losses of a transport the application started itself."""
    if transport is None or isinstance(transport, GuardTransport):
        return
    if getattr(transport.record_lost_event, "_flask_guard_watched", False):
        return
    record = transport.record_lost_event

    def record_lost_event(
        reason: str, data_category: Any = None, item: Item | None = None, *, quantity: int = 1
    ) -> None:
        record(reason, data_category, item, quantity=quantity)
        note_loss(reason, data_category, item, quantity)

    record_lost_event._flask_guard_watched = True  # type: ignore[attr-defined]
    transport.record_lost_event = record_lost_event  # type: ignore[method-assign]


class _QuietSentryRetries(logging.Filter):
    """Drop urllib3's per-retry WARNINGs from Sentry's sending thread (and only from it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName or "").startswith(_SENTRY_THREAD_PREFIX)


_QUIET = _QuietSentryRetries()


def quiet_sentry_retries() -> None:
    """Keep urllib3 from logging each of Sentry's connection retries."""
    logger = logging.getLogger("urllib3.connectionpool")
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)


_watching = False
_watching_lock = threading.Lock()


def watch_clients() -> None:
    """Account for the losses of whichever client sends events: the one running now, and one
    the application starts later (checked as each event is prepared, at no cost otherwise)."""
    global _watching
    _watch_sender()
    with _watching_lock:
        if not _watching:
            add_global_event_processor(_watch_sender_of)
            _watching = True


def _watch_sender() -> None:
    client = sentry_sdk.get_client()
    if client.is_active():
        watch_transport(client.transport)
        quiet_sentry_retries()


def _watch_sender_of(event: Event, hint: object) -> Event:
    _watch_sender()
    return event
