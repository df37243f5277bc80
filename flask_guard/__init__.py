"""flask-guard: make a Flask JSON API fail well."""

from . import signals
from .config import GuardConfigError
from .errors import ApiError
from .extension import FlaskGuard
from .request_id import RequestIdFilter, current_request_id

__all__ = [
    "ApiError",
    "FlaskGuard",
    "GuardConfigError",
    "RequestIdFilter",
    "current_request_id",
    "signals",
]
