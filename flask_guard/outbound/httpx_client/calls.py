"""One call through the guarded httpx client: its deadline, and where it started."""

from __future__ import annotations

import time
from contextvars import ContextVar

import httpx

from ...errors.exceptions import DeadlineExceeded
from ...errors.httpx_upstream import HttpxTotalTimeout


class HttpxCall:
    """One call, redirects and retries included, and its deadline."""

    __slots__ = ("budgeted", "by_client", "deadline", "origin", "streamed")

    def __init__(
        self, deadline: float, budgeted: bool, by_client: bool, streamed: bool = False
    ) -> None:
        self.deadline = deadline
        #: Whether the caller reads the body: the deadline then ends with the headers.
        self.streamed = streamed
        #: Whether the request has a budget: the time left then goes downstream.
        self.budgeted = budgeted
        #: Whether the deadline is the client's budget, shorter than the call's own limit.
        self.by_client = by_client
        #: The URL of the first hop; a redirect to another origin loses secret headers.
        self.origin: httpx.URL | None = None

    def left(self) -> float:
        """Return the seconds until the deadline (negative once it passed)."""
        return self.deadline - time.monotonic()

    def late(self, request: httpx.Request) -> Exception:
        """Return the error for a call that reached its deadline: :class:`DeadlineExceeded`
        when the client's budget cut it short (not the upstream's fault), else
        :class:`HttpxTotalTimeout`."""
        if self.by_client:
            return DeadlineExceeded("the request's time budget, set by the client, ran out")
        return HttpxTotalTimeout("the call ran past its deadline", request=request)


#: The call under way in this task, if any.
CURRENT_CALL: ContextVar[HttpxCall | None] = ContextVar("flask_guard.httpx_call", default=None)
