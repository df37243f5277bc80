"""opentelemetry-instrumentation-flask's private API, in one place: the environ key where it
keeps the start time of a request it times, which tells the guard that the request's
duration is recorded already (:mod:`flask_guard.tracing.otel`). A plain string: importing
this module imports nothing of OpenTelemetry's.
"""

from __future__ import annotations

#: Set in a request's WSGI environ by the Flask instrumentation's wrapper.
FLASK_INSTRUMENTATION_KEY = "opentelemetry-flask.starttime_key"
