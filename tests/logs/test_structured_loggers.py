"""structlog and loguru set up to take the standard library's records, as their docs show:
each error's id is in exactly one line, with the request id."""

from __future__ import annotations

import inspect
import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog
from loguru import logger as loguru_logger

from .catalog import Collect, answer_every_error, assert_each_id_in_one_line, guarded_app


@pytest.fixture
def structlog_stream() -> Iterator[io.StringIO]:
    """structlog's "rendering using structlog-based formatters within logging" set-up, with
    JSON lines on the root logger's one handler."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler, Collect()]
    root.setLevel(logging.INFO)
    yield stream
    structlog.reset_defaults()


def test_structlog_rendering_the_standard_library_s_records_loses_no_error_id(
    structlog_stream: io.StringIO,
) -> None:
    app = guarded_app()
    answers = answer_every_error(app)
    lines = structlog_stream.getvalue().splitlines()
    assert_each_id_in_one_line(
        answers, lines, lambda line: logging.getLevelName(json.loads(line)["level"].upper())
    )
    for answer in answers:
        (entry,) = [json.loads(line) for line in lines if answer.error_id in line]
        assert (entry["error_id"], entry["request_id"]) == (answer.error_id, answer.request_id)


def test_structlog_records_of_a_request_carry_its_request_id(
    structlog_stream: io.StringIO,
) -> None:
    app = guarded_app()

    @app.get("/pay")
    def pay() -> str:
        structlog.get_logger("shop").info("charging", amount=3)
        return "paid"

    response = app.test_client().get("/pay", headers={"X-Request-ID": "req-9"})
    assert response.status_code == 200
    ((record, _),) = Collect.seen
    assert record.__dict__["request_id"] == "req-9"


class InterceptHandler(logging.Handler):
    """loguru's recipe for taking the standard library's records."""

    def emit(self, record: logging.LogRecord) -> None:
        level: str | int
        try:
            level = loguru_logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame, depth = inspect.currentframe(), 0
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        loguru_logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


@pytest.fixture
def loguru_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    loguru_logger.remove()
    loguru_logger.add(lines.append, format="{level} {message}", diagnose=False)
    logging.basicConfig(handlers=[InterceptHandler()], level=0, force=True)
    yield lines
    loguru_logger.remove()
    loguru_logger.add(sys.stderr)


def test_loguru_taking_the_standard_library_s_records_loses_no_error_id(
    loguru_lines: list[str],
) -> None:
    app = guarded_app()
    answers = answer_every_error(app)
    assert_each_id_in_one_line(
        answers, loguru_lines, lambda line: logging.getLevelName(line.split()[0])
    )
