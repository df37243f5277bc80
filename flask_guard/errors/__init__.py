"""The sans-IO error core: what an error is, how it is classified, and what it looks like on
the wire. Nothing in this folder reads a Flask global or does I/O; what it needs from the app
or the request is passed in.

The exceptions::

    Exception
    ├── ApiError                  an error meant for the client (any status)
    ├── CircuitOpenError          an open breaker refused the call (503)
    ├── BulkheadFullError         a bulkhead is full (503)
    ├── UpstreamServerError       an upstream answered 5xx
    └── ExceptionGroup
        └── FallbackExhausted     every step of a fallback chain failed (503)
    ValueError
    └── GuardConfigError          a setting is invalid (at init_app)
    TimeoutError
    └── DeadlineExceeded          the request's budget is spent (504)
    requests.Timeout
    └── TotalTimeout              an outgoing call's total deadline passed (504)
    requests.RequestException
    └── ResponseTooLarge          an upstream body passed the size cap (502)

The last two live in :mod:`flask_guard.errors.upstream`, which imports requests; this
package does not.
"""

from __future__ import annotations

from .exceptions import (
    ApiError,
    BulkheadFullError,
    CircuitOpenError,
    DeadlineExceeded,
    FallbackExhausted,
    GuardConfigError,
    UpstreamServerError,
)

__all__ = [
    "ApiError",
    "BulkheadFullError",
    "CircuitOpenError",
    "DeadlineExceeded",
    "FallbackExhausted",
    "GuardConfigError",
    "UpstreamServerError",
]
