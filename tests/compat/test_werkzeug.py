"""The werkzeug API the guard parses ``Accept`` headers with, on every supported release."""

from __future__ import annotations

from flask_guard.compat.werkzeug import parse_mime_accept
from tests.compat.shapes import changed


def test_accept_headers_parse_to_qualities_without_a_deprecation_warning() -> None:
    # pytest turns warnings into errors: werkzeug 3.2 deprecates parse_accept_header.
    accept = parse_mime_accept("text/html;q=0.9, application/json")
    message = changed("werkzeug", "MIMEAccept.from_header", "parses an Accept header")
    assert accept["application/json"] == 1, message
    assert accept["text/html"] == 0.9, message
    assert accept["image/png"] == 0, message
