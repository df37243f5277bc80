"""flask-guard: make a Flask JSON API fail well."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import signals
from .breaker.breaker import BreakerStats, CircuitBreaker
from .breaker.policy import CircuitState
from .config.keys import GuardConfigError
from .degrade import FallbackChain, ServiceLevel, StaleCache
from .errors.exceptions import (
    ApiError,
    BulkheadFullError,
    CircuitOpenError,
    DeadlineExceeded,
    FallbackExhausted,
    UpstreamServerError,
)
from .extension import FlaskGuard
from .resilience import waits
from .resilience.bulkhead import Bulkhead, BulkheadStats
from .resilience.request_budget import current_deadline, time_left
from .resilience.retry import retry_with_backoff
from .resilience.retry_budget import RetryBudget
from .tracing.context import current_trace_id
from .web.request_id import RequestIdFilter, current_request_id

if TYPE_CHECKING:
    from .errors.httpx_upstream import HttpxResponseTooLarge as HttpxResponseTooLarge
    from .errors.httpx_upstream import HttpxTotalTimeout as HttpxTotalTimeout
    from .errors.upstream import ResponseTooLarge, TotalTimeout
    from .outbound.httpx_client import robust_async_client as robust_async_client
    from .outbound.session import robust_session

    __version__: str

# Names whose modules import requests: loaded on first use, not with flask_guard.
_LAZY = {
    "ResponseTooLarge": "errors.upstream",
    "TotalTimeout": "errors.upstream",
    "robust_session": "outbound.session",
    # These import httpx, the [httpx] extra: left out of __all__ so that a star import
    # works without it.
    "HttpxResponseTooLarge": "errors.httpx_upstream",
    "HttpxTotalTimeout": "errors.httpx_upstream",
    "robust_async_client": "outbound.httpx_client",
}

__all__ = [
    "ApiError",
    "BreakerStats",
    "Bulkhead",
    "BulkheadFullError",
    "BulkheadStats",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "DeadlineExceeded",
    "FallbackChain",
    "FallbackExhausted",
    "FlaskGuard",
    "GuardConfigError",
    "RequestIdFilter",
    "ResponseTooLarge",
    "RetryBudget",
    "ServiceLevel",
    "StaleCache",
    "TotalTimeout",
    "UpstreamServerError",
    "current_deadline",
    "current_request_id",
    "current_trace_id",
    "retry_with_backoff",
    "robust_session",
    "signals",
    "time_left",
    "waits",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    # The version is read from the installed metadata on first use, not at every import.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("flask-api-guard")
        except PackageNotFoundError:  # run from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
