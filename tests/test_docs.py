"""The configuration table in the docs matches the code's keys and defaults."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from flask_guard.config.keys import DEFAULTS

TABLE = Path(__file__).parent.parent / "docs" / "configuration.rst"
ROW = re.compile(r"^   \* - ``(GUARD_\w+)``\n     - ``(.+?)``$", re.MULTILINE)


def test_configuration_table_lists_every_key_with_its_default() -> None:
    documented = {
        key: ast.literal_eval(default) for key, default in ROW.findall(TABLE.read_text())
    }
    assert documented == DEFAULTS


def test_configuration_table_names_each_key_s_environment_variable() -> None:
    rows = re.split(r"^(?=   \* - ``GUARD_)", TABLE.read_text(), flags=re.MULTILINE)[1:]
    last_cells = {row.split("``", 2)[1]: row.rstrip().rsplit("\n     - ", 1)[1] for row in rows}
    assert last_cells == {key: f"``FLASK_{key}``" for key in DEFAULTS}


ROOT = Path(__file__).parent.parent


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```\n(.+?)\n```$", section, re.MULTILINE)


def test_readme_quick_start_is_two_commands_and_ci_runs_the_test_one_verbatim() -> None:
    demo, tests = _quick_start_commands()
    assert "sample_app" in demo
    assert "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()
