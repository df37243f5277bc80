"""One trace id from a client through two guarded services and back, without OpenTelemetry:
in both services' log lines, in the traceparent between them, in both Sentry events."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from flask_guard.testing import SentryIngest
from tests.tracing.services import PARENT_ID, TRACE_ID, TRACEPARENT, two_services

ROOT = Path(__file__).parent.parent.parent


def test_one_trace_id_joins_both_services_logs_headers_and_sentry_events(
    sentry_ingest: SentryIngest,
) -> None:
    with two_services(SENTRY_DSN=sentry_ingest.dsn) as services:
        response = requests.post(
            f"{services.orders_url}/orders/7/pay",
            headers={"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"},
            timeout=10,
        )
        assert response.status_code == 502
        (orders_line,) = services.lines("orders")
        (payments_line,) = services.lines("payments")

    orders_span = orders_line["span_id"]
    # Back to the client: the trace it sent, and the span that answered it.
    assert response.headers["traceresponse"] == f"00-{TRACE_ID}-{orders_span}-01"
    # Both services log under the client's trace, each under a span of its own.
    assert orders_line["trace_id"] == payments_line["trace_id"] == TRACE_ID
    assert orders_span not in (PARENT_ID, payments_line["span_id"])
    assert orders_line["order_id"] == 7
    assert payments_line["card_number"] == "[Filtered]"
    # Payments was called as a child of the orders span, with the tracestate passed on,
    # and Sentry's own header names the same trace.
    (headers,) = services.received
    assert headers["Traceparent"] == f"00-{TRACE_ID}-{orders_span}-01"
    assert headers["Tracestate"] == "congo=t61rcWkgMzE"
    assert headers["Sentry-Trace"].startswith(f"{TRACE_ID}-{orders_span}")
    assert f"sentry-trace_id={TRACE_ID}" in headers["Baggage"]
    # Both Sentry events sit in the trace, parent and child.
    orders_event = sentry_ingest.wait_for(response.headers["X-Error-ID"])
    payments_event = sentry_ingest.wait_for(services.upstream_error_ids[0])
    assert orders_event["contexts"]["trace"] == {
        "trace_id": TRACE_ID,
        "span_id": orders_span,
        "parent_span_id": PARENT_ID,
    }
    assert payments_event["contexts"]["trace"] == {
        "trace_id": TRACE_ID,
        "span_id": payments_line["span_id"],
        "parent_span_id": orders_span,
    }


def test_a_trace_started_by_the_first_service_reaches_the_second(
    sentry_ingest: SentryIngest,
) -> None:
    with two_services(SENTRY_DSN=sentry_ingest.dsn) as services:
        response = requests.post(f"{services.orders_url}/orders/7/pay", timeout=10)
        (orders_line,) = services.lines("orders")
        (payments_line,) = services.lines("payments")
    trace_id = orders_line["trace_id"]
    assert payments_line["trace_id"] == trace_id
    assert services.received[0]["Traceparent"] == f"00-{trace_id}-{orders_line['span_id']}-01"
    assert "traceresponse" not in response.headers  # the client took no part in a trace
    event = sentry_ingest.wait_for(response.headers["X-Error-ID"])
    assert event["contexts"]["trace"]["trace_id"] == trace_id


# Sentry sets its integrations up once per process: FlaskIntegration, which Sentry
# performance needs, cannot start after a client without it ran, so this runs on its own.
PERFORMANCE_ON = """
import sys

sys.path.insert(0, {root!r})

import requests

from tests.conftest import sentry_ingest
from tests.tracing.services import two_services


def test_performance_on(sentry_ingest):
    config = {{"SENTRY_DSN": sentry_ingest.dsn, "GUARD_SENTRY_TRACES_SAMPLE_RATE": 1.0}}
    with two_services(**config) as services:
        response = requests.post(f"{{services.orders_url}}/orders/7/pay", timeout=10)
        (orders_line,) = services.lines("orders")
        (payments_line,) = services.lines("payments")
    trace_id, orders_span = orders_line["trace_id"], orders_line["span_id"]
    assert payments_line["trace_id"] == trace_id
    (headers,) = services.received
    assert headers["Traceparent"] == f"00-{{trace_id}}-{{orders_span}}-01"
    assert headers["Sentry-Trace"].startswith(f"{{trace_id}}-")
    assert f"sentry-trace_id={{trace_id}}" in headers["Baggage"]
    for error_id in (response.headers["X-Error-ID"], services.upstream_error_ids[0]):
        event = sentry_ingest.wait_for(error_id)
        assert event["contexts"]["trace"]["trace_id"] == trace_id
"""


def test_with_sentry_performance_on_its_transaction_is_the_span_every_header_names(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_performance_on=PERFORMANCE_ON.format(root=str(ROOT)))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)
