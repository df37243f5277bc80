"""The adoption steps of docs/adoption.rst run as written."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Run with the root and ``flask_guard`` loggers as a fresh process has them (another
    test's app may have given ``flask_guard`` handlers of its own), and put them back after."""
    loggers = [logging.getLogger(), logging.getLogger("flask_guard")]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    guard_logger = loggers[1]
    guard_logger.handlers, guard_logger.propagate = [], True
    guard_logger.setLevel(logging.NOTSET)
    yield
    for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        lg.handlers[:], lg.propagate = handlers, propagate
        lg.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_the_check_step_of_the_adoption_page_passes() -> None:
    page = (ROOT / "docs" / "adoption.rst").read_text()
    check = page.split("**Check it**", 1)[1].split(".. code-block:: python", 1)[1]
    code = "\n".join(
        line.removeprefix("       ")
        for line in check.split("\n\n", 2)[1].splitlines()
        if line.strip()
    )
    assert "create_app" in code
    exec(compile(code, "adoption.rst", "exec"), {})


@pytest.mark.usefixtures("restore_logging")
def test_the_logging_step_keeps_the_guard_s_loggers_and_puts_ids_in_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from docs.examples.adoption_app import create_app

    guard_logger = logging.getLogger("flask_guard.handlers")
    client = create_app({"TESTING": True}).test_client()
    assert not guard_logger.disabled
    response = client.get("/api/orders/2", headers={"X-Request-ID": "adopt-1"})
    error_id = response.headers["X-Error-ID"]
    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if error_id in line and "[adopt-1]" in line]
    assert re.fullmatch(r"[0-9a-f]{32}", error_id)
