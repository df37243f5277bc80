"""Time budgets: a session call's total deadline and the request's budget, against upstreams
that trickle, hang, loop on Retry-After and answer slowly."""

from __future__ import annotations

import asyncio
import time

import pytest
import requests
from flask import Flask
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_guard import (
    DeadlineExceeded,
    FlaskGuard,
    GuardConfigError,
    TotalTimeout,
    current_deadline,
    retry_with_backoff,
    robust_session,
    time_left,
)
from flask_guard.resilience.request_budget import budget, parse_request_timeout

from ..conftest import FakeClock, error_of, make_app
from ..upstreams import trickling_upstream

# Generous: every budget below is well under a second, and an unbounded call would take
# minutes (a trickle of 10**6 bytes, a 60 s read timeout).
MARGIN = 10.0


def test_a_trickling_body_is_cut_at_the_total_timeout() -> None:
    session = robust_session(timeout=(1, 5), total_timeout=0.5)
    with trickling_upstream() as url:
        started = time.monotonic()
        with pytest.raises(TotalTimeout, match="ran past its deadline"):
            session.get(url)
    assert time.monotonic() - started < MARGIN


def test_a_trickling_body_without_a_length_is_an_error_not_a_short_body() -> None:
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    session = robust_session(retries=0, total_timeout=0.5)
    with trickling_upstream(head=head) as url, pytest.raises(TotalTimeout):
        session.get(url)


def test_trickling_headers_are_cut_at_the_total_timeout() -> None:
    session = robust_session(retries=0, timeout=(1, 5), total_timeout=0.5)
    with trickling_upstream(trickle_head=True) as url, pytest.raises(requests.Timeout):
        session.get(url)


def test_a_hang_is_cut_at_the_total_timeout_whatever_the_read_timeout(
    hanging_url: str,
) -> None:
    session = robust_session(retries=5, backoff_factor=0, timeout=(1, 60), total_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        session.get(hanging_url)
    assert time.monotonic() - started < MARGIN


def test_a_retry_after_loop_stops_when_the_next_wait_would_pass_the_deadline(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/busy").respond_with_data(
        "busy", status=503, headers={"Retry-After": "1"}
    )
    session = robust_session(retries=10, total_timeout=1.5)
    response = session.get(httpserver.url_for("/busy"))
    assert response.status_code == 503  # the last answer, not an exception
    assert len(httpserver.log) == 2  # waited once (1 s); a second wait would end past 1.5 s


def test_a_slow_answer_within_the_deadline_is_returned(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.2)
        return Response("late but fine")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    session = robust_session(total_timeout=MARGIN)
    assert session.get(httpserver.url_for("/slow")).text == "late but fine"


def test_a_streamed_call_is_bounded_up_to_its_headers(hanging_url: str) -> None:
    session = robust_session(retries=0, timeout=(1, 60), total_timeout=0.3)
    with pytest.raises(requests.Timeout):
        session.get(hanging_url, stream=True)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        ("0.25", 0.25),
        ("abc", None),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("1e3", None),
        ("0", None),
        ("86401", None),
        (" 5", None),
        ("5 ", None),
        ("1" * 400, None),
        ("", None),
        (None, None),
    ],
)
def test_only_plain_positive_seconds_are_a_request_timeout(
    value: str | None, seconds: float | None
) -> None:
    assert parse_request_timeout(value) == seconds


def budget_app(**config: object) -> tuple[Flask, FlaskGuard]:
    app = make_app(**config)
    guard = FlaskGuard(app)

    @app.get("/left")
    def left() -> dict[str, object]:
        return {"left": time_left(), "deadline": current_deadline()}

    @app.get("/left-async")
    async def left_async() -> dict[str, object]:
        await asyncio.sleep(0)
        return {"left": time_left()}

    return app, guard


def left_for(app: Flask, header: str | None = None, path: str = "/left") -> float | None:
    headers = {} if header is None else {"X-Request-Timeout": header}
    left: float | None = app.test_client().get(path, headers=headers).get_json()["left"]
    return left


def test_there_is_no_budget_by_default_nor_outside_a_request() -> None:
    app, _ = budget_app()
    assert left_for(app) is None
    assert time_left() is None
    assert current_deadline() is None


def test_the_configured_budget_applies_to_each_request() -> None:
    app, _ = budget_app(GUARD_REQUEST_TIMEOUT=30)
    left = left_for(app)
    assert left is not None
    assert 30 - MARGIN < left <= 30


def test_an_incoming_header_narrows_the_budget_but_never_widens_it() -> None:
    app, _ = budget_app(GUARD_REQUEST_TIMEOUT=30)
    narrowed = left_for(app, "2")
    assert narrowed is not None
    assert 0 < narrowed <= 2
    widened = left_for(app, "500")
    assert widened is not None
    assert widened <= 30


def test_an_incoming_header_alone_sets_a_budget() -> None:
    app, _ = budget_app()
    left = left_for(app, "3.5")
    assert left is not None
    assert 0 < left <= 3.5


@pytest.mark.parametrize("value", ["soon", "-3", "NaN", "1e400", "0", "99999999"])
def test_a_garbage_header_leaves_the_configured_budget(value: str) -> None:
    app, _ = budget_app(GUARD_REQUEST_TIMEOUT=30)
    left = left_for(app, value)
    assert left is not None
    assert 30 - MARGIN < left <= 30


def test_the_header_is_ignored_when_incoming_ids_are_not_trusted() -> None:
    app, _ = budget_app(GUARD_TRUST_REQUEST_ID=False)
    assert left_for(app, "2") is None


def test_an_async_view_sees_its_budget() -> None:
    app, _ = budget_app()
    left = left_for(app, "4", path="/left-async")
    assert left is not None
    assert 0 < left <= 4


@pytest.mark.parametrize("value", [0, -1, "5", True, float("nan"), float("inf"), 86_401])
def test_an_invalid_request_timeout_fails_at_init_app(value: object) -> None:
    with pytest.raises(GuardConfigError, match=r"^GUARD_REQUEST_TIMEOUT must be seconds above 0"):
        FlaskGuard(make_app(GUARD_REQUEST_TIMEOUT=value))


@pytest.mark.parametrize("value", [0, -1, "20", float("nan"), float("inf")])
def test_an_invalid_total_timeout_fails_at_init_app(value: object) -> None:
    with pytest.raises(
        GuardConfigError, match=r"^GUARD_HTTP_TOTAL_TIMEOUT must be a number of seconds above 0"
    ):
        FlaskGuard(make_app(GUARD_HTTP_TOTAL_TIMEOUT=value))


def test_the_time_left_is_sent_downstream(httpserver: HTTPServer) -> None:
    seen: list[str | None] = []

    def record(request: Request) -> Response:
        seen.append(request.headers.get("X-Request-Timeout"))
        return Response("ok")

    httpserver.expect_request("/quote").respond_with_handler(record)
    app, guard = budget_app()

    @app.get("/quote")
    def quote() -> str:
        return guard.session.get(httpserver.url_for("/quote")).text

    assert app.test_client().get("/quote", headers={"X-Request-Timeout": "3"}).text == "ok"
    assert app.test_client().get("/quote").text == "ok"  # no budget: nothing sent
    sent, unsent = seen
    assert sent is not None
    assert 0 < float(sent) <= 3
    assert unsent is None


def test_a_hang_inside_the_budget_is_our_504_with_both_ids(hanging_url: str) -> None:
    app, guard = budget_app(GUARD_HTTP_TIMEOUT=(1, 60), GUARD_HTTP_RETRIES=0)

    @app.get("/charge")
    def charge() -> str:
        return guard.session.get(hanging_url).text

    started = time.monotonic()
    response = app.test_client().get("/charge", headers={"X-Request-Timeout": "0.3"})
    assert time.monotonic() - started < MARGIN
    error = error_of(response)
    assert (error["status"], error["code"]) == (504, "UPSTREAM_TIMEOUT")


def test_a_spent_budget_is_a_504_before_any_call(httpserver: HTTPServer) -> None:
    app, guard = budget_app()

    @app.get("/late")
    def late() -> str:
        with budget(1e-9):
            return guard.session.get(httpserver.url_for("/never")).text

    error = error_of(app.test_client().get("/late"))
    assert (error["status"], error["code"]) == (504, "UPSTREAM_TIMEOUT")
    assert httpserver.log == []


def test_retry_with_backoff_raises_deadline_exceeded_without_calling_once_spent() -> None:
    calls: list[int] = []

    @retry_with_backoff(budget=None)
    def lookup() -> int:
        calls.append(1)
        return 1

    with budget(1e-9), pytest.raises(DeadlineExceeded):
        lookup()
    assert calls == []


def test_retry_with_backoff_starts_no_retry_that_could_not_finish_in_the_budget(
    clock: FakeClock,
) -> None:
    calls: list[float] = []

    @retry_with_backoff(
        max_attempts=5, base_delay=0.5, jitter=None, budget=None, sleep=clock.advance, clock=clock
    )
    def slow_lookup() -> None:
        calls.append(clock.now)
        clock.advance(2)  # each attempt takes 2 s on the injected clock
        raise ConnectionError("no answer")

    with budget(5), pytest.raises(ConnectionError) as excinfo:
        slow_lookup()
    # 1st attempt ends at +2; a retry would end at +2 + 0.5 + 2 = 4.5 <= 5: it runs.
    # 2nd ends at +4.5; the next would end at +7: not started.
    assert len(calls) == 2
    assert "could not finish within the request's budget" in excinfo.value.__notes__[0]


def test_retry_with_backoff_retries_freely_without_a_budget(clock: FakeClock) -> None:
    calls: list[float] = []

    @retry_with_backoff(
        max_attempts=4, base_delay=0.5, jitter=None, budget=None, sleep=clock.advance, clock=clock
    )
    def slow_lookup() -> None:
        calls.append(clock.now)
        clock.advance(2)
        raise ConnectionError("no answer")

    with pytest.raises(ConnectionError):
        slow_lookup()
    assert len(calls) == 4


def test_deadline_exceeded_is_never_retried() -> None:
    calls: list[int] = []

    @retry_with_backoff(max_attempts=3, base_delay=0, budget=None)
    def call() -> None:
        calls.append(1)
        raise DeadlineExceeded("spent")

    with pytest.raises(DeadlineExceeded):
        call()
    assert calls == [1]


def breaker_app(**config: object) -> tuple[Flask, FlaskGuard]:
    app = make_app(GUARD_HTTP_TIMEOUT=(1, 60), GUARD_HTTP_RETRIES=0, **config)
    guard = FlaskGuard(app)

    @app.get("/charge")
    @guard.breaker("payments", failure_threshold=2)
    def charge() -> str:
        return guard.session.get(app.config["UPSTREAM_URL"]).text

    return app, guard


def test_a_call_cut_short_by_the_clients_budget_never_counts_toward_a_breaker(
    hanging_url: str,
) -> None:
    app, guard = breaker_app(UPSTREAM_URL=hanging_url)
    for _ in range(4):
        response = app.test_client().get("/charge", headers={"X-Request-Timeout": "0.1"})
        assert error_of(response)["code"] == "UPSTREAM_TIMEOUT"
    assert guard.breakers["payments"].stats.total_failures == 0


def test_a_call_cut_short_by_the_configured_budget_counts_toward_the_breaker(
    hanging_url: str,
) -> None:
    app, _ = breaker_app(UPSTREAM_URL=hanging_url, GUARD_REQUEST_TIMEOUT=0.1)
    for _ in range(2):
        assert error_of(app.test_client().get("/charge"))["code"] == "UPSTREAM_TIMEOUT"
    assert error_of(app.test_client().get("/charge"))["code"] == "SERVICE_UNAVAILABLE"
