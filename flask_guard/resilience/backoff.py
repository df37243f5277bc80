"""Retry-after hints and the jitter names of :func:`~flask_guard.retry_with_backoff`:
small pure helpers. The waits themselves are in :mod:`flask_guard.resilience.waits`."""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime
from typing import Literal

Jitter = Literal["full", "equal", "decorrelated"] | None
JITTERS: tuple[Jitter, ...] = ("full", "equal", "decorrelated", None)


def parse_retry_after(value: str | None) -> float | None:
    """Return the seconds a ``Retry-After`` value asks to wait, or None when absent or
    malformed (``soon``, ``-5``, ``1e3``, a date that is no date).

    Whole seconds or an HTTP date (0 once it passed), as RFC 9110 allows.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit() and value.isascii():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def retry_after_hint(error: BaseException) -> float | None:
    """Return the seconds the failure asks to wait, if it says: a ``retry_after`` attribute,
    or the ``Retry-After`` header of the response it carries (a requests ``HTTPError`` or
    an ``httpx.HTTPStatusError``).

    A malformed header is treated as absent.
    """
    hint = getattr(error, "retry_after", None)
    if isinstance(hint, int | float) and not isinstance(hint, bool) and hint >= 0:
        return float(hint)
    try:
        response = getattr(error, "response", None)
    except RuntimeError:  # httpx raises it for an error made without a response
        return None
    header = getattr(getattr(response, "headers", None), "get", lambda _: None)("Retry-After")
    return parse_retry_after(header) if isinstance(header, str) else None
