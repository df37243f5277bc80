"""Degradation on the success path, against the references in one process and one run.

Run: ``python benchmarks/bench_degrade.py`` (``--smoke`` to check it runs).
Goals: a fallback chain whose primary succeeds costs <= 0.2 us over calling it bare; a stale
cache answering a fresh value costs <= 1 us, in memory and with Redis shared storage alike
(a fresh hit makes no Redis round trip: the script counts Redis' GET and SET calls).
References: a hand-written ``try``/``except`` fallback, a ``cachetools.TTLCache`` memoizer,
a closed breaker.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import cachetools
import redis

from _timing import best_per_call, parse_args
from flask_guard import CircuitBreaker, FallbackChain, StaleCache
from flask_guard.degrade.chain import wrap
from flask_guard.degrade.shared import SharedRedis, SharedValues

REDIS_URL = os.environ.get("GUARD_TEST_REDIS", "redis://127.0.0.1:6379/15")


def primary(user: int) -> int:
    return user


def replica(user: int) -> int:
    return -user


def hand_written(user: int) -> int:
    """The usual fallback: a try/except around the primary."""
    try:
        return primary(user)
    except Exception:
        return replica(user)


def calls_of(client: redis.Redis, command: str) -> int:
    stats = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def main() -> None:
    args = parse_args(__doc__ or "")
    calls, rounds = (200, 2) if args.smoke else (300_000, 7)
    chain = wrap(FallbackChain("bench", primary, replica))
    memory = StaleCache("bench-memory", fresh=3600, stale=7200)(primary)
    shared_cache = StaleCache("bench-redis", fresh=3600, stale=7200)
    client = redis.Redis.from_url(REDIS_URL)
    shared_cache.share(SharedValues(SharedRedis(client, "flask-guard-bench")))
    shared = shared_cache(primary)
    ttl = cachetools.cached(cachetools.TTLCache(maxsize=1000, ttl=3600))(primary)
    breaker = CircuitBreaker("bench")(primary)
    for warm in (memory, shared, ttl):
        warm(7)

    subjects: dict[str, Callable[[], object]] = {
        "bare call": lambda: primary(7),
        "chain, primary answers": lambda: chain(7),
        "hand-written try/except": lambda: hand_written(7),
        "breaker, closed": lambda: breaker(7),
        "stale cache, fresh hit": lambda: memory(7),
        "stale cache (redis), fresh hit": lambda: shared(7),
        "cachetools TTLCache hit": lambda: ttl(7),
    }
    gets, sets = calls_of(client, "get"), calls_of(client, "set")
    best = best_per_call(subjects, calls, rounds)
    round_trips = calls_of(client, "get") - gets + calls_of(client, "set") - sets
    base = best.pop("bare call")
    overhead = {name: (seconds - base) * 1e9 for name, seconds in best.items()}
    print(f"Success path, overhead over a bare call ({base * 1e9:.0f} ns):")
    for name, ns in overhead.items():
        print(f"  {name:32} {ns:8.0f} ns")
    chain_ns = overhead["chain, primary answers"]
    print(f"  chain: {chain_ns / 1000:.3f} us   goal <= 0.2 us")
    print(
        f"  chain / hand-written try/except: {chain_ns / overhead['hand-written try/except']:.2f}x"
    )
    print(f"  chain / closed breaker: {chain_ns / overhead['breaker, closed']:.2f}x")
    for name in ("stale cache, fresh hit", "stale cache (redis), fresh hit"):
        hit = best[name] * 1e6
        print(f"  {name}: {hit:.3f} us per call   goal <= 1 us")
    ratio = best["stale cache, fresh hit"] / best["cachetools TTLCache hit"]
    print(f"  stale cache / cachetools TTLCache hit: {ratio:.2f}x")
    print(f"  Redis GET and SET calls during the fresh hits: {round_trips}   goal 0")
    client.delete(*client.keys("flask-guard-bench:*") or ["flask-guard-bench:none"])


if __name__ == "__main__":
    main()
