"""The guard's WSGI middleware: what must happen around Flask, not inside it.

It gives each request its id before Flask runs anything, completes every response's
headers (the request id once, the error id of an error response the app built, the
``X-Degraded`` mark of a degraded answer, CORS exposure of them), answers an exception
that escaped Flask's handling while the response has not started, reports a streamed body
that fails midway, and gives each request a Sentry scope of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..degrade.marking import DEGRADED_HEADER, degraded_header
from ..errors.record import STATUS_REPORT_KEY
from ..sentry.setup import enter_request_scope
from ..tracing.context import TRACEPARENT_KEY, TRACERESPONSE_HEADER, trace_response
from .handlers import ERROR_ID_HEADER, ErrorResponder
from .request_body import guard_request_body
from .request_id import (
    ENVIRON_KEY,
    RequestIdPolicy,
    forget_pending_request_id,
    pending_request_id,
    with_request_id_on_g,
)

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

_ALLOW_ORIGIN = "access-control-allow-origin"
_EXPOSE = "access-control-expose-headers"
_ERROR_ID = ERROR_ID_HEADER.lower()
_SENT = object()

Write = Callable[[bytes], object]


class GuardMiddleware:
    """Wrap a Flask app's ``wsgi_app`` (see the module docstring)."""

    def __init__(
        self,
        app: Flask,
        wsgi_app: WSGIApplication,
        policy: RequestIdPolicy,
        responder: ErrorResponder,
    ) -> None:
        self._app = app
        self._globals_class = app.app_ctx_globals_class
        self._wsgi_app = wsgi_app
        self._policy = policy
        self._responder = responder
        self._header = policy.header
        self._header_lower = policy.header.lower()
        self._exposed = (policy.header, ERROR_ID_HEADER)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = self._policy.assign(environ)
        guard_request_body(environ)
        # The app's status and headers are held back until it returns, so that an exception
        # escaping Flask after them (a teardown function raising) can still replace them.
        held: list[Any] = []

        def start(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Write:
            streamed = self.complete(environ, status, headers)
            if held and held[0] is _SENT:  # an app that starts lazily, from its body iterator
                return start_response(status, headers, exc_info)
            held[:] = (status, headers, streamed)

            def write(data: bytes) -> object:  # the legacy write callable starts the response
                if held[0] is not _SENT:
                    held[:] = (_SENT, start_response(held[0], held[1]), False)
                return held[1](data)

            return write

        scoped = enter_request_scope()
        if self._app.app_ctx_globals_class is not self._globals_class:
            with_request_id_on_g(self._app)  # the app replaced it after init_app
            self._globals_class = self._app.app_ctx_globals_class
        token = pending_request_id(request_id)
        try:
            body = self._wsgi_app(environ, start)
        except Exception as error:
            if self._responder.propagates:
                self._responder.propagated(environ, error)
                raise
            if held and held[0] is _SENT:
                raise
            status, headers, page = self._responder.escaped(environ, error)
            headers.append((self._header, request_id))
            start_response(status, headers)
            return page
        finally:
            forget_pending_request_id(token)
        if not held:
            held.append(_SENT)
            return body
        if held[0] is _SENT:
            return body
        start_response(held[0], held[1])
        if held[2]:
            return _WatchedBody(body, self._responder, environ, scoped)
        return body

    def complete(
        self, environ: WSGIEnvironment, status: str, headers: list[tuple[str, str]]
    ) -> bool:
        """Complete the headers of a response; return whether its body may be streamed."""
        own_id = cors = sized = has_error_id = False
        for name, _ in headers:
            lowered = name.lower()
            if lowered == "content-length":
                sized = True
            elif lowered == self._header_lower:
                own_id = True
            elif lowered == _ALLOW_ORIGIN:
                cors = True
            elif lowered == _ERROR_ID:
                has_error_id = True
        if not own_id:
            headers.append((self._header, environ[ENVIRON_KEY]))
        traced = TRACEPARENT_KEY in environ  # a caller taking part in a trace learns who answered
        if traced:
            headers.append((TRACERESPONSE_HEADER, trace_response(environ)))
        if status[0] >= "4" and not has_error_id and STATUS_REPORT_KEY not in environ:
            self._responder.finish(environ, int(status[:3]), headers)
        # An error is not a degraded answer, whatever fell back before it.
        degraded = degraded_header(environ) if status[0] < "4" else None
        if degraded is not None:
            headers.append((DEGRADED_HEADER, degraded))
        if cors:
            also = (DEGRADED_HEADER,) if degraded is not None else ()
            self._expose_ids(headers, (*also, TRACERESPONSE_HEADER) if traced else also)
        return not sized

    def _expose_ids(self, headers: list[tuple[str, str]], also: tuple[str, ...]) -> None:
        exposed = (*self._exposed, *also)
        for index, (name, value) in enumerate(headers):
            if name.lower() == _EXPOSE:
                present = {item.strip().lower() for item in value.split(",")}
                missing = [n for n in exposed if n.lower() not in present]
                if missing:
                    headers[index] = (name, ", ".join([value, *missing]))
                return
        headers.append(("Access-Control-Expose-Headers", ", ".join(exposed)))


class _WatchedBody:
    """A streamed body that reports an exception raised while it is sent."""

    def __init__(
        self,
        body: Iterable[bytes],
        responder: ErrorResponder,
        environ: WSGIEnvironment,
        scoped: bool,
    ) -> None:
        self._body = body
        self._responder = responder
        self._environ = environ
        self._scoped = scoped

    def __iter__(self) -> Iterator[bytes]:
        if self._scoped:  # the server may send it after other requests ran on the thread
            enter_request_scope()
        try:
            yield from self._body
        except Exception as error:
            self._responder.stream_failed(self._environ, error)
            raise

    def close(self) -> None:
        """Close the app's body, as the server closes ours."""
        close = getattr(self._body, "close", None)
        if close is not None:
            close()
