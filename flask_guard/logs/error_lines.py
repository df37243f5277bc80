"""One log line per error, at a level that says whether someone must look at it.

Expected failures (an :class:`~flask_guard.ApiError`, an HTTP error, an open breaker, an
upstream that is down, slow or failing) are one line without a traceback: WARNING for 5xx,
INFO for 4xx and for calls an open breaker rejected. Unexpected exceptions are logged by
``app.log_exception`` (Flask's, or an extension's call of it) at ERROR with the traceback;
the guard gives that record both ids, or writes the line itself when the app's logger made
none.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, has_request_context, request

from ..config.keys import LogTracebacks
from ..errors.exceptions import CircuitOpenError
from ..errors.record import request_error
from ..web.request_id import current_request_id
from .guard_loggers import add_last_resort, app_logger_disabled, writes, writing
from .record_ids import error_line, install_record_ids

_log = logging.getLogger("flask_guard.handlers")
_QUERY = re.compile(r"\?[^\s'\")]*")
_MAX_CAUSE = 300
# The error id whose line app.log_exception wrote, in the request's environ: a second call
# for the same exception (the app's 500 handler calling it again) gives no second record
# the id.
_WRITTEN_KEY = "flask_guard.error_line"


def install_error_logging(app: Flask) -> None:
    """Log every error of ``app`` once with both ids, whatever its logging configuration."""
    install_record_ids()
    add_last_resort()
    _give_exception_lines_ids(app)


def log_error(
    method: str,
    route: str,
    status: int,
    code: str,
    cause: BaseException | None,
    error_id: str,
    request_id: str | None,
    *,
    expected: bool,
    tracebacks: LogTracebacks = "unexpected",
) -> None:
    """Write the one line of an error: ``GET /x answered 503 CODE: Cause: text (error id …)``."""
    if expected:
        level = (
            logging.INFO
            if status < 500 or isinstance(cause, CircuitOpenError)
            else logging.WARNING
        )
    else:
        level = logging.ERROR if status >= 500 else logging.INFO
    logger = writing(_log)
    if not writes(logger, level):
        return
    with_traceback = cause is not None and (not expected or tracebacks == "always")
    # Made and handled here rather than by logger.log(), which drops what the root's level
    # filters out (see guard_loggers.writes).
    path, line, function, _ = logger.findCaller()
    record = logger.makeRecord(
        logger.name,
        level,
        path,
        line,
        "%s %s answered %s %s%s (error id %s, request id %s)",
        (
            method,
            route,
            status,
            code,
            f": {describe(cause)}" if cause is not None else "",
            error_id,
            request_id,
        ),
        (type(cause), cause, cause.__traceback__)
        if with_traceback and cause is not None
        else None,
        function,
        {"error_id": error_id, "request_id": request_id or "-"},
    )
    logger.handle(record)


def describe(cause: BaseException) -> str:
    """Return ``Type: message`` on one line, without query strings (they carry tokens)."""
    text = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
    text = _QUERY.sub("?…", text).encode("unicode_escape").decode("ascii")
    return text if len(text) <= _MAX_CAUSE else text[: _MAX_CAUSE - 1] + "…"


def _give_exception_lines_ids(app: Flask) -> None:
    """Make the record ``app.log_exception`` writes the error's one line, with both ids.

    Flask calls it for an unexpected exception; extensions that answer errors themselves
    (flask-restful, flask-restx) call it too, for an exception the guard never saw. Either
    way the exception becomes the request's error and its id is the ``X-Error-ID`` the
    client gets. If no record at ERROR came of it (``app.logger`` turned off or filtered
    by level), the error stays unlogged and the guard writes its line.
    """
    original = app.log_exception

    def log_exception(*args: Any) -> None:
        # Flask 3.1 passes (exc_info), Flask 3.2 (ctx, exc_info).
        exc_info = args[-1] if args else None
        cause = exc_info[1] if isinstance(exc_info, tuple) else None
        if not isinstance(cause, Exception) or not has_request_context():
            original(*args)
            return
        environ = request.environ
        error = request_error(environ)
        error.blame(cause)
        error_id = error.assign_id()
        if environ.get(_WRITTEN_KEY) == error_id:
            original(*args)
            return
        writing(_log)
        with error_line(error_id, current_request_id() or "-") as line:
            original(*args)
        error.logged = line.written
        if line.written:
            environ[_WRITTEN_KEY] = error_id
        else:
            app_logger_disabled(app.logger)

    setattr(app, "log_exception", log_exception)  # noqa: B010 (mypy: a method)
