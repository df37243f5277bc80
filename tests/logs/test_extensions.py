"""Extensions that answer errors themselves and call ``app.log_exception``: that record is
the error's one line, with both ids, and the guard writes no second one."""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable
from typing import NoReturn

import flask_restful
import flask_restx
import pytest
from flask import Flask, current_app
from flask.globals import _cv_app

from flask_guard import FlaskGuard

from .catalog import Collect, bare_root, new_app


def _log_exception_args(exc_info: object) -> tuple[object, ...]:
    """The arguments of ``app.log_exception``: Flask 3.2 adds the context first."""
    if "ctx" in inspect.signature(Flask.log_exception).parameters:
        return (_cv_app.get(), exc_info)
    return (exc_info,)


def with_own_error_handler(app: Flask) -> None:
    """An extension whose handler answers every exception and logs it as Flask would."""

    @app.errorhandler(Exception)
    def answer(error: Exception) -> tuple[dict[str, str], int]:
        current_app.log_exception(*_log_exception_args(sys.exc_info()))  # type: ignore[arg-type]
        return {"message": "Internal Server Error"}, 500


def with_flask_restful(app: Flask) -> None:
    api = flask_restful.Api(app)

    class Order(flask_restful.Resource):  # type: ignore[misc]
        def get(self) -> NoReturn:
            raise RuntimeError("boom")

    api.add_resource(Order, "/crash")


def with_flask_restx(app: Flask) -> None:
    api = flask_restx.Api(app, doc=False)

    @api.route("/crash")
    class Order(flask_restx.Resource):  # type: ignore[misc]
        def get(self) -> NoReturn:
            raise RuntimeError("boom")


def with_plain_route(app: Flask) -> None:
    @app.get("/crash")
    def crash() -> NoReturn:
        raise RuntimeError("boom")


EXTENSIONS = [with_flask_restful, with_flask_restx]


def _crash_once(app: Flask) -> tuple[str, str, list[logging.LogRecord]]:
    bare_root().addHandler(Collect())
    logging.getLogger().setLevel(logging.INFO)
    response = app.test_client().get("/crash", headers={"X-Request-ID": "req-7"})
    assert response.status_code == 500
    error_id = response.headers["X-Error-ID"]
    return error_id, response.headers["X-Request-ID"], [record for record, _ in Collect.seen]


def _assert_one_line(app: Flask, error_id: str, records: list[logging.LogRecord]) -> None:
    (record,) = records  # nothing from the guard on top
    assert record.name == app.logger.name
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.__dict__["error_id"] == error_id
    assert record.__dict__["request_id"] == "req-7"
    assert record.getMessage().endswith(f"(error id {error_id}, request id req-7)")


@pytest.mark.parametrize("extension", EXTENSIONS)
@pytest.mark.parametrize("guard_first", [True, False])
def test_an_extension_logging_the_crash_makes_the_error_s_one_record(
    extension: Callable[[Flask], None], guard_first: bool
) -> None:
    app = new_app()
    if guard_first:
        FlaskGuard(app)
        extension(app)
    else:
        extension(app)
        FlaskGuard(app)
    error_id, _, records = _crash_once(app)
    _assert_one_line(app, error_id, records)


def test_an_error_handler_calling_log_exception_makes_the_error_s_one_record() -> None:
    app = new_app()
    FlaskGuard(app)
    with_own_error_handler(app)
    with_plain_route(app)
    error_id, _, records = _crash_once(app)
    _assert_one_line(app, error_id, records)


def test_log_exception_called_twice_gives_the_id_to_one_record() -> None:
    app = new_app()
    FlaskGuard(app)
    with_plain_route(app)

    @app.errorhandler(500)
    def server_error(error: Exception) -> tuple[str, int]:
        current_app.log_exception(*_log_exception_args(sys.exc_info()))  # type: ignore[arg-type]
        return "sorry", 500

    error_id, _, records = _crash_once(app)
    first, second = records
    _assert_one_line(app, error_id, [first])
    assert "error_id" not in second.__dict__
    assert error_id not in second.getMessage()


def test_an_app_logger_filtering_out_the_crash_gets_it_written_by_the_guard() -> None:
    app = new_app()
    FlaskGuard(app)
    with_plain_route(app)
    app.logger.setLevel(logging.CRITICAL)
    error_id, _, records = _crash_once(app)
    (record,) = records
    assert record.name == "flask_guard.handlers"
    assert (record.levelno, record.__dict__["error_id"]) == (logging.ERROR, error_id)
    assert record.exc_info is not None
