"""Features that switch off with their breakers or an operator, and the service level."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest
import redis
import requests
from flask import Flask

from flask_guard import FlaskGuard, ServiceLevel
from flask_guard.degrade import forced
from flask_guard.signals import feature_changed, service_level_changed
from flask_guard.testing import RedisServer

from ..conftest import FakeClock, error_of, make_app, serving

TOKEN = "health-token-0123456789"


def shop(**config: object) -> tuple[Flask, FlaskGuard]:
    """A shop whose recommendations may go; without payments it is only a catalogue."""
    app = make_app(GUARD_HEALTH_TOKEN=TOKEN, **config)
    guard = FlaskGuard(app)
    recommendations = guard.feature(
        "recommendations",
        depends_on=["recs-api"],
        fallback=lambda product: {"items": [], "product": product},
    )
    checkout = guard.feature("checkout", depends_on=["payments"], essential=True)

    @app.get("/products/<int:product>/recommendations")
    @recommendations
    def recs(product: int) -> dict[str, object]:
        return {"items": ["tea"], "product": product}

    @app.post("/checkout")
    @checkout
    def pay() -> dict[str, str]:
        return {"paid": "yes"}

    return app, guard


def test_a_feature_is_off_while_a_breaker_it_depends_on_is_open_and_on_again_half_open(
    clock: FakeClock,
) -> None:
    app = make_app()
    guard = FlaskGuard(app)
    guard.feature("recommendations", depends_on=["recs-api"])
    breaker = guard.breakers["recs-api"]
    assert guard.feature_enabled("recommendations")
    breaker.force_open()
    assert not guard.feature_enabled("recommendations")
    breaker.force_close()
    assert guard.feature_enabled("recommendations")


def test_a_view_of_a_feature_that_is_off_answers_its_fallback_marked_off() -> None:
    app, guard = shop()
    guard.breakers["recs-api"].force_open()
    with serving(app) as url:
        response = requests.get(f"{url}/products/4/recommendations", timeout=5)
    assert response.json() == {"items": [], "product": 4}
    assert response.headers["X-Degraded"] == "recommendations=off"


def test_a_view_of_a_feature_that_is_off_without_fallback_answers_503_with_retry_after() -> None:
    app, guard = shop(GUARD_BREAKER_DEFAULTS={"recovery_timeout": 30})
    guard.breakers["payments"].call(lambda: None)
    for _ in range(5):
        with pytest.raises(ConnectionError):
            guard.breakers["payments"].call(_refused)
    response = app.test_client().post("/checkout")
    assert response.status_code == 503
    assert error_of(response)["code"] == "SERVICE_UNAVAILABLE"
    assert 1 <= int(response.headers["Retry-After"]) <= 30


def _refused() -> None:
    raise ConnectionError("payments down")


def test_the_level_is_full_degraded_then_minimal_and_each_change_is_signalled_once() -> None:
    _, guard = shop()
    changes: list[tuple[str, bool]] = []
    levels: list[tuple[ServiceLevel, ServiceLevel]] = []

    def on_feature(sender: object, feature: str, enabled: bool, reason: str | None) -> None:
        changes.append((feature, enabled))

    def on_level(sender: object, old: ServiceLevel, new: ServiceLevel) -> None:
        levels.append((old, new))

    seen = [guard.service_level]
    with feature_changed.connected_to(on_feature), service_level_changed.connected_to(on_level):
        guard.breakers["recs-api"].force_open()
        seen.append(guard.service_level)
        guard.breakers["payments"].force_open()
        seen.append(guard.service_level)
        guard.breakers["payments"].force_close()
        guard.breakers["recs-api"].force_close()
        seen.append(guard.service_level)
    assert [level.value for level in seen] == ["full", "degraded", "minimal", "full"]
    assert changes == [
        ("recommendations", False),
        ("checkout", False),
        ("checkout", True),
        ("recommendations", True),
    ]
    assert levels == [
        (ServiceLevel.FULL, ServiceLevel.DEGRADED),
        (ServiceLevel.DEGRADED, ServiceLevel.MINIMAL),
        (ServiceLevel.MINIMAL, ServiceLevel.DEGRADED),
        (ServiceLevel.DEGRADED, ServiceLevel.FULL),
    ]


def test_health_shows_anyone_the_level_only_and_the_operator_every_feature() -> None:
    app, guard = shop()
    guard.breakers["recs-api"].force_open()
    client = app.test_client()
    public = client.get("/health")
    assert public.get_json() == {"status": "degraded", "level": "degraded"}
    full = client.get("/health", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert full["level"] == "degraded"
    assert full["features"]["recommendations"] == {
        "enabled": False,
        "reason": "breaker recs-api open",
        "essential": False,
        "depends_on": ["recs-api"],
    }
    assert full["features"]["checkout"]["enabled"] is True


def test_health_without_features_keeps_its_body(app: Flask) -> None:
    assert app.test_client().get("/health").get_json() == {"status": "ok"}


def test_an_operator_forcing_a_feature_off_reaches_every_process_through_redis(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forced, "REFRESH_INTERVAL", 0.0)
    config = {"GUARD_BREAKER_STORAGE": redis_url, "GUARD_REDIS_PREFIX": redis_prefix}
    first_app, _ = shop(**config)
    second_app, second = shop(**config)
    runner = first_app.test_cli_runner()
    result = runner.invoke(args=["guard", "feature", "off", "recommendations"])
    assert result.exit_code == 0, result.output
    assert "forced off for every process" in result.output
    assert not second.feature_enabled("recommendations")
    with serving(second_app) as url:
        response = requests.get(f"{url}/products/1/recommendations", timeout=5)
    assert response.headers["X-Degraded"] == "recommendations=off"
    status = runner.invoke(args=["guard", "feature", "status"])
    assert "recommendations  off    forced" in status.output
    assert "service level: degraded" in status.output
    runner.invoke(args=["guard", "feature", "on", "recommendations"])
    assert second.feature_enabled("recommendations")


def test_forcing_a_feature_off_from_the_cli_refuses_while_features_are_in_memory() -> None:
    app, _ = shop()
    result = app.test_cli_runner().invoke(args=["guard", "feature", "off", "recommendations"])
    assert result.exit_code != 0
    assert "in memory" in result.output


def test_the_service_level_rides_on_sentry_events(sentry_ingest: Any) -> None:
    app, guard = shop(SENTRY_DSN=sentry_ingest.dsn)
    guard.breakers["recs-api"].force_open()
    assert guard.service_level is ServiceLevel.DEGRADED

    @app.get("/boom")
    def boom() -> NoReturn:
        raise RuntimeError("boom")

    error_id = app.test_client().get("/boom").headers["X-Error-ID"]
    event = sentry_ingest.wait_for(error_id)
    assert event["contexts"]["service_level"] == {
        "level": "degraded",
        "features_off": ["recommendations"],
    }


def test_a_feature_is_declared_once_with_one_set_of_options() -> None:
    guard = FlaskGuard()
    guard.feature("recs", depends_on=["a"])
    assert guard.feature("recs", depends_on=["a"]) is guard.features["recs"]
    with pytest.raises(ValueError, match="already declared"):
        guard.feature("recs", depends_on=["b"])


def test_an_async_view_of_a_feature_that_is_off_awaits_an_async_fallback() -> None:
    app = make_app()
    guard = FlaskGuard(app)

    async def no_reviews() -> dict[str, list[str]]:
        return {"reviews": []}

    reviews = guard.feature("reviews", depends_on=["reviews-api"], fallback=no_reviews)

    @app.get("/reviews")
    @reviews
    async def show() -> dict[str, list[str]]:
        return {"reviews": ["great"]}

    client = app.test_client()
    assert client.get("/reviews").get_json() == {"reviews": ["great"]}
    guard.breakers["reviews-api"].force_open()
    response = client.get("/reviews")
    assert response.get_json() == {"reviews": []}
    assert response.headers["X-Degraded"] == "reviews=off"


def test_features_build_no_breaker_before_init_app_nor_follow_another_guard_s() -> None:
    guard = FlaskGuard()
    guard.feature("checkout", depends_on=["payments"], essential=True)
    assert guard.feature_enabled("checkout")
    other = FlaskGuard(make_app())
    other.breakers.declare("payments", {})
    other.breakers["payments"].force_open()  # a breaker of the same name, of another guard
    assert guard.breakers.built() == []
    app = make_app(GUARD_BREAKER_DEFAULTS={"failure_threshold": 2})
    guard.init_app(app)
    assert guard.feature_enabled("checkout")
    guard.breakers["payments"].force_open()
    assert not guard.feature_enabled("checkout")


def test_a_guard_without_features_is_full_and_reads_nothing_on_breaker_changes(
    own_redis: RedisServer,
) -> None:
    app = make_app(GUARD_BREAKER_STORAGE=own_redis.url, GUARD_REDIS_PREFIX="nofeatures")
    guard = FlaskGuard(app)
    guard.breakers.declare("payments", {"failure_threshold": 1})
    client = redis.Redis.from_url(own_redis.url)
    reads = client.info("commandstats").get("cmdstat_hkeys", {}).get("calls", 0)
    assert guard.service_level is ServiceLevel.FULL
    guard.breakers["payments"].force_open()
    assert guard.service_level is ServiceLevel.FULL
    assert client.info("commandstats").get("cmdstat_hkeys", {}).get("calls", 0) == reads
