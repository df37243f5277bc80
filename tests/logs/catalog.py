"""An app that answers every kind of error, and the check that each error's id is in
exactly one log record, at its documented level, with the request id."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, ClassVar, NoReturn

import requests
from flask import Flask, current_app, request

from flask_guard import ApiError, CircuitOpenError, FlaskGuard

#: path, method, status and level of the error's one record (docs/errors.rst).
ERRORS = [
    ("/orders/7", "GET", 404, logging.INFO),  # an ApiError
    ("/nowhere", "GET", 404, logging.INFO),  # no route
    ("/orders/7", "DELETE", 405, logging.INFO),
    ("/refused", "GET", 401, logging.INFO),  # a response the view built
    ("/tripped", "GET", 503, logging.INFO),  # an open breaker
    ("/maintenance", "GET", 503, logging.WARNING),
    ("/upstream-down", "GET", 503, logging.WARNING),
    ("/crash", "GET", 500, logging.ERROR),  # unexpected: Flask's app.log_exception
    ("/teardown", "GET", 500, logging.ERROR),  # escaped Flask's handling
    ("/unrenderable", "GET", 500, logging.ERROR),  # its body could not be rendered
]


def add_error_routes(app: Flask) -> None:
    """Give ``app`` a route for each error of :data:`ERRORS`, and ``/chatty``, whose view
    logs on the app's logger and on a module logger before it fails."""

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> NoReturn:
        raise ApiError.not_found("Order")

    @app.get("/refused")
    def refused() -> tuple[str, int]:
        return "Unauthorized", 401

    @app.get("/tripped")
    def tripped() -> NoReturn:
        raise CircuitOpenError("payments", 12.0)

    @app.get("/maintenance")
    def maintenance() -> NoReturn:
        raise ApiError.service_unavailable(retry_after=30)

    @app.get("/upstream-down")
    def upstream_down() -> NoReturn:
        raise requests.ConnectionError("refused")

    @app.get("/crash")
    def crash() -> NoReturn:
        raise RuntimeError("boom")

    @app.get("/unrenderable")
    def unrenderable() -> NoReturn:
        raise ApiError.bad_request(details=[{"value": object()}])

    @app.get("/teardown")
    def teardown() -> str:
        return "ok"

    @app.teardown_request
    def fail_teardown(error: BaseException | None) -> None:
        if request.path == "/teardown":
            raise RuntimeError("teardown failed")

    @app.get("/chatty")
    def chatty() -> NoReturn:
        current_app.logger.info("looking up the order")
        logging.getLogger(f"{current_app.name}.orders").warning("order %s is locked", 7)
        raise ApiError.conflict("Order is locked")


def new_app() -> Flask:
    """Return an app whose logger no earlier test made, exceptions not propagated."""
    app = Flask(f"shop_{uuid.uuid4().hex[:8]}")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def guarded_app() -> Flask:
    """Return a guarded :func:`new_app` with :func:`add_error_routes`."""
    app = new_app()
    FlaskGuard(app)
    add_error_routes(app)
    return app


@dataclass(frozen=True)
class Answer:
    """An error response: its ids, and the level the docs give its record."""

    path: str
    error_id: str
    request_id: str
    level: int


def answer_every_error(app: Flask, errors_stream: IO[str] | None = None) -> list[Answer]:
    """Send each request of :data:`ERRORS` to ``app`` (with ``errors_stream`` as the
    requests' ``wsgi.errors``); return what the client got."""
    client = app.test_client()
    answers = []
    for path, method, status, level in ERRORS:
        response = client.open(path, method=method, errors_stream=errors_stream)
        assert response.status_code == status, path
        headers = response.headers
        answers.append(Answer(path, headers["X-Error-ID"], headers["X-Request-ID"], level))
    return answers


class Collect(logging.Handler):
    """A handler an app's logging configuration names: keeps each record and its text."""

    seen: ClassVar[list[tuple[logging.LogRecord, str]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        Collect.seen.append((record, self.format(record)))


def assert_each_id_in_one_record(
    answers: Iterable[Answer], written: Iterable[tuple[logging.LogRecord, str]]
) -> None:
    """Assert that each answer's error id is in the text of exactly one record, which is at
    the documented level and carries both ids."""
    written = list(written)
    for answer in answers:
        (record,) = [record for record, text in written if answer.error_id in text]
        assert record.levelno == answer.level, answer.path
        assert record.__dict__["error_id"] == answer.error_id, answer.path
        assert record.__dict__["request_id"] == answer.request_id, answer.path


def assert_each_id_in_one_line(
    answers: Iterable[Answer], lines: list[str], level_of: Callable[[str], int]
) -> None:
    """Assert that each answer's error id is in exactly one of ``lines``, along with its
    request id, at the documented level (as ``level_of`` reads it from a line)."""
    for answer in answers:
        (line,) = [line for line in lines if answer.error_id in line]
        assert answer.request_id in line, answer.path
        assert level_of(line) == answer.level, answer.path


def bare_root() -> logging.Logger:
    """Return the root logger without handlers, as in a process that just started."""
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    return root
