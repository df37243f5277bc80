"""Stale-if-error: answer with the last good value while the source fails.

::

    @guard.stale_if_error("recommendations", fresh=60, stale=3600)
    def recommendations(user_id): ...

Within ``fresh`` seconds of a good result the cache answers without calling the source (one
dict lookup: no Redis round trip either). After that the source is called; when it fails in
a way that falls through (the breakers' rules; an open breaker's rejection always), the last
good value is served if it is younger than ``stale`` seconds, and the answer is marked
degraded (``X-Degraded: recommendations=stale``). Never in a request with an unsafe method
(POST, PUT, PATCH, DELETE …), never older than ``stale``.

Values live in this process, at most ``max_entries`` per cache (the oldest written go
first), and, with ``GUARD_BREAKER_STORAGE`` set to Redis, also in Redis as JSON for the
fleet: a process that never fetched a key can still serve it stale.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from flask import has_request_context, request

from ..breaker.policy import ExceptionClasses
from ..logs.error_lines import describe
from ..signals import send_safely, stale_served
from ..validators import seconds, whole_number
from ..web.misuse import refuse_views
from .marking import check_name, mark_degraded
from .rules import FallThrough

if TYPE_CHECKING:
    from .shared import SharedValues

_log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: Methods whose requests may be answered with stale data.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_MAX_ENTRIES = 1000


class StaleCache:
    """Keep the last good result per key; serve it on failure within its stale TTL.

    :param name: the cache's name, in logs, metrics and the ``X-Degraded`` header.
    :param fresh: seconds a result is served without calling the source (0: always call).
    :param stale: seconds a result may be served when the source fails (at least ``fresh``).
    :param key: a function of the call's arguments returning its key (a string or another
        hashable); by default the arguments themselves.
    :param max_entries: keys kept in this process, at most.
    :param shared: where the fleet keeps last good values (Redis), or None.
    :param failure_on, ignore, is_failure: which failures may be answered with a stale
        value, with the breakers' rules.
    """

    def __init__(
        self,
        name: str,
        *,
        fresh: float,
        stale: float,
        key: Callable[..., Hashable] | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        shared: SharedValues | None = None,
        failure_on: ExceptionClasses = (Exception,),
        ignore: ExceptionClasses = (),
        is_failure: Callable[[BaseException], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = check_name("stale cache", name)
        if fresh != 0:
            seconds("fresh", fresh)
        self.fresh = float(fresh)
        self.stale = seconds("stale", stale)
        if self.stale < self.fresh:
            raise ValueError(f"stale must be at least fresh ({fresh}), got {stale!r}")
        self.max_entries = whole_number("max_entries", max_entries)
        self._key = key
        self._shared = shared
        self._falls_through = FallThrough(failure_on, ignore, is_failure)
        self._clock = clock
        # key -> (value, when it was good, by the clock). Read without a lock.
        self._entries: Bounded[tuple[Any, float]] = Bounded(self.max_entries)
        self.served_stale = 0

    def share(self, shared: SharedValues) -> None:
        """Keep last good values in ``shared`` too, for the fleet."""
        self._shared = shared

    def __repr__(self) -> str:
        return f"<StaleCache {self.name!r} fresh={self.fresh:g}s stale={self.stale:g}s>"

    def __len__(self) -> int:
        return len(self._entries)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``func`` (sync or async) so that its results are kept and served."""
        refuse_views(func, f"@guard.stale_if_error({self.name!r})")
        if inspect.iscoroutinefunction(func):
            return cast(Callable[P, R], self._decorate_async(func))
        entries, clock, fresh, key_of = self._entries, self._clock, self.fresh, self._key

        @functools.wraps(func)
        def cached(*args: P.args, **kwargs: P.kwargs) -> R:
            key = _key(args, kwargs) if key_of is None else key_of(*args, **kwargs)
            entry = entries.get(key)
            if entry is not None and clock() - entry[1] < fresh:
                return cast(R, entry[0])
            return self._refresh(func, key, args, kwargs)

        return cached

    def _decorate_async(self, func: Callable[..., Any]) -> Callable[..., Any]:
        entries, clock, fresh, key_of = self._entries, self._clock, self.fresh, self._key

        @functools.wraps(func)
        async def cached(*args: Any, **kwargs: Any) -> Any:
            key = _key(args, kwargs) if key_of is None else key_of(*args, **kwargs)
            entry = entries.get(key)
            if entry is not None and clock() - entry[1] < fresh:
                return entry[0]
            return await self._refresh_async(func, key, args, kwargs)

        return cached

    # The miss path: ask the fleet, call the source, keep or serve stale

    def _refresh(
        self, func: Callable[..., R], key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> R:
        now = self._clock()
        remote = self._load_fresh(key, now)
        if remote is not None and remote[1] < self.fresh:
            return cast(R, remote[0])
        try:
            value = func(*args, **kwargs)
        except Exception as error:
            return cast(R, self._stale_or_raise(key, error, remote, now))
        self.keep(key, value, now)
        if self._shared is not None:
            self._shared.save(self.name, key, value, self.stale)
        return value

    async def _refresh_async(
        self,
        func: Callable[..., Any],
        key: Hashable,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        import asyncio  # loaded by now: this runs in its event loop

        now = self._clock()
        remote = None
        if self._shared is not None:
            remote = await asyncio.to_thread(self._load_fresh, key, now)
            if remote is not None and remote[1] < self.fresh:
                return remote[0]
        try:
            value = await func(*args, **kwargs)
        except Exception as error:
            return self._stale_or_raise(key, error, remote, now)
        self.keep(key, value, now)
        if self._shared is not None:
            await asyncio.to_thread(self._shared.save, self.name, key, value, self.stale)
        return value

    def _load_fresh(self, key: Hashable, now: float) -> tuple[Any, float] | None:
        """Return the fleet's value of ``key`` (keeping it here when fresh), or None."""
        remote = None if self._shared is None else self._shared.load(self.name, key)
        if remote is not None and remote[1] < self.fresh:
            self.keep(key, remote[0], now - remote[1])
        return remote

    def keep(self, key: Hashable, value: Any, good_at: float) -> None:
        """Keep ``value`` as ``key``'s last good result, good at ``good_at`` (the clock's)."""
        self._entries.keep(key, (value, good_at))

    def _stale_or_raise(
        self, key: Hashable, error: Exception, remote: tuple[Any, float] | None, now: float
    ) -> Any:
        if not self._falls_through(error) or unsafe_request():
            raise error
        entry = self._entries.get(key)
        if entry is not None and now - entry[1] < self.stale:
            value, age = entry[0], now - entry[1]
        elif remote is not None and remote[1] < self.stale:
            value, age = remote
        else:
            raise error
        self.served_stale += 1
        _log.warning(
            "Stale cache %r answered with a value %.0f s old: the source failed (%s)",
            self.name,
            age,
            describe(error),
        )
        mark_degraded(self.name, "stale", "stale", f"{self.name}: stale value, {age:.0f} s old")
        send_safely(stale_served, self, age=age, exception=error)
        return value


class Bounded(dict[Hashable, T]):
    """A dict of at most ``max_entries`` items (and ``max_weight`` in all, by ``weigh``),
    read without a lock; the oldest written go first."""

    def __init__(
        self,
        max_entries: int,
        weigh: Callable[[T], int] | None = None,
        max_weight: float = math.inf,
    ) -> None:
        super().__init__()
        self.max_entries = max_entries
        self.max_weight = max_weight
        self.weight = 0
        self._weigh = weigh
        self._lock = threading.Lock()

    def keep(self, key: Hashable, value: T) -> None:
        """Set ``key`` to ``value``, as the newest entry."""
        weigh = self._weigh
        with self._lock:
            self._forget(key)
            self[key] = value
            self.weight += 0 if weigh is None else weigh(value)
            while len(self) > self.max_entries or self.weight > self.max_weight:
                self._forget(next(iter(self)))

    def drop(self, key: Hashable) -> None:
        """Forget ``key``."""
        with self._lock:
            self._forget(key)

    def _forget(self, key: Hashable) -> None:
        old = self.pop(key, None)
        if old is not None and self._weigh is not None:
            self.weight -= self._weigh(old)


def _key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
    return args if not kwargs else (args, tuple(sorted(kwargs.items())))


def unsafe_request() -> bool:
    """Return whether a request with an unsafe method is running (no stale data for it)."""
    return has_request_context() and request.method not in SAFE_METHODS
