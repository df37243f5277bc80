"""Sentry under storms: whichever transport sends the events (the one the guard started, the
SDK's default one of an app-started client, or one the app configured), every event that does
not reach Sentry is logged by id with its reason (see :mod:`flask_guard.sentry.losses`).

The SDK's transport sends from one background thread through a bounded queue; when the
queue is full, the network fails or Sentry rate-limits, events are dropped and only a
client report (seen by whoever reads Sentry's stats) says so. Each transport is watched
through its public methods (``capture_envelope``, ``record_lost_event``, ``on_dropped_event``,
``flush``, ``kill``) and, for the SDK's HTTP transports, the private sending step
(:mod:`flask_guard.compat.sentry_sdk`), which tells which queued events were sent.

When the client closes (a deploy's SIGTERM, the interpreter exiting) the events still queued
are not sent and are logged as lost (``shutdown``); the one being sent, if any, is waited for
briefly and otherwise logged as possibly lost (``in_flight``): an id is never reported lost
that Sentry may have. A transport still open when the interpreter exits is flushed and closed
so, also when the app left out Sentry's own at-exit integration.

urllib3's "Retrying ..." WARNING lines from Sentry's sending thread are dropped: with
Sentry down they were three lines per error, and the storm WARNING says it once.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from ..compat.sentry_sdk import SendEnvelope, wrap_send_envelope
from .losses import LOST

if TYPE_CHECKING:
    from sentry_sdk.envelope import Envelope, Item
    from sentry_sdk.transport import Transport

#: How long closing waits for the envelope being sent, in seconds.
IN_FLIGHT_GRACE = 1.0
_SENTRY_THREAD_PREFIX = "sentry-sdk."
_WATCH_ATTRIBUTE = "_flask_guard_watch"


def _event_of(item: Item | None) -> tuple[str, str] | None:
    """Return the id and level of the error or message event ``item`` holds, if any."""
    event = item.get_event() if item is not None else None
    if event is None or not event.get("event_id"):
        return None
    return str(event["event_id"]), str(event.get("level") or "error")


def _events_of(envelope: Envelope) -> dict[str, str]:
    """Return {event id: level} of the error or message events in ``envelope``."""
    return dict(found for item in envelope.items if (found := _event_of(item)) is not None)


class _TransportWatch:
    """The account of one transport: the events it queued and has not settled yet."""

    def __init__(self, transport: Transport) -> None:
        self._lock = threading.Condition()
        # Queued, neither sent nor lost yet: id -> level, and the loss count when queued.
        self._unsettled: dict[str, str] = {}
        self._queued_after: dict[str, int] = {}
        self._sending: dict[str, str] = {}  # in the envelope being sent now
        self._rate_limited = False
        self._closed = False
        options = transport.options or {}
        self._shutdown_timeout = float(options.get("shutdown_timeout") or 2.0)
        self._original_kill = transport.kill
        self._original_flush = transport.flush
        self._original_capture = transport.capture_envelope
        self._original_record = transport.record_lost_event
        self._original_dropped = getattr(transport, "on_dropped_event", None)
        self.tracks_sending = wrap_send_envelope(transport, self._wrap_send)

    def install(self, transport: Transport) -> None:
        """Put the watch's methods on ``transport`` (the instance, not its class)."""
        setattr(transport, _WATCH_ATTRIBUTE, self)
        transport.capture_envelope = self.capture_envelope  # type: ignore[method-assign]
        transport.record_lost_event = self.record_lost_event  # type: ignore[method-assign]
        transport.flush = self.flush  # type: ignore[method-assign]
        transport.kill = self.kill  # type: ignore[method-assign]
        if self._original_dropped is not None:
            transport.on_dropped_event = self.on_dropped_event  # type: ignore[attr-defined]

    def capture_envelope(self, envelope: Envelope) -> None:
        """Queue ``envelope``, remembering its events until they are settled."""
        if self.tracks_sending and (events := _events_of(envelope)):
            mark = LOST.losses
            with self._lock:
                self._unsettled.update(events)
                self._queued_after.update(dict.fromkeys(events, mark))
        self._original_capture(envelope)

    def record_lost_event(
        self,
        reason: str,
        data_category: Any = None,
        item: Item | None = None,
        *,
        quantity: int = 1,
    ) -> None:
        """Report the loss to Sentry (client reports) and to the operator."""
        self._original_record(reason, data_category, item, quantity=quantity)
        if item is not None:
            found = _event_of(item)
            if found is None:
                return  # a session, a client report, a transaction: not an error id
            with self._lock:
                self._unsettled.pop(found[0], None)
                self._queued_after.pop(found[0], None)
                self._sending.pop(found[0], None)
            LOST.lost(reason, found[0], found[1])
        elif data_category == "error":
            LOST.lost(reason, None, None, quantity)

    def on_dropped_event(self, reason: str) -> None:
        """Note a 429: the SDK leaves that loss to Sentry's own books."""
        if self._original_dropped is not None:
            self._original_dropped(reason)
        if reason == "status_429":
            self._rate_limited = True

    def _wrap_send(self, send: SendEnvelope) -> SendEnvelope:
        def send_envelope(envelope: Envelope) -> None:
            events = _events_of(envelope)
            with self._lock:
                if self._closed:
                    return  # its events were logged as lost when the client closed
                self._sending = {i: lvl for i, lvl in events.items() if i in self._unsettled}
                self._rate_limited = False
            try:
                send(envelope)
            finally:
                self._settle()

        return send_envelope

    def _settle(self) -> None:
        with self._lock:
            sent = {i: lvl for i, lvl in self._sending.items() if i in self._unsettled}
            marks = [self._queued_after.pop(event_id, 0) for event_id in sent]
            for event_id in sent:
                del self._unsettled[event_id]
            self._sending = {}
            rate_limited = self._rate_limited
            caught_up = not self._unsettled
            closing = self._closed
            self._lock.notify_all()
        if rate_limited:
            for event_id, level in sent.items():
                LOST.lost("rate_limited", event_id, level)
        elif sent and not closing:  # closing sums the storm up once, when it is done
            LOST.delivered(queued_after=max(marks), caught_up=caught_up)

    def flush(self, timeout: float, callback: Any = None) -> None:
        """Send what is queued; once nothing is left (or when the sending is not seen), sum
        up a storm still under way. Left to :meth:`kill` otherwise, so that closing says it
        once."""
        self._original_flush(timeout, callback)
        with self._lock:
            caught_up = not self._unsettled
        if caught_up or not self.tracks_sending:
            LOST.report_pending()

    def kill(self) -> None:
        """Stop sending: log the events still queued as lost (``shutdown``), wait briefly for
        the one being sent, and sum the storm up."""
        with self._lock:
            self._closed = True
            queued = {i: lvl for i, lvl in self._unsettled.items() if i not in self._sending}
            for event_id in queued:
                del self._unsettled[event_id]
                self._queued_after.pop(event_id, None)
        self._original_kill()
        for event_id, level in queued.items():
            LOST.lost("shutdown", event_id, level)
        with self._lock:
            self._lock.wait_for(lambda: not self._sending, IN_FLIGHT_GRACE)
            in_flight = dict(self._sending)
            for event_id in in_flight:
                self._unsettled.pop(event_id, None)
                self._queued_after.pop(event_id, None)
        for event_id, level in in_flight.items():
            LOST.in_flight(event_id, level)
        LOST.report_pending()

    def close_at_exit(self) -> None:
        """Flush and close the transport as the interpreter exits, unless its client did."""
        if not self._closed:
            self.flush(self._shutdown_timeout)
            self.kill()


_watched: weakref.WeakSet[_TransportWatch] = weakref.WeakSet()
_watched_lock = threading.Lock()
_exit_hook: list[bool] = []


def watch_transport(transport: Transport | None) -> None:
    """Account for every event ``transport`` does not deliver (once per transport)."""
    if transport is None or getattr(transport, _WATCH_ATTRIBUTE, None) is not None:
        return
    with _watched_lock:
        if getattr(transport, _WATCH_ATTRIBUTE, None) is not None:
            return
        watch = _TransportWatch(transport)
        watch.install(transport)
        if not _exit_hook:
            atexit.register(_close_at_exit)
            _exit_hook.append(True)
        _watched.add(watch)


def _close_at_exit() -> None:
    for watch in list(_watched):
        watch.close_at_exit()


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
