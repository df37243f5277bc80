"""flask-guard: make a Flask JSON API fail well."""

from . import signals
from .breaker import BreakerStats, CircuitBreaker
from .breaker_policy import CircuitOpenError, CircuitState
from .budget import RetryBudget
from .bulkhead import Bulkhead, BulkheadStats
from .config import GuardConfigError
from .deadline import current_deadline, time_left
from .errors import ApiError, BulkheadFullError, DeadlineExceeded
from .extension import FlaskGuard
from .request_id import RequestIdFilter, current_request_id
from .retry import retry_with_backoff
from .session import ResponseTooLarge, TotalTimeout, UpstreamServerError, robust_session

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
    "FlaskGuard",
    "GuardConfigError",
    "RequestIdFilter",
    "ResponseTooLarge",
    "RetryBudget",
    "TotalTimeout",
    "UpstreamServerError",
    "current_deadline",
    "current_request_id",
    "retry_with_backoff",
    "robust_session",
    "signals",
    "time_left",
]
