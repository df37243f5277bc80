"""``guard.async_client``: each app's guarded httpx client, built on first use."""

from __future__ import annotations

import threading
from dataclasses import asdict

from flask import Flask

from .client import GuardAsyncClient, robust_async_client

_EXTENSION_KEY = "guard.async_client"
_lock = threading.Lock()


def app_async_client(app: Flask) -> GuardAsyncClient:
    """Return ``app``'s guarded httpx client, built from its ``GUARD_HTTP_*`` settings (the
    session's) on first use; it sends the request id in ``GUARD_REQUEST_ID_HEADER``."""
    client: GuardAsyncClient | None = app.extensions.get(_EXTENSION_KEY)
    if client is not None:
        return client
    with _lock:
        client = app.extensions.get(_EXTENSION_KEY)
        if client is None:
            config = app.extensions["guard.config"]
            client = robust_async_client(
                **asdict(config.http), request_id_header=config.request_id_header
            )
            app.extensions[_EXTENSION_KEY] = client
        return client
