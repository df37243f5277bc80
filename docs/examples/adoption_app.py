"""The adoption steps of docs/adoption.rst as one app factory (the tests run it)."""

from __future__ import annotations

import logging.config

from flask import Blueprint, Flask, g

from flask_guard import ApiError, FlaskGuard

# Step 2: one guard for the module; the factory calls init_app last.
guard = FlaskGuard()

api = Blueprint("api", __name__, url_prefix="/api")


@api.get("/orders/<int:order_id>")
def get_order(order_id: int) -> dict[str, object]:
    if order_id != 1:
        raise ApiError.not_found("Order")
    return {"id": order_id, "request_id": g.request_id}


@api.get("/rates")
@guard.breaker("rates", failure_threshold=5, recovery_timeout=30)
def rates() -> dict[str, object]:
    # Step 4: outgoing calls through guard.session (retries, deadline, request id sent on).
    answer: dict[str, object] = guard.session.get("http://127.0.0.1:9/rates").json()
    return answer


def configure_logging() -> None:
    """Step 3: ``%(request_id)s`` in every line; the guard's own loggers stay enabled."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"request_id": {"()": "flask_guard.RequestIdFilter"}},
            "formatters": {
                "line": {"format": "%(levelname)s %(name)s [%(request_id)s] %(message)s"}
            },
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "filters": ["request_id"],
                    "formatter": "line",
                }
            },
            "root": {"level": "INFO", "handlers": ["console"]},
        }
    )


def create_app(config: dict[str, object] | None = None) -> Flask:
    """Build the app: config first, then blueprints, then the guard."""
    app = Flask(__name__)
    # Step 6: FLASK_GUARD_HEALTH_TOKEN=... in the environment becomes GUARD_HEALTH_TOKEN.
    app.config.from_prefixed_env()
    app.config.update(config or {})
    configure_logging()
    app.register_blueprint(api)
    guard.init_app(app)  # last: it reads the GUARD_* settings once
    return app
