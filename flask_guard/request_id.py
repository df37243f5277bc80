"""Request ids: accept a safe incoming id or make one, expose it, echo it, log it."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable

from flask import Flask, Response, current_app, g, has_request_context, request

#: 1 to 128 characters, each a letter, a digit or one of ``-_.:=+/@;,``.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9\-_.:=+/@;,]{1,128}")

# The id lives in the WSGI environ, which belongs to exactly one request; ``g`` can
# outlive a request when an app context was pushed around several of them (tests).
_ENVIRON_KEY = "flask_guard.request_id"
_EXTENSION_KEY = "guard.request_id"

Assigner = Callable[[], str]


def new_request_id() -> str:
    """Return a new random request id of 32 lowercase hex characters."""
    return os.urandom(16).hex()


def is_safe_request_id(value: str) -> bool:
    """Return whether ``value`` may be accepted from a client and echoed back."""
    return SAFE_REQUEST_ID.fullmatch(value) is not None


def current_request_id() -> str | None:
    """Return the current request's id, or None outside a request.

    Inside a request of a guarded app the id always exists: it is assigned on first use,
    so code that runs before flask-guard's own hooks sees the same id as everything else.
    """
    if not has_request_context():
        return None
    request_id: str | None = request.environ.get(_ENVIRON_KEY)
    if request_id is None:
        assign: Assigner | None = current_app.extensions.get(_EXTENSION_KEY)
        if assign is not None:
            request_id = assign()
    return request_id


def install_request_ids(app: Flask, header: str, trust_incoming: bool) -> None:
    """Assign an id to every request of ``app`` and echo it in the ``header`` response header."""
    environ_header = "HTTP_" + header.upper().replace("-", "_")
    safe = SAFE_REQUEST_ID.fullmatch

    def assign() -> str:
        environ = request.environ
        incoming = environ.get(environ_header) if trust_incoming else None
        request_id = incoming if incoming is not None and safe(incoming) else new_request_id()
        environ[_ENVIRON_KEY] = request_id
        g.request_id = request_id
        return request_id

    def assign_before_request() -> None:
        g.request_id = request.environ.get(_ENVIRON_KEY) or assign()

    def echo(response: Response) -> Response:
        response.headers[header] = request.environ.get(_ENVIRON_KEY) or assign()
        return response

    app.extensions[_EXTENSION_KEY] = assign
    # First in both lists: ours runs before every other before_request function (an auth
    # check that aborts still gets an id) and after every other after_request function.
    app.before_request_funcs.setdefault(None, []).insert(0, assign_before_request)
    app.after_request_funcs.setdefault(None, []).insert(0, echo)


class RequestIdFilter(logging.Filter):
    """Put ``request_id`` on every record it sees: the current id, or ``-`` outside a request.

    Attach it to your handlers so that ``%(request_id)s`` works in any format::

        handler.addFilter(RequestIdFilter())

    A ``request_id`` the caller passed through ``extra=`` is kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``request_id`` to ``record``; never drop it."""
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True
