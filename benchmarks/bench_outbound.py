"""Outgoing calls: robust_session vs requests.Session, the guarded httpx client vs
httpx.AsyncClient, retry_with_backoff vs tenacity.

Run: ``python benchmarks/bench_outbound.py`` (``--smoke`` to check it runs).
Goals: robust_session / requests.Session <= 1.05 per request against the same local server,
with the deadline machinery on (each call's total_timeout; then also inside a request budget,
which sends X-Request-Timeout, and with a per-host bulkhead);
robust_async_client / httpx.AsyncClient <= 1.05 per call, awaited in one event loop (the two
take turns call by call, and the medians are compared: on a shared machine a call takes
milliseconds of which the clients' own work is tens of microseconds, so rounds of many calls
measure the neighbours' load more than the clients);
retry_with_backoff's overhead on a call that succeeds first time below tenacity.retry's.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

import httpx
import requests
import tenacity
from werkzeug.serving import WSGIRequestHandler, make_server

from _timing import best_per_call, parse_args
from flask_guard import retry_with_backoff, robust_async_client, robust_session
from flask_guard.resilience.request_budget import budget


def tiny_app(environ: dict[str, object], start_response: Callable[..., object]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "11")])
    return [b'{"ok":true}']


class KeepAlive(WSGIRequestHandler):
    """HTTP/1.1, so both sessions reuse pooled connections as they would in production."""

    protocol_version = "HTTP/1.1"


def bare() -> int:
    return 1


async def median_per_await(
    subjects: Mapping[str, Callable[[], Awaitable[object]]], calls: int
) -> dict[str, float]:
    """Return each subject's median seconds per awaited call, the subjects taking turns
    call by call (in alternating order) so that they share the same noise."""
    times: dict[str, list[float]] = {name: [] for name in subjects}
    order = list(subjects.items())
    for turn in range(calls):
        for name, subject in order if turn % 2 else reversed(order):
            start = time.perf_counter()
            await subject()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(spent) for name, spent in times.items()}


async def compare_async_clients(url: str, calls: int) -> dict[str, float]:
    """Time a plain httpx.AsyncClient and the guarded client against ``url``."""
    guarded = robust_async_client()
    timeout = httpx.Timeout(connect=3.05, read=10.0, write=10.0, pool=3.05)
    async with httpx.AsyncClient(timeout=timeout) as plain:

        async def plain_call() -> bytes:
            return (await plain.get(url)).content

        async def guarded_call() -> bytes:
            return (await guarded.get(url)).content

        subjects = {"httpx.AsyncClient": plain_call, "robust_async_client": guarded_call}
        await median_per_await(subjects, 10)  # connections opened, code warm
        return await median_per_await(subjects, calls)


def main() -> None:
    args = parse_args(__doc__ or "")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    requests_per_round, calls, rounds = (20, 200, 2) if args.smoke else (1000, 200_000, 11)

    server = make_server("127.0.0.1", 0, tiny_app, threaded=True, request_handler=KeepAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.port}/rates"
    plain, robust = requests.Session(), robust_session()
    bounded = robust_session(max_concurrent=10)

    def in_budget() -> bytes:
        with budget(3600):
            return bounded.get(url).content

    sessions = {
        "requests.Session": lambda: plain.get(url, timeout=(3.05, 10.0)).content,
        "robust_session": lambda: robust.get(url).content,
        "+ budget, bulkhead": in_budget,
    }
    best = best_per_call(sessions, requests_per_round, rounds)
    async_median = asyncio.run(compare_async_clients(url, requests_per_round * rounds))
    server.shutdown()
    print("Per request against a local server (robust_session: each call has a total_timeout;")
    print("+ budget, bulkhead: inside a request budget, sending X-Request-Timeout, per-host")
    print("bulkhead on):")
    for name, seconds in best.items():
        print(f"  {name:20} {seconds * 1e6:8.1f} us")
    for name in ("robust_session", "+ budget, bulkhead"):
        ratio = best[name] / best["requests.Session"]
        print(f"  {name} / requests.Session: {ratio:.3f}x   goal <= 1.05x")
    print("Median per awaited call in one event loop, taking turns (robust_async_client: total")
    print("deadline, retries, body read within the deadline):")
    for name, seconds in async_median.items():
        print(f"  {name:20} {seconds * 1e6:8.1f} us")
    ratio = async_median["robust_async_client"] / async_median["httpx.AsyncClient"]
    print(f"  robust_async_client / httpx.AsyncClient: {ratio:.3f}x   goal <= 1.05x")

    retried: dict[str, Callable[[], object]] = {
        "bare call": bare,
        "retry_with_backoff": retry_with_backoff()(bare),
        "tenacity.retry": tenacity.retry(
            stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_random_exponential(0.1, 10)
        )(bare),
    }
    timing = best_per_call(retried, calls // 10, rounds)
    base = timing.pop("bare call")
    print(f"Overhead on a call that succeeds first time (bare call {base * 1e9:.0f} ns):")
    for name, seconds in timing.items():
        print(f"  {name:20} {(seconds - base) * 1e9:8.0f} ns")
    ours, theirs = (timing[n] - base for n in ("retry_with_backoff", "tenacity.retry"))
    print(f"  retry_with_backoff / tenacity.retry: {ours / theirs:.2f}x   goal < 1x")


if __name__ == "__main__":
    main()
