"""JSON log lines: one object per line, with the request id and the error id."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from flask import Flask
from flask.logging import default_handler

from .request_id import RequestIdFilter, current_request_id


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message, request_id, and
    error_id and exception when present."""

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as a single line of JSON."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id() or "-",
        }
        error_id = getattr(record, "error_id", None)
        if error_id is not None:
            entry["error_id"] = error_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def install_json_logs(app: Flask) -> None:
    """Give the root logger's handlers (or a new stderr handler) JSON lines and request ids;
    the app's logger then logs through them."""
    app.logger.removeHandler(default_handler)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
