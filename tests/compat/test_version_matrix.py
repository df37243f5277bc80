"""What pyproject.toml declares is what CI tests: the oldest pins are the lower bounds."""

from __future__ import annotations

import os
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
TOOLING_EXTRAS = {"test", "lint", "docs", "bench"}
#: Libraries whose next major may change a hook or a private shape the guard relies on.
CAPPED = {"flask", "werkzeug", "requests", "urllib3", "sentry-sdk"}


def declared() -> dict[str, Requirement]:
    """Return the runtime dependencies and those of each user-facing extra, by name."""
    lines = list(PROJECT["dependencies"])
    for extra, requirements in PROJECT["optional-dependencies"].items():
        if extra not in TOOLING_EXTRAS:
            lines.extend(requirements)
    return {(r := Requirement(line)).name.lower(): r for line in lines}


def oldest_pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "tests" / "constraints-oldest.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            pins[name.strip().lower()] = Version(pinned)
    return pins


def lower_bound(requirement: Requirement) -> Version | None:
    bounds = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    return max(bounds) if bounds else None


def test_every_declared_dependency_is_pinned_at_its_lower_bound_for_the_oldest_run() -> None:
    pins = oldest_pins()
    wrong = {
        name: (str(requirement.specifier), str(pins.get(name)))
        for name, requirement in declared().items()
        if lower_bound(requirement) is None or pins.get(name) != lower_bound(requirement)
    }
    assert wrong == {}, "tests/constraints-oldest.txt must pin each lower bound (declared, pin)"


def test_the_oldest_pins_name_nothing_that_is_not_declared() -> None:
    assert set(oldest_pins()) <= set(declared())


def test_libraries_whose_shapes_the_guard_relies_on_stop_at_their_next_major() -> None:
    uncapped = {
        name
        for name in CAPPED
        if not any(spec.operator == "<" for spec in declared()[name].specifier)
    }
    assert uncapped == set()


def test_ci_and_tox_run_the_suite_on_the_oldest_pins() -> None:
    assert "tests/constraints-oldest.txt" in (ROOT / ".ci" / "run").read_text()
    assert "tests/constraints-oldest.txt" in (ROOT / "tox.ini").read_text()


@pytest.mark.skipif(
    not os.environ.get("GUARD_OLDEST_VERSIONS"), reason="only in the oldest-versions run"
)
def test_the_oldest_run_has_the_oldest_versions_installed() -> None:
    installed = {name: Version(version(name)) for name in oldest_pins()}
    assert installed == oldest_pins()
