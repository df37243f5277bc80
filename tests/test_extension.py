"""FlaskGuard: init_app, app factories, several apps, configuration validation."""

from __future__ import annotations

from typing import NoReturn

import pytest
from flask import Flask

from flask_guard import ApiError, FlaskGuard, GuardConfigError
from flask_guard.config.keys import DEFAULTS

from .conftest import error_of, make_app


def _missing_route(app: Flask) -> tuple[str, str]:
    response = app.test_client().get("/missing", headers={"X-Trace": "t-1"})
    return str(response.mimetype), response.headers.get("X-Trace", "")


def test_registers_itself_and_sets_config_defaults() -> None:
    app = make_app()
    guard = FlaskGuard(app)
    assert app.extensions["guard"] is guard
    for key, default in DEFAULTS.items():
        assert app.config[key] == default


def test_app_factory_with_one_guard_for_several_apps() -> None:
    guard = FlaskGuard()

    def create_app(**config: object) -> Flask:
        app = make_app(**config)
        guard.init_app(app)

        @app.get("/missing")
        def missing() -> NoReturn:
            raise ApiError.not_found("Order")

        return app

    envelope = create_app()
    problem = create_app(GUARD_ERROR_FORMAT="problem", GUARD_REQUEST_ID_HEADER="X-Trace")
    assert envelope.extensions["guard"] is problem.extensions["guard"] is guard
    assert _missing_route(envelope) == ("application/json", "")
    assert _missing_route(problem) == ("application/problem+json", "t-1")
    assert error_of(envelope.test_client().get("/missing"))["message"] == "Order not found"


def test_overrides_win_over_app_config() -> None:
    app = make_app(GUARD_ERROR_FORMAT="envelope")
    FlaskGuard(app, error_format="problem")
    assert app.test_client().get("/nowhere").mimetype == "application/problem+json"


def test_init_app_twice_is_refused() -> None:
    app = make_app()
    FlaskGuard(app)
    with pytest.raises(RuntimeError, match="already registered"):
        FlaskGuard(app)


def test_unknown_override_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"unknown settings \['error_fromat'\] \(did you mean"):
        FlaskGuard(error_fromat="problem")


def test_an_override_named_as_its_config_key_names_the_override() -> None:
    with pytest.raises(TypeError, match=r"'GUARD_ERROR_FORMAT' -> error_format"):
        FlaskGuard(GUARD_ERROR_FORMAT="problem")


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("GUARD_ERROR_FORMAT", "xml", '"envelope" or "problem"'),
        ("GUARD_REQUEST_ID_HEADER", "X Request ID", "an HTTP header name"),
        ("GUARD_REQUEST_ID_HEADER", "", "an HTTP header name"),
        ("GUARD_REQUEST_ID_HEADER", 42, "an HTTP header name"),
        ("GUARD_TRUST_REQUEST_ID", "false", "True or False"),
        ("GUARD_TRUST_REQUEST_ID", 1, "True or False"),
    ],
)
def test_invalid_config_names_key_value_and_what_is_allowed(
    key: str, value: object, allowed: str
) -> None:
    app = make_app(**{key: value})
    with pytest.raises(GuardConfigError) as excinfo:
        FlaskGuard(app)
    message = str(excinfo.value)
    assert message.startswith(f"{key} must be {allowed}")
    assert message.endswith(f"got {value!r}")
    assert "guard" not in app.extensions


def test_misspelled_key_is_refused_with_a_suggestion() -> None:
    app = make_app(GUARD_EROR_FORMAT="problem")
    with pytest.raises(GuardConfigError, match="did you mean GUARD_ERROR_FORMAT"):
        FlaskGuard(app)


def test_invalid_override_is_reported_under_its_config_key() -> None:
    with pytest.raises(GuardConfigError, match="GUARD_TRUST_REQUEST_ID must be True or False"):
        FlaskGuard(make_app(), trust_request_id="yes")
