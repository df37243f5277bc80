"""robust_session and guard.session against real servers on loopback."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest
import requests
from flask import Flask
from pytest_httpserver import HTTPServer
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry
from werkzeug import Request, Response

from flask_guard import (
    CircuitBreaker,
    CircuitOpenError,
    FlaskGuard,
    GuardConfigError,
    ResponseTooLarge,
    RetryBudget,
    robust_session,
)
from flask_guard.outbound.adapter import GuardedAdapter
from flask_guard.outbound.pools import MAX_HOSTS, POOL_CLASSES
from flask_guard.outbound.settings import SessionSettings

from ..conftest import make_app, serving


def test_503_with_retry_after_is_retried_after_waiting(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/stock").respond_with_data(
        "busy", status=503, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request("/stock").respond_with_json({"sku": 3})
    started = time.monotonic()
    response = robust_session().get(httpserver.url_for("/stock"))
    waited = time.monotonic() - started
    assert response.json() == {"sku": 3}
    assert len(httpserver.log) == 2
    assert 0.9 <= waited < 5


def test_post_is_not_retried_by_default(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/charge").respond_with_data("busy", status=503)
    response = robust_session(backoff_factor=0).post(httpserver.url_for("/charge"), json={})
    assert response.status_code == 503
    assert len(httpserver.log) == 1


def test_post_is_retried_when_allowed(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/charge").respond_with_data("busy", status=502)
    httpserver.expect_ordered_request("/charge").respond_with_data("ok")
    session = robust_session(backoff_factor=0, allowed_methods={"POST"})
    assert session.post(httpserver.url_for("/charge")).text == "ok"


def test_final_5xx_response_is_returned_not_raised(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/rates").respond_with_data("down", status=500)
    response = robust_session(retries=2, backoff_factor=0).get(httpserver.url_for("/rates"))
    assert response.status_code == 500
    assert len(httpserver.log) == 3


def test_retry_after_beyond_the_maximum_is_not_waited_for(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/rates").respond_with_data(
        "come back in an hour", status=503, headers={"Retry-After": "3600"}
    )
    started = time.monotonic()
    response = robust_session().get(httpserver.url_for("/rates"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3600"
    assert len(httpserver.log) == 1
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("header", ["soon", "-5", "Thu, 99 Zzz 2026"])
def test_malformed_retry_after_means_normal_backoff(httpserver: HTTPServer, header: str) -> None:
    httpserver.expect_ordered_request("/rates").respond_with_data(
        "busy", status=429, headers={"Retry-After": header}
    )
    httpserver.expect_ordered_request("/rates").respond_with_data("ok")
    response = robust_session(backoff_factor=0).get(httpserver.url_for("/rates"))
    assert response.text == "ok"


def test_hanging_upstream_is_bounded_by_the_default_timeout(hanging_url: str) -> None:
    session = robust_session(retries=1, backoff_factor=0, timeout=(1, 0.2))
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout, match="Read timed out"):
        session.get(hanging_url)
    assert time.monotonic() - started < 5


def test_explicit_timeout_wins_over_the_default(hanging_url: str) -> None:
    session = robust_session(retries=0, timeout=60)
    with pytest.raises(requests.ReadTimeout):
        session.get(hanging_url, timeout=0.2)


def test_connection_refused_is_retried_then_raised(refused_url: str) -> None:
    with pytest.raises(requests.ConnectionError, match="Max retries exceeded"):
        robust_session(retries=2, backoff_factor=0).get(refused_url)


def test_retries_of_a_guard_session_are_not_warnings_but_a_plain_sessions_still_are(
    refused_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(requests.ConnectionError):
            robust_session(retries=2, backoff_factor=0).get(refused_url)
        guard_warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        moved = [r for r in caplog.records if r.name == "flask_guard.outbound.http_retry"]
        caplog.clear()
        plain = requests.Session()
        plain.mount("http://", HTTPAdapter(max_retries=Retry(total=1, backoff_factor=0)))
        with pytest.raises(requests.ConnectionError):
            plain.get(refused_url)
    assert guard_warnings == []
    assert len(moved) == 2
    assert "Retrying" in moved[0].getMessage()
    assert [r.name for r in caplog.records if r.levelno == logging.WARNING] == [
        "urllib3.connectionpool"
    ]


def test_per_host_breaker_opens_then_makes_no_connection(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/rates").respond_with_data("down", status=500)
    session = robust_session(retries=0, breaker="per-host")
    url = httpserver.url_for("/rates")
    for _ in range(5):
        assert session.get(url).status_code == 500
    with pytest.raises(CircuitOpenError) as excinfo:
        session.get(url)
    assert len(httpserver.log) == 5
    adapter = session.get_adapter(url)
    assert isinstance(adapter, GuardedAdapter)
    assert excinfo.value.name == f"{httpserver.host}:{httpserver.port}"
    assert list(adapter.breakers) == [excinfo.value.name]


def test_given_breaker_counts_connection_failures(
    refused_url: str, httpserver: HTTPServer
) -> None:
    breaker = CircuitBreaker("payments", failure_threshold=2)
    session = robust_session(retries=0, breaker=breaker)
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            session.get(refused_url)
    with pytest.raises(CircuitOpenError):
        session.get(httpserver.url_for("/anything"))
    assert httpserver.log == []


def test_4xx_do_not_count_against_the_breaker(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/orders/9").respond_with_data("no such order", status=404)
    breaker = CircuitBreaker("orders", failure_threshold=1)
    session = robust_session(retries=0, breaker=breaker)
    for _ in range(3):
        assert session.get(httpserver.url_for("/orders/9")).status_code == 404
    assert breaker.stats.total_failures == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries must be a whole number of at least 0, got -1"),
        ({"timeout": 0}, "timeout must be seconds above 0"),
        ({"timeout": (1, 2, 3)}, "timeout must be seconds above 0"),
        ({"pool_maxsize": 0}, "pool_maxsize must be a whole number of at least 1"),
        ({"max_retry_after": -1}, "max_retry_after must be a number of seconds, 0 or more"),
    ],
)
def test_invalid_session_options_are_explained(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        robust_session(**options)  # type: ignore[arg-type]


def guarded(**config: object) -> tuple[Flask, FlaskGuard]:
    app = make_app(**config)
    return app, FlaskGuard(app)


def test_guard_session_sends_the_request_id_inside_requests(httpserver: HTTPServer) -> None:
    seen: list[str | None] = []

    def record(request: Request) -> Response:
        seen.append(request.headers.get("X-Request-ID"))
        return Response("ok")

    httpserver.expect_request("/audit").respond_with_handler(record)
    app, guard = guarded()

    @app.get("/orders")
    def orders() -> str:
        return guard.session.get(httpserver.url_for("/audit")).text

    response = app.test_client().get("/orders", headers={"X-Request-ID": "trace-7"})
    assert response.text == "ok"
    guard.session.get(httpserver.url_for("/audit"))  # outside a request: no id to send
    assert seen == ["trace-7", None]


def test_guard_session_keeps_no_cookies(httpserver: HTTPServer) -> None:
    cookies: list[str | None] = []

    def set_cookie(request: Request) -> Response:
        cookies.append(request.headers.get("Cookie"))
        response = Response("ok")
        response.set_cookie("session", "user-a")
        return response

    httpserver.expect_request("/login").respond_with_handler(set_cookie)
    _, guard = guarded()
    guard.session.get(httpserver.url_for("/login"))
    guard.session.get(httpserver.url_for("/login"))
    assert cookies == [None, None]


def test_guard_session_is_built_from_config() -> None:
    _, guard = guarded(
        GUARD_HTTP_TIMEOUT=[1, 2], GUARD_HTTP_RETRIES=5, GUARD_HTTP_MAX_RETRY_AFTER=3.0
    )
    adapter = guard.session.get_adapter("https://example.test")
    assert isinstance(adapter, GuardedAdapter)
    assert adapter.timeout == (1, 2)
    assert adapter.max_retries.total == 5
    assert adapter.max_retries.max_retry_after == 3.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("GUARD_HTTP_RETRIES", -1, "a whole number of at least 0"),
        ("GUARD_HTTP_TIMEOUT", "3", "seconds above 0, or a (connect, read) pair of them"),
        ("GUARD_HTTP_POOL_MAXSIZE", 0, "a whole number of at least 1"),
        ("GUARD_HTTP_BACKOFF_FACTOR", -0.5, "a number of seconds, 0 or more"),
    ],
)
def test_invalid_http_config_fails_at_init_app(key: str, value: object, allowed: str) -> None:
    with pytest.raises(
        GuardConfigError,
        match="^" + key + " must be " + allowed.replace("(", r"\(").replace(")", r"\)"),
    ):
        guarded(**{key: value})


def test_guard_session_needs_an_app() -> None:
    with pytest.raises(RuntimeError, match="call init_app first"):
        FlaskGuard().session  # noqa: B018
    guard = FlaskGuard()
    apps = [make_app(), Flask("second")]  # alive: the guard holds its apps' sessions weakly
    for app in apps:
        guard.init_app(app)
    with pytest.raises(RuntimeError, match="several apps"):
        guard.session  # noqa: B018


def test_a_cross_host_redirect_drops_every_secret_looking_header(
    httpserver: HTTPServer,
) -> None:
    seen: list[dict[str, str]] = []

    def record(request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response("landed")

    secrets = {
        "X-Api-Key": "k-1",
        "Authorization": "Bearer t-2",
        "Cookie": "sid=s-3",
        "X-Auth-Token": "t-4",
        "X-Client-Secret": "s-5",
        "X-Csrf-Token": "c-6",
        "X-Session-Id": "s-7",
        "X-Signature": "g-8",
        "X-Jwt": "j-9",
        "X-Credential": "c-10",
        "X-Hmac": "h-11",
        "X-Sig": "g-12",
        "X-Otp": "o-13",
        "X-Client-Cert": "c-14",
        "X-Passcode": "p-15",
    }
    with serving(Request.application(record)) as other_host:
        httpserver.expect_request("/start").respond_with_data(
            "", status=302, headers={"Location": f"{other_host}/landing"}
        )
        session = robust_session()
        response = session.get(
            httpserver.url_for("/start"), headers={**secrets, "X-Tenant": "acme"}
        )
    assert response.text == "landed"
    (landed,) = seen
    assert landed["X-Tenant"] == "acme"
    leaked = {name for name in secrets if name in landed}
    assert leaked == set()


def test_a_same_host_redirect_keeps_the_api_key(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/start").respond_with_data(
        "", status=302, headers={"Location": "/landing"}
    )
    keys: list[str | None] = []

    def record(request: Request) -> Response:
        keys.append(request.headers.get("X-Api-Key"))
        return Response("landed")

    httpserver.expect_request("/landing").respond_with_handler(record)
    robust_session().get(httpserver.url_for("/start"), headers={"X-Api-Key": "k-1"})
    assert keys == ["k-1"]


def test_per_host_breakers_are_bounded_least_recently_used_first(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ok").respond_with_data("ok")
    session = robust_session(retries=0, breaker="per-host")
    url = httpserver.url_for("/ok")
    assert session.get(url).text == "ok"
    adapter = session.get_adapter(url)
    assert isinstance(adapter, GuardedAdapter)
    for index in range(5000):
        adapter.breakers.get_or_make(f"host-{index}.example:443")
        if index % 500 == 0:
            assert session.get(url).text == "ok"  # used often: stays
    assert len(adapter.breakers) == MAX_HOSTS
    assert f"{httpserver.host}:{httpserver.port}" in adapter.breakers
    assert "host-4999.example:443" in adapter.breakers
    assert "host-0.example:443" not in adapter.breakers


def test_session_retries_draw_from_the_retry_budget(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/busy").respond_with_data("busy", status=503)
    budget = RetryBudget(ratio=0.01, min_retries_per_second=0, max_tokens=2)
    session = robust_session(retries=3, backoff_factor=0, retry_budget=budget)
    for _ in range(5):
        assert session.get(httpserver.url_for("/busy")).status_code == 503
    # 5 first attempts and the 2 retries the budget held; 20 hits without a budget.
    assert len(httpserver.log) == 7


def test_without_a_budget_every_retry_is_made(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/busy").respond_with_data("busy", status=503)
    session = robust_session(retries=3, backoff_factor=0, retry_budget=None)
    for _ in range(5):
        session.get(httpserver.url_for("/busy"))
    assert len(httpserver.log) == 20


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_max_response_bytes_is_refused(httpserver: HTTPServer, chunked: bool) -> None:
    def big(request: Request) -> Response:
        body = (b"x" * 1000 for _ in range(3)) if chunked else b"x" * 3000
        return Response(body)

    httpserver.expect_request("/big").respond_with_handler(big)
    httpserver.expect_request("/small").respond_with_data("x" * 1000)
    session = robust_session(max_response_bytes=2000)
    with pytest.raises(ResponseTooLarge, match="max_response_bytes=2000"):
        session.get(httpserver.url_for("/big"))
    assert session.get(httpserver.url_for("/small")).text == "x" * 1000


def test_guard_session_settings_are_a_frozen_object() -> None:
    app, _ = guarded(GUARD_HTTP_TOTAL_TIMEOUT=5, GUARD_HTTP_MAX_CONCURRENT=4)
    settings = app.extensions["guard.config"].http
    assert isinstance(settings, SessionSettings)
    assert (settings.total_timeout, settings.max_concurrent) == (5, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.retries = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"total_timeout": 0}, "total_timeout must be a number of seconds above 0, got 0"),
        ({"max_concurrent": 0}, "max_concurrent must be a whole number of at least 1, or None"),
        ({"max_response_bytes": -1}, "max_response_bytes must be a whole number of at least 1"),
    ],
)
def test_invalid_budget_options_are_explained(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        robust_session(**options)  # type: ignore[arg-type]


def test_pools_behind_an_http_proxy_obey_the_deadline_too() -> None:
    adapter = robust_session().get_adapter("http://example.test")
    assert isinstance(adapter, GuardedAdapter)
    manager = adapter.proxy_manager_for("http://127.0.0.1:3128")
    assert manager.pool_classes_by_scheme == POOL_CLASSES
