"""JSON log lines: one object per line, with the request id and the error id."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from flask import Flask
from flask.logging import default_handler

from ..tracing.context import record_trace_ids
from ..web.request_id import log_request_id
from .extras import extra_fields

# Terminal colour and style codes, such as werkzeug's development server puts in its lines.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message, request_id,
    trace_id, span_id, error_id and exception when present, and every field the caller
    passed with ``extra=`` (JSON-safe, secrets filtered). Terminal colour codes are left
    out of the message."""

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as a single line of JSON."""
        return json.dumps(self.fields(record), default=str)

    def fields(self, record: logging.LogRecord) -> dict[str, object]:
        """Return the keys of ``record``'s line, in the order they are written."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _plain(record.getMessage()),
            # A record made before the guard was set up has none.
            "request_id": getattr(record, "request_id", None) or log_request_id(),
        }
        entry["trace_id"], entry["span_id"] = record_trace_ids(record)
        error_id = getattr(record, "error_id", None)
        if error_id is not None:
            entry["error_id"] = error_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        for name, value in extra_fields(record).items():
            entry.setdefault(name, value)
        return entry


def _plain(message: str) -> str:
    return _ANSI_ESCAPE.sub("", message) if "\x1b" in message else message


def install_json_logs(app: Flask) -> None:
    """Give the root logger's handlers (or a new stderr handler) JSON lines; the app's
    logger then logs through them."""
    if "logger" in vars(app):  # made already: Flask gave it its own stderr handler
        app.logger.removeHandler(default_handler)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
