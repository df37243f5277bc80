"""The transport adapter of :func:`~flask_guard.robust_session`: a default timeout, the
breaker, the bulkhead, request ids, the call's deadline and the body size limit, per call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from ..breaker.breaker import CircuitBreaker
from ..errors.exceptions import DeadlineExceeded, UpstreamServerError, upstream_host
from ..errors.upstream import ResponseTooLarge, TotalTimeout
from ..resilience.bulkhead import Bulkhead
from ..resilience.request_budget import REQUEST_TIMEOUT_HEADER, check_time_left
from ..tracing.context import add_trace_headers
from ..web.request_id import current_request_id
from .http_retry import GuardRetry
from .pools import CURRENT_CALL, POOL_CLASSES, HostCache
from .settings import Timeout

BreakerOption = CircuitBreaker | Literal["per-host"] | None


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
        add_trace_headers(headers)
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
        limit = self._max_response_bytes
        if limit is None:
            response.content  # noqa: B018 - read it now, inside the deadline and the bulkhead
        else:
            response._content = _read_at_most(response, limit)
        if (late := past_deadline(response.request)) is not None:
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
