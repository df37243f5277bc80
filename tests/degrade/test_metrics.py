"""Degradation in the Prometheus metrics, read at scrape time."""

from __future__ import annotations

from typing import NoReturn

from flask_guard import FlaskGuard

from ..conftest import make_app


def _down(*args: object) -> NoReturn:
    raise ConnectionError("down")


def test_metrics_count_answers_per_step_stale_answers_features_and_the_level() -> None:
    app = make_app(GUARD_METRICS_PATH="/metrics")
    guard = FlaskGuard(app)
    prices = guard.fallback("metric-prices", default=0)(_down)
    up = [True]

    def catalogue(product: int) -> str:
        if not up[0]:
            raise ConnectionError("catalogue down")
        return "tea"

    product = guard.stale_if_error("metric-catalogue", fresh=0, stale=60)(catalogue)
    reviews = guard.feature("metric-reviews", depends_on=["metric-reviews-api"], fallback=list)
    show_reviews = reviews(lambda: ["great"])
    prices()
    prices()
    product(1)
    up[0] = False
    product(1)
    guard.breakers["metric-reviews-api"].force_open()
    assert show_reviews() == []
    text = app.test_client().get("/metrics").get_data(as_text=True)
    for line in (
        'flask_guard_fallback_answers_total{chain="metric-prices",step="primary"} 0.0',
        'flask_guard_fallback_answers_total{chain="metric-prices",step="default"} 2.0',
        'flask_guard_fallback_answers_total{chain="metric-reviews",step="off"} 1.0',
        'flask_guard_stale_answers_total{cache="metric-catalogue"} 1.0',
        'flask_guard_feature_enabled{feature="metric-reviews"} 0.0',
    ):
        assert line in text
    # One level per process: the first guard with features that registered its metrics.
    assert "\nflask_guard_service_level " in text
