"""Watch breaker state in a real Redis from a test: wait for it without sleeping."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import redis

from flask_guard import CircuitBreaker, CircuitState, signals

WAIT = 10


def key_of(prefix: str, name: str) -> str:
    """Return the key of breaker ``name``'s hash."""
    return f"{prefix}:{{{name}}}"


def wait_for_stored(
    client: redis.Redis | redis.RedisCluster, prefix: str, name: str, state: str
) -> dict[str, str]:
    """Wait until Redis holds breaker ``name`` in ``state``; return its hash.

    Subscribed before the first look, so a change made between the look and the wait is a
    message, not a miss.
    """
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.subscribe(f"{prefix}:breakers")
    deadline = time.monotonic() + WAIT
    try:
        while True:
            found: dict[bytes, bytes] = client.hgetall(key_of(prefix, name))  # type: ignore[assignment]
            stored = {k.decode(): v.decode() for k, v in found.items()}
            if stored.get("s") == state:
                return stored
            left = deadline - time.monotonic()
            assert left > 0, f"{name} never became {state} in Redis: {stored}"
            pubsub.get_message(timeout=min(left, 1.0))
    finally:
        pubsub.close()


class Partition:
    """A TCP relay to a server on loopback that a test can cut (bytes are lost, as on a
    network that lost its route: the client times out) and heal: one host losing Redis
    while the rest of the fleet keeps it."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._open = threading.Event()
        self._open.set()
        self._stopped = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every byte (in both directions) until healed."""
        self._open.clear()

    def heal(self) -> None:
        """Pass bytes on again."""
        self._open.set()

    def close(self) -> None:
        self._stopped = True
        self._open.set()
        for sock in self._sockets:
            sock.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target))
            self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self._open.is_set():  # bytes sent while cut are lost, never late
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            source.close()
            sink.close()


class Reports:
    """Every ``breaker_state_changed`` sent, by breaker; wait for one without polling."""

    def __init__(self) -> None:
        self.seen: list[tuple[CircuitBreaker, CircuitState, str]] = []
        self._changed = threading.Condition()
        signals.breaker_state_changed.connect(self._receive)

    def _receive(self, sender: CircuitBreaker, **kwargs: Any) -> None:
        with self._changed:
            self.seen.append((sender, kwargs["new"], kwargs["reason"]))
            self._changed.notify_all()

    def of(self, breaker: CircuitBreaker) -> list[tuple[CircuitState, str]]:
        """Return ``breaker``'s moves so far: (new state, reason)."""
        with self._changed:
            return [(new, reason) for sender, new, reason in self.seen if sender is breaker]

    def wait_for(self, breaker: CircuitBreaker, move: tuple[CircuitState, str]) -> None:
        """Wait until ``breaker`` has reported ``move``."""
        with self._changed:
            assert self._changed.wait_for(lambda: move in self.of(breaker), WAIT), self.seen

    def close(self) -> None:
        signals.breaker_state_changed.disconnect(self._receive)
