"""Request ids: accept a safe incoming id or make one, expose it, echo it, log it."""

from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING

from flask import Flask, current_app, g, has_request_context, request

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

#: 1 to 128 characters, each a letter, a digit or one of ``-_.:=+/@;,``.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9\-_.:=+/@;,]{1,128}")

# The id lives in the WSGI environ, which belongs to exactly one request; ``g`` can
# outlive a request when an app context was pushed around several of them (tests).
ENVIRON_KEY = "flask_guard.request_id"
_EXTENSION_KEY = "guard.request_id"


def new_request_id() -> str:
    """Return a new random request id of 32 lowercase hex characters."""
    return os.urandom(16).hex()


def current_request_id() -> str | None:
    """Return the current request's id, or None outside a request.

    Inside a request of a guarded app the id always exists, from before Flask's
    ``request_started`` signal to the end of the response.
    """
    if not has_request_context():
        return None
    environ = request.environ
    request_id: str | None = environ.get(ENVIRON_KEY)
    if request_id is None:
        # A request that did not pass through the WSGI app, e.g. test_request_context().
        policy: RequestIdPolicy | None = current_app.extensions.get(_EXTENSION_KEY)
        if policy is not None:
            request_id = policy.assign(environ)
    return request_id


class RequestIdPolicy:
    """Decide the id of each request from its WSGI environ.

    The guard's WSGI middleware applies it before Flask runs anything (``request_started``
    receivers, URL value preprocessors, every ``before_request`` function) and echoes the
    id on every response, including those of errors Flask did not handle.
    """

    def __init__(self, header: str, trust_incoming: bool) -> None:
        #: The header the id is read from and echoed in.
        self.header = header
        self._trust_incoming = trust_incoming
        self._environ_header = "HTTP_" + header.upper().replace("-", "_")

    def assign(self, environ: WSGIEnvironment) -> str:
        """Store and return the id of the request ``environ`` describes."""
        request_id = environ.get(self._environ_header) if self._trust_incoming else None
        if request_id is None or SAFE_REQUEST_ID.fullmatch(request_id) is None:
            request_id = new_request_id()
        environ[ENVIRON_KEY] = request_id
        return request_id


def install_request_ids(app: Flask, header: str, trust_incoming: bool) -> RequestIdPolicy:
    """Give each request of ``app`` an id in ``g.request_id``; return the policy deciding it."""
    policy = RequestIdPolicy(header, trust_incoming)
    app.extensions[_EXTENSION_KEY] = policy

    def set_g_request_id() -> None:
        environ = request.environ
        g.request_id = environ.get(ENVIRON_KEY) or policy.assign(environ)

    # First in the list: an auth check registered earlier that aborts still sees g.request_id.
    app.before_request_funcs.setdefault(None, []).insert(0, set_g_request_id)
    return policy


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
