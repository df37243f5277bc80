"""Breaker state in Redis, shared by every worker process on every host.

Each outcome that can change the state is one Lua script: atomic, timed by Redis ``TIME``,
bumping a version on every transition and publishing it. A transition therefore happens
once for the fleet, and the process that made it is the one that reports its cause.
Successful calls in the closed state never reach Redis.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from typing import TYPE_CHECKING, Any

import redis

from ..breaker_policy import CircuitState
from ..signals import breaker_storage_degraded, send_safely
from . import Command, SharedState, TrialOutcome

if TYPE_CHECKING:
    from ..breaker import CircuitBreaker

_log = logging.getLogger(__name__)

#: Seconds Redis may take before a call goes on without it.
SOCKET_TIMEOUT = 0.25
#: Seconds between attempts to reach Redis while it is down.
RETRY_INTERVAL = 1.0
#: Seconds between full re-reads of every breaker, in case a change message was lost.
RESYNC_INTERVAL = 5.0
#: Unused breaker keys expire after this many seconds (at least).
KEY_TTL = 86_400

_PRELUDE = """
local key, leases = KEYS[1], KEYS[2]
local channel, name, origin = ARGV[1], ARGV[2], ARGV[3]
local recovery, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local h = redis.call('HMGET', key, 's', 'v', 'f', 'o', 'x', 'e')
local state = h[1] or 'closed'
local version = tonumber(h[2] or '0')
local failures = tonumber(h[3] or '0')
local opened = tonumber(h[4] or '0')
local forced = h[5] == '1'
-- A new lineage each time the key is created (first use, expiry, a Redis that restarted
-- empty): versions only compare within one.
local epoch = h[6] or (origin .. ':' .. now)
local changed = 0
local function bump()
  version = version + 1
  redis.call('PUBLISH', channel, name .. '\\n' .. version .. '\\n' .. origin)
end
local function move(new_state)
  state = new_state
  changed = 1
  redis.call('DEL', leases)
  redis.call('HSET', key, 't', 0)
  bump()
end
local function answer(admitted)
  local remaining = 0
  if state == 'open' then
    if forced then remaining = recovery else remaining = math.max(0, opened + recovery - now) end
  end
  return {state, version, failures, remaining, forced and 1 or 0, changed, admitted and 1 or 0,
          epoch}
end
local function reply(admitted)
  redis.call('HSET', key, 's', state, 'v', version, 'f', failures, 'o', opened,
             'x', forced and '1' or '0', 'e', epoch)
  redis.call('EXPIRE', key, ttl)
  return answer(admitted)
end
"""

_SCRIPTS = {
    "read": "return answer(false)",
    "failure": """
if state == 'closed' then
  failures = failures + 1
  if failures >= tonumber(ARGV[6]) then opened = now; move('open') end
end
return reply(false)
""",
    "success": """
if state == 'closed' then failures = 0 end
return reply(false)
""",
    "acquire": """
if state == 'open' and not forced and now >= opened + recovery then move('half_open') end
if state == 'half_open' then
  -- A lease that expired frees its permit, but stays until the episode ends, so that a
  -- trial slower than the lease still reports its outcome.
  if redis.call('ZCOUNT', leases, now, '+inf') < tonumber(ARGV[6]) then
    redis.call('ZADD', leases, now + recovery, ARGV[7])
    redis.call('PEXPIRE', leases, recovery * 10)
    return reply(true)
  end
end
return reply(state == 'closed')
""",
    "finish": """
local held = redis.call('ZREM', leases, ARGV[6]) == 1
if held and state == 'half_open' then
  if ARGV[7] == 'fail' then
    opened = now; move('open')
  elseif ARGV[7] == 'ok' and redis.call('HINCRBY', key, 't', 1) >= tonumber(ARGV[8]) then
    failures = 0; move('closed')
  end
end
return reply(false)
""",
    "command": """
local command = ARGV[6]
if command == 'open' or command == 'force_open' then
  if command == 'force_open' and not forced then forced = true; bump() end
  if state ~= 'open' then opened = now; move('open') end
else
  failures = 0
  if forced then forced = false; bump() end
  if state ~= 'closed' then move('closed') end
end
return reply(false)
""",
}


class RedisStorage:
    """Shared breaker state in Redis; see :doc:`/deployment` for what is shared and what not.

    :param client: a ``redis.Redis`` client. Give it short socket timeouts: a call waits for
        Redis at most that long before going on with local state.
    :param prefix: the namespace of the keys and of the change channel.
    """

    def __init__(self, client: redis.Redis, prefix: str = "flask-guard") -> None:
        self._client = client
        self._prefix = prefix
        self._channel = f"{prefix}:breakers"
        self._origin = uuid.uuid4().hex
        self._scripts = {
            name: client.register_script(_PRELUDE + body) for name, body in _SCRIPTS.items()
        }
        self._breakers: weakref.WeakValueDictionary[str, CircuitBreaker] = (
            weakref.WeakValueDictionary()
        )
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
        """Connect to ``url`` (``redis://`` or ``rediss://``) with short socket timeouts."""
        client = redis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
        )
        return cls(client, prefix)

    def healthy(self) -> bool:
        """Return whether Redis answered last time it was asked."""
        return self._degraded is None

    def attach(self, breaker: CircuitBreaker) -> None:
        """Share ``breaker``'s state: read it now, and follow the fleet's changes."""
        with self._lock:
            self._breakers[breaker.name] = breaker
        self._ensure_listener()
        if self._degraded is None:
            # Subscribed before the first read: no change can fall between the two.
            self._subscribed.wait(SOCKET_TIMEOUT)
        shared = self._run(breaker, "read")
        if shared is not None:
            breaker.sync(shared)

    def record_failure(self, breaker: CircuitBreaker) -> SharedState | None:
        """Count a failure; open the breaker for the fleet at ``failure_threshold``."""
        return self._run(breaker, "failure", breaker.policy.failure_threshold)

    def record_success(self, breaker: CircuitBreaker) -> SharedState | None:
        """Reset the fleet's failure count."""
        return self._run(breaker, "success")

    def acquire_trial(self, breaker: CircuitBreaker, lease: str) -> SharedState | None:
        """Go half-open if due, and take one of the fleet's trial leases if one is free."""
        return self._run(breaker, "acquire", breaker.policy.half_open_max_calls, lease)

    def finish_trial(
        self, breaker: CircuitBreaker, lease: str, outcome: TrialOutcome
    ) -> SharedState | None:
        """Report a trial's outcome and give its lease back."""
        return self._run(breaker, "finish", lease, outcome, breaker.policy.success_threshold)

    def command(self, breaker: CircuitBreaker, command: Command) -> SharedState | None:
        """Open, force open, close or reset ``breaker`` for the fleet."""
        return self._run(breaker, "command", command)

    def _run(self, breaker: CircuitBreaker, script: str, *extra: str | int) -> SharedState | None:
        self._ensure_listener()
        if self._down_until > time.monotonic():
            self._tell(breaker)
            return None  # down a moment ago: do not make every call wait for a timeout
        name = breaker.name
        recovery_ms = max(1, round(breaker.policy.recovery_timeout * 1000))
        keys = [f"{self._prefix}:{{{name}}}", f"{self._prefix}:{{{name}}}:leases"]
        ttl = max(KEY_TTL, round(breaker.policy.recovery_timeout * 10))
        args: list[str | int] = [self._channel, name, self._origin, recovery_ms, ttl, *extra]
        outages = self._outages
        try:
            reply = self._scripts[script](keys=keys, args=args)
        except redis.RedisError as error:
            self._degrade(breaker, error)
            return None
        if outages != self._outages:
            return None  # Redis went down meanwhile: the local state has moved on since
        if self._degraded is not None:
            self._recover()
        try:
            return _shared_state(reply)
        except (TypeError, ValueError):  # not ours: e.g. another version sharing the prefix
            _log.warning("Unreadable breaker state for %r in Redis: %r", name, reply)
            return None

    def _degrade(self, breaker: CircuitBreaker | None, error: Exception) -> None:
        with self._lock:
            self._down_until = time.monotonic() + RETRY_INTERVAL
            self._last_error = error
            first = self._degraded is None
            if first:
                self._degraded = set()
                self._outages += 1
        if first:
            _log.warning(
                "Redis is unreachable (%s); circuit breakers go on with local state", error
            )
        if breaker is not None:
            self._tell(breaker)

    def _tell(self, breaker: CircuitBreaker) -> None:
        """Send ``breaker_storage_degraded`` for ``breaker``, once per outage."""
        with self._lock:
            if self._degraded is None or breaker.name in self._degraded:
                return
            self._degraded.add(breaker.name)
            error = self._last_error
        send_safely(breaker_storage_degraded, breaker, exception=error)

    def _recover(self) -> None:
        with self._lock:
            if self._degraded is None:
                return
            self._degraded = None
            self._down_until = 0.0
        _log.info("Redis is reachable again; circuit breakers follow the shared state")

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
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                pubsub.subscribe(self._channel)
                self._subscribed.set()
                self._resync()
                resynced = time.monotonic()
                while True:
                    message = pubsub.get_message(timeout=0.5)
                    if message is None:
                        pubsub.ping()
                    elif message["type"] == "message":
                        self._on_change(message["data"])
                    if time.monotonic() - resynced > RESYNC_INTERVAL:
                        self._resync()
                        resynced = time.monotonic()
            except Exception:  # the thread must outlive anything: it keeps every view fresh
                # Losing the subscription alone is not an outage: calls find out for
                # themselves whether Redis answers. Reconnect after a pause.
                _log.debug("Redis change listener lost its connection", exc_info=True)
                time.sleep(RETRY_INTERVAL)

    def _resync(self) -> None:
        """Adopt the shared state of every breaker (after a reconnect, and now and then in
        case a change message was lost)."""
        self._down_until = 0.0
        with self._lock:
            breakers = list(self._breakers.values())
        for breaker in breakers:
            shared = self._run(breaker, "read")
            if shared is not None:
                breaker.sync(shared)

    def _on_change(self, data: bytes | str) -> None:
        text = data if isinstance(data, str) else data.decode()
        name, _, origin = text.rpartition("\n")
        name = name.rpartition("\n")[0]
        breaker = self._breakers.get(name)
        if breaker is None or origin == self._origin:
            return  # not ours, or our own transition, which its maker reports
        shared = self._run(breaker, "read")
        if shared is not None:
            breaker.sync(shared)


def _shared_state(reply: list[Any]) -> SharedState:
    state, version, failures, remaining_ms, forced, changed, admitted, epoch = reply
    return SharedState(
        epoch=epoch.decode() if isinstance(epoch, bytes) else str(epoch),
        state=CircuitState(state.decode() if isinstance(state, bytes) else state),
        version=int(version),
        failures=int(failures),
        retry_after=int(remaining_ms) / 1000,
        forced=bool(forced),
        changed=bool(changed),
        admitted=bool(admitted),
    )
