"""OpenTelemetry, when the application uses it (extra ``flask-api-guard[otel]``).

Imported only once ``opentelemetry`` is in the process. The guard starts no span of its own:
it reads the active span's ids, and writes onto the active span (the server span of
``opentelemetry-instrumentation-flask``) what it knows about an error, a breaker transition
and a rejected call. Its counters and its request-duration histogram go through the OTel
metrics API, to whatever MeterProvider the application configured (none: they cost a call
that does nothing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from flask import Flask, got_request_exception, has_request_context
from flask import request as flask_request
from opentelemetry import metrics, trace
from opentelemetry.trace import Status, StatusCode, format_span_id, format_trace_id

from ..breaker.breaker import CircuitBreaker
from ..breaker.policy import CircuitState
from ..compat.opentelemetry import FLASK_INSTRUMENTATION_KEY
from ..errors.report import report_for
from ..signals import breaker_call_rejected, breaker_state_changed, error_handled
from ..web.request_id import current_request_id
from .context import SpanIds

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_log = logging.getLogger(__name__)

#: Span attributes the guard sets on the span of a request that ended in an error.
ERROR_ID_ATTRIBUTE = "flask_guard.error_id"
REQUEST_ID_ATTRIBUTE = "flask_guard.request_id"
ERROR_CODE_ATTRIBUTE = "flask_guard.error_code"
#: Attributes of the breaker span events and counters.
BREAKER_NAME_ATTRIBUTE = "flask_guard.breaker.name"
BREAKER_STATE_ATTRIBUTE = "flask_guard.breaker.state"
# The exception Flask's handle_exception took, which it then gives the teardown functions.
_UNEXPECTED_KEY = "flask_guard.unexpected"


def active_span_ids() -> SpanIds | None:
    """Return the active OpenTelemetry span's ids, or None when no valid span is active."""
    global _last
    context = trace.get_current_span().get_span_context()
    last = _last
    if last[0] is context:  # the same span asked again: a request's log lines, its calls
        return last[1]
    if not context.is_valid:
        return None
    state = context.trace_state
    ids = SpanIds(
        format_trace_id(context.trace_id),
        format_span_id(context.span_id),
        int(context.trace_flags),
        tracestate=state.to_header() or None if state else None,
    )
    _last = (context, ids)
    return ids


# The ids of the span context asked for last (span contexts are immutable).
_last: tuple[object, SpanIds | None] = (None, None)


class _Instruments:
    """The guard's OTel instruments, made once from the global MeterProvider (a proxy until
    the application sets one, which the instruments then report to)."""

    def __init__(self) -> None:
        meter = metrics.get_meter("flask_guard")
        self.errors = meter.create_counter(
            "flask_guard.errors", unit="{error}", description="Error responses, by error code."
        )
        self.transitions = meter.create_counter(
            "flask_guard.breaker.transitions",
            unit="{transition}",
            description="Circuit breaker state changes, by breaker and new state.",
        )
        self.rejections = meter.create_counter(
            "flask_guard.breaker.rejections",
            unit="{call}",
            description="Calls a circuit breaker rejected, by breaker and state.",
        )
        self.duration = meter.create_histogram(
            "flask_guard.request.duration",
            unit="s",
            description="Time from the request reaching the guard to its response starting.",
        )
        error_handled.connect(self.on_error, weak=False)
        breaker_state_changed.connect(self.on_transition, weak=False)
        breaker_call_rejected.connect(self.on_rejection, weak=False)
        got_request_exception.connect(_note_unexpected, weak=False)

    def on_error(self, app: Flask, error: Exception, error_id: str, status: int) -> None:
        """Count the error; mark the active span: attributes, and for a 5xx the exception
        and status ERROR (a 4xx is the client's: the server span stays unset, as OTel's
        HTTP conventions say)."""
        code = report_for(error).code
        self.errors.add(1, {"error.type": code, "http.response.status_code": status})
        span = trace.get_current_span()
        if not span.is_recording():
            return
        attributes = {
            ERROR_ID_ATTRIBUTE: error_id,
            REQUEST_ID_ATTRIBUTE: current_request_id() or "-",
            ERROR_CODE_ATTRIBUTE: code,
        }
        span.set_attributes(attributes)
        if status >= 500:
            if not _handed_to_flask(error):  # else the Flask instrumentation records it
                span.record_exception(error, attributes=attributes, escaped=False)
            span.set_status(Status(StatusCode.ERROR, code))

    def on_transition(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState, reason: str
    ) -> None:
        """Count the transition; add it to the active span as an event."""
        self.transitions.add(
            1, {BREAKER_NAME_ATTRIBUTE: breaker.name, BREAKER_STATE_ATTRIBUTE: new.value}
        )
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(
                "flask_guard.breaker.state_changed",
                {
                    BREAKER_NAME_ATTRIBUTE: breaker.name,
                    "flask_guard.breaker.from": old.value,
                    BREAKER_STATE_ATTRIBUTE: new.value,
                    "flask_guard.breaker.reason": reason,
                },
            )

    def on_rejection(self, breaker: CircuitBreaker) -> None:
        """Count the rejected call; add it to the active span as an event."""
        attributes = {
            BREAKER_NAME_ATTRIBUTE: breaker.name,
            BREAKER_STATE_ATTRIBUTE: breaker.state.value,
        }
        self.rejections.add(1, attributes)
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event("flask_guard.breaker.rejected", attributes)


def _handed_to_flask(error: Exception) -> bool:
    """Return whether ``error`` went to Flask's ``handle_exception`` (an unexpected error),
    which passes it to the teardown functions."""
    return has_request_context() and flask_request.environ.get(_UNEXPECTED_KEY) is error


def _note_unexpected(sender: object, exception: Exception, **extra: object) -> None:
    flask_request.environ[_UNEXPECTED_KEY] = exception


_instruments: _Instruments | None = None
_lock = threading.Lock()


def install_otel(app: Flask) -> None:
    """Record ``app``'s errors and breakers on the active spans and count them, and time its
    requests, through the OpenTelemetry API."""
    global _instruments
    with _lock:
        if _instruments is None:
            _instruments = _Instruments()
    app.wsgi_app = _Timed(app, _instruments.duration.record)  # type: ignore[method-assign]


class _Timed:
    """Record how long the wrapped WSGI app takes to start its response, by method and
    status, until OpenTelemetry's Flask instrumentation is seen timing the app's requests:
    its ``http.server.request.duration`` says the same, and a second record would cost more
    than the rest of the guard."""

    def __init__(self, app: Flask, record: Callable[..., None]) -> None:
        self.wsgi_app = app.wsgi_app
        self._name = app.name
        self._record = record
        self._timed_elsewhere = False

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._timed_elsewhere:
            return self.wsgi_app(environ, start_response)
        if FLASK_INSTRUMENTATION_KEY in environ:  # its wrapper runs before the guard's
            self._timed_elsewhere = True
            _log.warning(
                "OpenTelemetry's Flask instrumentation was applied to the app %r after "
                "FlaskGuard: its server spans get no response status (the guard completes "
                "the response after the span ends). Instrument the app before FlaskGuard(app) "
                "or init_app.",
                self._name,
            )
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        status = ["500"]

        def start(
            line: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            status[0] = line[:3]
            return start_response(line, headers, exc_info)

        try:
            return self.wsgi_app(environ, start)
        finally:
            if FLASK_INSTRUMENTATION_KEY in environ:
                self._timed_elsewhere = True
            else:
                self._record(
                    time.perf_counter() - started,
                    {
                        "http.request.method": environ.get("REQUEST_METHOD", "_OTHER"),
                        "http.response.status_code": int(status[0]),
                    },
                )
