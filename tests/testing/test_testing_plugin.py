"""The pytest plugin, as a user's test suite meets it (run with pytester)."""

from __future__ import annotations

import pytest

USER_CONFTEST = """
import pytest
from flask import Flask
from flask_guard import FlaskGuard

@pytest.fixture
def app():
    app = Flask("shop")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    guard = FlaskGuard(app)

    @app.get("/pay")
    @guard.breaker("payments", failure_threshold=1)
    def pay():
        raise ConnectionError("payments down")

    @app.get("/stock")
    @guard.breaker("inventory")
    def stock():
        return {"left": 3}

    return app
"""

USER_TESTS = """
from flask_guard import FlaskGuard

def test_guard_fixture(guard, app):
    assert isinstance(guard, FlaskGuard)
    assert guard is app.extensions["guard"]

def test_force_breaker_open(client, force_breaker):
    with force_breaker("inventory"):
        assert client.get("/stock").status_code == 503
    assert client.get("/stock").status_code == 200

def test_sentry_events_sees_the_error_id(client, sentry_events):
    response = client.get("/pay")
    event = sentry_events.wait_for(response.headers["X-Error-ID"])
    assert event["tags"]["error_code"] == "INTERNAL_SERVER_ERROR"
    assert event["tags"]["http.status"] == str(response.status_code)

def test_a_breaker_opened_here(client, guard):
    client.get("/pay")
    assert guard.breakers["payments"].state.value == "open"

def test_is_closed_again_in_the_next_test(client, guard):
    assert guard.breakers["payments"].state.value == "closed"
"""


def test_user_suite_runs_with_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_shop=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=5)


def test_reset_between_tests_with_a_shared_app(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        USER_CONFTEST.replace("@pytest.fixture\n", '@pytest.fixture(scope="module")\n')
    )
    pytester.makepyfile(
        test_order="""
def test_opens(client, guard):
    client.get("/pay")
    assert guard.breakers["payments"].state.value == "open"

def test_sees_it_reset(client, guard):
    assert guard.breakers["payments"].state.value == "closed"
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)


def test_force_breaker_refuses_an_unknown_state(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(
        test_bad="""
import pytest

def test_bad_state(force_breaker):
    with pytest.raises(ValueError, match='state must be "open" or "closed"'):
        with force_breaker("payments", "half_open"):
            pass
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)
