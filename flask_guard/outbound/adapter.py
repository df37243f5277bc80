"""The transport adapter of :func:`~flask_guard.robust_session`: a default timeout, the
breaker, the bulkhead, request ids, the call's deadline and the body size limit, per call."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from ..breaker.breaker import CircuitBreaker
from ..compat.requests import set_content
from ..errors.exceptions import DeadlineExceeded, UpstreamServerError, upstream_host
from ..errors.upstream import TotalTimeout
from ..resilience.bulkhead import Bulkhead
from ..resilience.request_budget import check_time_left
from .headers import add_call_headers
from .host_limit import HostLimit
from .http_retry import GuardRetry
from .pools import CURRENT_CALL, POOL_CLASSES, HostCache, OutboundCall
from .response_body import read_body
from .settings import Timeout
from .watchdog import WATCHDOG

BreakerOption = CircuitBreaker | Literal["per-host"] | None


class GuardedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` with a default timeout, a breaker, a bulkhead and request ids.

    :ivar breakers: the per-host breakers in use, by ``host[:port]`` (at most
        :data:`~flask_guard.transport.MAX_HOSTS`, least recently used dropped first).
    :ivar bulkheads: the per-host bulkheads in use, likewise (with ``max_concurrent``).
    :ivar host_limits: the adaptive per-host limits in use, likewise (without it).
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
        self.host_limits: HostCache[HostLimit] = HostCache(lambda host: HostLimit(f"http:{host}"))
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
        call = CURRENT_CALL.get()
        budgeted = call is not None and check_time_left("an outgoing call") is not None
        add_call_headers(
            request.headers, self._request_id_header, call.left() if budgeted and call else None
        )
        if self._max_concurrent is None:
            return self._send_within_host_limit(request, stream, timeout, kwargs)
        bulkhead = self.bulkheads.get_or_make(upstream_host(request.url))
        bulkhead.acquire()
        try:
            return self._send_through_breaker(request, stream, timeout, kwargs)
        finally:
            bulkhead.release()

    def _send_within_host_limit(
        self, request: requests.PreparedRequest, stream: bool, timeout: Any, kwargs: Any
    ) -> requests.Response:
        host = self.host_limits.get_or_make(upstream_host(request.url))
        call = CURRENT_CALL.get()
        ceiling = _read_timeout(timeout, call)
        admitted = host.admit(ceiling)
        alarm = None
        if call is not None and not admitted.alone and admitted.overdue_after < call.left():

            def overdue() -> None:
                if admitted.overdue():
                    call.cut(
                        f"cut short: {host.name} stalled, and this call was overdue "
                        f"after {admitted.overdue_after:.1f} s"
                    )

            alarm = WATCHDOG.schedule(admitted.started + admitted.overdue_after, overdue)
        answered = False
        try:
            response = self._send_through_breaker(request, stream, timeout, kwargs)
            answered = True
            return response
        finally:
            if alarm is not None:
                alarm.cancel()
            admitted.finish(answered)

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
            if (late := past_deadline(request)) is not None:
                raise late from error
            # Read timeouts that used up the retries reach requests wrapped in a
            # MaxRetryError, which it reports as a ConnectionError; say what happened.
            cause = error.args[0] if error.args else None
            if isinstance(getattr(cause, "reason", None), ReadTimeoutError):
                raise requests.ReadTimeout(cause, request=request) from error
            raise
        except requests.RequestException as error:
            if (
                not isinstance(error, TotalTimeout)
                and (late := past_deadline(request)) is not None
            ):
                raise late from error
            raise

    def _read_body(self, response: requests.Response) -> None:
        request = response.request
        set_content(
            response,
            read_body(response, self._max_response_bytes, lambda: past_deadline(request)),
        )
        if (late := past_deadline(request)) is not None:
            # Shut down mid-body: a body without a length looks complete, yet is cut.
            raise late

    def _breaker_for(self, url: str | None) -> CircuitBreaker | None:
        if not isinstance(self._breaker, str):
            return self._breaker
        return self.breakers.get_or_make(upstream_host(url))


def past_deadline(request: requests.PreparedRequest) -> Exception | None:
    """Return the error to raise instead of a failure if the call's deadline passed:
    :class:`DeadlineExceeded` when the client's budget cut the call short (not the
    upstream's fault), else :class:`TotalTimeout`."""
    call = CURRENT_CALL.get()
    if call is None or not (call.expired or call.left() <= 0):
        return None
    if call.cut_reason is not None:
        return TotalTimeout(call.cut_reason, request=request)
    if call.by_client:
        return DeadlineExceeded("the request's time budget, set by the client, ran out")
    return TotalTimeout("the call ran past its deadline", request=request)


def _read_timeout(timeout: Any, call: OutboundCall | None) -> float:
    """Return the seconds one read may wait: the read part of ``timeout``, else the time
    left to the call, else no limit."""
    read = timeout[1] if isinstance(timeout, tuple) else timeout
    if isinstance(read, int | float):
        return float(read)
    return call.left() if call is not None else math.inf


def _host_breaker(host: str) -> CircuitBreaker:
    """Return a breaker counting what says a host is unavailable: no connection, no answer
    in time, or a final 5xx."""
    failures = (requests.ConnectionError, requests.Timeout, UpstreamServerError)
    return CircuitBreaker(host, failure_on=failures)
