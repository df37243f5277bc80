"""One Sentry event per error, whose id is the one the client got, whatever path raised it and
whoever started Sentry; each request's breadcrumbs stay its own. Real SDK transport."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import sentry_sdk
from flask import Flask, Response, stream_with_context
from werkzeug.exceptions import InternalServerError

from flask_guard import FlaskGuard
from flask_guard.testing import SentryIngest

from ..conftest import HEX32

ROOT = Path(__file__).parents[2]


class LedgerError(Exception):
    pass


def paths_app(**config: object) -> Flask:
    """An app with one route per way an error can arise."""
    app = Flask("paths")
    app.config.update({"PROPAGATE_EXCEPTIONS": False, **config})

    @app.before_request
    def check() -> None:
        if app.config.get("_FAIL") == "before_request":
            raise LedgerError("before_request failed")

    @app.after_request
    def stamp(response: Response) -> Response:
        if app.config.get("_FAIL") == "after_request":
            raise LedgerError("after_request failed")
        return response

    @app.teardown_request
    def close(error: BaseException | None) -> None:
        if app.config.get("_FAIL") == "teardown":
            raise LedgerError("teardown failed")

    @app.errorhandler(500)
    def server_error(error: InternalServerError) -> tuple[str, int]:
        if app.config.get("_FAIL") == "handler":
            raise LedgerError("the app's 500 handler failed")
        return "oops", 500

    @app.errorhandler(KeyError)
    def missing_key(error: KeyError) -> tuple[str, int]:
        return "missing key", 500

    @app.get("/view")
    def view() -> NoReturn:
        raise LedgerError("view failed")

    @app.get("/key")
    def key() -> NoReturn:
        raise KeyError("sku")

    @app.get("/ok")
    def ok() -> str:
        return "ok"

    FlaskGuard(app)
    return app


CASES = [
    ("view", "/view", None),
    ("class handler", "/key", None),
    ("before_request", "/ok", "before_request"),
    ("after_request", "/ok", "after_request"),
    ("the app's handler raising", "/view", "handler"),
    ("teardown", "/ok", "teardown"),
]


def error_ids(app: Flask) -> dict[str, str]:
    """Request every case; return the X-Error-ID each response carried, by case."""
    ids = {}
    for name, path, fail in CASES:
        app.config["_FAIL"] = fail
        response = app.test_client().get(path)
        assert response.status_code == 500, name
        ids[name] = response.headers["X-Error-ID"]
    return ids


def run_with_app_started_sentry(dsn: str) -> None:
    """In a process of its own: Sentry started by the app with the SDK's default
    integrations (Flask, logging, dedupe…), then the guard; print the ids as JSON."""
    sentry_sdk.init(dsn=dsn)
    from sentry_sdk.integrations.flask import FlaskIntegration

    assert sentry_sdk.get_client().get_integration(FlaskIntegration) is not None
    ids = error_ids(paths_app())
    sentry_sdk.flush(timeout=5)
    print(json.dumps(ids))


def assert_one_event_per_id(ingest: SentryIngest, ids: dict[str, str]) -> None:
    for name, error_id in ids.items():
        assert HEX32.fullmatch(error_id), name
        event = ingest.wait_for(error_id)
        assert event["tags"]["request_id"], name
    sentry_sdk.flush(timeout=5)
    assert sorted(ingest.events) == sorted(ids.values())


def test_one_event_per_error_with_the_client_id_when_the_guard_starts_sentry(
    sentry_ingest: SentryIngest,
) -> None:
    app = paths_app(SENTRY_DSN=sentry_ingest.dsn)
    assert_one_event_per_id(sentry_ingest, error_ids(app))


def test_one_event_per_error_with_the_client_id_when_the_app_started_sentry(
    sentry_ingest: SentryIngest,
) -> None:
    # A process of its own: Sentry sets an integration up once per process, and the
    # default ones include FlaskIntegration, which patches Flask for every app.
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); "
        "from tests.sentry.test_sentry_adoption import run_with_app_started_sentry as run; "
        "run(sys.argv[1])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, sentry_ingest.dsn, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    ids = json.loads(result.stdout.strip().splitlines()[-1])
    assert_one_event_per_id(sentry_ingest, ids)


def test_the_event_carries_the_exception_the_client_error_came_from(
    sentry_ingest: SentryIngest,
) -> None:
    app = paths_app(SENTRY_DSN=sentry_ingest.dsn)
    ids = error_ids(app)
    messages = {
        name: [v["value"] for v in sentry_ingest.wait_for(i)["exception"]["values"]]
        for name, i in ids.items()
    }
    assert messages["view"] == ["view failed"]
    assert messages["after_request"] == ["after_request failed"]
    assert messages["teardown"] == ["teardown failed"]
    assert "the app's 500 handler failed" in messages["the app's handler raising"]


def test_streamed_body_failing_midway_is_one_event_tagged_with_the_request_id(
    sentry_ingest: SentryIngest, caplog: pytest.LogCaptureFixture
) -> None:
    app = paths_app(SENTRY_DSN=sentry_ingest.dsn)

    @app.get("/export")
    def export() -> Response:
        def rows() -> Iterator[str]:
            yield "id\n"
            raise LedgerError("cursor lost")

        return Response(stream_with_context(rows()), mimetype="text/csv")

    with pytest.raises(LedgerError):
        app.test_client().get("/export", headers={"X-Request-ID": "req-s"}, buffered=True)
    (record,) = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name == "flask_guard.handlers"
    ]
    event = sentry_ingest.wait_for(record.__dict__["error_id"])
    assert event["tags"]["request_id"] == "req-s"
    sentry_sdk.flush(timeout=5)
    assert list(sentry_ingest.events) == [record.__dict__["error_id"]]


def test_a_request_never_carries_another_requests_log_lines(sentry_ingest: SentryIngest) -> None:
    app = paths_app(SENTRY_DSN=sentry_ingest.dsn)

    @app.get("/login")
    def login() -> str:
        app.logger.warning("alice@example.com paid with card 4111")
        return "welcome"

    @app.get("/pay")
    def pay() -> NoReturn:
        app.logger.warning("mallory is paying")
        raise LedgerError("declined")

    client = app.test_client()  # one thread: the requests share its context
    assert client.get("/login").status_code == 200
    response = client.get("/pay")
    event = sentry_ingest.wait_for(response.headers["X-Error-ID"])
    crumbs = json.dumps(event["breadcrumbs"])
    assert "mallory is paying" in crumbs
    assert "alice" not in crumbs
    assert "4111" not in crumbs
