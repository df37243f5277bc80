"""The transport under each per-loop ``httpx.AsyncClient``: per hop (a redirect is a hop),
the call's headers, the host's bulkhead and breaker, retries, the deadline and the body."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

import httpx

from ...breaker.breaker import CircuitBreaker
from ...redaction.names import looks_secret
from ...resilience.backoff import parse_retry_after
from ...resilience.bulkhead import Bulkhead
from ...resilience.retry_budget import RetryBudget
from ...resilience.retry_log import log_retry
from ...resilience.waits import Wait
from ..headers import add_call_headers
from ..http_retry import may_retry_method
from ..pools import HostCache
from .body import read_body
from .calls import CURRENT_CALL, HttpxCall

BreakerOption = CircuitBreaker | Literal["per-host"] | None

#: Statuses retried with a ``Retry-After`` even when not listed, as urllib3 does.
RETRY_AFTER_STATUSES = frozenset({413, 429, 503})
# Failures once the request may have left: retried only for methods safe to repeat.
_AFTER_SENDING = (
    httpx.ReadTimeout,
    httpx.ReadError,
    httpx.WriteTimeout,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
# Failures before the request left: retried for every method.
_BEFORE_SENDING = (httpx.ConnectError, httpx.ConnectTimeout)


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """How the client retries: the same options as :func:`~flask_guard.robust_session`."""

    retries: int
    wait: Wait
    status_forcelist: frozenset[int]
    allowed_methods: frozenset[str]
    max_retry_after: float
    budget: RetryBudget | None

    def retries_status(self, response: httpx.Response) -> bool:
        """Return whether ``response``'s status asks for another attempt."""
        status = response.status_code
        return status in self.status_forcelist or (
            status in RETRY_AFTER_STATUSES and "retry-after" in response.headers
        )

    def next_delay(
        self,
        retry: int,
        previous: float,
        retry_after: float | None,
        started: float,
        call: HttpxCall,
    ) -> float | None:
        """Return the wait before retry number ``retry``, or None not to make it: none left,
        one that could not finish before the deadline (an attempt is expected to take as long
        as the last), or an empty retry budget."""
        if retry > self.retries:
            return None
        delay = self.wait(retry, previous) if retry_after is None else retry_after
        if delay + (time.monotonic() - started) >= call.left():
            return None
        if self.budget is not None and not self.budget.try_withdraw():
            return None
        return delay


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """What a client's transports share, whichever loop they run in."""

    plan: RetryPlan
    breaker: CircuitBreaker | None
    breakers: HostCache[CircuitBreaker] | None
    bulkheads: HostCache[Bulkhead] | None
    max_response_bytes: int | None
    request_id_header: str | None
    total_timeout: float


class _ServerError(Exception):
    """A final 5xx, as a breaker counts it; the caller still gets the response."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class GuardTransport(httpx.AsyncBaseTransport):
    """Send each hop through the host's bulkhead and breaker, retrying as the plan says,
    within the call's deadline, and read its body (at most ``max_response_bytes``)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, options: TransportOptions) -> None:
        self._inner = inner
        self._plan = options.plan
        self._breaker = options.breaker
        self._breakers = options.breakers
        self._bulkheads = options.bulkheads
        self._max_response_bytes = options.max_response_bytes
        self._request_id_header = options.request_id_header
        self._total_timeout = options.total_timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one hop of the current call."""
        call = CURRENT_CALL.get()
        if call is None:  # the transport used on its own: a call of its own
            call = HttpxCall(time.monotonic() + self._total_timeout, False, False)
        self._prepare(request, call)
        url = request.url
        host = f"{url.host}:{url.port}" if url.port else url.host
        bulkhead = None if self._bulkheads is None else self._bulkheads.get_or_make(host)
        if bulkhead is None:
            return await self._through_breaker(request, call, host)
        await bulkhead.acquire_async()
        try:
            return await self._through_breaker(request, call, host)
        finally:
            bulkhead.release()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._inner.aclose()

    def _prepare(self, request: httpx.Request, call: HttpxCall) -> None:
        headers = request.headers
        if call.origin is None:
            call.origin = request.url
        elif not _same_origin(call.origin, request.url):
            for name in [name for name in headers if looks_secret(name)]:
                del headers[name]
        add_call_headers(headers, self._request_id_header, call.left() if call.budgeted else None)

    async def _through_breaker(
        self, request: httpx.Request, call: HttpxCall, host: str
    ) -> httpx.Response:
        breaker = self._breaker if self._breakers is None else self._breakers.get_or_make(host)
        if breaker is None:
            return await self._hop(request, call)
        try:
            return await breaker.call_async(self._hop_counting_5xx, request, call)
        except _ServerError as failed:
            return failed.response

    async def _hop_counting_5xx(self, request: httpx.Request, call: HttpxCall) -> httpx.Response:
        response = await self._hop(request, call)
        if response.status_code >= 500:
            raise _ServerError(response)
        return response

    async def _hop(self, request: httpx.Request, call: HttpxCall) -> httpx.Response:
        scope = asyncio.timeout_at(asyncio.get_running_loop().time() + call.left())
        try:
            async with scope:
                response = await self._attempts(request, call)
                if not call.streamed or response.has_redirect_location:
                    await read_body(response, request, self._max_response_bytes)
                return response
        except TimeoutError:
            if scope.expired():
                raise call.late(request) from None
            raise

    async def _attempts(self, request: httpx.Request, call: HttpxCall) -> httpx.Response:
        plan = self._plan
        method = request.method
        may_retry = may_retry_method(method, plan.allowed_methods, request.headers)
        # A body that is not bytes in memory cannot be sent twice.
        may_retry = may_retry and isinstance(request.stream, httpx.ByteStream)
        send = self._inner.handle_async_request
        retry, previous = 0, 0.0
        while True:
            started = time.monotonic()
            try:
                response = await send(request)
            except _BEFORE_SENDING + _AFTER_SENDING as error:
                if not (may_retry or isinstance(error, _BEFORE_SENDING)):
                    raise
                delay = plan.next_delay(retry + 1, previous, None, started, call)
                if delay is None:
                    raise
                cause = type(error).__name__
            else:
                if not (may_retry and plan.retries_status(response)):
                    return response
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                if retry_after is not None and retry_after > plan.max_retry_after:
                    return response  # not waited for: the caller decides
                delay = plan.next_delay(retry + 1, previous, retry_after, started, call)
                if delay is None:
                    return response
                await response.aclose()
                cause = str(response.status_code)
            retry += 1
            log_retry(f"{method} {request.url.host}", retry, plan.retries + 1, cause, delay)
            await asyncio.sleep(delay)
            previous = delay


def _same_origin(first: httpx.URL, then: httpx.URL) -> bool:
    """Return whether ``then`` may see ``first``'s credentials: the same host, and the same
    port unless http upgraded to https on the default ports (as requests decides)."""
    if first.host != then.host:
        return False
    if first.scheme == then.scheme:
        return first.port == then.port
    return (
        first.scheme == "http"
        and then.scheme == "https"
        and first.port in (None, 80)
        and then.port in (None, 443)
    )


def host_breaker(host: str) -> CircuitBreaker:
    """Return a breaker counting what says a host is unavailable: no connection, no answer
    in time, or a final 5xx."""
    return CircuitBreaker(host, failure_on=(httpx.TransportError, _ServerError))


def plan_for(
    retries: int,
    wait: Wait,
    status_forcelist: Collection[int],
    allowed_methods: Collection[str],
    max_retry_after: float,
    budget: RetryBudget | None,
) -> RetryPlan:
    """Return the :class:`RetryPlan` of these options."""
    return RetryPlan(
        retries,
        wait,
        frozenset(status_forcelist),
        frozenset(method.upper() for method in allowed_methods),
        max_retry_after,
        budget,
    )
