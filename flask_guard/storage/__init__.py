"""Where breaker state lives: the storage protocol, and the storage a setting names.

A breaker binds itself to a storage once (:meth:`BreakerStorage.bind`) and gets a
:class:`BreakerStore`: its state in that storage. The store keeps a local view of the state
(:attr:`BreakerStore.machine`) that the call path reads without a lock, runs every step
that changes it, and hands each transition to the breaker's listener once no lock is held.
A step that must wait on the network is not run at once: it comes back as a callable, which
a synchronous caller calls and an asynchronous one runs in a thread, so that an event loop
never waits on a storage.
"""

from __future__ import annotations

from .base import (
    BreakerHooks,
    BreakerStorage,
    BreakerStore,
    Command,
    CorruptStateError,
    FleetCounts,
    Remote,
    RemoteAdmission,
)
from .memory import MemoryStorage

__all__ = [
    "BreakerHooks",
    "BreakerStorage",
    "BreakerStore",
    "Command",
    "CorruptStateError",
    "FleetCounts",
    "MemoryStorage",
    "Remote",
    "RemoteAdmission",
    "open_storage",
]


def open_storage(setting: object, prefix: str) -> BreakerStorage:
    """Return the storage ``GUARD_BREAKER_STORAGE`` names."""
    if setting == "memory":
        return MemoryStorage()
    from .redis import RedisStorage  # redis is an optional extra

    if isinstance(setting, str):
        return RedisStorage.from_url(setting, prefix)
    return RedisStorage(setting, prefix)  # type: ignore[arg-type]
