"""The guard's loggers keep writing, whatever the app's logging configuration does to them.

``logging.config.fileConfig`` and ``dictConfig`` turn off every logger that exists when they
run and that they do not name (``disable_existing_loggers`` defaults to true): the guard's,
made when it was imported, and ``app.logger`` if something used it before. The guard turns
its own back on before it writes an error's line and says so once; for a disabled
``app.logger`` it writes the crash's line itself (see :mod:`flask_guard.logs.error_lines`).

The root logger's level does not hide an error's line (a level set on the guard's loggers
does), and with no handler configured anywhere (an app that never set up logging) the
guard's records go to Flask's own stderr handler, as ``app.logger``'s do: Python's last
resort would drop the INFO lines of 4xx errors and write the others without a time.
"""

from __future__ import annotations

import logging
import threading

from flask.logging import default_handler

#: The parent of every logger of the guard.
GUARD_LOGGER = "flask_guard"

_log = logging.getLogger("flask_guard.handlers")
_warned: set[str] = set()
_lock = threading.Lock()

_DISABLED_GUARD = (
    "A logging configuration turned off flask-guard's loggers (%s): "
    "logging.config.fileConfig() and dictConfig() turn off every logger they do not name "
    "unless given disable_existing_loggers=False. flask-guard turned them back on, so its "
    "error lines are written. To keep your configuration in charge of them, pass "
    "disable_existing_loggers=False or configure the %r logger in it."
)
_DISABLED_APP = (
    "The app's logger %r is turned off (a logging configuration run after it was made, "
    "with disable_existing_loggers left true), so Flask's 'Exception on ...' lines are "
    "lost; flask-guard writes unexpected exceptions on %r at ERROR instead. To have them "
    "on %r again, pass disable_existing_loggers=False or configure that logger in it."
)


def add_last_resort() -> None:
    """Give the ``flask_guard`` logger its last-resort handler, once."""
    logger = logging.getLogger(GUARD_LOGGER)
    if not any(isinstance(handler, _LastResort) for handler in logger.handlers):
        logger.addHandler(_LastResort())


def writes(logger: logging.Logger, level: int) -> bool:
    """Return whether an error's line at ``level`` on the guard's ``logger`` is a record.

    A level set on the guard's loggers decides, as does :func:`logging.disable`; the root
    logger's level does not: the lines of 4xx errors are INFO, and a root at WARNING
    (``basicConfig()``'s default, Alembic's ``logging.ini``) would leave their ids in no
    record. The app's handlers still apply their own levels.
    """
    if logger.isEnabledFor(level):
        return True
    if logger.manager.disable >= level:
        return False
    node: logging.Logger | None = logger
    while node is not None and node is not logging.root:
        if node.level != logging.NOTSET:
            return False
        node = node.parent
    return True


class _LastResort(logging.Handler):
    """Hand a record to Flask's default handler when no other handler would take it."""

    def emit(self, record: logging.LogRecord) -> None:
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None:
            for handler in logger.handlers:
                if handler is not self and record.levelno >= handler.level:
                    return
            logger = logger.parent if logger.propagate else None
        default_handler.handle(record)


def writing(logger: logging.Logger) -> logging.Logger:
    """Return the guard's ``logger``, turning the guard's loggers back on first if a logging
    configuration turned them off (and saying so, once per process)."""
    if logger.disabled:
        names = _enable_guard_loggers()
        _warn_once(GUARD_LOGGER, _DISABLED_GUARD, ", ".join(names), GUARD_LOGGER)
    return logger


def app_logger_disabled(app_logger: logging.Logger) -> None:
    """Say once that ``app_logger`` is off and the guard writes the app's crashes itself."""
    if app_logger.disabled:
        name = app_logger.name
        _warn_once(name, _DISABLED_APP, name, _log.name, name)


def _enable_guard_loggers() -> list[str]:
    enabled = []
    for name, logger in list(logging.root.manager.loggerDict.items()):
        ours = name == GUARD_LOGGER or name.startswith(GUARD_LOGGER + ".")
        if ours and isinstance(logger, logging.Logger) and logger.disabled:
            logger.disabled = False
            enabled.append(name)
    return sorted(enabled)


def _warn_once(key: str, message: str, *args: object) -> None:
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    writing(_log).warning(message, *args)
