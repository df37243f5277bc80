"""Stale-if-error for the guard's session (RFC 5861): a GET that fails gets the last good
response, for as long as the upstream allowed, unless it is made while the app answers a
request with an unsafe method (a POST acting on stale prices could do harm).

An upstream says how long in ``Cache-Control: stale-if-error=N`` (seconds after the
response stops being fresh, which ``max-age`` says, 0 without it); ``GUARD_HTTP_STALE_IF_ERROR``
set to a number of seconds also covers responses that say nothing. Only 200 answers to GET
requests without ``Authorization`` or ``Cookie`` are kept (the session is shared by every
user of the app: a response meant for one user must never reach another), and never those
marked ``no-store`` or ``private``, those setting a cookie or varying on anything but
``Accept-Encoding``, or bodies over :data:`MAX_BODY_BYTES` (:data:`MAX_TOTAL_BYTES` in
all). "Failure" is what RFC 5861 says: the upstream could not be reached or answered in
time (an open breaker or a full bulkhead included), or it answered 500, 502, 503 or 504.
At most ``max_entries`` URLs are kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..compat.requests import body_was_read, set_content
from ..errors.exceptions import BulkheadFullError, CircuitOpenError, upstream_host
from ..logs.error_lines import describe
from ..signals import send_safely, stale_served
from .marking import mark_degraded
from .stale import Bounded, unsafe_request

if TYPE_CHECKING:
    import requests

_log = logging.getLogger(__name__)

#: Bodies longer than this are not kept.
MAX_BODY_BYTES = 1 << 20
#: Bytes of bodies kept in all, at most (the oldest kept go first).
MAX_TOTAL_BYTES = 32 << 20
#: Answers that let a kept response stand in (RFC 5861, section 4).
ERROR_STATUSES = frozenset({500, 502, 503, 504})
#: The step name of an answer served stale, in ``X-Degraded: upstream=stale``.
MARK_NAME = "upstream"


class KeptResponse:
    """What is kept of a good response: enough to rebuild it."""

    __slots__ = ("content", "encoding", "headers", "kept_at", "reason", "url", "usable_until")

    def __init__(self, response: requests.Response, kept_at: float, usable_for: float) -> None:
        self.content: bytes = response.content
        self.encoding = response.encoding
        self.headers = dict(response.headers)
        self.reason = response.reason
        self.url = response.url
        self.kept_at = kept_at
        self.usable_until = kept_at + usable_for


class HttpStale:
    """Keep good GET responses and answer with them while the upstream fails.

    :param default: seconds of stale-if-error for responses that carry no directive, or
        None to honour only what the upstream says.
    :param max_entries: URLs kept, at most.
    """

    def __init__(
        self, default: float | None, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.default = default
        self._kept: Bounded[KeptResponse] = Bounded(
            max_entries, lambda kept: len(kept.content), MAX_TOTAL_BYTES
        )
        self._clock = clock
        self.served_stale = 0

    def __len__(self) -> int:
        return len(self._kept)

    def send(
        self, request: requests.PreparedRequest, send: Callable[[], requests.Response]
    ) -> requests.Response:
        """Return ``send()``, or the kept response of ``request`` if it fails."""
        if request.method != "GET" or _personal(request.headers) or unsafe_request():
            return send()
        import requests

        url = request.url or ""
        try:
            response = send()
        except (
            requests.ConnectionError,
            requests.Timeout,
            CircuitOpenError,
            BulkheadFullError,
        ) as error:
            stale = self._stale(request, url, describe(error), error)
            if stale is None:
                raise
            return stale
        if response.status_code in ERROR_STATUSES:
            stale = self._stale(request, url, f"it answered {response.status_code}", None)
            if stale is None:
                return response
            response.close()
            return stale
        if response.status_code == 200:
            self._keep(url, response)
        return response

    def _keep(self, url: str, response: requests.Response) -> None:
        directives = _cache_control(response.headers.get("Cache-Control", ""))
        if "no-store" in directives or "private" in directives or not _shareable(response):
            self._kept.drop(url)
            return
        window = _seconds(directives.get("stale-if-error"))
        if window is None:
            window = self.default
        if not window:
            return
        if not body_was_read(response) or len(response.content) > MAX_BODY_BYTES:
            return
        fresh = _seconds(directives.get("max-age")) or 0.0
        self._kept.keep(url, KeptResponse(response, self._clock(), fresh + window))

    def _stale(
        self,
        request: requests.PreparedRequest,
        url: str,
        cause: str,
        error: Exception | None,
    ) -> requests.Response | None:
        kept = self._kept.get(url)
        now = self._clock()
        if kept is None or now > kept.usable_until:
            return None
        age = now - kept.kept_at
        self.served_stale += 1
        _log.warning(
            "GET %s failed (%s); answered with the response kept %.0f s ago (stale-if-error)",
            upstream_host(url),
            cause,
            age,
        )
        mark_degraded(
            MARK_NAME, "stale", "stale", f"GET {upstream_host(url)}: stale, {age:.0f} s old"
        )
        send_safely(stale_served, self, age=age, exception=error)
        return _rebuilt(kept, request, age)


def _rebuilt(
    kept: KeptResponse, request: requests.PreparedRequest, age: float
) -> requests.Response:
    import requests
    from requests.structures import CaseInsensitiveDict

    response = requests.Response()
    response.status_code = 200
    response.reason = kept.reason
    response.headers = CaseInsensitiveDict(kept.headers)
    response.headers["Age"] = str(int(age))
    response.headers["Warning"] = '110 - "Response is Stale"'
    set_content(response, kept.content)
    response.encoding = kept.encoding
    response.url = kept.url
    response.request = request
    return response


def _personal(headers: object) -> bool:
    """Return whether a request carries a user's credentials (never answer it from another's)."""
    return any(name in headers for name in ("Authorization", "Cookie", "Proxy-Authorization"))  # type: ignore[operator]


def _shareable(response: requests.Response) -> bool:
    vary = {v.strip().lower() for v in response.headers.get("Vary", "").split(",") if v.strip()}
    return "set-cookie" not in response.headers and vary <= {"accept-encoding"}


def _cache_control(value: str) -> dict[str, str | None]:
    directives: dict[str, str | None] = {}
    for part in value.split(","):
        name, sep, argument = part.strip().partition("=")
        if name:
            directives[name.strip().lower()] = argument.strip().strip('"') if sep else None
    return directives


def _seconds(value: str | None) -> float | None:
    """Return a delta-seconds value (RFC 9111), or None if absent or malformed."""
    if value is None or not value.isdigit():
        return None
    return float(min(int(value), 2**31))
