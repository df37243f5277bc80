"""httpx's private API, in one place: a response's read body.

``Response.aread()`` keeps what it read in ``Response._content``; a body read with a size
cap (:mod:`flask_guard.outbound.httpx_client.body`) is kept the same way, so that
``response.content``, ``.text`` and ``.json()`` work as after ``aread()``.
"""

from __future__ import annotations

import httpx


def keep_read_body(response: httpx.Response, body: bytes) -> None:
    """Make ``body`` (already decoded) the content of ``response``, as ``aread()`` would."""
    response._content = body
