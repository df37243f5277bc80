"""What the guard knows of the error a request ran into, kept in that request's WSGI environ."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from types import TracebackType

from ..ids import random_hex

# The environ belongs to exactly one request, so the record cannot leak into another one.
_ENVIRON_KEY = "flask_guard.error"

#: Set in a request's environ by a view whose 4xx/5xx reports a status rather than an error
#: (``/health`` answering 503 to a load balancer every few seconds during an outage): it gets
#: no error id and no log line.
STATUS_REPORT_KEY = "flask_guard.status_report"


def new_error_id() -> str:
    """Return a new error id: 32 lowercase hex characters."""
    return random_hex(16)


@dataclass(slots=True)
class RequestError:
    """The error of one request: its cause, its id, and whether it was logged and reported.

    Each is done once, by whichever step of Flask's handling sees the error first.
    """

    cause: BaseException | None = None
    error_id: str | None = None
    logged: bool = False
    captured: bool = False
    traceback: TracebackType | None = None
    """The cause's traceback where it was raised, before the guard handed it back to Flask."""

    def blame(self, cause: BaseException) -> None:
        """Make ``cause`` the request's error, unless it is already: no id, not yet logged or
        reported."""
        if self.cause is not cause:
            self.cause, self.error_id, self.logged, self.captured = cause, None, False, False

    def assign_id(self) -> str:
        """Return the error id, giving the error one if it has none yet."""
        if self.error_id is None:
            self.error_id = new_error_id()
        return self.error_id


def request_error(environ: MutableMapping[str, object]) -> RequestError:
    """Return the error record of the request ``environ`` describes, creating it."""
    record = environ.get(_ENVIRON_KEY)
    if not isinstance(record, RequestError):
        record = RequestError()
        environ[_ENVIRON_KEY] = record
    return record


def known_error(environ: MutableMapping[str, object]) -> RequestError | None:
    """Return the error record of the request, or None if it ran into no error."""
    record = environ.get(_ENVIRON_KEY)
    return record if isinstance(record, RequestError) else None
