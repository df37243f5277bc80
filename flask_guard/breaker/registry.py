"""``guard.breakers``: circuit breakers by name, created on first use."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar

from ..storage import BreakerStorage, MemoryStorage, open_storage
from .breaker import CircuitBreaker
from .policy import OPTION_NAMES, policy_from, refuse_unknown

#: What ``guard.breaker(name, **options)`` accepts: the policy options, fallback and clock.
BREAKER_OPTIONS = OPTION_NAMES | {"fallback", "clock"}

P = ParamSpec("P")
R = TypeVar("R")


class BreakerRegistry(Mapping[str, CircuitBreaker]):
    """The breakers a :class:`~flask_guard.FlaskGuard` declared, by name.

    A breaker is built the first time it is used (usually inside a request, after
    ``init_app``), from ``GUARD_BREAKER_DEFAULTS`` updated with the options given to
    :meth:`~flask_guard.FlaskGuard.breaker`. Declaring a name again with other options is an
    error; declaring it again with the same options, or none, shares the breaker.
    """

    def __init__(self) -> None:
        self._options: dict[str, dict[str, Any]] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._defaults: dict[str, Any] | None = None
        self._storage: BreakerStorage = MemoryStorage()
        self._storage_setting: object = "memory"
        self._lock = threading.Lock()

    def declare(self, name: str, options: Mapping[str, Any]) -> None:
        """Record ``name``'s options, refusing options that conflict with earlier ones."""
        refuse_unknown(options, BREAKER_OPTIONS)
        with self._lock:
            known = self._options.setdefault(name, {})
            conflicts = sorted(k for k in options if k in known and known[k] != options[k])
            if conflicts:
                raise ValueError(
                    f"Circuit breaker {name!r} is already declared with other values for "
                    f"{', '.join(conflicts)}: { ({k: known[k] for k in conflicts})!r}"
                )
            if name in self._breakers and set(options) - set(known):
                raise ValueError(f"Circuit breaker {name!r} is already in use; declare it first")
            known.update(options)
            if self._defaults is not None:
                self._validate(name)

    def use_defaults(self, defaults: Mapping[str, Any], app_name: str) -> None:
        """Set the options every breaker starts from (``GUARD_BREAKER_DEFAULTS``)."""
        with self._lock:
            if self._defaults is not None and self._defaults != defaults:
                raise ValueError(
                    f"GUARD_BREAKER_DEFAULTS of app {app_name!r} differs from that of an app "
                    "already sharing this FlaskGuard; one FlaskGuard has one set of breakers"
                )
            if self._defaults is None and self._breakers and defaults:
                raise ValueError(
                    "GUARD_BREAKER_DEFAULTS arrived after breakers were used; call init_app "
                    "before the first call through a breaker"
                )
            self._defaults = dict(defaults)
            for name in self._options:
                self._validate(name)

    def use_storage(self, setting: object, prefix: str, app_name: str) -> None:
        """Share the breakers' state through ``setting`` (``GUARD_BREAKER_STORAGE``)."""
        with self._lock:
            if (setting, prefix) == self._storage_setting:
                return
            if self._storage_setting != "memory" or self._breakers:
                raise ValueError(
                    f"GUARD_BREAKER_STORAGE of app {app_name!r} differs from that of an app "
                    "sharing this FlaskGuard, or breakers were used before init_app"
                )
            self._storage_setting = (setting, prefix)
            self._storage = open_storage(setting, prefix)

    def _validate(self, name: str) -> None:
        """Check the options ``name`` will be built with, naming the breaker if they are bad."""
        options = {**(self._defaults or {}), **self._options[name]}
        try:
            policy_from({k: v for k, v in options.items() if k in OPTION_NAMES})
        except (TypeError, ValueError) as error:
            raise ValueError(f"Circuit breaker {name!r}: {error}") from None

    def __getitem__(self, name: str) -> CircuitBreaker:
        breaker = self._breakers.get(name)
        if breaker is not None:
            return breaker
        with self._lock:
            if name not in self._breakers:
                options = {**(self._defaults or {}), **self._options[name]}
                self._breakers[name] = CircuitBreaker(name, storage=self._storage, **options)
            return self._breakers[name]

    @property
    def ready(self) -> bool:
        """Whether ``init_app`` set the defaults: a breaker built before would miss them."""
        return self._defaults is not None

    def is_built(self, breaker: object) -> bool:
        """Return whether ``breaker`` is one of this registry's (built) breakers."""
        name = getattr(breaker, "name", None)
        return isinstance(name, str) and self._breakers.get(name) is breaker

    @property
    def storage_name(self) -> str:
        """``"memory"`` or ``"redis"``: where the breakers' state lives."""
        return self._storage.name

    def storage_healthy(self) -> bool:
        """Return whether the shared storage answers (always true in memory)."""
        return self._storage.healthy()

    def built(self) -> list[CircuitBreaker]:
        """Return the breakers built so far (declared ones are built on first use)."""
        return list(self._breakers.values())

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._options))

    def __len__(self) -> int:
        return len(self._options)

    def decorator(self, name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Return a decorator that runs a function (sync or async) through breaker ``name``."""

        def decorate(func: Callable[P, Any]) -> Callable[P, Any]:
            if inspect.iscoroutinefunction(func):
                return self._guard_async(name, func)
            guarded_by: Callable[P, Any] | None = None

            @functools.wraps(func)
            def guarded(*args: P.args, **kwargs: P.kwargs) -> Any:
                nonlocal guarded_by
                if guarded_by is None:
                    guarded_by = self[name](func)
                return guarded_by(*args, **kwargs)

            return guarded

        return decorate

    def _guard_async(
        self, name: str, func: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(func)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            return await self[name].call_async(func, *args, **kwargs)

        return guarded
