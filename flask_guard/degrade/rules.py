"""Which failures a degraded answer may stand in for: the breakers' rules."""

from __future__ import annotations

from collections.abc import Callable

from ..breaker.policy import BreakerPolicy, ExceptionClasses
from ..errors.exceptions import CircuitOpenError


class FallThrough:
    """Decide whether an exception lets the next step answer.

    A rejection by an open breaker always does. Otherwise the breakers' rules apply: an
    instance of ``failure_on``, not of ``ignore``, for which ``is_failure`` (when given) is
    true; a client error (4xx, a spent request budget) never does: it is the answer.
    """

    __slots__ = ("_policy",)

    def __init__(
        self,
        failure_on: ExceptionClasses = (Exception,),
        ignore: ExceptionClasses = (),
        is_failure: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self._policy = BreakerPolicy(failure_on=failure_on, ignore=ignore, is_failure=is_failure)

    def __call__(self, error: BaseException) -> bool:
        return isinstance(error, CircuitOpenError) or self._policy.is_counted_failure(error)
