"""Cost of the guard in an app traced by OpenTelemetry's Flask instrumentation, against the
instrumented app alone, through the WSGI interface; and the cost of continuing a client's
``traceparent`` without OpenTelemetry, against a guarded request without one.

Run: ``python benchmarks/bench_tracing.py`` (``--smoke`` to check it runs).
Goal: guard + instrumentation / instrumentation alone <= 1.05 on the happy path.
"""

from __future__ import annotations

from bench_requests import make_app, wsgi_call
from flask import Flask
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from _timing import best_per_call, parse_args
from flask_guard import FlaskGuard

GOAL = 1.05
TRACEPARENT = [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]


def main() -> None:
    args = parse_args(__doc__ or "")
    calls, rounds = (50, 2) if args.smoke else (2000, 15)
    # Spans are recorded and metrics aggregated, as in production; nothing is exported.
    tracer_provider = TracerProvider()
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))

    def instrumented(guarded: bool) -> Flask:
        # Instrumented first, then guarded, as docs/tracing.rst says.
        app = make_app(False)
        instrumentor = FlaskInstrumentor()
        instrumentor.instrument_app(app, tracer_provider=tracer_provider)  # type: ignore[no-untyped-call]
        if guarded:
            FlaskGuard(app)
        return app

    subjects = {
        "instrumented Flask": wsgi_call(instrumented(False), []),
        "instrumented + guard": wsgi_call(instrumented(True), []),
        "instrumented + guard, traceparent": wsgi_call(instrumented(True), TRACEPARENT),
        "instrumented Flask, traceparent": wsgi_call(instrumented(False), TRACEPARENT),
    }
    best = best_per_call(subjects, calls, rounds)
    alone = best["instrumented Flask"]
    for name, seconds in best.items():
        print(f"{name:36} {seconds * 1e6:8.2f} us/request   {seconds / alone:5.2f}x alone")
    worst = max(
        best["instrumented + guard"] / alone,
        best["instrumented + guard, traceparent"] / best["instrumented Flask, traceparent"],
    )
    print(f"guard + instrumentation / instrumentation alone: {worst:.2f}x   goal <= {GOAL}x")


if __name__ == "__main__":
    main()
