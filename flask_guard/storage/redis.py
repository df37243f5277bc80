"""Breaker state in Redis, shared by every worker process on every host.

Each step that can change the state is one Lua script (:mod:`.redis_scripts`): atomic,
timed by Redis ``TIME``, bumping a version on every transition and publishing it. A
transition therefore happens once for the fleet, and the process that made it is the one
that reports its cause. Successful calls in the closed state never reach Redis. One
server, a Redis Cluster and a Sentinel-managed primary are all used the same way: each
script touches the two keys of one breaker, which share a hash slot.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable

import redis
from redis.commands.core import Script
from redis.exceptions import RedisClusterException

from ..breaker.policy import BreakerPolicy
from .base import BreakerHooks, CorruptStateError
from .redis_clients import Client, client_for, primary_moved
from .redis_reply import Shared, parse_reply
from .redis_scripts import PRELUDE, SCRIPTS
from .redis_store import RedisStore

_log = logging.getLogger(__name__)

#: Seconds Redis may take before a call goes on without it.
SOCKET_TIMEOUT = 0.25
#: Seconds between attempts to reach Redis while it is down.
RETRY_INTERVAL = 1.0
#: Seconds between full re-reads of every breaker, in case a change message was lost.
RESYNC_INTERVAL = 5.0
#: Seconds between questions to Sentinel about where the primary is.
PRIMARY_CHECK_INTERVAL = 1.0
#: Unused breaker keys expire after this many seconds (at least).
KEY_TTL = 86_400
#: Errors by which Redis says a key holds what no script wrote there.
_CORRUPT = ("CORRUPT ", "WRONGTYPE ")


class RedisStorage:
    """Shared breaker state in Redis; see :doc:`/deployment` for what is shared and what not.

    :param client: a ``redis.Redis`` or ``redis.cluster.RedisCluster`` client, or a callable
        that returns one, called when Redis is first needed (and again while that fails).
        Give it short socket timeouts: a call waits for Redis at most that long before
        going on with local state.
    :param prefix: the namespace of the keys and of the change channel.
    :param clock: seconds to use as the fleet's time instead of Redis ``TIME`` (for tests).
    """

    name = "redis"

    def __init__(
        self,
        client: Client | Callable[[], Client],
        prefix: str = "flask-guard",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._client: Client | None = None
        self._connect = client if callable(client) else None
        self._scripts: dict[str, Script] = {}
        if not callable(client):
            self._use(client)
        self._prefix = prefix
        self._channel = f"{prefix}:breakers"
        self._clock = clock
        self.origin = os.urandom(16).hex()
        self._stores: weakref.WeakValueDictionary[str, RedisStore] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self._down_until = 0.0
        # While Redis is down: the breakers told so far; None while it answers.
        self._degraded: set[str] | None = None
        self._last_error: Exception | None = None
        # Counts outages: a reply to a call that began before the latest one is stale.
        self._outages = 0
        self._listener_pid = 0
        self._listener = threading.Thread()
        self._subscribed = threading.Event()

    @classmethod
    def from_url(cls, url: str, prefix: str = "flask-guard") -> RedisStorage:
        """Connect to ``url`` with short socket timeouts: ``redis://``, ``rediss://`` or
        ``unix://`` for one server, ``redis+cluster://`` for a Redis Cluster,
        ``redis+sentinel://`` for a primary that Sentinel manages (see
        :mod:`flask_guard.storage.redis_urls`)."""
        return cls(client_for(url, SOCKET_TIMEOUT), prefix)

    def healthy(self) -> bool:
        """Return whether Redis answered last time it was asked."""
        return self._degraded is None

    def reachable(self) -> bool:
        """Return whether to ask Redis now (not while it was found down a moment ago)."""
        return self._down_until <= time.monotonic()

    def bind(self, name: str, policy: BreakerPolicy, hooks: BreakerHooks) -> RedisStore:
        """Share breaker ``name``'s state: read it now, and follow the fleet's changes."""
        store = RedisStore(self, name, policy, hooks)
        with self._lock:
            self._stores[name] = store
        self._ensure_listener()
        if self._degraded is None:
            # Subscribed before the first read: no change can fall between the two.
            self._subscribed.wait(SOCKET_TIMEOUT)
        store.sync()
        return store

    def run(self, store: RedisStore, script: str, cause: str, *extra: str | int) -> Shared | None:
        """Run ``script`` for ``store``'s breaker; None when Redis did not answer usably."""
        self._ensure_listener()
        if not self.reachable():
            self._tell(store)
            return None  # down a moment ago: do not make every call wait for a timeout
        name, policy = store.name, store.policy
        recovery_ms = max(1, round(policy.recovery_timeout * 1000))
        keys = [f"{self._prefix}:{{{name}}}", f"{self._prefix}:{{{name}}}:leases"]
        ttl = max(KEY_TTL, round(policy.recovery_timeout * 10))
        now = "" if self._clock is None else round(self._clock() * 1000)
        failures, rejections = store.take_counts()
        opening, offline = store.offline_opening()
        args: list[str | int] = [self._channel, name, self.origin, recovery_ms, ttl, now, cause]
        args += [failures, rejections, offline, *extra]
        outages = self._outages
        try:
            reply = self._connected()[script](keys=keys, args=args)
        except redis.ResponseError as error:
            store.return_counts(failures, rejections)
            if str(error).startswith(_CORRUPT):  # Redis answers, but this key is bad
                store.unusable(_corruption(name, error))
            else:  # a replica, a cluster node that does not serve the slot, a busy script
                self._degrade(store, error)
            return None
        except (redis.RedisError, RedisClusterException) as error:
            store.return_counts(failures, rejections)
            self._degrade(store, error)
            return None
        if outages != self._outages:
            return None  # Redis went down meanwhile: the local state has moved on since
        if self._degraded is not None:
            self._recover()
        try:
            shared = parse_reply(reply, name, recovery_ms)
        except CorruptStateError as error:  # e.g. another version sharing the prefix
            store.unusable(error)
            return None
        store.usable(opening)
        return shared

    def _connected(self) -> dict[str, Script]:
        """Return the scripts, bound to a client (built now if it is built on first use)."""
        if self._client is None:
            assert self._connect is not None
            with self._lock:
                if self._client is None:
                    self._use(self._connect())
        return self._scripts

    def _use(self, client: Client) -> None:
        self._scripts = {
            name: client.register_script(PRELUDE + body) for name, body in SCRIPTS.items()
        }
        self._client = client

    def _degrade(self, store: RedisStore, error: Exception) -> None:
        with self._lock:
            self._down_until = time.monotonic() + RETRY_INTERVAL
            self._last_error = error
            first = self._degraded is None
            if first:
                self._degraded = set()
                self._outages += 1
        if first:
            hint = ""
            if isinstance(error, redis.exceptions.AskError):  # MOVED is an AskError
                hint = "; this is a Redis Cluster node: give a redis+cluster:// URL"
            _log.warning(
                "Redis is unreachable (%s%s); circuit breakers go on with local state",
                error,
                hint,
            )
        self._tell(store)

    def _tell(self, store: RedisStore) -> None:
        """Send ``breaker_storage_degraded`` for ``store``'s breaker, once per outage."""
        with self._lock:
            if self._degraded is None or store.name in self._degraded:
                return
            self._degraded.add(store.name)
            error = self._last_error
        store.hooks.degraded(error)

    def _recover(self) -> None:
        with self._lock:
            if self._degraded is None:
                return
            self._degraded = None
            self._down_until = 0.0
        _log.info("Redis is reachable again; circuit breakers follow the shared state")

    # The change listener: one thread per process

    def _ensure_listener(self) -> None:
        """Start the change listener in this process: again after a fork, or if it died."""
        if self._listener_pid == os.getpid() and self._listener.is_alive():
            return
        with self._lock:
            if self._listener_pid == os.getpid() and self._listener.is_alive():
                return
            self._listener_pid = os.getpid()
            self._subscribed.clear()
            self._listener = threading.Thread(
                target=self._listen, name="flask-guard-redis", daemon=True
            )
            self._listener.start()

    def _listen(self) -> None:
        while True:
            try:
                self._follow()
            except Exception:  # the thread must outlive anything: it keeps every view fresh
                # Losing the subscription alone is not an outage: calls find out for
                # themselves whether Redis answers. Reconnect after a pause.
                _log.debug("Redis change listener lost its connection", exc_info=True)
                time.sleep(RETRY_INTERVAL)

    def _follow(self) -> None:
        """Subscribe, then adopt every change until the connection is lost or the primary
        moves (then return, to subscribe again on the new one)."""
        self._connected()
        assert self._client is not None
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self._channel)
            self._subscribed.set()
            self._down_until = 0.0  # it answered: ask it now, not after the retry interval
            self._resync()
            resynced = checked = time.monotonic()
            while True:
                message = pubsub.get_message(timeout=0.5)
                if message is None:
                    pubsub.ping()
                elif message["type"] == "message":
                    self._on_change(message["data"])
                now = time.monotonic()
                if now - checked > PRIMARY_CHECK_INTERVAL:
                    checked = now
                    if self._primary_moved():
                        return
                # While Redis is found down, look every second: the first answer shares the
                # openings made meanwhile, though every call is rejected locally.
                if now - resynced > (RESYNC_INTERVAL if self.healthy() else RETRY_INTERVAL):
                    self._resync()
                    resynced = time.monotonic()
        finally:
            pubsub.close()

    def _primary_moved(self) -> bool:
        assert self._client is not None
        try:
            moved = primary_moved(self._client)
        except redis.RedisError:  # Sentinels unreachable: the primary may well still answer
            _log.debug("Sentinel did not say where the primary is", exc_info=True)
            return False
        if moved:
            _log.info("Redis Sentinel moved the primary; circuit breakers follow it there")
        return moved

    def _resync(self) -> None:
        """Adopt the shared state of every breaker (after a reconnect, and now and then in
        case a change message was lost; while Redis is found down, the first store asks and
        the others skip until the retry interval has passed)."""
        with self._lock:
            stores = list(self._stores.values())
        for store in stores:
            store.sync()

    def _on_change(self, data: bytes | str) -> None:
        text = data if isinstance(data, str) else data.decode(errors="replace")
        name, _, origin = text.rpartition("\n")
        name = name.rpartition("\n")[0]
        store = self._stores.get(name)
        if store is not None and origin != self.origin:
            store.sync()  # our own transitions are adopted by the step that made them


def _corruption(breaker: str, error: redis.ResponseError) -> CorruptStateError:
    """Return what a script's refusal says is wrong with ``breaker``'s keys."""
    text = str(error).partition(" script:")[0]
    if text.startswith("WRONGTYPE"):
        return CorruptStateError(breaker, "key type", text)
    parts = text.split(" ", 2)
    return CorruptStateError(breaker, parts[1], parts[2] if len(parts) > 2 else "")
