"""Backoff delays and retry-after hints: small pure helpers for :mod:`flask_guard.retry`."""

from __future__ import annotations

import random
from typing import Literal

Jitter = Literal["full", "equal", "decorrelated"] | None
JITTERS: tuple[Jitter, ...] = ("full", "equal", "decorrelated", None)


def backoff_delay(
    attempt: int,
    base_delay: float,
    max_delay: float,
    jitter: Jitter,
    previous: float,
) -> float:
    """Return the seconds to wait after failed attempt number ``attempt`` (1-based).

    The ceiling is ``base_delay * 2 ** (attempt - 1)``, capped at ``max_delay``:

    * ``"full"``: uniform between 0 and the ceiling (the least total work under contention);
    * ``"equal"``: half the ceiling plus uniform up to the other half;
    * ``"decorrelated"``: uniform between ``base_delay`` and three times ``previous``
      (the last delay), capped at ``max_delay``;
    * ``None``: the ceiling itself.
    """
    uniform = random.uniform
    if jitter == "decorrelated":
        return min(max_delay, uniform(base_delay, max(base_delay, previous * 3)))
    ceiling = min(max_delay, base_delay * 2.0 ** (attempt - 1))
    if jitter == "full":
        return uniform(0, ceiling)
    if jitter == "equal":
        return ceiling / 2 + uniform(0, ceiling / 2)
    return ceiling


def retry_after_hint(error: BaseException) -> float | None:
    """Return the seconds the failure asks to wait, if it says: a ``retry_after`` attribute,
    or the ``Retry-After`` header of the response a requests ``HTTPError`` carries.

    A malformed header is treated as absent.
    """
    hint = getattr(error, "retry_after", None)
    if isinstance(hint, int | float) and not isinstance(hint, bool) and hint >= 0:
        return float(hint)
    response = getattr(error, "response", None)
    header = getattr(getattr(response, "headers", None), "get", lambda _: None)("Retry-After")
    if not isinstance(header, str):
        return None
    # Imported on the first header seen, not with flask_guard: few errors carry one.
    from urllib3.exceptions import InvalidHeader
    from urllib3.util.retry import Retry

    try:
        # Only its parser is used; a cap of 0 s would be wrong, so keep urllib3's own.
        return Retry().parse_retry_after(header)
    except InvalidHeader:
        return None
