"""Sentry's side of :mod:`flask_guard.sentry`, imported once the SDK is in the process (a
DSN is set, or the application imported it): events whose id is the error id, request
scopes, and breaker and retry events riding along.

Nothing here runs on a request that succeeds: request data, breadcrumbs and the breaker
context are gathered when an event is captured, not before.
"""

from __future__ import annotations

import collections
import logging
import threading
import weakref
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sentry_sdk
from flask import current_app, has_request_context, request
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.scope import Scope, add_global_event_processor
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber
from sentry_sdk.utils import BadDsn, Dsn, event_from_exception
from werkzeug.wrappers import Request

from ..breaker.breaker import CircuitBreaker
from ..breaker.policy import CircuitState
from ..config.keys import GuardConfigError, SentrySettings
from ..errors.exceptions import ApiError
from ..errors.record import known_error
from ..errors.report import ErrorReport
from ..redaction.scrubbing import scrub_names
from ..signals import breaker_state_changed, retry_attempted
from ..tracing.context import span_ids_of
from ..tracing.sentry_link import trace_context
from .clients import take_in_hand, watch_clients
from .losses import LOST
from .source_context import add_source_context, without_source_context

if TYPE_CHECKING:
    from sentry_sdk.types import Event

_log = logging.getLogger(__name__)

_REQUEST_CRUMBS = "flask_guard.breadcrumbs"


def arm(scrub_fields: Iterable[str]) -> None:
    """Install what must be in place before any client captures, once per process."""
    # The guard captures its errors itself: its log lines must never become second events
    # (whenever a client starts), which Sentry's dedupe would then prefer to the guard's.
    ignore_logger("flask_guard.*")
    scrub_names(scrub_fields)
    _drop_second_captures.install()
    watch_clients()


def setup(dsn: str | None, settings: SentrySettings) -> None:
    """Start Sentry with ``dsn`` unless a client runs already; scrub ``settings``' fields."""
    scrub_names(settings.scrub_fields)
    if not sentry_sdk.get_client().is_active() and dsn:
        start_sentry(dsn, settings)
    if sentry_sdk.get_client().is_active():
        _BREAKERS.listen()
    watch_clients()


def start_sentry(dsn: str, settings: SentrySettings) -> None:
    """Start the Sentry client the way flask-guard wants it (see :doc:`/sentry`)."""
    try:
        Dsn(dsn)
    except BadDsn:
        raise GuardConfigError(
            f"SENTRY_DSN must be a Sentry DSN such as 'https://key@sentry.example/1', got {dsn!r}"
        ) from None
    scrub_names(settings.scrub_fields)
    sentry_sdk.init(
        dsn=dsn,
        environment=settings.environment,
        release=settings.release,
        sample_rate=settings.sample_rate,
        traces_sample_rate=settings.traces_sample_rate,
        event_scrubber=EventScrubber(denylist=_denylist(settings.scrub_fields)),
        transport_queue_size=settings.queue_size,
        # A variable's repr can hold a secret in a shape no scrubber knows.
        include_local_variables=False,
        # Its per-request scope setup is what makes it cost ~5.8x a plain request; it is
        # needed only to trace requests.
        disabled_integrations=[FlaskIntegration] if settings.traces_sample_rate is None else [],
    )
    _BREAKERS.listen()
    # Scrubbing last and every event not delivered logged by id (see .clients).
    watch_clients()


class EventSender:
    """Send an app's errors as Sentry events, with the error id as the event id."""

    def __init__(self, settings: SentrySettings) -> None:
        self._settings = settings

    def capture(
        self,
        error: BaseException,
        report: ErrorReport,
        error_id: str,
        request_id: str | None,
        route: str,
        environ: dict[str, Any],
    ) -> None:
        """Send ``error``, raised by the request of WSGI ``environ``, as the event
        ``error_id``; never raise.

        It is sent before anything else can capture the same exception (Flask's signal,
        its ``Exception on …`` log line): Sentry's dedupe then drops those, never this one.
        """
        client = sentry_sdk.get_client()
        if not client.is_active():
            return
        _BREAKERS.listen()
        incoming = Request(environ)
        try:
            options = client.options
            event, hint = event_from_exception(
                error, client_options=without_source_context(options)
            )
            add_source_context(event, options)
            event["event_id"] = error_id
            event["level"] = "error" if report.status >= 500 else "warning"
            event["transaction"] = route
            event["transaction_info"] = {"source": "route"}
            event["tags"] = {
                "request_id": request_id or "-",
                "error_code": report.code,
                "http.status": str(report.status),
                "http.method": incoming.method,
            }
            event["request"] = self._request_data(incoming)
            event["contexts"] = {
                "circuit_breakers": _BREAKERS.context(),
                "trace": trace_context(span_ids_of(environ)),  # links it to the trace
            }
            crumbs = _BREAKERS.crumbs() + incoming.environ.get(_REQUEST_CRUMBS, [])
            event["breadcrumbs"] = {"values": crumbs}
            if isinstance(error, ApiError):
                event["fingerprint"] = ["api-error", report.code]
            DedupeIntegration.reset_last_seen()
            if sentry_sdk.capture_event(event, hint=hint) is None:
                LOST.lost("dropped", error_id, event["level"])
        except Exception:
            _log.warning("Sending error %s to Sentry failed", error_id, exc_info=True)

    @staticmethod
    def _request_data(incoming: Request) -> dict[str, object]:
        """Describe the request without its body or cookies; the secrets in its query string
        and headers are filtered as the event is sent, as in every event (see
        :mod:`flask_guard.sentry.clients`)."""
        return {
            "url": incoming.base_url,
            "method": incoming.method,
            "query_string": "&".join(
                f"{key}={value}" for key, value in incoming.args.items(multi=True)
            ),
            "headers": dict(incoming.headers.items()),
        }


def enter_request_scope() -> bool:
    """Give the running request an isolation scope of its own while a Sentry client is
    active; return whether it did.

    The request's breadcrumbs (its log lines) and scope data (a user, a tag) then never ride
    on another request's event, as they would in a thread's shared scope. The scope is
    created by the SDK when the request first uses it: a request that neither logs nor
    reports anything pays one context-variable write, where forking the thread's scope
    (``sentry_sdk.isolation_scope()``) would copy it on every request. Data set on a
    thread's scope outside requests therefore does not reach request events: set
    process-wide data on the global scope (``sentry_sdk.get_global_scope().set_tag(...)``).
    """
    # sentry_sdk.init binds its client to the global scope; asking it alone is 4x cheaper
    # than get_client(), which walks the current and isolation scopes first.
    client = Scope.get_global_scope().client
    if not client.is_active():
        return False
    if client is not _client_in_hand[0]:
        # A client the app started after init_app: scrubbing and loss accounting from its
        # first request on, for logs too (events would take it in hand anyway).
        take_in_hand(client)
        _client_in_hand[0] = client
    Scope.set_isolation_scope(None)  # type: ignore[arg-type]  # the SDK creates one on use
    return True


_client_in_hand: list[object] = [None]


# Flask's "Request finalizing failed with an error while handling an error" line: an
# after_request function failing again on the error response of the error already sent.
_FINALIZING_FAILED = "Request finalizing failed"


class _SecondCaptures:
    """A global event processor dropping any other event for an error the guard gave an id.

    Flask's signal (the stock FlaskIntegration) and its ``Exception on …`` log line (the
    logging integration) capture the same exception with other ids, before the guard can
    send its own (it waits until the response is known). Sentry's dedupe would then drop
    the guard's event; :meth:`SentryReporter.capture` resets it first.
    """

    def __init__(self) -> None:
        self._installed = False
        self._lock = threading.Lock()

    def install(self) -> None:
        """Add the processor, once per process."""
        with self._lock:
            if not self._installed:
                add_global_event_processor(self)
                self._installed = True

    def __call__(self, event: Event, hint: dict[str, Any]) -> Event | None:
        if not hint or not has_request_context():
            return event
        error = known_error(request.environ)
        if error is None or error.error_id is None or event.get("event_id") == error.error_id:
            return event
        exc_info = hint.get("exc_info")
        if exc_info is not None and exc_info[1] is error.cause:
            return None
        record = hint.get("log_record")
        if isinstance(record, logging.LogRecord) and str(record.msg).startswith(
            _FINALIZING_FAILED
        ):
            return None
        return event


_drop_second_captures = _SecondCaptures()


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _denylist(fields: Iterable[str]) -> list[str]:
    """Sentry's denylist plus ``fields``, as written and as header names reach the scrubber."""
    extra = [name.lower() for name in fields]
    return [*DEFAULT_DENYLIST, *extra, *(_normal(name) for name in extra)]


class _BreakerWatch:
    """What Sentry learns from the signals: breaker transitions (breadcrumbs, the context
    of later events, one warning event per opening) and retries (breadcrumbs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._crumbs: collections.deque[dict[str, Any]] = collections.deque(maxlen=50)
        self._breakers: weakref.WeakValueDictionary[str, CircuitBreaker] = (
            weakref.WeakValueDictionary()
        )
        self._listening = False

    def listen(self) -> None:
        """Connect the receivers, once per process."""
        if self._listening:
            return
        with self._lock:
            if not self._listening:
                breaker_state_changed.connect(self._on_state_changed)
                retry_attempted.connect(self._on_retry)
                self._listening = True

    def crumbs(self) -> list[dict[str, Any]]:
        """Return the recent transitions of every breaker, oldest first."""
        with self._lock:
            return list(self._crumbs)

    def context(self) -> dict[str, object]:
        """Return the state of every breaker the app built or that ever changed state."""
        with self._lock:
            breakers: dict[str, CircuitBreaker] = dict(self._breakers.items())
        guard = current_app.extensions.get("guard") if has_request_context() else None
        if guard is not None:
            breakers.update((b.name, b) for b in guard.breakers.built())
        return {name: _describe(breaker) for name, breaker in sorted(breakers.items())}

    def _on_state_changed(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState, reason: str
    ) -> None:
        if not sentry_sdk.get_client().is_active():
            return
        with self._lock:
            self._breakers[breaker.name] = breaker
            self._crumbs.append(
                _crumb(
                    "circuit_breaker",
                    f"{breaker.name}: {old.value} -> {new.value} ({reason})",
                    "warning" if new is CircuitState.OPEN else "info",
                    {
                        "breaker": breaker.name,
                        "from": old.value,
                        "to": new.value,
                        "reason": reason,
                    },
                )
            )
        if new is CircuitState.OPEN and reason != "synced":
            self._report_opening(breaker, reason)

    def _report_opening(self, breaker: CircuitBreaker, reason: str) -> None:
        sentry_sdk.capture_event(
            {
                "level": "warning",
                "logger": "flask_guard.breaker",
                "message": f"Circuit breaker {breaker.name!r} opened ({reason})",
                "fingerprint": ["circuit-breaker-opened", breaker.name],
                "tags": {"breaker": breaker.name, "breaker.reason": reason},
                "contexts": {"circuit_breakers": self._context_without_request(breaker)},
                "breadcrumbs": {"values": self.crumbs()},
            }
        )

    def _context_without_request(self, opened: CircuitBreaker) -> dict[str, object]:
        if has_request_context():
            return self.context()
        return {opened.name: _describe(opened)}

    def _on_retry(
        self, func: object, attempt: int, delay: float, exception: BaseException | None
    ) -> None:
        name = getattr(func, "__qualname__", repr(func))
        crumb = _crumb(
            "retry",
            f"{name}: attempt {attempt} failed, retrying in {delay:.2f} s",
            "warning",
            {
                "function": name,
                "attempt": attempt,
                "delay": round(delay, 3),
                # The type only: messages can carry URLs with credentials or tokens.
                "exception": type(exception).__name__ if exception is not None else None,
            },
        )
        if has_request_context():
            request.environ.setdefault(_REQUEST_CRUMBS, []).append(crumb)
        elif sentry_sdk.get_client().is_active():
            sentry_sdk.add_breadcrumb(crumb)


def _crumb(category: str, message: str, level: str, data: Mapping[str, object]) -> dict[str, Any]:
    return {
        "type": "default",
        "category": category,
        "message": message,
        "level": level,
        "timestamp": datetime.now(UTC),
        "data": dict(data),
    }


def _describe(breaker: CircuitBreaker) -> dict[str, object]:
    stats = breaker.stats
    return {
        "state": stats.state.value,
        "forced": stats.forced,
        "failures": stats.failures,
        "total_failures": stats.total_failures,
        "rejections": stats.rejections,
        "last_failure": stats.last_failure,
        "retry_after": round(stats.retry_after, 3),
    }


_BREAKERS = _BreakerWatch()
