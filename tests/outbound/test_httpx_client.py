"""robust_async_client on its own: bulkheads, breakers, Idempotency-Key, redirect hygiene,
one client per event loop, and under uvicorn."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest
import requests
import uvicorn
from asgiref.wsgi import WsgiToAsgi

from flask_guard import (
    BulkheadFullError,
    CircuitBreaker,
    CircuitOpenError,
    FlaskGuard,
    HttpxTotalTimeout,
    robust_async_client,
    waits,
)
from flask_guard.compat.httpx import keep_read_body

from ..conftest import make_app
from ..upstreams import trickling_upstream
from .raw_upstream import raw_upstream, response

T = TypeVar("T")
OK = response("200 OK", body=b"ok")


def run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(make())


def answers(*raw: bytes) -> Callable[[int, bytes], bytes]:
    """Answer the requests in turn, the last answer for ever after."""
    return lambda index, head: raw[min(index, len(raw) - 1)]


BUSY = response("503 Service Unavailable", body=b"busy")


def test_a_post_without_a_key_is_sent_once() -> None:
    client = robust_async_client(backoff_factor=0)
    with raw_upstream(answers(BUSY, OK)) as upstream:
        reply = run(lambda: client.post(upstream.url, json={"amount": 5}))
    assert reply.status_code == 503
    assert len(upstream.heads) == 1


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_keyed_post_or_patch_is_retried_with_the_same_key(method: str) -> None:
    client = robust_async_client(backoff_factor=0)
    headers = {"Idempotency-Key": "charge-41"}
    with raw_upstream(answers(BUSY, BUSY, OK)) as upstream:
        reply = run(lambda: client.request(method, upstream.url, json={}, headers=headers))
    assert reply.text == "ok"
    assert [upstream.header(i, "Idempotency-Key") for i in range(3)] == ["charge-41"] * 3


def test_idempotent_true_makes_one_key_for_every_attempt() -> None:
    client = robust_async_client(backoff_factor=0)
    with raw_upstream(answers(BUSY, OK)) as upstream:
        run(lambda: client.post(upstream.url, json={}, idempotent=True))
    keys = {upstream.header(i, "Idempotency-Key") for i in range(2)}
    assert len(upstream.heads) == 2
    assert len(keys) == 1
    assert None not in keys


def test_connection_failures_are_retried_for_any_method(refused_url: str) -> None:
    client = robust_async_client(retries=2, backoff_factor=0)
    started = time.monotonic()
    with pytest.raises(httpx.ConnectError):
        run(lambda: client.post(refused_url, json={}))
    assert time.monotonic() - started < 2


def test_waits_follow_the_strategy_given() -> None:
    client = robust_async_client(retries=2, wait=waits.Fixed(0.3))
    with raw_upstream(answers(BUSY, BUSY, OK)) as upstream:
        started = time.monotonic()
        reply = run(lambda: client.get(upstream.url))
    assert reply.text == "ok"
    assert time.monotonic() - started >= 0.6


def test_each_retry_is_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    client = robust_async_client(backoff_factor=0)
    with (
        caplog.at_level(logging.INFO, "flask_guard.retry"),
        raw_upstream(answers(BUSY, BUSY, OK)) as upstream,
    ):
        run(lambda: client.get(upstream.url + "/rates?token=s3cret"))
    lines = [r.getMessage() for r in caplog.records if r.name == "flask_guard.retry"]
    assert lines == [
        "retrying GET 127.0.0.1: attempt 1 of 4 failed (503), next in 0.00 s",
        "retrying GET 127.0.0.1: attempt 2 of 4 failed (503), next in 0.00 s",
    ]


def test_a_full_bulkhead_rejects_the_next_call_at_once(hanging_url: str) -> None:
    client = robust_async_client(max_concurrent=1, total_timeout=1)

    async def two_at_once() -> tuple[object]:
        first = asyncio.create_task(client.get(hanging_url))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(BulkheadFullError):
            await client.get(hanging_url)
        assert time.monotonic() - started < 0.1
        return await asyncio.gather(first, return_exceptions=True)

    (first,) = run(two_at_once)
    assert isinstance(first, HttpxTotalTimeout)
    assert [b.stats.in_flight for b in client.bulkhead_list()] == [0]
    assert [b.name for b in client.bulkhead_list()] == [f"httpx:{hanging_url[7:]}"]


def test_a_per_host_breaker_opens_then_makes_no_connection() -> None:
    client = robust_async_client(retries=0, breaker="per-host")
    failing = response("500 Internal Server Error", body=b"down")
    with raw_upstream(answers(failing)) as upstream:

        async def calls() -> None:
            for _ in range(5):
                assert (await client.get(upstream.url)).status_code == 500
            with pytest.raises(CircuitOpenError):
                await client.get(upstream.url)

        run(calls)
    assert len(upstream.heads) == 5


def test_4xx_do_not_count_against_a_given_breaker() -> None:
    breaker = CircuitBreaker("orders", failure_threshold=1)
    client = robust_async_client(retries=0, breaker=breaker)
    with raw_upstream(answers(response("404 Not Found"))) as upstream:

        async def calls() -> None:
            for _ in range(3):
                assert (await client.get(upstream.url)).status_code == 404

        run(calls)
    assert breaker.stats.total_failures == 0


def test_a_redirect_to_another_host_drops_secret_headers_the_same_host_keeps_them() -> None:
    with raw_upstream(answers(OK), host="localhost") as other:
        elsewhere = response("302 Found", {"Location": other.url + "/landed"})
        with raw_upstream(
            answers(response("302 Found", {"Location": "/next"}), elsewhere)
        ) as first:
            headers = {"Authorization": "Bearer t0k", "X-Api-Key": "k3y", "X-Trace": "kept"}
            reply = run(lambda: robust_async_client().get(first.url, headers=headers))
    assert reply.text == "ok"
    assert first.header(1, "X-Api-Key") == "k3y"  # same host: kept
    assert other.header(0, "Authorization") is None
    assert other.header(0, "X-Api-Key") is None
    assert other.header(0, "X-Trace") == "kept"


def test_no_cookie_an_upstream_sets_rides_on_a_later_call() -> None:
    sets = response("200 OK", {"Set-Cookie": "session=alice; Path=/"}, b"ok")
    client = robust_async_client()
    with raw_upstream(answers(sets)) as upstream:
        run(lambda: client.get(upstream.url))
        run(lambda: client.get(upstream.url))
    assert upstream.header(1, "Cookie") is None


def test_a_client_shared_by_two_loops_uses_each_loops_connections() -> None:
    client = robust_async_client()
    with raw_upstream(answers(OK)) as upstream:
        for _ in range(3):
            assert run(lambda: client.get(upstream.url)).text == "ok"
        deadline = time.monotonic() + 5
        while upstream.open and time.monotonic() < deadline:
            time.sleep(0.01)
    assert upstream.accepted == 3
    assert upstream.open == 0
    assert client.open_loops == 0


def test_loops_in_threads_share_nothing_but_the_client() -> None:
    client = robust_async_client()
    barrier = threading.Barrier(4)
    texts: list[str] = []

    async def one(url: str) -> str:
        barrier.wait(5)  # all four loops running at once
        return (await client.get(url)).text

    with raw_upstream(answers(OK)) as upstream:
        threads = [
            threading.Thread(target=lambda: texts.append(asyncio.run(one(upstream.url))))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert texts == ["ok"] * 4
    assert client.open_loops == 0


def test_under_uvicorn_requests_share_one_loop_and_its_connections() -> None:
    app = make_app()
    guard = FlaskGuard(app)
    with raw_upstream(answers(OK)) as upstream:

        @app.get("/relay")
        async def relay() -> str:
            return (await guard.async_client.get(upstream.url)).text

        asgi_app = WsgiToAsgi(app)  # type: ignore[no-untyped-call]
        config = uvicorn.Config(asgi_app, host="127.0.0.1", port=0, log_level="error")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        texts = [requests.get(f"http://127.0.0.1:{port}/relay", timeout=10).text for _ in range(5)]
        accepted_while_serving = upstream.accepted
        server.should_exit = True
        thread.join(10)
        deadline = time.monotonic() + 5
        while upstream.open and time.monotonic() < deadline:
            time.sleep(0.01)
    assert texts == ["ok"] * 5
    assert accepted_while_serving == 1  # one loop: one pooled connection for every request
    assert upstream.open == 0  # closed when uvicorn shut its loop down


def test_guard_async_client_is_one_per_app_and_needs_an_app_context() -> None:
    app = make_app()
    guard = FlaskGuard(app)
    with pytest.raises(RuntimeError, match="app context"):
        guard.async_client  # noqa: B018
    with app.app_context():
        assert guard.async_client is guard.async_client


def test_httpx_keeps_a_body_set_as_it_reads_its_own() -> None:
    """httpx keeps what ``aread()`` read in ``Response._content``: if this fails, a new
    httpx release (this one is {httpx.__version__}) moved it, and the capped read in
    flask_guard.compat.httpx must follow."""
    reply = httpx.Response(200, stream=httpx.ByteStream(b"raw"))
    keep_read_body(reply, b"decoded")
    assert reply.content == b"decoded", f"httpx {httpx.__version__}: Response._content"
    assert run(reply.aread) == b"decoded", f"httpx {httpx.__version__}: Response._content"


# A socket another test left to the garbage collector may be collected here; what this test
# checks of its own sockets is in the upstream's counts.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_aclose_closes_the_running_loops_client_and_the_next_call_opens_another() -> None:
    client = robust_async_client()
    with raw_upstream(answers(OK)) as upstream:

        async def close_between() -> int:
            await client.get(upstream.url)
            await client.aclose()
            opened = client.open_loops
            await client.get(upstream.url)
            return opened

        assert run(close_between) == 0
        deadline = time.monotonic() + 5
        while upstream.open and time.monotonic() < deadline:
            time.sleep(0.01)
    assert upstream.accepted == 2
    assert upstream.open == 0


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_loop_closed_by_hand_is_forgotten_by_the_next_loop() -> None:
    client = robust_async_client()
    with raw_upstream(answers(OK)) as upstream:
        loop = asyncio.new_event_loop()
        loop.run_until_complete(client.get(upstream.url))
        loop.close()  # no shutdown_asyncgens: the client cannot close its connections
        assert client.open_loops == 1
        run(lambda: client.get(upstream.url))
        del loop
        gc.collect()  # the forgotten loop's sockets go now, warning here and not later
    assert client.open_loops == 0


def test_a_streamed_call_is_bounded_up_to_its_headers(hanging_url: str) -> None:
    client = robust_async_client(retries=0, total_timeout=0.3)

    async def headers_never_come() -> None:
        async with client.stream("GET", hanging_url):
            pytest.fail("no response came")

    started = time.monotonic()
    with pytest.raises(HttpxTotalTimeout):
        run(headers_never_come)
    assert time.monotonic() - started < 2


def test_a_streamed_body_is_the_callers_to_read_after_the_deadline() -> None:
    client = robust_async_client(total_timeout=0.3)
    with trickling_upstream(interval=0.05) as upstream:

        async def read_slowly() -> bytes:
            async with client.stream("GET", upstream) as response:
                chunks = []
                async for chunk in response.aiter_raw():
                    chunks.append(chunk)
                    if sum(map(len, chunks)) >= 10:  # past the 0.3 s deadline by now
                        return b"".join(chunks)
            return b""

        assert run(read_slowly) == b"x" * 10
