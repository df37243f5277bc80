"""Each test of logging starts from the logging of a process that just started, and leaves
the process's logging as it found it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from flask_guard.logs import guard_loggers

from .catalog import Collect

LoggerState = tuple[int, list[logging.Handler], list[object], bool, bool]


def _state(logger: logging.Logger) -> LoggerState:
    filters: list[object] = list(logger.filters)
    return logger.level, list(logger.handlers), filters, logger.disabled, logger.propagate


@pytest.fixture(autouse=True)
def fresh_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clear the root logger's handlers (pytest's come back at its next phase) and the
    guard's once-only warnings; restore every logger afterwards."""
    root = logging.getLogger()
    manager = root.manager
    saved = {
        name: _state(logger)
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root_level = root.level
    monkeypatch.setattr(guard_loggers, "_warned", set())
    Collect.seen.clear()
    yield
    Collect.seen.clear()
    for handler in root.handlers[:]:
        if not type(handler).__module__.startswith("_pytest"):
            root.removeHandler(handler)
    root.setLevel(root_level)
    for name, logger in list(manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            level, handlers, filters, disabled, propagate = saved.get(
                name, (logging.NOTSET, [], [], False, True)
            )
            logger.setLevel(level)
            logger.handlers = handlers
            logger.filters = filters  # type: ignore[assignment]
            logger.disabled, logger.propagate = disabled, propagate
