"""Hostile upstreams on loopback, built on raw sockets: they trickle, hang or answer late."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def trickling_upstream(
    *,
    head: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",
    trickle_head: bool = False,
    interval: float = 0.05,
) -> Iterator[str]:
    """Serve a response that arrives one byte every ``interval`` seconds, for ever.

    By default the head comes at once and the body trickles; with ``trickle_head`` the
    head itself trickles. Yields the URL; every connection is closed on exit.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def serve(connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            try:
                if not trickle_head:
                    connection.sendall(head)
                payload = head if trickle_head else b"x" * 10**6
                for index in range(len(payload)):
                    if stop.wait(interval):
                        return
                    connection.sendall(payload[index : index + 1])
            except OSError:
                return

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=serve, args=(connection,), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join()
        for thread in threads:
            thread.join()
        listener.close()
