"""A GUARD_* setting left in the environment, where Flask never reads it, is not ignored in
silence."""

from __future__ import annotations

import logging

import pytest

from flask_guard import FlaskGuard

from ..conftest import make_app

HINT = "The environment variable GUARD_BREAKER_STORAGE is not read"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "flask_guard.config.environment" and r.levelno == logging.WARNING
    ]


def test_bare_guard_variable_is_named_with_the_variable_to_set_instead(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GUARD_BREAKER_STORAGE", "redis://127.0.0.1:6379/0")
    FlaskGuard(make_app())
    (message,) = warnings_of(caplog)
    assert message.startswith(HINT)
    assert "Set FLASK_GUARD_BREAKER_STORAGE instead" in message
    assert "app.config.from_prefixed_env()" in message


def test_prefixed_variable_read_by_the_app_draws_no_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FLASK_GUARD_LOG_JSON", "false")
    monkeypatch.setenv("FLASK_GUARD_HTTP_TIMEOUT", "[1, 2]")
    app = make_app()
    app.config.from_prefixed_env()
    FlaskGuard(app)
    assert app.config["GUARD_HTTP_TIMEOUT"] == [1, 2]
    assert warnings_of(caplog) == []


@pytest.mark.parametrize(
    ("key", "text", "read_as"),
    [("GUARD_HTTP_RETRIES", "3", 3), ("GUARD_ERROR_FORMAT", "problem", "problem")],
)
def test_bare_variable_the_app_read_itself_draws_no_warning(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    key: str,
    text: str,
    read_as: object,
) -> None:
    monkeypatch.setenv(key, text)
    FlaskGuard(make_app(**{key: read_as}))
    assert warnings_of(caplog) == []


def test_other_guard_variables_are_not_settings_and_draw_no_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GUARD_SOMETHING_ELSE", "1")
    FlaskGuard(make_app())
    assert warnings_of(caplog) == []
