"""Prometheus figures of degradation, read at scrape time: answers per fallback step, stale
answers, features on or off, the service level. Nothing is counted here on a call's path."""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from flask import Flask
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .levels import LEVEL_VALUES


class DegradeCollector(Collector):
    """Read every guarded app's chains, stale caches and features at scrape time."""

    def __init__(self, apps: weakref.WeakValueDictionary[int, Flask]) -> None:
        self.apps = apps

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        answers = CounterMetricFamily(
            "flask_guard_fallback_answers",
            "Calls answered by each step of a fallback chain (primary included), and by the "
            "fallback of a feature that is off (step off).",
            labels=["chain", "step"],
        )
        stale = CounterMetricFamily(
            "flask_guard_stale_answers",
            "Answers served stale because the source failed, by cache.",
            labels=["cache"],
        )
        enabled = GaugeMetricFamily(
            "flask_guard_feature_enabled",
            "1 while a feature is on, 0 while off.",
            labels=["feature"],
        )
        level = GaugeMetricFamily(
            "flask_guard_service_level", "The service level: 0 full, 1 degraded, 2 minimal."
        )
        seen: set[str] = set()
        for app in list(self.apps.values()):
            guard = app.extensions["guard"]
            for chain in guard.fallback_chains.values():
                if f"chain:{chain.name}" not in seen:
                    seen.add(f"chain:{chain.name}")
                    for step, count in chain.answers().items():
                        answers.add_metric([chain.name, step], count)
            served = [(cache.name, cache.served_stale) for cache in guard.stale_caches.values()]
            http = getattr(app.extensions.get("guard.session"), "stale", None)
            if http is not None:
                served.append(("upstream", http.served_stale))
            for name, count in served:
                if f"stale:{name}" not in seen:
                    seen.add(f"stale:{name}")
                    stale.add_metric([name], count)
            features = guard.features
            if len(features) and "level" not in seen:
                seen.add("level")
                level.add_metric([], LEVEL_VALUES[features.refresh()])
                for name, state in features.report().items():
                    enabled.add_metric([name], 1 if state["enabled"] else 0)
                    if features[name].fallback is not None:
                        answers.add_metric([name, "off"], features[name].fallback_answers)
        yield from (answers, stale, enabled, level)
