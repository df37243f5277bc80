"""What strangers see: crafted input is a 4xx that trips no breaker, and nothing internal
shows without the operator's token."""

from __future__ import annotations

import importlib.util
import socket
from typing import Any, NoReturn

import pytest
import requests
from flask import Flask, request, url_for
from flask.json.provider import DefaultJSONProvider
from pytest_httpserver import HTTPServer
from werkzeug.exceptions import HTTPException

from flask_guard import CircuitOpenError, FlaskGuard, GuardConfigError, UpstreamServerError

from ..conftest import error_of, make_app, serving

TOKEN = "operator-secret-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
DEEP_JSON = "[" * 3000 + "]" * 3000  # 6 KB
TOO_DEEP_OBJECT = '{"a":' * 3000 + "1" + "}" * 3000

CRAFTED_BODIES: list[tuple[str, bytes | str, str]] = [
    ("deep array", DEEP_JSON, "application/json"),
    ("deep object", TOO_DEEP_OBJECT, "application/json"),
    ("invalid UTF-8", b'{"name": "\xff\xfe\xfa"}', "application/json"),
    ("UTF-16 garbage", b"\xff\xfe\x00\xd8\x00", "application/json"),
    ("truncated", '{"a": [1, 2', "application/json"),
    ("not JSON", "hello", "application/json"),
    ("concatenated", "1e999999" * 100, "application/json"),
    ("huge integer", "9" * 5000, "application/json"),
]


def breaker_app(**config: object) -> tuple[Flask, FlaskGuard, list[BaseException]]:
    """An app whose breaker-guarded view parses the body itself, recording what it saw."""
    app = make_app(**config)
    guard = FlaskGuard(app)
    seen: list[BaseException] = []

    @app.post("/orders")
    @guard.breaker("orders", failure_threshold=1, recovery_timeout=60)
    def create_order() -> dict[str, Any]:
        try:
            body = request.get_json()
        except BaseException as error:
            seen.append(error)
            raise
        return {"ok": isinstance(body, dict | list)}

    return app, guard, seen


@pytest.mark.parametrize(("shape", "body", "content_type"), CRAFTED_BODIES)
def test_crafted_json_bodies_are_400_and_never_open_a_breaker(
    shape: str, body: bytes | str, content_type: str
) -> None:
    app, guard, seen = breaker_app()
    client = app.test_client()
    for _ in range(5):
        response = client.post("/orders", data=body, content_type=content_type)
        error = error_of(response)
        assert (error["status"], error["code"]) == (400, "BAD_REQUEST"), shape
    assert all(isinstance(e, HTTPException) and e.code == 400 for e in seen), seen
    assert guard.breakers["orders"].state.value == "closed"
    assert client.post("/orders", json={"fine": True}).status_code == 200


def test_deep_json_is_400_when_the_view_parses_it_without_a_breaker() -> None:
    app = make_app()
    FlaskGuard(app)

    @app.post("/echo")
    def echo() -> Any:
        return request.get_json()

    error = error_of(
        app.test_client().post("/echo", data=DEEP_JSON, content_type="application/json")
    )
    assert (error["code"], error["message"]) == (
        "BAD_REQUEST",
        "The request body is not valid JSON.",
    )


def test_silent_get_json_returns_none_for_deep_json() -> None:
    app = make_app()
    FlaskGuard(app)

    @app.post("/quiet")
    def quiet() -> dict[str, object]:
        return {"body": request.get_json(silent=True)}

    response = app.test_client().post("/quiet", data=DEEP_JSON, content_type="application/json")
    assert response.get_json() == {"body": None}


def test_deep_json_is_400_with_a_custom_json_provider_that_stays_the_apps() -> None:
    class OwnProvider(DefaultJSONProvider):
        calls = 0

        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            OwnProvider.calls += 1
            return super().loads(s, **kwargs)

    app = make_app()
    app.json = OwnProvider(app)
    FlaskGuard(app)

    @app.post("/echo")
    def echo() -> Any:
        return request.get_json()

    client = app.test_client()
    assert isinstance(app.json, OwnProvider)
    assert client.post("/echo", json=[1]).get_json() == [1]
    assert (
        error_of(client.post("/echo", data=DEEP_JSON, content_type="application/json"))["status"]
        == 400
    )
    assert OwnProvider.calls >= 2  # the test client decodes responses with it too


def test_body_over_max_content_length_is_413_and_never_opens_a_breaker() -> None:
    app, guard, _ = breaker_app(MAX_CONTENT_LENGTH=1024)
    client = app.test_client()
    for _ in range(3):
        response = client.post(
            "/orders", data="[" + "1," * 2000 + "1]", content_type="application/json"
        )
        assert error_of(response)["code"] == "REQUEST_ENTITY_TOO_LARGE"
        assert response.status_code == 413
    assert guard.breakers["orders"].state.value == "closed"


def test_invalid_utf8_form_query_and_path_are_never_a_500() -> None:
    app = make_app()
    FlaskGuard(app)

    @app.post("/form/<name>")
    def form(name: str) -> dict[str, object]:
        return {"name": name, "form": dict(request.form), "args": dict(request.args)}

    client = app.test_client()
    response = client.post(
        "/form/%ff%fe?q=%ff",
        data=b"a=\xff\xfe&b=%ff",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code < 500


def test_error_bodies_name_no_breaker_by_default() -> None:
    app = make_app()
    guard = FlaskGuard(app)

    @app.get("/ledger")
    @guard.breaker("ledger-db.prod.internal:5432")
    def ledger() -> NoReturn:
        raise CircuitOpenError("ledger-db.prod.internal:5432", 30)

    response = app.test_client().get("/ledger")
    error = error_of(response)
    assert error["status"] == 503
    assert "details" not in error
    assert "ledger-db" not in response.get_data(as_text=True)


def test_error_bodies_name_no_upstream_by_default(refused_url: str) -> None:
    app = make_app(GUARD_HTTP_RETRIES=0)
    guard = FlaskGuard(app)

    @app.get("/pay")
    def pay() -> NoReturn:
        guard.session.get(refused_url + "/charge?card=4111")
        raise AssertionError("unreachable")

    response = app.test_client().get("/pay")
    assert error_of(response)["code"] == "UPSTREAM_UNAVAILABLE"
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_an_upstream_5xx_escaping_a_view_names_no_upstream_by_default(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/charge").respond_with_data("down", status=503)
    app = make_app()
    FlaskGuard(app)

    @app.get("/pay")
    def pay() -> NoReturn:
        raise UpstreamServerError(requests.get(httpserver.url_for("/charge"), timeout=5))

    response = app.test_client().get("/pay")
    assert error_of(response)["code"] == "BAD_GATEWAY"
    assert "details" not in error_of(response)
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_exposing_upstream_names_is_an_opt_in(refused_url: str) -> None:
    app = make_app(GUARD_HTTP_RETRIES=0, GUARD_EXPOSE_UPSTREAM_NAMES=True)
    guard = FlaskGuard(app)

    @app.get("/pay")
    def pay() -> NoReturn:
        guard.session.get(refused_url)
        raise AssertionError("unreachable")

    error = error_of(app.test_client().get("/pay"))
    assert error["details"] == [{"upstream": refused_url.removeprefix("http://")}]


def test_upstream_names_stay_in_the_log_line(
    refused_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(GUARD_HTTP_RETRIES=0)
    guard = FlaskGuard(app)

    @app.get("/pay")
    def pay() -> NoReturn:
        guard.session.get(refused_url)
        raise AssertionError("unreachable")

    app.test_client().get("/pay")
    port = refused_url.rsplit(":", 1)[1]
    assert f"host='127.0.0.1', port={port}" in caplog.text


def guarded_health_app(**config: object) -> tuple[Flask, FlaskGuard]:
    app = make_app(GUARD_HEALTH_CRITICAL_BREAKERS=["payments"], **config)
    guard = FlaskGuard(app)

    @app.get("/pay")
    @guard.breaker("payments.internal", failure_threshold=1, recovery_timeout=60)
    def pay() -> NoReturn:
        raise ConnectionError("down")

    return app, guard


def test_public_health_answers_status_only() -> None:
    app, _ = guarded_health_app(GUARD_HEALTH_TOKEN=TOKEN)
    client = app.test_client()
    client.get("/pay")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = client.get("/health", headers=headers)
        assert response.status_code == 200
        assert response.get_json() == {"status": "degraded"}
    detailed = client.get("/health", headers=BEARER).get_json()
    assert detailed["breakers"]["payments.internal"]["state"] == "open"


def test_health_without_a_token_configured_shows_details_to_nobody() -> None:
    app, _ = guarded_health_app()
    response = app.test_client().get("/health", headers={"Authorization": "Bearer "})
    assert response.get_json() == {"status": "ok"}


def test_critical_open_breaker_is_a_public_503_unavailable() -> None:
    app = make_app(GUARD_HEALTH_CRITICAL_BREAKERS=["payments"], GUARD_HEALTH_TOKEN=TOKEN)
    guard = FlaskGuard(app)

    @app.get("/pay")
    @guard.breaker("payments", failure_threshold=1, recovery_timeout=60)
    def pay() -> NoReturn:
        raise ConnectionError("down")

    client = app.test_client()
    client.get("/pay")
    response = client.get("/health")
    assert (response.status_code, response.get_json()) == (503, {"status": "unavailable"})
    detailed = client.get("/health", headers=BEARER).get_json()
    assert detailed["critical_open"] == ["payments"]
    assert detailed["storage"] == {"backend": "memory", "healthy": True}


@pytest.mark.skipif(importlib.util.find_spec("prometheus_client") is None, reason="no prometheus")
def test_metrics_require_the_token_when_one_is_set() -> None:
    app = make_app(GUARD_METRICS_PATH="/metrics", GUARD_HEALTH_TOKEN=TOKEN)
    FlaskGuard(app)
    client = app.test_client()
    refused = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert error_of(refused)["status"] == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/metrics", headers=BEARER).status_code == 200


@pytest.mark.parametrize("value", ["short", 12345, "x" * 15, "secret\nwith-newline-1234"])
def test_health_token_must_be_a_long_printable_secret(value: object) -> None:
    with pytest.raises(GuardConfigError, match=r"^GUARD_HEALTH_TOKEN must be") as raised:
        FlaskGuard(make_app(GUARD_HEALTH_TOKEN=value))
    if isinstance(value, str):
        assert value not in str(raised.value)


def test_an_app_route_defined_before_the_guard_wins() -> None:
    app = make_app()

    @app.get("/health")
    def own_health() -> dict[str, str]:
        return {"mine": "yes"}

    FlaskGuard(app)
    assert app.test_client().get("/health").get_json() == {"mine": "yes"}


def test_an_app_route_defined_after_the_guard_wins() -> None:
    app = make_app(GUARD_METRICS_PATH="/metrics")
    FlaskGuard(app)

    @app.get("/health")
    def own_health() -> dict[str, str]:
        return {"mine": "yes"}

    @app.route("/metrics", methods=["GET", "POST"])
    def own_metrics() -> dict[str, str]:
        return {"metrics": "mine"}

    client = app.test_client()
    assert client.get("/health").get_json() == {"mine": "yes"}
    assert client.get("/metrics").get_json() == {"metrics": "mine"}


def test_an_app_catch_all_route_wins_over_the_guards() -> None:
    app = make_app()
    FlaskGuard(app)

    @app.get("/<path:page>")
    def spa(page: str) -> dict[str, str]:
        return {"page": page}

    assert app.test_client().get("/health").get_json() == {"page": "health"}


def test_guard_routes_answer_where_the_app_has_none() -> None:
    app = make_app(GUARD_HEALTH_PATH="/ops/health-check")
    FlaskGuard(app)

    @app.get("/ops/<name>")
    def ops(name: str) -> dict[str, str]:
        return {"ops": name}

    client = app.test_client()
    assert client.get("/ops/health-check").get_json() == {"ops": "health-check"}
    assert client.get("/ops/other").get_json() == {"ops": "other"}


def test_guard_health_answers_at_a_nested_path() -> None:
    app = make_app(GUARD_HEALTH_PATH="/ops/health-check")
    FlaskGuard(app)
    client = app.test_client()
    assert client.get("/ops/health-check").get_json() == {"status": "ok"}
    assert client.head("/ops/health-check").status_code == 200
    assert client.get("/ops/health-checks").status_code == 404
    with app.test_request_context():
        assert url_for("flask_guard_health.health") == "/ops/health-check"


@pytest.mark.skipif(importlib.util.find_spec("apiflask") is None, reason="apiflask not installed")
def test_guard_routes_stay_out_of_apiflask_openapi() -> None:
    from apiflask import APIFlask

    app = APIFlask(__name__)
    app.config.update(GUARD_METRICS_PATH="/metrics")
    FlaskGuard(app)

    @app.get("/pets")
    def pets() -> dict[str, list[str]]:
        return {"pets": []}

    paths = app.test_client().get("/openapi.json").get_json()["paths"]
    assert "/pets" in paths
    assert not [path for path in paths if "health" in path or "metrics" in path], paths
    assert app.test_client().get("/health").get_json() == {"status": "ok"}


def test_crafted_requests_never_reach_a_dependency_failure(refused_url: str) -> None:
    """Hostile headers and bodies against a view that would call an upstream."""
    app, guard, _ = breaker_app()
    client = app.test_client()
    hostile: list[dict[str, Any]] = [
        {"headers": {"Content-Type": "application/json; charset=utf-7"}, "data": "[1]"},
        {"headers": {"Content-Type": "application/json; charset=nope"}, "data": "[1]"},
        {"headers": {"Content-Length": "99999999"}, "data": "[1]"},
        {"headers": {"Content-Type": "application/json"}, "data": b"\x00" * 10},
        {"headers": {"X-Request-ID": "<script>" * 40}, "json": [1]},
    ]
    for attempt in hostile:
        response = client.post("/orders", **attempt)
        assert response.status_code < 500, attempt
    assert guard.breakers["orders"].state.value == "closed"


@pytest.mark.skipif(importlib.util.find_spec("apifairy") is None, reason="apifairy not installed")
def test_guard_routes_stay_out_of_apifairy_openapi() -> None:
    from apifairy import APIFairy, response  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from marshmallow import Schema, fields

    class Pet(Schema):
        name = fields.String()

    app = make_app(GUARD_METRICS_PATH="/metrics")
    APIFairy(app)
    FlaskGuard(app)

    @app.get("/pets")
    @response(Pet)  # type: ignore[untyped-decorator,unused-ignore]
    def pets() -> dict[str, str]:
        return {"name": "rex"}

    paths = app.test_client().get("/apispec.json").get_json()["paths"]
    assert list(paths) == ["/pets"]


@pytest.mark.skipif(
    importlib.util.find_spec("flask_smorest") is None, reason="flask-smorest not installed"
)
def test_guard_routes_stay_out_of_flask_smorest_openapi() -> None:
    from flask_smorest import Api, Blueprint  # type: ignore[import-untyped,import-not-found,unused-ignore]

    app = make_app(
        GUARD_METRICS_PATH="/metrics",
        API_TITLE="pets",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
    )
    api = Api(app)
    FlaskGuard(app)
    pets = Blueprint("pets", __name__)

    @pets.route("/pets")  # type: ignore[untyped-decorator,unused-ignore]
    def list_pets() -> dict[str, list[str]]:
        return {"pets": []}

    api.register_blueprint(pets)
    paths = app.test_client().get("/openapi.json").get_json()["paths"]
    assert list(paths) == ["/pets"]


def _raw_post(url: str, body: bytes) -> bytes:
    """Send a chunked POST whose chunks are ``body`` as it is; return the status line."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /parse HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body
        )
        connection.shutdown(socket.SHUT_WR)  # a client abandoning its upload
        return connection.makefile("rb").readline()


@pytest.mark.parametrize(
    "body",
    [b"zz\r\n", b'5\r\n{"a"', b'ffff\r\n{"a": 1', b"3\r\n[1]\r\n"],
    ids=["bad chunk size", "cut mid-chunk", "chunk longer than sent", "no last chunk"],
)
def test_a_chunked_body_the_server_cannot_read_is_400_and_opens_no_breaker(
    body: bytes,
) -> None:
    app = make_app()
    guard = FlaskGuard(app)

    @app.post("/parse")
    @guard.breaker("parser", failure_threshold=1)
    def parse() -> dict[str, str]:
        return {"type": type(request.get_json()).__name__}

    with serving(app) as url:
        statuses = [_raw_post(url, body) for _ in range(3)]
        valid = requests.post(
            url + "/parse",
            data=iter([b'{"a": 1}']),  # sent chunked
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
    assert all(status.startswith(b"HTTP/1.1 400") for status in statuses), statuses
    assert (valid.status_code, valid.json()) == (200, {"type": "dict"})
    assert guard.breakers["parser"].state.value == "closed"
