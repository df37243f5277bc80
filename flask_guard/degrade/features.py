"""Features that switch off while a dependency is down, or when an operator says so.

::

    recommendations = guard.feature("recommendations", depends_on=["recs-api"],
                                    fallback=lambda *args, **kwargs: {"items": []})

    @app.get("/products/<int:pid>/recommendations")
    @recommendations
    def product_recommendations(pid): ...

    if guard.feature_enabled("recommendations"): ...

A feature is off while any breaker it depends on is open (half-open is on: trial calls must
get through to close it again), or while it is forced off (``flask guard feature off``,
shared by the fleet through the breakers' Redis). A function or view guarded by a feature
that is off answers its ``fallback`` (marked ``X-Degraded: <feature>=off``), or raises a
503 ``SERVICE_UNAVAILABLE`` with ``Retry-After``. Each change is logged once, signalled,
and moves the service level (:mod:`.levels`).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

from ..breaker.policy import CircuitState
from ..breaker.registry import BreakerRegistry
from ..errors.exceptions import ApiError
from ..signals import breaker_state_changed, feature_changed, send_safely
from ..web.misuse import refuse_views
from .forced import ForcedOff
from .levels import ServiceLevel, announce_level, level_of
from .marking import check_name, mark_degraded

_log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: The ``Retry-After`` (seconds) of a feature an operator forced off: no breaker says when.
FORCED_RETRY_AFTER = 60
FEATURE_OFF_MESSAGE = "This feature is temporarily unavailable."


@dataclass(frozen=True, slots=True)
class FeatureState:
    """Whether a feature is on, and if not, why and for how long at least."""

    name: str
    enabled: bool
    reason: str | None
    """``"forced"``, or ``"breaker <name> open"``; None while on."""
    retry_after: float


class Feature:
    """A part of the app that can be switched off; call it to guard a function or a view."""

    def __init__(
        self,
        features: Features,
        name: str,
        depends_on: tuple[str, ...],
        essential: bool,
        fallback: Callable[..., Any] | None,
    ) -> None:
        self.name = name
        self.depends_on = depends_on
        self.essential = essential
        self.fallback = fallback
        self._features = features
        self._fallback_answers = itertools.count(1)
        self.fallback_answers = 0

    def options(self) -> dict[str, object]:
        """Return what the feature was declared with."""
        return {
            "depends_on": self.depends_on,
            "essential": self.essential,
            "fallback": self.fallback,
        }

    @property
    def enabled(self) -> bool:
        """Whether the feature is on now."""
        return self._features.state(self.name).enabled

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Run ``func`` (sync or async, or a view) only while the feature is on."""
        refuse_views(func, f"@guard.feature({self.name!r})")
        state = self._features.state
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                now = state(self.name)
                if not now.enabled:
                    answer = self._off(now, args, kwargs)
                    return await answer if inspect.isawaitable(answer) else answer
                return await func(*args, **kwargs)

            return cast(Callable[P, R], guarded_async)

        @functools.wraps(func)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            now = state(self.name)
            if not now.enabled:
                return cast(R, self._off(now, args, kwargs))
            return func(*args, **kwargs)

        return guarded

    def _off(self, state: FeatureState, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.fallback is None:
            raise ApiError.service_unavailable(state.retry_after, FEATURE_OFF_MESSAGE)
        self.fallback_answers = next(self._fallback_answers)
        mark_degraded(self.name, "off", "feature", f"{self.name}: off ({state.reason})")
        return self.fallback(*args, **kwargs)


class Features(Mapping[str, Feature]):
    """A guard's features, by name, and the service level they make."""

    def __init__(self, breakers: BreakerRegistry) -> None:
        self._breakers = breakers
        self._features: dict[str, Feature] = {}
        self._forced = ForcedOff()
        self._enabled: dict[str, bool] = {}
        self._level: ServiceLevel | None = None
        self._lock = threading.Lock()
        # Weakly: the guard's features go with the guard.
        breaker_state_changed.connect(self.on_breaker_changed)

    def declare(
        self,
        name: str,
        depends_on: Sequence[str] = (),
        essential: bool = False,
        fallback: Callable[..., Any] | None = None,
    ) -> Feature:
        """Declare feature ``name`` (again: with the same options, it is the same feature)."""
        check_name("feature", name)
        if isinstance(depends_on, str):
            raise TypeError(f"depends_on must be a list of breaker names, got {depends_on!r}")
        for breaker in depends_on:
            self._breakers.declare(breaker, {})
        feature = Feature(self, name, tuple(depends_on), bool(essential), fallback)
        with self._lock:
            known = self._features.setdefault(name, feature)
        if known is not feature and known.options() != feature.options():
            raise ValueError(
                f"feature {name!r} is already declared with {known.options()}; "
                f"got {feature.options()}"
            )
        return known

    def use_forced(self, forced: ForcedOff) -> None:
        """Keep the features forced off in ``forced`` (shared through Redis, or not)."""
        self._forced = forced

    @property
    def shared(self) -> bool:
        """Whether forcing a feature off reaches every process."""
        return self._forced.shared

    def __getitem__(self, name: str) -> Feature:
        return self._features[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._features))

    def __len__(self) -> int:
        return len(self._features)

    def state(self, name: str) -> FeatureState:
        """Return whether feature ``name`` is on now, and note a change."""
        feature = self._features[name]
        state = self._evaluate(feature, self._forced.names())
        if self._enabled.get(name) is not state.enabled:
            self._changed(state)
        return state

    def force(self, name: str, off: bool) -> bool:
        """Force feature ``name`` off, or lift that; return whether the fleet took it."""
        if name not in self._features:
            raise KeyError(name)
        shared = self._forced.force(name, off)
        self.refresh()
        return shared

    def refresh(self) -> ServiceLevel:
        """Evaluate every feature, note the changes; return the service level."""
        if not self._features:
            return ServiceLevel.FULL
        return self._refresh(self._forced.names())

    def _refresh(self, forced: frozenset[str]) -> ServiceLevel:
        for feature in list(self._features.values()):
            state = self._evaluate(feature, forced)
            if self._enabled.get(feature.name) is not state.enabled:
                self._changed(state)
        return self._level or ServiceLevel.FULL

    @property
    def level(self) -> ServiceLevel:
        """The service level, as of the latest evaluation."""
        if self._level is None:
            return self.refresh()
        return self._level

    def report(self) -> dict[str, dict[str, object]]:
        """Return each feature's state, for the health document and the CLI."""
        report: dict[str, dict[str, object]] = {}
        for name in sorted(self._features):
            state = self.state(name)
            report[name] = {
                "enabled": state.enabled,
                "reason": state.reason,
                "essential": self._features[name].essential,
                "depends_on": list(self._features[name].depends_on),
            }
        return report

    def on_breaker_changed(self, breaker: object, **kwargs: object) -> None:
        """Re-evaluate the features when one of this guard's breakers changed state.

        With the features forced off as last read: this may run in a call's path (an event
        loop's, even), which must not wait for Redis.
        """
        if self._features and self._breakers.is_built(breaker):
            self._refresh(self._forced.read_last())

    def _evaluate(self, feature: Feature, forced: frozenset[str]) -> FeatureState:
        if feature.name in forced:
            return FeatureState(feature.name, False, "forced", FORCED_RETRY_AFTER)
        if not self._breakers.ready:  # before init_app no breaker ran: none is open
            return FeatureState(feature.name, True, None, 0.0)
        for dependency in feature.depends_on:
            breaker = self._breakers[dependency]
            if breaker.state is CircuitState.OPEN:
                wait = breaker.stats.retry_after
                return FeatureState(feature.name, False, f"breaker {dependency} open", wait)
        return FeatureState(feature.name, True, None, 0.0)

    def _changed(self, state: FeatureState) -> None:
        with self._lock:
            before = self._enabled.get(state.name)
            if before is state.enabled:
                return  # another thread noted it first
            self._enabled[state.name] = state.enabled
            old, new, off = self._set_level()
        if before is not None or not state.enabled:
            _log.log(
                logging.INFO if state.enabled else logging.WARNING,
                "Feature %r is %s%s",
                state.name,
                "on" if state.enabled else "off",
                "" if state.enabled else f" ({state.reason})",
            )
            send_safely(
                feature_changed,
                self,
                feature=state.name,
                enabled=state.enabled,
                reason=state.reason,
            )
        if old is not new:
            announce_level(self, old, new, off)

    def _set_level(self) -> tuple[ServiceLevel | None, ServiceLevel, list[str]]:
        """Recompute the level from the noted states (under the lock)."""
        off = sorted(name for name, enabled in self._enabled.items() if not enabled)
        essential = {name for name, feature in self._features.items() if feature.essential}
        old, self._level = self._level, level_of(off, essential)
        return old, self._level, off
