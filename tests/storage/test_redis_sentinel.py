"""Shared breaker state through Sentinel: a primary, its replica, and failovers mid-run."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from typing import NoReturn

import pytest
import redis
from flask import Flask

from flask_guard import CircuitBreaker, CircuitState, FlaskGuard
from flask_guard.storage.redis import RedisStorage

from ..conftest import make_app
from .shared_state import WAIT, Reports, key_of, wait_for_stored
from .topologies import LocalSentinel

CLOSED, OPEN = CircuitState.CLOSED, CircuitState.OPEN
PREFIX = "sentinel"


@pytest.fixture
def sentinel() -> Iterator[LocalSentinel]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    local = LocalSentinel()
    try:
        local.start()
        yield local
    finally:
        local.stop()


@pytest.fixture
def reports() -> Iterator[Reports]:
    collected = Reports()
    yield collected
    collected.close()


class Followed(logging.Handler):
    """Counts the storages that moved to a new primary; waits for them without polling."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        if "moved the primary" in record.getMessage():
            with self._changed:
                self.count += 1
                self._changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.count >= count, WAIT), self.count


@pytest.fixture
def followed() -> Iterator[Followed]:
    handler = Followed()
    logger = logging.getLogger("flask_guard.storage.redis")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def fail() -> NoReturn:
    raise ConnectionError("dependency down")


def test_breakers_share_state_through_sentinel_across_a_failover(
    sentinel: LocalSentinel, reports: Reports, followed: Followed
) -> None:
    a, b = (
        CircuitBreaker(
            "payments",
            failure_threshold=2,
            storage=RedisStorage.from_url(sentinel.url, PREFIX),
        )
        for _ in range(2)
    )
    for breaker in (a, b):
        with pytest.raises(ConnectionError):
            breaker.call(fail)
    reports.wait_for(a, (OPEN, "synced"))
    redis.Redis(port=sentinel.primary).wait(1, 1000)  # the replica holds the opening
    assert sentinel.fail_over() == sentinel.replica
    followed.wait_for(2)  # each process asked Sentinel and moved
    assert a.stats.state is OPEN
    b.force_close()
    reports.wait_for(a, (CLOSED, "synced"))
    new_primary = redis.Redis(port=sentinel.replica)
    assert new_primary.hget(key_of(PREFIX, "payments"), "s") == b"closed"
    for breaker in (b, a):
        with pytest.raises(ConnectionError):
            breaker.call(fail)
    reports.wait_for(b, (OPEN, "synced"))
    assert new_primary.hget(key_of(PREFIX, "payments"), "s") == b"open"
    assert reports.of(a).count((OPEN, "failure_threshold")) == 1


def test_an_opening_made_while_the_primary_is_dead_reaches_the_promoted_replica(
    sentinel: LocalSentinel, reports: Reports
) -> None:
    breaker = CircuitBreaker(
        "payments", failure_threshold=2, storage=RedisStorage.from_url(sentinel.url, PREFIX)
    )
    breaker.call(lambda: "ok")
    sentinel_client = redis.Redis(port=sentinel.sentinel)
    announcements = sentinel_client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    announcements.subscribe("+switch-master")
    try:
        sentinel.kill(sentinel.primary)
        for _ in range(2):
            with pytest.raises(ConnectionError):
                breaker.call(fail)
        assert breaker.stats.state is OPEN  # on its own, while no primary answers
        assert sentinel.wait_for_switch(announcements) == sentinel.replica
    finally:
        announcements.close()
    stored = wait_for_stored(redis.Redis(port=sentinel.replica), PREFIX, "payments", "open")
    assert stored["r"] == "failure_threshold"
    assert reports.of(breaker) == [(OPEN, "failure_threshold")]


def test_a_read_only_replica_is_an_outage_not_corruption(
    sentinel: LocalSentinel, caplog: pytest.LogCaptureFixture
) -> None:
    storage = RedisStorage.from_url(f"redis://127.0.0.1:{sentinel.replica}/0", PREFIX)
    breaker = CircuitBreaker("payments", failure_threshold=1, storage=storage)
    with pytest.raises(ConnectionError):
        breaker.call(fail)
    assert breaker.stats.state is OPEN  # locally
    messages = [r.getMessage() for r in caplog.records if r.name == "flask_guard.storage.redis"]
    assert any("read only replica" in message for message in messages), messages
    assert not any("corrupt" in message for message in messages)
    assert not storage.healthy()


def guarded_app(url: str) -> tuple[Flask, FlaskGuard]:
    app = make_app(GUARD_BREAKER_STORAGE=url, GUARD_REDIS_PREFIX=PREFIX)
    guard = FlaskGuard(app)

    @app.get("/pay")
    @guard.breaker("payments", failure_threshold=2)
    def pay() -> NoReturn:
        fail()

    return app, guard


def test_a_sentinel_url_in_the_config_shares_the_breakers(sentinel: LocalSentinel) -> None:
    app, guard = guarded_app(sentinel.url)
    client = app.test_client()
    assert [client.get("/pay").status_code for _ in range(3)] == [500, 500, 503]
    primary = redis.Redis(port=sentinel.primary)
    assert primary.hget(key_of(PREFIX, "payments"), "s") == b"open"
    assert guard.breakers.storage_healthy()


def test_sentinels_down_at_start_do_not_fail_init_app(refused_url: str) -> None:
    url = refused_url.replace("http://", "redis+sentinel://") + "/nowhere"
    app, guard = guarded_app(url)
    client = app.test_client()
    assert [client.get("/pay").status_code for _ in range(3)] == [500, 500, 503]
    assert not guard.breakers.storage_healthy()
