"""Every error a guarded app can produce is a JSON envelope (or a problem document)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from http import HTTPStatus
from typing import NoReturn

import pytest
from flask import Blueprint, Flask, Response, abort, request
from flask.testing import FlaskClient
from werkzeug.exceptions import (
    HTTPException,
    ServiceUnavailable,
    TooManyRequests,
    default_exceptions,
)

from flask_guard import ApiError, CircuitOpenError, FlaskGuard, signals

from ..conftest import HEX32, error_of, make_app

SECRET = "db password is hunter2"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    @app.get("/api-error")
    def api_error() -> NoReturn:
        raise ApiError.validation_error([{"field": "email", "message": "Not an address"}])

    @app.get("/abort/<int:status>")
    def abort_with(status: int) -> NoReturn:
        abort(status)

    @app.get("/crash")
    def crash() -> NoReturn:
        raise RuntimeError(SECRET)

    @app.post("/echo")
    def echo() -> dict[str, object]:
        body: dict[str, object] = request.get_json()
        return body

    return app.test_client()


def test_api_error_renders_the_envelope(client: FlaskClient) -> None:
    response = client.get("/api-error")
    assert response.status_code == 422
    assert error_of(response) == {
        "id": response.headers["X-Error-ID"],
        "code": "VALIDATION_ERROR",
        "message": "The request is invalid.",
        "status": 422,
        "request_id": response.headers["X-Request-ID"],
        "details": [{"field": "email", "message": "Not an address"}],
    }


def test_api_error_headers_reach_the_response(app: Flask, client: FlaskClient) -> None:
    @app.get("/busy")
    def busy() -> NoReturn:
        raise ApiError.too_many_requests(retry_after=7)

    response = client.get("/busy")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert "details" not in error_of(response)


@pytest.mark.parametrize("status", sorted(default_exceptions))
def test_every_werkzeug_http_exception_becomes_an_envelope(
    client: FlaskClient, status: int
) -> None:
    response = client.get(f"/abort/{status}")
    assert response.status_code == status
    error = error_of(response)
    assert error["message"] == default_exceptions[status].description
    assert str(error["code"]).replace("_", "").isalnum()
    assert str(error["code"]).isupper()


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (404, "NOT_FOUND"),
        (405, "METHOD_NOT_ALLOWED"),
        (413, "REQUEST_ENTITY_TOO_LARGE"),
        (418, "IM_A_TEAPOT"),
        (500, "INTERNAL_SERVER_ERROR"),
        (503, "SERVICE_UNAVAILABLE"),
    ],
)
def test_http_exception_codes_are_named_after_the_status(
    client: FlaskClient, status: int, code: str
) -> None:
    assert error_of(client.get(f"/abort/{status}"))["code"] == code


def test_unknown_route_is_a_404_envelope(client: FlaskClient) -> None:
    response = client.get("/no/such/route")
    assert response.status_code == 404
    assert error_of(response)["code"] == "NOT_FOUND"


def test_405_keeps_the_allow_header(client: FlaskClient) -> None:
    response = client.delete("/api-error")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    error_of(response)


@pytest.mark.parametrize("exception", [TooManyRequests, ServiceUnavailable])
def test_retry_after_of_werkzeug_exceptions_is_kept(
    app: Flask, client: FlaskClient, exception: type[HTTPException]
) -> None:
    @app.get("/later")
    def later() -> NoReturn:
        raise exception(retry_after=30)  # type: ignore[call-arg]

    response = client.get("/later")
    assert response.headers["Retry-After"] == "30"
    error_of(response)


def test_request_larger_than_max_content_length_is_a_413_envelope(
    app: Flask, client: FlaskClient
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 10
    response = client.post("/echo", json={"text": "x" * 100})
    assert response.status_code == 413
    error_of(response)


@pytest.mark.parametrize("body", [b"{bad", b'{"a": ', b"\xff\xfe", b""])
def test_malformed_json_body_is_a_400_envelope(client: FlaskClient, body: bytes) -> None:
    response = client.post("/echo", data=body, content_type="application/json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "BAD_REQUEST"
    assert error["message"] == "The request body is not valid JSON."


def test_application_400_raised_while_handling_a_value_error_keeps_its_message(
    app: Flask, client: FlaskClient
) -> None:
    @app.get("/page")
    def page() -> NoReturn:
        try:
            int("x")
        except ValueError:
            abort(400, description="page must be a whole number")
        raise AssertionError("unreachable")

    assert error_of(client.get("/page"))["message"] == "page must be a whole number"


def test_json_body_with_another_content_type_is_a_415_envelope(client: FlaskClient) -> None:
    response = client.post("/echo", data=b"{}", content_type="text/plain")
    assert response.status_code == 415
    assert error_of(response)["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_unhandled_exception_is_a_generic_500(client: FlaskClient) -> None:
    response = client.get("/crash")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "INTERNAL_SERVER_ERROR"
    text = response.get_data(as_text=True)
    for leak in (SECRET, "RuntimeError", "Traceback", "crash"):
        assert leak not in text


def test_500_is_logged_once_by_flask_with_ids_and_traceback(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = client.get("/crash", headers={"X-Request-ID": "req-1"})
    assert [r.name for r in caplog.records] == [app.logger.name]
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    message = record.getMessage()
    assert message == (
        f"Exception on /crash [GET] (error id {response.headers['X-Error-ID']}, request id req-1)"
    )
    assert record.exc_info is not None
    assert record.exc_info[1] is not None
    assert str(record.exc_info[1]) == SECRET
    assert (record.__dict__["error_id"], record.__dict__["request_id"]) == (
        response.headers["X-Error-ID"],
        "req-1",
    )


def test_4xx_is_logged_at_info_without_traceback(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="flask_guard"):
        response = client.get("/api-error")
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    assert response.headers["X-Error-ID"] in record.getMessage()
    assert "GET /api-error answered 422 VALIDATION_ERROR" in record.getMessage()


def test_unmatched_path_is_logged_escaped(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="flask_guard"):
        client.get("/a%0Aforged line")
    (record,) = caplog.records
    assert "\n" not in record.getMessage()
    assert "/a\\nforged line" in record.getMessage()


def test_propagation_reraises_unhandled_exceptions_but_renders_client_errors() -> None:
    app = make_app(PROPAGATE_EXCEPTIONS=None, TESTING=True)
    FlaskGuard(app)

    @app.get("/crash")
    def crash() -> NoReturn:
        raise RuntimeError(SECRET)

    @app.get("/missing")
    def missing() -> NoReturn:
        raise ApiError.not_found("Order")

    @app.get("/tripped")
    def tripped() -> NoReturn:
        raise CircuitOpenError("payments", 12.0)

    client = app.test_client()
    with pytest.raises(RuntimeError, match=SECRET):
        client.get("/crash")
    assert error_of(client.get("/missing"))["message"] == "Order not found"
    assert client.get("/nowhere").status_code == 404
    tripped_response = client.get("/tripped")  # an expected failure, not a bug: rendered
    assert (tripped_response.status_code, tripped_response.headers["Retry-After"]) == (503, "12")


def test_error_while_rendering_yields_a_minimal_json_500(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/unserializable")
    def unserializable() -> NoReturn:
        raise ApiError.bad_request(details=[{"value": object()}])

    response = client.get("/unserializable")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "INTERNAL_SERVER_ERROR"
    assert "Rendering the response" in caplog.text


def test_blueprint_handlers_win_over_the_guard(app: Flask) -> None:
    shop = Blueprint("shop", __name__)

    @shop.errorhandler(KeyError)
    def key_error(error: KeyError) -> tuple[str, int]:
        return "handled by the blueprint", 409

    @shop.get("/item")
    def item() -> NoReturn:
        raise KeyError("sku")

    @app.get("/outside")
    def outside() -> NoReturn:
        raise KeyError("sku")

    app.register_blueprint(shop, url_prefix="/shop")
    client = app.test_client()
    inside = client.get("/shop/item")
    assert (inside.status_code, inside.get_data(as_text=True)) == (409, "handled by the blueprint")
    assert "X-Request-ID" in inside.headers
    assert error_of(client.get("/outside"))["status"] == 500


def test_app_handler_for_a_status_code_wins_over_the_guard(app: Flask) -> None:
    @app.errorhandler(404)
    def not_found(error: HTTPException) -> tuple[str, int]:
        return "custom 404", 404

    response = app.test_client().get("/nothing")
    assert response.get_data(as_text=True) == "custom 404"


def test_http_exception_carrying_its_own_response_is_left_alone(
    app: Flask, client: FlaskClient
) -> None:
    @app.get("/teapot")
    def teapot() -> NoReturn:
        abort(Response("short and stout", status=418))

    response = client.get("/teapot")
    assert (response.status_code, response.get_data(as_text=True)) == (418, "short and stout")


def test_redirects_stay_redirects(app: Flask) -> None:
    @app.get("/folder/")
    def folder() -> str:
        return "ok"

    response = app.test_client().get("/folder")
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/folder/")


def test_abort_in_earlier_before_request_still_has_request_id() -> None:
    app = make_app()

    @app.before_request
    def require_token() -> None:
        abort(401)

    FlaskGuard(app)
    response = app.test_client().get("/anything", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 401
    assert error_of(response)["request_id"] == "abc-123"


def test_async_views_get_envelopes(app: Flask, client: FlaskClient) -> None:
    @app.get("/async/missing")
    async def async_missing() -> NoReturn:
        raise ApiError.not_found("Order")

    @app.get("/async/crash")
    async def async_crash() -> NoReturn:
        raise RuntimeError(SECRET)

    @app.get("/async/ok")
    async def async_ok() -> dict[str, bool]:
        return {"ok": True}

    assert error_of(client.get("/async/missing"))["status"] == 404
    crashed = client.get("/async/crash")
    assert error_of(crashed)["status"] == 500
    assert SECRET not in crashed.get_data(as_text=True)
    ok = client.get("/async/ok", headers={"X-Request-ID": "async-1"})
    assert ok.headers["X-Request-ID"] == "async-1"


@pytest.fixture
def received() -> Iterator[list[dict[str, object]]]:
    calls: list[dict[str, object]] = []

    def receiver(sender: Flask, **kwargs: object) -> None:
        calls.append({"sender": sender, **kwargs})

    signals.error_handled.connect(receiver)
    yield calls
    signals.error_handled.disconnect(receiver)


def test_error_handled_signal_carries_error_id_and_status(
    app: Flask, client: FlaskClient, received: list[dict[str, object]]
) -> None:
    response = client.get("/api-error")
    (call,) = received
    assert call["sender"] is app
    assert call["error_id"] == response.headers["X-Error-ID"]
    assert call["status"] == 422
    assert isinstance(call["error"], ApiError)


def test_receiver_that_raises_changes_nothing(
    client: FlaskClient, received: list[dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(sender: Flask, **kwargs: object) -> None:
        raise RuntimeError("receiver bug")

    signals.error_handled.connect(broken)
    try:
        response = client.get("/api-error")
    finally:
        signals.error_handled.disconnect(broken)
    assert response.status_code == 422
    error_of(response)
    assert "receiver of the error-handled signal raised" in caplog.text
    assert len(received) == 1


def test_problem_format_renders_rfc_9457() -> None:
    app = make_app(GUARD_ERROR_FORMAT="problem")
    FlaskGuard(app)

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> NoReturn:
        raise ApiError.validation_error([{"field": "id"}])

    response = app.test_client().get("/orders/7?token=secret")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem == {
        "type": "about:blank",
        "title": HTTPStatus(422).phrase,
        "status": 422,
        "detail": "The request is invalid.",
        "instance": "/orders/7",
        "code": "VALIDATION_ERROR",
        "error_id": response.headers["X-Error-ID"],
        "request_id": response.headers["X-Request-ID"],
        "details": [{"field": "id"}],
    }
    assert HEX32.fullmatch(problem["error_id"])


def test_problem_format_for_405_and_500() -> None:
    app = make_app()
    FlaskGuard(app, error_format="problem")

    @app.get("/crash")
    def crash() -> NoReturn:
        raise RuntimeError(SECRET)

    client = app.test_client()
    not_allowed = client.post("/crash")
    assert not_allowed.mimetype == "application/problem+json"
    assert not_allowed.headers["Allow"]
    crashed = client.get("/crash")
    assert crashed.get_json()["title"] == "Internal Server Error"
    assert SECRET not in crashed.get_data(as_text=True)


def test_successful_responses_are_untouched(app: Flask) -> None:
    @app.get("/ok")
    def ok() -> dict[str, bool]:
        return {"ok": True}

    response = app.test_client().get("/ok")
    assert response.get_json() == {"ok": True}
    assert "X-Error-ID" not in response.headers
    assert HEX32.fullmatch(response.headers["X-Request-ID"])
