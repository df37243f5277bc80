"""A small Sentry ingest for tests: the real SDK transport posts envelopes to it on loopback."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from collections.abc import Iterable
from typing import Any

from werkzeug import Request, Response


class SentryIngest:
    """Decode the envelopes the SDK sends and keep their events by id."""

    def __init__(self) -> None:
        self.url = ""
        self.events: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()

    @property
    def dsn(self) -> str:
        return self.url.replace("http://", "http://public@") + "/1"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        body = _decoded(request.get_data(), request.headers.get("Content-Encoding", ""))
        with self._changed:
            for item_type, payload in _items(body):
                if item_type == "event":
                    event = json.loads(payload)
                    self.events[event["event_id"]] = event
            self._changed.notify_all()
        return Response("{}", mimetype="application/json")(environ, start_response)

    def wait_for(self, event_id: str, timeout: float = 10) -> dict[str, Any]:
        """Return the event ``event_id`` once it arrives."""
        with self._changed:
            arrived = self._changed.wait_for(lambda: event_id in self.events, timeout)
        assert arrived, f"event {event_id} never reached the ingest"
        return self.events[event_id]

    def messages(self) -> list[str]:
        return [e.get("message", "") for e in self.events.values() if e.get("message")]


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found]

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
