"""Shared breaker state in a real Redis Cluster of three primaries, through a cluster URL."""

from __future__ import annotations

import asyncio
import shutil
import threading
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest
import redis
from redis.cluster import RedisCluster

from flask_guard import CircuitBreaker, CircuitState, FlaskGuard
from flask_guard.storage import redis as redis_storage
from flask_guard.storage.redis import RedisStorage

from ..breaker.test_breaker_model import STEPS, run_model
from ..conftest import FakeClock, make_app
from .shared_state import Reports, key_of
from .topologies import LocalCluster

CLOSED, OPEN = CircuitState.CLOSED, CircuitState.OPEN


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server and redis-cli are not installed")
    local = LocalCluster()
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


@pytest.fixture
def prefix() -> str:
    return f"cluster-{uuid.uuid4().hex[:8]}"


def fail() -> NoReturn:
    raise ConnectionError("dependency down")


def one_name_per_primary(cluster: LocalCluster, prefix: str) -> list[str]:
    """Return breaker names whose keys sit on each of the three primaries."""
    names: dict[int, str] = {}
    for number in range(200):
        name = f"dependency-{number}"
        names.setdefault(cluster.node_of(key_of(prefix, name)), name)
        if len(names) == len(cluster.ports):
            return list(names.values())
    raise AssertionError(f"no names found for every primary: {names}")


@pytest.mark.parametrize("name", ["payments", "a}b", "{x", "ünïcode", "x" * 300, "a:{b}:c"])
def test_both_keys_of_a_breaker_share_one_hash_slot(cluster: LocalCluster, name: str) -> None:
    client = redis.Redis(port=cluster.ports[0])
    key = key_of("flask-guard", name)
    assert client.cluster("keyslot", key) == client.cluster("keyslot", f"{key}:leases")


def test_breakers_on_every_primary_are_shared_through_a_cluster_url(
    cluster: LocalCluster, prefix: str, reports: Reports
) -> None:
    first = RedisStorage.from_url(cluster.url, prefix)
    second = RedisStorage.from_url(cluster.url, prefix)
    for name in one_name_per_primary(cluster, prefix):
        a = CircuitBreaker(name, failure_threshold=2, storage=first)
        b = CircuitBreaker(name, failure_threshold=2, storage=second)
        for breaker in (a, b):  # the failures of two processes add up
            with pytest.raises(ConnectionError):
                breaker.call(fail)
        reports.wait_for(a, (OPEN, "synced"))  # published on one node, heard on another
        assert reports.of(b) == [(OPEN, "failure_threshold")]
        b.force_close()
        reports.wait_for(a, (CLOSED, "synced"))
        assert (a.stats.fleet_failures, b.stats.fleet_failures) == (2, 2)
    assert first.healthy()
    assert second.healthy()


def test_a_plain_url_to_a_cluster_node_says_which_url_to_give(
    cluster: LocalCluster, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = next(
        name
        for name in one_name_per_primary(cluster, prefix)
        if cluster.node_of(key_of(prefix, name)) != cluster.ports[0]
    )
    storage = RedisStorage.from_url(f"redis://127.0.0.1:{cluster.ports[0]}/0", prefix)
    breaker = CircuitBreaker(name, failure_threshold=1, storage=storage)
    with pytest.raises(ConnectionError):
        breaker.call(fail)
    assert breaker.stats.state is OPEN  # locally
    messages = [r.getMessage() for r in caplog.records if r.name == "flask_guard.storage.redis"]
    assert any("give a redis+cluster:// URL" in message for message in messages), messages
    assert not any("corrupt" in message for message in messages)


def test_a_cluster_down_at_start_does_not_fail_init_app(refused_url: str) -> None:
    url = refused_url.replace("http://", "redis+cluster://")
    app = make_app(GUARD_BREAKER_STORAGE=url)
    guard = FlaskGuard(app)

    @app.get("/pay")
    @guard.breaker("payments", failure_threshold=2)
    def pay() -> NoReturn:
        fail()

    client = app.test_client()
    assert [client.get("/pay").status_code for _ in range(3)] == [500, 500, 503]
    assert not guard.breakers.storage_healthy()


def test_the_lua_rules_match_the_model_on_a_cluster(
    cluster: LocalCluster, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_storage, "RESYNC_INTERVAL", 1e9)  # as in the one-server run
    clock = FakeClock()
    client = RedisCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=5)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        STEPS["count"] = 0
        run_model(RedisStorage(client, prefix, clock=clock), clock, loop, 30)
        assert STEPS["count"] >= 500, f"only {STEPS['count']} steps ran"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
