"""Health endpoint, JSON logs and Prometheus metrics."""

from __future__ import annotations

import io
import json
import logging
import sys
from typing import NoReturn

import pytest
from flask import Flask

from flask_guard import FlaskGuard, GuardConfigError, retry_with_backoff

from ..conftest import FakeClock, error_of, make_app
from ..conftest import ops_app as guarded_ops_app

TOKEN = "operator-secret-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def ops_app(**config: object) -> tuple[Flask, FlaskGuard]:
    return guarded_ops_app(**{"GUARD_HEALTH_TOKEN": TOKEN, **config})


def test_health_is_ok_when_every_breaker_is_closed() -> None:
    app, _ = ops_app()
    response = app.test_client().get("/health", headers=BEARER)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {
        "status": "ok",
        "breakers": {
            "inventory": {"state": "closed", "failures": 0, "retry_after": 0},
            "payments": {"state": "closed", "failures": 0, "retry_after": 0},
        },
        "storage": {"backend": "memory", "healthy": True},
    }


def test_a_503_health_report_is_a_status_not_an_error_to_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, _ = ops_app(GUARD_HEALTH_CRITICAL_BREAKERS=["payments"])
    client = app.test_client()
    client.get("/pay")
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        polls = [client.get("/health") for _ in range(3)]
    assert [poll.status_code for poll in polls] == [503, 503, 503]
    assert all("X-Error-ID" not in poll.headers for poll in polls)
    assert all("X-Request-ID" in poll.headers for poll in polls)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("flask_guard")] == []


def test_open_breaker_makes_health_degraded_but_200() -> None:
    app, _ = ops_app()
    client = app.test_client()
    client.get("/pay")
    response = client.get("/health", headers=BEARER)
    assert response.status_code == 200
    document = response.get_json()
    assert document["status"] == "degraded"
    assert document["breakers"]["payments"]["state"] == "open"
    assert document["breakers"]["payments"]["retry_after"] == pytest.approx(60, abs=1)


def test_breaker_due_for_a_trial_is_not_reported_open() -> None:
    clock = FakeClock()
    app = make_app(GUARD_HEALTH_CRITICAL_BREAKERS=["payments"], GUARD_HEALTH_TOKEN=TOKEN)
    guard = FlaskGuard(app)

    @app.get("/pay")
    @guard.breaker("payments", failure_threshold=1, recovery_timeout=60, clock=clock)
    def pay() -> NoReturn:
        raise ConnectionError("payments down")

    client = app.test_client()
    client.get("/pay")
    assert client.get("/health").status_code == 503
    clock.advance(60)  # due: a load balancer must send the call that probes it
    response = client.get("/health", headers=BEARER)
    assert response.status_code == 200
    assert response.get_json()["breakers"]["payments"]["state"] == "half_open"


def test_open_critical_breaker_makes_health_503() -> None:
    app, _ = ops_app(GUARD_HEALTH_CRITICAL_BREAKERS=["payments"])
    client = app.test_client()
    client.get("/pay")
    response = client.get("/health", headers=BEARER)
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    assert response.get_json()["critical_open"] == ["payments"]


def test_health_can_be_turned_off() -> None:
    app, _ = ops_app(GUARD_HEALTH_PATH=None)
    assert error_of(app.test_client().get("/health"))["status"] == 404


def test_json_logs_carry_request_and_error_ids(root_stream: io.StringIO) -> None:
    app, _ = ops_app(GUARD_LOG_JSON=True)
    response = app.test_client().get("/pay", headers={"X-Request-ID": "json-1"})
    (line,) = [
        json.loads(text) for text in root_stream.getvalue().splitlines() if "error_id" in text
    ]
    assert line["level"] == "ERROR"
    assert line["logger"] == app.logger.name  # Flask's own "Exception on ..." line
    assert line["request_id"] == "json-1"
    assert line["error_id"] == response.headers["X-Error-ID"]
    assert "ConnectionError: payments down" in line["exception"]
    assert set(line) == {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "trace_id",
        "span_id",
        "error_id",
        "exception",
    }


def test_json_logs_outside_requests(root_stream: io.StringIO) -> None:
    ops_app(GUARD_LOG_JSON=True)
    logging.getLogger("tests.ops").warning("hello %s", "there")
    (line,) = [json.loads(text) for text in root_stream.getvalue().splitlines()]
    assert (line["message"], line["request_id"], line["level"]) == ("hello there", "-", "WARNING")


def test_prometheus_metrics() -> None:
    app, _ = ops_app(GUARD_METRICS_PATH="/metrics")

    @retry_with_backoff(max_attempts=2, base_delay=0, budget=None)
    def flaky() -> None:
        raise TimeoutError("slow")

    @app.get("/flaky")
    def call_flaky() -> NoReturn:
        flaky()
        raise AssertionError("unreachable")

    client = app.test_client()
    client.get("/pay")
    client.get("/pay")
    client.get("/flaky")
    text = client.get("/metrics", headers=BEARER).get_data(as_text=True)
    assert 'flask_guard_breaker_state{breaker="payments"} 2.0' in text
    assert 'flask_guard_breaker_failures_total{breaker="payments"} 1.0' in text
    assert 'flask_guard_breaker_rejections_total{breaker="payments"} 1.0' in text
    assert 'flask_guard_error_responses_total{code="SERVICE_UNAVAILABLE",status="503"}' in text
    assert (
        'flask_guard_retries_total{function="test_prometheus_metrics.<locals>.flaky"} 1.0' in text
    )


def test_metrics_without_the_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(GuardConfigError, match=r"pip install 'flask-api-guard\[prometheus\]'"):
        FlaskGuard(make_app(GUARD_METRICS_PATH="/metrics"))


@pytest.mark.parametrize(
    ("key", "value"), [("GUARD_HEALTH_PATH", "health"), ("GUARD_LOG_JSON", "yes")]
)
def test_invalid_operations_config(key: str, value: object) -> None:
    with pytest.raises(GuardConfigError, match=f"^{key} must be"):
        FlaskGuard(make_app(**{key: value}))
