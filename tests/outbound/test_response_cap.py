"""Upstream bodies are bounded by default: a decompression bomb (a megabyte of gzip that
decodes to a gibibyte of zeros) stops at ``max_response_bytes`` counted on decoded bytes,
memory grows by at most twice the cap per call, and the total timeout holds while a body is
read and decoded. Memory is the peak resident size (``VmHWM``) of a fresh client process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from flask import Flask

from flask_guard import FlaskGuard, ResponseTooLarge, TotalTimeout, robust_session
from flask_guard.outbound.settings import DEFAULT_MAX_RESPONSE_BYTES, SessionSettings

from ..conftest import error_of, make_app

MIB = 1024 * 1024
CAP = DEFAULT_MAX_RESPONSE_BYTES


def _gzip_member(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(bytes(size)) + packer.flush()


# One gzip member per MiB of zeros, 1,024 of them: a valid gzip body of about 1 MB that
# decodes to 1 GiB, built in milliseconds.
MEMBER = _gzip_member(MIB)
BOMB = MEMBER * 1024


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/small":
            self._send(b'{"ok": true}')
        elif self.path == "/bomb":
            self._send(BOMB, gzip=True)
        elif self.path == "/bomb-chunked":
            self._send_chunked(BOMB[i : i + 65536] for i in range(0, len(BOMB), 65536))
        elif self.path == "/just-under-the-cap":
            self._send(_gzip_member(CAP - 1), gzip=True)
        elif self.path == "/slow-bomb":  # one MiB decoded every 0.2 s
            self._send_chunked(self._slowly(MEMBER, 0.2))

    def _send(self, body: bytes, gzip: bool = False) -> None:
        self.send_response(200)
        if gzip:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            return  # the client stopped reading

    def _send_chunked(self, parts: Iterator[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for part in parts:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            return  # the client stopped reading: what the cap and the deadline are for

    @staticmethod
    def _slowly(member: bytes, interval: float) -> Iterator[bytes]:
        for _ in range(1024):
            time.sleep(interval)
            yield member

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up mid-body is what these tests make happen."""


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


CLIENT = """
import json, sys, threading
from flask_guard import ResponseTooLarge, robust_session

def peak_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

url, path, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
session = robust_session()
session.get(url + "/small")  # imports and a pooled connection, before the measure
before = peak_bytes()
outcomes = []

def call():
    try:
        outcomes.append(len(session.get(url + path).content))
    except ResponseTooLarge:
        outcomes.append("too large")

threads = [threading.Thread(target=call) for _ in range(calls)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"growth": peak_bytes() - before, "outcomes": outcomes}))
"""


def _measure(upstream: str, path: str, calls: int = 1) -> tuple[int, list[object]]:
    """Return the client process's peak memory growth over ``calls`` concurrent calls of
    ``path`` with a default :func:`robust_session`, and what each call got."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CLIENT), upstream, path, str(calls)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    return result["growth"], result["outcomes"]


def test_the_default_cap_is_finite_and_shared_by_the_session_and_the_config() -> None:
    app = make_app()
    FlaskGuard(app)
    assert CAP == 10 * MIB
    assert SessionSettings().max_response_bytes == CAP
    assert app.config["GUARD_HTTP_MAX_RESPONSE_BYTES"] == CAP
    assert app.extensions["guard.config"].http.max_response_bytes == CAP


@pytest.mark.parametrize("path", ["/bomb", "/bomb-chunked"])
def test_a_gzip_bomb_stops_at_the_default_cap_with_memory_under_twice_the_cap(
    upstream: str, path: str
) -> None:
    growth, outcomes = _measure(upstream, path)
    assert outcomes == ["too large"]
    assert growth <= 2 * CAP, f"peak grew by {growth / MIB:.1f} MiB"


def test_four_concurrent_bombs_grow_memory_by_at_most_twice_the_cap_each(upstream: str) -> None:
    growth, outcomes = _measure(upstream, "/bomb", calls=4)
    assert outcomes == ["too large"] * 4
    assert growth <= 4 * 2 * CAP, f"peak grew by {growth / MIB:.1f} MiB"


def test_a_body_just_under_the_cap_is_read_whole_within_twice_the_cap(upstream: str) -> None:
    growth, outcomes = _measure(upstream, "/just-under-the-cap")
    assert outcomes == [CAP - 1]
    assert growth <= 2 * CAP, f"peak grew by {growth / MIB:.1f} MiB"


def test_the_cap_counts_decoded_bytes_not_bytes_on_the_wire(upstream: str) -> None:
    on_the_wire = len(BOMB)
    session = robust_session(max_response_bytes=on_the_wire * 2)
    with pytest.raises(ResponseTooLarge, match=f"max_response_bytes={on_the_wire * 2}"):
        session.get(f"{upstream}/bomb")


def test_a_bomb_fetched_in_a_view_is_a_502_envelope(upstream: str) -> None:
    app: Flask = make_app()
    guard = FlaskGuard(app)

    @app.get("/report")
    def report() -> str:
        return guard.session.get(f"{upstream}/bomb").text

    response = app.test_client().get("/report")
    assert response.status_code == 502
    assert error_of(response)["code"] == "BAD_GATEWAY"
    assert "max_response_bytes" not in response.get_data(as_text=True)


def test_the_total_timeout_holds_while_a_compressed_body_trickles_in(upstream: str) -> None:
    session = robust_session(total_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(TotalTimeout):
        session.get(f"{upstream}/slow-bomb")
    assert time.monotonic() - started < 1.5


def test_a_refused_body_leaves_the_session_usable(upstream: str) -> None:
    session = robust_session()
    with pytest.raises(ResponseTooLarge):
        session.get(f"{upstream}/bomb")
    assert session.get(f"{upstream}/small").json() == {"ok": True}
    assert isinstance(session.get(f"{upstream}/small"), requests.Response)
