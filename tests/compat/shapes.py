"""How a compat test says which dependency changed shape."""

from __future__ import annotations

from importlib.metadata import version


def changed(library: str, attribute: str, relied_on: str) -> str:
    """Return the failure message for ``library``'s ``attribute`` no longer doing what the
    guard relies on: library, installed version, attribute and what to look at."""
    return (
        f"{library} {version(library)}: {attribute} no longer {relied_on}; "
        f"flask_guard/compat/ relies on it, see docs/versions.rst"
    )
