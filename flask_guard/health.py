"""The health endpoint: breaker states and the storage's health, for load balancers and people."""

from __future__ import annotations

from collections.abc import Collection

from flask import Flask, current_app
from werkzeug.sansio.response import Response

from .breaker import CircuitBreaker
from .breaker_policy import CircuitState
from .bulkhead import Bulkhead, BulkheadStats


def health_report(
    breakers: Collection[CircuitBreaker],
    storage: str,
    storage_healthy: bool,
    critical: Collection[str],
    bulkheads: Collection[Bulkhead] = (),
) -> tuple[dict[str, object], int]:
    """Return the health document and its status: 503 when a critical breaker is open."""
    states = {breaker.name: _summary(breaker) for breaker in breakers}
    open_critical = sorted(
        name for name in critical if states.get(name, {}).get("state") == CircuitState.OPEN.value
    )
    all_closed = all(s["state"] == CircuitState.CLOSED.value for s in states.values())
    document: dict[str, object] = {
        "status": "ok" if all_closed and storage_healthy else "degraded",
        "breakers": states,
        "storage": {"backend": storage, "healthy": storage_healthy},
    }
    if bulkheads:
        document["bulkheads"] = {
            stats.name: _bulkhead_summary(stats)
            for stats in (bulkhead.stats for bulkhead in bulkheads)
        }
    if open_critical:
        document["critical_open"] = open_critical
    return document, 503 if open_critical else 200


def _bulkhead_summary(stats: BulkheadStats) -> dict[str, object]:
    return {
        "in_flight": stats.in_flight,
        "max_concurrent": stats.max_concurrent,
        "rejections": stats.rejections,
    }


def _summary(breaker: CircuitBreaker) -> dict[str, object]:
    stats = breaker.stats
    state = stats.state
    if state is CircuitState.OPEN and not stats.forced and stats.retry_after == 0:
        # Due for a trial: it goes half-open with the next call. Reporting it open would keep
        # a load balancer from ever sending that call.
        state = CircuitState.HALF_OPEN
    return {
        "state": state.value,
        "failures": stats.failures,
        "retry_after": round(stats.retry_after, 3),
    }


def install_health(app: Flask, path: str, critical: Collection[str]) -> None:
    """Serve the health document at ``path`` (GET and HEAD)."""

    def health() -> Response:
        guard = current_app.extensions["guard"]
        registry = guard.breakers
        document, status = health_report(
            [registry[name] for name in registry],
            registry.storage_name,
            registry.storage_healthy(),
            critical,
            guard.all_bulkheads(),
        )
        response = current_app.json.response(document)
        response.status_code = status
        response.headers["Cache-Control"] = "no-store"
        return response

    app.add_url_rule(path, endpoint="flask_guard_health", view_func=health, methods=["GET"])
