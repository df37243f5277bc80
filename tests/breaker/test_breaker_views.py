"""guard.breaker on views and plain functions; the 503 envelope; GUARD_BREAKER_DEFAULTS."""

from __future__ import annotations

import asyncio
import logging

import pytest
from flask import Flask

from flask_guard import ApiError, CircuitOpenError, CircuitState, FlaskGuard, GuardConfigError

from ..conftest import FakeClock, error_of, make_app


class UpstreamDown(Exception):
    pass


def guarded_app(clock: FakeClock, **config: object) -> tuple[Flask, FlaskGuard]:
    app = make_app(**config)
    guard = FlaskGuard(app)
    upstream = {"healthy": False}

    @app.get("/charge/<int:order_id>")
    @guard.breaker("payments", failure_threshold=2, recovery_timeout=30, clock=clock)
    def charge(order_id: int) -> dict[str, object]:
        if order_id == 404:
            raise ApiError.not_found("Order")
        if not upstream["healthy"]:
            raise UpstreamDown("payments are down")
        return {"charged": order_id}

    @app.get("/refund/<int:order_id>")
    @guard.breaker("payments")
    async def refund(order_id: int) -> dict[str, object]:
        await asyncio.sleep(0)
        return {"refunded": order_id}

    app.config["upstream"] = upstream
    return app, guard


def test_open_breaker_answers_503_with_retry_after(clock: FakeClock) -> None:
    app, guard = guarded_app(clock)
    client = app.test_client()
    for _ in range(2):
        assert client.get("/charge/1").status_code == 500
    clock.advance(12.2)
    response = client.get("/charge/1")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "18"
    error = error_of(response)
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert "details" not in error  # no internal name for strangers
    assert guard.breakers["payments"].stats.rejections == 1


def test_retry_after_is_at_least_one_second(clock: FakeClock) -> None:
    app, _ = guarded_app(clock)
    client = app.test_client()
    for _ in range(2):
        client.get("/charge/1")
    clock.advance(29.9)
    assert client.get("/charge/1").headers["Retry-After"] == "1"


def test_client_errors_do_not_open_the_breaker(clock: FakeClock) -> None:
    app, guard = guarded_app(clock)
    client = app.test_client()
    for _ in range(5):
        assert client.get("/charge/404").status_code == 404
    assert guard.breakers["payments"].state is CircuitState.CLOSED


def test_async_view_shares_the_named_breaker(clock: FakeClock) -> None:
    app, guard = guarded_app(clock)
    client = app.test_client()
    assert client.get("/refund/3").get_json() == {"refunded": 3}
    for _ in range(2):
        client.get("/charge/1")
    response = client.get("/refund/3")
    assert response.status_code == 503
    assert list(guard.breakers) == ["payments"]


def test_recovered_upstream_closes_the_breaker(clock: FakeClock) -> None:
    app, guard = guarded_app(clock)
    client = app.test_client()
    for _ in range(2):
        client.get("/charge/1")
    app.config["upstream"]["healthy"] = True
    clock.advance(30)
    assert client.get("/charge/7").get_json() == {"charged": 7}
    assert guard.breakers["payments"].state is CircuitState.CLOSED


def test_rejections_log_at_info_without_traceback(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    app, guard = guarded_app(clock)
    guard.breakers["payments"].force_open()
    with caplog.at_level(logging.INFO, logger="flask_guard.handlers"):
        app.test_client().get("/charge/1")
    (record,) = [r for r in caplog.records if r.name == "flask_guard.handlers"]
    assert record.levelno == logging.INFO
    assert record.exc_info is None


def test_plain_functions_outside_requests(clock: FakeClock) -> None:
    guard = FlaskGuard()

    @guard.breaker("inventory", failure_threshold=1, clock=clock)
    def reserve(sku: str) -> str:
        raise UpstreamDown(sku)

    with pytest.raises(UpstreamDown):
        reserve("abc")
    with pytest.raises(CircuitOpenError):
        reserve("abc")
    assert reserve.__name__ == "reserve"


def test_same_name_with_conflicting_options_is_refused() -> None:
    guard = FlaskGuard()
    guard.breaker("payments", failure_threshold=3)
    guard.breaker("payments", failure_threshold=3)
    guard.breaker("payments")
    with pytest.raises(ValueError, match=r"'payments' is already declared .* failure_threshold"):
        guard.breaker("payments", failure_threshold=4)


def test_unknown_breaker_option_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Unknown circuit breaker options \['threshold'\]"):
        FlaskGuard().breaker("payments", threshold=3)


def test_invalid_option_is_refused_when_defaults_are_known() -> None:
    guard = FlaskGuard(make_app())
    with pytest.raises(ValueError, match="'payments': failure_threshold must be"):
        guard.breaker("payments", failure_threshold=0)


def test_breaker_defaults_come_from_config(clock: FakeClock) -> None:
    guard = FlaskGuard()

    @guard.breaker("search", clock=clock)
    def search() -> None:
        raise UpstreamDown("down")

    guard.init_app(
        make_app(GUARD_BREAKER_DEFAULTS={"failure_threshold": 1, "recovery_timeout": 5})
    )
    with pytest.raises(UpstreamDown):
        search()
    breaker = guard.breakers["search"]
    assert breaker.state is CircuitState.OPEN
    assert breaker.policy.recovery_timeout == 5


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ([1, 2], "GUARD_BREAKER_DEFAULTS must be a dict of circuit breaker options"),
        ({"failure_threshold": 0}, "failure_threshold must be a whole number"),
        ({"treshold": 3}, r"Unknown circuit breaker options \['treshold'\]"),
    ],
)
def test_invalid_breaker_defaults_fail_at_init_app(defaults: object, message: str) -> None:
    with pytest.raises(GuardConfigError, match=message) as excinfo:
        FlaskGuard(make_app(GUARD_BREAKER_DEFAULTS=defaults))
    assert "GUARD_BREAKER_DEFAULTS" in str(excinfo.value)
    assert repr(defaults) in str(excinfo.value)


def test_declared_options_are_checked_against_defaults_at_init_app() -> None:
    guard = FlaskGuard()
    guard.breaker("payments", minimum_calls=50)
    with pytest.raises(
        GuardConfigError, match="'payments': minimum_calls must be 1 to window_size"
    ):
        guard.init_app(make_app(GUARD_BREAKER_DEFAULTS={"window_size": 20}))


def test_apps_sharing_a_guard_must_agree_on_defaults() -> None:
    guard = FlaskGuard()
    guard.init_app(make_app(GUARD_BREAKER_DEFAULTS={"failure_threshold": 2}))
    guard.init_app(make_app(GUARD_BREAKER_DEFAULTS={"failure_threshold": 2}))
    with pytest.raises(GuardConfigError, match="differs from that of an app"):
        guard.init_app(make_app(GUARD_BREAKER_DEFAULTS={"failure_threshold": 3}))
