"""Sentry: each 5xx is one event whose id is the error id; breaker and retry events ride along.

The SDK is imported only when a DSN is set or the application imported it itself: until
then an app pays nothing for Sentry, at import or per request. The SDK's side lives in
:mod:`flask_guard.sentry.events`, armed the first time the SDK is seen in the process.
"""

from __future__ import annotations

import os
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING

from ..config.keys import SentrySettings
from ..errors.exceptions import CircuitOpenError, FallbackExhausted, is_client_error
from ..errors.report import ErrorReport

if TYPE_CHECKING:
    from flask import Flask

    from .events import EventSender

# flask_guard.sentry.events, once the SDK is in the process and the guard's hooks are armed.
_events: ModuleType | None = None
_arm_lock = threading.Lock()
# Fields to scrub that apps asked for before the SDK was in the process.
_scrub_fields: list[str] = []


def setup_sentry(app: Flask, settings: SentrySettings) -> SentryReporter:
    """Start Sentry for ``app`` if ``SENTRY_DSN`` is set (config, then environment) and no
    client runs yet; reuse a client the application started itself.

    The reporter returned captures only while a Sentry client is active; without one,
    nothing of Sentry runs (an error costs one check).
    """
    _scrub_fields.extend(settings.scrub_fields)
    dsn = app.config.get("SENTRY_DSN") or os.environ.get("SENTRY_DSN")
    if dsn or "sentry_sdk" in sys.modules:
        _arm().setup(dsn, settings)
    return SentryReporter(settings)


def start_sentry(dsn: str, settings: SentrySettings) -> None:
    """Start the Sentry client the way flask-guard wants it (see :doc:`/sentry`)."""
    _arm().start_sentry(dsn, settings)


def _loaded() -> ModuleType | None:
    """Return :mod:`flask_guard.sentry.events` if the SDK is in the process (arming the
    guard's hooks the first time), else None."""
    if _events is not None or "sentry_sdk" not in sys.modules:
        return _events
    return _arm()


def _arm() -> ModuleType:
    """Import :mod:`flask_guard.sentry.events` (and the SDK), arming it once; return it."""
    global _events
    with _arm_lock:
        if _events is None:
            from . import events as sentry_events

            sentry_events.arm(_scrub_fields)
            _events = sentry_events
        return _events


class SentryReporter:
    """Capture an app's errors as Sentry events, with the error id as the event id."""

    def __init__(self, settings: SentrySettings) -> None:
        self._settings = settings
        self._sender: EventSender | None = None

    def wants(self, error: Exception, report: ErrorReport) -> bool:
        """Return whether ``error`` deserves an event: 5xx (4xx if configured), never a
        rejected call (a breaker opening is reported once, by itself), nor a fallback chain
        whose every step an open breaker rejected.

        A spent request budget (:class:`~flask_guard.DeadlineExceeded`, a 504) counts as a
        client error here as it does for breakers: a client sending a tiny
        ``X-Request-Timeout`` must not spend the project's Sentry quota.
        """
        if isinstance(error, CircuitOpenError) or (
            isinstance(error, FallbackExhausted) and error.rejected_only
        ):
            return False
        if report.status >= 500 and not is_client_error(error):
            return True
        return self._settings.capture_4xx

    def sender(self) -> EventSender | None:
        """Return what sends this app's events once the SDK is in the process, else None
        (its events are sent only while a client is active)."""
        if self._sender is None and (events := _loaded()) is not None:
            self._sender = events.EventSender(self._settings)
        return self._sender


def enter_request_scope() -> bool:
    """Give the running request an isolation scope of its own while a Sentry client is
    active; return whether it did (see :func:`flask_guard.sentry_events.enter_request_scope`).
    """
    events = _loaded()
    return events is not None and bool(events.enter_request_scope())
