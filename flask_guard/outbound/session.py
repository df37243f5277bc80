"""``robust_session``: a ``requests.Session`` with retries, timeouts, a deadline, a breaker
and a bulkhead (each call goes through :class:`~flask_guard.session_adapter.GuardedAdapter`)."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import asdict
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Literal

import requests

from ..redaction.names import looks_secret
from ..resilience.bulkhead import Bulkhead
from ..resilience.request_budget import budget_set_by_client, check_time_left
from ..resilience.retry_budget import RetryBudget
from .adapter import BreakerOption, GuardedAdapter, past_deadline
from .http_retry import GuardRetry, quiet_retry_warnings
from .pools import CURRENT_CALL, OutboundCall
from .settings import DEFAULT, SessionSettings, Timeout, check_options
from .watchdog import WATCHDOG

#: Methods retried by default: the idempotent ones. POST and PATCH only when asked.
DEFAULT_ALLOWED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: Statuses retried by default.
DEFAULT_STATUS_FORCELIST = (429, 500, 502, 503, 504)
BudgetOption = RetryBudget | Literal["own"] | None


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
            if (late := past_deadline(request)) is not None:
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
            for name in [name for name in headers if looks_secret(name)]:
                del headers[name]
        super().rebuild_auth(prepared_request, response)


def robust_session(
    retries: int = DEFAULT.retries,
    backoff_factor: float = DEFAULT.backoff_factor,
    status_forcelist: Collection[int] = DEFAULT_STATUS_FORCELIST,
    allowed_methods: Collection[str] = DEFAULT_ALLOWED_METHODS,
    timeout: Timeout = DEFAULT.timeout,
    pool_maxsize: int = DEFAULT.pool_maxsize,
    breaker: BreakerOption = None,
    max_retry_after: float = DEFAULT.max_retry_after,
    *,
    total_timeout: float = DEFAULT.total_timeout,
    max_concurrent: int | None = DEFAULT.max_concurrent,
    max_response_bytes: int | None = DEFAULT.max_response_bytes,
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
    check_options(
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
    quiet_retry_warnings()
    session = GuardSession(total_timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


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
