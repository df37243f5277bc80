"""Upstream failures that escape a view become envelopes naming the host, never the URL."""

from __future__ import annotations

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer

from flask_guard import FlaskGuard

from ..conftest import error_of, make_app


@pytest.fixture
def app() -> Flask:
    app = make_app(GUARD_HTTP_RETRIES=0, GUARD_HTTP_TIMEOUT=(1.0, 0.2))
    guard = FlaskGuard(app)

    @app.get("/proxy")
    def proxy() -> str:
        url = app.config["UPSTREAM_URL"]
        response = guard.session.get(url)
        response.raise_for_status()
        return response.text

    return app


def call_upstream(app: Flask, base_url: str) -> dict[str, object]:
    netloc = base_url.removeprefix("http://")
    app.config["UPSTREAM_URL"] = f"http://user:hunter2@{netloc}/secret/path?token=abc123"
    response = app.test_client().get("/proxy")
    text = response.get_data(as_text=True)
    for leak in ("hunter2", "abc123", "/secret/path", "user:"):
        assert leak not in text
    return error_of(response)


def test_connection_refused_is_a_503(app: Flask, refused_url: str) -> None:
    error = call_upstream(app, refused_url)
    assert (error["status"], error["code"]) == (503, "UPSTREAM_UNAVAILABLE")
    assert "details" not in error  # no internal host for strangers


def test_timeout_is_a_504(app: Flask, hanging_url: str) -> None:
    error = call_upstream(app, hanging_url)
    assert (error["status"], error["code"]) == (504, "UPSTREAM_TIMEOUT")
    assert "details" not in error


def test_upstream_5xx_raised_for_status_is_a_502(app: Flask, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/secret/path").respond_with_data("down", status=500)
    error = call_upstream(app, httpserver.url_for("/").rstrip("/"))
    assert (error["status"], error["code"]) == (502, "BAD_GATEWAY")
    assert "details" not in error


def test_upstream_4xx_raised_for_status_is_our_500(app: Flask, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/secret/path").respond_with_data("gone", status=410)
    error = call_upstream(app, httpserver.url_for("/").rstrip("/"))
    assert (error["status"], error["code"]) == (500, "INTERNAL_SERVER_ERROR")


def test_a_redirect_loop_upstream_is_a_502(app: Flask, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/secret/path").respond_with_data(
        "", status=302, headers={"Location": "/secret/path?token=abc123"}
    )
    error = call_upstream(app, httpserver.url_for("/").rstrip("/"))
    assert (error["status"], error["code"]) == (502, "BAD_GATEWAY")


def test_a_body_over_the_limit_is_a_502(httpserver: HTTPServer) -> None:
    app = make_app(GUARD_HTTP_MAX_RESPONSE_BYTES=10)
    guard = FlaskGuard(app)

    @app.get("/proxy")
    def proxy() -> str:
        return guard.session.get(httpserver.url_for("/huge")).text

    httpserver.expect_request("/huge").respond_with_data("x" * 100)
    error = error_of(app.test_client().get("/proxy"))
    assert (error["status"], error["code"]) == (502, "BAD_GATEWAY")
