"""The distribution's name, version and install hints."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

import flask_guard

ROOT = Path(__file__).parent.parent
OLD_HINT = re.compile(r"pip install '?flask-guard\b|flask-guard\[")


def test_version_comes_from_the_installed_metadata() -> None:
    assert flask_guard.__version__ == importlib.metadata.version("flask-api-guard")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        flask_guard.nothing  # noqa: B018


def test_distribution_is_flask_api_guard_with_its_license() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "flask-api-guard"
    assert project["license"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text()


def test_every_install_hint_names_flask_api_guard() -> None:
    docs = [path for path in ROOT.glob("docs/*.rst") if path.name != "changelog.rst"]
    sources = [ROOT / "README.md", *docs, *ROOT.glob("flask_guard/**/*.py")]
    stale = [str(path.relative_to(ROOT)) for path in sources if OLD_HINT.search(path.read_text())]
    assert stale == []
