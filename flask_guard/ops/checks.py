"""Custom health checks: ``@guard.health_check("db")``, folded into ``/health``.

A check is a function (sync or async) that returns None or True when what it checks works,
and returns False or raises when it does not. Each ``/health`` request runs every check at
once, each in a thread of its own inside the app's context, and waits for each at most its
``timeout``: a check that hangs is reported as timed out, and is not started again until it
returns, so a load balancer polling ``/health`` cannot pile up threads behind it.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from ..validators import flag, seconds

DEFAULT_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one run of a check found."""

    name: str
    ok: bool
    critical: bool
    duration: float
    """Seconds the check took (its timeout when it did not finish)."""
    error: str | None
    """``"timeout"``, ``"returned False"`` or the exception's type; None when ok."""


class HealthCheck:
    """One named check, with its timeout and whether the app is unavailable without it."""

    def __init__(self, name: str, func: Callable[[], Any], timeout: float, critical: bool) -> None:
        self.name = name
        self.func = func
        self.timeout = seconds("timeout", timeout)
        self.critical = flag("critical", critical)
        self._running: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, app: Flask) -> Callable[[float], CheckResult]:
        """Start a run in a thread; return what waits for its result until a deadline."""
        outcome: list[CheckResult] = []
        began = time.monotonic()
        with self._lock:
            busy = self._running is not None and self._running.is_alive()
            if not busy:
                self._running = threading.Thread(
                    target=self._run,
                    args=(app, began, outcome),
                    daemon=True,
                    name=f"flask-guard-health-{self.name}",
                )
                self._running.start()
            thread = self._running

        def result(deadline: float) -> CheckResult:
            if not busy:
                assert thread is not None
                thread.join(max(0.0, min(deadline, began + self.timeout) - time.monotonic()))
            if outcome:
                return outcome[0]
            return CheckResult(self.name, False, self.critical, self.timeout, "timeout")

        return result

    def _run(self, app: Flask, began: float, outcome: list[CheckResult]) -> None:
        error: str | None = None
        try:
            with app.app_context():
                answer = self.func()
                if inspect.isawaitable(answer):
                    answer = asyncio.run(_awaited(answer))
            if answer is False:
                error = "returned False"
        except Exception as failure:  # a check that raises says what it checks is down
            error = type(failure).__name__
        outcome.append(
            CheckResult(self.name, error is None, self.critical, time.monotonic() - began, error)
        )


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class HealthChecks(Mapping[str, HealthCheck]):
    """The checks a guard declared, by name."""

    def __init__(self) -> None:
        self._checks: dict[str, HealthCheck] = {}

    def add(self, name: str, func: Callable[[], Any], timeout: float, critical: bool) -> None:
        """Declare check ``name``; a name is declared once."""
        if name in self._checks:
            raise ValueError(f"health check {name!r} is already declared")
        self._checks[name] = HealthCheck(name, func, timeout, critical)

    def __getitem__(self, name: str) -> HealthCheck:
        return self._checks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._checks)

    def __len__(self) -> int:
        return len(self._checks)

    def run(self) -> list[CheckResult]:
        """Run every check at once in the current app; return their results by name."""
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        started = [check.start(app) for check in self._checks.values()]
        deadline = time.monotonic() + max((c.timeout for c in self._checks.values()), default=0)
        return [result(deadline) for result in started]
