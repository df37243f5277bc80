"""An opening made while Redis could not be asked is kept when it answers again: the more
severe state wins unless Redis shows a later transition, the recovery time left is the
fleet's, and one incident is one "opened" report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn
from urllib.parse import urlsplit

import pytest
import redis

from flask_guard import CircuitBreaker, CircuitOpenError, CircuitState
from flask_guard.storage.redis import RedisStorage
from flask_guard.testing import RedisServer

from ..conftest import FakeClock
from .shared_state import Partition, Reports, wait_for_stored

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


@pytest.fixture
def reports() -> Iterator[Reports]:
    collected = Reports()
    yield collected
    collected.close()


@pytest.fixture
def partition(redis_url: str) -> Iterator[Partition]:
    relay = Partition(urlsplit(redis_url).port or 6379)
    yield relay
    relay.close()


def fail() -> NoReturn:
    raise ConnectionError("dependency down")


def breaker_on(url: str, prefix: str, clock: FakeClock, **options: float) -> CircuitBreaker:
    """A breaker in a process of its own (its own storage), on the fleet's test clock."""
    storage = RedisStorage(redis.Redis.from_url(url, socket_timeout=0.25), prefix, clock=clock)
    return CircuitBreaker("dep", clock=clock, storage=storage, **options)  # type: ignore[arg-type]


def test_an_opening_made_while_redis_was_paused_is_kept_with_its_recovery_time(
    own_redis: RedisServer, reports: Reports
) -> None:
    clock = FakeClock()
    breaker = breaker_on(own_redis.url, "pause", clock, failure_threshold=3, recovery_timeout=30)
    called: list[str] = []

    def dependency() -> str:
        called.append("dep")
        raise ConnectionError("dependency down")

    breaker.call(lambda: "ok")
    own_redis.pause()
    try:
        for _ in range(3):
            with pytest.raises(ConnectionError):
                breaker.call(dependency)
        assert breaker.stats.state is OPEN  # locally
        clock.advance(5)
    finally:
        own_redis.resume()
    stored = wait_for_stored(redis.Redis.from_url(own_redis.url), "pause", "dep", "open")
    assert stored["r"] == "failure_threshold"
    other = breaker_on(own_redis.url, "pause", clock, failure_threshold=3, recovery_timeout=30)
    assert (other.stats.state, other.stats.retry_after) == (OPEN, 25.0)
    clock.advance(24.9)
    for breaker_of_the_fleet in (breaker, other):
        with pytest.raises(CircuitOpenError):
            breaker_of_the_fleet.call(dependency)
    assert len(called) == 3  # nothing more reached the dead dependency
    clock.advance(0.1)
    assert breaker.call(lambda: "recovered") == "recovered"  # a trial on the fleet's lease
    assert reports.of(breaker) == [
        (OPEN, "failure_threshold"),  # one incident, one "opened" report
        (HALF_OPEN, "recovery_timeout"),
        (CLOSED, "trial_succeeded"),
    ]


def test_a_transition_the_fleet_made_after_a_local_opening_wins(
    redis_url: str, redis_prefix: str, partition: Partition, reports: Reports
) -> None:
    clock = FakeClock()
    cut_off = breaker_on(
        f"redis://127.0.0.1:{partition.port}{urlsplit(redis_url).path}",
        redis_prefix,
        clock,
        failure_threshold=1,
    )
    fleet = breaker_on(redis_url, redis_prefix, clock, failure_threshold=1)
    partition.cut()
    with pytest.raises(ConnectionError):
        cut_off.call(fail)
    assert cut_off.stats.state is OPEN  # on its own
    clock.advance(1)
    fleet.force_open()  # an operator acts after that opening: the fleet's word is later
    fleet.force_close()
    partition.heal()
    reports.wait_for(cut_off, (CLOSED, "synced"))
    assert reports.of(cut_off) == [(OPEN, "failure_threshold"), (CLOSED, "synced")]
    assert redis.Redis.from_url(redis_url).hget(f"{redis_prefix}:{{dep}}", "s") == b"closed"


def test_a_local_opening_wins_over_an_earlier_fleet_transition(
    redis_url: str, redis_prefix: str, partition: Partition, reports: Reports
) -> None:
    clock = FakeClock()
    fleet = breaker_on(redis_url, redis_prefix, clock, failure_threshold=1)
    fleet.force_open()
    fleet.force_close()
    cut_off = breaker_on(
        f"redis://127.0.0.1:{partition.port}{urlsplit(redis_url).path}",
        redis_prefix,
        clock,
        failure_threshold=1,
    )
    partition.cut()
    clock.advance(1)
    with pytest.raises(ConnectionError):
        cut_off.call(fail)  # later than the fleet's latest transition
    clock.advance(2)
    partition.heal()
    reports.wait_for(fleet, (OPEN, "synced"))
    assert reports.of(cut_off) == [(OPEN, "failure_threshold")]  # reported once, by the opener
    assert (fleet.stats.state, fleet.stats.retry_after) == (OPEN, 28.0)


def test_an_operator_opening_made_without_redis_is_shared_forced(
    redis_url: str, redis_prefix: str, partition: Partition, reports: Reports
) -> None:
    clock = FakeClock()
    cut_off = breaker_on(
        f"redis://127.0.0.1:{partition.port}{urlsplit(redis_url).path}", redis_prefix, clock
    )
    fleet = breaker_on(redis_url, redis_prefix, clock)
    fleet.call(lambda: "ok")
    partition.cut()
    clock.advance(1)
    cut_off.force_open()
    partition.heal()
    reports.wait_for(fleet, (OPEN, "synced"))
    assert fleet.stats.forced


def test_an_opening_a_window_decided_without_redis_is_shared(
    redis_url: str, redis_prefix: str, partition: Partition, reports: Reports
) -> None:
    clock = FakeClock()
    options = {"window_size": 4, "failure_rate_threshold": 0.5, "minimum_calls": 2}
    url = f"redis://127.0.0.1:{partition.port}{urlsplit(redis_url).path}"
    cut_off = breaker_on(url, redis_prefix, clock, **options)
    fleet = breaker_on(redis_url, redis_prefix, clock, **options)
    partition.cut()
    for _ in range(2):
        with pytest.raises(ConnectionError):
            cut_off.call(fail)
    assert cut_off.stats.state is OPEN
    partition.heal()
    reports.wait_for(fleet, (OPEN, "synced"))
    assert reports.of(cut_off) == [(OPEN, "failure_rate")]
