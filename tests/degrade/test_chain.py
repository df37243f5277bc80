"""Fallback chains: the primary, then each alternative in order, over real HTTP."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, NoReturn

import pytest
import requests
from flask import Flask

from flask_guard import ApiError, CircuitBreaker, FallbackExhausted, FlaskGuard
from flask_guard.degrade import FallbackChain
from flask_guard.signals import fallback_answered

from ..conftest import error_of, make_app, serving


def _down(*args: object) -> NoReturn:
    raise ConnectionError("replica down")


def test_a_primary_that_answers_is_the_answer_and_marks_nothing() -> None:
    app = make_app()
    guard = FlaskGuard(app)

    @app.get("/recs")
    @guard.fallback("recs", default=[])
    def recs() -> dict[str, list[str]]:
        return {"items": ["tea"]}

    with serving(app) as url:
        response = requests.get(f"{url}/recs", timeout=5)
    assert response.json() == {"items": ["tea"]}
    assert "X-Degraded" not in response.headers
    assert guard.fallback_chains["recs"].answers() == {"primary": 1, "default": 0}


def test_a_failed_primary_hands_its_arguments_to_the_next_step_and_the_answer_says_so() -> None:
    app = make_app()
    guard = FlaskGuard(app)

    def from_cache(user: int) -> dict[str, object]:
        return {"items": ["cached"], "user": user}

    @app.get("/recs/<int:user>")
    @guard.fallback("recs", _down, from_cache)
    def recs(user: int) -> dict[str, object]:
        raise ConnectionError("recommendations down")

    @app.after_request
    def cors(response: Any) -> Any:
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    with serving(app) as url:
        response = requests.get(f"{url}/recs/7", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"items": ["cached"], "user": 7}
    assert response.headers["X-Degraded"] == "recs=from_cache"
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"X-Request-ID", "X-Degraded"} <= exposed
    assert guard.fallback_chains["recs"].answers() == {"primary": 0, "_down": 0, "from_cache": 1}


def test_an_open_breaker_sends_the_call_straight_to_the_next_step() -> None:
    breaker = CircuitBreaker("recs-api")
    breaker.force_open()
    ran: list[str] = []

    @breaker
    def primary() -> str:
        ran.append("primary")
        return "fresh"

    chain = FallbackChain("recs", primary, ("cache", lambda: "cached"))
    assert chain.call() == "cached"
    assert ran == []


def test_a_run_that_fell_back_is_one_log_line_naming_each_failed_step_and_its_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def primary() -> NoReturn:
        raise ConnectionError("primary refused")

    chain = FallbackChain("recs", primary, _down, ("cache", lambda: "cached"))
    with caplog.at_level(logging.INFO, "flask_guard.degrade"):
        assert chain.call() == "cached"
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("flask_guard.degrade")]
    assert lines == [
        "Fallback chain 'recs' answered from step 'cache' after primary: ConnectionError: "
        "primary refused; _down: ConnectionError: replica down"
    ]
    assert caplog.records[-1].levelno == logging.WARNING


def test_an_exhausted_chain_raises_every_error_in_step_order_the_last_one_last() -> None:
    first, second = ConnectionError("a"), TimeoutError("b")

    def primary() -> NoReturn:
        raise first

    def replica() -> NoReturn:
        raise second

    with pytest.raises(FallbackExhausted) as caught:
        FallbackChain("recs", primary, replica).call()
    assert caught.value.exceptions == (first, second)
    assert caught.value.last is second
    assert caught.value.steps == ("primary", "replica")


def test_an_exhausted_chain_in_a_view_is_the_guard_s_503_envelope_with_an_error_id() -> None:
    app = make_app()
    guard = FlaskGuard(app)
    replica = CircuitBreaker("replica")
    replica.force_open()

    @app.get("/recs")
    @guard.fallback("recs", replica(_down))
    def recs() -> NoReturn:
        raise ConnectionError("primary down")

    response = app.test_client().get("/recs")
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert "down" not in str(error["message"])
    assert response.headers["Retry-After"]
    assert "X-Degraded" not in response.headers


def test_a_client_error_is_the_answer_and_falls_through_to_nothing() -> None:
    app = make_app()
    guard = FlaskGuard(app)
    fallbacks: list[int] = []

    def replica(order: int) -> dict[str, int]:
        fallbacks.append(order)
        return {"order": order}

    @app.get("/orders/<int:order>")
    @guard.fallback("orders", replica)
    def order(order: int) -> NoReturn:
        raise ApiError.not_found("Order")

    response = app.test_client().get("/orders/3")
    assert response.status_code == 404
    assert fallbacks == []


def test_an_ignored_exception_propagates_with_the_earlier_failures_noted() -> None:
    def primary() -> NoReturn:
        raise ConnectionError("primary down")

    def replica() -> NoReturn:
        raise KeyError("no such user")

    chain = FallbackChain("users", primary, replica, default=None, ignore=(KeyError,))
    with pytest.raises(KeyError) as caught:
        chain.call()
    assert caught.value.__notes__ == [
        "fallback chain 'users': step 'primary' failed before (ConnectionError: primary down)"
    ]


def test_an_async_chain_awaits_async_steps_and_calls_sync_ones() -> None:
    async def primary(user: int) -> str:
        raise ConnectionError("down")

    async def replica(user: int) -> str:
        raise TimeoutError("slow")

    def cache(user: int) -> str:
        return f"cached {user}"

    chain = FallbackChain("recs", primary, replica, cache)
    assert asyncio.run(chain.call_async(5)) == "cached 5"
    assert chain.answers() == {"primary": 0, "replica": 0, "cache": 1}


def test_an_async_view_falls_back_and_says_so() -> None:
    app = make_app()
    guard = FlaskGuard(app)

    async def replica() -> dict[str, str]:
        return {"from": "replica"}

    @app.get("/recs")
    @guard.fallback("recs", replica)
    async def recs() -> dict[str, str]:
        raise ConnectionError("down")

    with serving(app) as url:
        response = requests.get(f"{url}/recs", timeout=5)
    assert response.json() == {"from": "replica"}
    assert response.headers["X-Degraded"] == "recs=replica"


def test_a_fallback_answer_is_signalled_with_the_step_and_the_failures_before_it() -> None:
    seen: list[tuple[object, dict[str, Any]]] = []

    def receiver(sender: object, **kwargs: Any) -> None:
        seen.append((sender, kwargs))

    failure = ConnectionError("down")

    def primary() -> NoReturn:
        raise failure

    chain = FallbackChain("recs", primary, default="none")
    with fallback_answered.connected_to(receiver):
        chain.call()
    assert seen == [(chain, {"step": "default", "failures": (failure,)})]


def test_a_sync_primary_refuses_an_async_step() -> None:
    async def replica() -> str:
        return "x"

    with pytest.raises(TypeError, match="sync primary"):
        FallbackChain("recs", lambda: "y", replica)


def test_a_name_unfit_for_the_header_is_refused() -> None:
    with pytest.raises(ValueError, match="X-Degraded"):
        FallbackChain("recs, evil=1", lambda: "y", default=None)


def test_a_chain_above_its_route_decorator_is_refused(app: Flask) -> None:
    guard = app.extensions["guard"]

    @app.get("/x")
    def view() -> str:
        return "x"

    with pytest.raises(TypeError, match="above the route decorator"):
        guard.fallback("x", default="")(view)


def test_a_chain_without_a_name_says_how_to_write_it(app: Flask) -> None:
    guard = app.extensions["guard"]

    def recommendations() -> list[str]:
        return []

    with pytest.raises(TypeError, match="needs a name and parentheses"):
        guard.fallback(recommendations)
