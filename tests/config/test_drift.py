"""Settings changed after init_app are refused loudly, never ignored in silence."""

from __future__ import annotations

import pytest
from flask import Flask

from flask_guard import FlaskGuard, GuardConfigError

from ..conftest import error_of, make_app


def test_a_key_set_after_init_fails_every_request_naming_key_values_and_fix() -> None:
    app = make_app()
    FlaskGuard(app)
    app.config["GUARD_ERROR_FORMAT"] = "problem"
    client = app.test_client()
    for _ in range(2):
        response = client.get("/nowhere")
        assert response.status_code == 500
        error_of(response)


def test_a_key_set_after_init_raises_in_tests_where_exceptions_propagate() -> None:
    app = Flask(__name__)
    app.config["TESTING"] = True
    FlaskGuard(app)
    app.config["GUARD_HEALTH_PATH"] = "/healthz"
    with pytest.raises(GuardConfigError) as caught:
        app.test_client().get("/health")
    message = str(caught.value)
    assert "GUARD_HEALTH_PATH was set to '/healthz' after FlaskGuard.init_app read '/health'" in (
        message
    )
    assert "before FlaskGuard(app)" in message


def test_a_dsn_set_after_init_is_refused_too() -> None:
    app = Flask(__name__)
    app.config["TESTING"] = True
    FlaskGuard(app)
    app.config["SENTRY_DSN"] = "https://key@sentry.example/1"
    with pytest.raises(GuardConfigError, match="SENTRY_DSN was set"):
        app.test_client().get("/health")


def test_settings_left_alone_after_init_change_nothing() -> None:
    app = Flask(__name__)
    app.config["TESTING"] = True
    FlaskGuard(app)
    app.config["SOMETHING_ELSE"] = 1
    assert app.test_client().get("/health").status_code == 200


def test_the_dsn_under_the_guard_prefix_points_at_sentry_dsn() -> None:
    app = make_app(GUARD_SENTRY_DSN="https://key@sentry.example/1")
    with pytest.raises(GuardConfigError, match="the DSN is read from SENTRY_DSN"):
        FlaskGuard(app)


def test_the_check_leaves_the_app_after_a_first_request_that_found_nothing() -> None:
    app = make_app()
    FlaskGuard(app)
    count = len(app.before_request_funcs[None])
    app.test_client().get("/health")
    assert len(app.before_request_funcs[None]) == count - 1
    app.test_client().get("/health")
    assert len(app.before_request_funcs[None]) == count - 1
