"""FlaskGuard(app) added to an app that already works: the app's handlers, logging, signals,
pages, headers and memory behave as they did, and every error still gets its ids."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Iterator
from typing import NoReturn

import pytest
import requests
from flask import Blueprint, Flask, Response, abort, g, got_request_exception, stream_with_context
from flask.ctx import _AppCtxGlobals
from werkzeug.exceptions import HTTPException, InternalServerError

from flask_guard import ApiError, CircuitOpenError, FlaskGuard, GuardConfigError, signals

from ..conftest import HEX32, error_of, make_app, serving

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class LedgerError(Exception):
    pass


def crashing_app(**config: object) -> Flask:
    app = make_app(**config)

    @app.get("/crash")
    def crash() -> NoReturn:
        raise LedgerError("ledger offline")

    @app.get("/ok")
    def ok() -> dict[str, bool]:
        return {"ok": True}

    return app


def logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Return the records of the apps' loggers and the guard's (not of a Sentry transport
    an earlier test left retrying in the background)."""
    return [r for r in caplog.records if r.name.startswith(("flask_guard", "paths", "tests"))]


def assert_ids(response: object) -> str:
    headers = response.headers  # type: ignore[attr-defined]
    assert HEX32.fullmatch(headers["X-Error-ID"])
    assert len(headers.getlist("X-Request-ID")) == 1
    return str(headers["X-Error-ID"])


# The app's own handlers win -------------------------------------------------------------


def test_app_500_handler_answers_a_crash_and_the_response_gets_both_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = crashing_app()
    seen: list[BaseException | None] = []

    @app.errorhandler(500)
    def server_error(error: InternalServerError) -> tuple[str, int]:
        seen.append(error.original_exception)
        return "our own oops page", 500

    FlaskGuard(app)
    with caplog.at_level(logging.INFO):
        response = app.test_client().get("/crash", headers={"X-Request-ID": "req-7"})
    assert (response.status_code, response.get_data(as_text=True)) == (500, "our own oops page")
    assert isinstance(seen[0], LedgerError)
    error_id = assert_ids(response)
    (record,) = logged(caplog)  # Flask's own line, nothing from the guard on top
    assert record.name == app.logger.name
    assert record.levelno == logging.ERROR
    assert record.__dict__["error_id"] == error_id
    assert record.__dict__["request_id"] == "req-7"
    assert error_id in record.getMessage()


def test_app_500_handler_answers_an_upstream_failure_as_it_did_without_the_guard(
    refused_url: str,
) -> None:
    app = make_app()
    seen: list[BaseException | None] = []
    signalled: list[BaseException] = []

    @app.errorhandler(500)
    def server_error(error: InternalServerError) -> tuple[str, int]:
        seen.append(error.original_exception)  # e.g. where the app rolls back its session
        return "our own oops page", 500

    @app.get("/translate")
    def translate() -> str:
        return requests.get(refused_url, timeout=1).text

    def on_exception(sender: Flask, exception: BaseException) -> None:
        signalled.append(exception)

    FlaskGuard(app)
    with got_request_exception.connected_to(on_exception, app):
        response = app.test_client().get("/translate")
    assert (response.status_code, response.get_data(as_text=True)) == (500, "our own oops page")
    assert isinstance(seen[0], requests.ConnectionError)
    assert len(signalled) == 1
    assert_ids(response)


def test_guard_refusals_stay_the_guards_when_the_app_has_a_500_handler() -> None:
    app = make_app()

    @app.errorhandler(500)
    def server_error(error: InternalServerError) -> tuple[str, int]:
        return "our own oops page", 500

    @app.get("/pay")
    def pay() -> NoReturn:
        raise ApiError.service_unavailable(retry_after=3)

    FlaskGuard(app)
    response = app.test_client().get("/pay")
    assert response.status_code == 503
    assert error_of(response)["code"] == "SERVICE_UNAVAILABLE"


def test_app_500_handler_registered_after_the_guard_wins_too() -> None:
    app = crashing_app()
    FlaskGuard(app)

    @app.errorhandler(InternalServerError)
    def server_error(error: InternalServerError) -> tuple[dict[str, str], int]:
        return {"oops": "ours"}, 500

    response = app.test_client().get("/crash")
    assert response.get_json() == {"oops": "ours"}
    assert_ids(response)


def test_app_http_exception_handler_answers_404_405_and_crashes() -> None:
    app = crashing_app()
    FlaskGuard(app)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[dict[str, object], int]:
        return {"problem": error.name}, error.code or 500

    client = app.test_client()
    for path, method, status in [
        ("/nowhere", "get", 404),
        ("/ok", "post", 405),
        ("/crash", "get", 500),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == status
        assert set(response.get_json()) == {"problem"}
        assert_ids(response)


def test_app_class_handler_wins_and_its_response_is_logged_once_with_both_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = crashing_app()
    FlaskGuard(app)

    @app.errorhandler(LedgerError)
    def ledger_down(error: LedgerError) -> tuple[str, int]:
        return "ledger is down", 503

    with caplog.at_level(logging.INFO):
        response = app.test_client().get("/crash", headers={"X-Request-ID": "req-8"})
    assert response.get_data(as_text=True) == "ledger is down"
    error_id = assert_ids(response)
    (record,) = logged(caplog)
    assert record.levelno == logging.ERROR  # an exception no one foresaw, answered 503
    assert record.getMessage() == (
        f"GET /crash answered 503 SERVICE_UNAVAILABLE: LedgerError: ledger offline "
        f"(error id {error_id}, request id req-8)"
    )


def test_blueprint_handler_for_500_wins_for_its_routes_only() -> None:
    app = make_app()
    shop = Blueprint("shop", __name__)

    @shop.errorhandler(500)
    def shop_error(error: InternalServerError) -> tuple[str, int]:
        return "shop is closed", 500

    @shop.get("/buy")
    def buy() -> NoReturn:
        raise LedgerError("no till")

    @app.get("/outside")
    def outside() -> NoReturn:
        raise LedgerError("no till")

    app.register_blueprint(shop, url_prefix="/shop")
    FlaskGuard(app)
    client = app.test_client()
    inside = client.get("/shop/buy")
    assert inside.get_data(as_text=True) == "shop is closed"
    assert_ids(inside)
    assert error_of(client.get("/outside"))["code"] == "INTERNAL_SERVER_ERROR"


def test_app_exception_handler_registered_before_the_guard_is_kept() -> None:
    app = crashing_app()

    @app.errorhandler(Exception)
    def anything(error: Exception) -> tuple[str, int]:
        return f"handled {type(error).__name__}", 500

    FlaskGuard(app)
    response = app.test_client().get("/crash")
    assert response.get_data(as_text=True) == "handled LedgerError"
    assert_ids(response)


def test_view_returning_an_error_status_gets_ids_and_one_info_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    FlaskGuard(app)

    @app.get("/private")
    def private() -> tuple[str, int, dict[str, str]]:
        return "Unauthorized Access", 401, {"WWW-Authenticate": 'Basic realm="x"'}

    with caplog.at_level(logging.INFO):
        response = app.test_client().get("/private")
    assert response.get_data(as_text=True) == "Unauthorized Access"
    error_id = assert_ids(response)
    (record,) = logged(caplog)
    assert record.levelno == logging.INFO
    assert f"GET /private answered 401 UNAUTHORIZED (error id {error_id}" in record.getMessage()


# Flask's own path for unexpected exceptions -----------------------------------------------


@pytest.fixture
def exceptions_signalled() -> Iterator[list[BaseException]]:
    seen: list[BaseException] = []

    def receiver(sender: Flask, exception: BaseException, **kwargs: object) -> None:
        seen.append(exception)

    got_request_exception.connect(receiver)
    yield seen
    got_request_exception.disconnect(receiver)


def test_unexpected_exception_sends_got_request_exception_once(
    exceptions_signalled: list[BaseException],
) -> None:
    app = crashing_app()
    FlaskGuard(app)
    error_of(app.test_client().get("/crash"))
    assert [type(e) for e in exceptions_signalled] == [LedgerError]


def test_expected_failures_do_not_reach_got_request_exception(
    exceptions_signalled: list[BaseException],
) -> None:
    app = make_app()
    FlaskGuard(app)

    @app.get("/missing")
    def missing() -> NoReturn:
        raise ApiError.not_found("Order")

    app.test_client().get("/missing")
    assert exceptions_signalled == []


def test_after_request_raising_is_one_500_with_both_ids(
    exceptions_signalled: list[BaseException],
) -> None:
    app = crashing_app()
    FlaskGuard(app)

    @app.after_request
    def broken(response: Response) -> Response:
        raise LedgerError("after")

    response = app.test_client().get("/ok")
    assert error_of(response)["code"] == "INTERNAL_SERVER_ERROR"
    assert len(exceptions_signalled) == 1


# Errors outside Flask's handling ---------------------------------------------------------


def test_teardown_raising_is_a_json_500_with_both_ids(caplog: pytest.LogCaptureFixture) -> None:
    app = crashing_app()
    FlaskGuard(app)

    @app.teardown_request
    def close_session(error: BaseException | None) -> None:
        raise LedgerError("rollback failed")

    with caplog.at_level(logging.INFO):
        response = app.test_client().get("/ok", headers={"X-Request-ID": "req-9"})
    error = error_of(response)
    assert (response.status_code, error["request_id"]) == (500, "req-9")
    (record,) = [r for r in logged(caplog) if r.levelno >= logging.ERROR]
    assert record.__dict__["error_id"] == error["id"]
    assert record.exc_info is not None


def test_teardown_raising_over_a_real_socket_replaces_the_held_back_response() -> None:
    app = crashing_app()
    FlaskGuard(app)

    @app.teardown_request
    def close_session(error: BaseException | None) -> None:
        raise LedgerError("rollback failed")

    with serving(app) as url:
        response = requests.get(f"{url}/ok", headers={"X-Request-ID": "req-sock"}, timeout=10)
    assert response.status_code == 500
    body = response.json()["error"]
    assert (body["id"], body["request_id"]) == (response.headers["X-Error-ID"], "req-sock")
    assert response.headers["X-Request-ID"] == "req-sock"


def test_app_error_handler_raising_escapes_flask_and_still_gets_a_json_500() -> None:
    app = crashing_app()

    @app.errorhandler(500)
    def broken_handler(error: InternalServerError) -> NoReturn:
        raise RuntimeError("the handler itself is broken")

    FlaskGuard(app)
    response = app.test_client().get("/crash")
    assert error_of(response)["code"] == "INTERNAL_SERVER_ERROR"
    assert "broken" not in response.get_data(as_text=True)


def test_streamed_response_failing_midway_is_logged_with_both_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    FlaskGuard(app)

    @app.get("/export")
    def export() -> Response:
        def rows() -> Iterator[str]:
            yield "id,total\n"
            raise LedgerError("cursor lost")

        return Response(stream_with_context(rows()), mimetype="text/csv")

    client = app.test_client()
    with caplog.at_level(logging.INFO), pytest.raises(LedgerError):
        client.get("/export", headers={"X-Request-ID": "req-10"}, buffered=True)
    (record,) = [r for r in logged(caplog) if r.levelno >= logging.ERROR]
    assert record.__dict__["request_id"] == "req-10"
    assert HEX32.fullmatch(record.__dict__["error_id"])
    assert "GET /export answered 500" in record.getMessage()


def test_propagation_still_reraises_escaped_exceptions() -> None:
    app = crashing_app(PROPAGATE_EXCEPTIONS=True)
    FlaskGuard(app)

    @app.teardown_request
    def close_session(error: BaseException | None) -> None:
        raise LedgerError("rollback failed")

    with pytest.raises(Exception) as raised:  # noqa: PT011 - checked below
        app.test_client().get("/ok")
    # Flask 3.2 gathers teardown errors in an ExceptionGroup; earlier releases raise the error.
    if isinstance(raised.value, ExceptionGroup):
        assert raised.value.subgroup(LedgerError) is not None
    else:
        assert isinstance(raised.value, LedgerError)


# HTML for browsers, JSON for API clients ---------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "json"),
    [
        (None, True),
        ("*/*", True),
        ("application/json", True),
        ("application/problem+json", True),
        ("text/html, application/json", True),
        (BROWSER, False),
        ("text/html", False),
        ("application/json;q=0.5, text/html", False),
        ("text/*", False),
        ("text/plain", True),
    ],
)
def test_negotiate_gives_browsers_html_and_api_clients_json(
    accept: str | None, json: bool
) -> None:
    app = crashing_app()
    FlaskGuard(app)
    headers = {"Accept": accept} if accept is not None else {}
    response = app.test_client().get("/crash", headers=headers)
    assert response.status_code == 500
    error_id = assert_ids(response)
    if json:
        assert error_of(response)["id"] == error_id
    else:
        assert response.mimetype == "text/html"
        page = response.get_data(as_text=True)
        assert error_id in page
        assert "Internal Server Error" in page
        assert "ledger offline" not in page


def test_html_page_escapes_the_message() -> None:
    app = make_app()
    FlaskGuard(app)

    @app.get("/bad")
    def bad() -> NoReturn:
        abort(400, description="<script>alert(1)</script>")

    page = app.test_client().get("/bad", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_json_errors_always_ignores_accept() -> None:
    app = crashing_app(GUARD_JSON_ERRORS="always")
    FlaskGuard(app)
    error_of(app.test_client().get("/nowhere", headers={"Accept": BROWSER}))


def test_json_errors_by_path_prefix() -> None:
    app = crashing_app(GUARD_JSON_ERRORS=["/api/"])
    FlaskGuard(app)
    client = app.test_client()
    error_of(client.get("/api/nowhere"))
    page = client.get("/nowhere")
    assert page.mimetype == "text/html"
    assert page.headers["X-Error-ID"] in page.get_data(as_text=True)


@pytest.mark.parametrize("value", ["html", ["api/"], [""], 3])
def test_invalid_json_errors_setting_is_refused(value: object) -> None:
    with pytest.raises(GuardConfigError, match=r"^GUARD_JSON_ERRORS must be \"negotiate\""):
        FlaskGuard(make_app(GUARD_JSON_ERRORS=value))


# Headers ------------------------------------------------------------------------------------


def test_a_request_id_the_app_set_itself_is_kept_and_never_doubled() -> None:
    app = crashing_app()
    FlaskGuard(app)

    @app.after_request
    def own_id(response: Response) -> Response:
        response.headers["x-request-id"] = "app-made"
        return response

    response = app.test_client().get("/ok", headers={"X-Request-ID": "client-sent"})
    assert response.headers.getlist("X-Request-ID") == ["app-made"]


@pytest.mark.parametrize(
    ("exposed", "expected"),
    [
        (None, "X-Request-ID, X-Error-ID"),
        ("X-Total-Count", "X-Total-Count, X-Request-ID, X-Error-ID"),
        ("x-request-id, X-Total-Count", "x-request-id, X-Total-Count, X-Error-ID"),
    ],
)
def test_cors_responses_expose_both_ids(exposed: str | None, expected: str) -> None:
    app = crashing_app()

    @app.after_request
    def cors(response: Response) -> Response:
        response.headers["Access-Control-Allow-Origin"] = "https://shop.example"
        if exposed is not None:
            response.headers["Access-Control-Expose-Headers"] = exposed
        return response

    FlaskGuard(app)
    client = app.test_client()
    for path in ("/ok", "/nowhere"):
        response = client.get(path)
        assert response.headers.getlist("Access-Control-Expose-Headers") == [expected]


def test_responses_without_cors_get_no_expose_header() -> None:
    app = crashing_app()
    FlaskGuard(app)
    assert "Access-Control-Expose-Headers" not in app.test_client().get("/ok").headers


# Log levels -------------------------------------------------------------------------------


def leveled_app(**config: object) -> Flask:
    app = crashing_app(**config)
    FlaskGuard(app)

    @app.get("/maintenance")
    def maintenance() -> NoReturn:
        raise ApiError.service_unavailable(retry_after=30)

    @app.get("/missing")
    def missing() -> NoReturn:
        raise ApiError.not_found("Order")

    @app.get("/tripped")
    def tripped() -> NoReturn:
        raise CircuitOpenError("payments", 12.0)

    @app.get("/upstream-down")
    def upstream_down() -> NoReturn:
        raise requests.ConnectionError(
            "refused",
            request=requests.Request("GET", "http://pay.invalid/x?api_key=s3cr3t").prepare(),
        )

    @app.get("/upstream-slow")
    def upstream_slow() -> NoReturn:
        raise requests.ReadTimeout("read timed out")

    return app


@pytest.mark.parametrize(
    ("path", "level", "cause"),
    [
        ("/maintenance", logging.WARNING, "ApiError: 503 SERVICE_UNAVAILABLE"),
        ("/missing", logging.INFO, "ApiError: 404 NOT_FOUND: Order not found"),
        ("/tripped", logging.INFO, "CircuitOpenError: "),
        ("/upstream-down", logging.WARNING, "ConnectionError: refused"),
        ("/upstream-slow", logging.WARNING, "ReadTimeout: read timed out"),
    ],
)
def test_expected_failures_log_one_line_without_traceback(
    caplog: pytest.LogCaptureFixture, path: str, level: int, cause: str
) -> None:
    app = leveled_app()
    with caplog.at_level(logging.DEBUG):
        response = app.test_client().get(path, headers={"X-Request-ID": "req-11"})
    (record,) = logged(caplog)
    assert (record.levelno, record.exc_info) == (level, None)
    message = record.getMessage()
    assert cause in message
    assert f"(error id {response.headers['X-Error-ID']}, request id req-11)" in message
    assert "s3cr3t" not in message


def test_tracebacks_of_expected_failures_on_request() -> None:
    app = leveled_app(GUARD_LOG_TRACEBACKS="always")
    handler = _Collect()
    logging.getLogger("flask_guard.handlers").addHandler(handler)
    try:
        app.test_client().get("/maintenance")
    finally:
        logging.getLogger("flask_guard.handlers").removeHandler(handler)
    (record,) = handler.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is not None


def test_invalid_log_tracebacks_setting_is_refused() -> None:
    with pytest.raises(GuardConfigError, match=r"^GUARD_LOG_TRACEBACKS must be \"unexpected\""):
        FlaskGuard(make_app(GUARD_LOG_TRACEBACKS=True))


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# Memory ----------------------------------------------------------------------------------


@pytest.fixture
def factory_logger() -> Iterator[logging.Logger]:
    """The factory apps' logger and the guard's, silenced: pytest's log capture would keep
    their records, whose tracebacks hold frames that keep the apps alive."""
    loggers = [logging.getLogger("factory"), logging.getLogger("flask_guard.handlers")]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    yield loggers[0]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)


def test_app_factory_called_1000_times_keeps_no_app_alive(factory_logger: logging.Logger) -> None:
    guard = FlaskGuard()

    def create_app() -> Flask:
        app = Flask("factory")
        guard.init_app(app)

        @app.get("/boom")
        def boom() -> NoReturn:
            raise LedgerError("boom")

        return app

    refs = []
    for _ in range(1000):
        app = create_app()
        client = app.test_client()
        assert client.get("/boom").status_code == 500
        assert client.get("/nowhere").status_code == 404
        refs.append(weakref.ref(app))
        del app, client
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0
    assert len(guard._sessions) == 0
    assert not factory_logger.filters


def test_error_handled_is_sent_once_when_the_app_handler_answers() -> None:
    app = crashing_app()
    FlaskGuard(app)

    @app.errorhandler(LedgerError)
    def ledger_down(error: LedgerError) -> tuple[str, int]:
        return "ledger is down", 503

    calls: list[dict[str, object]] = []

    def receiver(sender: Flask, **kwargs: object) -> None:
        calls.append(kwargs)

    signals.error_handled.connect(receiver)
    try:
        response = app.test_client().get("/crash")
    finally:
        signals.error_handled.disconnect(receiver)
    (call,) = calls
    assert isinstance(call["error"], LedgerError)
    assert (call["error_id"], call["status"]) == (response.headers["X-Error-ID"], 503)


def test_g_request_id_survives_an_app_globals_class_of_its_own() -> None:
    class Own(_AppCtxGlobals):
        flavour = "own"

    app = make_app()
    FlaskGuard(app)
    app.app_ctx_globals_class = Own

    @app.get("/who")
    def who() -> dict[str, object]:
        return {"id": g.request_id, "flavour": g.flavour, "get": g.get("request_id")}

    body = app.test_client().get("/who", headers={"X-Request-ID": "req-g"}).get_json()
    assert body == {"id": "req-g", "flavour": "own", "get": "req-g"}
