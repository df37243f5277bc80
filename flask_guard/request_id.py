"""Request ids: accept a safe incoming id or make one, expose it, echo it, log it."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from flask import Flask, current_app, g, has_request_context, request

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: 1 to 128 characters, each a letter, a digit or one of ``-_.:=+/@;,``.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9\-_.:=+/@;,]{1,128}")

# The id lives in the WSGI environ, which belongs to exactly one request; ``g`` can
# outlive a request when an app context was pushed around several of them (tests).
_ENVIRON_KEY = "flask_guard.request_id"
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
    request_id: str | None = environ.get(_ENVIRON_KEY)
    if request_id is None:
        # A request that did not pass through the WSGI app, e.g. test_request_context().
        policy: RequestIdPolicy | None = current_app.extensions.get(_EXTENSION_KEY)
        if policy is not None:
            request_id = policy.assign(environ)
    return request_id


class RequestIdPolicy:
    """Decide the id of each request from its WSGI environ, and echo it on the response.

    It wraps the application's ``wsgi_app``, so the id exists before Flask runs anything
    (``request_started`` receivers, URL value preprocessors, every ``before_request``
    function) and is echoed on every response, including those of errors Flask did not
    handle.
    """

    def __init__(self, wsgi_app: WSGIApplication, header: str, trust_incoming: bool) -> None:
        self._wsgi_app = wsgi_app
        self._header = header
        self._trust_incoming = trust_incoming
        self._environ_header = "HTTP_" + header.upper().replace("-", "_")

    def assign(self, environ: WSGIEnvironment) -> str:
        """Store and return the id of the request ``environ`` describes."""
        request_id = environ.get(self._environ_header) if self._trust_incoming else None
        if request_id is None or SAFE_REQUEST_ID.fullmatch(request_id) is None:
            request_id = new_request_id()
        environ[_ENVIRON_KEY] = request_id
        return request_id

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = self.assign(environ)
        header = (self._header, request_id)

        def start_response_with_id(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            headers.append(header)
            return start_response(status, headers, exc_info)

        return self._wsgi_app(environ, start_response_with_id)


def install_request_ids(app: Flask, header: str, trust_incoming: bool) -> None:
    """Give each request of ``app`` an id, in ``g.request_id`` and the ``header`` header."""
    policy = RequestIdPolicy(app.wsgi_app, header, trust_incoming)
    app.wsgi_app = policy  # type: ignore[method-assign]
    app.extensions[_EXTENSION_KEY] = policy

    def set_g_request_id() -> None:
        environ = request.environ
        g.request_id = environ.get(_ENVIRON_KEY) or policy.assign(environ)

    # First in the list: an auth check registered earlier that aborts still sees g.request_id.
    app.before_request_funcs.setdefault(None, []).insert(0, set_g_request_id)


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
