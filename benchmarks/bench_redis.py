"""Shared breaker state: the success-path cost with Redis storage vs in-memory vs pybreaker's
CircuitRedisStorage, the cost of a failure (one checked Lua step vs pybreaker's commands),
and how fast another process learns that a breaker opened.

Run: ``python benchmarks/bench_redis.py`` (``--smoke`` to check it runs). Needs a Redis at
``GUARD_TEST_REDIS`` (default ``redis://127.0.0.1:6379/15``).
Goals: <= 5 us per successful call with Redis storage; an opening known elsewhere <= 100 ms.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from typing import Any

import pybreaker
import redis

from _timing import best_per_call, parse_args
from flask_guard import CircuitBreaker, CircuitState, signals
from flask_guard.storage.redis import RedisStorage

URL = os.environ.get("GUARD_TEST_REDIS", "redis://127.0.0.1:6379/15")


def bare() -> int:
    return 1


def failing() -> None:
    raise ConnectionError("down")


def swallowing(call: Any) -> Any:
    """Return a subject that makes one failed call through ``call`` and swallows it."""

    def subject() -> None:
        with contextlib.suppress(ConnectionError):
            call(failing)

    return subject


def failure_costs(client: redis.Redis, prefix: str, calls: int, rounds: int) -> None:
    """Print what a failed call costs when every failure is counted in Redis."""
    never = 10**9  # thresholds never reached: every call is a counted failure
    ours = CircuitBreaker(
        "failing", failure_threshold=never, storage=RedisStorage(client, f"{prefix}-f")
    )
    theirs = pybreaker.CircuitBreaker(
        fail_max=never,
        state_storage=pybreaker.CircuitRedisStorage(
            pybreaker.STATE_CLOSED, client, namespace=f"{prefix}-f"
        ),
    )
    best = best_per_call(
        {"flask-guard, Redis": swallowing(ours.call), "pybreaker, Redis": swallowing(theirs.call)},
        calls,
        rounds,
    )
    print("A failed call, counted in Redis (the script checks every stored value first):")
    for name, seconds in best.items():
        print(f"  {name:22} {seconds * 1e6:9.1f} us")
    ratio = best["flask-guard, Redis"] / best["pybreaker, Redis"]
    print(f"  flask-guard / pybreaker (both Redis): {ratio:.2f}x")


def opening_seen_after(prefix: str) -> float:
    """Return seconds between one process opening a breaker and another learning it."""
    opener = CircuitBreaker(
        "latency", failure_threshold=1, storage=RedisStorage.from_url(URL, prefix)
    )
    watcher = CircuitBreaker(
        "latency", failure_threshold=1, storage=RedisStorage.from_url(URL, prefix)
    )
    learned = threading.Event()

    def on_change(sender: CircuitBreaker, **kwargs: Any) -> None:
        if kwargs["new"] is CircuitState.OPEN:
            learned.set()

    signals.breaker_state_changed.connect(on_change, watcher)
    started = time.perf_counter()
    with contextlib.suppress(ZeroDivisionError):
        opener.call(lambda: 1 / 0)
    assert learned.wait(5), "the other breaker never learned of the opening"
    return time.perf_counter() - started


def main() -> None:
    args = parse_args(__doc__ or "")
    logging.disable(logging.WARNING)
    calls, rounds = (200, 2) if args.smoke else (50_000, 5)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(URL)
    theirs = pybreaker.CircuitBreaker(
        fail_max=5,
        state_storage=pybreaker.CircuitRedisStorage(
            pybreaker.STATE_CLOSED, client, namespace=prefix
        ),
    )
    subjects = {
        "bare call": bare,
        "flask-guard, memory": CircuitBreaker("memory")(bare),
        "flask-guard, Redis": CircuitBreaker("redis", storage=RedisStorage(client, prefix))(bare),
        "pybreaker, Redis": theirs(bare),
    }
    pybreaker_calls = max(20, calls // 100)  # two round trips a call: far slower
    best = best_per_call(
        {k: v for k, v in subjects.items() if "pybreaker" not in k}, calls, rounds
    )
    best |= best_per_call(
        {"pybreaker, Redis": subjects["pybreaker, Redis"]}, pybreaker_calls, rounds
    )
    base = best.pop("bare call")
    print(f"Successful call through a closed breaker, overhead over a {base * 1e9:.0f} ns call:")
    for name, seconds in best.items():
        print(f"  {name:22} {(seconds - base) * 1e6:9.3f} us")
    ours, theirs_cost = best["flask-guard, Redis"] - base, best["pybreaker, Redis"] - base
    print(f"  flask-guard with Redis: {ours * 1e6:.3f} us   goal <= 5 us")
    print(f"  flask-guard / pybreaker (both Redis): {ours / theirs_cost:.4f}x")
    failure_costs(client, prefix, 50 if args.smoke else 2_000, rounds)
    seen = sorted(opening_seen_after(f"{prefix}-{n}") for n in range(3 if args.smoke else 11))
    print(
        f"Another process learns an opening after {seen[len(seen) // 2] * 1000:.1f} ms "
        f"(median; worst {seen[-1] * 1000:.1f} ms)   goal <= 100 ms"
    )
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


if __name__ == "__main__":
    main()
