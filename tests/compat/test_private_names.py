"""Private names of other libraries are used in flask_guard/compat/ only."""

from __future__ import annotations

import ast
from pathlib import Path

import flask_guard

# The package under test: the sources, or the installed wheel when the sdist's tests run.
PACKAGE = Path(flask_guard.__file__).parent

# werkzeug documents LocalProxy._get_current_object as its public way to unwrap a proxy;
# the guard's own markers on functions it made start with _flask_guard_.
ALLOWED = {"_get_current_object"}
OWN_PREFIX = "_flask_guard_"
PRIVATE_MODULES_ALLOWED = {"__future__", "_typeshed", "_typeshed.wsgi"}


def own_private_names() -> set[str]:
    """Return the private names the package defines itself (functions, methods, attributes
    assigned through ``self``): reaching one of those is not a use of another library."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in {"self", "cls"}
            ):
                names.add(node.attr)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return {name for name in names if name.startswith("_")}


OWN = own_private_names()


def private_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute):
            name = node.attr
            if not name.startswith("_") or name.startswith("__"):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
                continue
            if name in ALLOWED or name in OWN or name.startswith(OWN_PREFIX):
                continue
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: .{name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            private = any(part.startswith("_") for part in node.module.split("."))
            if private and node.module not in PRIVATE_MODULES_ALLOWED:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.module}")
    return found


def test_private_names_of_other_libraries_are_used_in_compat_only() -> None:
    outside = [
        use
        for path in sorted(PACKAGE.rglob("*.py"))
        if "compat" not in path.relative_to(PACKAGE).parts
        for use in private_uses(path)
    ]
    assert outside == [], "move these to flask_guard/compat/ (one module per library)"


def test_the_scan_finds_the_private_names_compat_uses() -> None:
    inside = [
        use for path in sorted((PACKAGE / "compat").glob("*.py")) for use in private_uses(path)
    ]
    assert len(inside) >= 3, inside  # Flask's handler lookup, requests' body, Sentry's hook
