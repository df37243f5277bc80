"""Features an operator forced off: in this process, or for the fleet through Redis."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .shared import SharedRedis

#: Seconds between two reads of the fleet's forced features by one process.
REFRESH_INTERVAL = 1.0


class ForcedOff:
    """The names of features forced off, kept in this process only."""

    shared = False

    def __init__(self) -> None:
        self._names: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def names(self) -> frozenset[str]:
        """Return the features forced off."""
        return self._names

    def read_last(self) -> frozenset[str]:
        """Return the features forced off as last read, without reading again."""
        return self._names

    def force(self, name: str, off: bool) -> bool:
        """Force ``name`` off (or lift it); return whether every process sharing it took it."""
        with self._lock:
            self._names = self._names | {name} if off else self._names - {name}
        return False


class SharedForcedOff(ForcedOff):
    """The names of features forced off for every process, in a Redis hash.

    Each process reads the hash at most once per :data:`REFRESH_INTERVAL`, so a change made
    anywhere (``flask guard feature off``) is seen everywhere within about a second. While
    Redis does not answer, the last names read stay in force.
    """

    shared = True

    def __init__(self, shared: SharedRedis) -> None:
        super().__init__()
        self._shared = shared
        self._next_read = 0.0
        self._reading = threading.Lock()

    def names(self) -> frozenset[str]:
        """Return the features forced off, read again if the last read is old."""
        if time.monotonic() >= self._next_read and self._reading.acquire(blocking=False):
            try:  # one thread reads; the others go on with what was read last
                self._read()
            finally:
                self._reading.release()
        return self._names

    def _read(self) -> None:
        key = self._shared.features_key
        found = self._shared.ask("forcing features off", lambda client: client.hkeys(key), None)
        if found is not None:
            self._names = frozenset(n.decode() if isinstance(n, bytes) else n for n in found)
        self._next_read = time.monotonic() + REFRESH_INTERVAL

    def force(self, name: str, off: bool) -> bool:
        """Force ``name`` off for the fleet (or lift it); False if Redis did not take it."""
        key = self._shared.features_key
        if off:
            done = self._shared.ask(
                "forcing features off", lambda client: client.hset(key, name, "operator"), None
            )
        else:
            done = self._shared.ask(
                "forcing features off", lambda client: client.hdel(key, name), None
            )
        super().force(name, off)
        self._next_read = 0.0
        return done is not None
