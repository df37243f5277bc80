"""Turn every exception a request raises into an error response; log it and signal it."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, request
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.sansio.response import Response

from .breaker_policy import CircuitOpenError
from .config import ErrorFormat
from .envelope import (
    ENVELOPE_MIMETYPE,
    INTERNAL_ERROR,
    PROBLEM_MIMETYPE,
    BodyBuilder,
    ErrorReport,
    envelope_body,
    minimal_body,
    problem_body,
    report_for,
)
from .request_id import current_request_id
from .sentry import SentryReporter
from .signals import error_handled, send_safely

_log = logging.getLogger(__name__)


def new_error_id() -> str:
    """Return a new error id: 32 lowercase hex characters."""
    return uuid.uuid4().hex


def install_error_handler(app: Flask, error_format: ErrorFormat, reporter: SentryReporter) -> None:
    """Answer every error ``app`` does not handle more specifically with a JSON error.

    The handler is registered for :class:`Exception` at app level, so Flask's lookup order
    still prefers handlers the application registers for a status code, for a more specific
    exception class, or on a blueprint.
    """
    if error_format == "problem":
        build, mimetype = problem_body, PROBLEM_MIMETYPE
    else:
        build, mimetype = envelope_body, ENVELOPE_MIMETYPE

    def handle_error(error: Exception) -> Response | HTTPException:
        if isinstance(error, HTTPException):
            if error.code is None or error.code < 400 or error.response is not None:
                return error  # a redirect, or a response the application built itself
        elif report_for(error) is INTERNAL_ERROR and _propagates(app):
            raise error  # a bug: Flask would re-raise it for the debugger and test runners
        return respond(app, error, build, mimetype, reporter)

    app.register_error_handler(Exception, handle_error)


def respond(
    app: Flask,
    error: Exception,
    build: BodyBuilder,
    mimetype: str,
    reporter: SentryReporter,
) -> Response:
    """Render, log, report and signal ``error``; fall back to a minimal 500 if rendering fails.

    With Sentry on, the error id is the id of the Sentry event.
    """
    report = report_for(error)
    error_id = new_error_id()
    request_id = current_request_id()
    try:
        response = app.json.response(build(report, error_id, request_id, request.path))
        response.status_code = report.status
        response.mimetype = mimetype
        response.headers.extend(report.headers)
    except Exception:
        _log.exception("Rendering the response for error %s failed", error_id)
        report = INTERNAL_ERROR
        body = minimal_body(build, error_id, request_id, request.path)
        response = app.response_class(body, status=500, mimetype=mimetype)
    response.headers["X-Error-ID"] = error_id
    _log_error(error, report, error_id, request_id)
    if reporter.wants(error, report):
        reporter.capture(_original(error), report, error_id, request_id, _route())
    send_safely(error_handled, app, error=error, error_id=error_id, status=report.status)
    return response


def _log_error(
    error: Exception, report: ErrorReport, error_id: str, request_id: str | None
) -> None:
    extra = {"error_id": error_id, "request_id": request_id or "-"}
    args = (request.method, _route(), report.status, report.code, error_id, request_id)
    message = "%s %s answered %s %s (error id %s, request id %s)"
    if isinstance(error, CircuitOpenError):
        # Shedding load is expected and can come by the thousand: the breaker's own WARNING
        # on opening is the news, each rejection is routine.
        _log.info(message, *args, extra=extra)
    elif report.status >= 500:
        _log.error(message, *args, exc_info=_original(error), extra=extra)
    else:
        _log.info(message, *args, extra=extra)


def _route() -> str:
    """Return the matched URL rule, or the escaped path when no rule matched."""
    if request.url_rule is not None:
        return request.url_rule.rule
    return request.path.encode("unicode_escape").decode("ascii")


def _original(error: Exception) -> BaseException:
    if isinstance(error, InternalServerError) and error.original_exception is not None:
        return error.original_exception
    return error


def _propagates(app: Flask) -> bool:
    """Return whether Flask would re-raise an unhandled exception (as in debug or testing)."""
    propagate = app.config["PROPAGATE_EXCEPTIONS"]
    if propagate is None:
        return app.testing or bool(app.debug)
    return bool(propagate)
