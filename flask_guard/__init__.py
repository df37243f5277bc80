"""flask-guard: make a Flask JSON API fail well."""

from . import signals
from .breaker import BreakerStats, CircuitBreaker
from .breaker_policy import CircuitOpenError, CircuitState
from .config import GuardConfigError
from .errors import ApiError
from .extension import FlaskGuard
from .request_id import RequestIdFilter, current_request_id

__all__ = [
    "ApiError",
    "BreakerStats",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "FlaskGuard",
    "GuardConfigError",
    "RequestIdFilter",
    "current_request_id",
    "signals",
]
