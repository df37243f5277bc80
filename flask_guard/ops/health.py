"""The health endpoint: a status (and the service level) for anyone; breakers, storage,
custom checks and features for the operator."""

from __future__ import annotations

import hmac
from collections.abc import Collection
from typing import TYPE_CHECKING, cast

from flask import Flask, Response, current_app, request

from ..breaker.breaker import CircuitBreaker
from ..breaker.policy import CircuitState
from ..errors.exceptions import ApiError
from ..errors.record import STATUS_REPORT_KEY
from ..resilience.bulkhead import Bulkhead, BulkheadStats
from .checks import CheckResult
from .routes import add_guard_route

if TYPE_CHECKING:
    from ..degrade.features import Features


def health_report(
    breakers: Collection[CircuitBreaker],
    storage: str,
    storage_healthy: bool,
    critical: Collection[str],
    bulkheads: Collection[Bulkhead] = (),
) -> tuple[dict[str, object], int]:
    """Return the full health document and its status.

    ``status`` is ``"unavailable"`` (503) when a critical breaker is open, ``"degraded"``
    when any breaker is not closed or the storage is unreachable, else ``"ok"``.
    """
    states = {breaker.name: _summary(breaker) for breaker in breakers}
    open_critical = sorted(
        name for name in critical if states.get(name, {}).get("state") == CircuitState.OPEN.value
    )
    all_closed = all(s["state"] == CircuitState.CLOSED.value for s in states.values())
    status = "ok" if all_closed and storage_healthy else "degraded"
    document: dict[str, object] = {
        "status": "unavailable" if open_critical else status,
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


def fold_checks(document: dict[str, object], status: int, results: Collection[CheckResult]) -> int:
    """Add the results of the custom checks to ``document``; return the HTTP status.

    A failing check makes an ``"ok"`` status ``"degraded"``; a failing critical check makes
    it ``"unavailable"`` (503).
    """
    if not results:
        return status
    document["checks"] = {
        result.name: {
            "ok": result.ok,
            "duration": round(result.duration, 3),
            "error": result.error,
        }
        for result in results
    }
    failing = [result for result in results if not result.ok]
    critical = sorted(result.name for result in failing if result.critical)
    if critical:
        document["status"] = "unavailable"
        document["critical_failing"] = critical
        return 503
    if failing and document["status"] == "ok":
        document["status"] = "degraded"
    return status


def fold_features(document: dict[str, object], features: Features) -> None:
    """Add the service level and each feature's state to ``document``, if any is declared."""
    if len(features):
        document["level"] = features.refresh().value
        document["features"] = features.report()


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


# What anyone may read: the status, and the service level when features are declared.
_PUBLIC = ("status", "level")


def bears_token(token: str | None) -> bool:
    """Return whether the request carries ``Authorization: Bearer <token>`` (constant time)."""
    if token is None:
        return False
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )


def require_token(token: str | None) -> None:
    """Raise a 401 unless ``token`` is unset or the request bears it."""
    if token is not None and not bears_token(token):
        error = ApiError.unauthorized("This endpoint needs the operator's bearer token.")
        error.headers["WWW-Authenticate"] = "Bearer"
        raise error


def install_health(
    app: Flask, path: str, critical: Collection[str], token: str | None = None
) -> None:
    """Serve the health status at ``path`` (GET and HEAD): ``{"status": ...}`` for anyone,
    the whole document for a request bearing ``token``."""

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
        status = fold_checks(document, status, guard.health_checks.run())
        fold_features(document, guard.features)
        if not bears_token(token):
            document = {key: document[key] for key in _PUBLIC if key in document}
        response = cast(Response, current_app.json.response(document))  # the app's class
        response.status_code = status
        response.headers["Cache-Control"] = "no-store"
        request.environ[STATUS_REPORT_KEY] = True
        return response

    add_guard_route(app, "health", path, health, ["GET"])
