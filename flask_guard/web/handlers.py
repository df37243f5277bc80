"""Answer what the app's own error handlers do not, and give every error an id, one log
line and (5xx) one Sentry event, whoever built its response.

Flask's own handling stays in charge: the guard's handler is registered for
:class:`Exception` at app level, so every handler of the app (by status code, by a more
specific class, on a blueprint) is found first; an unexpected exception is handed back to
Flask's ``handle_exception`` (``got_request_exception``, ``app.log_exception``,
``PROPAGATE_EXCEPTIONS``, then the app's 500 handler if it has one). What the guard does
inside Flask's handling comes through the subclass made for the app (:mod:`.flask_hooks`).
"""

from __future__ import annotations

import logging
import re
import weakref
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, has_request_context, request
from flask import Request as FlaskRequest
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.sansio.response import Response
from werkzeug.wrappers import Request

from ..compat.flask import error_handler_for
from ..config.keys import ErrorFormat, JsonErrors, LogTracebacks
from ..errors.bodies import (
    ENVELOPE_MIMETYPE,
    PROBLEM_MIMETYPE,
    BodyBuilder,
    envelope_body,
    minimal_body,
    problem_body,
)
from ..errors.record import RequestError, new_error_id, request_error
from ..errors.report import (
    INTERNAL_ERROR,
    ErrorReport,
    is_expected,
    is_upstream_failure,
    report_for,
)
from ..logs.error_lines import install_error_logging, log_error
from ..sentry.setup import SentryReporter
from ..signals import error_handled, send_safely
from .error_page import HTML_MIMETYPE, html_page, wants_json
from .flask_hooks import hook_errors
from .request_id import ENVIRON_KEY, current_request_id

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_log = logging.getLogger("flask_guard.handlers")

#: The header carrying the error id on every error response.
ERROR_ID_HEADER = "X-Error-ID"

WsgiHeaders = list[tuple[str, str]]


class ErrorResponder:
    """Render, log, report and signal the errors of one app."""

    def __init__(
        self,
        app: Flask,
        error_format: ErrorFormat,
        json_errors: JsonErrors,
        tracebacks: LogTracebacks,
        reporter: SentryReporter,
        expose_names: bool,
    ) -> None:
        self._app = weakref.ref(app)
        self._expose_names = expose_names
        self._build: BodyBuilder = problem_body if error_format == "problem" else envelope_body
        self._mimetype = PROBLEM_MIMETYPE if error_format == "problem" else ENVELOPE_MIMETYPE
        self._json_errors = json_errors
        self._tracebacks: LogTracebacks = tracebacks
        self._reporter = reporter

    @property
    def propagates(self) -> bool:
        """Whether Flask re-raises unhandled exceptions (as in debug mode and tests)."""
        app = self._app()
        if app is None:
            return False
        propagate = app.config["PROPAGATE_EXCEPTIONS"]
        if propagate is None:
            return app.testing or bool(app.debug)
        return bool(propagate)

    def handle(self, error: Exception) -> Response | HTTPException:
        """The app-level handler for :class:`Exception`: what no other handler took."""
        if isinstance(error, HTTPException):
            if error.code is None or error.code < 400 or error.response is not None:
                return error  # a redirect, or a response the application built itself
        elif not is_expected(error) or self._app_answers(error):
            request_error(request.environ).traceback = error.__traceback__
            raise error  # Flask's own handle_exception takes it from here
        return self._respond(error)

    def _app_answers(self, error: Exception) -> bool:
        """Return whether ``error`` is an upstream failure the app's own 500 handler answers.

        Without the guard such a failure was the app's 500 (its handler rolled back, logged,
        rendered); the guard's own refusals (ApiError, open breaker, full bulkhead, spent
        budget) stay the guard's.
        """
        if not is_upstream_failure(error):
            return False
        app = self._app()
        assert app is not None  # a request of the app is running
        handler = error_handler_for(app, InternalServerError(), request.blueprints)
        return handler is not None and handler != self.handle

    def note(self, error: Exception) -> None:
        """Remember ``error`` as the cause of the response some handler is about to build."""
        request_error(request.environ).blame(error)

    def unexpected(self, error: Exception) -> None:
        """Give an exception Flask is about to handle as unexpected its id, before Flask's
        signal and log line: the event is sent once the response is known (the app's 500
        handler may still fail), and every other capture of the exception is dropped."""
        record = request_error(request.environ)
        if record.cause is error and record.traceback is not None:
            # Logs and events show where it was raised, not the guard re-raising it.
            error.__traceback__, record.traceback = record.traceback, None
        if record.cause is error and record.error_id is not None:
            return
        record.cause, record.error_id, record.captured = error, new_error_id(), False
        record.logged = True  # by app.log_exception (see logs.error_lines)

    def propagated(self, environ: WSGIEnvironment, error: Exception) -> None:
        """Report an exception Flask re-raises (``PROPAGATE_EXCEPTIONS``) that has an id."""
        record = request_error(environ)
        if record.cause is error and record.error_id is not None and not record.captured:
            self._capture(record, INTERNAL_ERROR, environ, _escaped_path(environ))

    def _respond(self, error: HTTPException | Exception) -> Response:
        incoming = _current_request()
        environ = incoming.environ
        record = request_error(environ)
        cause = _original(error)
        record.blame(cause)
        report = report_for(error, self._expose_names)
        error_id = record.assign_id()
        request_id = current_request_id()
        try:
            response = self._render(report, error_id, request_id, incoming)
        except Exception:
            _log.exception("Rendering the response of an error failed; it gets a minimal body")
            report = INTERNAL_ERROR
            body = minimal_body(self._build, error_id, request_id, incoming.path)
            response = self._response(body, 500, self._mimetype)
        response.headers[ERROR_ID_HEADER] = error_id
        expected = report is not INTERNAL_ERROR
        self._account(record, report, environ, incoming.method, _route(incoming), expected)
        return response

    def _render(
        self, report: ErrorReport, error_id: str, request_id: str | None, incoming: Request
    ) -> Response:
        path = incoming.path
        if wants_json(self._json_errors, incoming.environ.get("HTTP_ACCEPT"), path):
            body = self._json(self._build(report, error_id, request_id, path))
            response = self._response(body, report.status, self._mimetype)
        else:
            page = html_page(report, error_id, request_id)
            response = self._response(page, report.status, HTML_MIMETYPE)
        response.headers.extend(report.headers)
        return response

    def _json(self, body: dict[str, object]) -> str:
        app = self._app()
        assert app is not None  # a request of the app is running
        return app.json.dumps(body)

    def _response(self, body: str, status: int, mimetype: str) -> Response:
        app = self._app()
        assert app is not None  # a request of the app is running
        return app.response_class(body, status=status, mimetype=mimetype)

    def finish(self, environ: WSGIEnvironment, status: int, headers: WsgiHeaders) -> None:
        """Give an error response the app built itself its id; log and report it once."""
        record = request_error(environ)
        error_id = record.assign_id()
        headers.append((ERROR_ID_HEADER, error_id))
        cause = record.cause
        report = ErrorReport(status, _code(status), "")
        expected = not isinstance(cause, Exception) or is_expected(cause)
        if isinstance(cause, Exception) and expected:
            own = report_for(cause, self._expose_names)
            if own.status == status:
                report = own
        route = _route() if has_request_context() else _escaped_path(environ)
        self._account(record, report, environ, environ["REQUEST_METHOD"], route, expected)

    def escaped(
        self, environ: WSGIEnvironment, error: Exception
    ) -> tuple[str, WsgiHeaders, list[bytes]]:
        """Answer an exception that escaped Flask's handling: a 500 with both ids.

        An error still unreported when this one escaped (the app's 500 handler failing on
        it) lends it its id: one event, in which this exception has the first one chained.
        """
        error = _sole_error(error)
        record = request_error(environ)
        if record.cause is not error:
            if record.error_id is None or record.captured:
                record.error_id = None
            record.cause, record.logged, record.captured = error, False, False
        error_id = record.assign_id()
        request_id = environ.get(ENVIRON_KEY)
        incoming = Request(environ)
        path = _escaped_path(environ)
        self._account(record, INTERNAL_ERROR, environ, incoming.method, path, expected=False)
        if wants_json(self._json_errors, environ.get("HTTP_ACCEPT"), incoming.path):
            body = minimal_body(self._build, error_id, request_id, incoming.path)
            mimetype = self._mimetype
        else:
            body, mimetype = html_page(INTERNAL_ERROR, error_id, request_id), HTML_MIMETYPE
        data = body.encode()
        headers = [
            ("Content-Type", f"{mimetype}; charset=utf-8"),
            ("Content-Length", str(len(data))),
            (ERROR_ID_HEADER, error_id),
        ]
        return "500 INTERNAL SERVER ERROR", headers, [data]

    def stream_failed(self, environ: WSGIEnvironment, error: Exception) -> None:
        """Log and report a response body that failed after its headers were sent."""
        record = RequestError(cause=error)
        route = _escaped_path(environ)
        self._account(record, INTERNAL_ERROR, environ, environ["REQUEST_METHOD"], route, False)

    def _account(
        self,
        record: RequestError,
        report: ErrorReport,
        environ: WSGIEnvironment,
        method: str,
        route: str,
        expected: bool,
    ) -> None:
        """Log, report and signal ``record`` once each."""
        error_id = record.assign_id()
        request_id = environ.get(ENVIRON_KEY)
        cause = record.cause
        if not record.logged:
            record.logged = True
            log_error(
                method,
                route,
                report.status,
                report.code,
                cause,
                error_id,
                request_id,
                expected=expected,
                tracebacks=self._tracebacks,
            )
        if not record.captured and isinstance(cause, Exception):
            self._capture(record, report, environ, route)
        app = self._app()
        if app is not None and isinstance(cause, Exception):
            send_safely(error_handled, app, error=cause, error_id=error_id, status=report.status)

    def _capture(
        self, record: RequestError, report: ErrorReport, environ: WSGIEnvironment, route: str
    ) -> None:
        cause = record.cause
        record.captured = True
        if isinstance(cause, Exception) and self._reporter.wants(cause, report):
            request_id = environ.get(ENVIRON_KEY)
            error_id = record.assign_id()
            if (sender := self._reporter.sender()) is not None:
                sender.capture(cause, report, error_id, request_id, route, environ)


def install_error_handler(
    app: Flask,
    error_format: ErrorFormat,
    json_errors: JsonErrors,
    tracebacks: LogTracebacks,
    reporter: SentryReporter,
    expose_names: bool,
) -> ErrorResponder:
    """Answer every error ``app`` does not handle itself; give every error an id.

    An :class:`Exception` handler the app registered already is kept: it answers everything.
    """
    responder = ErrorResponder(app, error_format, json_errors, tracebacks, reporter, expose_names)
    if error_handler_for(app, Exception()) is None:
        app.register_error_handler(Exception, responder.handle)
    hook_errors(app, responder)
    install_error_logging(app)
    return responder


def _current_request() -> FlaskRequest:
    """Return the request itself, not its proxy: each access to the proxy costs a lookup."""
    found: FlaskRequest = cast("Any", request)._get_current_object()
    return found


def _route(incoming: FlaskRequest | None = None) -> str:
    """Return the matched URL rule, or the escaped path when no rule matched."""
    incoming = incoming or _current_request()
    if incoming.url_rule is not None:
        return incoming.url_rule.rule
    return incoming.path.encode("unicode_escape").decode("ascii")


def _escaped_path(environ: WSGIEnvironment) -> str:
    path = str(environ.get("PATH_INFO", "/"))
    return path.encode("unicode_escape").decode("ascii")


def _code(status: int) -> str:
    """Return the envelope code of a status: 401 -> ``"UNAUTHORIZED"``."""
    try:
        name = HTTPStatus(status).phrase.upper().replace("'", "")
    except ValueError:
        name = "ERROR"
    return re.sub(r"[^A-Z0-9]+", "_", name).strip("_")


def _sole_error(error: Exception) -> Exception:
    """Return the one error inside Flask's teardown groups, or ``error`` itself.

    From Flask 3.2 on, errors of teardown functions escape in an ``ExceptionGroup`` (one per
    context, nested); the log line, the Sentry event and its grouping stay those of the
    app's own error, as with earlier releases. A group of several errors is kept whole.
    """
    while isinstance(error, ExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _original(error: Exception) -> BaseException:
    if isinstance(error, InternalServerError) and error.original_exception is not None:
        return error.original_exception
    return error
