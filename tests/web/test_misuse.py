"""A guard decorator placed above a route decorator is refused as the code is imported."""

from __future__ import annotations

import pytest
from flask import Blueprint, Flask

from flask_guard import FlaskGuard

from ..conftest import make_app

FIX = r"put @guard.breaker below the route decorator"


def failing() -> str:
    raise ConnectionError("payments down")


def test_breaker_above_an_app_route_is_refused_at_decoration() -> None:
    app = make_app()
    guard = FlaskGuard(app)
    with pytest.raises(TypeError, match=FIX) as caught:

        @guard.breaker("payments")
        @app.get("/pay")
        def pay() -> str:
            return failing()

    assert "@guard.breaker('payments') is above the route decorator of the view 'pay'" in str(
        caught.value
    )


def test_breaker_below_the_route_is_accepted_and_protects_the_view() -> None:
    app = make_app()
    guard = FlaskGuard(app)

    @app.get("/pay")
    @guard.breaker("payments", failure_threshold=1)
    def pay() -> str:
        return failing()

    client = app.test_client()
    assert client.get("/pay").status_code == 500
    assert client.get("/pay").status_code == 503


def test_breaker_on_a_plain_function_is_accepted() -> None:
    app = make_app()
    guard = FlaskGuard(app)

    @guard.breaker("payments")
    def charge() -> int:
        return 1

    @app.get("/pay")
    def pay() -> dict[str, int]:
        return {"charged": charge()}

    assert app.test_client().get("/pay").get_json() == {"charged": 1}


def test_blueprint_view_wrapped_from_above_is_refused_when_registered_after_init_app() -> None:
    guard = FlaskGuard()
    orders = Blueprint("orders", __name__)

    @guard.breaker("payments")
    @orders.post("/pay")
    def pay() -> str:
        return failing()

    app = make_app()
    guard.init_app(app)
    with pytest.raises(TypeError, match=FIX):
        app.register_blueprint(orders)


def test_blueprint_view_wrapped_from_above_is_refused_at_init_app() -> None:
    guard = FlaskGuard()
    orders = Blueprint("orders", __name__)

    @guard.breaker("payments")
    @orders.route("/pay", methods=["POST"])
    def pay() -> str:
        return failing()

    app = make_app()
    app.register_blueprint(orders)
    with pytest.raises(TypeError, match=r"of the view 'orders.pay'.*" + FIX):
        guard.init_app(app)


def test_factory_routes_wrapped_from_above_are_refused_before_or_after_init_app() -> None:
    guard = FlaskGuard()

    def create_app(init_first: bool) -> Flask:
        app = make_app()
        if init_first:
            guard.init_app(app)

        @guard.breaker("payments")
        @app.get("/pay")
        def pay() -> str:
            return failing()

        if not init_first:
            guard.init_app(app)
        return app

    with pytest.raises(TypeError, match=FIX):
        create_app(init_first=True)
    with pytest.raises(TypeError, match=FIX):
        create_app(init_first=False)


def test_a_function_routed_correctly_in_one_app_is_not_refused_in_another() -> None:
    guard = FlaskGuard()
    first, second = make_app(), make_app()
    guard.init_app(first)
    guard.init_app(second)

    def pay() -> str:
        return "paid"

    guarded = guard.breaker("payments")(pay)
    first.add_url_rule("/pay", view_func=guarded)
    second.add_url_rule("/pay", view_func=guarded)
    assert second.test_client().get("/pay").get_data(as_text=True) == "paid"


def test_bulkhead_above_an_app_route_is_refused_naming_the_fix() -> None:
    app = make_app()
    guard = FlaskGuard(app)
    with pytest.raises(TypeError, match=r"put @guard.bulkhead below the route decorator"):

        @guard.bulkhead("reports", max_concurrent=2)
        @app.get("/report")
        def report() -> str:
            return "ok"


def test_bulkhead_above_a_blueprint_route_is_refused_when_the_blueprint_registers() -> None:
    app = make_app()
    guard = FlaskGuard(app)
    blueprint = Blueprint("reports", __name__)

    @guard.bulkhead("reports", max_concurrent=2)
    @blueprint.get("/report")
    def report() -> str:
        return "ok"

    with pytest.raises(TypeError, match=r"put @guard.bulkhead below the route decorator"):
        app.register_blueprint(blueprint)


def test_a_breaker_without_name_or_parentheses_is_refused_at_decoration() -> None:
    guard = FlaskGuard(make_app())
    with pytest.raises(TypeError, match=r'write @guard.breaker\("payments"\) above the function'):

        @guard.breaker  # type: ignore[arg-type]
        def charge() -> str:
            return "ok"


def test_a_bulkhead_without_a_name_is_refused() -> None:
    guard = FlaskGuard(make_app())
    with pytest.raises(TypeError, match="needs a non-empty name"):
        guard.bulkhead("", max_concurrent=2)


def test_a_misspelt_breaker_option_names_the_option_meant() -> None:
    guard = FlaskGuard(make_app())
    with pytest.raises(TypeError, match=r"'failure_treshold' -> 'failure_threshold'"):
        guard.breaker("payments", failure_treshold=3)


def test_init_app_with_a_blueprint_names_the_fix() -> None:
    with pytest.raises(TypeError, match=r"not the blueprint 'api': call guard\.init_app"):
        FlaskGuard().init_app(Blueprint("api", __name__))  # type: ignore[arg-type]


def test_init_app_with_the_factory_itself_names_the_fix() -> None:
    with pytest.raises(TypeError, match=r"call the factory first"):
        FlaskGuard().init_app(make_app)  # type: ignore[arg-type]
