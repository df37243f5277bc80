"""Breaker state shared through a real Redis: across processes, fleet-wide permits, outages."""

from __future__ import annotations

import logging
import multiprocessing
import subprocess
import sys
import threading
from typing import Any, NoReturn

import pytest
import redis
import requests
from flask import Flask
from pytest_httpserver import HTTPServer

from flask_guard import (
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    FlaskGuard,
    GuardConfigError,
    signals,
)
from flask_guard.storage.redis import RedisStorage
from flask_guard.storage.redis_store import RedisStore
from flask_guard.testing import RedisServer

from ..conftest import FakeClock, error_of, make_app
from .shared_state import wait_for_stored

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
WAIT = 10


class StateChanges:
    """Collect a breaker's transitions; wait for one without polling."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.seen: list[tuple[CircuitState, str]] = []
        self._changed = threading.Condition()
        signals.breaker_state_changed.connect(self._receive, breaker)
        self._breaker = breaker

    def _receive(self, sender: CircuitBreaker, **kwargs: Any) -> None:
        with self._changed:
            self.seen.append((kwargs["new"], kwargs["reason"]))
            self._changed.notify_all()

    def wait_for(self, state: CircuitState) -> str:
        """Return the reason of the first move to ``state``."""
        with self._changed:
            assert self._changed.wait_for(
                lambda: any(new is state for new, _ in self.seen), WAIT
            ), f"{self._breaker.name} never became {state.value}: {self.seen}"
        return next(reason for new, reason in self.seen if new is state)

    def close(self) -> None:
        signals.breaker_state_changed.disconnect(self._receive, self._breaker)


@pytest.fixture
def storage(redis_url: str, redis_prefix: str) -> RedisStorage:
    return RedisStorage.from_url(redis_url, redis_prefix)


def open_in_another_process(redis_url: str, prefix: str, name: str, failures: int) -> None:
    script = f"""
from flask_guard import CircuitBreaker
from flask_guard.storage.redis import RedisStorage
from flask_guard.testing import RedisServer
breaker = CircuitBreaker({name!r}, failure_threshold={failures},
                         storage=RedisStorage.from_url({redis_url!r}, {prefix!r}))
for _ in range({failures}):
    try:
        breaker.call(lambda: 1 / 0)
    except ZeroDivisionError:
        pass
assert breaker.stats.state.value == "open", breaker.stats
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_transitions_made_by_another_process_are_seen_as_synced(
    storage: RedisStorage, redis_url: str, redis_prefix: str
) -> None:
    breaker = CircuitBreaker("payments", failure_threshold=2, storage=storage)
    changes = StateChanges(breaker)
    try:
        open_in_another_process(redis_url, redis_prefix, "payments", 2)
        assert changes.wait_for(OPEN) == "synced"
    finally:
        changes.close()
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: "not called")


def test_the_process_that_opens_reports_the_cause(storage: RedisStorage) -> None:
    breaker = CircuitBreaker("payments", failure_threshold=2, storage=storage)
    changes = StateChanges(breaker)
    try:
        for _ in range(2):
            with pytest.raises(ZeroDivisionError):
                breaker.call(lambda: 1 / 0)
        assert changes.wait_for(OPEN) == "failure_threshold"
    finally:
        changes.close()


def test_failures_from_several_processes_add_up(storage: RedisStorage, redis_url: str) -> None:
    other = RedisStorage.from_url(redis_url, storage._prefix)
    first = CircuitBreaker("payments", failure_threshold=4, storage=storage)
    second = CircuitBreaker("payments", failure_threshold=4, storage=other)
    for breaker in (first, second, first):
        with pytest.raises(ZeroDivisionError):
            breaker.call(lambda: 1 / 0)
    assert first.stats.state is CLOSED
    with pytest.raises(ZeroDivisionError):
        second.call(lambda: 1 / 0)
    assert second.stats.state is OPEN


def make_due(redis_url: str, prefix: str, name: str) -> None:
    """Move the shared opening time 60 s back: Redis' clock is the one that decides."""
    client = redis.Redis.from_url(redis_url)
    key = f"{prefix}:{{{name}}}"
    opened = int(client.hget(key, "o") or 0)
    client.hset(key, "o", opened - 60_000)


def test_half_open_permits_are_fleet_wide(
    storage: RedisStorage, redis_url: str, redis_prefix: str
) -> None:
    clock_a, clock_b = FakeClock(), FakeClock()
    other = RedisStorage.from_url(redis_url, redis_prefix)
    options: dict[str, Any] = {"failure_threshold": 1, "recovery_timeout": 30}
    a = CircuitBreaker("payments", clock=clock_a, storage=storage, **options)
    b = CircuitBreaker("payments", clock=clock_b, storage=other, **options)
    b_changes = StateChanges(b)
    entered, release = threading.Event(), threading.Event()
    try:
        with pytest.raises(ZeroDivisionError):
            a.call(lambda: 1 / 0)
        b_changes.wait_for(OPEN)
        make_due(redis_url, redis_prefix, "payments")
        clock_a.advance(60)
        clock_b.advance(60)

        def trial() -> str:
            entered.set()
            assert release.wait(WAIT)
            return "recovered"

        worker = threading.Thread(target=lambda: a.call(trial))
        worker.start()
        assert entered.wait(WAIT)
        with pytest.raises(CircuitOpenError):
            b.call(lambda: "second trial")  # the fleet's only permit is taken
        release.set()
        worker.join(WAIT)
        assert b_changes.wait_for(CLOSED) == "synced"
    finally:
        release.set()
        b_changes.close()
    assert a.stats.state is CLOSED
    assert b.call(lambda: "ok") == "ok"


def _worker(
    redis_url: str, prefix: str, upstream: str, start: Any, calls: int, results: Any
) -> None:
    """Call a dead upstream through a shared breaker; report how many calls were rejected."""
    breaker = CircuitBreaker(
        "dead-upstream", failure_threshold=5, storage=RedisStorage.from_url(redis_url, prefix)
    )
    session = requests.Session()
    start.wait(WAIT)
    rejected = 0
    for _ in range(calls):
        try:
            breaker.call(lambda: session.get(upstream, timeout=5).raise_for_status())
        except CircuitOpenError:
            rejected += 1
        except requests.HTTPError:
            pass
    results.put(rejected)


def test_four_workers_make_at_most_threshold_plus_three_calls_to_a_dead_upstream(
    redis_url: str, redis_prefix: str, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/charge").respond_with_data("down", status=503)
    workers, threshold, calls = 4, 5, 40
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(workers), context.Queue()
    args = (redis_url, redis_prefix, httpserver.url_for("/charge"), start, calls, results)
    processes = [context.Process(target=_worker, args=args) for _ in range(workers)]
    for process in processes:
        process.start()
    rejected = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(WAIT)
    upstream_calls = len(httpserver.log)
    print(f"upstream calls: {upstream_calls}, rejected: {rejected}")
    assert threshold <= upstream_calls <= threshold + workers - 1
    assert sum(rejected) == workers * calls - upstream_calls
    assert all(count > 0 for count in rejected)


class CountingStorage(RedisStorage):
    """A real RedisStorage that counts the round trips calls make (not its listener's reads)."""

    round_trips = 0

    def run(self, store: RedisStore, script: str, cause: str, *extra: str | int) -> Any:
        if script != "read":
            self.round_trips += 1
        return super().run(store, script, cause, *extra)


def test_closed_successes_make_no_round_trip(redis_url: str, redis_prefix: str) -> None:
    storage = CountingStorage(redis.Redis.from_url(redis_url), redis_prefix)
    breaker = CircuitBreaker("payments", storage=storage)
    before = storage.round_trips
    for _ in range(100):
        breaker.call(lambda: "ok")
    assert storage.round_trips == before
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    breaker.call(lambda: "ok")
    assert storage.round_trips == before + 2  # the failure, then the success that resets it


def test_keys_are_namespaced_and_expire(storage: RedisStorage, redis_url: str) -> None:
    breaker = CircuitBreaker("payments", storage=storage)
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{storage._prefix}:*"))
    assert keys
    for key in keys:
        assert client.ttl(key) > 0


def outage_app(url: str) -> tuple[Flask, FlaskGuard, dict[str, bool]]:
    app = make_app(GUARD_BREAKER_STORAGE=url, GUARD_REDIS_PREFIX="outage")
    guard = FlaskGuard(app)
    upstream = {"healthy": True}

    @app.get("/charge")
    @guard.breaker("payments", failure_threshold=2, recovery_timeout=60)
    def charge() -> dict[str, bool]:
        if not upstream["healthy"]:
            raise ConnectionError("payments down")
        return {"charged": True}

    return app, guard, upstream


def test_redis_outage_keeps_requests_answered_and_the_opening_survives_a_restart(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    app, guard, upstream = outage_app(own_redis.url)
    client = app.test_client()
    assert client.get("/charge").status_code == 200
    breaker = guard.breakers["payments"]
    degraded: list[object] = []

    def on_degraded(sender: CircuitBreaker, **kwargs: object) -> None:
        degraded.append(kwargs["exception"])

    signals.breaker_storage_degraded.connect(on_degraded, breaker)
    changes = StateChanges(breaker)
    try:
        own_redis.stop()
        upstream["healthy"] = False
        statuses = [client.get("/charge").status_code for _ in range(6)]
        assert statuses == [500, 500, 503, 503, 503, 503]  # the breaker went on locally
        assert len(degraded) == 1
        warnings = [r for r in caplog.records if "Redis is unreachable" in r.getMessage()]
        assert len(warnings) == 1
        own_redis.start()  # empty: it keeps nothing on disk, and shows no later transition
        stored = wait_for_stored(redis.Redis.from_url(own_redis.url), "outage", "payments", "open")
        assert stored["r"] == "failure_threshold"
    finally:
        signals.breaker_storage_degraded.disconnect(on_degraded, breaker)
        changes.close()
    assert changes.seen == [(OPEN, "failure_threshold")]  # one incident, one report
    assert client.get("/charge").status_code == 503
    assert 55 < breaker.stats.retry_after <= 60


def test_unreachable_redis_at_start_does_not_fail_init_app(refused_url: str) -> None:
    url = refused_url.replace("http://", "redis://")
    app, _, upstream = outage_app(url)
    client = app.test_client()
    assert client.get("/charge").status_code == 200
    upstream["healthy"] = False
    assert [client.get("/charge").status_code for _ in range(3)] == [500, 500, 503]
    assert error_of(client.get("/charge"))["code"] == "SERVICE_UNAVAILABLE"


def test_a_redis_client_can_be_passed_in(redis_url: str, redis_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    app = make_app(GUARD_REDIS_PREFIX=redis_prefix)
    guard = FlaskGuard(app, breaker_storage=client)

    @guard.breaker("payments", failure_threshold=1)
    def pay() -> NoReturn:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        pay()
    assert client.hget(f"{redis_prefix}:{{payments}}", "s") == b"open"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("GUARD_BREAKER_STORAGE", "mysql://db", 'must be "memory", a redis://, rediss://'),
        ("GUARD_BREAKER_STORAGE", "redis+sentinel://:pw@s1:26379", "must name the Sentinel"),
        ("GUARD_BREAKER_STORAGE", "redis+cluster://h1,h2/2", "a Redis Cluster has only"),
        ("GUARD_BREAKER_STORAGE", "redis+cluster://h1:port", "not host\\[:port\\]"),
        ("GUARD_REDIS_PREFIX", "my app", "must be a non-empty key prefix without spaces"),
    ],
)
def test_invalid_storage_config(key: str, value: str, message: str) -> None:
    with pytest.raises(GuardConfigError, match=message):
        FlaskGuard(make_app(**{key: value}))


def test_a_refused_storage_url_never_shows_its_password() -> None:
    with pytest.raises(GuardConfigError) as refused:
        FlaskGuard(make_app(GUARD_BREAKER_STORAGE="redis+sentinel://user:hunter2@s1:26379"))
    assert "hunter2" not in str(refused.value)
    assert "user:***@s1:26379" in str(refused.value)


def test_redis_storage_without_the_redis_package_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(GuardConfigError, match=r"pip install 'flask-api-guard\[redis\]'"):
        FlaskGuard(make_app(GUARD_BREAKER_STORAGE="redis://127.0.0.1:6379/0"))


logging.getLogger("flask_guard.storage.redis").setLevel(logging.INFO)


def test_listener_survives_stray_messages_and_decoded_clients(
    redis_url: str, redis_prefix: str
) -> None:
    decoded = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=0.25)
    watcher = CircuitBreaker("payments", storage=RedisStorage(decoded, redis_prefix))
    opener = CircuitBreaker("payments", storage=RedisStorage.from_url(redis_url, redis_prefix))
    changes = StateChanges(watcher)
    try:
        redis.Redis.from_url(redis_url).publish(f"{redis_prefix}:breakers", b"\xff garbage")
        opener.force_open()
        assert changes.wait_for(OPEN) == "synced"
    finally:
        changes.close()


def test_a_trial_slower_than_its_lease_still_closes_the_breaker(
    storage: RedisStorage, redis_url: str, redis_prefix: str
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        "payments", failure_threshold=1, recovery_timeout=0.2, clock=clock, storage=storage
    )
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    make_due(redis_url, redis_prefix, "payments")
    clock.advance(60)

    def slow_recovery() -> str:
        threading.Event().wait(0.5)  # longer than the 0.2 s lease, in Redis' time
        return "recovered"

    assert breaker.call(slow_recovery) == "recovered"
    assert breaker.stats.state is CLOSED


def test_losing_only_the_subscription_is_not_an_outage(
    storage: RedisStorage, redis_url: str
) -> None:
    CircuitBreaker("payments", storage=storage)
    client = redis.Redis.from_url(redis_url)
    client.client_kill_filter(_type="pubsub")
    breaker = CircuitBreaker("inventory", failure_threshold=1, storage=storage)
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    assert storage.healthy()
    assert client.hget(f"{storage._prefix}:{{inventory}}", "s") == b"open"
