"""``robust_async_client``: an httpx client with the session's guarantees, one
``httpx.AsyncClient`` per running event loop."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import httpx

from ...breaker.breaker import CircuitBreaker
from ...resilience.bulkhead import Bulkhead
from ...resilience.request_budget import budget_set_by_client, check_time_left
from ...resilience.retry_budget import RetryBudget
from ...resilience.waits import Wait, check_wait, from_backoff_factor
from ..http_retry import IDEMPOTENCY_KEY_HEADER
from ..pools import HostCache
from ..session import DEFAULT_ALLOWED_METHODS, DEFAULT_STATUS_FORCELIST, BudgetOption
from ..settings import DEFAULT, Timeout, check_options
from .calls import CURRENT_CALL, HttpxCall
from .transport import (
    BreakerOption,
    GuardTransport,
    TransportOptions,
    host_breaker,
    plan_for,
)

Headers = Mapping[str, str] | httpx.Headers | None


@dataclass(frozen=True, slots=True)
class _LoopClient:
    client: httpx.AsyncClient
    closer: AsyncIterator[None]


class GuardAsyncClient:
    """Make HTTP calls from async code with the guarantees of
    :func:`~flask_guard.robust_session`; built by :func:`robust_async_client`.

    Each running event loop gets its own ``httpx.AsyncClient`` (connections belong to the
    loop that opened them), made on the loop's first call and closed when the loop shuts
    down (``asyncio.run`` and asgiref do that), so a client shared across requests never
    carries a connection into another loop and leaks none. Calls in one loop share its
    connections.

    :ivar breakers: the per-host breakers in use (``breaker="per-host"``), by ``host[:port]``.
    :ivar bulkheads: the per-host bulkheads in use (``max_concurrent``), likewise.
    """

    def __init__(self, options: TransportOptions, timeout: Timeout, pool_maxsize: int) -> None:
        self._options = options
        connect, read = (timeout, timeout) if isinstance(timeout, int | float) else timeout
        self._timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        self._limits = httpx.Limits(max_connections=None, max_keepalive_connections=pool_maxsize)
        self._total_timeout = options.total_timeout
        self._budget = options.plan.budget
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._ssl_context: ssl.SSLContext | None = None
        self.breakers = options.breakers
        self.bulkheads = options.bulkheads

    @property
    def open_loops(self) -> int:
        """How many event loops have a client open now."""
        return len(self._clients)

    async def request(
        self, method: str, url: httpx.URL | str, *, idempotent: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """Send a request and read its body, as ``httpx.AsyncClient.request`` does, within
        the call's deadline.

        :param idempotent: send an ``Idempotency-Key`` (a new random one, unless the
            headers carry one), which lets a POST or PATCH be retried.
        :param kwargs: those of ``httpx.AsyncClient.request``.
        """
        entry = self._clients.get(asyncio.get_running_loop())
        client = entry.client if entry is not None else await self._open()
        if idempotent:
            kwargs["headers"] = _with_key(kwargs.get("headers"))
        token = CURRENT_CALL.set(self._start_call(streamed=False))
        try:
            return await client.request(method, url, **kwargs)
        finally:
            CURRENT_CALL.reset(token)

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: httpx.URL | str, *, idempotent: bool = False, **kwargs: Any
    ) -> AsyncIterator[httpx.Response]:
        """Send a request and give its response before the body is read, as
        ``httpx.AsyncClient.stream`` does::

            async with guard.async_client.stream("GET", EXPORT_URL) as response:
                async for chunk in response.aiter_bytes():
                    ...

        The deadline (and the bulkhead slot) cover the call up to the response headers,
        retries and redirects included; reading the body is then the caller's to bound, and
        ``max_response_bytes`` the caller's to count.
        """
        entry = self._clients.get(asyncio.get_running_loop())
        client = entry.client if entry is not None else await self._open()
        if idempotent:
            kwargs["headers"] = _with_key(kwargs.get("headers"))
        async with contextlib.AsyncExitStack() as stack:
            token = CURRENT_CALL.set(self._start_call(streamed=True))
            try:
                response = await stack.enter_async_context(client.stream(method, url, **kwargs))
            finally:
                CURRENT_CALL.reset(token)
            yield response

    def _start_call(self, streamed: bool) -> HttpxCall:
        """Return a call ending at ``total_timeout``, or sooner with the request's budget."""
        seconds = self._total_timeout
        left = check_time_left("an outgoing call")
        by_client = False
        if left is not None and left < seconds:
            seconds, by_client = left, budget_set_by_client()
        if self._budget is not None:
            self._budget.deposit()
        return HttpxCall(time.monotonic() + seconds, left is not None, by_client, streamed)

    async def get(self, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        """Send a GET; see :meth:`request`."""
        return await self.request("GET", url, **kwargs)

    async def head(self, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        """Send a HEAD; see :meth:`request`."""
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        """Send an OPTIONS; see :meth:`request`."""
        return await self.request("OPTIONS", url, **kwargs)

    async def delete(self, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        """Send a DELETE; see :meth:`request`."""
        return await self.request("DELETE", url, **kwargs)

    async def post(self, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        """Send a POST (retried only with an ``Idempotency-Key``); see :meth:`request`."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        """Send a PUT; see :meth:`request`."""
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        """Send a PATCH (retried only with an ``Idempotency-Key``); see :meth:`request`."""
        return await self.request("PATCH", url, **kwargs)

    async def aclose(self) -> None:
        """Close the running loop's client now rather than when the loop shuts down."""
        entry = self._clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry.client.aclose()

    def bulkhead_list(self) -> list[Bulkhead]:
        """Return the per-host bulkheads, named ``httpx:<host>``, for health and metrics."""
        if self.bulkheads is None:
            return []
        found = (self.bulkheads.get(host) for host in sorted(self.bulkheads))
        return [bulkhead for bulkhead in found if bulkhead is not None]

    async def _open(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._drop_closed_loops()
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()
            client = self._build(self._ssl_context)
            closer = _close_with_loop(self._clients, client)
            self._clients[loop] = _LoopClient(client, closer)
        await anext(closer)  # the loop now closes it when it shuts down its async generators
        return client

    def _build(self, ssl_context: ssl.SSLContext) -> httpx.AsyncClient:
        inner = httpx.AsyncHTTPTransport(verify=ssl_context, limits=self._limits)
        transport = GuardTransport(inner, self._options)
        client = httpx.AsyncClient(
            transport=transport, timeout=self._timeout, follow_redirects=True, trust_env=False
        )
        # Shared by every user's requests: a cookie one response sets must not ride on
        # another user's call.
        client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        return client

    def _drop_closed_loops(self) -> None:
        """Forget the clients of loops closed without shutting down their async generators
        (a loop closed by hand); their sockets go with them."""
        for loop in [loop for loop in list(self._clients) if loop.is_closed()]:
            self._clients.pop(loop, None)


async def _close_with_loop(
    clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient],
    client: httpx.AsyncClient,
) -> AsyncIterator[None]:
    """Wait, parked, until the loop shuts down its async generators; then close ``client``.

    Holds no reference to the loop: the loop is the key of the entry that holds this.
    """
    try:
        yield
    finally:
        clients.pop(asyncio.get_running_loop(), None)
        await client.aclose()


def _with_key(headers: Headers) -> httpx.Headers:
    """Return ``headers`` with an ``Idempotency-Key``: theirs, or a new random one."""
    keyed = httpx.Headers(headers)
    if IDEMPOTENCY_KEY_HEADER not in keyed:
        keyed[IDEMPOTENCY_KEY_HEADER] = uuid.uuid4().hex
    return keyed


def robust_async_client(
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
) -> GuardAsyncClient:
    """Return an httpx client for async code that keeps every promise of
    :func:`~flask_guard.robust_session`, with the same options and defaults.

    * ``retries`` retries, waiting as ``wait`` says (by default urllib3's schedule for
      ``backoff_factor``: the first retry at once, then ``backoff_factor * 2 ** (n - 1)``);
      connection failures for every method, read failures and ``status_forcelist``
      statuses for ``allowed_methods`` and for a POST or PATCH that carries an
      ``Idempotency-Key``. ``Retry-After`` is honoured up to ``max_retry_after``: a longer
      one is not waited for (the response goes back at once), a malformed one means normal
      backoff. The last response is returned.
    * ``timeout`` sets httpx's connect and read (and write) timeouts; ``total_timeout``
      bounds each call whole, redirects and the body included: past it the call raises
      :class:`~flask_guard.outbound.httpx_client.HttpxTotalTimeout`. Inside a request with a
      budget, the call also ends with the budget and sends the time left in
      ``X-Request-Timeout``.
    * ``breaker``, ``max_concurrent``, ``max_response_bytes`` (decoded bytes),
      ``retry_budget`` and ``request_id_header`` as for the session; redirects to another
      host lose every header whose name looks secret; a redirect loop raises
      ``httpx.TooManyRedirects``. Cookies are never kept.
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
    plan = plan_for(
        retries,
        check_wait(wait) or from_backoff_factor(backoff_factor),
        status_forcelist,
        allowed_methods,
        max_retry_after,
        RetryBudget() if retry_budget == "own" else retry_budget,
    )
    options = TransportOptions(
        plan,
        breaker if isinstance(breaker, CircuitBreaker) else None,
        HostCache(host_breaker) if breaker == "per-host" else None,
        None
        if max_concurrent is None
        else HostCache(lambda host: Bulkhead(f"httpx:{host}", max_concurrent)),
        max_response_bytes,
        request_id_header,
        total_timeout,
    )
    return GuardAsyncClient(options, timeout, pool_maxsize)
