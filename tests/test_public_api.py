"""The public names are exactly those the API reference documents, at the documented paths."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import flask_guard

API = (Path(__file__).parents[1] / "docs" / "api.rst").read_text()
DIRECTIVE = re.compile(
    r"^\.\. auto(?:class|exception|function|data|module):: ([\w.]+)$", re.MULTILINE
)


def _documented() -> list[str]:
    return DIRECTIVE.findall(API)


def test_all_is_exactly_the_top_level_names_the_api_reference_documents() -> None:
    top_level = {name for name in _documented() if "." not in name}
    assert sorted(flask_guard.__all__) == sorted(top_level | {"signals", "waits"})  # modules


def test_every_documented_dotted_path_imports() -> None:
    for path in (name for name in _documented() if "." in name):
        module_name, _, attribute = path.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            module = importlib.import_module(path)
            continue
        assert hasattr(module, attribute), path


def test_the_module_paths_of_earlier_releases_still_import() -> None:
    from flask_guard.errors import ApiError, CircuitOpenError
    from flask_guard.logs import JsonFormatter
    from flask_guard.storage.redis import RedisStorage
    from flask_guard.testing import RedisServer, SentryIngest, free_port

    assert ApiError is flask_guard.ApiError
    assert CircuitOpenError is flask_guard.CircuitOpenError
    assert {JsonFormatter, RedisStorage, RedisServer, SentryIngest, free_port}
