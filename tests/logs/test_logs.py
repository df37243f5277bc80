"""JSON log lines stay clean JSON whatever writes them."""

from __future__ import annotations

import io
import json
import logging

import requests

from flask_guard import FlaskGuard
from flask_guard.logs import JsonFormatter

from ..conftest import make_app, serving


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_terminal_colour_codes_are_left_out_of_the_message() -> None:
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '"%s" 404 -',
        ("\x1b[33mGET /x HTTP/1.1\x1b[0m",),
        None,
    )
    line = JsonFormatter().format(record)
    assert "\\u001b" not in line
    assert json.loads(line)["message"] == '"GET /x HTTP/1.1" 404 -'


def test_werkzeug_request_lines_are_clean_json(root_stream: io.StringIO) -> None:
    app = make_app(GUARD_LOG_JSON=True)
    FlaskGuard(app)
    werkzeug_logger = logging.getLogger("werkzeug")
    level = werkzeug_logger.level
    werkzeug_logger.setLevel(logging.INFO)
    try:
        with serving(app) as url:
            assert requests.get(f"{url}/missing", timeout=5).status_code == 404
    finally:
        werkzeug_logger.setLevel(level)
    (line,) = [entry for entry in json_lines(root_stream) if entry["logger"] == "werkzeug"]
    assert "\x1b" not in str(line["message"])
    assert str(line["message"]).endswith('"GET /missing HTTP/1.1" 404 -')
