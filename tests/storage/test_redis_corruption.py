"""Redis lies are not believed: values no script writes are corruption, refused in Lua and in
Python; the breaker goes on locally, still opens on real failures, and health shows no
garbage."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest
import redis
from flask import Flask

from flask_guard import CircuitBreaker, CircuitState, FlaskGuard, signals
from flask_guard.storage import CorruptStateError
from flask_guard.storage.redis import RedisStorage
from flask_guard.storage.redis_reply import parse_reply

from ..conftest import FakeClock, make_app
from .shared_state import key_of

TOKEN = "health-token-of-the-test"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


class Degraded:
    """Every ``breaker_storage_degraded`` sent."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []
        signals.breaker_storage_degraded.connect(self._receive)

    def _receive(self, sender: CircuitBreaker, **kwargs: Any) -> None:
        self.seen.append((sender.name, kwargs["exception"]))

    def close(self) -> None:
        signals.breaker_storage_degraded.disconnect(self._receive)


@pytest.fixture
def degraded() -> Iterator[Degraded]:
    collected = Degraded()
    yield collected
    collected.close()


def patient(redis_url: str) -> redis.Redis:
    """A client that waits for a loaded Redis: these tests are about what it answers."""
    return redis.Redis.from_url(redis_url, socket_timeout=5)


def dependency_app(redis_url: str, prefix: str) -> tuple[Flask, FlaskGuard]:
    app = make_app(GUARD_REDIS_PREFIX=prefix, GUARD_HEALTH_TOKEN=TOKEN)
    guard = FlaskGuard(app, breaker_storage=patient(redis_url))

    @app.get("/dep")
    @guard.breaker("dep", failure_threshold=3, recovery_timeout=30)
    def dep() -> dict[str, bool]:
        raise ConnectionError("dependency down")

    return app, guard


def corrupt_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "corrupt" in r.getMessage()]


IMPOSSIBLE = [
    ("f", "nan"),
    ("f", "-1e300"),
    ("f", "inf"),
    ("f", "-5"),
    ("f", "1e300"),
    ("f", "0x10"),
    ("f", "12345678901234567"),  # more than a Lua number counts by one
    ("v", "nan"),
    ("o", "1e300"),
    ("o", "-1"),
    ("o", "99999999999999"),  # about year 5138: far beyond Redis' clock
    ("w", "inf"),
    ("n", "-9223372036854775808"),
    ("j", "inf"),
    ("t", "x"),
    ("s", "bogus"),
    ("x", "2"),
    ("r", "Robert'); DROP TABLE"),
]


@pytest.mark.parametrize(("field", "value"), IMPOSSIBLE)
def test_an_impossible_value_is_corruption_and_the_breaker_still_opens(
    redis_url: str,
    redis_prefix: str,
    field: str,
    value: str,
    degraded: Degraded,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.hset(key_of(redis_prefix, "dep"), field, value)
    app, _guard = dependency_app(redis_url, redis_prefix)
    http = app.test_client()
    statuses = [http.get("/dep").status_code for _ in range(10)]
    assert statuses == [500] * 3 + [503] * 7  # ten failures, threshold 3: it opened
    shown = http.get("/health", headers=BEARER).get_json()["breakers"]["dep"]
    assert (shown["state"], shown["failures"]) == ("open", 3)
    assert 25 < shown["retry_after"] <= 30
    messages = corrupt_messages(caplog)
    assert len(messages) == 1, messages
    assert "'dep'" in messages[0]
    assert f"field {field!r}" in messages[0]
    assert [(name, type(error)) for name, error in degraded.seen] == [("dep", CorruptStateError)]
    assert client.hget(key_of(redis_prefix, "dep"), field) == value.encode()  # left for a look


def test_health_never_shows_garbage_from_redis(
    redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.hset(key_of(redis_prefix, "dep"), mapping={"s": "closed", "f": "inf"})
    app, guard = dependency_app(redis_url, redis_prefix)
    guard.breakers["dep"]  # built: it reads its state now
    health = app.test_client().get("/health", headers=BEARER).get_json()
    assert health["breakers"]["dep"] == {"state": "closed", "failures": 0, "retry_after": 0.0}
    assert health["storage"] == {"backend": "redis", "healthy": True}
    assert len(corrupt_messages(caplog)) == 1


def test_other_breakers_keep_sharing_while_one_key_is_corrupt(
    redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.hset(key_of(redis_prefix, "ledger"), "o", "nan")
    storage = RedisStorage(patient(redis_url), redis_prefix)
    ledger = CircuitBreaker("ledger", failure_threshold=1, storage=storage)
    payments = CircuitBreaker("payments", failure_threshold=1, storage=storage)
    for breaker in (ledger, payments):
        with pytest.raises(ConnectionError):
            breaker.call(fail)
    assert ledger.stats.state is CircuitState.OPEN  # locally
    assert client.hget(key_of(redis_prefix, "payments"), "s") == b"open"  # shared
    assert client.hget(key_of(redis_prefix, "ledger"), "s") is None
    assert storage.healthy()
    assert not [r for r in caplog.records if "unreachable" in r.getMessage()]


def fail() -> None:
    raise ConnectionError("down")


def test_a_reset_cures_a_corrupt_key_and_the_breaker_shares_again(
    redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.hset(key_of(redis_prefix, "dep"), mapping={"f": "nan", "v": "-3"})
    storage = RedisStorage(patient(redis_url), redis_prefix)
    breaker = CircuitBreaker("dep", failure_threshold=2, storage=storage)
    with caplog.at_level(logging.INFO, logger="flask_guard.storage.redis"):
        breaker.reset()  # an operator's cure: `flask guard reset dep`
    assert any("readable again" in r.getMessage() for r in caplog.records)
    stored = client.hgetall(key_of(redis_prefix, "dep"))
    assert (stored[b"s"], stored[b"f"]) == (b"closed", b"0")
    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(fail)
    assert client.hget(key_of(redis_prefix, "dep"), "s") == b"open"  # shared again


class Interrupted(BaseException):
    """Ends a call as cancellation does: neither success nor failure."""


def interrupt() -> NoReturn:
    raise Interrupted


def test_a_lease_that_never_expires_holds_no_trial_permit(
    redis_url: str, redis_prefix: str
) -> None:
    clock = FakeClock()
    storage = RedisStorage(patient(redis_url), redis_prefix, clock=clock)
    breaker = CircuitBreaker(
        "dep", failure_threshold=1, recovery_timeout=5, clock=clock, storage=storage
    )
    with pytest.raises(ConnectionError):
        breaker.call(fail)
    clock.advance(5)
    with pytest.raises(Interrupted):
        breaker.call(interrupt)  # a trial that counts as nothing: half-open, no lease held
    client = redis.Redis.from_url(redis_url)
    client.zadd(f"{key_of(redis_prefix, 'dep')}:leases", {"planted": float("inf")})
    assert breaker.call(lambda: "recovered") == "recovered"
    assert breaker.stats.state is CircuitState.CLOSED


GOOD_REPLY = [b"open", 4, 2, 1500, 0, 1, 0, b"origin:1", b"origin", b"failure_threshold", 9, 3]


@pytest.mark.parametrize(
    ("index", "value", "field"),
    [
        (0, b"bogus", "s"),
        (1, -1, "v"),
        (2, -9223372036854775808, "f"),
        (2, 10**16, "f"),
        (3, 30_001, "remaining"),  # longer than the recovery timeout
        (3, -1, "remaining"),
        (4, 2, "x"),
        (9, b"<script>", "r"),
        (10, -1, "n"),
        (11, 2.5, "j"),
        (7, b"\xff\xfe", "e"),
    ],
)
def test_a_reply_with_an_impossible_value_is_refused_by_name(
    index: int, value: object, field: str
) -> None:
    assert parse_reply(GOOD_REPLY, "dep", 30_000).retry_after == 1.5
    reply = list(GOOD_REPLY)
    reply[index] = value
    with pytest.raises(CorruptStateError) as refused:
        parse_reply(reply, "dep", 30_000)
    assert (refused.value.breaker, refused.value.field) == ("dep", field)
