"""Shared fixtures: a guarded app with a few routes, and helpers to read envelopes."""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import pytest
import redis
import sentry_sdk
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from flask_guard import FlaskGuard
from flask_guard.testing import RedisServer, SentryIngest

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

pytest_plugins = ("pytester",)

HEX32 = re.compile(r"[0-9a-f]{32}")


def make_app(**config: object) -> Flask:
    """Return an app with production-like error handling (exceptions not propagated)."""
    app = Flask(__name__)
    app.config.update({"PROPAGATE_EXCEPTIONS": False, **config})
    return app


@pytest.fixture
def app() -> Flask:
    app = make_app()
    FlaskGuard(app)
    return app


def error_of(response: TestResponse) -> dict[str, object]:
    """Return the ``error`` object of an envelope, checking the invariants every one has."""
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error: dict[str, object] = body["error"]
    assert HEX32.fullmatch(str(error["id"]))
    assert error["id"] == response.headers["X-Error-ID"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert error["status"] == response.status_code
    return error


@contextmanager
def serving(app: WSGIApplication) -> Iterator[str]:
    """Serve ``app`` with a threaded werkzeug server on a free loopback port; yield its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


class FakeClock:
    """A clock for breakers that moves only when a test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hanging_url() -> Iterator[str]:
    """Yield the URL of a server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


@pytest.fixture
def refused_url() -> str:
    """Return the URL of a loopback port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def sentry_ingest(monkeypatch: pytest.MonkeyPatch) -> Iterator[SentryIngest]:
    """Run a local Sentry ingest; stop any Sentry client the test started."""
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    ingest = SentryIngest()
    with serving(ingest) as url:
        ingest.url = url
        yield ingest
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def redis_url() -> str:
    """Return ``GUARD_TEST_REDIS`` if a Redis answers there; skip (or fail, when
    ``GUARD_REQUIRE_REDIS=1``) if none does."""
    url = os.environ.get("GUARD_TEST_REDIS", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        message = f"no Redis at GUARD_TEST_REDIS={url} ({error})"
        if os.environ.get("GUARD_REQUIRE_REDIS") == "1":
            pytest.fail(message + "; GUARD_REQUIRE_REDIS=1 requires one")
        pytest.skip(message)
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """Yield a key prefix of this test's own; delete its keys afterwards."""
    prefix = f"guard-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.fixture
def root_stream() -> Iterator[io.StringIO]:
    """A root handler of the test's own; restore the root handlers' formatters afterwards."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    saved = [(h, h.formatter, list(h.filters)) for h in root.handlers]
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)
    for existing, formatter, filters in saved:
        existing.setFormatter(formatter)
        existing.filters = filters


def ops_app(**config: object) -> tuple[Flask, FlaskGuard]:
    app = make_app(**config)
    guard = FlaskGuard(app)

    @app.get("/pay")
    @guard.breaker("payments", failure_threshold=1, recovery_timeout=60)
    def pay() -> NoReturn:
        raise ConnectionError("payments down")

    @app.get("/stock")
    @guard.breaker("inventory", failure_threshold=1)
    def stock() -> dict[str, int]:
        return {"left": 3}

    return app, guard


@pytest.fixture
def own_redis(redis_url: str) -> Iterator[RedisServer]:
    """A redis-server of the test's own, to stop, pause or corrupt (never the shared one)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    server.start()
    yield server
    server.stop()
