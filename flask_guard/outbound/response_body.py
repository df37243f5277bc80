"""Reading an upstream's body: at most ``max_response_bytes`` once decoded, and no later
than the call's deadline.

urllib3 (2.6 and later) decodes ``Content-Encoding`` as the body is read, at most as much as
each read asks for, so a megabyte of gzip that decodes to a gigabyte is refused after the
limit, never held whole. The body is gathered in a :class:`io.BytesIO`, whose final bytes are
its own buffer: a body at the limit costs about the limit, not twice it.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import requests

from ..errors.upstream import ResponseTooLarge

#: Decoded bytes read at a time; the deadline is checked between reads.
CHUNK_BYTES = 64 * 1024

_IDENTITY = ("", "identity")


def read_body(
    response: requests.Response,
    limit: int | None,
    late: Callable[[], Exception | None],
) -> bytes:
    """Return ``response``'s decoded body.

    :param limit: the most decoded bytes accepted (None: no limit).
    :param late: returns the error to raise once the call's deadline has passed, else None;
        it is asked between reads, so decoding a large body stops at the deadline too.
    :raises ResponseTooLarge: once the body is longer than ``limit``; the connection is
        closed, the rest never read.
    """
    if limit is not None and _declared_over(response, limit):
        _refuse(response, limit)
    body = io.BytesIO()
    for chunk in response.iter_content(CHUNK_BYTES):
        if limit is not None and body.tell() + len(chunk) > limit:
            _refuse(response, limit)
        body.write(chunk)
        if (error := late()) is not None:
            response.close()
            raise error
    return body.getvalue()


def _declared_over(response: requests.Response, limit: int) -> bool:
    """Whether a body sent as it is declares a length over ``limit`` (an encoded body's
    length says nothing of its decoded size)."""
    headers = response.headers
    if headers.get("Content-Encoding", "").strip().lower() not in _IDENTITY:
        return False
    length = headers.get("Content-Length", "")
    return length.isdigit() and int(length) > limit


def _refuse(response: requests.Response, limit: int) -> None:
    response.close()
    raise ResponseTooLarge(
        f"the response is longer than max_response_bytes={limit} (decoded)", response=response
    )
