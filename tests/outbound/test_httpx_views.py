"""The guarded httpx client inside real ``async def`` views, served over a real socket,
against hostile upstreams; the session against the same upstreams; the event loop's worst
lag measured during each call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from flask_guard import CircuitBreaker, FlaskGuard, robust_async_client

from ..conftest import HEX32, make_app, serving
from ..upstreams import trickling_upstream
from .raw_upstream import RESET, gzip_bomb, raw_upstream, response

# The most the loop may stall while a call deals with its upstream (a blocking call would
# stall it for the whole 0.5 s deadline; a busy 2-core machine adds tens of ms).
LAG_LIMIT = 0.25


class Probe:
    """An app with one async view calling ``UPSTREAM`` through ``guard.async_client`` and
    one sync view calling it through ``guard.session``, served on loopback."""

    def __init__(self, **config: object) -> None:
        self.app = make_app(**config)
        self.guard = FlaskGuard(self.app)
        self.lags: list[float] = []
        self.upstream = ""
        self.elapsed = 0.0
        app, guard = self.app, self.guard

        @app.get("/async")
        async def call_async() -> Any:
            response = await self.watched(guard.async_client.get(self.upstream))
            response.raise_for_status()
            return {"bytes": len(response.content)}

        @app.get("/sync")
        def call_sync() -> Any:
            response = guard.session.get(self.upstream)
            response.raise_for_status()
            return {"bytes": len(response.content)}

    async def watched(self, call: Awaitable[Any]) -> Any:
        """Await ``call`` while measuring how late a 10 ms timer fires, at worst."""
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        worst = 0.0

        async def watch() -> None:
            nonlocal worst
            while not done.is_set():
                started = loop.time()
                await asyncio.sleep(0.01)
                worst = max(worst, loop.time() - started - 0.01)

        watcher = asyncio.create_task(watch())
        try:
            return await call
        finally:
            done.set()
            await watcher
            self.lags.append(worst)

    @contextmanager
    def served(self) -> Iterator[str]:
        with serving(self.app) as url:
            yield url


def envelope(reply: requests.Response) -> dict[str, Any]:
    """Return the ``error`` of an envelope, checking its ids."""
    error: dict[str, Any] = reply.json()["error"]
    assert HEX32.fullmatch(error["id"])
    assert error["id"] == reply.headers["X-Error-ID"]
    assert error["request_id"] == reply.headers["X-Request-ID"]
    return error


CLIENTS = ["/async", "/sync"]


def call(probe: Probe, path: str, upstream: str, **headers: str) -> requests.Response:
    """Call ``path`` of ``probe`` with ``upstream`` behind it; time it in ``probe.elapsed``."""
    probe.upstream = upstream
    with probe.served() as url:
        started = time.monotonic()
        try:
            return requests.get(url + path, headers=headers, timeout=30)
        finally:
            probe.elapsed = time.monotonic() - started


@pytest.mark.parametrize("path", CLIENTS)
def test_a_trickling_body_is_a_504_at_the_total_timeout(path: str) -> None:
    probe = Probe(GUARD_HTTP_TOTAL_TIMEOUT=0.5)
    with trickling_upstream() as upstream:
        reply = call(probe, path, upstream)
    assert reply.status_code == 504
    assert envelope(reply)["code"] == "UPSTREAM_TIMEOUT"
    assert probe.elapsed < 3
    assert all(lag < LAG_LIMIT for lag in probe.lags)


@pytest.mark.parametrize("path", CLIENTS)
def test_trickling_headers_are_a_504_at_the_total_timeout(path: str) -> None:
    probe = Probe(GUARD_HTTP_TOTAL_TIMEOUT=0.5)
    with trickling_upstream(trickle_head=True) as upstream:
        reply = call(probe, path, upstream)
    assert reply.status_code == 504
    assert all(lag < LAG_LIMIT for lag in probe.lags)


def test_a_hang_is_a_504_at_the_total_timeout_whatever_the_read_timeout(
    hanging_url: str,
) -> None:
    probe = Probe(GUARD_HTTP_TIMEOUT=(1, 30), GUARD_HTTP_TOTAL_TIMEOUT=0.5)
    reply = call(probe, "/async", hanging_url)
    assert reply.status_code == 504
    assert probe.elapsed < 3
    assert probe.lags[0] < LAG_LIMIT


def always(raw: bytes) -> Callable[[int, bytes], bytes]:
    return lambda index, head: raw


@pytest.mark.parametrize("path", CLIENTS)
def test_a_retry_after_loop_stops_before_the_deadline_and_returns_the_last_answer(
    path: str,
) -> None:
    probe = Probe(GUARD_HTTP_TOTAL_TIMEOUT=2.5)
    busy = response("503 Service Unavailable", {"Retry-After": "1"}, b"busy")
    with raw_upstream(always(busy)) as upstream:
        reply = call(probe, path, upstream.url)
    # Two waits of 1 s fit in 2.5 s; a third would not: the 503 goes to the view, which
    # raises for it: a 502.
    assert reply.status_code == 502
    assert envelope(reply)["code"] == "BAD_GATEWAY"
    assert len(upstream.heads) == 3
    assert 1.9 < probe.elapsed < 3


@pytest.mark.parametrize("path", CLIENTS)
def test_a_retry_after_too_long_is_not_waited_for(path: str) -> None:
    probe = Probe()
    busy = response("503 Service Unavailable", {"Retry-After": "3600"}, b"busy")
    with raw_upstream(always(busy)) as upstream:
        reply = call(probe, path, upstream.url)
    assert reply.status_code == 502
    assert len(upstream.heads) == 1
    assert probe.elapsed < 2


@pytest.mark.parametrize("path", CLIENTS)
@pytest.mark.parametrize("header", ["soon", "-5", "1e3", "Thu, 99 Zzz 2026"])
def test_a_malformed_retry_after_means_normal_backoff(path: str, header: str) -> None:
    probe = Probe(GUARD_HTTP_BACKOFF_FACTOR=0)
    busy = response("429 Too Many Requests", {"Retry-After": header}, b"busy")
    answers = [busy, response("200 OK", body=b"ok")]
    with raw_upstream(lambda index, head: answers[min(index, 1)]) as upstream:
        reply = call(probe, path, upstream.url)
    assert reply.json() == {"bytes": 2}
    assert len(upstream.heads) == 2


@pytest.mark.parametrize("path", CLIENTS)
def test_a_redirect_loop_is_a_502(path: str) -> None:
    probe = Probe()

    def loop(index: int, head: bytes) -> bytes:
        return response("302 Found", {"Location": f"/hop/{index}"})

    with raw_upstream(loop) as upstream:
        reply = call(probe, path, upstream.url)
    assert reply.status_code == 502
    assert envelope(reply)["code"] == "BAD_GATEWAY"
    assert len(upstream.heads) <= 31


@pytest.mark.parametrize("path", CLIENTS)
def test_a_gzip_bomb_is_a_502_once_the_decoded_bytes_pass_the_cap(path: str) -> None:
    probe = Probe(GUARD_HTTP_MAX_RESPONSE_BYTES=1_000_000)
    bomb = response("200 OK", {"Content-Encoding": "gzip"}, gzip_bomb(200_000_000))
    with raw_upstream(always(bomb)) as upstream:
        reply = call(probe, path, upstream.url)
    assert reply.status_code == 502
    assert envelope(reply)["code"] == "BAD_GATEWAY"
    assert all(lag < LAG_LIMIT for lag in probe.lags)


@pytest.mark.parametrize("path", CLIENTS)
def test_a_gzip_body_under_the_cap_is_read_whole(path: str) -> None:
    probe = Probe(GUARD_HTTP_MAX_RESPONSE_BYTES=1_000_000)
    body = response("200 OK", {"Content-Encoding": "gzip"}, gzip_bomb(999_999))
    with raw_upstream(always(body)) as upstream:
        reply = call(probe, path, upstream.url)
    assert reply.json() == {"bytes": 999_999}


@pytest.mark.parametrize("path", CLIENTS)
def test_a_connection_reset_mid_body_is_an_envelope_not_a_short_body(path: str) -> None:
    probe = Probe()
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10 + RESET
    with raw_upstream(always(cut)) as upstream:
        reply = call(probe, path, upstream.url)
    assert reply.status_code in (502, 503)
    assert envelope(reply)["code"] in ("BAD_GATEWAY", "UPSTREAM_UNAVAILABLE")
    assert len(upstream.heads) == 1  # a body cut after the headers is never retried


def test_the_request_id_and_the_time_left_go_downstream() -> None:
    probe = Probe(GUARD_REQUEST_TIMEOUT=5)
    with raw_upstream(always(response("200 OK", body=b"ok"))) as upstream:
        reply = call(probe, "/async", upstream.url, **{"X-Request-ID": "order-7"})
    assert reply.status_code == 200
    assert upstream.header(0, "X-Request-ID") == "order-7"
    left = float(upstream.header(0, "X-Request-Timeout") or "nan")
    assert 0 < left <= 5


def test_a_shared_client_opens_its_connections_per_request_and_closes_them() -> None:
    app = make_app()
    guard = FlaskGuard(app)
    with raw_upstream(always(response("200 OK", body=b"ok"))) as upstream:

        @app.get("/twice")
        async def twice() -> Any:
            first = await guard.async_client.get(upstream.url + "/a")
            second = await guard.async_client.get(upstream.url + "/b")
            return {"texts": [first.text, second.text]}

        with serving(app) as url:
            replies = [requests.get(url + "/twice", timeout=10) for _ in range(5)]
            deadline = time.monotonic() + 5
            while upstream.open and time.monotonic() < deadline:
                time.sleep(0.01)
        client = app.extensions["guard.async_client"]
    assert [reply.json() for reply in replies] == [{"texts": ["ok", "ok"]}] * 5
    assert len(upstream.heads) == 10
    assert upstream.accepted == 5  # the two calls of one request share a connection
    assert upstream.open == 0  # each request's loop closed its connections
    assert client.open_loops == 0


@pytest.mark.parametrize(
    ("budget", "headers", "counted"),
    [(5.0, {"X-Request-Timeout": "1.5"}, 0), (1.5, {}, 1)],
    ids=["set-by-the-client", "configured"],
)
def test_only_a_call_cut_by_the_configured_budget_counts_toward_the_breaker(
    hanging_url: str, budget: float, headers: dict[str, str], counted: int
) -> None:
    app = make_app(GUARD_REQUEST_TIMEOUT=budget)
    FlaskGuard(app)
    breaker = CircuitBreaker("ledger", failure_threshold=5)
    client = robust_async_client(breaker=breaker)

    @app.get("/ledger")
    async def ledger() -> str:
        return (await client.get(hanging_url)).text

    with serving(app) as url:
        reply = requests.get(url + "/ledger", headers=headers, timeout=10)
    assert reply.status_code == 504
    assert envelope(reply)["code"] == "UPSTREAM_TIMEOUT"
    assert breaker.stats.total_failures == counted


def test_the_async_clients_bulkheads_show_beside_the_sessions() -> None:
    probe = Probe(GUARD_HTTP_MAX_CONCURRENT=2)
    with raw_upstream(always(response("200 OK", body=b"ok"))) as upstream:
        assert call(probe, "/async", upstream.url).status_code == 200
        assert call(probe, "/sync", upstream.url).status_code == 200
    host = upstream.url.removeprefix("http://")
    with probe.app.app_context():
        names = [bulkhead.name for bulkhead in probe.guard.all_bulkheads()]
    assert names == [f"http:{host}", f"httpx:{host}"]
