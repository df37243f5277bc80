"""A request body shorter than its Content-Length (an abandoned upload, a client that
half-closes, an absurd length) never reaches the view as whole, and opens no breaker, under
gunicorn's sync and gthread workers, waitress and werkzeug's development server, each
started for real and spoken to over a raw socket."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from flask_guard.testing import free_port

from ..conftest import HEX32

APP = """
from flask import Flask, request

from flask_guard import FlaskGuard

app = Flask(__name__)
guard = FlaskGuard(app)
views = {"completed": 0}


def parsed(read):
    @guard.breaker("uploads", failure_threshold=1)
    def view():
        result = read()
        views["completed"] += 1
        return {"read": result}

    return view


def read_stream():
    chunks = []
    while chunk := request.stream.read(3):
        chunks.append(chunk)
    return len(b"".join(chunks))


app.post("/form", endpoint="form")(parsed(lambda: request.form.to_dict()))
app.post("/json", endpoint="json")(parsed(lambda: request.get_json()))
app.post("/data", endpoint="data")(parsed(lambda: len(request.get_data())))
app.post("/stream", endpoint="stream")(parsed(read_stream))


@app.get("/state")
def state():
    return {"breaker": guard.breakers["uploads"].state.value, **views}
"""

SERVE_WERKZEUG = """
import sys
from werkzeug.serving import run_simple
from upload_app import app
run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True)
"""

SERVE_WAITRESS = """
import sys
import waitress
from upload_app import app
waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=2)
"""

FORM = "application/x-www-form-urlencoded"
# (path, content type, declared length, bytes actually sent before the half-close)
CUT_SHORT = [
    ("/form", FORM, "1000", b"a=1&b=2"),
    ("/form", FORM, "99999999999999999999", b"a=1"),
    ("/json", "application/json", "1000", b'{"a": 1}'),
    ("/data", "text/plain", "1000", b"abc"),
    ("/stream", "text/plain", "1000", b"abcdefg"),
]
SERVERS = ["gunicorn-sync", "gunicorn-gthread", "waitress", "werkzeug"]


def _command(server: str, port: int) -> list[str]:
    if server.startswith("gunicorn"):
        worker = server.removeprefix("gunicorn-")
        return [
            *(sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", worker),
            *("--threads", "2", "--bind", f"127.0.0.1:{port}", "upload_app:app"),
        ]
    script = SERVE_WAITRESS if server == "waitress" else SERVE_WERKZEUG
    return [sys.executable, "-c", textwrap.dedent(script), str(port)]


@pytest.fixture(scope="module", params=SERVERS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    server: str = request.param
    folder: Path = tmp_path_factory.mktemp(server)
    (folder / "upload_app.py").write_text(textwrap.dedent(APP))
    port = free_port()
    process = subprocess.Popen(
        _command(server, port),
        cwd=folder,
        env={"PYTHONPATH": str(folder), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(400):
            try:
                requests.get(f"http://127.0.0.1:{port}/state", timeout=10)
                break
            except requests.RequestException:  # not listening yet, or the worker is booting
                assert process.poll() is None, f"{server} exited before it served"
                time.sleep(0.05)
        else:
            pytest.fail(f"{server} did not answer within 20 s")
        yield server, port
    finally:
        process.terminate()
        process.wait(30)


def _post_then_half_close(
    port: int, path: str, content_type: str, length: str, body: bytes
) -> bytes:
    """Send a POST declaring ``length`` bytes, send ``body``, stop sending; return the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        connection.shutdown(socket.SHUT_WR)  # the client gives up on its upload
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def _state(port: int) -> dict[str, object]:
    state: dict[str, object] = requests.get(f"http://127.0.0.1:{port}/state", timeout=10).json()
    return state


@pytest.mark.parametrize(("path", "content_type", "length", "body"), CUT_SHORT)
def test_a_body_shorter_than_its_content_length_never_reaches_the_view_as_whole(
    served: tuple[str, int], path: str, content_type: str, length: str, body: bytes
) -> None:
    server, port = served
    completed = _state(port)["completed"]
    answer = _post_then_half_close(port, path, content_type, length, body)
    status_line = answer.split(b"\r\n", 1)[0]
    if server == "waitress":
        # waitress reads the whole body before it calls the app: a body that never arrives
        # is never dispatched, and a length over its max_request_body_size is its own 413.
        assert status_line in (b"", b"HTTP/1.1 413 Request Entity Too Large"), answer
    else:
        assert status_line.startswith(b"HTTP/1.1 400"), answer
        head, _, payload = answer.partition(b"\r\n\r\n")
        error = json.loads(payload)["error"]
        assert error["code"] == "BAD_REQUEST"
        assert HEX32.fullmatch(error["id"])
        assert f"X-Error-ID: {error['id']}".encode() in head
    state = _state(port)
    assert state == {"breaker": "closed", "completed": completed}


def test_a_whole_body_still_reaches_the_view(served: tuple[str, int]) -> None:
    _, port = served
    base = f"http://127.0.0.1:{port}"
    form = requests.post(f"{base}/form", data={"a": "1", "b": "2"}, timeout=10)
    as_json = requests.post(f"{base}/json", json={"a": [1, 2]}, timeout=10)
    streamed = requests.post(f"{base}/stream", data=b"x" * 100_000, timeout=10)
    assert (form.status_code, form.json()) == (200, {"read": {"a": "1", "b": "2"}})
    assert (as_json.status_code, as_json.json()) == (200, {"read": {"a": [1, 2]}})
    assert (streamed.status_code, streamed.json()) == (200, {"read": 100_000})
    answer = _post_then_half_close(port, "/data", "text/plain", "7", b"a=1&b=2")
    assert answer.startswith(b"HTTP/1.1 200"), answer
