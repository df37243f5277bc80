"""What degradation shares through the breakers' Redis: last good values and forced features.

One small client per guard, made from ``GUARD_BREAKER_STORAGE`` (a URL gets the breakers'
short socket timeouts; a client is used as given). Redis that does not answer never fails a
call: a read finds nothing, a write is skipped, and Redis is not asked again for
:data:`~flask_guard.storage.redis.RETRY_INTERVAL` seconds. One WARNING per outage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis

from ..storage.redis import RETRY_INTERVAL, SOCKET_TIMEOUT
from ..storage.redis_clients import client_for

_log = logging.getLogger(__name__)

T = TypeVar("T")


class SharedRedis:
    """A Redis client for degradation's keys, under the breakers' prefix."""

    name = "redis"

    def __init__(self, setting: object, prefix: str) -> None:
        # The same kinds of URL as the breakers' (one server, Cluster, Sentinel); a cluster
        # client is built on first use, so a cluster down at start fails nothing.
        self._source: object = (
            client_for(setting, SOCKET_TIMEOUT) if isinstance(setting, str) else setting
        )
        self._client: redis.Redis | None = None
        self.prefix = prefix
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._warned = False

    @property
    def client(self) -> redis.Redis:
        """The client, built now if the setting named a Redis Cluster."""
        if self._client is None:
            source = self._source
            self._client = cast(redis.Redis, source() if callable(source) else source)
        return self._client

    def ask(self, what: str, request: Callable[[redis.Redis], T], fallback: T) -> T:
        """Return ``request(client)``, or ``fallback`` if Redis does not answer (now or a
        moment ago)."""
        if self._down_until > time.monotonic():
            return fallback
        try:
            answer = request(self.client)
        except redis.RedisError as error:
            with self._lock:
                self._down_until = time.monotonic() + RETRY_INTERVAL
                warn, self._warned = not self._warned, True
            if warn:
                _log.warning("Redis is unreachable (%s); %s goes on without it", error, what)
            return fallback
        if self._warned:
            self._warned = False
            _log.info("Redis is reachable again; %s uses it again", what)
        return answer

    def stale_key(self, cache: str, key: object) -> str:
        """Return the Redis key of ``key``'s last good value in stale cache ``cache``."""
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
        return f"{self.prefix}:stale:{cache}:{digest}"

    @property
    def features_key(self) -> str:
        """The hash of features forced off for the fleet (name -> why)."""
        return f"{self.prefix}:features:forced"


class SharedValues:
    """Last good values of stale caches, as JSON in Redis, expiring with their stale TTL."""

    def __init__(self, shared: SharedRedis) -> None:
        self._shared = shared
        self._unshareable: set[str] = set()

    def load(self, cache: str, key: object) -> tuple[Any, float] | None:
        """Return ``(value, age in seconds)`` of ``key``'s last good value, or None."""
        redis_key = self._shared.stale_key(cache, key)
        raw = self._shared.ask("the stale cache", lambda client: client.get(redis_key), None)
        if raw is None:
            return None
        try:
            stored = json.loads(raw)
            return stored["v"], max(0.0, time.time() - float(stored["t"]))
        except (ValueError, TypeError, KeyError):  # not ours, or from another version
            return None

    def save(self, cache: str, key: object, value: Any, stale: float) -> None:
        """Keep ``value`` for ``stale`` seconds (JSON only: never unpickle what Redis holds)."""
        try:
            data = json.dumps({"v": value, "t": time.time()}, separators=(",", ":"))
        except (TypeError, ValueError):
            if cache not in self._unshareable:
                self._unshareable.add(cache)
                _log.warning(
                    "Stale cache %r: a value is not JSON (%s), so it is kept in this process "
                    "only, not shared through Redis",
                    cache,
                    type(value).__name__,
                )
            return
        redis_key = self._shared.stale_key(cache, key)
        milliseconds = max(1, round(stale * 1000))
        self._shared.ask(
            "the stale cache", lambda client: client.set(redis_key, data, px=milliseconds), None
        )
