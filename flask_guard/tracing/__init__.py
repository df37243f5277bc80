"""Correlation: W3C Trace Context in and out, and OpenTelemetry when the application uses it.

:mod:`.traceparent` is pure (no I/O, no request globals); :mod:`.context` finds the trace of
the running request; :mod:`.otel` and :mod:`.sentry_link` are imported only once
``opentelemetry`` or ``sentry_sdk`` is in the process.
"""

from __future__ import annotations

from .context import current_span_id, current_trace_id
from .traceparent import TraceParent, parse_traceparent, parse_tracestate

__all__ = [
    "TraceParent",
    "current_span_id",
    "current_trace_id",
    "parse_traceparent",
    "parse_tracestate",
]
