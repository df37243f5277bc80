"""The trace of a request without OpenTelemetry: continued, started, logged, answered."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from flask import Flask, Response, g, request

from flask_guard import FlaskGuard, RequestIdFilter, current_trace_id
from flask_guard.logs import JsonFormatter
from flask_guard.tracing import current_span_id
from flask_guard.tracing.context import ENVIRON_KEY
from tests.conftest import make_app

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
HEX32 = re.compile(r"[0-9a-f]{32}")
HEX16 = re.compile(r"[0-9a-f]{16}")


def traced_app(**config: object) -> Flask:
    app = make_app(**config)
    FlaskGuard(app)

    @app.get("/ids")
    def ids() -> dict[str, object]:
        return {"trace_id": g.trace_id, "span_id": g.span_id, "current": current_trace_id()}

    @app.get("/untouched")
    def untouched() -> dict[str, object]:
        return {"made": ENVIRON_KEY in request.environ}

    @app.get("/log")
    def log() -> str:
        logging.getLogger("tests.tracing").warning("inside", extra={"order": 7})
        return "ok"

    return app


def test_a_valid_traceparent_is_continued_under_a_new_span_id() -> None:
    client = traced_app().test_client()
    body = client.get("/ids", headers={"traceparent": TRACEPARENT}).get_json()
    assert body["trace_id"] == body["current"] == TRACE_ID
    assert HEX16.fullmatch(body["span_id"])
    assert body["span_id"] != PARENT_ID


@pytest.mark.parametrize(
    "value",
    [
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",
        f"00-{'0' * 32}-{PARENT_ID}-01",
        "00-not-a-trace-at-all",
        "x" * 5000,
        f"ff-{TRACE_ID}-{PARENT_ID}-01",
    ],
)
def test_a_bad_traceparent_is_ignored_and_a_trace_started(value: str) -> None:
    client = traced_app().test_client()
    response = client.get("/ids", headers={"traceparent": value, "tracestate": "a=b"})
    assert response.status_code == 200
    body = response.get_json()
    assert HEX32.fullmatch(body["trace_id"])
    assert body["trace_id"] != TRACE_ID
    # The caller learns which trace the answer belongs to, and that it was restarted.
    assert response.headers["traceresponse"] == f"00-{body['trace_id']}-{body['span_id']}-01"


def test_without_traceparent_a_trace_is_started_for_each_request() -> None:
    client = traced_app().test_client()
    first = client.get("/ids").get_json()
    second = client.get("/ids").get_json()
    assert HEX32.fullmatch(first["trace_id"])
    assert first["trace_id"] != second["trace_id"]


def test_a_request_that_never_asks_for_its_trace_makes_none() -> None:
    client = traced_app().test_client()
    response = client.get("/untouched")
    assert response.get_json() == {"made": False}
    assert "traceresponse" not in response.headers


def test_the_traceresponse_names_the_continued_trace_and_the_span_that_answered() -> None:
    client = traced_app().test_client()
    response = client.get("/ids", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"})
    body = response.get_json()
    assert response.headers["traceresponse"] == f"00-{TRACE_ID}-{body['span_id']}-00"


def test_an_error_response_carries_the_traceresponse_too() -> None:
    client = traced_app().test_client()
    response = client.get("/nowhere", headers={"traceparent": TRACEPARENT})
    assert response.status_code == 404
    assert response.headers["traceresponse"].startswith(f"00-{TRACE_ID}-")


def test_an_app_that_trusts_no_incoming_id_starts_its_own_trace() -> None:
    client = traced_app(GUARD_TRUST_REQUEST_ID=False).test_client()
    body = client.get("/ids", headers={"traceparent": TRACEPARENT}).get_json()
    assert HEX32.fullmatch(body["trace_id"])
    assert body["trace_id"] != TRACE_ID


def test_outside_a_request_there_is_no_trace() -> None:
    assert current_trace_id() is None
    assert current_span_id() is None


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Two handlers on the test's logger: one text with the ids, one JSON."""
    logger = logging.getLogger("tests.tracing")
    text, lines = io.StringIO(), io.StringIO()
    text_handler = logging.StreamHandler(text)
    text_handler.setFormatter(logging.Formatter("%(trace_id)s %(span_id)s %(message)s"))
    json_handler = logging.StreamHandler(lines)
    json_handler.setFormatter(JsonFormatter())
    for handler in (text_handler, json_handler):
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
    yield text, lines
    for handler in (text_handler, json_handler):
        logger.removeHandler(handler)


def test_log_lines_of_a_request_carry_its_trace_and_span_ids(
    captured: tuple[io.StringIO, io.StringIO],
) -> None:
    text, lines = captured
    app = traced_app()
    response = app.test_client().get("/log", headers={"traceparent": TRACEPARENT})
    span_id = response.headers["traceresponse"].split("-")[2]
    assert text.getvalue() == f"{TRACE_ID} {span_id} inside\n"
    entry = json.loads(lines.getvalue())
    assert entry["trace_id"] == TRACE_ID
    assert entry["span_id"] == span_id
    assert entry["request_id"] == response.headers["X-Request-ID"]
    assert entry["order"] == 7


def test_log_lines_outside_a_request_have_dashes(
    captured: tuple[io.StringIO, io.StringIO],
) -> None:
    text, lines = captured
    logging.getLogger("tests.tracing").warning("outside")
    assert text.getvalue() == "- - outside\n"
    assert json.loads(lines.getvalue())["trace_id"] == "-"


def test_a_cors_response_exposes_the_traceresponse_to_the_browser() -> None:
    app = traced_app()

    @app.after_request
    def cors(response: Response) -> Response:
        response.headers["Access-Control-Allow-Origin"] = "https://shop.example"
        return response

    client = app.test_client()
    traced = client.get("/ids", headers={"traceparent": TRACEPARENT})
    exposed = traced.headers["Access-Control-Expose-Headers"].split(", ")
    assert exposed == ["X-Request-ID", "X-Error-ID", "traceresponse"]
    untraced = client.get("/ids")
    assert untraced.headers["Access-Control-Expose-Headers"] == "X-Request-ID, X-Error-ID"
