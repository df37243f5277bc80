"""A small orders API guarded by flask-guard; run it with ``flask --app sample_app run``.

Orders are charged through a payments service, and come with recommendations from another.
The demo simulates both services in the same app, under ``/_upstream``, and
``/_upstream/chaos`` sets how often they fail and how slowly they answer, so you can watch
retries, the breaker, error ids and graceful degradation at work.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any, NoReturn

from flask import Flask, current_app, request

from flask_guard import ApiError, FlaskGuard, RequestIdFilter

from .upstream import upstream

guard = FlaskGuard()

#: Without payments the shop is only a catalogue: the service level is then "minimal".
guard.feature("checkout", depends_on=["payments"], essential=True)
#: Recommendations are nice to have: while their service is down (its breaker open) the shop
#: answers an empty list, marked ``X-Degraded: recommendations=off``.
recommendations = guard.feature(
    "recommendations",
    depends_on=["recommendations"],
    fallback=lambda order_id: {"order_id": order_id, "items": []},
)

ORDERS: dict[int, dict[str, Any]] = {
    1: {"id": 1, "item": "coffee beans", "quantity": 2, "status": "pending"},
}

DEFAULTS: dict[str, object] = {
    "PROPAGATE_EXCEPTIONS": False,  # the demo shows its 500s as JSON, in debug mode too
    "GUARD_HTTP_RETRIES": 2,
    "GUARD_HTTP_BACKOFF_FACTOR": 0.1,
    "GUARD_HTTP_TIMEOUT": (1.0, 2.0),
    "GUARD_BREAKER_DEFAULTS": {"failure_threshold": 3, "recovery_timeout": 10},
    "GUARD_HEALTH_CRITICAL_BREAKERS": ["payments"],
    "GUARD_METRICS_PATH": "/metrics" if importlib.util.find_spec("prometheus_client") else None,
    "PAYMENTS_URL": None,  # None: the simulated service in this app
}


def create_app(**config: object) -> Flask:
    """Create the demo app.

    Settings come from :data:`DEFAULTS`, then ``FLASK_*`` environment variables (e.g.
    ``FLASK_GUARD_BREAKER_STORAGE=redis://127.0.0.1:6379/0``), then ``config``.
    """
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env()
    app.config.update(config)
    guard.init_app(app)
    app.register_blueprint(upstream, url_prefix="/_upstream")
    _log_with_request_ids(app)

    @app.get("/orders")
    def list_orders() -> dict[str, object]:
        return {"orders": list(ORDERS.values())}

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int) -> dict[str, object]:
        return _order(order_id)

    @app.post("/orders")
    def create_order() -> tuple[dict[str, object], int]:
        order_id = max(ORDERS, default=0) + 1
        order = {"id": order_id, **_valid_order(request.get_json()), "status": "pending"}
        ORDERS[order_id] = order
        app.logger.info("Created order %s", order_id)
        return order, 201

    @app.post("/orders/<int:order_id>/pay")
    @guard.breaker("payments")
    def pay_order(order_id: int) -> dict[str, object]:
        order = _order(order_id)
        # PUT: idempotent, so the session may retry it when the service stumbles.
        response = guard.session.put(f"{_payments_url()}/charges/{order_id}", json=order)
        response.raise_for_status()
        order["status"] = "paid"
        return {"order": order, "payment": response.json()}

    @app.get("/orders/<int:order_id>/recommendations")
    @recommendations
    def order_recommendations(order_id: int) -> dict[str, object]:
        _order(order_id)
        return {"order_id": order_id, "items": _recommended(order_id)["items"]}

    @app.get("/_demo/crash")
    def crash() -> NoReturn:
        raise RuntimeError("the database password is hunter2")  # never shown to clients

    return app


def _order(order_id: int) -> dict[str, Any]:
    if order_id not in ORDERS:
        raise ApiError.not_found("Order")
    return ORDERS[order_id]


@guard.stale_if_error("recommendations", fresh=0, stale=300)
@guard.breaker("recommendations")
def _recommended(order_id: int) -> dict[str, Any]:
    """Ask the recommendations service; while it fails, its last answer (up to 5 minutes old)
    is served, marked ``X-Degraded: recommendations=stale``."""
    response = guard.session.get(f"{_upstream_url()}/recommendations/{order_id}")
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def _payments_url() -> str:
    configured = current_app.config["PAYMENTS_URL"]
    if configured:
        return str(configured)
    return f"{_upstream_url()}/payments"


def _upstream_url() -> str:
    # This server's own port, never the Host header a client sends.
    return f"http://127.0.0.1:{request.environ['SERVER_PORT']}/_upstream"


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
    """Log the app's and flask-guard's INFO lines with request ids: as JSON through the root
    logger when ``GUARD_LOG_JSON`` is on, else as text lines of their own."""
    json_lines = app.config["GUARD_LOG_JSON"]
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    for logger in (app.logger, logging.getLogger("flask_guard")):
        logger.setLevel(logging.INFO)
        # JSON: flask-guard gave the root logger's handlers the JSON format.
        logger.handlers = [] if json_lines else [handler]
        logger.propagate = json_lines
