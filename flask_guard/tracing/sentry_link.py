"""Sentry's side of the trace, imported once the SDK is in the process.

With Sentry performance on, Sentry's transaction is the request's span: the guard uses its
ids, so ``traceparent`` and Sentry's ``sentry-trace`` agree. With it off, Sentry still sends
``sentry-trace`` and ``baggage`` on outbound calls, from a propagation context of its own:
:func:`align_propagation` gives that context the guard's trace first.
"""

from __future__ import annotations

import sentry_sdk

from .context import SpanIds
from .traceparent import SAMPLED


def active_span_ids() -> SpanIds | None:
    """Return the ids of Sentry's active span (Sentry performance on), else None."""
    span = sentry_sdk.get_current_span()
    if span is None or not span.trace_id:
        return None
    return SpanIds(span.trace_id, span.span_id, SAMPLED if span.sampled else 0)


def align_propagation(ids: SpanIds) -> None:
    """Make the ``sentry-trace`` and ``baggage`` headers Sentry adds to the next outbound
    call carry the trace of ``ids``, when no Sentry span decides them."""
    if sentry_sdk.get_current_span() is not None or not sentry_sdk.get_client().is_active():
        return
    context = sentry_sdk.get_current_scope().get_active_propagation_context()
    if context.trace_id != ids.trace_id or context.span_id != ids.span_id:
        context.trace_id = ids.trace_id
        context.span_id = ids.span_id
        context.parent_span_id = ids.parent_id
        context.parent_sampled = bool(ids.flags & SAMPLED)
        context.baggage = None  # made again from the new trace id


def trace_context(ids: SpanIds) -> dict[str, object]:
    """Return the ``trace`` context of a Sentry event of the request ``ids`` describe."""
    context: dict[str, object] = {"trace_id": ids.trace_id, "span_id": ids.span_id}
    if ids.parent_id is not None:
        context["parent_span_id"] = ids.parent_id
    return context
