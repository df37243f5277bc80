"""A scripted upstream on a raw loopback socket: each request gets the bytes a script
returns, so it can loop redirects, send a gzip bomb or reset a connection mid-body, and
it counts the connections it sees."""

from __future__ import annotations

import gzip
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

#: ``answer(index, head)`` gets the request's number (0 for the first) and its head, and
#: returns the raw response, or None to reset the connection without answering.
Answer = Callable[[int, bytes], "bytes | None"]


@dataclass
class RawUpstream:
    """What a scripted upstream saw."""

    url: str
    heads: list[bytes] = field(default_factory=list)
    accepted: int = 0
    closed: int = 0

    @property
    def open(self) -> int:
        """Connections accepted and not closed yet."""
        return self.accepted - self.closed

    def header(self, index: int, name: str) -> str | None:
        """Return header ``name`` of request ``index``, or None."""
        for line in self.heads[index].decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


def response(status: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """Return a raw HTTP/1.1 response with a Content-Length."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def gzip_bomb(decoded_bytes: int) -> bytes:
    """Return a gzip body of zeros that decodes to ``decoded_bytes`` (about 1,000 times its
    size)."""
    return gzip.compress(b"\0" * decoded_bytes, compresslevel=9)


RESET = b"<reset>"
"""Put in a response's bytes: what comes before is sent, then the connection is reset."""


@contextmanager
def raw_upstream(answer: Answer, host: str = "127.0.0.1") -> Iterator[RawUpstream]:
    """Serve ``answer`` on a loopback port, keeping connections alive; yield what it saw.

    The URL uses ``host`` (``"localhost"`` names the same server as another host).
    """
    listener = socket.create_server(("127.0.0.1", 0))
    upstream = RawUpstream(f"http://{host}:{listener.getsockname()[1]}")
    lock = threading.Lock()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    connections: list[socket.socket] = []

    def serve(connection: socket.socket) -> None:
        buffer = b""
        try:
            while not stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    data = connection.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = _content_length(head)
                while len(buffer) < length:
                    data = connection.recv(65536)
                    if not data:
                        return
                    buffer += data
                buffer = buffer[length:]
                with lock:
                    index = len(upstream.heads)
                    upstream.heads.append(head)
                raw = answer(index, head)
                if raw is None:
                    _reset(connection)
                    return
                sent, reset, _ = raw.partition(RESET)
                connection.sendall(sent)
                if reset:
                    _reset(connection)
                    return
        except OSError:
            return
        finally:
            connection.close()
            with lock:
                upstream.closed += 1

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(None)
            with lock:
                upstream.accepted += 1
            connections.append(connection)
            thread = threading.Thread(target=serve, args=(connection,), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield upstream
    finally:
        stop.set()
        acceptor.join()
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join()
        listener.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _reset(connection: socket.socket) -> None:
    """Close with a TCP reset, as a crashed server would."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
