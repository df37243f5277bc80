"""Cost of Sentry, on requests that succeed and on requests that fail, in one process and
one run: a guarded app with Sentry on vs plain Flask, next to Flask with the stock
FlaskIntegration.

Run: ``python benchmarks/bench_sentry.py`` (``--smoke`` to check it runs).
Goals: a request that succeeds, guarded with Sentry on (tracing off) / plain Flask <= 1.2;
a request that fails (a view raising ``RuntimeError``, the event delivered to a loopback
ingest), guarded / stock FlaskIntegration, aiming at 0.25.

The stock integration is measured last: once set up it patches ``Flask.__call__`` for every
app in the process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sentry_sdk
import sentry_sdk.integrations as sentry_integrations
from bench_requests import make_app, wsgi_call
from sentry_sdk.integrations.flask import FlaskIntegration
from werkzeug.serving import make_server

from _timing import best_per_call, parse_args
from flask_guard.testing import SentryIngest

# Nothing listens here: events would be dropped, and a request that succeeds sends none.
DSN = "http://public@127.0.0.1:9/1"
GOAL = 1.2
ERROR_GOAL = 0.25


@contextmanager
def ingest_running() -> Iterator[SentryIngest]:
    ingest = SentryIngest()
    server = make_server("127.0.0.1", 0, ingest, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ingest.url = f"http://127.0.0.1:{server.port}"
    try:
        yield ingest
    finally:
        server.shutdown()
        thread.join()


def per_failed_request(call: Callable[[], object], calls: int, rounds: int) -> float:
    """Return the best seconds per failing request; events are flushed between rounds."""
    for _ in range(5):  # warm up: first events import and start what the SDK needs
        call()
    sentry_sdk.flush(timeout=30)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - start) / calls)
        sentry_sdk.flush(timeout=30)
    return best


def stop_sentry() -> None:
    sentry_sdk.get_client().close(timeout=5)
    sentry_sdk.get_global_scope().set_client(None)


def main() -> None:
    args = parse_args(__doc__ or "")
    logging.disable(logging.CRITICAL)
    calls, rounds = (50, 2) if args.smoke else (3000, 7)
    error_calls, error_rounds = (10, 1) if args.smoke else (200, 5)
    plain = wsgi_call(make_app(guarded=False), [])

    guarded = wsgi_call(make_app(guarded=True, SENTRY_DSN=DSN), [])
    assert sentry_sdk.get_client().is_active(), "the guard should have started Sentry"
    results = best_per_call({"plain Flask": plain, "guarded, Sentry on": guarded}, calls, rounds)
    stop_sentry()

    errors: dict[str, float] = {}
    with ingest_running() as ingest:
        crash = wsgi_call(make_app(guarded=True, SENTRY_DSN=ingest.dsn), [], "/crash", "500")
        errors["guard-started Sentry"] = per_failed_request(crash, error_calls, error_rounds)
        stop_sentry()
        sentry_sdk.init(dsn=ingest.dsn)  # the app starts Sentry itself, default integrations
        crash = wsgi_call(make_app(guarded=True), [], "/crash", "500")
        errors["app-started Sentry"] = per_failed_request(crash, error_calls, error_rounds)
        stop_sentry()

        # Sentry sets each integration up once per process and remembers the guard's init
        # left FlaskIntegration out; forget that (benchmark only) so the stock one can run.
        sentry_integrations._processed_integrations.discard(FlaskIntegration.identifier)
        sentry_sdk.init(dsn=DSN, integrations=[FlaskIntegration()])
        assert sentry_sdk.get_client().get_integration(FlaskIntegration) is not None
        results |= best_per_call({"Flask + FlaskIntegration": plain}, calls, rounds)
        stop_sentry()
        sentry_sdk.init(dsn=ingest.dsn, integrations=[FlaskIntegration()])
        crash = wsgi_call(make_app(guarded=False), [], "/crash", "500")
        errors["stock FlaskIntegration"] = per_failed_request(crash, error_calls, error_rounds)
        stop_sentry()

    base = results["plain Flask"]
    for name, seconds in results.items():
        print(f"{name:28} {seconds * 1e6:8.2f} us/request   {seconds / base:5.2f}x plain")
    ratio = results["guarded, Sentry on"] / base
    print(f"guarded with Sentry / plain: {ratio:.2f}x   goal <= {GOAL}x")
    stock = errors["stock FlaskIntegration"]
    for name, seconds in errors.items():
        print(f"500, {name:24} {seconds * 1e6:8.1f} us/request   {seconds / stock:5.2f}x stock")
    print(f"goal for a 500: guard <= {ERROR_GOAL}x stock")


if __name__ == "__main__":
    main()
