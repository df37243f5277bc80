"""Circuit breaker cost against pybreaker and circuitbreaker, in one process and one run.

Run: ``python benchmarks/bench_breaker.py`` (``--smoke`` to check it runs).
Goals, on both the decorated path and ``breaker.call(func)``: closed overhead <= 0.4x
circuitbreaker's; rejection by a breaker that failures opened <= 0.35x pybreaker's;
8 threads x 10 ms calls through one breaker >= 0.95x the unguarded throughput.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable

import circuitbreaker
import pybreaker

from _timing import best_per_call, parse_args
from flask_guard import CircuitBreaker, CircuitOpenError

THREADS = 8
SLEEP = 0.01


def bare() -> int:
    return 1


def naive_lock_breaker(func: Callable[[], int]) -> Callable[[], int]:
    """The common hand-written breaker: one lock around everything, the call included."""
    lock = threading.Lock()
    failures = 0

    def guarded() -> int:
        nonlocal failures
        with lock:
            try:
                result = func()
            except Exception:
                failures += 1
                raise
            failures = 0
            return result

    return guarded


def rejecting(call: Callable[[], object], error: type[Exception]) -> Callable[[], None]:
    def attempt() -> None:
        # try/except, not contextlib.suppress: the suppress context manager would cost
        # more than some of the rejections being measured.
        try:  # noqa: SIM105
            call()
        except error:
            pass

    return attempt


def closed_subjects() -> dict[str, Callable[[], object]]:
    ours = CircuitBreaker("bench")
    return {
        "bare call": bare,
        "flask-guard": ours(bare),
        "flask-guard call()": functools.partial(ours.call, bare),
        "circuitbreaker": circuitbreaker.circuit(failure_threshold=5, recovery_timeout=30)(bare),
        "pybreaker": pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)(bare),
        "naive lock": naive_lock_breaker(bare),
    }


def fail() -> None:
    raise ConnectionError("down")


def opened_by_failures() -> CircuitBreaker:
    ours = CircuitBreaker("bench-open", failure_threshold=1, recovery_timeout=3600)
    with contextlib.suppress(ConnectionError):
        ours.call(fail)
    return ours


def open_subjects() -> dict[str, Callable[[], object]]:
    ours, forced = opened_by_failures(), CircuitBreaker("bench-forced")
    forced.force_open()
    theirs = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=3600)
    with contextlib.suppress(Exception):
        theirs.call(fail)
    other = circuitbreaker.CircuitBreaker(failure_threshold=1, recovery_timeout=3600)
    other_call = other(bare)
    for _ in range(2):
        with contextlib.suppress(Exception):
            other.call(fail)
    return {
        "flask-guard": rejecting(ours(bare), CircuitOpenError),
        "flask-guard call()": rejecting(functools.partial(ours.call, bare), CircuitOpenError),
        "flask-guard forced": rejecting(forced(bare), CircuitOpenError),
        "pybreaker": rejecting(theirs(bare), pybreaker.CircuitBreakerError),
        "circuitbreaker": rejecting(other_call, circuitbreaker.CircuitBreakerError),
    }


def threaded_throughput(call: Callable[[], object], calls_per_thread: int) -> float:
    """Return calls per second when THREADS threads each make ``calls_per_thread`` calls."""
    start = threading.Barrier(THREADS + 1)

    def worker() -> None:
        start.wait()
        for _ in range(calls_per_thread):
            call()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return THREADS * calls_per_thread / (time.perf_counter() - began)


def sleepy() -> None:
    time.sleep(SLEEP)


def main() -> None:
    args = parse_args(__doc__ or "")
    logging.disable(logging.WARNING)
    calls, rounds, threaded_calls = (200, 2, 3) if args.smoke else (200_000, 7, 50)

    closed = best_per_call(closed_subjects(), calls, rounds)
    base = closed.pop("bare call")
    overhead = {name: (seconds - base) * 1e9 for name, seconds in closed.items()}
    print(f"Closed state, overhead over a bare call ({base * 1e9:.0f} ns):")
    for name, ns in overhead.items():
        print(f"  {name:20} {ns:8.0f} ns")
    for path in ("flask-guard", "flask-guard call()"):
        ratio = overhead[path] / overhead["circuitbreaker"]
        print(f"  {path} / circuitbreaker: {ratio:.2f}x   goal <= 0.4x")

    rejected = best_per_call(open_subjects(), calls // 4, rounds)
    print("Open state (opened by failures), cost of a rejected call:")
    for name, seconds in rejected.items():
        print(f"  {name:20} {seconds * 1e9:8.0f} ns")
    for path in ("flask-guard", "flask-guard call()"):
        ratio = rejected[path] / rejected["pybreaker"]
        print(f"  {path} / pybreaker: {ratio:.2f}x   goal <= 0.35x")

    print(f"{THREADS} threads x {SLEEP * 1000:.0f} ms calls, throughput vs unguarded:")
    unguarded = threaded_throughput(sleepy, threaded_calls)
    for name, call in {
        "flask-guard": CircuitBreaker("bench-threads")(sleepy),
        "circuitbreaker": circuitbreaker.circuit()(sleepy),
        "pybreaker": pybreaker.CircuitBreaker()(sleepy),
    }.items():
        ratio = threaded_throughput(call, threaded_calls) / unguarded
        goal = "   goal >= 0.95x" if name == "flask-guard" else ""
        print(f"  {name:16} {ratio:8.2f}x{goal}")


if __name__ == "__main__":
    main()
