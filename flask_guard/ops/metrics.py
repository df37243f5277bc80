"""Prometheus metrics (extra ``flask-api-guard[prometheus]``): breakers, error responses, retries.

Breaker figures are read from the breakers when Prometheus scrapes, so calls pay nothing for
them; error responses and retries are counted from the signals.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator

from flask import Flask, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..breaker.policy import CircuitState
from ..breaker.registry import BreakerRegistry
from ..degrade.metrics import DegradeCollector
from ..errors.report import report_for
from ..sentry.losses import LOST
from ..signals import error_handled, retry_attempted
from .health import require_token
from .routes import add_guard_route

STATE_VALUES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


class _BreakerCollector(Collector):
    """Read every guard's breakers at scrape time."""

    def __init__(self) -> None:
        # By id: a registry is a Mapping, and mappings are not hashable.
        self.registries: weakref.WeakValueDictionary[int, BreakerRegistry] = (
            weakref.WeakValueDictionary()
        )

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        state = GaugeMetricFamily(
            "flask_guard_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            labels=["breaker"],
        )
        failures = CounterMetricFamily(
            "flask_guard_breaker_failures",
            "Failed calls counted by a breaker.",
            labels=["breaker"],
        )
        rejections = CounterMetricFamily(
            "flask_guard_breaker_rejections", "Calls a breaker rejected.", labels=["breaker"]
        )
        seen: set[str] = set()  # apps sharing a breaker name would give duplicate samples
        for registry in list(self.registries.values()):
            for breaker in registry.built():
                if breaker.name in seen:
                    continue
                seen.add(breaker.name)
                stats = breaker.stats
                state.add_metric([stats.name], STATE_VALUES[stats.state])
                failures.add_metric([stats.name], stats.total_failures)
                rejections.add_metric([stats.name], stats.rejections)
        yield from (state, failures, rejections)


class _LostEventsCollector(Collector):
    """Read, at scrape time, how many error events did not reach Sentry."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        lost = CounterMetricFamily(
            "flask_guard_sentry_events_lost",
            "Error events that did not reach Sentry, by reason (ids are logged).",
            labels=["reason"],
        )
        for reason, count in sorted(LOST.totals().items()):
            lost.add_metric([reason], count)
        yield lost


class _BulkheadCollector(Collector):
    """Read every guarded app's bulkheads at scrape time."""

    def __init__(self) -> None:
        self.apps: weakref.WeakValueDictionary[int, Flask] = weakref.WeakValueDictionary()

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        in_flight = GaugeMetricFamily(
            "flask_guard_bulkhead_in_flight", "Calls in flight in a bulkhead.", labels=["bulkhead"]
        )
        rejections = CounterMetricFamily(
            "flask_guard_bulkhead_rejections", "Calls a bulkhead rejected.", labels=["bulkhead"]
        )
        seen: set[str] = set()
        for app in list(self.apps.values()):
            for bulkhead in app.extensions["guard"].all_bulkheads(app):
                stats = bulkhead.stats
                if stats.name not in seen:
                    seen.add(stats.name)
                    in_flight.add_metric([stats.name], stats.in_flight)
                    rejections.add_metric([stats.name], stats.rejections)
        yield from (in_flight, rejections)


class _Metrics:
    """The process's metrics, created once: Prometheus refuses a name registered twice."""

    def __init__(self) -> None:
        self.breakers = _BreakerCollector()
        REGISTRY.register(self.breakers)
        REGISTRY.register(_LostEventsCollector())
        self.bulkheads = _BulkheadCollector()
        REGISTRY.register(self.bulkheads)
        REGISTRY.register(DegradeCollector(self.bulkheads.apps))
        self.errors = Counter(
            "flask_guard_error_responses",
            "Error responses by envelope code and HTTP status.",
            ["code", "status"],
        )
        self.retries = Counter(
            "flask_guard_retries", "Retries made by retry_with_backoff.", ["function"]
        )
        error_handled.connect(self._on_error)
        retry_attempted.connect(self._on_retry)

    def _on_error(self, app: Flask, error: Exception, error_id: str, status: int) -> None:
        self.errors.labels(report_for(error).code, str(status)).inc()

    def _on_retry(self, func: object, **kwargs: object) -> None:
        self.retries.labels(getattr(func, "__qualname__", repr(func))).inc()


_metrics: _Metrics | None = None
_lock = threading.Lock()


def install_metrics(
    app: Flask, path: str, registry: BreakerRegistry, token: str | None = None
) -> None:
    """Count ``app``'s errors and breakers and serve every metric of the process at ``path``
    (to requests bearing ``token``, when one is set)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = _Metrics()
        _metrics.breakers.registries[id(registry)] = registry
        _metrics.bulkheads.apps[id(app)] = app

    def metrics() -> Response:
        require_token(token)
        return Response(generate_latest(REGISTRY), mimetype=CONTENT_TYPE_LATEST)

    add_guard_route(app, "metrics", path, metrics, ["GET"])
