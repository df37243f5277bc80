"""``robust_session``: a ``requests.Session`` with retries, timeouts, a deadline, a breaker
and a bulkhead (each call goes through :class:`~flask_guard.session_adapter.GuardedAdapter`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from dataclasses import asdict
from http.cookiejar import DefaultCookiePolicy
from typing import TYPE_CHECKING, Any, Literal

import requests

from ..redaction.names import looks_secret
from ..resilience.bulkhead import Bulkhead
from ..resilience.request_budget import budget_set_by_client, check_time_left
from ..resilience.retry_budget import RetryBudget
from ..resilience.waits import Wait
from .adapter import BreakerOption, GuardedAdapter, past_deadline
from .http_retry import (
    IDEMPOTENCY_KEY_HEADER,
    KEYED_CALL,
    KEYED_METHODS,
    GuardRetry,
    quiet_retry_warnings,
)
from .pools import CURRENT_CALL, OutboundCall
from .settings import DEFAULT, SessionSettings, Timeout, check_options
from .watchdog import WATCHDOG

if TYPE_CHECKING:
    from ..degrade.http_stale import HttpStale

#: Methods retried by default: the idempotent ones. POST and PATCH only when asked.
DEFAULT_ALLOWED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: Statuses retried by default.
DEFAULT_STATUS_FORCELIST = (429, 500, 502, 503, 504)
BudgetOption = RetryBudget | Literal["own"] | None


class GuardSession(requests.Session):
    """A ``requests.Session`` whose calls each have one deadline, redirects included, that
    keeps secret-looking headers from another host a redirect leads to, and that retries a
    POST or PATCH only when it carries an ``Idempotency-Key``."""

    def __init__(self, total_timeout: float) -> None:
        super().__init__()
        self.total_timeout = total_timeout

    #: Stale-if-error for GETs (:mod:`flask_guard.degrade.http_stale`), or None.
    stale: HttpStale | None = None

    def request(
        self,
        method: str,
        url: str | bytes,
        *args: Any,
        idempotent: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request as ``requests.Session.request`` does; ``idempotent=True`` sends an
        ``Idempotency-Key`` (a new random one unless the headers carry one), which lets a
        POST or PATCH be retried with the same key."""
        if idempotent:
            headers = requests.structures.CaseInsensitiveDict(kwargs.get("headers") or {})
            headers.setdefault(IDEMPOTENCY_KEY_HEADER, uuid.uuid4().hex)
            kwargs["headers"] = headers
        return super().request(method, url, *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send ``request`` within ``total_timeout`` and the current request's budget."""
        if CURRENT_CALL.get() is not None:  # a redirect of a call under way
            return super().send(request, **kwargs)
        if self.stale is not None:
            return self.stale.send(request, lambda: self._send_in_time(request, kwargs))
        return self._send_in_time(request, kwargs)

    def _send_in_time(
        self, request: requests.PreparedRequest, kwargs: dict[str, Any]
    ) -> requests.Response:
        seconds = self.total_timeout
        left = check_time_left("an outgoing call")
        by_client = False
        if left is not None and left < seconds:
            seconds, by_client = left, budget_set_by_client()
        call = OutboundCall(time.monotonic() + seconds, by_client)
        token = CURRENT_CALL.set(call)
        keyed = (
            KEYED_CALL.set(True)
            if request.method in KEYED_METHODS and IDEMPOTENCY_KEY_HEADER in request.headers
            else None
        )
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
            if keyed is not None:
                KEYED_CALL.reset(keyed)

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
    wait: Wait | None = None,
) -> requests.Session:
    """Return a ``requests.Session`` that retries, times out and fails fast.

    * urllib3's :class:`~urllib3.util.Retry` is mounted for http and https: ``retries``
      retries, waiting as ``wait`` says (a :mod:`~flask_guard.waits` strategy; by default
      urllib3's exponential ``backoff_factor`` backoff), for connection errors (any method:
      the request never left), read errors and ``status_forcelist`` statuses (only
      ``allowed_methods``, the idempotent ones by default; a POST or PATCH only when it
      carries an ``Idempotency-Key``, sent unchanged with every attempt: pass
      ``idempotent=True`` to a call to have one made). Each retry is one INFO line on the
      ``flask_guard.retry`` logger. ``Retry-After`` is honoured, up to ``max_retry_after``
      seconds: a longer one is not waited for and the response goes back at once; a
      malformed one means normal backoff. The last response is returned, never a
      ``MaxRetryError`` for a status.
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
    * ``max_response_bytes`` (10 MiB by default; None for no limit): a body longer than
      this once decoded (``Content-Encoding`` undone, so a decompression bomb stops at the
      limit) raises :class:`ResponseTooLarge`. It bounds bodies the session reads; with
      ``stream=True`` the caller reads, and bounds, the body.
    * ``retry_budget``: the :class:`~flask_guard.RetryBudget` retries draw from: ``"own"``
      (default) for one of this session's, a shared one, or None for no limit.
    * ``request_id_header``: send the current request's id in this header (``guard.session``
      does).
    * ``wait``: the wait before each retry, e.g. ``waits.Exponential(0.2, jitter="full")``.

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
        wait=wait,
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
