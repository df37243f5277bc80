"""The adaptive per-host limit: a host that answers is never limited, a host that stalls keeps
one call in flight, its other overdue calls are cut and new ones turned away at once, and
calls answered in time lift the limit again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import pytest
import requests
from flask import Flask
from werkzeug import Request, Response

from flask_guard import BulkheadFullError, FlaskGuard, TotalTimeout, robust_session
from flask_guard.outbound.adapter import GuardedAdapter
from flask_guard.outbound.host_limit import MIN_OVERDUE, HostLimit

from ..conftest import FakeClock, error_of, make_app, serving

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def _stall(host: HostLimit, clock: FakeClock, calls: int) -> list[bool]:
    """Make the host's usual time 50 ms, put ``calls`` calls in flight and let each become
    overdue; return whether each was to be cut."""
    warm = host.admit(10.0)
    clock.advance(0.05)
    warm.finish(answered=True)
    admitted = [host.admit(10.0) for _ in range(calls)]
    clock.advance(MIN_OVERDUE)
    return [call.overdue() for call in admitted]


def test_a_host_that_answers_is_never_limited(clock: FakeClock) -> None:
    host = HostLimit("http:api", clock)
    in_flight = [host.admit(10.0) for _ in range(200)]
    assert host.limit is None
    for call in in_flight:
        clock.advance(0.01)
        call.finish(answered=True)
    assert (host.limit, host.in_flight, host.rejections) == (None, 0, 0)


def test_a_lone_slow_call_is_never_cut(clock: FakeClock) -> None:
    assert _stall(HostLimit("http:api", clock), clock, 1) == [False]


def test_two_overdue_calls_stall_the_host_and_all_but_one_overdue_call_is_cut(
    clock: FakeClock,
) -> None:
    host = HostLimit("http:api", clock)
    assert _stall(host, clock, 4) == [False, True, True, True]
    assert host.limit == 1
    with pytest.raises(BulkheadFullError):
        host.admit(10.0)
    assert host.rejections == 1


def test_only_a_call_that_joins_others_in_flight_needs_an_alarm(clock: FakeClock) -> None:
    host = HostLimit("http:api", clock)
    first, second = host.admit(10.0), host.admit(10.0)
    assert (first.alone, second.alone) == (True, False)
    clock.advance(10.0)
    # The first call has no alarm; the second's counts it overdue, stalls the host and is
    # cut, while the first, the oldest, stays as the probe.
    assert second.overdue() is True
    assert host.limit == 1


def test_a_call_becomes_overdue_after_ten_times_the_usual_time_within_bounds(
    clock: FakeClock,
) -> None:
    host = HostLimit("http:api", clock)
    first = host.admit(10.0)
    assert first.overdue_after == 10.0  # nothing known yet: the read timeout
    clock.advance(0.4)
    first.finish(answered=True)
    assert host.admit(10.0).overdue_after == pytest.approx(4.0)
    assert host.admit(2.5).overdue_after == 2.5
    quick = HostLimit("http:quick", clock)
    call = quick.admit(10.0)
    clock.advance(0.001)
    call.finish(answered=True)
    assert quick.admit(10.0).overdue_after == MIN_OVERDUE


def test_a_probe_answered_in_time_raises_the_limit_until_it_is_lifted(clock: FakeClock) -> None:
    host = HostLimit("http:api", clock)
    warm = host.admit(10.0)
    clock.advance(0.05)
    warm.finish(answered=True)
    stalled = [host.admit(10.0) for _ in range(3)]
    clock.advance(MIN_OVERDUE)
    assert [call.overdue() for call in stalled] == [False, True, True]
    for call in stalled:
        call.finish(answered=False)
    limits = []
    while host.limit is not None:
        limits.append(host.limit)
        probes = [host.admit(10.0) for _ in range(host.limit)]
        clock.advance(0.05)
        for probe in probes:
            probe.finish(answered=True)
    assert limits == [1, 2]
    assert host.limit is None


def test_a_host_that_became_slow_but_answers_is_soon_not_overdue(clock: FakeClock) -> None:
    host = HostLimit("http:api", clock)
    for seconds in (0.01, 3.0, 3.0, 3.0):  # fast, then a slow spell that answers
        call = host.admit(30.0)
        clock.advance(seconds)
        call.finish(answered=True)
    assert host.admit(30.0).overdue_after > 3.0 * 2


def test_an_alarm_after_the_call_ended_changes_nothing(clock: FakeClock) -> None:
    host = HostLimit("http:api", clock)
    calls = [host.admit(10.0) for _ in range(2)]
    for call in calls:
        call.finish(answered=True)
    assert [call.overdue() for call in calls] == [False, False]
    assert host.limit is None


@pytest.fixture
def stalling_upstream() -> Iterator[tuple[str, threading.Event]]:
    """Serve ``/fast`` at once and hold ``/hang`` until the event is set (10 s at most)."""
    release = threading.Event()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if Request(environ).path == "/hang":
            release.wait(10)
        return Response('{"ok": true}', mimetype="application/json")(environ, start_response)

    with serving(app) as url:
        try:
            yield url, release
        finally:
            release.set()


Outcome = tuple[str, float]


def _call_concurrently(session: requests.Session, url: str, calls: int) -> list[Outcome]:
    """Make ``calls`` calls at once; return how each ended and after how many seconds."""
    outcomes: list[Outcome] = []
    ready = threading.Barrier(calls)

    def call() -> None:
        ready.wait()
        started = time.monotonic()
        try:
            session.get(url)
            outcome = "answered"
        except TotalTimeout as error:
            outcome = "cut" if "cut short" in str(error) else "timed out"
        except BulkheadFullError:
            outcome = "turned away"
        outcomes.append((outcome, time.monotonic() - started))

    threads = [threading.Thread(target=call) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_a_hung_host_keeps_one_call_and_the_others_are_cut_after_the_usual_time(
    stalling_upstream: tuple[str, threading.Event],
) -> None:
    url, release = stalling_upstream
    session = robust_session(timeout=(3.05, 8.0))
    assert session.get(f"{url}/fast").json() == {"ok": True}  # the host's usual time

    outcomes: list[Outcome] = []
    worker = threading.Thread(
        target=lambda: outcomes.extend(_call_concurrently(session, f"{url}/hang", 4))
    )
    worker.start()
    adapter = session.get_adapter(url)
    assert isinstance(adapter, GuardedAdapter)
    host = adapter.host_limits[url.removeprefix("http://")]
    deadline = time.monotonic() + 5
    while host.in_flight != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(BulkheadFullError):
        session.get(f"{url}/fast")  # turned away at once while the probe is out
    release.set()
    worker.join()
    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds == ["answered", "cut", "cut", "cut"]
    cut_after = [seconds for kind, seconds in outcomes if kind == "cut"]
    assert all(MIN_OVERDUE <= seconds < MIN_OVERDUE + 2.0 for seconds in cut_after)
    assert session.get(f"{url}/fast").json() == {"ok": True}


def test_many_calls_in_flight_to_a_host_that_answers_are_all_served(
    stalling_upstream: tuple[str, threading.Event],
) -> None:
    url, _ = stalling_upstream
    session = robust_session(pool_maxsize=32)
    outcomes = _call_concurrently(session, f"{url}/fast", 32)
    assert [kind for kind, _ in outcomes] == ["answered"] * 32
    adapter = session.get_adapter(url)
    assert isinstance(adapter, GuardedAdapter)
    host = adapter.host_limits[url.removeprefix("http://")]
    assert (host.limit, host.rejections) == (None, 0)


def test_a_cut_call_is_a_504_and_a_turned_away_call_a_503_in_a_view(
    stalling_upstream: tuple[str, threading.Event],
) -> None:
    url, release = stalling_upstream
    app: Flask = make_app()
    guard = FlaskGuard(app)

    @app.get("/charge/<path:path>")
    def charge(path: str) -> dict[str, bool]:
        answer: dict[str, bool] = guard.session.get(f"{url}/{path}").json()
        return answer

    client = app.test_client()
    assert client.get("/charge/fast").status_code == 200
    statuses: list[int] = []
    ready = threading.Barrier(3)

    def call() -> None:
        ready.wait()
        statuses.append(app.test_client().get("/charge/hang").status_code)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    adapter = guard.session.get_adapter(url)
    assert isinstance(adapter, GuardedAdapter)
    deadline = time.monotonic() + 5
    while len(statuses) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    turned_away = client.get("/charge/fast")
    release.set()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 504, 504]
    assert turned_away.status_code == 503
    assert error_of(turned_away)["code"] == "SERVICE_UNAVAILABLE"
