"""The requests shape the guard relies on: a body read by the guard handed back through
``Response._content``."""

from __future__ import annotations

import requests
from pytest_httpserver import HTTPServer

from flask_guard.compat.requests import set_content
from tests.compat.shapes import changed


def test_a_body_read_by_the_guard_is_the_response_content(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/order").respond_with_data("ignored, read elsewhere")
    response = requests.get(httpserver.url_for("/order"), stream=True, timeout=5)
    for _ in response.iter_content(4):  # the guard reads the body itself, as here
        pass
    set_content(response, b'{"order": 7}')
    message = changed("requests", "Response._content", "holds the body that was read")
    assert response.content == b'{"order": 7}', message
    assert response.text == '{"order": 7}', message
    assert response.json() == {"order": 7}, message
