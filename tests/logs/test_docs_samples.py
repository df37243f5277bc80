"""The logging samples of the docs run, and each error's id is in exactly one of the lines
they write."""

from __future__ import annotations

import io
import logging
import logging.config
import re
from pathlib import Path

import pytest

from .catalog import answer_every_error, assert_each_id_in_one_line, guarded_app

DOCS = Path(__file__).parent.parent.parent / "docs"


def code_blocks(page: str) -> list[str]:
    """Return the literal blocks (``::`` and ``.. code-block::``) of a docs page."""
    blocks = re.findall(r"::(?: \w+)?\n\n((?:(?: {4}.*)?\n)+)", (DOCS / page).read_text())
    return [re.sub(r"^ {4}", "", block, flags=re.MULTILINE).strip() for block in blocks]


def the_block(page: str, containing: str) -> str:
    (block,) = [block for block in code_blocks(page) if containing in block]
    return block


def _level(line: str) -> int:
    level: int = logging.getLevelName(line.split()[2])  # after the date and the time
    return level


def _lines_of_root_handler() -> io.StringIO:
    stream = io.StringIO()
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return stream


@pytest.mark.parametrize("configured_first", [True, False])
def test_the_dict_config_sample_of_request_ids_loses_no_error_id(configured_first: bool) -> None:
    sample = the_block("request-ids.rst", "dictConfig")
    if configured_first:
        exec(sample, {})
        app = guarded_app()
    else:
        app = guarded_app()
        exec(sample, {})
    stream = _lines_of_root_handler()
    answers = answer_every_error(app)
    lines = stream.getvalue().splitlines()
    assert_each_id_in_one_line(answers, lines, _level)
    assert not any("turned off" in line for line in lines)
    for answer in answers:
        (line,) = [line for line in lines if answer.error_id in line]
        assert f"[{answer.request_id}]" in line


def test_the_file_config_sample_of_adoption_loses_no_error_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "logging.ini").write_text(the_block("adoption.rst", "[formatter_plain]"))
    monkeypatch.chdir(tmp_path)
    app = guarded_app()
    exec(the_block("adoption.rst", "fileConfig("), {"logging": logging})
    stream = _lines_of_root_handler()
    answers = answer_every_error(app)
    lines = stream.getvalue().splitlines()
    assert_each_id_in_one_line(answers, lines, _level)
    assert not any("turned off" in line for line in lines)
