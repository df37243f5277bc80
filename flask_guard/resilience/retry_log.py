"""One INFO line per retry, whoever retries: :func:`~flask_guard.retry_with_backoff`, the
session or the httpx client.

The lines go to the ``flask_guard.retry`` logger; silence them as any logger::

    logging.getLogger("flask_guard.retry").setLevel(logging.WARNING)
"""

from __future__ import annotations

import logging

from ..web.request_id import current_request_id

RETRY_LOGGER = logging.getLogger("flask_guard.retry")


def log_retry(what: str, attempt: int, attempts: int, cause: str, delay: float) -> None:
    """Log that attempt ``attempt`` of ``attempts`` at ``what`` failed with ``cause`` and
    the next starts in ``delay`` seconds, with the current request's id if there is one."""
    if not RETRY_LOGGER.isEnabledFor(logging.INFO):
        return
    request_id = current_request_id()
    RETRY_LOGGER.info(
        "retrying %s: attempt %d of %d failed (%s), next in %.2f s%s",
        what,
        attempt,
        attempts,
        cause,
        delay,
        "" if request_id is None else f" (request {request_id})",
    )
