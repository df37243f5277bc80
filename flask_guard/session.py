"""``robust_session``: a ``requests.Session`` with urllib3 retries, timeouts and a breaker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, MaxRetryError, ReadTimeoutError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from .breaker import CircuitBreaker
from .request_id import current_request_id

#: Methods retried by default: the idempotent ones. POST and PATCH only when asked.
DEFAULT_ALLOWED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: Statuses retried by default.
DEFAULT_STATUS_FORCELIST = (429, 500, 502, 503, 504)

Timeout = float | tuple[float, float]
BreakerOption = CircuitBreaker | Literal["per-host"] | None


class UpstreamServerError(Exception):
    """A final 5xx answer, as a session's breaker counts it; the caller still gets the response."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"{response.status_code} from {upstream_host(response.url)}")
        self.response = response


def upstream_host(url: str | None) -> str:
    """Return ``host[:port]`` of ``url``: never its credentials, path or query."""
    parsed = urlsplit(url or "")
    host = parsed.hostname or "unknown"
    return f"{host}:{parsed.port}" if parsed.port else host


class GuardRetry(Retry):
    """urllib3's ``Retry``, safe against hostile ``Retry-After`` headers.

    A ``Retry-After`` longer than ``max_retry_after`` is not waited for: the 429/503 response
    goes back to the caller at once. A malformed one is treated as absent (normal backoff).
    """

    def __init__(self, *args: Any, max_retry_after: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_retry_after = max_retry_after

    def new(self, **kw: Any) -> GuardRetry:
        """Return a copy with ``kw`` changed, keeping ``max_retry_after``."""
        kw.setdefault("max_retry_after", self.max_retry_after)
        return super().new(**kw)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        """Return the ``Retry-After`` seconds, or None when absent or malformed."""
        try:
            return super().get_retry_after(response)
        except InvalidHeader:
            return None

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> GuardRetry:
        """Count a retry, refusing one that would wait longer than ``max_retry_after``."""
        if response is not None and self.respect_retry_after_header:
            retry_after = self.get_retry_after(response)
            if retry_after is not None and retry_after > self.max_retry_after:
                reason = ResponseError(
                    f"Retry-After of {retry_after:.0f} s exceeds max_retry_after"
                )
                raise MaxRetryError(_pool, url or "", reason)
        return super().increment(method, url, response, error, _pool, _stacktrace)


class GuardedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` with a default timeout, an optional breaker and request ids.

    :ivar breakers: the per-host breakers made so far, by ``host[:port]``.
    """

    def __init__(
        self,
        retry: GuardRetry,
        timeout: Timeout,
        pool_maxsize: int,
        breaker: BreakerOption,
        request_id_header: str | None = None,
    ) -> None:
        super().__init__(pool_maxsize=pool_maxsize, max_retries=retry, pool_block=False)
        self.timeout = timeout
        self.breakers: dict[str, CircuitBreaker] = {}
        self._breaker = breaker
        self._request_id_header = request_id_header
        self._lock = threading.Lock()

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, timeout: Any = None, **kwargs: Any
    ) -> requests.Response:
        """Send ``request`` with the default timeout if it has none, through the breaker."""
        timeout = self.timeout if timeout is None else timeout
        if self._request_id_header and self._request_id_header not in request.headers:
            request_id = current_request_id()
            if request_id is not None:
                request.headers[self._request_id_header] = request_id
        breaker = self._breaker_for(request.url)
        if breaker is None:
            return self._send(request, timeout, kwargs)
        try:
            return breaker.call(self._send_counting_5xx, request, timeout, kwargs)
        except UpstreamServerError as failed:
            return failed.response

    def _send_counting_5xx(
        self, request: requests.PreparedRequest, timeout: Any, kwargs: Mapping[str, Any]
    ) -> requests.Response:
        response = self._send(request, timeout, kwargs)
        if response.status_code >= 500:
            raise UpstreamServerError(response)
        return response

    def _send(
        self, request: requests.PreparedRequest, timeout: Any, kwargs: Mapping[str, Any]
    ) -> requests.Response:
        try:
            return super().send(request, timeout=timeout, **kwargs)
        except requests.ConnectionError as error:
            # Read timeouts that used up the retries reach requests wrapped in a
            # MaxRetryError, which it reports as a ConnectionError; say what happened.
            cause = error.args[0] if error.args else None
            if isinstance(getattr(cause, "reason", None), ReadTimeoutError):
                raise requests.ReadTimeout(cause, request=request) from error
            raise

    def _breaker_for(self, url: str | None) -> CircuitBreaker | None:
        if not isinstance(self._breaker, str):
            return self._breaker
        host = upstream_host(url)
        breaker = self.breakers.get(host)
        if breaker is None:
            with self._lock:
                breaker = self.breakers.setdefault(host, _host_breaker(host))
        return breaker


def _host_breaker(host: str) -> CircuitBreaker:
    """Return a breaker counting what says a host is unavailable: no connection, no answer
    in time, or a final 5xx."""
    failures = (requests.ConnectionError, requests.Timeout, UpstreamServerError)
    return CircuitBreaker(host, failure_on=failures)


def robust_session(
    retries: int = 3,
    backoff_factor: float = 0.5,
    status_forcelist: Collection[int] = DEFAULT_STATUS_FORCELIST,
    allowed_methods: Collection[str] = DEFAULT_ALLOWED_METHODS,
    timeout: Timeout = (3.05, 10.0),
    pool_maxsize: int = 10,
    breaker: BreakerOption = None,
    max_retry_after: float = 10.0,
    *,
    request_id_header: str | None = None,
) -> requests.Session:
    """Return a ``requests.Session`` that retries, times out and fails fast.

    * urllib3's :class:`~urllib3.util.Retry` is mounted for http and https: ``retries``
      retries with exponential ``backoff_factor`` backoff, for connection errors (any method:
      the request never left), read errors and ``status_forcelist`` statuses (only
      ``allowed_methods``, the idempotent ones by default; POST and PATCH are not retried
      unless listed). ``Retry-After`` is honoured, up to ``max_retry_after`` seconds: a longer
      one is not waited for and the response goes back at once; a malformed one means normal
      backoff. The last response is returned, never a ``MaxRetryError`` for a status.
    * ``timeout`` (seconds, or ``(connect, read)``) applies to every request that passes
      none; requests itself has no default.
    * ``pool_maxsize`` connections are kept per host, for threaded servers; a request never
      waits for a free connection.
    * ``breaker``: a :class:`CircuitBreaker`, or ``"per-host"`` for one per ``host:port``
      (see ``session.get_adapter(url).breakers``). Connection errors, timeouts and final 5xx
      count as its failures, and an open breaker raises
      :class:`~flask_guard.CircuitOpenError` before any connection is made. Give it no
      ``fallback``: the session must return responses.
    * ``request_id_header``: send the current request's id in this header (``guard.session``
      does).
    """
    _check_options(
        retries=retries,
        backoff_factor=backoff_factor,
        timeout=timeout,
        pool_maxsize=pool_maxsize,
        max_retry_after=max_retry_after,
    )
    retry = GuardRetry(
        total=retries,
        backoff_factor=backoff_factor,
        status_forcelist=frozenset(status_forcelist),
        allowed_methods=frozenset(method.upper() for method in allowed_methods),
        respect_retry_after_header=True,
        raise_on_status=False,
        max_retry_after=max_retry_after,
    )
    adapter = GuardedAdapter(retry, timeout, pool_maxsize, breaker, request_id_header)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def shared_session(**options: Any) -> requests.Session:
    """Return a :func:`robust_session` that many users' requests may share: no cookies kept."""
    session = robust_session(**options)
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


def _check_options(**options: object) -> None:
    """Raise ``ValueError`` naming the first invalid :func:`robust_session` argument."""
    for name, value in options.items():
        valid, allowed = SESSION_OPTION_RULES[name]
        if not valid(value):
            raise ValueError(f"{name} must be {allowed}, got {value!r}")


def is_timeout(value: object) -> bool:
    """Return whether ``value`` is a valid requests timeout: seconds, or a (connect, read) pair."""
    if isinstance(value, tuple):
        return len(value) == 2 and all(_is_seconds(part, allow_zero=False) for part in value)
    return _is_seconds(value, allow_zero=False)


def _is_seconds(value: object, *, allow_zero: bool) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return value >= 0 if allow_zero else value > 0


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


#: How each checked :func:`robust_session` argument is validated, and what is allowed.
SESSION_OPTION_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "retries": (lambda v: _is_count(v, 0), "a whole number, 0 or more"),
    "backoff_factor": (lambda v: _is_seconds(v, allow_zero=True), "a number, 0 or more"),
    "timeout": (is_timeout, "seconds above 0, or a (connect, read) pair of them"),
    "pool_maxsize": (lambda v: _is_count(v, 1), "a whole number of at least 1"),
    "max_retry_after": (lambda v: _is_seconds(v, allow_zero=True), "seconds, 0 or more"),
}
