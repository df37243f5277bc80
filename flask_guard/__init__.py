"""flask-guard: make a Flask JSON API fail well."""

from . import signals
from .breaker import BreakerStats, CircuitBreaker
from .breaker_policy import CircuitOpenError, CircuitState
from .budget import RetryBudget
from .config import GuardConfigError
from .errors import ApiError
from .extension import FlaskGuard
from .request_id import RequestIdFilter, current_request_id
from .retry import retry_with_backoff
from .session import UpstreamServerError, robust_session

__all__ = [
    "ApiError",
    "BreakerStats",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "FlaskGuard",
    "GuardConfigError",
    "RequestIdFilter",
    "RetryBudget",
    "UpstreamServerError",
    "current_request_id",
    "retry_with_backoff",
    "robust_session",
    "signals",
]
