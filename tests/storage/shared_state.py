"""Watch breaker state in a real Redis from a test: wait for it without sleeping."""

from __future__ import annotations

import time

import redis

WAIT = 10


def key_of(prefix: str, name: str) -> str:
    """Return the key of breaker ``name``'s hash."""
    return f"{prefix}:{{{name}}}"


def wait_for_stored(
    client: redis.Redis | redis.RedisCluster, prefix: str, name: str, state: str
) -> dict[str, str]:
    """Wait until Redis holds breaker ``name`` in ``state``; return its hash.

    Subscribed before the first look, so a change made between the look and the wait is a
    message, not a miss.
    """
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"{prefix}:breakers")
    deadline = time.monotonic() + WAIT
    try:
        while True:
            stored = {
                k.decode(): v.decode() for k, v in client.hgetall(key_of(prefix, name)).items()
            }
            if stored.get("s") == state:
                return stored
            left = deadline - time.monotonic()
            assert left > 0, f"{name} never became {state} in Redis: {stored}"
            pubsub.get_message(timeout=min(left, 1.0))
    finally:
        pubsub.close()
