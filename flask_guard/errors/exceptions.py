"""The exceptions flask-guard raises or renders: ``ApiError``, ``CircuitOpenError``,
``GuardConfigError``, ``DeadlineExceeded``, ``BulkheadFullError``, ``UpstreamServerError``,
``FallbackExhausted``.

The session's own two, :class:`~flask_guard.TotalTimeout` and
:class:`~flask_guard.ResponseTooLarge`, subclass requests' exceptions and live in
:mod:`flask_guard.errors.upstream`, so that importing this module never imports requests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException

if TYPE_CHECKING:
    import requests

Details = Sequence[Mapping[str, object]]


class ApiError(Exception):
    """An error meant for the API client, rendered as the JSON error envelope.

    Raise it from a view, or from anything a view calls::

        raise ApiError.not_found("Order")
        raise ApiError("PAYMENT_DECLINED", "The card was declined", status=402)

    A subclass can fix its own ``code``, ``status`` and ``message``::

        class PaymentDeclined(ApiError):
            code = "PAYMENT_DECLINED"
            status = 402
            message = "The card was declined"

        raise PaymentDeclined(details=[{"reason": "insufficient_funds"}])

    :param code: a stable, machine-readable code such as ``"NOT_FOUND"``.
    :param message: a human-readable sentence for the client.
    :param status: the HTTP status, 400 to 599.
    :param details: JSON-serializable items, e.g. one per invalid field.
    :param headers: extra response headers, e.g. ``{"Retry-After": "5"}``.
    """

    code: str = "INTERNAL_SERVER_ERROR"
    status: int = 500
    message: str = "The server could not complete the request."

    def __init__(
        self,
        code: str | int | None = None,
        message: str | None = None,
        status: int | None = None,
        details: Details | Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(code, int) and not isinstance(code, bool):
            # ApiError(404, "Not found"): the status given first, as werkzeug's abort() takes it.
            if status is not None and status != code:
                raise ValueError(f"ApiError got status {code!r} as its code and {status!r}")
            status = code
            code = _code_for(status)
        if code is not None:
            self.code = _text("code", code)
        if message is not None:
            self.message = _text("message", message)
        if status is not None:
            self.status = status
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise TypeError(f"ApiError status must be a whole number 400 to 599, got {status!r}")
        if not 400 <= self.status <= 599:
            raise ValueError(f"ApiError status must be 400 to 599, got {self.status!r}")
        self.details: list[Mapping[str, object]] = _details(details)
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.code, self.message)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        """Return the error's ``code``, ``message``, ``status`` and non-empty ``details``."""
        data: dict[str, object] = {
            "code": self.code,
            "message": self.message,
            "status": self.status,
        }
        if self.details:
            data["details"] = self.details
        return data

    @classmethod
    def bad_request(
        cls, message: str = "The request is malformed.", details: Details | None = None
    ) -> Self:
        """Return a 400 ``BAD_REQUEST`` error."""
        return cls("BAD_REQUEST", message, 400, details)

    @classmethod
    def unauthorized(cls, message: str = "Authentication is required.") -> Self:
        """Return a 401 ``UNAUTHORIZED`` error."""
        return cls("UNAUTHORIZED", message, 401)

    @classmethod
    def forbidden(cls, message: str = "You are not allowed to do this.") -> Self:
        """Return a 403 ``FORBIDDEN`` error."""
        return cls("FORBIDDEN", message, 403)

    @classmethod
    def not_found(cls, resource: str = "Resource") -> Self:
        """Return a 404 ``NOT_FOUND`` error saying ``"<resource> not found"``."""
        return cls("NOT_FOUND", f"{resource} not found", 404)

    @classmethod
    def conflict(
        cls,
        message: str = "The request conflicts with the current state.",
        details: Details | None = None,
    ) -> Self:
        """Return a 409 ``CONFLICT`` error."""
        return cls("CONFLICT", message, 409, details)

    @classmethod
    def validation_error(
        cls,
        details: Details | Mapping[str, object] | None = None,
        message: str = "The request is invalid.",
    ) -> Self:
        """Return a 422 ``VALIDATION_ERROR``; ``details`` lists what is wrong, e.g.

        ``[{"field": "email", "message": "Not a valid address"}]``, or maps each field to its
        message or messages: ``{"email": ["Not a valid address"]}`` (as marshmallow's
        ``ValidationError.messages`` and pydantic-style dicts give them).
        """
        return cls("VALIDATION_ERROR", message, 422, details)

    @classmethod
    def too_many_requests(
        cls, retry_after: float | None = None, message: str = "Too many requests."
    ) -> Self:
        """Return a 429 ``TOO_MANY_REQUESTS``; ``retry_after`` seconds set ``Retry-After``."""
        return cls("TOO_MANY_REQUESTS", message, 429, headers=_retry_after(retry_after))

    @classmethod
    def service_unavailable(
        cls,
        retry_after: float | None = None,
        message: str = "The service is temporarily unavailable.",
    ) -> Self:
        """Return a 503 ``SERVICE_UNAVAILABLE``; ``retry_after`` seconds set ``Retry-After``."""
        return cls("SERVICE_UNAVAILABLE", message, 503, headers=_retry_after(retry_after))

    @classmethod
    def bad_gateway(cls, message: str = "An upstream service answered badly.") -> Self:
        """Return a 502 ``BAD_GATEWAY`` error."""
        return cls("BAD_GATEWAY", message, 502)

    @classmethod
    def gateway_timeout(cls, message: str = "An upstream service did not answer in time.") -> Self:
        """Return a 504 ``GATEWAY_TIMEOUT`` error."""
        return cls("GATEWAY_TIMEOUT", message, 504)


class CircuitOpenError(Exception):
    """Raised instead of calling the protected function while its breaker rejects calls.

    ``CircuitOpenError(name, retry_after)``; both are kept in ``args`` only, which keeps
    raising it cheap during a storm of rejected calls.
    """

    args: tuple[str, float]

    @property
    def name(self) -> str:
        """The name of the breaker that rejected the call."""
        return self.args[0]

    @property
    def retry_after(self) -> float:
        """Seconds until the breaker admits a trial call (0 if it is half-open and busy)."""
        return self.args[1]

    def __str__(self) -> str:
        return f"Circuit breaker {self.name!r} is open; retry in {self.retry_after:.1f} s"


class GuardConfigError(ValueError):
    """Raised by :meth:`~flask_guard.FlaskGuard.init_app` for an invalid ``GUARD_*`` value."""


def is_client_error(error: BaseException) -> bool:
    """Return whether ``error`` is the client's fault: an ApiError or HTTPException below 500,
    or a spent request budget (:class:`DeadlineExceeded`).

    Breakers do not count such errors and retries do not repeat them.
    """
    if isinstance(error, ApiError):
        return error.status < 500
    if isinstance(error, DeadlineExceeded):
        return True  # the request's budget ran out, through no fault of the dependency
    return isinstance(error, HTTPException) and error.code is not None and error.code < 500


def _code_for(status: int) -> str:
    """Return the code for a bare status: ``404`` -> ``"NOT_FOUND"``."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return ApiError.code
    return re.sub(r"[^A-Z0-9]+", "_", phrase.upper()).strip("_")


def _text(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"ApiError {name} must be a string, got {value!r}")


def _details(value: object) -> list[Mapping[str, object]]:
    """Return ``details`` as a list of objects.

    A mapping is read as field errors, the shape validation libraries give:
    ``{"email": "Not a valid address"}`` or ``{"email": ["Too long", "Not valid"]}``
    becomes one ``{"field": ..., "message": ...}`` item per message.
    """
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [
            {"field": str(field), "message": message}
            for field, messages in value.items()
            for message in (messages if isinstance(messages, list | tuple) else [messages])
        ]
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(
            "ApiError details must be a list of objects such as "
            f'[{{"field": "email", "message": "Not a valid address"}}], got {value!r}'
        )
    items = list(value)
    for item in items:
        if not isinstance(item, Mapping):
            raise TypeError(
                f"ApiError details must be a list of objects (dicts), got the item {item!r}"
            )
    return items


def _retry_after(seconds: float | None) -> dict[str, str] | None:
    """Return a ``Retry-After`` header of whole seconds (at least 1), or None."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds != seconds:
        raise TypeError(f"retry_after must be a number of seconds, got {seconds!r}")
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class DeadlineExceeded(TimeoutError):
    """The time budget ran out before a call could start or finish.

    Raised by :func:`~flask_guard.retry_with_backoff` and the guard's session when the
    current request's budget is spent, and by a session call that reached its
    ``total_timeout``. A view that lets it escape answers 504 ``UPSTREAM_TIMEOUT``.
    """


class BulkheadFullError(Exception):
    """A bulkhead had ``max_concurrent`` calls in flight and turned this one away.

    A view that lets it escape answers 503 ``SERVICE_UNAVAILABLE`` with ``Retry-After``.

    :ivar name: the bulkhead's name.
    :ivar max_concurrent: its limit.
    :ivar retry_after: seconds a client should wait before trying again.
    """

    def __init__(self, name: str, max_concurrent: int, retry_after: float = 1.0) -> None:
        super().__init__(f"bulkhead {name!r} is full ({max_concurrent} calls in flight)")
        self.name = name
        self.max_concurrent = max_concurrent
        self.retry_after = retry_after


class UpstreamServerError(Exception):
    """A final 5xx answer, as a session's breaker counts it; the caller still gets the response."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"{response.status_code} from {upstream_host(response.url)}")
        self.response = response


class FallbackExhausted(ExceptionGroup[Exception]):
    """Every step of a fallback chain failed.

    ``exceptions`` holds each step's error in step order, the last one last (also
    :attr:`last`); ``steps`` names the steps. A view that lets it escape answers 503
    ``SERVICE_UNAVAILABLE``, with ``Retry-After`` when an open breaker refused a step.
    """

    chain: str
    steps: tuple[str, ...]

    def __new__(cls, chain: str, steps: Sequence[str], errors: Sequence[Exception]) -> Self:
        group = super().__new__(cls, f"every step of fallback chain {chain!r} failed", errors)
        group.chain = chain
        group.steps = tuple(steps)
        return group

    def __init__(self, chain: str, steps: Sequence[str], errors: Sequence[Exception]) -> None:
        super().__init__(f"every step of fallback chain {chain!r} failed", errors)

    def derive(self, excs: Sequence[Exception]) -> ExceptionGroup[Exception]:  # type: ignore[override]
        """Return a plain group of ``excs`` (what ``except*`` splits off)."""
        return ExceptionGroup(self.message, excs)

    @property
    def last(self) -> Exception:
        """The error of the last step tried."""
        return self.exceptions[-1]

    @property
    def rejected_only(self) -> bool:
        """Whether an open breaker refused every step (no dependency was even called)."""
        return all(isinstance(error, CircuitOpenError) for error in self.exceptions)

    @property
    def retry_after(self) -> float | None:
        """Seconds until the soonest breaker that refused a step admits a trial, or None."""
        waits = [e.retry_after for e in self.exceptions if isinstance(e, CircuitOpenError)]
        return min(waits) if waits else None


def upstream_host(url: str | None) -> str:
    """Return ``host[:port]`` of ``url``: never its credentials, path or query."""
    parsed = urlsplit(url or "")
    host = parsed.hostname or "unknown"
    return f"{host}:{parsed.port}" if parsed.port else host
