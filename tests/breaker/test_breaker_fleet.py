"""A fleet sharing breakers through a real Redis: who reports what, and Redis at its worst."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from flask_guard import CircuitBreaker, CircuitOpenError, CircuitState, signals
from flask_guard.storage.redis import RedisStorage
from flask_guard.testing import RedisServer

from ..conftest import FakeClock

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
WAIT = 10


class Reports:
    """Every ``breaker_state_changed`` sent, by breaker; wait for some without polling."""

    def __init__(self) -> None:
        self.seen: list[tuple[CircuitBreaker, CircuitState, str]] = []
        self._changed = threading.Condition()
        signals.breaker_state_changed.connect(self._receive)

    def _receive(self, sender: CircuitBreaker, **kwargs: Any) -> None:
        with self._changed:
            self.seen.append((sender, kwargs["new"], kwargs["reason"]))
            self._changed.notify_all()

    def wait_until(self, count: int, state: CircuitState) -> list[tuple[CircuitBreaker, str]]:
        """Wait for ``count`` reports of moves to ``state``; return them (breaker, reason)."""

        def moves() -> list[tuple[CircuitBreaker, str]]:
            return [(breaker, reason) for breaker, new, reason in self.seen if new is state]

        with self._changed:
            assert self._changed.wait_for(lambda: len(moves()) >= count, WAIT), self.seen
            return moves()

    def close(self) -> None:
        signals.breaker_state_changed.disconnect(self._receive)


@pytest.fixture
def reports() -> Iterator[Reports]:
    collected = Reports()
    yield collected
    collected.close()


def fail() -> None:
    raise ConnectionError("down")


def test_each_fleet_opening_is_reported_once_with_its_cause_by_16_threads(
    redis_url: str, redis_prefix: str, reports: Reports
) -> None:
    # Two storages are two processes (each its own origin); 8 threads call each.
    breakers = [
        CircuitBreaker(
            "payments",
            failure_threshold=3,
            recovery_timeout=60,
            storage=RedisStorage.from_url(redis_url, redis_prefix),
        )
        for _ in range(2)
    ]
    threads_per_process, rounds = 8, 20
    start = threading.Barrier(2 * threads_per_process + 1)
    done = threading.Barrier(2 * threads_per_process + 1)

    def caller(breaker: CircuitBreaker) -> None:
        for _ in range(rounds):
            start.wait(WAIT)
            with contextlib.suppress(ConnectionError, CircuitOpenError):
                breaker.call(fail)
            done.wait(WAIT)

    threads = [
        threading.Thread(target=caller, args=(breaker,))
        for breaker in breakers
        for _ in range(threads_per_process)
    ]
    for thread in threads:
        thread.start()
    try:
        for round_number in range(1, rounds + 1):
            start.wait(WAIT)
            done.wait(WAIT)
            openings = reports.wait_until(2 * round_number, OPEN)[-2:]
            assert sorted(reason for _, reason in openings) == ["failure_threshold", "synced"]
            assert {breaker for breaker, _ in openings} == set(breakers)
            breakers[round_number % 2].force_close()
            closings = reports.wait_until(2 * round_number, CLOSED)[-2:]
            assert sorted(reason for _, reason in closings) == ["forced_close", "synced"]
    finally:
        start.abort()
        done.abort()
        for thread in threads:
            thread.join(WAIT)
    assert len(reports.wait_until(0, OPEN)) == 2 * rounds  # nothing reported twice


def test_an_opening_learned_from_the_fleet_is_logged_at_info(
    redis_url: str, redis_prefix: str, reports: Reports, caplog: pytest.LogCaptureFixture
) -> None:
    opener, watcher = (
        CircuitBreaker(
            "payments", failure_threshold=1, storage=RedisStorage.from_url(redis_url, redis_prefix)
        )
        for _ in range(2)
    )
    with caplog.at_level(logging.INFO, logger="flask_guard.breaker"):
        with pytest.raises(ConnectionError):
            opener.call(fail)
        reports.wait_until(2, OPEN)
    levels = {r.getMessage(): r.levelno for r in caplog.records if "-> open" in r.getMessage()}
    assert levels == {
        "Circuit breaker 'payments': closed -> open (failure_threshold)": logging.WARNING,
        "Circuit breaker 'payments': closed -> open (synced)": logging.INFO,
    }
    assert watcher.stats.state is OPEN


def test_a_corrupt_key_makes_only_its_breaker_go_on_locally(
    redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set(f"{redis_prefix}:{{ledger}}", "not a hash")
    storage = RedisStorage.from_url(redis_url, redis_prefix)
    ledger = CircuitBreaker("ledger", failure_threshold=2, storage=storage)
    payments = CircuitBreaker("payments", failure_threshold=1, storage=storage)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            ledger.call(fail)
    assert ledger.stats.state is OPEN  # locally
    with pytest.raises(ConnectionError):
        payments.call(fail)
    assert client.hget(f"{redis_prefix}:{{payments}}", "s") == b"open"  # still shared
    assert storage.healthy()
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not any("unreachable" in message for message in messages), messages
    corrupt = [m for m in messages if "corrupt" in m]
    assert len(corrupt) == 1
    assert "'ledger'" in corrupt[0]


@contextlib.contextmanager
def paused(server: RedisServer) -> Iterator[None]:
    """Freeze ``server`` (it keeps its connections and answers nothing) for the block."""
    server.pause()
    try:
        yield
    finally:
        server.resume()


def test_a_read_after_a_redis_pause_does_not_bring_back_a_stale_opening(
    own_redis: RedisServer, reports: Reports
) -> None:
    clock = FakeClock()
    client = redis.Redis.from_url(own_redis.url, socket_timeout=0.25)
    storage = RedisStorage(client, "pause", clock=clock)
    breaker = CircuitBreaker(
        "payments", failure_threshold=1, recovery_timeout=5, clock=clock, storage=storage
    )
    # Its failures never change payments; while Redis is paused, the first one finds out.
    probe = CircuitBreaker("probe", failure_threshold=1000, clock=clock, storage=storage)
    with pytest.raises(ConnectionError):
        breaker.call(fail)
    assert breaker.stats.state is OPEN
    with paused(own_redis):
        with pytest.raises(ConnectionError):
            probe.call(fail)
        assert not storage.healthy()
        clock.advance(10)
        assert breaker.call(lambda: "recovered") == "recovered"  # a local trial
        assert breaker.stats.state is CLOSED
    # Redis still holds the opening, long due: the view follows it to half-open, not open.
    reports.wait_until(2, HALF_OPEN)
    moves = [(new, reason) for _, new, reason in reports.seen]
    assert moves[-1] == (HALF_OPEN, "synced"), moves
    assert moves.count((OPEN, "synced")) == 0, moves
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.stats.state is CLOSED


def test_the_event_loop_never_stalls_while_failures_go_to_a_paused_redis(
    own_redis: RedisServer,
) -> None:
    storage = RedisStorage.from_url(own_redis.url, "stall")
    breaker = CircuitBreaker("payments", failure_threshold=1000, storage=storage)
    ticks: list[float] = []

    async def fail_async() -> None:
        raise ConnectionError("down")

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    async def scenario() -> int:
        stop = asyncio.Event()
        ticking = asyncio.create_task(ticker(stop))
        failed = 0
        for _ in range(3):
            results = await asyncio.gather(
                *(breaker.call_async(fail_async) for _ in range(10)), return_exceptions=True
            )
            failed += sum(isinstance(r, ConnectionError) for r in results)
            await asyncio.sleep(0.3)  # long enough for Redis to be tried again
        stop.set()
        await ticking
        return failed

    with paused(own_redis):
        failed = asyncio.run(scenario())
    assert failed == 30
    assert breaker.stats.total_failures == 30
    assert not storage.healthy()  # the calls did wait on Redis, in threads
    lags = [later - earlier for earlier, later in itertools.pairwise(ticks)]
    assert len(lags) > 50
    assert max(lags) < 0.05, f"the loop stalled for {max(lags) * 1000:.0f} ms"


def test_stats_carry_the_fleets_counts(
    redis_url: str, redis_prefix: str, reports: Reports
) -> None:
    first, second = (
        CircuitBreaker(
            "payments", failure_threshold=3, storage=RedisStorage.from_url(redis_url, redis_prefix)
        )
        for _ in range(2)
    )
    for breaker in (first, second, first):
        with pytest.raises(ConnectionError):
            breaker.call(fail)
    reports.wait_until(2, OPEN)  # both processes know
    for _ in range(4):
        with pytest.raises(CircuitOpenError):
            second.call(fail)
    second.force_open()  # a step: it takes second's rejections to Redis
    stats = first.stats
    assert (stats.total_failures, stats.rejections) == (2, 0)
    first.force_open()
    assert (first.stats.fleet_failures, first.stats.fleet_rejections) == (3, 4)
    first.reset()
    assert (first.stats.fleet_failures, first.stats.fleet_rejections) == (0, 0)


def test_a_process_that_only_reads_sees_the_fleets_failures(
    redis_url: str, redis_prefix: str
) -> None:
    opener = CircuitBreaker(
        "payments", failure_threshold=2, storage=RedisStorage.from_url(redis_url, redis_prefix)
    )
    for _ in range(2):
        with pytest.raises(ConnectionError):
            opener.call(fail)
    reader = CircuitBreaker(
        "payments", failure_threshold=2, storage=RedisStorage.from_url(redis_url, redis_prefix)
    )
    stats = reader.stats
    assert (stats.state, stats.failures, stats.total_failures) == (OPEN, 2, 0)
    assert 29 < stats.retry_after <= 30
