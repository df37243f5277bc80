"""The demo app behaves as the README walkthrough says, served on a real loopback port."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from sample_app import ORDERS, create_app, guard
from sample_app.upstream import _chaos

from .conftest import error_of, serving


@pytest.fixture
def demo() -> Iterator[Flask]:
    app = create_app(GUARD_HTTP_RETRIES=0, GUARD_HTTP_TIMEOUT=(1.0, 0.3))
    yield app
    _chaos.update(failure_rate=0.0, latency=0.0)
    ORDERS[1]["status"] = "pending"
    for breaker in guard.breakers.built():  # one guard for every app the tests create
        breaker.reset()


@pytest.fixture
def client(demo: Flask) -> FlaskClient:
    return demo.test_client()


@pytest.fixture
def base_url(demo: Flask) -> Iterator[str]:
    with serving(demo) as url:
        yield url


def chaos(base_url: str, **settings: float) -> None:
    requests.post(f"{base_url}/_upstream/chaos", json=settings, timeout=5).raise_for_status()


def pay(base_url: str, **headers: str) -> requests.Response:
    return requests.post(f"{base_url}/orders/1/pay", headers=headers, timeout=10)


def envelope(response: requests.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert error["id"] == response.headers["X-Error-ID"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    return error


def test_existing_order(client: FlaskClient) -> None:
    response = client.get("/orders/1", headers={"X-Request-ID": "demo-1"})
    assert response.get_json()["item"] == "coffee beans"
    assert response.headers["X-Request-ID"] == "demo-1"


def test_missing_order_is_a_404_envelope(client: FlaskClient) -> None:
    assert error_of(client.get("/orders/999"))["message"] == "Order not found"


def test_invalid_order_lists_every_problem(client: FlaskClient) -> None:
    error = error_of(client.post("/orders", json={"item": "", "quantity": 0}))
    assert error["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in error["details"]] == ["item", "quantity"]  # type: ignore[attr-defined]


def test_valid_order_is_created(client: FlaskClient) -> None:
    response = client.post("/orders", json={"item": "filters", "quantity": 3})
    assert response.status_code == 201
    assert client.get(f"/orders/{response.get_json()['id']}").status_code == 200


def test_crash_hides_the_secret(client: FlaskClient) -> None:
    response = client.get("/_demo/crash")
    assert error_of(response)["status"] == 500
    assert "hunter2" not in response.get_data(as_text=True)


def test_payment_carries_the_request_id_upstream_and_marks_the_order_paid(base_url: str) -> None:
    assert requests.get(f"{base_url}/orders/1", timeout=5).json()["status"] == "pending"
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    response = pay(base_url, **{"X-Request-ID": "walk-1", "traceparent": traceparent})
    assert response.status_code == 200
    assert response.json()["payment"] == {
        "order_id": 1,
        "charged": True,
        "request_id": "walk-1",
        "trace_id": trace_id,
    }
    assert response.headers["traceresponse"].startswith(f"00-{trace_id}-")
    assert response.json()["order"]["status"] == "paid"


def test_failing_payments_open_the_breaker_and_health_says_so(base_url: str) -> None:
    chaos(base_url, failure_rate=1)
    failures = [envelope(pay(base_url)) for _ in range(3)]
    assert {(e["status"], e["code"]) for e in failures} == {(502, "BAD_GATEWAY")}
    rejected = pay(base_url)
    assert (rejected.status_code, rejected.headers["Retry-After"]) == (503, "10")
    assert envelope(rejected)["code"] == "SERVICE_UNAVAILABLE"
    health = requests.get(f"{base_url}/health", timeout=5)
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "level": "minimal"}


def test_slow_payments_time_out_as_504(base_url: str) -> None:
    chaos(base_url, latency=1)
    assert envelope(pay(base_url))["code"] == "UPSTREAM_TIMEOUT"


def test_chaos_settings_are_checked(client: FlaskClient) -> None:
    error = error_of(client.post("/_upstream/chaos", json={"failure_rate": 2, "latency": -1}))
    assert [d["field"] for d in error["details"]] == ["failure_rate", "latency"]  # type: ignore[attr-defined]


def test_cli_lists_the_payments_breaker(demo: Flask) -> None:
    result = demo.test_cli_runner().invoke(args=["guard", "status"])
    assert "payments" in result.output


def test_json_logs_show_the_demo_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    saved = [(h, h.formatter, list(h.filters)) for h in root.handlers]
    root.addHandler(handler)
    try:
        monkeypatch.setenv("FLASK_GUARD_LOG_JSON", "true")
        app = create_app()
        response = app.test_client().post("/orders", json={"item": "filters", "quantity": 1})
    finally:
        root.removeHandler(handler)
        for existing, formatter, filters in saved:
            existing.setFormatter(formatter)
            existing.filters = filters
        for logger in (app.logger, logging.getLogger("flask_guard")):
            logger.setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    created = [line for line in lines if line["logger"] == "sample_app"]
    assert created[0]["message"] == f"Created order {response.get_json()['id']}"
    assert created[0]["request_id"] == response.headers["X-Request-ID"]


def test_recommendations_degrade_visibly_then_switch_off_and_heal(base_url: str) -> None:
    def recommendations() -> requests.Response:
        return requests.get(f"{base_url}/orders/1/recommendations", timeout=5)

    healthy = recommendations()
    assert healthy.json()["items"] == ["burr grinder", "paper filters"]
    assert "X-Degraded" not in healthy.headers
    chaos(base_url, failure_rate=1)
    stale = [recommendations() for _ in range(3)]  # the third failure opens the breaker
    assert [r.json() for r in stale] == [healthy.json()] * 3
    assert {r.headers["X-Degraded"] for r in stale} == {"recommendations=stale"}
    off = recommendations()
    assert off.json() == {"order_id": 1, "items": []}
    assert off.headers["X-Degraded"] == "recommendations=off"
    health = requests.get(f"{base_url}/health", timeout=5).json()
    assert health == {"status": "degraded", "level": "degraded"}
    chaos(base_url, failure_rate=0)
    guard.breakers["recommendations"].force_close()  # as the recovery timeout would
    assert "X-Degraded" not in recommendations().headers
    assert requests.get(f"{base_url}/health", timeout=5).json() == {
        "status": "ok",
        "level": "full",
    }
