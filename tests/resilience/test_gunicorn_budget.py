"""Under gunicorn with its default settings, a trickling upstream is our JSON 504, with both
ids, and never the server's own worker-timeout page."""

from __future__ import annotations

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
from ..upstreams import trickling_upstream

APP = """
import os

from flask import Flask

from flask_guard import FlaskGuard

app = Flask(__name__)
app.config["GUARD_HTTP_TOTAL_TIMEOUT"] = 1.0
guard = FlaskGuard(app)


@app.get("/charge")
def charge():
    return guard.session.get(os.environ["UPSTREAM_URL"]).text


@app.get("/ping")
def ping():
    return "pong"
"""


@pytest.fixture
def gunicorn_url(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "trickle_app.py").write_text(textwrap.dedent(APP))
    port = free_port()
    with trickling_upstream() as upstream:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "trickle_app:app"],
            cwd=tmp_path,
            env={"UPSTREAM_URL": upstream, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(400):
                try:
                    requests.get(f"{url}/ping", timeout=5)
                    break
                except (requests.ConnectionError, requests.Timeout):  # still booting
                    assert process.poll() is None, "gunicorn exited before it served"
                    time.sleep(0.05)
            else:
                pytest.fail("gunicorn did not answer within 20 s")
            yield url
        finally:
            process.terminate()
            process.wait(30)


def test_a_trickling_upstream_is_our_json_504_before_the_worker_timeout(
    gunicorn_url: str,
) -> None:
    response = requests.get(f"{gunicorn_url}/charge", timeout=60)
    assert response.status_code == 504
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "UPSTREAM_TIMEOUT"
    assert HEX32.fullmatch(error["id"])
    assert error["id"] == response.headers["X-Error-ID"]
    assert error["request_id"] == response.headers["X-Request-ID"]
