"""What the client is told about an error: its status, code and message, decided from the
exception alone (no request, no app: what they decide is passed in)."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING

from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError

from .exceptions import (
    ApiError,
    BulkheadFullError,
    CircuitOpenError,
    DeadlineExceeded,
    FallbackExhausted,
    UpstreamServerError,
    upstream_host,
)

if TYPE_CHECKING:
    import requests

INTERNAL_ERROR_CODE = "INTERNAL_SERVER_ERROR"
INTERNAL_ERROR_MESSAGE = (
    "The server could not complete the request. Quote the error id when you report it."
)
MALFORMED_JSON_MESSAGE = "The request body is not valid JSON."
CIRCUIT_OPEN_MESSAGE = "A service this request depends on is temporarily unavailable."
UPSTREAM_UNAVAILABLE_MESSAGE = "A service this request depends on could not be reached."
UPSTREAM_TIMEOUT_MESSAGE = "A service this request depends on did not answer in time."
BAD_GATEWAY_MESSAGE = "A service this request depends on answered with an error."
BULKHEAD_FULL_MESSAGE = "Too many requests are waiting on a service this request depends on."


@dataclass(frozen=True, slots=True)
class ErrorReport:
    """What the client is told about one error, before it is given an id."""

    status: int
    code: str
    message: str
    details: Sequence[Mapping[str, object]] = ()
    headers: Sequence[tuple[str, str]] = ()
    internal_details: Sequence[Mapping[str, object]] = ()
    """Names of breakers and upstream hosts, for logs and Sentry; in ``details`` only when
    ``GUARD_EXPOSE_UPSTREAM_NAMES`` is on."""


INTERNAL_ERROR = ErrorReport(500, INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE)


def report_for(error: Exception, expose_names: bool = False) -> ErrorReport:
    """Describe ``error`` for the client without revealing anything about its internals.

    Breaker and upstream host names are in ``details`` only with ``expose_names``
    (``GUARD_EXPOSE_UPSTREAM_NAMES``); they are always in ``internal_details``.
    """
    if isinstance(error, ApiError):
        return ErrorReport(
            error.status, error.code, error.message, error.details, tuple(error.headers.items())
        )
    if isinstance(error, CircuitOpenError):
        names = ({"breaker": error.name},)
        return ErrorReport(
            503,
            "SERVICE_UNAVAILABLE",
            CIRCUIT_OPEN_MESSAGE,
            details=names if expose_names else (),
            headers=(("Retry-After", str(max(1, math.ceil(error.retry_after)))),),
            internal_details=names,
        )
    if isinstance(error, BulkheadFullError):
        return ErrorReport(
            503,
            "SERVICE_UNAVAILABLE",
            BULKHEAD_FULL_MESSAGE,
            headers=(("Retry-After", str(max(1, math.ceil(error.retry_after)))),),
        )
    if isinstance(error, DeadlineExceeded):
        return ErrorReport(504, "UPSTREAM_TIMEOUT", UPSTREAM_TIMEOUT_MESSAGE)
    if isinstance(error, FallbackExhausted):
        wait = error.retry_after
        retry = () if wait is None else (("Retry-After", str(max(1, math.ceil(wait)))),)
        return ErrorReport(503, "SERVICE_UNAVAILABLE", CIRCUIT_OPEN_MESSAGE, headers=retry)
    if isinstance(error, InternalServerError) and error.original_exception is not None:
        return INTERNAL_ERROR
    if isinstance(error, HTTPException) and error.code is not None:
        return _report_for_http(error, error.code)
    # Until a session is built requests is not imported, and no error can be one of its.
    requests = sys.modules.get("requests")
    if requests is not None and isinstance(error, requests.RequestException):
        return _report_for_upstream(error, expose_names)
    httpx = sys.modules.get("httpx")  # loaded only by the httpx client's extra
    if httpx is not None and isinstance(error, httpx.HTTPError):
        return _report_for_httpx(error, expose_names)
    if isinstance(error, UpstreamServerError):
        names = ({"upstream": upstream_host(error.response.url)},)
        shown = names if expose_names else ()
        return ErrorReport(502, "BAD_GATEWAY", BAD_GATEWAY_MESSAGE, shown, (), names)
    return INTERNAL_ERROR


def is_expected(error: BaseException) -> bool:
    """Return whether ``error`` is a failure the app meant or foresaw (an ``ApiError``, an
    HTTP error, an open breaker, an upstream down, slow or failing), not a bug."""
    return isinstance(error, Exception) and report_for(error) is not INTERNAL_ERROR


def is_upstream_failure(error: BaseException) -> bool:
    """Return whether ``error`` is an outgoing call that failed (down, slow, 5xx, redirect
    loop), as opposed to a refusal the guard decided itself."""
    if isinstance(error, UpstreamServerError):
        return True
    requests = sys.modules.get("requests")
    if requests is not None and isinstance(error, requests.RequestException):
        return True
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(error, httpx.HTTPError)


def _report_for_upstream(error: requests.RequestException, expose_names: bool) -> ErrorReport:
    """Describe a failed outgoing call by the upstream's host, never its full URL."""
    import requests

    from .upstream import ResponseTooLarge

    request = error.request
    response = error.response
    url = getattr(request, "url", None) or getattr(response, "url", None)
    names = ({"upstream": upstream_host(url)},)
    details = names if expose_names else ()
    if isinstance(error, requests.Timeout):  # before ConnectionError: ConnectTimeout is both
        return ErrorReport(504, "UPSTREAM_TIMEOUT", UPSTREAM_TIMEOUT_MESSAGE, details, (), names)
    if isinstance(error, requests.ConnectionError):
        return ErrorReport(
            503, "UPSTREAM_UNAVAILABLE", UPSTREAM_UNAVAILABLE_MESSAGE, details, (), names
        )
    # A redirect loop, a body cut or undecodable after the headers, a body over the limit.
    broken = requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    if isinstance(error, requests.TooManyRedirects | ResponseTooLarge | broken):
        return ErrorReport(502, "BAD_GATEWAY", BAD_GATEWAY_MESSAGE, details, (), names)
    if (
        isinstance(error, requests.HTTPError)
        and response is not None
        and response.status_code >= 500
    ):
        return ErrorReport(502, "BAD_GATEWAY", BAD_GATEWAY_MESSAGE, details, (), names)
    return INTERNAL_ERROR


def _report_for_httpx(error: Exception, expose_names: bool) -> ErrorReport:
    """Describe a failed call of the httpx client as the session's would be described."""
    import httpx

    from .httpx_upstream import HttpxResponseTooLarge

    try:
        url = str(error.request.url)  # type: ignore[attr-defined]
    except RuntimeError:  # an error raised before it had a request
        url = None
    names = ({"upstream": upstream_host(url)},)
    details = names if expose_names else ()
    if isinstance(error, httpx.TimeoutException):
        return ErrorReport(504, "UPSTREAM_TIMEOUT", UPSTREAM_TIMEOUT_MESSAGE, details, (), names)
    if isinstance(error, httpx.NetworkError | httpx.ProxyError):
        return ErrorReport(
            503, "UPSTREAM_UNAVAILABLE", UPSTREAM_UNAVAILABLE_MESSAGE, details, (), names
        )
    # A redirect loop, a broken or undecodable answer, a body over the size limit, a 5xx.
    bad = (
        httpx.RemoteProtocolError
        | httpx.TooManyRedirects
        | httpx.DecodingError
        | HttpxResponseTooLarge
    )
    if isinstance(error, bad) or (
        isinstance(error, httpx.HTTPStatusError) and error.response.status_code >= 500
    ):
        return ErrorReport(502, "BAD_GATEWAY", BAD_GATEWAY_MESSAGE, details, (), names)
    return INTERNAL_ERROR


def _report_for_http(error: HTTPException, status: int) -> ErrorReport:
    headers = tuple(
        (name, value) for name, value in error.get_headers() if name.lower() != "content-type"
    )
    message = error.description or phrase(status)
    if isinstance(error, BadRequest) and _caused_by_undecodable_body(error):
        message = MALFORMED_JSON_MESSAGE
    return ErrorReport(status, http_error_code(error), message, headers=headers)


def http_error_code(error: HTTPException) -> str:
    """Return the envelope code for a werkzeug exception: ``"Not Found"`` -> ``"NOT_FOUND"``."""
    return re.sub(r"[^A-Z0-9]+", "_", error.name.upper().replace("'", "")).strip("_")


def _caused_by_undecodable_body(error: BadRequest) -> bool:
    """Return whether ``error`` is Flask's answer to a body ``get_json()`` could not decode.

    Werkzeug raises it with this description; outside debug mode Flask raises a plain
    ``BadRequest`` from it. A ``BadRequest`` the application raised is left alone.
    """
    for candidate in (error, error.__cause__):
        if isinstance(candidate, BadRequest) and str(candidate.description).startswith(
            "Failed to decode JSON object"
        ):
            return True
    return False


def phrase(status: int) -> str:
    """Return the reason phrase of ``status``, or ``"Error"`` for an unknown one."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
