"""Fallback chains: a primary, then each alternative in order, until one answers.

::

    @guard.fallback("recommendations", from_replica, ("cache", from_cache), default=[])
    def recommendations(user_id): ...

The primary's success costs one ``try`` and a count. A failure that falls through (see
:class:`~flask_guard.degrade.rules.FallThrough`) hands the same arguments to the next step;
an open breaker's rejection does so at once. The run that needed a fallback is one log
line naming each failed step and its cause, and the step that answered; the answer is
marked degraded (:mod:`~flask_guard.degrade.marking`). When every step fails, the chain
raises :class:`~flask_guard.errors.exceptions.FallbackExhausted`: every error in step order,
the last one last, which a view answers as a 503 with the error id.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, cast

from ..breaker.policy import ExceptionClasses
from ..errors.exceptions import CircuitOpenError, FallbackExhausted
from ..logs.error_lines import describe
from ..signals import fallback_answered, fallback_exhausted, send_safely
from .marking import check_name, mark_degraded
from .rules import FallThrough

_log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: A step of a chain: a callable taking the primary's arguments, or a ``(name, callable)``
#: pair; a callable's step name is its ``__name__``.
StepSpec = Callable[..., Any] | tuple[str, Callable[..., Any]]
_NO_DEFAULT: Any = object()


class Step:
    """One step of a chain: its name, what it calls, whether that must be awaited."""

    __slots__ = ("answers", "func", "is_async", "name")

    def __init__(self, name: str, func: Callable[..., Any]) -> None:
        self.name = check_name("fallback step", name)
        self.func = func
        self.is_async = inspect.iscoroutinefunction(func)
        self.answers = itertools.count(1)

    def answered(self) -> int:
        """Return how many calls this step answered (reads the count without moving it)."""
        return int(repr(self.answers)[6:-1]) - 1


class FallbackChain(Generic[P, R]):
    """Call ``primary``, then each of ``alternatives`` in order until one returns.

    :param name: the chain's name, in logs, metrics and the ``X-Degraded`` header.
    :param primary: the function to call first (sync or async).
    :param alternatives: the steps to try next: callables taking the same arguments
        (their ``__name__`` names the step), or ``(name, callable)`` pairs.
    :param default: a value to answer with when every other step failed (step
        ``default``); it is returned as is, so do not mutate it.
    :param failure_on, ignore, is_failure: which exceptions fall through to the next step,
        with the breakers' rules (client errors never do; an open breaker's rejection always
        does). Any other exception propagates at once.
    """

    def __init__(
        self,
        name: str,
        primary: Callable[P, R],
        *alternatives: StepSpec,
        default: Any = _NO_DEFAULT,
        failure_on: ExceptionClasses = (Exception,),
        ignore: ExceptionClasses = (),
        is_failure: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self.name = check_name("fallback chain", name)
        steps = [Step("primary", primary), *(_step(spec) for spec in alternatives)]
        if default is not _NO_DEFAULT:
            steps.append(Step("default", functools.partial(_constant, default)))
        if len(steps) < 2:
            raise ValueError(
                f"fallback chain {name!r} needs at least one alternative or a default"
            )
        names = [step.name for step in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"fallback chain {name!r} has two steps of one name: {names}")
        self.is_async = steps[0].is_async
        if not self.is_async and any(step.is_async for step in steps):
            raise TypeError(
                f"fallback chain {name!r}: a sync primary cannot fall back on async steps"
            )
        self.steps: tuple[Step, ...] = tuple(steps)
        self._falls_through = FallThrough(failure_on, ignore, is_failure)
        self._primary = primary

    def __repr__(self) -> str:
        return f"<FallbackChain {self.name!r} {' -> '.join(s.name for s in self.steps)}>"

    def answers(self) -> dict[str, int]:
        """Return how many calls each step answered, in step order."""
        return {step.name: step.answered() for step in self.steps}

    def call(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Return the first answer of the steps, called with ``args`` and ``kwargs``.

        :raises FallbackExhausted: when every step failed.
        """
        try:
            result = self._primary(*args, **kwargs)
        except Exception as error:
            return cast(R, self._fall_back(error, args, kwargs))
        next(self.steps[0].answers)
        return result

    async def call_async(
        self: FallbackChain[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await the first answer of the steps (sync steps are called, async ones awaited)."""
        try:
            result = await self._primary(*args, **kwargs)
        except Exception as error:
            failures = self._failed([], error)
            for index in range(1, len(self.steps)):
                step = self.steps[index]
                try:
                    answer = step.func(*args, **kwargs)
                    if step.is_async:
                        answer = await answer
                except Exception as next_error:
                    self._failed(failures, next_error)
                    continue
                return cast(T, self._answered(index, failures, answer))
            raise self._exhausted(failures) from None
        next(self.steps[0].answers)
        return result

    def _fall_back(self, error: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        failures = self._failed([], error)
        for index in range(1, len(self.steps)):
            try:
                answer = self.steps[index].func(*args, **kwargs)
            except Exception as next_error:
                self._failed(failures, next_error)
                continue
            return self._answered(index, failures, answer)
        raise self._exhausted(failures) from None

    def _failed(self, failures: list[Exception], error: Exception) -> list[Exception]:
        """Add the next step's ``error`` to ``failures``; re-raise it if it does not fall
        through, with notes naming the steps that failed before."""
        if not self._falls_through(error):
            for earlier, failure in zip(self.steps, failures, strict=False):
                error.add_note(
                    f"fallback chain {self.name!r}: step {earlier.name!r} failed "
                    f"before ({describe(failure)})"
                )
            raise error
        failures.append(error)
        return failures

    def _answered(self, index: int, failures: Sequence[Exception], answer: Any) -> Any:
        step = self.steps[index]
        next(step.answers)
        causes = self._causes(failures)
        level = logging.INFO if _all_rejected(failures) else logging.WARNING
        _log.log(
            level, "Fallback chain %r answered from step %r after %s", self.name, step.name, causes
        )
        # Exception types only: a message can carry a URL with credentials or tokens.
        kinds = ", ".join(
            f"{earlier.name}: {type(error).__name__}"
            for earlier, error in zip(self.steps, failures, strict=False)
        )
        mark_degraded(
            self.name, step.name, "fallback", f"{self.name}: answered from {step.name} ({kinds})"
        )
        send_safely(fallback_answered, self, step=step.name, failures=tuple(failures))
        return answer

    def _exhausted(self, failures: Sequence[Exception]) -> FallbackExhausted:
        level = logging.INFO if _all_rejected(failures) else logging.WARNING
        _log.log(
            level, "Fallback chain %r: every step failed: %s", self.name, self._causes(failures)
        )
        error = FallbackExhausted(self.name, [step.name for step in self.steps], failures)
        send_safely(fallback_exhausted, self, error=error)
        return error

    def _causes(self, failures: Sequence[Exception]) -> str:
        return "; ".join(
            f"{step.name}: {describe(error)}"
            for step, error in zip(self.steps, failures, strict=False)
        )


def fallback_chain(
    name: str, *alternatives: StepSpec, default: Any = _NO_DEFAULT, **rules: Any
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a primary function (sync or async, or a view) with a :class:`FallbackChain`.

    The decorated function keeps a reference to its chain as ``.chain``.
    """

    def decorate(primary: Callable[P, R]) -> Callable[P, R]:
        chain = FallbackChain(name, primary, *alternatives, default=default, **rules)
        return wrap(chain)

    return decorate


def wrap(chain: FallbackChain[P, R]) -> Callable[P, R]:
    """Return a function calling ``chain``, with the primary's name and docstring."""
    primary = chain._primary
    if chain.is_async:
        call_async: Callable[..., Coroutine[Any, Any, Any]] = cast(Any, chain).call_async

        @functools.wraps(primary)
        async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
            return await call_async(*args, **kwargs)

        run_async.chain = chain  # type: ignore[attr-defined]
        return cast(Callable[P, R], run_async)
    # The primary's success path inlined: one frame less than going through chain.call.
    fall_back, answers, count = chain._fall_back, chain.steps[0].answers, next

    @functools.wraps(primary)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = primary(*args, **kwargs)
        except Exception as error:
            return cast(R, fall_back(error, args, kwargs))
        count(answers)
        return result

    run.chain = chain  # type: ignore[attr-defined]
    return run


def _step(spec: StepSpec) -> Step:
    if isinstance(spec, tuple):
        name, func = spec
        return Step(name, func)
    if not callable(spec):
        raise TypeError(
            f"a fallback step must be a callable or a (name, callable) pair, got {spec!r}"
        )
    return Step(getattr(spec, "__name__", type(spec).__name__), spec)


def _constant(value: Any, *args: Any, **kwargs: Any) -> Any:
    return value


def _all_rejected(failures: Sequence[Exception]) -> bool:
    return all(isinstance(error, CircuitOpenError) for error in failures)
