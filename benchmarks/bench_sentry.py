"""Cost of Sentry on requests that succeed: a guarded app with Sentry on vs plain Flask,
next to Flask with the stock FlaskIntegration, in one process and one run.

Run: ``python benchmarks/bench_sentry.py`` (``--smoke`` to check it runs).
Goal: guarded app with Sentry on (tracing off) / plain Flask <= 1.2.

The stock integration is measured last: once set up it patches ``Flask.__call__`` for every
app in the process.
"""

from __future__ import annotations

import logging

import sentry_sdk
import sentry_sdk.integrations as sentry_integrations
from bench_requests import make_app, wsgi_call
from sentry_sdk.integrations.flask import FlaskIntegration

from _timing import best_per_call, parse_args

# Nothing listens here: events would be dropped, and a request that succeeds sends none.
DSN = "http://public@127.0.0.1:9/1"
GOAL = 1.2


def main() -> None:
    args = parse_args(__doc__ or "")
    logging.disable(logging.WARNING)
    calls, rounds = (50, 2) if args.smoke else (3000, 7)
    plain = wsgi_call(make_app(guarded=False), [])

    guarded = wsgi_call(make_app(guarded=True, SENTRY_DSN=DSN), [])
    assert sentry_sdk.get_client().is_active(), "the guard should have started Sentry"
    results = best_per_call({"plain Flask": plain, "guarded, Sentry on": guarded}, calls, rounds)
    sentry_sdk.get_client().close(timeout=0)
    sentry_sdk.get_global_scope().set_client(None)

    # Sentry sets each integration up once per process and remembers the guard's init left
    # FlaskIntegration out; forget that (benchmark only) so the stock integration can run.
    sentry_integrations._processed_integrations.discard(FlaskIntegration.identifier)
    sentry_sdk.init(dsn=DSN, integrations=[FlaskIntegration()])
    assert sentry_sdk.get_client().get_integration(FlaskIntegration) is not None
    results |= best_per_call({"Flask + FlaskIntegration": plain}, calls, rounds)
    sentry_sdk.get_client().close(timeout=0)

    base = results["plain Flask"]
    for name, seconds in results.items():
        print(f"{name:28} {seconds * 1e6:8.2f} us/request   {seconds / base:5.2f}x plain")
    ratio = results["guarded, Sentry on"] / base
    print(f"guarded with Sentry / plain: {ratio:.2f}x   goal <= {GOAL}x")


if __name__ == "__main__":
    main()
