"""The fixtures of the flask-guard pytest plugin (see :mod:`flask_guard.testing`).

pytest loads this module in every run of every project that has flask-guard installed:
what only a fixture needs is imported when the fixture runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

import pytest

from .servers import SentryIngest

if TYPE_CHECKING:
    from flask import Flask

    from ..extension import FlaskGuard

ForceBreaker = Callable[..., AbstractContextManager[None]]


@pytest.fixture
def guard(app: Flask) -> FlaskGuard:
    """Return the app's FlaskGuard."""
    found: FlaskGuard | None = app.extensions.get("guard")
    if found is None:
        pytest.fail("the app fixture's app has no FlaskGuard")
    return found


@pytest.fixture(autouse=True)
def _flask_guard_reset_breakers(request: pytest.FixtureRequest) -> None:
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    from flask import Flask

    found = app.extensions.get("guard") if isinstance(app, Flask) else None
    if found is not None:
        for breaker in found.breakers.built():
            breaker.reset()


@pytest.fixture
def force_breaker(guard: FlaskGuard) -> ForceBreaker:
    """Return ``force_breaker(name, state="open")``, a context manager."""

    @contextmanager
    def force(name: str, state: str = "open") -> Iterator[None]:
        breaker = guard.breakers[name]
        if state == "open":
            breaker.force_open()
        elif state == "closed":
            breaker.force_close()
        else:
            raise ValueError(f'state must be "open" or "closed", got {state!r}')
        try:
            yield
        finally:
            breaker.reset()

    return force


@pytest.fixture
def sentry_events() -> Iterator[SentryIngest]:
    """Start Sentry against a local ingest for the test; stop it afterwards."""
    import sentry_sdk
    from werkzeug.serving import make_server

    from ..config.keys import SentrySettings
    from ..sentry.setup import start_sentry

    ingest = SentryIngest()
    server = make_server("127.0.0.1", 0, ingest, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ingest.url = f"http://127.0.0.1:{server.port}"
    previous = sentry_sdk.get_client()
    start_sentry(ingest.dsn, SentrySettings(None, None, 1.0, None, False, ()))
    try:
        yield ingest
    finally:
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.get_global_scope().set_client(previous if previous.is_active() else None)
        server.shutdown()
        thread.join()
        server.server_close()
