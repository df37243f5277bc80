"""The trace of the running request: the active tracer's span, or the guard's own trace.

The guard's own trace continues a valid incoming ``traceparent`` or starts a new one, and is
made the first time something asks for it (a log line, an outbound call, an error), so a
request that uses none of it pays nothing. An OpenTelemetry span, or a Sentry transaction
when Sentry performance is on, wins over it: its ids are those the tracer records.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import has_request_context
from flask import request as flask_request

from .traceparent import (
    SAMPLED,
    TraceParent,
    new_span_id,
    new_trace_id,
    parse_traceparent,
    parse_tracestate,
)

if TYPE_CHECKING:
    import logging

    from _typeshed.wsgi import WSGIEnvironment

#: Where the request's own trace is kept, once made.
ENVIRON_KEY = "flask_guard.trace"
#: The environ keys of the incoming ``traceparent`` and ``tracestate`` headers.
TRACEPARENT_KEY = "HTTP_TRACEPARENT"
TRACESTATE_KEY = "HTTP_TRACESTATE"
#: Set when the app trusts no incoming id (``GUARD_TRUST_REQUEST_ID = False``).
UNTRUSTED_KEY = "flask_guard.untrusted"
#: The W3C Trace Context Level 2 response header.
TRACERESPONSE_HEADER = "traceresponse"


@dataclass(frozen=True, slots=True)
class SpanIds:
    """Where a request is in its trace: the trace, this service's span, and its flags."""

    trace_id: str
    span_id: str
    flags: int = SAMPLED
    #: The caller's span, when the trace came in with the request.
    parent_id: str | None = None
    #: The ``tracestate`` to pass on, if any.
    tracestate: str | None = None

    def child(self) -> TraceParent:
        """Return the ``traceparent`` of a call made from this span: same trace and flags,
        this span as the parent."""
        return TraceParent(self.trace_id, self.span_id, self.flags)


def request_trace(environ: WSGIEnvironment) -> SpanIds:
    """Return the guard's own trace of the request ``environ`` describes, made on first use:
    the incoming ``traceparent`` continued when valid, else a new trace."""
    trace: SpanIds | None = environ.get(ENVIRON_KEY)
    if trace is None:
        trace = environ[ENVIRON_KEY] = _begin(environ)
    return trace


def _begin(environ: WSGIEnvironment) -> SpanIds:
    incoming = (
        None if UNTRUSTED_KEY in environ else parse_traceparent(environ.get(TRACEPARENT_KEY))
    )
    if incoming is None:
        return SpanIds(new_trace_id(), new_span_id())
    tracestate = parse_tracestate(environ.get(TRACESTATE_KEY))
    return SpanIds(
        incoming.trace_id, new_span_id(), incoming.flags, incoming.parent_id, tracestate
    )


def current_span_ids() -> SpanIds | None:
    """Return the ids of the active span: OpenTelemetry's, Sentry's transaction's (Sentry
    performance on), or the request's own trace; None outside a request with no span."""
    for tracer_module, reader in _TRACERS:
        if tracer_module in sys.modules:
            ids = reader()()
            if ids is not None:
                return ids
    if not has_request_context():
        return None
    return request_trace(flask_request.environ)


@functools.cache
def _otel_span_ids() -> Callable[[], SpanIds | None]:
    from .otel import active_span_ids

    return active_span_ids


@functools.cache
def _sentry_span_ids() -> Callable[[], SpanIds | None]:
    from .sentry_link import active_span_ids

    return active_span_ids


# The tracers whose active span wins over the request's own trace, once in the process.
_TRACERS = (("opentelemetry.trace", _otel_span_ids), ("sentry_sdk", _sentry_span_ids))


def current_trace_id() -> str | None:
    """Return the trace id of the running request (32 lowercase hex digits), or None outside
    a request when no OpenTelemetry span is active.

    It is the caller's when the request came with a valid ``traceparent``, that of the
    active OpenTelemetry span (or Sentry transaction) when a tracer runs, else a new one.
    Inside a request it is also ``flask.g.trace_id``.
    """
    ids = current_span_ids()
    return None if ids is None else ids.trace_id


def current_span_id() -> str | None:
    """Return the id of the active span (16 lowercase hex digits): the tracer's, else the
    one the guard gives the running request; None where :func:`current_trace_id` is."""
    ids = current_span_ids()
    return None if ids is None else ids.span_id


def span_ids_of(environ: WSGIEnvironment) -> SpanIds:
    """Return the active span's ids for the request ``environ`` describes, also once its
    request context is gone (an exception that escaped Flask)."""
    ids = current_span_ids() if has_request_context() else None
    return ids or request_trace(environ)


def record_trace_ids(record: logging.LogRecord) -> tuple[str, str]:
    """Return the trace and span ids a log record carries: those passed with ``extra=``,
    else the current ones, else ``-``."""
    trace_id = getattr(record, "trace_id", None)
    if trace_id is not None:
        return trace_id, getattr(record, "span_id", "-")
    ids = current_span_ids()
    return ("-", "-") if ids is None else (ids.trace_id, ids.span_id)


def add_trace_headers(headers: MutableMapping[str, Any]) -> None:
    """Add the trace headers of a call made now: a child ``traceparent`` (same trace and
    flags, the active span as its parent) and the ``tracestate`` to pass on.

    A ``traceparent`` already there (the caller's, or OpenTelemetry's requests
    instrumentation's) is kept. Sentry's own ``sentry-trace`` and ``baggage``, which its
    HTTP integration adds later, are made to name the same trace.
    """
    ids = current_span_ids()
    if ids is None:
        return
    if "traceparent" not in headers:
        headers["traceparent"] = ids.child().header()
        if ids.tracestate and "tracestate" not in headers:
            headers["tracestate"] = ids.tracestate
    if "sentry_sdk" in sys.modules:
        from .sentry_link import align_propagation

        align_propagation(ids)


def trace_response(environ: WSGIEnvironment) -> str:
    """Return the ``traceresponse`` of the request ``environ`` describes: the trace it
    belongs to and the span that answered it."""
    return span_ids_of(environ).child().header()
