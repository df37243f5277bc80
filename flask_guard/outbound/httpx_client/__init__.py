"""An httpx client with the session's guarantees, for async views (the ``[httpx]`` extra).

Importing this package imports httpx; ``import flask_guard`` never does.
"""

from __future__ import annotations

from ...errors.httpx_upstream import HttpxResponseTooLarge, HttpxTotalTimeout
from .client import GuardAsyncClient, robust_async_client

__all__ = [
    "GuardAsyncClient",
    "HttpxResponseTooLarge",
    "HttpxTotalTimeout",
    "robust_async_client",
]
