"""One log line per error, at a level that says whether someone must look at it.

Expected failures (an :class:`~flask_guard.ApiError`, an HTTP error, an open breaker, an
upstream that is down, slow or failing) are one line without a traceback: WARNING for 5xx,
INFO for 4xx and for calls an open breaker rejected. Unexpected exceptions are logged by
Flask's own ``app.log_exception`` at ERROR with the traceback; :class:`ErrorIdFilter` puts
both ids on that record and in its message.
"""

from __future__ import annotations

import logging
import re

from flask import has_request_context, request

from ..config.keys import LogTracebacks
from ..errors.exceptions import CircuitOpenError
from ..errors.record import known_error
from ..web.request_id import current_request_id

_log = logging.getLogger("flask_guard.handlers")
_QUERY = re.compile(r"\?[^\s'\")]*")
_MAX_CAUSE = 300


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
    if not _log.isEnabledFor(level):
        return
    with_traceback = cause is not None and (not expected or tracebacks == "always")
    _log.log(
        level,
        "%s %s answered %s %s%s (error id %s, request id %s)",
        method,
        route,
        status,
        code,
        f": {describe(cause)}" if cause is not None else "",
        error_id,
        request_id,
        exc_info=cause if with_traceback else None,
        extra={"error_id": error_id, "request_id": request_id or "-"},
    )


def describe(cause: BaseException) -> str:
    """Return ``Type: message`` on one line, without query strings (they carry tokens)."""
    text = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
    text = _QUERY.sub("?…", text).encode("unicode_escape").decode("ascii")
    return text if len(text) <= _MAX_CAUSE else text[: _MAX_CAUSE - 1] + "…"


class ErrorIdFilter(logging.Filter):
    """Put ``error_id`` and ``request_id`` on the records of the app's logger during a
    request that ran into an error, and both ids in the text of Flask's
    ``Exception on …`` line (so a plain text log can be searched by the id a client quotes).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the ids to ``record``; never drop it."""
        if not has_request_context():
            return True
        error = known_error(request.environ)
        if error is None or error.error_id is None:
            return True
        request_id = current_request_id() or "-"
        if not hasattr(record, "error_id"):
            record.error_id = error.error_id
        if not hasattr(record, "request_id"):
            record.request_id = request_id
        if record.exc_info and record.exc_info[1] is error.cause and error.cause is not None:
            record.msg = (
                f"{record.getMessage()} (error id {error.error_id}, request id {request_id})"
            )
            record.args = ()
        return True


_FILTER = ErrorIdFilter()


def install_error_ids_on(logger: logging.Logger) -> None:
    """Add the one :class:`ErrorIdFilter` of the process to ``logger``, once."""
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
