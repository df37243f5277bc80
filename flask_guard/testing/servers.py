"""Servers for tests: a Sentry ingest the real SDK transport posts to, a throwaway
``redis-server``, and a free loopback port."""

from __future__ import annotations

import gzip
import importlib
import json
import signal
import socket
import subprocess
import threading
import time
import zlib
from collections.abc import Iterable
from typing import Any

from werkzeug import Request, Response


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port that keeps nothing on disk, for
    tests of shared breaker state and of Redis outages: ``start()``, ``stop()``, ``start()``.
    Needs the ``redis-server`` program and the ``redis`` package."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (again) on the same port and wait until it answers."""
        redis = importlib.import_module("redis")
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it keeps its connections and answers nothing."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server answer again (SIGCONT)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Kill the server, as a crash would (a paused one too)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()


class SentryIngest:
    """A WSGI app that decodes the envelopes Sentry's SDK sends and keeps events by id.

    ``envelopes`` keeps every envelope as it arrived (decompressed): what a test greps for
    a secret that must never leave the process.
    """

    def __init__(self) -> None:
        self.url = ""
        self.events: dict[str, dict[str, Any]] = {}
        self.envelopes: list[bytes] = []
        self._changed = threading.Condition()

    @property
    def dsn(self) -> str:
        """The DSN that sends events here."""
        return self.url.replace("http://", "http://public@") + "/1"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """Take one envelope."""
        request = Request(environ)
        body = _decoded(request.get_data(), request.headers.get("Content-Encoding", ""))
        with self._changed:
            self.envelopes.append(body)
            for item_type, payload in _items(body):
                if item_type == "event":
                    event = json.loads(payload)
                    self.events[event["event_id"]] = event
            self._changed.notify_all()
        return Response("{}", mimetype="application/json")(environ, start_response)

    def wait_for(self, event_id: str, timeout: float = 10) -> dict[str, Any]:
        """Return the event ``event_id`` once it arrives (flushing the client first)."""
        import sentry_sdk

        sentry_sdk.flush(timeout=timeout)
        with self._changed:
            arrived = self._changed.wait_for(lambda: event_id in self.events, timeout)
        assert arrived, f"event {event_id} never reached the ingest"
        return self.events[event_id]

    def messages(self) -> list[str]:
        """Return the messages of the events that have one (breaker openings)."""
        return [e.get("message", "") for e in self.events.values() if e.get("message")]


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":  # the SDK prefers brotli when the package is installed
        brotli = importlib.import_module("brotli")
        return bytes(brotli.decompress(body))
    return body


def _items(body: bytes) -> Iterable[tuple[str, bytes]]:
    """Yield (type, payload) for each item of a Sentry envelope."""
    position = body.index(b"\n") + 1  # the envelope header
    while position < len(body):
        end = body.find(b"\n", position)
        header_line = body[position : end if end != -1 else len(body)]
        position = (end if end != -1 else len(body)) + 1
        if not header_line.strip():
            continue
        header = json.loads(header_line)
        length = header.get("length")
        if length is None:
            end = body.find(b"\n", position)
            end = len(body) if end == -1 else end
            payload, position = body[position:end], end + 1
        else:
            payload, position = body[position : position + length], position + length + 1
        yield header["type"], payload
