"""Bulkheads: at most max_concurrent calls in flight; the next rejected at once, and seen."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug import Request, Response

from flask_guard import Bulkhead, BulkheadFullError, FlaskGuard, robust_session, signals
from flask_guard.ops.health import health_report

from ..conftest import error_of, make_app, serving

WAIT = 10.0  # the most any test waits for a thread to arrive; never reached when it passes


def hold(bulkhead: Bulkhead, count: int) -> tuple[threading.Event, list[threading.Thread]]:
    """Start ``count`` threads that each hold a slot of ``bulkhead`` until the event is set."""
    entered = threading.Barrier(count + 1)
    release = threading.Event()

    def occupy() -> None:
        with bulkhead:
            entered.wait(WAIT)
            release.wait(WAIT)

    threads = [threading.Thread(target=occupy) for _ in range(count)]
    for thread in threads:
        thread.start()
    entered.wait(WAIT)
    return release, threads


def finish(release: threading.Event, threads: list[threading.Thread]) -> None:
    release.set()
    for thread in threads:
        thread.join()


def test_admits_exactly_max_concurrent_callers_and_rejects_the_next_at_once() -> None:
    bulkhead = Bulkhead("ledger", max_concurrent=3)
    release, threads = hold(bulkhead, 3)
    try:
        with pytest.raises(BulkheadFullError, match="'ledger' is full"), bulkhead:
            pytest.fail("a fourth caller ran")
        stats = bulkhead.stats
        assert (stats.in_flight, stats.rejections) == (3, 1)
    finally:
        finish(release, threads)
    with bulkhead:
        assert bulkhead.stats.in_flight == 1
    assert bulkhead.stats.in_flight == 0


def test_a_slot_is_given_back_when_the_call_raises() -> None:
    bulkhead = Bulkhead("ledger", max_concurrent=1)

    @bulkhead
    def post() -> None:
        raise ConnectionError("down")

    for _ in range(3):
        with pytest.raises(ConnectionError):
            post()
    assert bulkhead.stats.in_flight == 0


def test_a_caller_with_max_wait_gets_the_slot_freed_meanwhile() -> None:
    bulkhead = Bulkhead("ledger", max_concurrent=1, max_wait=WAIT)
    release, threads = hold(bulkhead, 1)
    admitted = threading.Event()

    def wait_for_slot() -> None:
        with bulkhead:
            admitted.set()

    waiter = threading.Thread(target=wait_for_slot)
    waiter.start()
    deadline = time.monotonic() + WAIT
    while bulkhead._waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    finish(release, threads)
    waiter.join()
    assert admitted.is_set()
    assert bulkhead.stats.rejections == 0


def test_a_caller_with_max_wait_is_rejected_when_no_slot_frees() -> None:
    bulkhead = Bulkhead("ledger", max_concurrent=1, max_wait=0.05)
    release, threads = hold(bulkhead, 1)
    try:
        with pytest.raises(BulkheadFullError), bulkhead:
            pass
    finally:
        finish(release, threads)


def test_async_functions_are_bounded_too() -> None:
    bulkhead = Bulkhead("ledger", max_concurrent=2)
    inside = 0
    most = 0

    @bulkhead
    async def post(gate: asyncio.Event) -> None:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await gate.wait()
        inside -= 1

    async def scenario() -> list[object]:
        gate = asyncio.Event()
        tasks = [asyncio.create_task(post(gate)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(BulkheadFullError):
            await post(gate)
        async with Bulkhead("other", max_concurrent=1):
            pass
        gate.set()
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(scenario()) == [None, None]
    assert most == 2
    assert bulkhead.stats.in_flight == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_concurrent": 0}, "max_concurrent must be a whole number of at least 1, got 0"),
        ({"max_concurrent": 2.5}, "max_concurrent must be a whole number"),
        ({"max_concurrent": True}, "max_concurrent must be a whole number"),
        ({"max_concurrent": 1, "max_wait": -1}, "max_wait must be a number of seconds, 0 or more"),
    ],
)
def test_invalid_options_are_explained(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Bulkhead("ledger", **options)  # type: ignore[arg-type]


@pytest.fixture
def rejected() -> Iterator[list[object]]:
    senders: list[object] = []

    def record(sender: object) -> None:
        senders.append(sender)

    signals.bulkhead_rejected.connect(record)
    yield senders
    signals.bulkhead_rejected.disconnect(record)


def test_a_full_view_bulkhead_is_a_503_with_retry_after_and_a_signal(
    rejected: list[object],
) -> None:
    app = make_app()
    guard = FlaskGuard(app)
    entered = threading.Event()
    release = threading.Event()

    @app.get("/report")
    @guard.bulkhead("reports", max_concurrent=1)
    def report() -> str:
        entered.set()
        release.wait(WAIT)
        return "done"

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    with serving(app) as url:
        first = threading.Thread(target=requests.get, args=(f"{url}/report",))
        first.start()
        entered.wait(WAIT)
        try:
            response = requests.get(f"{url}/report")
            assert requests.get(f"{url}/ping").text == "pong"  # other routes unaffected
            health = health_document(app)
        finally:
            release.set()
            first.join()
    assert response.status_code == 503
    body = response.json()["error"]
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert response.headers["Retry-After"] == "1"
    assert "reports" not in response.text  # no internal names for strangers
    assert rejected == [guard.bulkheads["reports"]]
    assert health["bulkheads"]["reports"] == {
        "in_flight": 1,
        "max_concurrent": 1,
        "rejections": 1,
    }


def health_document(app: Flask) -> dict[str, Any]:
    """Return the health details (those an operator sees) of ``app``."""
    with app.app_context():
        document, _ = health_report(
            [], "memory", True, (), app.extensions["guard"].all_bulkheads()
        )
    return document


def test_an_async_view_can_use_a_bulkhead() -> None:
    app = make_app()
    guard = FlaskGuard(app)

    @app.get("/report")
    @guard.bulkhead("reports", max_concurrent=1)
    async def report() -> str:
        await asyncio.sleep(0)
        return "done"

    assert app.test_client().get("/report").text == "done"


def test_one_name_is_one_bulkhead_and_other_options_are_refused() -> None:
    guard = FlaskGuard()
    assert guard.bulkhead("db", max_concurrent=2) is guard.bulkhead("db", max_concurrent=2)
    with pytest.raises(ValueError, match="'db' was declared with"):
        guard.bulkhead("db", max_concurrent=3)


def blocking_upstream() -> tuple[
    Callable[[Request], Response], threading.Event, threading.Semaphore
]:
    release = threading.Event()
    arrived = threading.Semaphore(0)

    def handler(request: Request) -> Response:
        arrived.release()
        release.wait(WAIT)
        return Response("ok")

    return handler, release, arrived


def test_a_session_bulkhead_bounds_calls_per_host_and_not_across_hosts(
    rejected: list[object],
) -> None:
    handler, release, arrived = blocking_upstream()
    session = robust_session(retries=0, max_concurrent=2)
    with (
        serving(Request.application(handler)) as slow,
        serving(Request.application(lambda _: Response("fast"))) as fast,
    ):
        callers = [threading.Thread(target=session.get, args=(slow,)) for _ in range(2)]
        for caller in callers:
            caller.start()
        for _ in callers:
            assert arrived.acquire(timeout=WAIT)
        try:
            with pytest.raises(BulkheadFullError):
                session.get(slow)
            assert session.get(fast).text == "fast"
        finally:
            release.set()
            for caller in callers:
                caller.join()
        assert session.get(slow).text == "ok"
    host = slow.removeprefix("http://")
    assert [getattr(b, "name", None) for b in rejected] == [f"http:{host}"]


def test_guard_session_bulkheads_show_in_health_and_metrics() -> None:
    app = make_app(GUARD_HTTP_MAX_CONCURRENT=1, GUARD_METRICS_PATH="/metrics")
    guard = FlaskGuard(app)
    handler, release, arrived = blocking_upstream()
    with serving(Request.application(handler)) as upstream:
        caller = threading.Thread(target=guard.session.get, args=(upstream,))
        caller.start()
        assert arrived.acquire(timeout=WAIT)
        try:

            @app.get("/proxy")
            def proxy() -> str:
                return guard.session.get(upstream).text

            error = error_of(app.test_client().get("/proxy"))
            health = health_document(app)
            metrics = app.test_client().get("/metrics").text
        finally:
            release.set()
            caller.join()
    name = "http:" + upstream.removeprefix("http://")
    assert (error["status"], error["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert health["bulkheads"][name]["rejections"] == 1
    assert f'flask_guard_bulkhead_rejections_total{{bulkhead="{name}"}} 1.0' in metrics


def test_a_hung_dependency_holds_at_most_max_concurrent_threads(app: Flask) -> None:
    bulkhead = Bulkhead("hung", max_concurrent=2)
    release, threads = hold(bulkhead, 2)
    try:
        outcomes = []
        for _ in range(20):
            try:
                with bulkhead:
                    outcomes.append("ran")
            except BulkheadFullError:
                outcomes.append("rejected")
        assert outcomes == ["rejected"] * 20
        assert bulkhead.stats.in_flight == 2
    finally:
        finish(release, threads)


def test_an_async_caller_with_max_wait_gets_the_slot_freed_meanwhile() -> None:
    bulkhead = Bulkhead("ledger", max_concurrent=1, max_wait=WAIT)

    async def scenario() -> str:
        gate = asyncio.Event()

        async def holder() -> None:
            async with bulkhead:
                await gate.wait()

        task = asyncio.create_task(holder())
        await asyncio.sleep(0)
        waiter = asyncio.create_task(bulkhead.acquire_async())
        await asyncio.sleep(0)
        gate.set()
        await waiter
        bulkhead.release()
        await task
        return "admitted"

    assert asyncio.run(scenario()) == "admitted"
    assert bulkhead.stats.rejections == 0
