"""With OpenTelemetry's Flask and requests instrumentations: the guard uses the active span's
ids, records errors and breakers on it, never starts a span, and counts through OTel."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest
import urllib3
from flask import Flask, g
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id

from flask_guard import ApiError, FlaskGuard, current_trace_id
from flask_guard.testing import SentryIngest
from tests.conftest import make_app
from tests.tracing.conftest import Otel
from tests.tracing.services import PARENT_ID, TRACE_ID, TRACEPARENT, two_services


@pytest.fixture
def instrumented(otel: Otel) -> Iterator[list[Flask]]:
    """Apps the test appends are instrumented with OpenTelemetry's Flask instrumentation
    when first served; uninstrumented afterwards."""
    apps: list[Flask] = []
    yield apps
    for app in apps:
        FlaskInstrumentor().uninstrument_app(app)  # type: ignore[no-untyped-call]


def instrument(app: Flask, otel: Otel) -> Flask:
    FlaskInstrumentor().instrument_app(  # type: ignore[no-untyped-call]
        app, tracer_provider=otel.tracer_provider
    )
    return app


def otel_app(otel: Otel, apps: list[Flask]) -> tuple[Flask, FlaskGuard]:
    """Return an app instrumented, then guarded, as the docs say."""
    app = make_app()
    apps.append(instrument(app, otel))
    guard = FlaskGuard(app)

    @app.get("/ids")
    def ids() -> dict[str, object]:
        return {"trace_id": current_trace_id(), "g": g.trace_id, "span_id": g.span_id}

    @app.get("/missing")
    def missing() -> NoReturn:
        raise ApiError.not_found("Order")

    @app.get("/unavailable")
    def unavailable() -> NoReturn:
        raise ApiError.service_unavailable(retry_after=5)

    @app.get("/flaky")
    @guard.breaker(f"flaky-{id(app)}", failure_threshold=1, recovery_timeout=60)
    def flaky() -> NoReturn:
        raise ConnectionError("the upstream hung up")

    return app, guard


def server_spans(otel: Otel) -> list[ReadableSpan]:
    return [s for s in otel.spans() if s.kind is SpanKind.SERVER]


def attrs(item: ReadableSpan | Event) -> dict[str, Any]:
    return dict(item.attributes or {})


def parent_id(span: ReadableSpan) -> str:
    assert span.parent is not None
    return format_span_id(span.parent.span_id)


def test_the_guard_uses_the_active_spans_ids(otel: Otel, instrumented: list[Flask]) -> None:
    app, _ = otel_app(otel, instrumented)
    response = app.test_client().get("/ids", headers={"traceparent": TRACEPARENT})
    body = response.get_json()
    (span,) = server_spans(otel)
    assert body["trace_id"] == body["g"] == TRACE_ID == format_trace_id(span.context.trace_id)
    assert body["span_id"] == format_span_id(span.context.span_id)
    assert response.headers["traceresponse"] == f"00-{TRACE_ID}-{body['span_id']}-01"


def test_the_server_span_gets_the_response_status(otel: Otel, instrumented: list[Flask]) -> None:
    app, _ = otel_app(otel, instrumented)
    app.test_client().get("/missing")
    (span,) = server_spans(otel)
    assert attrs(span)["http.status_code"] == 404


def test_instrumenting_after_the_guard_is_warned_about(
    otel: Otel, instrumented: list[Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    FlaskGuard(app)
    instrumented.append(instrument(app, otel))
    client = app.test_client()
    client.get("/nowhere")
    client.get("/nowhere")
    (warning,) = [r for r in caplog.records if r.name == "flask_guard.tracing.otel"]
    assert "Instrument the app before FlaskGuard" in warning.getMessage()


def test_the_guard_starts_no_span_of_its_own(otel: Otel, instrumented: list[Flask]) -> None:
    app, _ = otel_app(otel, instrumented)
    app.test_client().get("/missing")
    assert len(otel.spans()) == 1


def test_a_5xx_is_recorded_on_the_server_span_with_its_ids(
    otel: Otel, instrumented: list[Flask]
) -> None:
    app, _ = otel_app(otel, instrumented)
    response = app.test_client().get("/flaky")
    assert response.status_code == 500
    (span,) = server_spans(otel)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["flask_guard.error_id"] == response.headers["X-Error-ID"]
    assert attrs(span)["flask_guard.request_id"] == response.headers["X-Request-ID"]
    assert attrs(span)["flask_guard.error_code"] == "INTERNAL_SERVER_ERROR"
    (exception,) = [e for e in span.events if e.name == "exception"]  # recorded once
    assert attrs(exception)["exception.type"] == "ConnectionError"


def test_a_5xx_the_guard_answers_itself_is_recorded_as_an_exception_with_its_ids(
    otel: Otel, instrumented: list[Flask]
) -> None:
    app, _ = otel_app(otel, instrumented)
    response = app.test_client().get("/unavailable")
    assert response.status_code == 503
    (span,) = server_spans(otel)
    assert span.status.status_code is StatusCode.ERROR
    (exception,) = [e for e in span.events if e.name == "exception"]
    assert attrs(exception)["exception.type"].endswith("ApiError")
    assert attrs(exception)["flask_guard.error_id"] == response.headers["X-Error-ID"]
    assert attrs(exception)["flask_guard.request_id"] == response.headers["X-Request-ID"]
    assert attrs(exception)["flask_guard.error_code"] == "SERVICE_UNAVAILABLE"


def test_a_4xx_marks_the_span_but_is_no_server_error(
    otel: Otel, instrumented: list[Flask]
) -> None:
    app, _ = otel_app(otel, instrumented)
    response = app.test_client().get("/missing")
    (span,) = server_spans(otel)
    assert attrs(span)["flask_guard.error_code"] == "NOT_FOUND"
    assert attrs(span)["flask_guard.error_id"] == response.headers["X-Error-ID"]
    assert span.status.status_code is StatusCode.UNSET
    assert not [e for e in span.events if e.name == "exception"]


def test_breaker_transitions_and_rejections_are_span_events_and_counted(
    otel: Otel, instrumented: list[Flask]
) -> None:
    app, _ = otel_app(otel, instrumented)
    name = f"flaky-{id(app)}"
    client = app.test_client()
    assert client.get("/flaky").status_code == 500  # opens the breaker
    assert client.get("/flaky").status_code == 503  # rejected
    opened, rejected = server_spans(otel)
    (transition,) = [e for e in opened.events if e.name == "flask_guard.breaker.state_changed"]
    assert attrs(transition)["flask_guard.breaker.name"] == name
    assert attrs(transition)["flask_guard.breaker.from"] == "closed"
    assert attrs(transition)["flask_guard.breaker.state"] == "open"
    (rejection,) = [e for e in rejected.events if e.name == "flask_guard.breaker.rejected"]
    assert attrs(rejection)["flask_guard.breaker.name"] == name
    assert (
        {"flask_guard.breaker.name": name, "flask_guard.breaker.state": "open"},
        1,
    ) in otel.points("flask_guard.breaker.transitions")
    assert (
        {"flask_guard.breaker.name": name, "flask_guard.breaker.state": "open"},
        1,
    ) in otel.points("flask_guard.breaker.rejections")


def count(otel: Otel, name: str, attributes: dict[str, object]) -> float:
    return sum(value for found, value in otel.points(name) if found == attributes)


def test_errors_are_counted_through_the_otel_metrics_api(
    otel: Otel, instrumented: list[Flask]
) -> None:
    not_found = {"error.type": "NOT_FOUND", "http.response.status_code": 404}
    before = count(otel, "flask_guard.errors", not_found)
    app, _ = otel_app(otel, instrumented)
    app.test_client().get("/missing")
    assert count(otel, "flask_guard.errors", not_found) == before + 1


def test_requests_are_timed_through_the_otel_metrics_api_when_nothing_else_times_them(
    otel: Otel,
) -> None:
    timed = {"http.request.method": "GET", "http.response.status_code": 404}
    before = count(otel, "flask_guard.request.duration", timed)
    app = make_app()
    FlaskGuard(app)
    app.test_client().get("/nowhere")
    assert count(otel, "flask_guard.request.duration", timed) == before + 1


def test_a_request_the_flask_instrumentation_times_is_not_timed_twice(
    otel: Otel, instrumented: list[Flask]
) -> None:
    timed = {"http.request.method": "GET", "http.response.status_code": 404}
    before = count(otel, "flask_guard.request.duration", timed)
    app, _ = otel_app(otel, instrumented)
    app.test_client().get("/missing")
    assert count(otel, "flask_guard.request.duration", timed) == before


def test_two_instrumented_services_share_one_trace_in_spans_logs_and_sentry(
    otel: Otel,
    instrumented: list[Flask],
    instrumented_requests: None,
    sentry_ingest: SentryIngest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)

    def prepare(app: Flask) -> None:
        instrumented.append(instrument(app, otel))

    with two_services(prepare, SENTRY_DSN=sentry_ingest.dsn) as services:
        # The client is not instrumented: urllib3 alone, sending the trace it belongs to.
        response = urllib3.request(
            "POST", f"{services.orders_url}/orders/7/pay", headers={"traceparent": TRACEPARENT}
        )
        assert response.status == 502
        (orders_line,) = services.lines("orders")
        (payments_line,) = services.lines("payments")

    spans = otel.spans()
    assert {format_trace_id(s.context.trace_id) for s in spans} == {TRACE_ID}
    by_kind = {kind: [s for s in spans if s.kind is kind] for kind in SpanKind}
    orders_span, payments_span = sorted(by_kind[SpanKind.SERVER], key=lambda s: s.start_time or 0)
    (call_span,) = by_kind[SpanKind.CLIENT]  # the requests instrumentation's, none of ours
    assert parent_id(orders_span) == PARENT_ID
    assert parent_id(call_span) == format_span_id(orders_span.context.span_id)
    assert parent_id(payments_span) == format_span_id(call_span.context.span_id)
    # Each service's log line names its own server span.
    assert orders_line["trace_id"] == payments_line["trace_id"] == TRACE_ID
    assert orders_line["span_id"] == format_span_id(orders_span.context.span_id)
    assert payments_line["span_id"] == format_span_id(payments_span.context.span_id)
    # Payments received the client span's traceparent, and Sentry's header agrees.
    (headers,) = services.received
    call_id = format_span_id(call_span.context.span_id)
    assert headers["Traceparent"] == f"00-{TRACE_ID}-{call_id}-01"
    assert headers["Sentry-Trace"].startswith(f"{TRACE_ID}-{call_id}")
    # Both errors are on their server spans and in Sentry, under the same trace.
    for span, error_id in (
        (orders_span, response.headers["X-Error-ID"]),
        (payments_span, services.upstream_error_ids[0]),
    ):
        assert span.status.status_code is StatusCode.ERROR
        assert attrs(span)["flask_guard.error_id"] == error_id
        event = sentry_ingest.wait_for(error_id)
        assert event["contexts"]["trace"]["trace_id"] == TRACE_ID
        assert event["contexts"]["trace"]["span_id"] == format_span_id(span.context.span_id)
