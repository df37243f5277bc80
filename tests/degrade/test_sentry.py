"""What Sentry learns from degradation: breadcrumbs of degraded answers, one event per
exhausted chain that called something, none when open breakers refused every step."""

from __future__ import annotations

from typing import NoReturn

import sentry_sdk

from flask_guard import CircuitBreaker, FlaskGuard
from flask_guard.testing import SentryIngest

from ..conftest import make_app


def _down() -> NoReturn:
    raise ConnectionError("down")


def test_an_event_carries_the_breadcrumb_of_a_fallback_answer_earlier_in_its_request(
    sentry_ingest: SentryIngest,
) -> None:
    app = make_app(SENTRY_DSN=sentry_ingest.dsn)
    guard = FlaskGuard(app)
    prices = guard.fallback("prices", default={"price": None})(_down)

    @app.get("/quote")
    def quote() -> NoReturn:
        prices()
        raise RuntimeError("then the view broke")

    response = app.test_client().get("/quote")
    assert "X-Degraded" not in response.headers  # an error is not a degraded answer
    error_id = response.headers["X-Error-ID"]
    crumbs = sentry_ingest.wait_for(error_id)["breadcrumbs"]["values"]
    fallback = [c for c in crumbs if c["category"] == "fallback"]
    assert len(fallback) == 1
    assert fallback[0]["data"] == {"name": "prices", "step": "default"}
    assert fallback[0]["message"] == "prices: answered from default (primary: ConnectionError)"


def test_an_exhausted_chain_is_one_event_unless_open_breakers_refused_every_step(
    sentry_ingest: SentryIngest,
) -> None:
    app = make_app(SENTRY_DSN=sentry_ingest.dsn)
    guard = FlaskGuard(app)
    replica = CircuitBreaker("replica")
    primary = CircuitBreaker("primary")

    @app.get("/failing")
    @guard.fallback("failing", replica(_down))
    def failing() -> NoReturn:
        raise ConnectionError("primary down")

    @app.get("/refused")
    @guard.fallback("refused", replica(_down))
    @primary
    def refused() -> NoReturn:
        raise ConnectionError("never called")

    client = app.test_client()
    failed = client.get("/failing")
    event = sentry_ingest.wait_for(failed.headers["X-Error-ID"])
    assert event["tags"]["error_code"] == "SERVICE_UNAVAILABLE"
    replica.force_open()
    primary.force_open()
    refused_id = client.get("/refused").headers["X-Error-ID"]
    sentry_sdk.flush(timeout=5)
    assert refused_id not in sentry_ingest.events
