"""Retries that fit each call: a wait strategy per decorator, one INFO line per retry, and
statistics on the function."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from flask_guard import FlaskGuard, retry_with_backoff, waits

from ..conftest import FakeClock, make_app


class Flaky(Exception):
    pass


def failing(times: int) -> tuple[list[int], Callable[[], str]]:
    """Return a call log and a function that fails its first ``times`` calls."""
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise Flaky("not yet")
        return "done"

    return calls, flaky


def test_the_wait_strategy_given_decides_each_wait(clock: FakeClock) -> None:
    slept: list[float] = []
    _, flaky = failing(3)
    retried = retry_with_backoff(
        max_attempts=4, wait=waits.Linear(0.5, step=0.25), sleep=slept.append, clock=clock
    )(flaky)
    assert retried() == "done"
    assert slept == [0.5, 0.75, 1.0]


def test_max_delay_caps_the_strategy_too() -> None:
    slept: list[float] = []
    _, flaky = failing(1)
    retry_with_backoff(wait=waits.Fixed(30), max_delay=2, sleep=slept.append)(flaky)()
    assert slept == [2]


def test_a_wait_that_is_no_strategy_is_refused() -> None:
    with pytest.raises(TypeError, match=r"wait must be a flask_guard\.waits strategy"):
        retry_with_backoff(wait=0.5)  # type: ignore[arg-type]


def test_each_retry_is_one_info_line_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    FlaskGuard(app)
    _, flaky = failing(2)
    retried = retry_with_backoff(base_delay=0, sleep=lambda _: None)(flaky)

    @app.get("/work")
    def work() -> str:
        return retried()

    with caplog.at_level(logging.INFO, "flask_guard.retry"):
        app.test_client().get("/work", headers={"X-Request-ID": "job-9"})
    lines = [r.getMessage() for r in caplog.records if r.name == "flask_guard.retry"]
    assert lines == [
        "retrying failing.<locals>.flaky: attempt 1 of 3 failed (Flaky), next in 0.00 s "
        "(request job-9)",
        "retrying failing.<locals>.flaky: attempt 2 of 3 failed (Flaky), next in 0.00 s "
        "(request job-9)",
    ]


def test_a_logging_config_silences_the_retry_lines(caplog: pytest.LogCaptureFixture) -> None:
    _, flaky = failing(2)
    retried = retry_with_backoff(base_delay=0, sleep=lambda _: None)(flaky)
    logger = logging.getLogger("flask_guard.retry")
    logger.setLevel(logging.WARNING)
    try:
        with caplog.at_level(logging.INFO):
            retried()
    finally:
        logger.setLevel(logging.NOTSET)
    assert [r for r in caplog.records if r.name == "flask_guard.retry"] == []


def test_statistics_count_calls_attempts_failures_and_waits() -> None:
    _, flaky = failing(4)
    retried = retry_with_backoff(max_attempts=3, wait=waits.Fixed(0.25), sleep=lambda _: None)(
        flaky
    )
    with pytest.raises(Flaky):
        retried()
    assert retried() == "done"  # fourth call fails, fifth succeeds
    stats = retried.retry.statistics
    assert (stats.calls, stats.attempts, stats.retries, stats.failures) == (2, 5, 3, 1)
    assert stats.waited == pytest.approx(0.75)
    retried.retry.reset_statistics()
    assert retried.retry.statistics.calls == 0


def test_statistics_stay_whole_under_threads() -> None:
    threads, calls_each = 8, 500
    barrier = threading.Barrier(threads)
    lock = threading.Lock()
    seen: dict[int, int] = {}

    @retry_with_backoff(max_attempts=2, base_delay=0, sleep=lambda _: None, budget=None)
    def every_other() -> None:
        ident = threading.get_ident()
        with lock:
            seen[ident] = seen.get(ident, 0) + 1
            odd = seen[ident] % 2
        if odd:
            raise Flaky("odd attempt")

    def work() -> None:
        barrier.wait(5)
        for _ in range(calls_each):
            every_other()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stats = every_other.retry.statistics
    assert stats.calls == threads * calls_each
    assert stats.attempts == 2 * threads * calls_each
    assert stats.retries == threads * calls_each
    assert stats.failures == 0
