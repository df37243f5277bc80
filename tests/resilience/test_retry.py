"""retry_with_backoff and RetryBudget: attempts, waits, deadline, hints, budget, signals."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug.exceptions import NotFound

from flask_guard import ApiError, CircuitOpenError, RetryBudget, retry_with_backoff, signals
from flask_guard.resilience.backoff import retry_after_hint
from flask_guard.resilience.waits import from_jitter

from ..conftest import FakeClock


class Flaky(Exception):
    pass


class Sleeper:
    """An injected sleep that records each wait and moves the fake clock by it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture
def sleeper(clock: FakeClock) -> Sleeper:
    return Sleeper(clock)


def failing(times: int, error: Exception | None = None):  # type: ignore[no-untyped-def]
    calls = {"count": 0}

    def call() -> str:
        calls["count"] += 1
        if calls["count"] <= times:
            raise error or Flaky(f"attempt {calls['count']}")
        return "done"

    call.calls = calls  # type: ignore[attr-defined]
    return call


def test_retries_until_success(sleeper: Sleeper, clock: FakeClock) -> None:
    call = failing(2)
    retried = retry_with_backoff(
        base_delay=1, jitter=None, budget=None, sleep=sleeper, clock=clock
    )(call)
    assert retried() == "done"
    assert call.calls["count"] == 3
    assert sleeper.waits == [1, 2]


def test_gives_up_with_the_last_exception_and_a_note(sleeper: Sleeper) -> None:
    call = failing(5)
    retried = retry_with_backoff(max_attempts=3, budget=None, sleep=sleeper)(call)
    with pytest.raises(Flaky, match="attempt 3") as excinfo:
        retried()
    assert excinfo.value.__notes__ == [
        "retry_with_backoff gave up after 3 attempts: no attempts left"
    ]
    assert len(sleeper.waits) == 2


def test_exceptions_outside_retry_on_are_not_retried(sleeper: Sleeper) -> None:
    call = failing(1, KeyError("sku"))
    with pytest.raises(KeyError):
        retry_with_backoff(retry_on=(Flaky,), sleep=sleeper)(call)()
    assert call.calls["count"] == 1
    assert sleeper.waits == []


@pytest.mark.parametrize("error", [ApiError.not_found("Order"), NotFound()])
def test_client_errors_are_never_retried(sleeper: Sleeper, error: Exception) -> None:
    call = failing(1, error)
    with pytest.raises(type(error)):
        retry_with_backoff(sleep=sleeper)(call)()
    assert call.calls["count"] == 1


def test_circuit_open_is_never_retried(sleeper: Sleeper) -> None:
    call = failing(1, CircuitOpenError("payments", 5.0))
    with pytest.raises(CircuitOpenError):
        retry_with_backoff(retry_on=(Exception,), sleep=sleeper)(call)()
    assert call.calls["count"] == 1


def test_max_time_is_a_deadline_no_wait_passes(sleeper: Sleeper, clock: FakeClock) -> None:
    call = failing(10)
    retried = retry_with_backoff(
        max_attempts=10,
        base_delay=1,
        jitter=None,
        max_time=2.5,
        budget=None,
        sleep=sleeper,
        clock=clock,
    )(call)
    with pytest.raises(Flaky) as excinfo:
        retried()
    assert sleeper.waits == [1]  # the next wait (2 s) would end after the 2.5 s deadline
    assert (
        "gave up after 2 attempts: waiting would pass max_time=2.5s" in excinfo.value.__notes__[0]
    )


def test_max_delay_caps_every_wait(sleeper: Sleeper) -> None:
    retried = retry_with_backoff(
        max_attempts=6, base_delay=1, max_delay=3, jitter=None, budget=None, sleep=sleeper
    )(failing(5))
    retried()
    assert sleeper.waits == [1, 2, 3, 3, 3]


class PleaseWait(Exception):
    retry_after = 0.25


def test_retry_after_attribute_replaces_the_backoff(sleeper: Sleeper) -> None:
    retry_with_backoff(base_delay=5, budget=None, sleep=sleeper)(failing(1, PleaseWait()))()
    assert sleeper.waits == [0.25]


def test_retry_after_header_of_an_http_error_is_honoured_and_capped(
    httpserver: HTTPServer, sleeper: Sleeper
) -> None:
    httpserver.expect_ordered_request("/rates").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/rates").respond_with_data(
        "busy", status=503, headers={"Retry-After": "2"}
    )
    httpserver.expect_ordered_request("/rates").respond_with_json({"eur": 1.1})

    @retry_with_backoff(max_delay=5, budget=None, sleep=sleeper)
    def rates() -> object:
        response = requests.get(httpserver.url_for("/rates"), timeout=5)
        response.raise_for_status()
        return response.json()

    assert rates() == {"eur": 1.1}
    assert sleeper.waits == [5, 2]


def test_malformed_retry_after_is_ignored() -> None:
    response = requests.Response()
    response.headers["Retry-After"] = "soon"
    assert retry_after_hint(requests.HTTPError(response=response)) is None
    response.headers["Retry-After"] = "3"
    assert retry_after_hint(requests.HTTPError(response=response)) == 3
    assert retry_after_hint(ValueError("no hint")) is None


def test_retry_if_result(sleeper: Sleeper) -> None:
    answers = iter([None, None, "ready", "late"])
    retried = retry_with_backoff(retry_if_result=lambda r: r is None, budget=None, sleep=sleeper)(
        lambda: next(answers)
    )
    assert retried() == "ready"
    exhausted = iter([None] * 5)
    give_up = retry_with_backoff(
        max_attempts=2, retry_if_result=lambda r: r is None, budget=None, sleep=sleeper
    )(lambda: next(exhausted))
    assert give_up() is None


def test_empty_budget_fails_fast_and_says_so(sleeper: Sleeper, clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.5, min_retries_per_second=0, max_tokens=2, clock=clock)
    retried = retry_with_backoff(max_attempts=5, budget=budget, sleep=sleeper)
    first = retried(failing(10))
    with pytest.raises(Flaky) as excinfo:
        first()
    assert len(sleeper.waits) == 2  # the full bucket held 2 retries
    assert "the retry budget is empty" in excinfo.value.__notes__[0]
    assert "after 3 attempts" in excinfo.value.__notes__[0]
    with pytest.raises(Flaky):
        retried(failing(10))()
    assert len(sleeper.waits) == 2  # still empty: the deposit of 0.5 does not pay a retry
    with pytest.raises(Flaky):
        retried(failing(10))()
    assert len(sleeper.waits) == 3  # two first attempts deposited one whole retry


def test_budget_refills_over_time(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.2, min_retries_per_second=2, max_tokens=5, clock=clock)
    for _ in range(5):
        assert budget.try_withdraw()
    assert not budget.try_withdraw()
    clock.advance(1)
    assert budget.tokens == 2
    clock.advance(60)
    assert budget.tokens == 5


def test_budget_caps_retries_at_the_ratio(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.2, min_retries_per_second=0, max_tokens=10, clock=clock)
    while budget.try_withdraw():
        pass
    retries = 0
    for _ in range(1000):
        budget.deposit()
        retries += budget.try_withdraw()
    assert retries == 200


@pytest.fixture
def retry_events() -> Iterator[list[tuple[str, dict[str, object]]]]:
    seen: list[tuple[str, dict[str, object]]] = []

    def attempted(sender: object, **kwargs: object) -> None:
        seen.append(("attempted", kwargs))

    def exhausted(sender: object, **kwargs: object) -> None:
        seen.append(("exhausted", kwargs))

    signals.retry_attempted.connect(attempted)
    signals.retry_exhausted.connect(exhausted)
    yield seen
    signals.retry_attempted.disconnect(attempted)
    signals.retry_exhausted.disconnect(exhausted)


def test_signals(sleeper: Sleeper, retry_events: list[tuple[str, dict[str, object]]]) -> None:
    with pytest.raises(Flaky):
        retry_with_backoff(max_attempts=2, base_delay=1, jitter=None, budget=None, sleep=sleeper)(
            failing(5)
        )()
    (kind, attempted), (kind2, exhausted) = retry_events
    assert (kind, attempted["attempt"], attempted["delay"]) == ("attempted", 1, 1)
    assert isinstance(attempted["exception"], Flaky)
    assert (kind2, exhausted["attempts"]) == ("exhausted", 2)


def test_async_functions_are_retried(clock: FakeClock) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    state = {"calls": 0}

    @retry_with_backoff(base_delay=1, jitter=None, budget=None, sleep=record)
    async def fetch() -> str:
        await asyncio.sleep(0)
        state["calls"] += 1
        if state["calls"] < 3:
            raise Flaky("not yet")
        return "done"

    assert asyncio.run(fetch()) == "done"
    assert waits == [1, 2]
    assert fetch.__name__ == "fetch"


def test_async_gives_up_with_a_note() -> None:
    @retry_with_backoff(max_attempts=2, base_delay=0, budget=None)
    async def never() -> None:
        raise Flaky("never")

    with pytest.raises(Flaky) as excinfo:
        asyncio.run(never())
    assert excinfo.value.__notes__ == [
        "retry_with_backoff gave up after 2 attempts: no attempts left"
    ]


@given(
    attempt=st.integers(1, 12),
    base=st.floats(0.01, 2),
    cap=st.floats(0.01, 30),
    previous=st.floats(0, 30),
)
def test_backoff_delays_stay_in_their_bounds(
    attempt: int, base: float, cap: float, previous: float
) -> None:
    ceiling = min(cap, base * 2 ** (attempt - 1))
    assert 0 <= from_jitter(base, cap, "full")(attempt, previous) <= ceiling
    assert ceiling / 2 <= from_jitter(base, cap, "equal")(attempt, previous) <= ceiling
    assert from_jitter(base, cap, None)(attempt, previous) == ceiling
    decorrelated = from_jitter(base, cap, "decorrelated")(attempt, previous)
    assert decorrelated <= cap
    assert decorrelated >= min(cap, base)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be a whole number of at least 1"),
        ({"base_delay": -1}, "base_delay must be a number of seconds"),
        ({"max_time": 0}, "max_time must be a number of seconds above 0"),
        ({"jitter": "random"}, "jitter must be"),
        ({"retry_on": Flaky}, "retry_on must be a tuple of Exception classes"),
    ],
)
def test_invalid_options_are_explained(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        retry_with_backoff(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ratio": 0}, "ratio must be a number above 0"),
        ({"min_retries_per_second": -1}, "min_retries_per_second must be a number, 0 or more"),
    ],
)
def test_invalid_budget_is_explained(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryBudget(**options)  # type: ignore[arg-type]
