"""Ids on log records, whoever makes them and whatever handlers the app configures.

Every record made once a guard is set up carries ``request_id`` (the current request's id,
``-`` outside a request), ``trace_id`` and ``span_id`` (see :doc:`/tracing`), and the record
``app.log_exception`` makes for an error carries ``error_id`` (the guard's own error lines
pass both through ``extra=``). They are set where Python makes every record,
:meth:`logging.Logger.makeRecord`, after ``extra=`` is applied.
Two other places fall short:

* a record factory (:func:`logging.setLogRecordFactory`) runs before ``extra=``: a
  ``request_id`` set there makes the app's own ``log.info(..., extra={"request_id": ...})``
  raise ``KeyError``;
* a filter lives on a handler or a logger, which the app's logging configuration may
  replace, clear or never route the record through.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..tracing.context import record_trace_ids
from ..web.request_id import log_request_id

_MARK = "_flask_guard_ids"
_lock = threading.Lock()


class ErrorLine:
    """The error whose one log record ``app.log_exception`` is making."""

    __slots__ = ("error_id", "request_id", "written")

    def __init__(self, error_id: str, request_id: str) -> None:
        self.error_id = error_id
        self.request_id = request_id
        #: Whether a record at ERROR or above was made for it (and carries its ids).
        self.written = False


_ERROR_LINE: ContextVar[ErrorLine | None] = ContextVar("flask_guard.error_line", default=None)


def install_record_ids() -> None:
    """Make every logger put the ids on the records it makes; once per process."""
    with _lock:
        make_record = logging.Logger.makeRecord
        if getattr(make_record, _MARK, False):
            return

        @functools.wraps(make_record)
        def with_ids(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(self, *args, **kwargs)
            _add_ids(record)
            return record

        setattr(with_ids, _MARK, True)
        setattr(logging.Logger, "makeRecord", with_ids)  # noqa: B010 (mypy: a method)


def _add_ids(record: logging.LogRecord) -> None:
    fields = record.__dict__
    if "request_id" not in fields:  # one the caller passed through extra= is kept
        fields["request_id"] = log_request_id()
    fields["trace_id"], fields["span_id"] = record_trace_ids(record)
    line = _ERROR_LINE.get()
    if line is not None and not line.written and record.levelno >= logging.ERROR:
        line.written = True
        fields.setdefault("error_id", line.error_id)
        if isinstance(record.msg, str):  # a plain-text log is searched for the quoted id
            record.msg = f"{record.msg} (error id {line.error_id}, request id {line.request_id})"


@contextmanager
def error_line(error_id: str, request_id: str) -> Iterator[ErrorLine]:
    """Give the first record at ERROR or above made inside the block the error's ids."""
    line = ErrorLine(error_id, request_id)
    token = _ERROR_LINE.set(line)
    try:
        yield line
    finally:
        _ERROR_LINE.reset(token)
