"""Request budgets: how long the current request may still spend on the calls it makes.

A request's deadline comes from ``GUARD_REQUEST_TIMEOUT``, narrowed by an incoming
``X-Request-Timeout`` header when incoming ids are trusted. It lives in a context variable,
so it follows the request into plain functions and async views, and costs one lookup to read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from flask import Flask

from ..errors.exceptions import DeadlineExceeded

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The header that carries a budget in seconds, in and out.
REQUEST_TIMEOUT_HEADER = "X-Request-Timeout"
#: Plain decimal seconds only: no sign, exponent, NaN or infinity, at most 6 + 6 digits.
_SECONDS = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")
_ENVIRON_HEADER = "HTTP_X_REQUEST_TIMEOUT"
#: The longest budget accepted, in seconds: a day.
MAX_BUDGET = 86_400.0

_deadline: ContextVar[float | None] = ContextVar("flask_guard.deadline", default=None)
# Whether the client's header set the budget: a call it cuts short is not the dependency's
# fault, and must not count toward a breaker (a client could open breakers with it).
_set_by_client: ContextVar[bool] = ContextVar("flask_guard.budget_by_client", default=False)


def current_deadline() -> float | None:
    """Return when the current request's budget ends (a :func:`time.monotonic` time), or None.

    None outside a request, and inside one that has no budget.
    """
    return _deadline.get()


def time_left() -> float | None:
    """Return the seconds left in the current request's budget (0 when spent), or None.

    Give it to clients the guard does not wrap, such as a database driver or gRPC::

        cursor.execute(query, timeout=time_left())
    """
    deadline = _deadline.get()
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


def budget_set_by_client() -> bool:
    """Return whether the current budget is the one the client asked for in its header."""
    return _set_by_client.get()


def check_time_left(what: str) -> float | None:
    """Return :func:`time_left`; raise :class:`DeadlineExceeded` if the budget is spent.

    :param what: the call that could not start, for the exception's message.
    """
    left = time_left()
    if left is not None and left <= 0:
        raise DeadlineExceeded(f"the request's time budget ran out before {what}")
    return left


@contextmanager
def budget(seconds: float | None) -> Iterator[None]:
    """Run the block with a budget of ``seconds`` (never longer than the current one)."""
    if seconds is None:
        yield
        return
    deadline = time.monotonic() + seconds
    current = _deadline.get()
    token = _deadline.set(deadline if current is None else min(current, deadline))
    try:
        yield
    finally:
        _deadline.reset(token)


def parse_request_timeout(value: str | None) -> float | None:
    """Return the seconds an ``X-Request-Timeout`` value asks for, or None when unusable.

    Unusable: absent, not plain decimal seconds (signs, exponents, NaN and infinity
    included), zero, or more than a day.
    """
    if value is None or _SECONDS.fullmatch(value) is None:
        return None
    seconds = float(value)
    return seconds if 0 < seconds <= MAX_BUDGET else None


class RequestBudget:
    """Wrap ``wsgi_app`` so each request runs with its budget set.

    :param default: ``GUARD_REQUEST_TIMEOUT`` seconds, or None for no budget by default.
    :param trust_incoming: honour an incoming ``X-Request-Timeout`` that narrows it.
    """

    def __init__(
        self, wsgi_app: WSGIApplication, default: float | None, trust_incoming: bool
    ) -> None:
        self._wsgi_app = wsgi_app
        self._default = default
        self._trust_incoming = trust_incoming

    def seconds_for(self, environ: WSGIEnvironment) -> tuple[float | None, bool]:
        """Return the budget of the request ``environ`` describes, and whether the client's
        header set it."""
        asked = (
            parse_request_timeout(environ.get(_ENVIRON_HEADER)) if self._trust_incoming else None
        )
        if asked is None or (self._default is not None and asked >= self._default):
            return self._default, False
        return asked, True

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._default is None and _ENVIRON_HEADER not in environ:
            return self._wsgi_app(environ, start_response)  # most requests: no budget at all
        seconds, by_client = self.seconds_for(environ)
        if seconds is None:
            return self._wsgi_app(environ, start_response)
        token = _deadline.set(time.monotonic() + seconds)
        client_token = _set_by_client.set(by_client)
        try:
            return self._wsgi_app(environ, start_response)
        finally:
            _set_by_client.reset(client_token)
            _deadline.reset(token)


def install_request_budget(app: Flask, default: float | None, trust_incoming: bool) -> None:
    """Give each request of ``app`` its budget (see :class:`RequestBudget`)."""
    app.wsgi_app = RequestBudget(  # type: ignore[method-assign]
        app.wsgi_app, default, trust_incoming
    )
