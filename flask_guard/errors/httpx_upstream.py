"""The httpx client's own exceptions, subclasses of httpx's: a caller catching
``httpx.TimeoutException`` (or ``httpx.RequestError``) catches them too.

::

    httpx.RequestError
    ├── httpx.TimeoutException
    │   └── HttpxTotalTimeout       the call ran past its deadline
    └── HttpxResponseTooLarge       the decoded body was longer than max_response_bytes
"""

from __future__ import annotations

import httpx


class HttpxTotalTimeout(httpx.TimeoutException):
    """A call of the guarded httpx client ran past its deadline: ``total_timeout`` or the
    request's budget. Connect, reads, retries, ``Retry-After`` waits, redirects and the body
    are all counted."""


class HttpxResponseTooLarge(httpx.RequestError):
    """A response body, decoded, was longer than the client's ``max_response_bytes``."""
