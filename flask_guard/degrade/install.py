"""Set degradation up for an app at ``init_app``: what the breakers' storage shares, and
stale-if-error on the app's session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .chain import FallbackChain
from .features import Features
from .stale import StaleCache

if TYPE_CHECKING:
    import requests

    from .shared import SharedValues

P = ParamSpec("P")
R = TypeVar("R")

#: URLs whose last good response the session keeps, at most.
HTTP_MAX_ENTRIES = 1000


class Degradation:
    """A guard's fallback chains, stale caches and features, and where they share state."""

    def __init__(self, features: Features) -> None:
        self.features = features
        self.fallback_chains: dict[str, FallbackChain[Any, Any]] = {}
        self.stale_caches: dict[str, StaleCache] = {}
        self._shared: SharedValues | None = None

    def add_chain(self, chain: FallbackChain[P, R]) -> FallbackChain[P, R]:
        """Keep ``chain`` by name; a name is declared once."""
        if self.fallback_chains.setdefault(chain.name, chain) is not chain:
            raise ValueError(f"fallback chain {chain.name!r} is already declared")
        return chain

    def add_cache(self, cache: StaleCache) -> StaleCache:
        """Keep ``cache`` by name (sharing it if the storage is shared already)."""
        known = self.stale_caches.setdefault(cache.name, cache)
        if known is not cache:
            raise ValueError(f"stale cache {cache.name!r} is already declared")
        if self._shared is not None:
            cache.share(self._shared)
        return cache

    def use_storage(self, setting: object, prefix: str) -> None:
        """Share forced features and last good values through ``GUARD_BREAKER_STORAGE``."""
        if setting == "memory" or self._shared is not None:
            return
        from .forced import SharedForcedOff  # redis is an optional extra
        from .shared import SharedRedis, SharedValues

        shared = SharedRedis(setting, prefix)
        self.features.use_forced(SharedForcedOff(shared))
        self._shared = SharedValues(shared)
        for cache in self.stale_caches.values():
            cache.share(self._shared)


def add_http_stale(session: requests.Session, setting: bool | float) -> None:
    """Give the guard's ``session`` stale-if-error for its GETs, unless ``setting`` is False."""
    from ..outbound.session import GuardSession
    from .http_stale import HttpStale

    if setting is False or not isinstance(session, GuardSession):
        return

    default = None if setting is True else float(setting)
    session.stale = HttpStale(default, HTTP_MAX_ENTRIES)
