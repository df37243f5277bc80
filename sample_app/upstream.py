"""Simulated payments and recommendations services, with chaos you set at run time.

``POST /_upstream/chaos`` with ``{"failure_rate": 0.5, "latency": 0.2}`` makes half of their
answers 503 and every answer 0.2 s slow; ``{"failure_rate": 0, "latency": 0}`` heals it.
The settings belong to the process that receives them.
"""

from __future__ import annotations

import random
import threading
import time

from flask import Blueprint, request

from flask_guard import ApiError, current_trace_id

upstream = Blueprint("upstream", __name__)

_chaos: dict[str, float] = {"failure_rate": 0.0, "latency": 0.0}
_lock = threading.Lock()


@upstream.get("/chaos")
def show_chaos() -> dict[str, float]:
    """Return the current failure rate and latency."""
    with _lock:
        return dict(_chaos)


@upstream.post("/chaos")
def set_chaos() -> dict[str, float]:
    """Set ``failure_rate`` (0 to 1) and ``latency`` (seconds, 0 to 30)."""
    body = request.get_json()
    if not isinstance(body, dict):
        raise ApiError.bad_request("Send a JSON object.")
    settings = {key: body.get(key, _chaos[key]) for key in _chaos}
    problems = [
        {"field": key, "message": f"Give a number from 0 to {limit}."}
        for key, limit in (("failure_rate", 1), ("latency", 30))
        if not isinstance(settings[key], int | float) or not 0 <= settings[key] <= limit
    ]
    if problems:
        raise ApiError.validation_error(problems)
    with _lock:
        _chaos.update({key: float(value) for key, value in settings.items()})
        return dict(_chaos)


@upstream.get("/recommendations/<int:order_id>")
def recommend(order_id: int) -> dict[str, object]:
    """Recommend what goes with an order, after the configured latency; fail at the rate."""
    with _lock:
        failure_rate, latency = _chaos["failure_rate"], _chaos["latency"]
    time.sleep(latency)
    if random.random() < failure_rate:
        raise ApiError.service_unavailable(message="The recommendations service is struggling.")
    return {"order_id": order_id, "items": ["burr grinder", "paper filters"]}


@upstream.put("/payments/charges/<int:order_id>")
def charge(order_id: int) -> dict[str, object]:
    """Charge an order, after the configured latency; fail at the configured rate."""
    with _lock:
        failure_rate, latency = _chaos["failure_rate"], _chaos["latency"]
    time.sleep(latency)
    if random.random() < failure_rate:
        raise ApiError.service_unavailable(message="The payments service is struggling.")
    return {
        "order_id": order_id,
        "charged": True,
        "request_id": request.headers.get("X-Request-ID"),
        "trace_id": current_trace_id(),
    }
