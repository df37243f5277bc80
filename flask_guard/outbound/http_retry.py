"""``GuardRetry``: urllib3's ``Retry`` for :func:`~flask_guard.robust_session`, safe against
hostile ``Retry-After`` headers and kept within the call's deadline and a retry budget; and
which methods both clients may repeat (POST and PATCH with an ``Idempotency-Key``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from contextvars import ContextVar
from typing import Any

from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from ..resilience.backoff import parse_retry_after
from ..resilience.retry_budget import RetryBudget
from ..resilience.retry_log import log_retry
from ..resilience.waits import Wait, check_wait, from_backoff_factor
from .pools import CURRENT_CALL

_log = logging.getLogger(__name__)

#: The header that makes a POST or PATCH safe to send again (IETF draft
#: "The Idempotency-Key HTTP Header Field"): the server does the operation once per key.
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
#: Methods retried only when they carry an ``Idempotency-Key``.
KEYED_METHODS = frozenset({"POST", "PATCH"})

#: Whether the session call under way is a POST or PATCH with an ``Idempotency-Key``.
KEYED_CALL: ContextVar[bool] = ContextVar("flask_guard.keyed_call", default=False)


def may_retry_method(method: str, allowed: Collection[str], headers: Mapping[str, str]) -> bool:
    """Return whether a call with ``method`` and ``headers`` may be sent again once it may
    have reached the server: an ``allowed`` method, or a POST or PATCH with an
    ``Idempotency-Key`` (the same key goes with every attempt)."""
    return method in allowed or (method in KEYED_METHODS and IDEMPOTENCY_KEY_HEADER in headers)


class GuardRetry(Retry):
    """urllib3's ``Retry``, safe against hostile ``Retry-After`` headers, within a deadline
    and a retry budget.

    A ``Retry-After`` longer than ``max_retry_after`` is not waited for: the 429/503 response
    goes back to the caller at once. A malformed one is treated as absent (normal backoff).
    A retry whose wait and attempt (as long as the last one took) would end past the call's
    deadline is not started, nor one the ``budget`` has no token for. Waits follow ``wait``
    (by default urllib3's own schedule for ``backoff_factor``). A POST or PATCH is retried
    like an allowed method when the call carries an ``Idempotency-Key``. Each retry is one
    INFO line on the ``flask_guard.retry`` logger.
    """

    def __init__(
        self,
        *args: Any,
        max_retry_after: float = 10.0,
        budget: RetryBudget | None = None,
        wait: Wait | None = None,
        last_wait: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_retry_after = max_retry_after
        self.budget = budget
        self.wait = check_wait(wait) or from_backoff_factor(self.backoff_factor)
        #: The wait before the latest retry: the next one's is planned from it.
        self.last_wait = last_wait

    def new(self, **kw: Any) -> GuardRetry:
        """Return a copy with ``kw`` changed, keeping the guard's own options."""
        kw.setdefault("max_retry_after", self.max_retry_after)
        kw.setdefault("budget", self.budget)
        kw.setdefault("wait", self.wait)
        kw.setdefault("last_wait", self.last_wait)
        return super().new(**kw)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        """Return the ``Retry-After`` seconds, or None when absent or malformed."""
        return parse_retry_after(response.headers.get("Retry-After"))

    def get_backoff_time(self) -> float:
        """Return the wait planned for the latest retry."""
        return self.last_wait

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """Return whether ``status_code`` is worth another attempt of ``method``."""
        return Retry.is_retry(self._for_call(method), method, status_code, has_retry_after)

    def _for_call(self, method: str | None) -> GuardRetry:
        """Return this retry, allowing ``method`` too when it is a keyed POST or PATCH."""
        allowed = self.allowed_methods
        if (
            method is None
            or not KEYED_CALL.get()
            or allowed is None
            or method.upper() in allowed
            or method.upper() not in KEYED_METHODS
        ):
            return self
        return self.new(allowed_methods=frozenset(allowed) | {method.upper()})

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
        keyed = self._for_call(method)
        if keyed is not self:
            return keyed.increment(method, url, response, error, _pool, _stacktrace)
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
        retry = len(new.history)
        wait = self.wait(retry, self.last_wait) if retry_after is None else retry_after
        new.last_wait = wait
        call = CURRENT_CALL.get()
        if call is not None:
            if call.expired:
                _give_up(_pool, url, error, "the call was ended at its deadline or cut short")
            attempt = time.monotonic() - call.attempt_started
            if wait + attempt >= call.left():
                _give_up(_pool, url, error, "a retry could not finish before the deadline")
        if self.budget is not None and not self.budget.try_withdraw():
            _give_up(_pool, url, error, "the retry budget is empty (too many retries lately)")
        cause = str(response.status) if response is not None else type(error).__name__
        attempts = retry + 1 + (new.total if isinstance(new.total, int) else 0)
        log_retry(f"{method} {getattr(_pool, 'host', '?')}", retry, attempts, cause, wait)
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
