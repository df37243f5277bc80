"""Last good values shared by the fleet through the breakers' Redis."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import redis

from flask_guard import FlaskGuard
from flask_guard.testing import RedisServer

from ..conftest import make_app


class Source:
    def __init__(self) -> None:
        self.up = True
        self.calls = 0

    def __call__(self, key: str) -> dict[str, object]:
        self.calls += 1
        if not self.up:
            raise ConnectionError("source down")
        return {"key": key, "call": self.calls}


def _process(url: str, prefix: str, source: Source, fresh: float = 60) -> Callable[[str], Any]:
    """One server process of the fleet: its own app, guard and stale cache around ``source``."""
    app = make_app(GUARD_BREAKER_STORAGE=url, GUARD_REDIS_PREFIX=prefix)
    guard = FlaskGuard(app)
    return guard.stale_if_error("recs", fresh=fresh, stale=600)(source)


def _calls(client: redis.Redis, command: str) -> int:
    stats = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_a_fresh_hit_makes_no_redis_round_trip(own_redis: RedisServer) -> None:
    source = Source()
    cached = _process(own_redis.url, "fresh", source)
    client = redis.Redis.from_url(own_redis.url)
    cached("a")
    gets, sets = _calls(client, "get"), _calls(client, "set")
    for _ in range(100):
        cached("a")
    assert (_calls(client, "get"), _calls(client, "set")) == (gets, sets)
    assert source.calls == 1


def test_a_process_that_never_fetched_a_key_serves_the_fleet_s_last_good_value(
    redis_url: str, redis_prefix: str
) -> None:
    first_source, second_source = Source(), Source()
    first = _process(redis_url, redis_prefix, first_source, fresh=0)
    second = _process(redis_url, redis_prefix, second_source, fresh=0)
    good = first("a")
    second_source.up = False
    assert second("a") == good
    assert second_source.calls == 1


def test_a_fresh_value_of_another_process_is_used_without_calling_the_source(
    redis_url: str, redis_prefix: str
) -> None:
    first_source, second_source = Source(), Source()
    first = _process(redis_url, redis_prefix, first_source)
    second = _process(redis_url, redis_prefix, second_source)
    good = second("a")
    assert first("a") == good
    assert first_source.calls == 0


def test_redis_down_never_fails_a_call_and_is_one_warning(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    source = Source()
    app = make_app(GUARD_BREAKER_STORAGE=own_redis.url, GUARD_REDIS_PREFIX="down")
    guard = FlaskGuard(app)
    cached = guard.stale_if_error("recs", fresh=0, stale=600)(source)
    own_redis.stop()
    with caplog.at_level(logging.WARNING, "flask_guard.degrade"):
        assert cached("a") == {"key": "a", "call": 1}
        source.up = False
        assert cached("a") == {"key": "a", "call": 1}
    warnings = [r for r in caplog.records if "Redis is unreachable" in r.getMessage()]
    assert len(warnings) == 1
