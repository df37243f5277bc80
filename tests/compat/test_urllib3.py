"""The urllib3 shapes the guard's deadlines rely on (public API, pinned here because the
guard reads an argument by position): ``urlopen`` runs once per attempt with the timeout
as its eighth parameter, and each attempt sends through ``HTTPConnection.request``."""

from __future__ import annotations

import inspect
import time
from typing import Any

from pytest_httpserver import HTTPServer
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.util.retry import Retry
from urllib3.util.timeout import Timeout

from flask_guard.outbound.pools import CURRENT_CALL, DeadlineHTTPConnectionPool, OutboundCall
from tests.compat.shapes import changed


def test_urlopen_takes_the_timeout_where_the_guard_looks_for_it() -> None:
    names = list(inspect.signature(HTTPConnectionPool.urlopen).parameters)[:9]
    assert names == [
        "self",
        "method",
        "url",
        "body",
        "headers",
        "retries",
        "redirect",
        "assert_same_host",
        "timeout",
    ], changed("urllib3", "HTTPConnectionPool.urlopen", "takes timeout as its 8th argument")


class CountingPool(DeadlineHTTPConnectionPool):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.timeouts: list[object] = []

    def urlopen(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self.timeouts.append(kwargs.get("timeout"))
        return super().urlopen(method, url, *args, **kwargs)


def test_each_retry_is_a_new_urlopen_bounded_by_the_deadline(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/flaky").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/flaky").respond_with_data("ok")
    pool = CountingPool("127.0.0.1", httpserver.port, timeout=Timeout(connect=30, read=30))
    call = OutboundCall(deadline=time.monotonic() + 60)
    token = CURRENT_CALL.set(call)
    try:
        retries = Retry(total=1, status_forcelist=[503], backoff_factor=0)
        response = pool.urlopen("GET", "/flaky", retries=retries, timeout=Timeout(read=5))
    finally:
        CURRENT_CALL.reset(token)
        pool.close()
    message = changed("urllib3", "HTTPConnectionPool.urlopen", "is called again for each retry")
    assert response.status == 200, message
    assert len(pool.timeouts) == 2, message
    assert call.sock is not None, changed(
        "urllib3", "HTTPConnection.request", "sends each attempt on the connection's socket"
    )
