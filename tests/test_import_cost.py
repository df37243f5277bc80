"""What importing flask-guard loads: Sentry's SDK and requests only once they are needed.

Each check runs in a fresh interpreter, as an app start or a pytest run pays it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import requests

import flask_guard

HEAVY = ("sentry_sdk", "requests", "urllib3", "httpx", "opentelemetry")
APP = """
        from flask import Flask
        from flask_guard import FlaskGuard

        app = Flask("shop")
        FlaskGuard(app)

        @app.get("/boom")
        def boom():
            raise RuntimeError("bug")
"""


def loaded_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter without SENTRY_DSN; return the heavy modules and
    the pytest it left loaded."""
    names = (*HEAVY, "pytest")
    probe = f"import sys, json\nprint(json.dumps([m for m in {names!r} if m in sys.modules]))"
    env = {name: value for name, value in os.environ.items() if name != "SENTRY_DSN"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + "\n" + probe],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    found: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_importing_flask_guard_loads_neither_sentry_nor_requests() -> None:
    assert loaded_after("import flask_guard") == []


def test_importing_the_pytest_plugin_loads_neither_pytest_nor_sentry_nor_requests() -> None:
    assert loaded_after("import flask_guard.testing") == []


def test_an_app_without_sentry_answers_its_errors_without_loading_sentry() -> None:
    code = (
        APP
        + """
        from flask_guard import ApiError

        @app.get("/gone")
        def gone():
            raise ApiError.not_found()

        client = app.test_client()
        assert client.get("/boom").status_code == 500
        assert client.get("/gone").status_code == 404
    """
    )
    assert "sentry_sdk" not in loaded_after(code)


def test_an_app_that_never_uses_the_async_client_never_loads_httpx() -> None:
    code = (
        APP
        + """
        assert app.test_client().get("/boom").status_code == 500
    """
    )
    assert "httpx" not in loaded_after(code)


def test_sentry_started_after_init_app_still_gets_the_error_id_as_event_id() -> None:
    code = (
        APP
        + """
        import threading
        from flask_guard.testing import SentryIngest
        from werkzeug.serving import make_server

        ingest = SentryIngest()
        server = make_server("127.0.0.1", 0, ingest, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        ingest.url = f"http://127.0.0.1:{server.port}"

        import sentry_sdk

        sentry_sdk.init(dsn=ingest.dsn)
        response = app.test_client().get("/boom")
        error_id = response.headers["X-Error-ID"]
        event = ingest.wait_for(error_id)
        assert event["tags"]["request_id"] == response.json["error"]["request_id"]
        server.shutdown()
    """
    )
    assert "sentry_sdk" in loaded_after(code)


def test_every_public_name_imports_from_the_package() -> None:
    for name in flask_guard.__all__:
        assert getattr(flask_guard, name) is not None, name
    from flask_guard import ResponseTooLarge, TotalTimeout, robust_session
    from flask_guard.errors.upstream import ResponseTooLarge as Defined
    from flask_guard.outbound.session import robust_session as built

    assert ResponseTooLarge is Defined
    assert robust_session is built
    assert issubclass(TotalTimeout, requests.Timeout)
    assert issubclass(ResponseTooLarge, requests.RequestException)
