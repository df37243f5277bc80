"""The opentelemetry-instrumentation-flask shape the guard relies on: the environ key that
marks a request it times."""

from __future__ import annotations

from flask import Flask, request
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from flask_guard.compat.opentelemetry import FLASK_INSTRUMENTATION_KEY
from tests.compat.shapes import changed


def test_the_flask_instrumentation_marks_the_requests_it_times() -> None:
    app = Flask(__name__)
    instrumentor = FlaskInstrumentor()
    instrumentor.instrument_app(app, tracer_provider=TracerProvider())  # type: ignore[no-untyped-call]

    @app.get("/marked")
    def marked() -> dict[str, bool]:
        return {"marked": FLASK_INSTRUMENTATION_KEY in request.environ}

    try:
        found = app.test_client().get("/marked").get_json()["marked"]
    finally:
        instrumentor.uninstrument_app(app)  # type: ignore[no-untyped-call]
    message = changed(
        "opentelemetry-instrumentation-flask",
        f"environ[{FLASK_INSTRUMENTATION_KEY!r}]",
        "marks a request it times",
    )
    assert found, message
