"""A small orders API guarded by flask-guard; run it with ``flask --app sample_app run``."""

from __future__ import annotations

import logging
from typing import NoReturn

from flask import Flask, request

from flask_guard import ApiError, FlaskGuard, RequestIdFilter

guard = FlaskGuard()

ORDERS: dict[int, dict[str, object]] = {
    1: {"id": 1, "item": "coffee beans", "quantity": 2, "status": "paid"},
}


def create_app(**config: object) -> Flask:
    """Create the demo app; ``config`` updates ``app.config`` (tests use it)."""
    app = Flask(__name__)
    app.config.update(config)
    guard.init_app(app)
    _log_with_request_ids(app)

    @app.get("/orders")
    def list_orders() -> dict[str, object]:
        return {"orders": list(ORDERS.values())}

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int) -> dict[str, object]:
        if order_id not in ORDERS:
            raise ApiError.not_found("Order")
        return ORDERS[order_id]

    @app.post("/orders")
    def create_order() -> tuple[dict[str, object], int]:
        order_id = max(ORDERS, default=0) + 1
        order = {"id": order_id, **_valid_order(request.get_json()), "status": "pending"}
        ORDERS[order_id] = order
        app.logger.info("Created order %s", order_id)
        return order, 201

    @app.get("/_demo/crash")
    def crash() -> NoReturn:
        raise RuntimeError("the database password is hunter2")  # never shown to clients

    return app


def _valid_order(body: object) -> dict[str, object]:
    """Return the order fields of ``body``, or raise a 422 listing every problem."""
    if not isinstance(body, dict):
        raise ApiError.bad_request("The body must be a JSON object.")
    problems = []
    item, quantity = body.get("item"), body.get("quantity")
    if not isinstance(item, str) or not item.strip():
        problems.append({"field": "item", "message": "Give the item's name."})
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        problems.append({"field": "quantity", "message": "Give a whole number of at least 1."})
    if problems:
        raise ApiError.validation_error(problems)
    return {"item": item, "quantity": quantity}


def _log_with_request_ids(app: Flask) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    for logger in (app.logger, logging.getLogger("flask_guard")):
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
