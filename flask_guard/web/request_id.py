"""Request ids: accept a safe incoming id or make one, expose it, echo it, log it."""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from typing import TYPE_CHECKING, cast

from flask import Flask, current_app, has_request_context
from flask import request as flask_request
from flask.ctx import _AppCtxGlobals

from ..ids import random_hex
from ..tracing.context import UNTRUSTED_KEY, current_span_ids, record_trace_ids

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
    return random_hex(16)


def current_request_id() -> str | None:
    """Return the current request's id, or None outside a request.

    Inside a request of a guarded app the id always exists, from before Flask's
    ``request_started`` signal to the end of the response.
    """
    if not has_request_context():
        return None
    environ = flask_request.environ
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
            if not self._trust_incoming:
                environ[UNTRUSTED_KEY] = True  # nor its traceparent
        environ[ENVIRON_KEY] = request_id
        return request_id


# The id of the request the guard's middleware is passing to Flask, for the ``g`` that
# Flask makes for it (before any request context exists).
_PENDING_ID: ContextVar[str | None] = ContextVar("flask_guard.pending_request_id", default=None)


def install_request_ids(app: Flask, header: str, trust_incoming: bool) -> RequestIdPolicy:
    """Give each request of ``app`` an id in ``g.request_id``; return the policy deciding it."""
    policy = RequestIdPolicy(header, trust_incoming)
    app.extensions[_EXTENSION_KEY] = policy
    with_request_id_on_g(app)
    return policy


def with_request_id_on_g(app: Flask) -> None:
    """Make the ``g`` of each request of ``app`` carry ``request_id`` from its creation.

    Set when Flask makes ``g`` (no ``before_request`` function to run on every request:
    that costs a tenth of a plain request), it exists before Flask runs anything of the
    app's. The app's own ``app_ctx_globals_class`` is kept, as the base of ours; the
    middleware calls this again if the app replaces it later.
    """
    base = app.app_ctx_globals_class
    if not issubclass(base, _RequestIdGlobals):
        combined = type(base.__name__, (_RequestIdGlobals, base), {})
        app.app_ctx_globals_class = cast("type[_AppCtxGlobals]", combined)


class _RequestIdGlobals(_AppCtxGlobals):
    """``g`` with ``request_id``: set when made for a request, else the current id; and
    ``trace_id`` and ``span_id``, made on first use."""

    def __init__(self) -> None:
        super().__init__()
        request_id = _PENDING_ID.get()
        if request_id is not None:
            self.request_id = request_id

    def __getattr__(self, name: str) -> object:
        # An app context pushed before the request (tests) made g without an id.
        if name == "request_id":
            request_id = current_request_id()
            if request_id is not None:
                return request_id
        elif name in ("trace_id", "span_id") and (ids := current_span_ids()) is not None:
            return getattr(ids, name)
        return super().__getattr__(name)


def pending_request_id(request_id: str | None) -> object:
    """Tell the ``g`` Flask is about to make for a request its id; return a token for
    :func:`forget_pending_request_id`."""
    return _PENDING_ID.set(request_id)


def forget_pending_request_id(token: object) -> None:
    """Undo :func:`pending_request_id` once Flask is done with the request."""
    _PENDING_ID.reset(token)  # type: ignore[arg-type]


def log_request_id() -> str:
    """Return the request id for a log record made now: the current request's, or ``-``.

    The id the guard's middleware is passing to Flask comes first: one lookup, and it also
    covers what runs between the middleware and Flask (an exception escaping Flask's
    handling), where there is no request context.
    """
    return _PENDING_ID.get() or current_request_id() or "-"


class RequestIdFilter(logging.Filter):
    """Put ``request_id``, ``trace_id`` and ``span_id`` on every record it sees: the current
    ones, or ``-`` outside a request.

    Records made once a guard is set up carry the ids already (see
    :mod:`flask_guard.logs.record_ids`); the filter covers those made otherwise (before the
    guard was set up, or rebuilt from a dict with :func:`logging.makeLogRecord`). Attach it
    to your handlers so that ``%(request_id)s`` and ``%(trace_id)s`` work in any format::

        handler.addFilter(RequestIdFilter())

    Ids the caller passed through ``extra=`` are kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the ids to ``record``; never drop it."""
        if not hasattr(record, "request_id"):
            record.request_id = log_request_id()
        record.trace_id, record.span_id = record_trace_ids(record)
        return True
