"""requests' private API the guard relies on: giving a response the body already read.

A session with ``max_response_bytes`` reads the body itself, counting decoded bytes, so a
small compressed body cannot expand into gigabytes in memory. requests has no public way to
hand back what was read: ``Response.content`` is computed from ``Response._content``, which
is where requests keeps the body it read (requests 2.x), so the body is put there.
"""

from __future__ import annotations

import requests


def set_content(response: requests.Response, content: bytes) -> None:
    """Make ``content`` the body of ``response`` (``.content``, ``.text``, ``.json()``)."""
    response._content = content


def body_was_read(response: requests.Response) -> bool:
    """Return whether the body of ``response`` is read (not a stream still open)."""
    return bool(response._content_consumed)
