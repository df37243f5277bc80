"""The session's exceptions that are also requests' own: a caller catching
``requests.RequestException`` (or ``requests.Timeout``) catches them too.

They live apart from :mod:`flask_guard.errors` because their bases come from requests,
which ``import flask_guard`` does not load until a session is built.
"""

from __future__ import annotations

import requests


class TotalTimeout(requests.Timeout):
    """A session call ran past its deadline: ``total_timeout`` or the request's budget.

    Connect, reads, retries, ``Retry-After`` waits and the body are all counted.
    """


class ResponseTooLarge(requests.RequestException):
    """A response body was longer than the session's ``max_response_bytes``."""
