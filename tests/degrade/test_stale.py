"""Stale-if-error: the last good value while the source fails, never past its stale TTL."""

from __future__ import annotations

import asyncio

import pytest
import requests
from flask import Flask
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from flask_guard import CircuitBreaker, FlaskGuard
from flask_guard.degrade import StaleCache
from flask_guard.signals import stale_served

from ..conftest import FakeClock, make_app, serving


class Source:
    """A source of values that can be taken down; counts its calls."""

    def __init__(self) -> None:
        self.up = True
        self.calls = 0
        self.version = 0

    def __call__(self, key: str) -> dict[str, object]:
        self.calls += 1
        if not self.up:
            raise ConnectionError("source down")
        self.version += 1
        return {"key": key, "version": self.version}


def test_a_fresh_value_is_answered_without_calling_the_source(clock: FakeClock) -> None:
    source = Source()
    cached = StaleCache("recs", fresh=10, stale=100, clock=clock)(source)
    assert cached("a") == {"key": "a", "version": 1}
    clock.advance(9)
    assert cached("a") == {"key": "a", "version": 1}
    assert source.calls == 1
    clock.advance(1)
    assert cached("a") == {"key": "a", "version": 2}


def test_a_failing_source_is_answered_with_the_last_good_value_within_the_stale_ttl(
    clock: FakeClock,
) -> None:
    source = Source()
    cache = StaleCache("recs", fresh=10, stale=100, clock=clock)
    cached = cache(source)
    cached("a")
    source.up = False
    clock.advance(99)
    assert cached("a") == {"key": "a", "version": 1}
    assert cache.served_stale == 1
    clock.advance(1)
    with pytest.raises(ConnectionError):
        cached("a")


def test_an_open_breaker_is_answered_stale_without_calling_the_source(clock: FakeClock) -> None:
    source = Source()
    breaker = CircuitBreaker("recs-api")
    cached = StaleCache("recs", fresh=0, stale=60, clock=clock)(breaker(source))
    cached("a")
    breaker.force_open()
    assert cached("a") == {"key": "a", "version": 1}
    assert source.calls == 1


def test_memory_is_bounded_the_oldest_written_go_first(clock: FakeClock) -> None:
    source = Source()
    cache = StaleCache("recs", fresh=0, stale=60, max_entries=2, clock=clock)
    cached = cache(source)
    for key in "abc":
        cached(key)
    assert len(cache) == 2
    source.up = False
    with pytest.raises(ConnectionError):
        cached("a")
    assert cached("c")["key"] == "c"


def test_a_request_with_an_unsafe_method_never_gets_stale_data() -> None:
    app = make_app()
    guard = FlaskGuard(app)
    source = Source()
    cached = guard.stale_if_error("recs", fresh=0, stale=60)(source)

    @app.route("/recs", methods=["GET", "POST"])
    def recs() -> dict[str, object]:
        return cached("a")

    client = app.test_client()
    assert client.get("/recs").status_code == 200
    source.up = False
    response = client.get("/recs")
    assert response.status_code == 200
    assert response.headers["X-Degraded"] == "recs=stale"
    assert client.post("/recs").status_code == 500


def test_a_stale_answer_over_http_carries_the_header_and_is_signalled() -> None:
    app = make_app()
    guard = FlaskGuard(app)
    source = Source()
    cached = guard.stale_if_error("recs", fresh=0, stale=60)(source)
    ages: list[float] = []

    @app.get("/recs")
    def recs() -> dict[str, object]:
        return cached("a")

    def receiver(sender: object, age: float, exception: BaseException | None) -> None:
        ages.append(age)

    with serving(app) as url, stale_served.connected_to(receiver):
        requests.get(f"{url}/recs", timeout=5)
        source.up = False
        response = requests.get(f"{url}/recs", timeout=5)
    assert response.json() == {"key": "a", "version": 1}
    assert response.headers["X-Degraded"] == "recs=stale"
    assert len(ages) == 1
    assert ages[0] >= 0


def test_an_async_source_is_kept_and_served_stale(clock: FakeClock) -> None:
    up = [True]

    async def source(key: str) -> str:
        if not up[0]:
            raise TimeoutError("slow")
        return f"value of {key}"

    cached = StaleCache("recs", fresh=0, stale=60, clock=clock)(source)
    assert asyncio.run(cached("a")) == "value of a"
    up[0] = False
    assert asyncio.run(cached("a")) == "value of a"


def test_stale_must_be_at_least_fresh() -> None:
    with pytest.raises(ValueError, match="at least fresh"):
        StaleCache("recs", fresh=10, stale=5)


class StaleModel(RuleBasedStateMachine):
    """The cache against a plain model: last good value and when, per key."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.source = Source()
        self.fresh, self.stale = 5.0, 20.0
        self.cached = StaleCache("model", fresh=self.fresh, stale=self.stale, clock=self.clock)(
            self.source
        )
        self.good: dict[str, tuple[dict[str, object], float]] = {}

    @rule(seconds=st.sampled_from([0.5, 4.0, 5.0, 10.0, 19.5, 25.0]))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(up=st.booleans())
    def switch(self, up: bool) -> None:
        self.source.up = up

    @rule(key=st.sampled_from(["a", "b"]))
    def call(self, key: str) -> None:
        now = self.clock.now
        known = self.good.get(key)
        calls = self.source.calls
        if known is not None and now - known[1] < self.fresh:
            assert self.cached(key) == known[0]
            assert self.source.calls == calls
            return
        if self.source.up:
            value = self.cached(key)
            self.good[key] = (value, now)
            assert value["version"] == self.source.version
        elif known is not None and now - known[1] < self.stale:
            assert self.cached(key) == known[0]
        else:
            with pytest.raises(ConnectionError):
                self.cached(key)

    @invariant()
    def never_more_than_the_keys(self) -> None:
        assert self.source.calls >= len(self.good)


def test_the_cache_behaves_as_its_model() -> None:
    run_state_machine_as_test(StaleModel, settings=settings(max_examples=60, deadline=None))


def test_a_view_decorated_above_its_route_is_refused(app: Flask) -> None:
    guard = app.extensions["guard"]

    @app.get("/x")
    def view() -> str:
        return "x"

    with pytest.raises(TypeError, match="above the route decorator"):
        guard.stale_if_error("x", fresh=0, stale=1)(view)
