"""The headers every outgoing call carries, whichever client makes it."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from ..resilience.request_budget import REQUEST_TIMEOUT_HEADER
from ..tracing.context import add_trace_headers
from ..web.request_id import current_request_id


def add_call_headers(
    headers: MutableMapping[str, Any], request_id_header: str | None, seconds_left: float | None
) -> None:
    """Add the current request's id (under ``request_id_header``, unless the call sets its
    own), the trace headers (see :func:`~flask_guard.tracing.context.add_trace_headers`) and,
    when the request has a budget, the ``seconds_left`` in ``X-Request-Timeout``.

    ``guard.session`` and the httpx client both call it, on every hop of every call.
    """
    if request_id_header:
        request_id = current_request_id()  # cheaper than a header lookup outside requests
        if request_id is not None and request_id_header not in headers:
            headers[request_id_header] = request_id
    add_trace_headers(headers)
    if seconds_left is not None:
        headers[REQUEST_TIMEOUT_HEADER] = f"{max(seconds_left, 0.001):.3f}"
