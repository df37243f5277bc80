"""Custom health checks folded into /health, each within its own timeout."""

from __future__ import annotations

import threading

from flask import Flask, current_app

from flask_guard import FlaskGuard

from ..conftest import make_app

TOKEN = "health-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def guarded() -> tuple[Flask, FlaskGuard]:
    app = make_app(GUARD_HEALTH_TOKEN=TOKEN)
    return app, FlaskGuard(app)


def test_checks_that_pass_keep_the_status_ok_and_show_the_operator_each_one() -> None:
    app, guard = guarded()
    seen_apps: list[str] = []

    @guard.health_check("db")
    def db() -> None:
        seen_apps.append(current_app.name)

    @guard.health_check("cache")
    async def cache() -> bool:
        return True

    client = app.test_client()
    assert client.get("/health").get_json() == {"status": "ok"}
    checks = client.get("/health", headers=BEARER).get_json()["checks"]
    assert set(checks) == {"db", "cache"}
    assert checks["db"]["ok"] is True
    assert checks["db"]["error"] is None
    assert seen_apps == [app.name, app.name]


def test_a_failing_check_degrades_and_a_failing_critical_one_makes_it_unavailable() -> None:
    app, guard = guarded()

    @guard.health_check("search")
    def search() -> bool:
        return False

    client = app.test_client()
    response = client.get("/health")
    assert (response.status_code, response.get_json()) == (200, {"status": "degraded"})

    @guard.health_check("db", critical=True)
    def db() -> None:
        raise ConnectionError("postgres://user:secret@db refused")

    response = client.get("/health", headers=BEARER)
    body = response.get_json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["critical_failing"] == ["db"]
    assert body["checks"]["db"]["error"] == "ConnectionError"
    assert "secret" not in response.get_data(as_text=True)


def test_a_hanging_check_is_a_timeout_and_is_not_started_again_while_it_hangs() -> None:
    app, guard = guarded()
    release = threading.Event()
    started: list[int] = []

    @guard.health_check("db", timeout=0.2)
    def db() -> None:
        started.append(1)
        release.wait()

    client = app.test_client()
    # Without the timeout these would wait for ever: the check is released only after them.
    first = client.get("/health", headers=BEARER).get_json()
    second = client.get("/health", headers=BEARER).get_json()
    release.set()
    assert first["checks"]["db"]["error"] == "timeout"
    assert second["checks"]["db"]["error"] == "timeout"
    assert first["status"] == "degraded"
    assert started == [1]
