"""Bulkhead admission cost, uncontended, against the references in one process and one run.

Run: ``python benchmarks/bench_bulkhead.py`` (``--smoke`` to check it runs).
Goal: a bulkhead's admission (take a slot, give it back) costs <= 0.3 us over a bare call.
References: a plain ``threading.Semaphore`` around the call and flask-guard's closed breaker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from _timing import best_per_call, parse_args
from flask_guard import Bulkhead, CircuitBreaker


def bare() -> int:
    return 1


def with_semaphore(func: Callable[[], int]) -> Callable[[], int]:
    """The usual hand-written bulkhead: a semaphore, acquired without blocking."""
    semaphore = threading.Semaphore(10)

    def guarded() -> int:
        if not semaphore.acquire(blocking=False):
            raise RuntimeError("full")
        try:
            return func()
        finally:
            semaphore.release()

    return guarded


def main() -> None:
    args = parse_args(__doc__ or "")
    calls, rounds = (200, 2) if args.smoke else (300_000, 7)
    bulkhead = Bulkhead("bench", max_concurrent=10)

    def context_manager() -> int:
        with bulkhead:
            return bare()

    subjects: dict[str, Callable[[], object]] = {
        "bare call": bare,
        "bulkhead (decorator)": bulkhead(bare),
        "bulkhead (with)": context_manager,
        "threading.Semaphore": with_semaphore(bare),
        "breaker, closed": CircuitBreaker("bench")(bare),
    }
    best = best_per_call(subjects, calls, rounds)
    base = best.pop("bare call")
    overhead = {name: (seconds - base) * 1e9 for name, seconds in best.items()}
    print(f"Uncontended admission, overhead over a bare call ({base * 1e9:.0f} ns):")
    for name, ns in overhead.items():
        print(f"  {name:22} {ns:8.0f} ns")
    ours = overhead["bulkhead (decorator)"]
    print(f"  bulkhead: {ours / 1000:.3f} us   goal <= 0.3 us")
    for reference in ("threading.Semaphore", "breaker, closed"):
        print(f"  bulkhead / {reference}: {ours / overhead[reference]:.2f}x")


if __name__ == "__main__":
    main()
