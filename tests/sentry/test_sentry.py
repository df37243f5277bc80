"""Sentry through the real SDK transport and a local ingest: ids, tags, context, privacy."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any, NoReturn

import pytest
import sentry_sdk
from flask import Flask

from flask_guard import ApiError, CircuitState, FlaskGuard, GuardConfigError, retry_with_backoff
from flask_guard.config.keys import SentrySettings
from flask_guard.sentry.setup import start_sentry
from flask_guard.testing import SentryIngest

from ..conftest import error_of, make_app


class PaymentsDown(Exception):
    pass


def guarded_app(ingest: SentryIngest, **config: object) -> tuple[Flask, FlaskGuard]:
    app = make_app(SENTRY_DSN=ingest.dsn, **config)
    guard = FlaskGuard(app)

    @app.get("/charge/<int:order_id>")
    def charge(order_id: int) -> NoReturn:
        raise RuntimeError(f"card 4111 1111 1111 {order_id} declined")

    @app.get("/missing")
    def missing() -> NoReturn:
        raise ApiError.not_found("Order")

    @app.get("/maintenance")
    def maintenance() -> NoReturn:
        raise ApiError.service_unavailable(retry_after=30)

    return app, guard


def captured(ingest: SentryIngest, response: Any) -> dict[str, Any]:
    error_id = error_of(response)["id"]
    assert isinstance(error_id, str)
    sentry_sdk.flush(timeout=5)
    return ingest.wait_for(error_id)


def test_error_id_is_the_sentry_event_id(sentry_ingest: SentryIngest) -> None:
    app, _ = guarded_app(sentry_ingest)
    response = app.test_client().get("/charge/7?page=2", headers={"X-Request-ID": "req-42"})
    event = captured(sentry_ingest, response)
    assert event["event_id"] == response.headers["X-Error-ID"]
    assert event["level"] == "error"
    assert event["transaction"] == "/charge/<int:order_id>"
    assert event["tags"] == {
        "request_id": "req-42",
        "error_code": "INTERNAL_SERVER_ERROR",
        "http.status": "500",
        "http.method": "GET",
    }
    assert event["request"]["url"] == "http://localhost/charge/7"
    assert event["request"]["query_string"] == "page=2"
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"


def test_each_error_is_captured_exactly_once(sentry_ingest: SentryIngest) -> None:
    app, _ = guarded_app(sentry_ingest)
    client = app.test_client()
    ids = {error_of(client.get(f"/charge/{n}"))["id"] for n in range(3)}
    sentry_sdk.flush(timeout=5)
    for error_id in ids:
        sentry_ingest.wait_for(str(error_id))
    assert set(sentry_ingest.events) == ids  # the ERROR log lines did not become events


STOCK_INTEGRATION_APP = """
import sys
import sentry_sdk
from flask import Flask
from sentry_sdk.integrations.flask import FlaskIntegration
from flask_guard import FlaskGuard

sentry_sdk.init(dsn=sys.argv[1], integrations=[FlaskIntegration()])
client = sentry_sdk.get_client()
assert client.get_integration(FlaskIntegration) is not None
app = Flask("stock")
app.config["PROPAGATE_EXCEPTIONS"] = False
FlaskGuard(app)

@app.get("/boom")
def boom():
    raise RuntimeError("boom")

response = app.test_client().get("/boom")
assert sentry_sdk.get_client() is client, "the guard must not start a second client"
sentry_sdk.flush(timeout=5)
print(response.headers["X-Error-ID"])
"""


def test_no_duplicates_next_to_the_stock_flask_integration(sentry_ingest: SentryIngest) -> None:
    # A process of its own: Sentry sets an integration up once per process, and earlier
    # tests started Sentry through the guard, which leaves FlaskIntegration out.
    result = subprocess.run(
        [sys.executable, "-c", STOCK_INTEGRATION_APP, sentry_ingest.dsn],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    error_id = result.stdout.strip()
    sentry_ingest.wait_for(error_id)
    assert list(sentry_ingest.events) == [error_id]


def test_api_errors_are_fingerprinted_by_code(sentry_ingest: SentryIngest) -> None:
    app, _ = guarded_app(sentry_ingest)
    event = captured(sentry_ingest, app.test_client().get("/maintenance"))
    assert event["fingerprint"] == ["api-error", "SERVICE_UNAVAILABLE"]
    assert event["tags"]["http.status"] == "503"


def test_client_errors_are_not_sent_unless_asked(sentry_ingest: SentryIngest) -> None:
    app, _ = guarded_app(sentry_ingest)
    client = app.test_client()
    client.get("/missing")
    sentry_sdk.flush(timeout=5)
    assert sentry_ingest.events == {}


def test_a_budget_the_client_spent_sends_no_event(sentry_ingest: SentryIngest) -> None:
    app, _ = guarded_app(sentry_ingest)

    @app.get("/slow")
    @retry_with_backoff(max_attempts=2, base_delay=0)
    def slow() -> NoReturn:
        raise ConnectionError("upstream down")

    responses = [
        app.test_client().get("/slow", headers={"X-Request-Timeout": "0.000001"}) for _ in range(5)
    ]
    sentry_sdk.flush(timeout=5)
    assert {error_of(response)["code"] for response in responses} == {"UPSTREAM_TIMEOUT"}
    assert sentry_ingest.events == {}


def test_client_errors_are_sent_as_warnings_when_asked(sentry_ingest: SentryIngest) -> None:
    app, _ = guarded_app(sentry_ingest, GUARD_SENTRY_CAPTURE_4XX=True)
    event = captured(sentry_ingest, app.test_client().get("/missing"))
    assert event["level"] == "warning"
    assert event["fingerprint"] == ["api-error", "NOT_FOUND"]


def test_secrets_are_scrubbed(sentry_ingest: SentryIngest) -> None:
    app, _ = guarded_app(sentry_ingest, GUARD_SENTRY_SCRUB_FIELDS=["X-Customer-Email", "ssn"])
    response = app.test_client().get(
        "/charge/1?token=tok-123&ssn=078-05-1120&page=3",
        headers={
            "Authorization": "Bearer sk-live-abc",
            "Cookie": "session=cookie-xyz",
            "X-Customer-Email": "ada@example.com",
            "X-Real-Ip": "203.0.113.9",
            "X-Forwarded-For": "198.51.100.7",
        },
    )
    event = captured(sentry_ingest, response)
    headers = event["request"]["headers"]
    for name in ("Authorization", "Cookie", "X-Customer-Email"):
        assert headers.get(name, "[Filtered]") == "[Filtered]"
    assert event["request"]["query_string"] == "token=[Filtered]&ssn=[Filtered]&page=3"
    text = json.dumps(event)
    secrets = ("sk-live-abc", "cookie-xyz", "ada@example.com", "tok-123", "078-05-1120")
    for secret in (*secrets, "203.0.113.9", "198.51.100.7"):
        assert secret not in text


def test_breaker_story_rides_on_events(sentry_ingest: SentryIngest) -> None:
    app, guard = guarded_app(sentry_ingest)

    @app.get("/pay")
    @guard.breaker("payments", failure_threshold=2, recovery_timeout=60)
    def pay() -> NoReturn:
        raise PaymentsDown("gateway refused")

    client = app.test_client()
    failures = [client.get("/pay") for _ in range(2)]
    rejected = [client.get("/pay") for _ in range(1000)]
    assert {r.status_code for r in rejected} == {503}
    last = captured(sentry_ingest, failures[1])
    crumbs = [c for c in last["breadcrumbs"]["values"] if c["category"] == "circuit_breaker"]
    assert crumbs[-1]["data"] == {
        "breaker": "payments",
        "from": "closed",
        "to": "open",
        "reason": "failure_threshold",
    }
    assert last["contexts"]["circuit_breakers"]["payments"]["state"] == "open"
    openings = [m for m in sentry_ingest.messages() if "opened" in m]
    assert openings == ["Circuit breaker 'payments' opened (failure_threshold)"]
    assert len(sentry_ingest.events) == 3  # two failures and one opening; no rejections
    assert guard.breakers["payments"].state is CircuitState.OPEN


def test_breaker_opening_is_one_warning_event(sentry_ingest: SentryIngest) -> None:
    _, guard = guarded_app(sentry_ingest)

    @guard.breaker("inventory", failure_threshold=1)
    def reserve() -> None:
        raise PaymentsDown("no stock service")

    with pytest.raises(PaymentsDown):
        reserve()
    sentry_sdk.flush(timeout=5)
    deadline = time.monotonic() + 5
    while not sentry_ingest.events and time.monotonic() < deadline:
        time.sleep(0.01)
    (event,) = sentry_ingest.events.values()
    assert event["level"] == "warning"
    assert event["tags"] == {"breaker": "inventory", "breaker.reason": "failure_threshold"}
    assert event["fingerprint"] == ["circuit-breaker-opened", "inventory"]
    assert event["contexts"]["circuit_breakers"]["inventory"]["state"] == "open"


def test_breaker_opening_is_reported_when_sentry_starts_after_init_app(
    sentry_ingest: SentryIngest,
) -> None:
    guard = FlaskGuard(make_app())

    @guard.breaker("stock", failure_threshold=1)
    def reserve() -> None:
        raise PaymentsDown("no stock service")

    start_sentry(sentry_ingest.dsn, SentrySettings(None, None, 1.0, None, False, ()))
    with pytest.raises(PaymentsDown):
        reserve()
    sentry_sdk.flush(timeout=5)
    deadline = time.monotonic() + 5
    while not sentry_ingest.messages() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sentry_ingest.messages() == ["Circuit breaker 'stock' opened (failure_threshold)"]


def test_retry_attempts_are_breadcrumbs_without_messages(sentry_ingest: SentryIngest) -> None:
    app, _ = guarded_app(sentry_ingest)

    @retry_with_backoff(max_attempts=3, base_delay=0, budget=None)
    def fetch_rates() -> None:
        raise PaymentsDown("https://rates.example/?token=secret-t0ken refused")

    @app.get("/rates")
    def rates() -> NoReturn:
        fetch_rates()
        raise AssertionError("unreachable")

    event = captured(sentry_ingest, app.test_client().get("/rates"))
    retries = [c for c in event["breadcrumbs"]["values"] if c["category"] == "retry"]
    assert [c["data"]["attempt"] for c in retries] == [1, 2]
    assert retries[0]["data"]["exception"] == "PaymentsDown"
    assert "secret-t0ken" not in json.dumps(event["breadcrumbs"])


def test_malformed_dsn_fails_at_init_app_and_leaves_the_app_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    app = make_app(SENTRY_DSN="not a dsn")
    wsgi_app = app.wsgi_app
    with pytest.raises(GuardConfigError, match=r"^SENTRY_DSN must be a Sentry DSN"):
        FlaskGuard(app)
    assert app.wsgi_app == wsgi_app
    assert "guard" not in app.extensions


def test_sentry_is_off_without_a_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    app = make_app()
    FlaskGuard(app)
    assert not sentry_sdk.get_client().is_active()


def test_dsn_from_the_environment(
    sentry_ingest: SentryIngest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_DSN", sentry_ingest.dsn)
    app = make_app()
    FlaskGuard(app)

    @app.get("/boom")
    def boom() -> NoReturn:
        raise RuntimeError("boom")

    captured(sentry_ingest, app.test_client().get("/boom"))


@pytest.mark.parametrize("where", ["refused", "hanging"])
def test_unreachable_sentry_changes_nothing_for_clients(
    where: str, refused_url: str, hanging_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    url = refused_url if where == "refused" else hanging_url
    app = make_app(SENTRY_DSN=url.replace("http://", "http://public@") + "/1")
    FlaskGuard(app)

    @app.get("/boom")
    def boom() -> NoReturn:
        raise RuntimeError("boom")

    client = app.test_client()
    client.get("/boom")  # one-off costs (first event built, transport thread started)
    durations = []
    try:
        for _ in range(20):
            started = time.monotonic()
            response = client.get("/boom")
            durations.append(time.monotonic() - started)
            assert response.status_code == 500
            assert error_of(response)["code"] == "INTERNAL_SERVER_ERROR"
        # A request that waited for Sentry would take its timeout (seconds); allow noise.
        assert max(durations) < 0.5
        assert sorted(durations)[len(durations) // 2] < 0.1
    finally:
        sentry_sdk.get_client().close(timeout=0.5)
        sentry_sdk.get_global_scope().set_client(None)


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("GUARD_SENTRY_SAMPLE_RATE", 2, "a number from 0 to 1"),
        ("GUARD_SENTRY_TRACES_SAMPLE_RATE", "all", "a number from 0 to 1"),
        ("GUARD_SENTRY_CAPTURE_4XX", "yes", "True or False"),
        ("GUARD_SENTRY_SCRUB_FIELDS", "email", "a list of names"),
        ("GUARD_SENTRY_ENVIRONMENT", "", "a non-empty string or None"),
    ],
)
def test_invalid_sentry_config_fails_at_init_app(key: str, value: object, allowed: str) -> None:
    with pytest.raises(GuardConfigError, match=f"^{key} must be {allowed}"):
        FlaskGuard(make_app(**{key: value}))
