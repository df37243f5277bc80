"""``robust_session``: a ``requests.Session`` with retries, timeouts, a deadline, a breaker
and a bulkhead."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from .breaker import CircuitBreaker
from .budget import RetryBudget
from .bulkhead import Bulkhead
from .deadline import REQUEST_TIMEOUT_HEADER, budget_set_by_client, check_time_left
from .errors import DeadlineExceeded
from .http_retry import GuardRetry
from .request_id import current_request_id
from .transport import CURRENT_CALL, POOL_CLASSES, HostCache, OutboundCall
from .watchdog import WATCHDOG

#: Methods retried by default: the idempotent ones. POST and PATCH only when asked.
DEFAULT_ALLOWED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: Statuses retried by default.
DEFAULT_STATUS_FORCELIST = (429, 500, 502, 503, 504)
#: Header names that look secret: not sent on when a redirect leads to another host.
SECRET_HEADER = re.compile(
    r"token|secret|passw|key|auth|session|csrf|signature|cookie|jwt|credential", re.IGNORECASE
)

Timeout = float | tuple[float, float]
BreakerOption = CircuitBreaker | Literal["per-host"] | None
BudgetOption = RetryBudget | Literal["own"] | None


class UpstreamServerError(Exception):
    """A final 5xx answer, as a session's breaker counts it; the caller still gets the response."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"{response.status_code} from {upstream_host(response.url)}")
        self.response = response


class TotalTimeout(requests.Timeout):
    """A session call ran past its deadline: ``total_timeout`` or the request's budget.

    Connect, reads, retries, ``Retry-After`` waits and the body are all counted.
    """


class ResponseTooLarge(requests.RequestException):
    """A response body was longer than the session's ``max_response_bytes``."""


def upstream_host(url: str | None) -> str:
    """Return ``host[:port]`` of ``url``: never its credentials, path or query."""
    parsed = urlsplit(url or "")
    host = parsed.hostname or "unknown"
    return f"{host}:{parsed.port}" if parsed.port else host


class GuardedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` with a default timeout, a breaker, a bulkhead and request ids.

    :ivar breakers: the per-host breakers in use, by ``host[:port]`` (at most
        :data:`~flask_guard.transport.MAX_HOSTS`, least recently used dropped first).
    :ivar bulkheads: the per-host bulkheads in use, likewise.
    """

    def __init__(
        self,
        retry: GuardRetry,
        timeout: Timeout,
        pool_maxsize: int,
        breaker: BreakerOption,
        request_id_header: str | None = None,
        max_concurrent: int | None = None,
        max_response_bytes: int | None = None,
    ) -> None:
        super().__init__(pool_maxsize=pool_maxsize, max_retries=retry, pool_block=False)
        self.timeout = timeout
        self.breakers: HostCache[CircuitBreaker] = HostCache(_host_breaker)
        self.bulkheads: HostCache[Bulkhead] = HostCache(
            lambda host: Bulkhead(f"http:{host}", max_concurrent or 1)
        )
        self._breaker = breaker
        self._request_id_header = request_id_header
        self._max_concurrent = max_concurrent
        self._max_response_bytes = max_response_bytes

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Make the pool manager, with pools that stop each attempt at the call's deadline."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """Return the manager for ``proxy``; an HTTP(S) proxy's pools obey the deadline too."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = POOL_CLASSES
        return manager

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send ``request`` with the default timeout if it has none, through the bulkhead
        and the breaker; read the body unless ``stream``."""
        timeout = self.timeout if timeout is None else timeout
        headers = request.headers
        if self._request_id_header and self._request_id_header not in headers:
            request_id = current_request_id()
            if request_id is not None:
                headers[self._request_id_header] = request_id
        call = CURRENT_CALL.get()
        if call is not None and check_time_left("an outgoing call") is not None:
            headers[REQUEST_TIMEOUT_HEADER] = f"{max(call.left(), 0.001):.3f}"
        if self._max_concurrent is None:
            return self._send_through_breaker(request, stream, timeout, kwargs)
        bulkhead = self.bulkheads.get_or_make(upstream_host(request.url))
        bulkhead.acquire()
        try:
            return self._send_through_breaker(request, stream, timeout, kwargs)
        finally:
            bulkhead.release()

    def _send_through_breaker(
        self, request: requests.PreparedRequest, stream: bool, timeout: Any, kwargs: Any
    ) -> requests.Response:
        breaker = self._breaker_for(request.url)
        if breaker is None:
            return self._send(request, stream, timeout, kwargs)
        try:
            return breaker.call(self._send_counting_5xx, request, stream, timeout, kwargs)
        except UpstreamServerError as failed:
            return failed.response

    def _send_counting_5xx(
        self,
        request: requests.PreparedRequest,
        stream: bool,
        timeout: Any,
        kwargs: Mapping[str, Any],
    ) -> requests.Response:
        response = self._send(request, stream, timeout, kwargs)
        if response.status_code >= 500:
            raise UpstreamServerError(response)
        return response

    def _send(
        self,
        request: requests.PreparedRequest,
        stream: bool,
        timeout: Any,
        kwargs: Mapping[str, Any],
    ) -> requests.Response:
        try:
            response = super().send(request, stream=True, timeout=timeout, **kwargs)
            if not stream:
                self._read_body(response)
            return response
        except requests.ConnectionError as error:
            if (late := _late(request)) is not None:
                raise late from error
            # Read timeouts that used up the retries reach requests wrapped in a
            # MaxRetryError, which it reports as a ConnectionError; say what happened.
            cause = error.args[0] if error.args else None
            if isinstance(getattr(cause, "reason", None), ReadTimeoutError):
                raise requests.ReadTimeout(cause, request=request) from error
            raise
        except requests.RequestException as error:
            if not isinstance(error, TotalTimeout) and (late := _late(request)) is not None:
                raise late from error
            raise

    def _read_body(self, response: requests.Response) -> None:
        limit = self._max_response_bytes
        if limit is None:
            response.content  # noqa: B018 - read it now, inside the deadline and the bulkhead
        else:
            response._content = _read_at_most(response, limit)
        if (late := _late(response.request)) is not None:
            # Shut down mid-body: a body without a length looks complete, yet is cut.
            raise late

    def _breaker_for(self, url: str | None) -> CircuitBreaker | None:
        if not isinstance(self._breaker, str):
            return self._breaker
        return self.breakers.get_or_make(upstream_host(url))


def _late(request: requests.PreparedRequest) -> Exception | None:
    """Return the error to raise instead of a failure if the call's deadline passed:
    :class:`DeadlineExceeded` when the client's budget cut the call short (not the
    upstream's fault), else :class:`TotalTimeout`."""
    call = CURRENT_CALL.get()
    if call is None or not (call.expired or call.left() <= 0):
        return None
    if call.by_client:
        return DeadlineExceeded("the request's time budget, set by the client, ran out")
    return TotalTimeout("the call ran past its deadline", request=request)


def _read_at_most(response: requests.Response, limit: int) -> bytes:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        response.close()
        raise ResponseTooLarge(
            f"the response is longer than max_response_bytes={limit}", response=response
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(65536):
        size += len(chunk)
        if size > limit:
            response.close()
            raise ResponseTooLarge(
                f"the response is longer than max_response_bytes={limit}", response=response
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _host_breaker(host: str) -> CircuitBreaker:
    """Return a breaker counting what says a host is unavailable: no connection, no answer
    in time, or a final 5xx."""
    failures = (requests.ConnectionError, requests.Timeout, UpstreamServerError)
    return CircuitBreaker(host, failure_on=failures)


class GuardSession(requests.Session):
    """A ``requests.Session`` whose calls each have one deadline, redirects included, and
    that keeps secret-looking headers from another host a redirect leads to."""

    def __init__(self, total_timeout: float) -> None:
        super().__init__()
        self.total_timeout = total_timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send ``request`` within ``total_timeout`` and the current request's budget."""
        if CURRENT_CALL.get() is not None:  # a redirect of a call under way
            return super().send(request, **kwargs)
        seconds = self.total_timeout
        left = check_time_left("an outgoing call")
        by_client = False
        if left is not None and left < seconds:
            seconds, by_client = left, budget_set_by_client()
        call = OutboundCall(time.monotonic() + seconds, by_client)
        token = CURRENT_CALL.set(call)
        alarm = WATCHDOG.schedule(call.deadline, call.expire)
        try:
            return super().send(request, **kwargs)
        except requests.RequestException as error:
            if (late := _late(request)) is not None:
                raise late from error
            raise
        finally:
            # An alarm firing between the end of the body and this cancel shuts down an idle
            # pooled socket at worst, which urllib3 sees as dropped and replaces.
            alarm.cancel()
            call.sock = None
            CURRENT_CALL.reset(token)

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        """Drop credentials, and every header whose name looks secret, on a redirect to
        another host."""
        if self.should_strip_auth(response.request.url or "", prepared_request.url or ""):
            headers = prepared_request.headers
            for name in [name for name in headers if SECRET_HEADER.search(name)]:
                del headers[name]
        super().rebuild_auth(prepared_request, response)


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
    total_timeout: float = 20.0,
    max_concurrent: int | None = None,
    max_response_bytes: int | None = None,
    retry_budget: BudgetOption = "own",
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
    * ``total_timeout`` (seconds) bounds each call whole: connect, every read, every retry
      and ``Retry-After`` wait, redirects and the body (a trickling upstream too). Past it the
      call raises :class:`TotalTimeout` (a ``requests.Timeout``). Inside a request with a
      budget (see :func:`~flask_guard.time_left`) the call also ends with the budget, and
      the time left is sent in ``X-Request-Timeout``. With ``stream=True`` the deadline
      covers the call up to the headers; reading the body is then the caller's to bound.
    * ``pool_maxsize`` connections are kept per host, for threaded servers; a request never
      waits for a free connection.
    * ``breaker``: a :class:`CircuitBreaker`, or ``"per-host"`` for one per ``host:port``
      (see ``session.get_adapter(url).breakers``). Connection errors, timeouts and final 5xx
      count as its failures, and an open breaker raises
      :class:`~flask_guard.CircuitOpenError` before any connection is made. Give it no
      ``fallback``: the session must return responses.
    * ``max_concurrent``: at most this many calls in flight per host (a
      :class:`~flask_guard.Bulkhead` each); the next raises
      :class:`~flask_guard.BulkheadFullError` at once.
    * ``max_response_bytes``: a longer body (decoded) raises :class:`ResponseTooLarge`.
    * ``retry_budget``: the :class:`~flask_guard.RetryBudget` retries draw from: ``"own"``
      (default) for one of this session's, a shared one, or None for no limit.
    * ``request_id_header``: send the current request's id in this header (``guard.session``
      does).

    Per-host breakers and bulkheads are kept for the
    :data:`~flask_guard.transport.MAX_HOSTS` (1,024) hosts used last.
    """
    _check_options(
        retries=retries,
        backoff_factor=backoff_factor,
        timeout=timeout,
        pool_maxsize=pool_maxsize,
        max_retry_after=max_retry_after,
        total_timeout=total_timeout,
        max_concurrent=max_concurrent,
        max_response_bytes=max_response_bytes,
    )
    retry = GuardRetry(
        total=retries,
        backoff_factor=backoff_factor,
        status_forcelist=frozenset(status_forcelist),
        allowed_methods=frozenset(method.upper() for method in allowed_methods),
        respect_retry_after_header=True,
        raise_on_status=False,
        max_retry_after=max_retry_after,
        budget=RetryBudget() if retry_budget == "own" else retry_budget,
    )
    adapter = GuardedAdapter(
        retry,
        timeout,
        pool_maxsize,
        breaker,
        request_id_header,
        max_concurrent,
        max_response_bytes,
    )
    session = GuardSession(total_timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """The ``GUARD_HTTP_*`` settings: :func:`robust_session` arguments for ``guard.session``."""

    retries: int = 3
    backoff_factor: float = 0.5
    timeout: Timeout = (3.05, 10.0)
    pool_maxsize: int = 10
    max_retry_after: float = 10.0
    total_timeout: float = 20.0
    max_concurrent: int | None = None
    max_response_bytes: int | None = None

    def __post_init__(self) -> None:
        _check_options(**asdict(self))


def shared_session(
    settings: SessionSettings, request_id_header: str | None = None
) -> requests.Session:
    """Return a :func:`robust_session` that many users' requests may share: no cookies kept."""
    session = robust_session(**asdict(settings), request_id_header=request_id_header)
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


def session_bulkheads(session: requests.Session) -> list[Bulkhead]:
    """Return the per-host bulkheads of a :func:`robust_session`, named ``http:<host>``."""
    adapter = session.get_adapter("http://")
    if not isinstance(adapter, GuardedAdapter):
        return []
    found = (adapter.bulkheads.get(host) for host in sorted(adapter.bulkheads))
    return [bulkhead for bulkhead in found if bulkhead is not None]


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
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return False
    return value >= 0 if allow_zero else value > 0


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_optional_count(value: object) -> bool:
    return value is None or _is_count(value, 1)


#: How each checked :func:`robust_session` argument is validated, and what is allowed.
SESSION_OPTION_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "retries": (lambda v: _is_count(v, 0), "a whole number, 0 or more"),
    "backoff_factor": (lambda v: _is_seconds(v, allow_zero=True), "a number, 0 or more"),
    "timeout": (is_timeout, "seconds above 0, or a (connect, read) pair of them"),
    "pool_maxsize": (lambda v: _is_count(v, 1), "a whole number of at least 1"),
    "max_retry_after": (lambda v: _is_seconds(v, allow_zero=True), "seconds, 0 or more"),
    "total_timeout": (lambda v: _is_seconds(v, allow_zero=False), "seconds above 0"),
    "max_concurrent": (_is_optional_count, "a whole number of at least 1, or None"),
    "max_response_bytes": (_is_optional_count, "a whole number of at least 1, or None"),
}
