"""``GuardRetry``: urllib3's ``Retry`` for :func:`~flask_guard.robust_session`, safe against
hostile ``Retry-After`` headers and kept within the call's deadline and a retry budget."""

from __future__ import annotations

import logging
import time
from typing import Any

from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from ..resilience.retry_budget import RetryBudget
from .pools import CURRENT_CALL

_log = logging.getLogger(__name__)


class GuardRetry(Retry):
    """urllib3's ``Retry``, safe against hostile ``Retry-After`` headers, within a deadline
    and a retry budget.

    A ``Retry-After`` longer than ``max_retry_after`` is not waited for: the 429/503 response
    goes back to the caller at once. A malformed one is treated as absent (normal backoff).
    A retry whose wait and attempt (as long as the last one took) would end past the call's
    deadline is not started, nor one the ``budget`` has no token for.
    """

    def __init__(
        self,
        *args: Any,
        max_retry_after: float = 10.0,
        budget: RetryBudget | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_retry_after = max_retry_after
        self.budget = budget

    def new(self, **kw: Any) -> GuardRetry:
        """Return a copy with ``kw`` changed, keeping ``max_retry_after`` and ``budget``."""
        kw.setdefault("max_retry_after", self.max_retry_after)
        kw.setdefault("budget", self.budget)
        return super().new(**kw)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        """Return the ``Retry-After`` seconds, or None when absent or malformed."""
        try:
            return super().get_retry_after(response)
        except InvalidHeader:
            return None

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> GuardRetry:
        """Count a retry, refusing one that waits too long, ends too late or has no budget."""
        retry_after = None
        if response is not None and self.respect_retry_after_header:
            retry_after = self.get_retry_after(response)
            if retry_after is not None and retry_after > self.max_retry_after:
                _give_up(
                    _pool,
                    url,
                    error,
                    f"Retry-After of {retry_after:.0f} s exceeds max_retry_after",
                )
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        call = CURRENT_CALL.get()
        if call is not None:
            if call.expired:
                _give_up(_pool, url, error, "the call was ended at its deadline or cut short")
            wait = new.get_backoff_time() if retry_after is None else retry_after
            attempt = time.monotonic() - call.attempt_started
            if wait + attempt >= call.left():
                _give_up(_pool, url, error, "a retry could not finish before the deadline")
        if self.budget is not None and not self.budget.try_withdraw():
            _give_up(_pool, url, error, "the retry budget is empty (too many retries lately)")
        return new


def _give_up(pool: Any, url: str | None, error: Exception | None, reason: str) -> None:
    """Raise the ``MaxRetryError`` that makes urllib3 return the last response, or raise the
    last error as requests would."""
    raise MaxRetryError(pool, url or "", error or ResponseError(reason))


class _QuietGuardRetries(logging.Filter):
    """Move urllib3's WARNING for each retry of a guard session to DEBUG on the guard's own
    logger: the failure the caller finally gets is logged once, with both ids, by the error
    path; three retry lines before it are noise. Other sessions' retries are left alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args and isinstance(args[0], GuardRetry):
            _log.debug("%s", record.getMessage())
            return False
        return True


_QUIET = _QuietGuardRetries()


def quiet_retry_warnings() -> None:
    """Keep urllib3 from logging each retry of a guard session at WARNING."""
    logger = logging.getLogger("urllib3.connectionpool")
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)
